//! The refresher: takes queued issue refreshes (from any process's hooks) under a lease and
//! runs each through the same path as a scheduled run — the tracker's exported record (with
//! no queries, no `get_older_bug_data` and the issue as its one `existing_bug_urls`) →
//! crawl (`existing_only`: the importer asks the tracker's API for that issue, with the
//! tracker's credentials) → spool file → import. A 404/410 from the API deletes the bug, as
//! in every refresh; a refusal or an error deletes nothing.
//!
//! Refreshes of one tracker leased together are one crawl. At most
//! [`crate::ServiceConfig::workers`] crawls of refreshes run at once in a process, beside the
//! scheduled runs. A refresh that fails is not retried: the tracker's next scheduled run
//! reads the issue anyway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_crawl::RunReport;
use bugimporters_hostdb::webhooks::RefreshLease;
use bugimporters_hostdb::ImportSummary;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::run::{lease_delta, SpoolCrawl};
use crate::{Result, Service, Shutdown};

/// Refreshes leased by one pass, at most (over all trackers).
const LEASE_BATCH: usize = 256;

/// Links of one tracker refreshed by one crawl, at most.
const PER_CRAWL: usize = 64;

/// The longest a refresh crawl may take (then it is abandoned, like a scheduled run at its
/// `--tracker-timeout`).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(120);

