//! The scheduler: lease due trackers, run them with bounded concurrency, shut down cleanly.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::phases::Phase;
use crate::run::{lease_delta, RunEnd};
use crate::spool::clean_spool;
use crate::{Error, Result, Service};

/// What a pass of the scheduler (`serve --once`) or a whole `serve` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnceSummary {
    /// Runs started.
    pub runs: u64,
    /// Runs that crawled and imported without an error.
    pub ok: u64,
    /// Runs with errors (what could be imported was).
    pub failed: u64,
    /// Runs that lost their lease (nothing imported).
    pub lost: u64,
    /// Runs stopped at shutdown, their leases given back.
    pub released: u64,
    /// Issues refreshed for webhooks (`serve --once` runs the queued ones first).
    pub refreshed: u64,
}

impl OnceSummary {
    /// The exit status, as `crawl`'s: 0 every run fine, 1 some run failed.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed + self.lost > 0)
    }

    fn add(&mut self, end: RunEnd) {
        match end {
            RunEnd::Ok => self.ok += 1,
            RunEnd::Failed => self.failed += 1,
            RunEnd::Lost => self.lost += 1,
            RunEnd::Released => self.released += 1,
        }
    }
}

/// Tells a running [`Service::serve`] to stop: the first request stops leasing and lets
/// runs finish within the grace period; [`Shutdown::requested`] reads it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A shutdown signal and the sender that triggers it (tests, embedding).
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown { rx })
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        *self.rx.borrow()
    }

    pub(crate) async fn wait(&mut self) {
        let _ = self.rx.wait_for(|s| *s).await;
    }
}

