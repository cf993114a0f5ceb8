//! # bugimporters-service
//!
//! `bugimporters serve`: the long-running service that keeps the host database fresh by
//! itself (design §6a). It is the only crate that uses both the crawl engine
//! ([`bugimporters_crawl`]) and the host database ([`bugimporters_hostdb`]):
//!
//! ```text
//!  scheduler ─▶ due trackers ─lease─▶ run: export-config → crawl → spool/RUN.jsonl → import ─▶ host DB
//! ```
//!
//! * every tracker is run on its own `refresh_interval` (see [`bugimporters_hostdb::schedule`]);
//! * a run of a tracker is exactly what `export-config` → `bugimporters crawl` →
//!   `import-results` does for it: the same exported record (queries with their
//!   `last_polled`, `existing_bug_urls`), the same engine and the same import; its JSON lines
//!   are written to the spool directory before they are imported, and kept there for
//!   [`ServiceConfig::spool_keep`], so a crash between crawl and import loses nothing;
//! * at most [`ServiceConfig::workers`] runs at once, all sharing one HTTP client (one set of
//!   per-host limits for the process);
//! * any number of processes share one PostgreSQL or MariaDB through leases; SQLite serves
//!   one process ([`instance_lock`]);
//! * one HTTP server ([`Service::router`]: `/healthz`, `/metrics`, `/hooks/*`, `/events`,
//!   `/api/bugs`) that later features (web pages) extend by merging their own routes;
//! * signed webhooks (`POST /hooks/github`, `/hooks/gitlab`, `/hooks/gitea`): a verified issue
//!   event queues a refresh of that one issue in the database, run under a lease by whichever
//!   process takes it, through the same export → crawl → spool → import path;
//! * `GET /events`: every change to the host database's bugs, from any process and any
//!   path, as Server-Sent Events (`docs/events.md`).
//!
//! ## Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), bugimporters_service::Error> {
//! use std::sync::Arc;
//! use bugimporters_hostdb::HostDb;
//! use bugimporters_service::{Service, ServiceConfig};
//!
//! let db = HostDb::connect("sqlite://bugimporters.db").await?;
//! let registry = Arc::new(bugimporters_core::Registry::new()); // register tracker crates
//! let service = Service::new(db, registry, ServiceConfig::default())?;
//! let summary = service.run_once().await?; // `serve --once`
//! println!("{} runs, {} failed", summary.runs, summary.failed);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod api;
mod events;
mod hooks;
mod http;
mod lock;
mod metrics;
mod phases;
mod run;
mod scheduler;
mod spool;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bugimporters_core::fetch::{FetchConfig, HttpClient};
use bugimporters_core::Registry;
use bugimporters_hostdb::schedule::{Clock, SystemClock};
use bugimporters_hostdb::HostDb;

pub use events::EventsConfig;
pub use hooks::verify::{github_signature, hex_hmac};
pub use hooks::{
    EnvSecrets, FixedSecrets, WebhookSecrets, DEFAULT_MAX_BODY, DEFAULT_SECRET_ENV,
    DELIVERY_RETENTION_DAYS, WEBHOOK_SECRET_ENV,
};
pub use lock::{instance_lock, InstanceLock};
pub use metrics::Metrics;
pub use phases::PhaseTotals;
pub use scheduler::{shutdown_on_signals, OnceSummary, Shutdown};
pub use spool::default_spool_dir;

