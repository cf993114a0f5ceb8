//! The run report (`--report FILE`): what each tracker did, in JSON.

use bugimporters_core::{ReportedError, RunStats};
use serde::Serialize;

/// One tracker's part of the run.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerReport {
    /// `tracker_name` (or `record N` for a record without one).
    pub tracker_name: String,
    /// Canonical tracker type, when it could be resolved.
    pub kind: Option<String>,
    /// Whether the tracker ran without any error.
    pub ok: bool,
    /// Records written.
    pub bugs_emitted: u64,
    /// `_no_update` records among them.
    pub no_update: u64,
    /// `_deleted` records among them.
    pub deleted: u64,
    /// Deletions not written (failed run, or not a bug the host holds).
    pub deletions_withheld: u64,
    /// Records an interrupted run had written, kept and not written again (`--resume`).
    pub resumed: u64,
    /// Requests made.
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Every error, with URL and reason.
    pub errors: Vec<ReportedError>,
    /// Warnings (no failure: a rule that matches nothing, a fallback used), when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Wall time in seconds.
    pub duration_s: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// When the run started (UTC, ISO-8601).
    pub started: String,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// The shard this run handled (`K/N`).
    pub shard: String,
    /// Totals.
    pub totals: RunStats,
    /// HTTP exchanges, retries and redirect hops included.
    pub http_requests: u64,
    /// Retries made by the fetch layer.
    pub http_retries: u64,
    /// Per tracker, in configuration order.
    pub trackers: Vec<TrackerReport>,
}

impl RunReport {
    /// Whether anything failed (exit status 1).
    pub fn has_failures(&self) -> bool {
        self.totals.errors > 0 || self.totals.trackers_failed > 0
    }
}
