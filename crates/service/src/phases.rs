//! Where this process's run time goes, summed over its runs: the scheduler's own statements
//! (leasing, the lease check before import, recording the outcome) against the work the batch
//! pipeline does too (export, crawl into the spool, import). `serve --once` prints it at the
//! end; the benchmark (`bench/serve_bench.py`) reads it to give the scheduler's overhead per run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A part of a run, or of the scheduler's work around runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `sync_schedule` and the lease passes (scheduler).
    Lease,
    /// The tracker's exported record (`export-config`'s query).
    Export,
    /// The crawl, writing the spool file.
    Crawl,
    /// The lease check right before import (scheduler).
    Check,
    /// `import-results` of the spool file.
    Import,
    /// Recording the outcome and the next due time, or giving the lease back (scheduler).
    Record,
}

const PHASES: usize = 6;

/// Nanoseconds spent per [`Phase`], summed over the process's runs.
#[derive(Debug, Default)]
pub(crate) struct PhaseTimes {
    nanos: [AtomicU64; PHASES],
    runs: AtomicU64,
}

impl PhaseTimes {
    /// Counts a run started.
    pub(crate) fn run_started(&self) {
        self.runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the time since `since` to `phase`.
    pub(crate) fn add(&self, phase: Phase, since: Instant) {
        let n = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos[phase as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn totals(&self) -> PhaseTotals {
        let d = |p: Phase| Duration::from_nanos(self.nanos[p as usize].load(Ordering::Relaxed));
        PhaseTotals {
            runs: self.runs.load(Ordering::Relaxed),
            lease: d(Phase::Lease),
            export: d(Phase::Export),
            crawl: d(Phase::Crawl),
            check: d(Phase::Check),
            import: d(Phase::Import),
            record: d(Phase::Record),
        }
    }
}

/// Time spent per part of the runs of this process, summed over its runs (wall time of each
/// part as the run saw it; runs overlap, so the sum can exceed the elapsed time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhaseTotals {
    /// Runs started by this process.
    pub runs: u64,
    /// Syncing the schedule and taking leases (the scheduler's passes).
    pub lease: Duration,
    /// Exporting each tracker's record from the host database.
    pub export: Duration,
    /// Crawling into the spool files.
    pub crawl: Duration,
    /// Checking the lease before import.
    pub check: Duration,
    /// Importing the spool files.
    pub import: Duration,
    /// Recording outcomes and next due times.
    pub record: Duration,
}

impl PhaseTotals {
    /// The scheduler's own share: leasing, the lease check and recording.
    pub fn scheduler(&self) -> Duration {
        self.lease + self.check + self.record
    }

    /// All the parts together.
    pub fn total(&self) -> Duration {
        self.scheduler() + self.export + self.crawl + self.import
    }

    /// One line: milliseconds per run of each part, and the scheduler's share of the total,
    /// as `phase ms per run: lease=0.40 export=… scheduler=1.20 (8.1 %)`.
    pub fn line(&self) -> String {
        let per = |d: Duration| d.as_secs_f64() * 1e3 / self.runs.max(1) as f64;
        let share = 100.0 * self.scheduler().as_secs_f64() / self.total().as_secs_f64().max(1e-9);
        format!(
            "phase ms per run over {} runs: lease={:.3} export={:.3} crawl={:.3} check={:.3} import={:.3} record={:.3} scheduler={:.3} ({share:.1} %)",
            self.runs,
            per(self.lease),
            per(self.export),
            per(self.crawl),
            per(self.check),
            per(self.import),
            per(self.record),
            per(self.scheduler()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_gives_milliseconds_per_run_and_the_schedulers_share() {
        let t = PhaseTotals {
            runs: 4,
            lease: Duration::from_millis(4),
            export: Duration::from_millis(8),
            crawl: Duration::from_millis(20),
            check: Duration::from_millis(2),
            import: Duration::from_millis(4),
            record: Duration::from_millis(2),
        };
        assert_eq!(t.scheduler(), Duration::from_millis(8));
        assert_eq!(
            t.line(),
            "phase ms per run over 4 runs: lease=1.000 export=2.000 crawl=5.000 check=0.500 \
             import=1.000 record=0.500 scheduler=2.000 (20.0 %)"
        );
    }
}