/// What can stop the service as a whole (one tracker's failure never does).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host database failed.
    #[error(transparent)]
    Db(#[from] bugimporters_hostdb::Error),
    /// The crawl engine could not be set up (HTTP client, spool file).
    #[error(transparent)]
    Crawl(#[from] bugimporters_core::Error),
    /// A file or socket could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Another `serve` holds this SQLite database.
    #[error("{0}")]
    Locked(String),
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the service runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// Runs at once in this process (`--workers`).
    pub workers: usize,
    /// Where each run's JSON lines are written before import (`--spool`).
    pub spool_dir: PathBuf,
    /// How long spooled runs are kept (`--spool-keep`); older files are removed.
    pub spool_keep: Duration,
    /// How long a lease lasts without a heartbeat (`--lease`); a crashed process's trackers
    /// are taken over after this. Heartbeats come every third of it.
    pub lease: Duration,
    /// How often the scheduler looks for due trackers (`--poll`).
    pub poll: Duration,
    /// Runs of trackers of one host at once over all processes (`--host-budget`).
    pub host_budget: usize,
    /// How long running runs may go on after SIGTERM/SIGINT (`--grace`).
    pub grace: Duration,
    /// The HTTP server's address (`--listen`).
    pub listen: SocketAddr,
    /// The fetch layer (the crawl's `--per-host`, `--timeout`, `--retries`, ...).
    pub fetch: FetchConfig,
    /// This process's name in leases and `customs status` (default `host:pid`).
    pub worker_id: String,
    /// The largest webhook body accepted, in bytes (larger: 413).
    pub webhook_max_body: usize,
    /// `GET /events`: per-client buffer, poll interval, heartbeat.
    pub events: EventsConfig,
    /// Per-tracker deadline of a run's crawl (`--tracker-timeout`, as `crawl`'s): a tracker
    /// still running is abandoned, its records so far imported, no deletions, the run failed.
    pub tracker_timeout: Duration,
    /// The address people use to reach the web pages (`--public-url`); when it is `https://`,
    /// session cookies are `Secure` (`docs/web.md`).
    pub public_url: Option<url::Url>,
    /// Whether a reverse proxy in front sets `X-Forwarded-For` / `X-Forwarded-Proto`
    /// (`--trust-proxy`): the client address of login throttling is then the last
    /// `X-Forwarded-For` entry, and `X-Forwarded-Proto: https` makes cookies `Secure`. Off,
    /// those headers are ignored (a client could forge them).
    pub trust_proxy: bool,
    /// Where the crawls' importers and the webhook checks read secrets (`--secrets-file`,
    /// then the environment; the environment alone by default).
    pub secrets: Arc<dyn bugimporters_core::secrets::SecretSource>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            workers: 8,
            spool_dir: default_spool_dir(),
            spool_keep: Duration::from_secs(7 * 86_400),
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(5),
            host_budget: 4,
            grace: Duration::from_secs(30),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            fetch: FetchConfig::default(),
            worker_id: worker_id(),
            webhook_max_body: DEFAULT_MAX_BODY,
            events: EventsConfig::default(),
            tracker_timeout: bugimporters_crawl::DEFAULT_TRACKER_TIMEOUT,
            public_url: None,
            trust_proxy: false,
            secrets: Arc::new(bugimporters_core::secrets::EnvSecrets),
        }
    }
}

/// This process's default identifier: `HOST:PID`.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// The service: the host database, the registry, one HTTP client, the schedule's clock and
/// the metrics. Cheap to clone (everything is shared).
#[derive(Debug, Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: HostDb,
    registry: Arc<Registry>,
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    client: Arc<HttpClient>,
    metrics: Metrics,
    /// Time per part of the runs ([`Service::phase_totals`]).
    phases: phases::PhaseTimes,
    /// The scheduler's last pass, in Unix milliseconds of the service's clock (for
    /// `/healthz`; 0: none yet).
    last_tick: std::sync::atomic::AtomicI64,
    /// Webhook secrets and the refresher's bell.
    hooks: hooks::HookState,
    /// `GET /events`: the broadcast of new events and its reader task.
    events: Arc<events::EventHub>,
}

impl Service {
    /// A service on `db` with the system clock.
    pub fn new(db: HostDb, registry: Arc<Registry>, config: ServiceConfig) -> Result<Service> {
        Service::with_clock(db, registry, config, Arc::new(SystemClock))
    }

    /// A service whose schedule reads `clock` (tests, simulations). The crawl's
    /// `last_polled` is the clock's time when each run starts.
    pub fn with_clock(
        db: HostDb,
        registry: Arc<Registry>,
        config: ServiceConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Service> {
        let client = Arc::new(HttpClient::new(config.fetch.clone())?);
        let events = Arc::new(events::EventHub::new(config.events.buffer));
        let hooks = hooks::HookState::new(config.secrets.clone());
        Ok(Service {
            inner: Arc::new(Inner {
                db,
                registry,
                config,
                clock,
                client,
                metrics: Metrics::new(),
                phases: phases::PhaseTimes::default(),
                last_tick: std::sync::atomic::AtomicI64::new(0),
                hooks,
                events,
            }),
        })
    }

    /// The host database.
    pub fn db(&self) -> &HostDb {
        &self.inner.db
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The metrics of this process.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Where this process's run time went so far, summed over its runs.
    pub fn phase_totals(&self) -> PhaseTotals {
        self.inner.phases.totals()
    }

    fn phases(&self) -> &phases::PhaseTimes {
        &self.inner.phases
    }

    fn now(&self) -> chrono::NaiveDateTime {
        self.inner.clock.now()
    }

    /// Notes that the scheduler made a pass now (see [`Service::scheduler_alive`]).
    fn note_pass(&self) {
        let ms = self.now().and_utc().timestamp_millis();
        self.inner
            .last_tick
            .store(ms.max(1), std::sync::atomic::Ordering::SeqCst);
    }
}
