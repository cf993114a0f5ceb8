//! One run of one tracker: export its record, crawl it into the spool, import the spool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_crawl::{run_crawl_with_client, CrawlOptions, JsonLinesWriter, RunReport};
use bugimporters_hostdb::{
    render_export, ExportFormat, ImportOptions, ImportSource, ImportSummary, Lease, Outcome,
    RunResult,
};
use chrono::TimeDelta;
use tokio::sync::watch;
use tracing::Instrument;

use crate::phases::Phase;
use crate::spool::spool_path;
use crate::{Result, Service};

/// What [`Service::crawl_records`] crawls besides the records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpoolCrawl<'a> {
    /// The tracker, in the spool file's name.
    pub tracker: &'a str,
    /// The run's tag in the spool file's name (run id, or `hook-…`).
    pub tag: &'a str,
    /// Only the refresh of the records' `existing_bug_urls` (webhook refreshes).
    pub existing_only: bool,
    /// The crawl's per-tracker deadline.
    pub tracker_timeout: std::time::Duration,
}

impl SpoolCrawl<'_> {
    /// The scope of this run's conditional-request validators in the process's HTTP client:
    /// one of its own, so that runs of one tracker at once (a scheduled run and a webhook
    /// refresh) never store each other's validators.
    pub(crate) fn validator_scope(&self) -> String {
        format!("{}\u{1f}{}", self.tracker, self.tag)
    }
}

/// How a run ended, for the scheduler's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// Crawled and imported cleanly.
    Ok,
    /// Imported what it could, with errors; or could not run.
    Failed,
    /// The lease was lost: nothing imported, nothing recorded.
    Lost,
    /// Stopped at shutdown before import; the lease was given back.
    Released,
}

impl RunEnd {
    fn as_str(self) -> &'static str {
        match self {
            RunEnd::Ok => "ok",
            RunEnd::Failed => "failed",
            RunEnd::Lost => "lost",
            RunEnd::Released => "released",
        }
    }
}

impl Service {
    /// Runs the tracker of `lease` (in a tracing span naming the tracker and the run id).
    /// `cancel` turning `true` stops the crawl (shutdown after the grace period); an import
    /// that has begun is never cut.
    pub(crate) async fn run_lease(&self, lease: Lease, cancel: watch::Receiver<bool>) -> RunEnd {
        let span = tracing::info_span!("run", tracker = %lease.tracker, run = %lease.run_id);
        async move {
            let started = Instant::now();
            self.phases().run_started();
            self.metrics().run_started(lease.taken_over_from.is_some());
            if let Some(old) = &lease.taken_over_from {
                tracing::warn!(previous = %old, "took over an expired lease");
            }
            tracing::info!(due = %lease.due, "run started");
            let (end, requests) = self.run_guarded(lease, cancel).await;
            let secs = started.elapsed().as_secs_f64();
            self.metrics().run_finished(end.as_str(), secs, requests);
            tracing::info!(outcome = end.as_str(), seconds = secs, "run finished");
            end
        }
        .instrument(span)
        .await
    }