/// A [`Shutdown`] triggered by SIGTERM or SIGINT; a second signal ends the process at once
/// (exit status 130; its leases expire by themselves).
pub fn shutdown_on_signals() -> Shutdown {
    let (tx, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        for n in 0.. {
            wait_for_signal().await;
            if n == 0 {
                tracing::warn!("stopping: no new runs; running runs may finish (a second signal exits at once)");
                let _ = tx.send(true);
            } else {
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    shutdown
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The fewest free workers a lease pass is made for while runs go on: a quarter of them. A
/// pass costs about the same for one tracker as for several (it reads the due trackers of
/// every host), so leasing one tracker each time a run ends made the passes a large share of a
/// short run's cost at thousands of due trackers (docs/performance.md, "The service").
fn lease_batch(workers: usize) -> usize {
    (workers / 4).max(1)
}

impl Service {
    /// `serve --once`: runs the webhook refreshes queued now (they are the urgent work; a
    /// cron-driven host receives hooks with a `serve` elsewhere or not at all), then every
    /// tracker due now, at most [`crate::ServiceConfig::workers`] at once, each once, and
    /// returns when they are done.
    pub async fn run_once(&self) -> Result<OnceSummary> {
        let refreshed = self.run_queued_refreshes().await? as u64;
        let start = self.now();
        let syncing = Instant::now();
        self.db().sync_schedule(start).await?;
        self.phases().add(Phase::Lease, syncing);
        self.note_pass();
        let (_cancel_tx, cancel) = watch::channel(false);
        let mut runs = JoinSet::new();
        let mut summary = OnceSummary {
            refreshed,
            ..OnceSummary::default()
        };
        loop {
            let started = self.lease_into(&mut runs, Some(start), &cancel).await?;
            summary.runs += started;
            if started == 0 {
                match runs.join_next().await {
                    Some(end) => summary.add(end.unwrap_or(RunEnd::Failed)),
                    None => break,
                }
            }
            while let Some(end) = runs.try_join_next() {
                summary.add(end.unwrap_or(RunEnd::Failed));
            }
        }
        clean_spool(&self.config().spool_dir, self.config().spool_keep);
        Ok(summary)
    }

    /// Leases as many due trackers as there are free workers and starts their runs. While
    /// runs go on, it waits until a quarter of the workers are free (see [`lease_batch`]).
    async fn lease_into(
        &self,
        runs: &mut JoinSet<RunEnd>,
        due_by: Option<chrono::NaiveDateTime>,
        cancel: &watch::Receiver<bool>,
    ) -> Result<u64> {
        let workers = self.config().workers.max(1);
        let free = workers.saturating_sub(runs.len());
        if free == 0 || (free < lease_batch(workers) && !runs.is_empty()) {
            return Ok(0);
        }
        let now = self.now();
        let leasing = Instant::now();
        let leases = self
            .db()
            .lease_due_by(
                &self.config().worker_id,
                now,
                due_by.unwrap_or(now),
                free,
                lease_delta(self.config().lease),
                self.config().host_budget,
            )
            .await?;
        self.phases().add(Phase::Lease, leasing);
        let n = leases.len() as u64;
        for lease in leases {
            let service = self.clone();
            let cancel = cancel.clone();
            runs.spawn(async move { service.run_lease(lease, cancel).await });
        }
        Ok(n)
    }

    /// The service: the HTTP server on [`crate::ServiceConfig::listen`] and the scheduler
    /// loop, until `shutdown`. Then no new lease is taken, running runs get
    /// [`crate::ServiceConfig::grace`] to finish, the crawls still going are stopped and
    /// their leases given back (an import that has begun completes), and it returns.
    pub async fn serve(&self, shutdown: Shutdown) -> Result<OnceSummary> {
        let listener = tokio::net::TcpListener::bind(self.config().listen)
            .await
            .map_err(|source| Error::Io {
                what: format!("listening on {}", self.config().listen),
                source,
            })?;
        tracing::info!(listen = %self.config().listen, worker = %self.config().worker_id, "serving");
        let mut http_stop = shutdown.clone();
        let router = self.router();
        let http = tokio::spawn(async move {
            // The peer address is login throttling's client address (`web::session`).
            let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { http_stop.wait().await })
                .await
        });
        let refresher = {
            let (service, stop) = (self.clone(), shutdown.clone());
            tokio::spawn(async move { service.refresh_loop(stop).await })
        };
        let summary = self.schedule_loop(shutdown).await;
        let _ = refresher.await;
        let _ = http.await;
        summary
    }

    async fn schedule_loop(&self, mut shutdown: Shutdown) -> Result<OnceSummary> {
        let (cancel_tx, cancel) = watch::channel(false);
        let mut runs = JoinSet::new();
        let mut summary = OnceSummary::default();
        let mut last_clean = Instant::now() - Duration::from_secs(3600);
        while !shutdown.requested() {
            match self.tick(&mut runs, &cancel).await {
                Ok(n) => summary.runs += n,
                Err(e) => tracing::error!(error = %e, "scheduler pass failed; retrying"),
            }
            if last_clean.elapsed() >= Duration::from_secs(600) {
                clean_spool(&self.config().spool_dir, self.config().spool_keep);
                last_clean = Instant::now();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config().poll) => {}
                Some(end) = runs.join_next(), if !runs.is_empty() => summary.add(end.unwrap_or(RunEnd::Failed)),
                _ = shutdown.wait() => {}
            }
            while let Some(end) = runs.try_join_next() {
                summary.add(end.unwrap_or(RunEnd::Failed));
            }
        }
        self.drain(runs, cancel_tx, &mut summary).await;
        Ok(summary)
    }

    /// One scheduler pass: sync the schedule, lease for the free workers, refresh the gauges.
    async fn tick(
        &self,
        runs: &mut JoinSet<RunEnd>,
        cancel: &watch::Receiver<bool>,
    ) -> Result<u64> {
        let now = self.now();
        self.db().sync_schedule(now).await?;
        let n = self.lease_into(runs, None, cancel).await?;
        let stats = self.db().queue_stats(self.now()).await?;
        self.metrics().queue(&stats, self.now());
        self.note_pass();
        Ok(n)
    }

    /// Shutdown: wait up to the grace period, then stop the crawls that are left.
    async fn drain(
        &self,
        mut runs: JoinSet<RunEnd>,
        cancel_tx: watch::Sender<bool>,
        summary: &mut OnceSummary,
    ) {
        tracing::info!(
            running = runs.len(),
            grace_s = self.config().grace.as_secs_f64(),
            "draining"
        );
        let deadline = tokio::time::Instant::now() + self.config().grace;
        while !runs.is_empty() {
            match tokio::time::timeout_at(deadline, runs.join_next()).await {
                Ok(Some(end)) => summary.add(end.unwrap_or(RunEnd::Failed)),
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        running = runs.len(),
                        "grace period over: stopping the crawls left and giving their leases back"
                    );
                    let _ = cancel_tx.send(true);
                    while let Some(end) = runs.join_next().await {
                        summary.add(end.unwrap_or(RunEnd::Failed));
                    }
                }
            }
        }
    }
}
