//! # bugimporters-hostdb
//!
//! The host site's database, the other half of bugimporters (design §5):
//!
//! ```text
//!  host DB ──export-config──▶ config.yaml ──bugimporters crawl──▶ bugs.jsonl ──import-results──▶ host DB
//! ```
//!
//! * one schema, created by embedded migrations on SQLite (the default, a local file),
//!   PostgreSQL and MySQL/MariaDB: `projects`, `trackers`, `tracker_queries`, `bugs`,
//!   `import_runs` (see `docs/host-database.md`);
//! * tracker administration checked against the tracker [`Registry`] (the `customs` binary):
//!   [`HostDb::add_tracker`], [`HostDb::edit_tracker`], [`HostDb::load_config`], ...;
//! * [`HostDb::export_configs`]: the crawl configuration in the original host's format, with
//!   the queries' `last_polled`, `existing_bug_urls` and `get_older_bug_data`
//!   (the `export-config` binary);
//! * [`HostDb::import`]: crawl results (JSON lines, a JSON array or YAML) upserted by
//!   `canonical_bug_link` in batched transactions, idempotent and safe to run from several
//!   machines at once (the `import-results` binary); every change it makes is also a row of
//!   `bug_events`, in the same transaction ([`HostDb::events_after`], [`BugEvent`], the
//!   stream `GET /events` of `bugimporters serve`);
//! * [`schedule`]: the service's schedule and leases (`bugimporters serve`, `customs refresh`,
//!   `customs status`).
//! * [`accounts`]: users (argon2id), server-side sessions, login throttling, the audit log
//!   and tracker owners (the `customs user` commands and the `/customs/` pages).
//! * the web pages' read-only queries: the dashboard's rows ([`HostDb::tracker_rows`],
//!   [`TrackerRow`]), totals per project and the bug finder's filter choices;
//! * [`webhooks`]: signed webhook deliveries and the queue of single-issue refreshes they ask
//!   for (`bugimporters serve`'s `POST /hooks/FORGE`).
//!
//! Nothing here does HTTP.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{load_config_str, ConfigFormat};
//! use bugimporters_hostdb::{render_export, ExportFormat, HostDb, ImportOptions, ImportSource};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let registry = std::sync::Arc::new(bugimporters_all::default_registry());
//! // Any sqlx URL: sqlite://FILE (created when missing), postgres://..., mysql://...
//! let db = HostDb::connect("sqlite::memory:").await?; // migrations run on first use
//!
//! // `customs load`: a crawl configuration in the original's format.
//! let config = "- {tracker_name: openhatch, bugimporter: github, github_name: openhatch, \
//!               github_repo: oh-bugimporters}";
//! for record in load_config_str(config, ConfigFormat::Yaml).unwrap() {
//!     db.load_config(&registry, &record.unwrap()).await?;
//! }
//!
//! // `import-results`: crawl records, one JSON object per line.
//! let bugs = r#"{"canonical_bug_link": "https://github.com/openhatch/oh-bugimporters/issues/1",
//!   "title": "Crash", "_tracker_name": "openhatch", "_project_name": "openhatch",
//!   "last_polled": "2026-01-01T00:00:00"}"#;
//! let options = ImportOptions::new(registry.clone()); // the types tell which links each owns
//! let summary = db
//!     .import(vec![ImportSource::text("bugs.jsonl", bugs.replace('\n', ""))], &options)
//!     .await?;
//! assert_eq!((summary.inserted, summary.exit_code()), (1, 0));
//!
//! // `export-config`: what the next crawl needs.
//! let yaml = render_export(&db.export_configs(None).await?, ExportFormat::Yaml)?;
//! assert!(yaml.contains("- https://github.com/openhatch/oh-bugimporters/issues/1"));
//! assert!(yaml.contains("issues?since=2026-01-01T00%3A00%3A00"));
//! # Ok::<(), bugimporters_hostdb::Error>(())
//! # }).unwrap();
//! ```

#![deny(missing_docs)]

pub mod accounts;
mod admin;
mod dashboard;
mod db;
mod error;
mod events;
mod export;
mod import;
mod read;
pub mod schedule;
mod validators;
pub mod webhooks;
mod yaml11;

use chrono::NaiveDateTime;

pub use accounts::{Role, User};
pub use admin::{
    parse_option, render_table, tracker_from_args, LoadReport, TrackerEdit, TrackerRecord,
};
pub use bugimporters_core::Registry;
pub use dashboard::{BugFacets, ProjectTotals, TrackerFilter, TrackerRow, TrackerSort};
pub use db::{redact_url, Backend, DEFAULT_DATABASE_URL};
pub use error::{Error, Result};
pub use events::{BugEvent, EventBounds, EventKind, EventListener, EVENT_HISTORY, NOTIFY_CHANNEL};
pub use export::{render_export, render_yaml, ExportFilter, ExportFormat};
pub use import::{
    ImportOptions, ImportSource, ImportSummary, InputFormat, Rejection, LINK_MAX_CHARS,
    NAME_MAX_CHARS, RECORD_MAX_BYTES,
};
pub use read::{BugPage, BugQuery, BugView, StoredBug};
pub use schedule::{Lease, Outcome, QueueStats, RunResult, ScheduleEntry};
pub use validators::VALIDATOR_URL_MAX;

use db::{with_pool, Pool};

/// A connection pool to the host database, migrated.
#[derive(Debug, Clone)]
pub struct HostDb {
    pool: Pool,
    backend: Backend,
}

impl HostDb {
    /// Opens the database at `url` (`sqlite://FILE` — created when missing —,
    /// `sqlite::memory:`, `postgres://...`, `mysql://...`) and applies any migration it has not
    /// had yet. Errors never show the URL's password.
    pub async fn connect(url: &str) -> Result<HostDb> {
        let db = HostDb::connect_unmigrated(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Opens the database without touching its schema.
    pub async fn connect_unmigrated(url: &str) -> Result<HostDb> {
        let (pool, backend) = db::connect(url).await?;
        Ok(HostDb { pool, backend })
    }

    /// Applies the embedded migrations that the database has not had (safe to run from
    /// several processes at once: PostgreSQL and MySQL take a lock). Returns the versions and
    /// descriptions of every migration this build knows.
    pub async fn migrate(&self) -> Result<Vec<(i64, String)>> {
        db::migrate(&self.pool).await?;
        Ok(db::known_migrations(self.backend))
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        with_pool!(&self.pool, |p| p.close().await)
    }

    /// Runs SQL text as it is, without parameters (administration scripts and tests, e.g.
    /// `CREATE DATABASE`). Never pass it text built from untrusted input.
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        use sqlx::Executor;
        with_pool!(&self.pool, |p| {
            p.execute(sql).await?;
        });
        Ok(())
    }

    pub(crate) fn sql(&self, text: &str) -> String {
        db::sql(self.backend, text)
    }
}

/// The host's clock: naive UTC, microseconds.
pub(crate) fn now() -> NaiveDateTime {
    bugimporters_core::time::now_naive()
}