    /// The run with its heartbeat: the lease is renewed every third of its length while the
    /// run goes on; a renewal that fails marks the lease lost.
    async fn run_guarded(&self, lease: Lease, cancel: watch::Receiver<bool>) -> (RunEnd, u64) {
        let lost = Arc::new(AtomicBool::new(false));
        let lease_for = lease_delta(self.config().lease);
        let beat = {
            let service = self.clone();
            let mut lease = lease.clone();
            let lost = lost.clone();
            let every = (self.config().lease / 3).max(std::time::Duration::from_millis(100));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match service
                        .db()
                        .renew_lease(&mut lease, service.now(), lease_for)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(tracker = %lease.tracker, run = %lease.run_id, "lease lost");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(tracker = %lease.tracker, error = %e, "heartbeat failed; retrying")
                        }
                    }
                }
            })
        };
        let result = self.crawl_and_import(&lease, &lost, cancel).await;
        beat.abort();
        let requests = result.as_ref().map_or(0, Step::requests);
        let end = match result {
            Ok(step) => self.record(&lease, step).await,
            Err(e) => {
                tracing::error!(error = %e, "run failed before import");
                let r = RunResult::new(Outcome::Failed, Some(e.to_string()), 0);
                self.finish(&lease, &r).await
            }
        };
        (end, requests)
    }

    async fn crawl_and_import(
        &self,
        lease: &Lease,
        lost: &AtomicBool,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<Step> {
        let spool = self.crawl_to_spool(lease);
        let scope = self.run_crawl(lease).validator_scope();
        let crawled = tokio::select! {
            r = spool => Some(r),
            _ = cancel.wait_for(|c| *c) => None,
        };
        let (path, report) = match crawled {
            Some(Ok(done)) => done,
            Some(Err(e)) => {
                self.keep_validators(lease.tracker.as_str(), &scope, None)
                    .await;
                return Err(e);
            }
            None => {
                self.keep_validators(lease.tracker.as_str(), &scope, None)
                    .await;
                return Ok(Step::Cancelled);
            }
        };
        // The lease must still be ours, checked after the crawl and right before import.
        let checking = Instant::now();
        let mut held = lease.clone();
        let still = !lost.load(Ordering::SeqCst)
            && self
                .db()
                .renew_lease(&mut held, self.now(), lease_delta(self.config().lease))
                .await?;
        self.phases().add(Phase::Check, checking);
        if !still {
            self.keep_validators(lease.tracker.as_str(), &scope, None)
                .await;
            return Ok(Step::Lost {
                requests: tracker_requests(&report),
            });
        }
        let importing = Instant::now();
        let imported = self.import_spool(&path).await;
        self.keep_validators(lease.tracker.as_str(), &scope, imported.as_ref().ok())
            .await;
        let summary = imported?;
        self.phases().add(Phase::Import, importing);
        self.metrics().imported(&summary);
        tracing::info!(spool = %path.display(), summary = %summary.line(), "imported");
        Ok(Step::Imported { report, summary })
    }

    /// export-config → crawl for this one tracker, into a new spool file.
    async fn crawl_to_spool(&self, lease: &Lease) -> Result<(PathBuf, RunReport)> {
        let exporting = Instant::now();
        let records = self.db().export_configs(Some(&lease.tracker)).await?;
        self.phases().add(Phase::Export, exporting);
        let crawling = Instant::now();
        let done = self.crawl_records(&records, self.run_crawl(lease)).await?;
        self.phases().add(Phase::Crawl, crawling);
        Ok(done)
    }

    /// What a scheduled run of `lease` crawls.
    fn run_crawl<'a>(&self, lease: &'a Lease) -> SpoolCrawl<'a> {
        SpoolCrawl {
            tracker: &lease.tracker,
            tag: &lease.run_id,
            existing_only: false,
            tracker_timeout: self.config().tracker_timeout,
        }
    }

    /// Loads `tracker`'s stored conditional-request validators into the client under
    /// `scope` (a run's own, [`SpoolCrawl::validator_scope`]). A database error only costs
    /// the run its validators (every page is fetched in full), with a warning.
    async fn load_validators(&self, tracker: &str, scope: &str) {
        match self.db().tracker_validators(tracker).await {
            Ok(v) => self.inner.client.set_scope_validators(scope, v),
            Err(e) => {
                tracing::warn!(tracker, error = %e, "cannot read the stored validators; this run fetches every page in full");
            }
        }
    }

    /// Takes the validators of a run's `scope` out of the client and, when the run's records
    /// were all stored (`imported` without a rejected record or an unusable input), saves
    /// them as `tracker`'s. Otherwise they are dropped: a later run must not skip ("`304`,
    /// unchanged") a page whose records were lost.
    pub(crate) async fn keep_validators(
        &self,
        tracker: &str,
        scope: &str,
        imported: Option<&ImportSummary>,
    ) {
        let validators = self.inner.client.take_scope_validators(scope);
        let Some(summary) = imported else { return };
        if summary.rejected > 0 || !summary.unusable.is_empty() {
            tracing::info!(
                tracker,
                "records were rejected: this run's validators are not kept"
            );
            return;
        }
        if let Err(e) = self
            .db()
            .save_tracker_validators(tracker, &validators)
            .await
        {
            tracing::warn!(tracker, error = %e, "cannot store the validators; the next run fetches every page in full");
        }
    }

    /// Exported tracker records (as `export-config` writes them) → the crawl engine, with this
    /// process's HTTP client and fetch settings → a new spool file (`spool_path`). The one
    /// crawl path of scheduled runs and webhook refreshes.
    pub(crate) async fn crawl_records(
        &self,
        records: &[serde_json::Map<String, serde_json::Value>],
        crawl: SpoolCrawl<'_>,
    ) -> Result<(PathBuf, RunReport)> {
        let text = render_export(records, ExportFormat::Json)?;
        let configs = load_config_str(&text, ConfigFormat::Json)?;
        let dir = &self.config().spool_dir;
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io {
            what: format!("creating the spool directory {}", dir.display()),
            source,
        })?;
        let now = self.now();
        let path = spool_path(dir, crawl.tracker, now, crawl.tag);
        let writer = JsonLinesWriter::create(&path)?;
        let mut options = CrawlOptions::default();
        options.concurrency = 1;
        options.now = Some(now);
        options.fetch = self.config().fetch.clone();
        options.existing_only = crawl.existing_only;
        options.tracker_timeout = crawl.tracker_timeout;
        options.secrets = self.config().secrets.clone();
        let scope = crawl.validator_scope();
        self.load_validators(crawl.tracker, &scope).await;
        options.validator_scope = Some(scope);
        let report = run_crawl_with_client(
            &self.inner.registry,
            configs,
            options,
            writer,
            self.inner.client.clone(),
        )
        .await?;
        Ok((path, report))
    }

    /// `import-results SPOOL`: the one place the service calls the importer, with the
    /// service's tracker registry so that link ownership is checked as `import-results` does.
    /// Wakes this process's `/events` reader (scheduled runs and webhook refreshes alike).
    pub(crate) async fn import_spool(&self, path: &Path) -> Result<ImportSummary> {
        let summary = self
            .db()
            .import(
                vec![ImportSource::path(path)],
                &ImportOptions::new(self.inner.registry.clone()),
            )
            .await?;
        self.events_changed();
        Ok(summary)
    }

    async fn record(&self, lease: &Lease, step: Step) -> RunEnd {
        let recording = Instant::now();
        let end = self.record_step(lease, step).await;
        self.phases().add(Phase::Record, recording);
        end
    }

    async fn record_step(&self, lease: &Lease, step: Step) -> RunEnd {
        match step {
            Step::Cancelled => {
                if let Err(e) = self.db().release_lease(lease).await {
                    tracing::warn!(error = %e, "cannot release the lease; it expires by itself");
                }
                RunEnd::Released
            }
            Step::Lost { .. } => {
                tracing::warn!(
                    "the lease was lost during the crawl: not imported (the spool file stays)"
                );
                RunEnd::Lost
            }
            Step::Imported { report, summary } => {
                let error = first_error(&report, &summary);
                let outcome = if error.is_none() {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                };
                let bugs = i64::try_from(summary.records).unwrap_or(i64::MAX);
                self.finish(lease, &RunResult::new(outcome, error, bugs))
                    .await
            }
        }
    }

    async fn finish(&self, lease: &Lease, result: &RunResult) -> RunEnd {
        match self.db().finish_run(lease, self.now(), result).await {
            Ok(true) if result.outcome == Outcome::Ok => RunEnd::Ok,
            Ok(true) => RunEnd::Failed,
            Ok(false) => {
                tracing::warn!("the lease was lost before the run was recorded");
                RunEnd::Lost
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record the run; the lease expires by itself");
                RunEnd::Failed
            }
        }
    }
}