impl Service {
    /// Runs queued refreshes until `shutdown`: at each wake-up (a hook queued one in this
    /// process) or poll interval, leases what is queued, and runs it. At shutdown the
    /// refreshes running get the grace period; leases of any cut short expire by themselves.
    pub(crate) async fn refresh_loop(&self, mut shutdown: Shutdown) {
        if self.webhook_secret(super::DEFAULT_SECRET_ENV).is_none() {
            tracing::info!(
                "webhooks: {} is not set; hooks are accepted only for trackers with their own webhook_secret_env",
                super::DEFAULT_SECRET_ENV
            );
        }
        let permits = Arc::new(Semaphore::new(self.config().workers.max(1)));
        let mut running: JoinSet<usize> = JoinSet::new();
        let mut in_flight = 0usize;
        let mut last_prune: Option<Instant> = None;
        while !shutdown.requested() {
            match self
                .spawn_refreshes(
                    &mut running,
                    &permits,
                    LEASE_BATCH.saturating_sub(in_flight),
                )
                .await
            {
                Ok(n) => in_flight += n,
                Err(e) => tracing::warn!(error = %e, "cannot lease webhook refreshes; retrying"),
            }
            if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                self.prune_deliveries().await;
                last_prune = Some(Instant::now());
            }
            tokio::select! {
                _ = self.inner.hooks.wake.notified() => {}
                _ = tokio::time::sleep(self.config().poll) => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    in_flight = in_flight.saturating_sub(done.unwrap_or(0));
                }
                _ = shutdown.wait() => {}
            }
            while let Some(done) = running.try_join_next() {
                in_flight = in_flight.saturating_sub(done.unwrap_or(0));
            }
        }
        let grace = self.config().grace;
        if tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(
                "grace period over: webhook refreshes left unfinished (their leases expire)"
            );
            running.abort_all();
        }
    }

    /// Runs every refresh queued now and waits for them (`serve --once`, tests, benchmarks;
    /// `serve` runs them as they come). Returns how many issues were refreshed.
    pub async fn run_queued_refreshes(&self) -> Result<usize> {
        let permits = Arc::new(Semaphore::new(self.config().workers.max(1)));
        let mut running = JoinSet::new();
        let mut total = 0;
        loop {
            let n = self
                .spawn_refreshes(&mut running, &permits, LEASE_BATCH)
                .await?;
            if n == 0 && running.is_empty() {
                return Ok(total);
            }
            total += n;
            while running.join_next().await.is_some() {}
        }
    }

    /// Leases up to `room` queued refreshes and spawns their crawls (one per tracker and
    /// [`PER_CRAWL`] links). Returns the refreshes leased; each task returns its count.
    async fn spawn_refreshes(
        &self,
        running: &mut JoinSet<usize>,
        permits: &Arc<Semaphore>,
        room: usize,
    ) -> Result<usize> {
        // Lease only for the crawls that can start now: while every worker is busy, the
        // deliveries wait in the queue and the next lease takes them in bigger batches.
        let room = room.min(permits.available_permits() * PER_CRAWL);
        if room == 0 {
            return Ok(0);
        }
        let leases = self
            .db()
            .lease_refreshes(
                &self.config().worker_id,
                self.now(),
                room,
                lease_delta(self.config().lease),
            )
            .await?;
        let n = leases.len();
        let mut by_tracker: BTreeMap<i64, Vec<RefreshLease>> = BTreeMap::new();
        for lease in leases {
            by_tracker.entry(lease.tracker_id).or_default().push(lease);
        }
        for (_, mut group) in by_tracker {
            while !group.is_empty() {
                let rest = group.split_off(group.len().min(PER_CRAWL));
                let chunk = std::mem::replace(&mut group, rest);
                let service = self.clone();
                let permits = permits.clone();
                running.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let k = chunk.len();
                    service.refresh_chunk(chunk).await;
                    k
                });
            }
        }
        Ok(n)
    }

    /// One crawl refreshing the leased issues of one tracker, then the leases' end.
    async fn refresh_chunk(&self, leases: Vec<RefreshLease>) {
        let Some(first) = leases.first() else { return };
        let tracker = first.tracker.clone();
        let span = tracing::info_span!("hook_refresh", tracker = %tracker, run = %first.run_id);
        async move {
            let links: Vec<String> = leases.iter().map(|l| l.link.clone()).collect();
            let started = Instant::now();
            let outcome = match self.crawl_links(&tracker, &links, &leases[0].run_id).await {
                Ok((report, summary)) => {
                    self.metrics().imported(&summary);
                    match first_problem(&report, &summary) {
                        None => {
                            tracing::info!(issues = links.len(), summary = %summary.line(), seconds = started.elapsed().as_secs_f64(), "webhook refresh imported");
                            "ok"
                        }
                        Some(e) => {
                            tracing::warn!(issues = links.len(), summary = %summary.line(), error = %e, "webhook refresh imported with errors");
                            "failed"
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(issues = links.len(), error = %e, "webhook refresh failed (the next scheduled run reads the issue)");
                    "failed"
                }
            };
            let now = self.now();
            let held = match self.db().finish_refreshes(&leases).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot end the refresh leases; they expire by themselves");
                    leases.len() as u64
                }
            };
            let lost = (leases.len() as u64).saturating_sub(held);
            for (i, lease) in leases.iter().enumerate() {
                let waited = (now - lease.requested_at).num_milliseconds().max(0) as f64 / 1000.0;
                let end = if (i as u64) < lost { "lost" } else { outcome };
                self.metrics().hook_refresh(end, waited);
            }
        }
        .instrument(span)
        .await
    }

    /// export (this tracker, these links only) → crawl (`existing_only`) → spool → import.
    async fn crawl_links(
        &self,
        tracker: &str,
        links: &[String],
        run_id: &str,
    ) -> Result<(RunReport, ImportSummary)> {
        let record = self.db().export_refresh(tracker, links).await?;
        let tag = format!("hook-{run_id}-{:04x}", fastrand::u16(..));
        let crawl = SpoolCrawl {
            tracker,
            tag: &tag,
            existing_only: true,
            tracker_timeout: REFRESH_TIMEOUT.min(self.config().lease / 2),
        };
        let scope = crawl.validator_scope();
        let (path, report) = match self.crawl_records(&[record], crawl).await {
            Ok(done) => done,
            Err(e) => {
                self.keep_validators(tracker, &scope, None).await;
                return Err(e);
            }
        };
        let imported = self.import_spool(&path).await;
        self.keep_validators(tracker, &scope, imported.as_ref().ok())
            .await;
        let summary = imported?;
        Ok((report, summary))
    }

    async fn prune_deliveries(&self) {
        let before = self.now() - chrono::TimeDelta::days(super::DELIVERY_RETENTION_DAYS);
        match self.db().prune_deliveries(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old webhook delivery ids removed"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old webhook deliveries"),
        }
    }
}

/// The first thing that went wrong in a refresh crawl and its import, if anything did.
fn first_problem(report: &RunReport, summary: &ImportSummary) -> Option<String> {
    report
        .trackers
        .iter()
        .find_map(|t| {
            t.errors
                .first()
                .map(|e| e.reason.clone())
                .or_else(|| (!t.ok).then(|| "the crawl failed".to_owned()))
        })
        .or_else(|| summary.unusable.first().cloned())
        .or_else(|| {
            (summary.rejected > 0).then(|| format!("{} records rejected", summary.rejected))
        })
}
