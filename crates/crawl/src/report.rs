//! The run report (`--report FILE`): what each tracker did, in JSON.

use bugimporters_core::{CredentialUse, ReportedError, RunStats};
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
    /// Errors not listed again: further fast failures of a host whose circuit breaker is open.
    pub suppressed_errors: u64,
    /// Records with a field cut to its size cap (`docs/output-schema.md`).
    pub truncated: u64,
    /// Why the tracker's run was abandoned before it ended (`--tracker-timeout`), if it was.
    pub abandoned: Option<String>,
    /// Warnings (no failure: a rule that matches nothing, a fallback used), when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Per pooled credential (GitHub tokens), by a non-secret label: the requests this
    /// tracker sent with it and its last known remaining/reset; left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialUse>,
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
    /// Per pooled credential, every tracker together (see [`TrackerReport::credentials`]):
    /// requests summed, remaining/reset of the latest answer; left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialUse>,
    /// Per tracker, in configuration order.
    pub trackers: Vec<TrackerReport>,
}

impl RunReport {
    /// Whether anything failed (exit status 1).
    pub fn has_failures(&self) -> bool {
        self.totals.errors > 0 || self.totals.trackers_failed > 0
    }

    /// The report as pretty-printed JSON, scrubbed of secrets (every value registered with
    /// [`bugimporters_core::redact`] and every secret query parameter): the one way the report
    /// is written.
    pub fn to_json_pretty(&self) -> String {
        let text = serde_json::to_string_pretty(self).expect("the run report serialises");
        bugimporters_core::redact::scrub(&text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_report_holds_no_secret() {
        bugimporters_core::redact::register("report-secret-123");
        let report = RunReport {
            started: String::new(),
            duration_s: 0.0,
            shard: "1/1".into(),
            totals: RunStats::default(),
            http_requests: 0,
            http_retries: 0,
            credentials: Vec::new(),
            trackers: vec![TrackerReport {
                tracker_name: "T".into(),
                kind: None,
                ok: false,
                bugs_emitted: 0,
                no_update: 0,
                deleted: 0,
                deletions_withheld: 0,
                resumed: 0,
                requests: 0,
                bytes: 0,
                errors: vec![ReportedError {
                    url: Some("http://x/?private_token=abc".into()),
                    reason: "echoed report-secret-123".into(),
                    temporary: false,
                }],
                suppressed_errors: 0,
                truncated: 0,
                abandoned: None,
                warnings: Vec::new(),
                credentials: Vec::new(),
                duration_s: 0.0,
            }],
        };
        let text = report.to_json_pretty();
        assert!(
            !text.contains("report-secret-123") && !text.contains("=abc"),
            "{text}"
        );
        assert_eq!(text.matches("[REDACTED]").count(), 2, "{text}");
    }
}