/// Where a run got to (one value per run: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Step {
    Cancelled,
    Lost {
        requests: u64,
    },
    Imported {
        report: RunReport,
        summary: ImportSummary,
    },
}

impl Step {
    fn requests(&self) -> u64 {
        match self {
            Step::Cancelled => 0,
            Step::Lost { requests } => *requests,
            Step::Imported { report, .. } => tracker_requests(report),
        }
    }
}

fn tracker_requests(report: &RunReport) -> u64 {
    report.trackers.iter().map(|t| t.requests).sum()
}

/// The first thing that went wrong in a run, if anything did.
fn first_error(report: &RunReport, summary: &ImportSummary) -> Option<String> {
    let crawl = report.trackers.iter().find_map(|t| {
        t.errors
            .first()
            .map(|e| match &e.url {
                Some(u) => format!("{u}: {}", e.reason),
                None => e.reason.clone(),
            })
            .or_else(|| (!t.ok).then(|| "the crawl failed".to_owned()))
    });
    crawl
        .or_else(|| summary.unusable.first().cloned())
        .or_else(|| summary.rejections.first().map(ToString::to_string))
        .or_else(|| {
            (summary.rejected > 0).then(|| format!("{} records rejected", summary.rejected))
        })
}

pub(crate) fn lease_delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::minutes(5))
}
