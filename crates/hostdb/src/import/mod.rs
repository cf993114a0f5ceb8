//! `import-results`: crawl records into the `bugs` table.

mod apply;
mod reader;
mod record;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDateTime;
use sqlx::Row;
use tokio::sync::mpsc;

use bugimporters_core::{LinkScope, Registry};

use crate::db::{begin_statement, with_pool};
use crate::{now, HostDb, Result};

use reader::{Item, Msg};
use record::Record;

/// Longest `canonical_bug_link` accepted (MySQL indexes at most 768 `utf8mb4` characters;
/// the same limit holds on every backend so that a file imports alike everywhere).
pub const LINK_MAX_CHARS: usize = 768;
/// Longest tracker or project name accepted.
pub const NAME_MAX_CHARS: usize = 255;
/// Largest record accepted, in bytes of stored text (the link and every text and JSON column),
/// on every backend so that a file imports alike everywhere. A MySQL/MariaDB server whose
/// `max_allowed_packet` is smaller lowers it for that server (to the packet size less 256 KiB for
/// the statement around the record).
/// A larger record is rejected alone; the others go in.
pub const RECORD_MAX_BYTES: usize = 8 << 20;

/// The syntax of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InputFormat {
    /// From the file name (`.jsonl`/`.jsonlines`/`.ndjson` JSON lines, `.yaml`/`.yml` YAML),
    /// else from the first character (`[` a JSON array, `{` JSON lines, anything else YAML).
    #[default]
    Auto,
    /// One JSON object per line (read as a stream: memory does not grow with the file).
    JsonLines,
    /// One JSON array of objects.
    JsonArray,
    /// A YAML list of mappings.
    Yaml,
}

#[derive(Debug)]
pub(crate) enum SourceKind {
    Path(PathBuf),
    Stdin,
    Text(String),
}

/// One input of an import.
#[derive(Debug)]
pub struct ImportSource {
    name: String,
    kind: SourceKind,
}

impl ImportSource {
    /// A file; `-` means standard input.
    pub fn path(path: impl Into<PathBuf>) -> ImportSource {
        let path = path.into();
        if path.as_os_str() == "-" {
            return ImportSource::stdin();
        }
        ImportSource {
            name: path.display().to_string(),
            kind: SourceKind::Path(path),
        }
    }

    /// Standard input (named `-` in messages).
    pub fn stdin() -> ImportSource {
        ImportSource {
            name: "-".into(),
            kind: SourceKind::Stdin,
        }
    }

    /// Text in memory, named `name` in messages (its extension selects the format).
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> ImportSource {
        ImportSource {
            name: name.into(),
            kind: SourceKind::Text(text.into()),
        }
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How to import.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The tracker types, to tell which links each tracker owns
    /// ([`Registry::link_scope`]): a record whose `canonical_bug_link` its tracker does not
    /// own is rejected. Given to [`ImportOptions::new`]: the built-in types
    /// (`bugimporters_all::default_registry`), or a host's own registry with its plugin types.
    pub registry: Arc<Registry>,
    /// Records per transaction (default 5000).
    pub batch_size: usize,
    /// Bytes of records (as [`RECORD_MAX_BYTES`] counts them) per transaction (default
    /// 32 MiB): a transaction ends at whichever of `batch_size` and `batch_bytes` comes first,
    /// so memory stays bounded when records are large.
    pub batch_bytes: usize,
    /// Input syntax (default: from the name or content).
    pub format: InputFormat,
    /// Rejections kept in the summary and in `import_runs.errors` (default 1000); all are
    /// counted and logged.
    pub max_rejections_kept: usize,
    /// Whether every change is also written to `bug_events` (default `true`; `import-results`
    /// and `bugimporters serve` always leave it on). Off only to measure what capture costs
    /// (the import benchmark): changes made without it never reach `GET /events`.
    pub capture_events: bool,
}

impl ImportOptions {
    /// Options that tell link ownership with the tracker types of `registry` (see
    /// [`ImportOptions::registry`]; `bugimporters_all::default_registry()` holds the built-in
    /// ones) and otherwise the defaults: 5000 records or 32 MiB per transaction, the input
    /// syntax from the name or content, 1000 rejections kept, change capture on.
    pub fn new(registry: Arc<Registry>) -> Self {
        ImportOptions {
            registry,
            batch_size: 5000,
            batch_bytes: 32 << 20,
            format: InputFormat::Auto,
            max_rejections_kept: 1000,
            capture_events: true,
        }
    }
}

/// A record that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The file (`-` for standard input).
    pub file: String,
    /// Line of the record (JSON lines: its line; JSON array and YAML: where it starts).
    pub line: usize,
    /// Its `canonical_bug_link`, when it had a readable one.
    pub link: Option<String>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)?;
        if let Some(link) = &self.link {
            write!(f, " ({link})")?;
        }
        Ok(())
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportSummary {
    /// Records read (every line or item that was not blank).
    pub records: u64,
    /// Bugs created.
    pub inserted: u64,
    /// Bugs whose data changed.
    pub updated: u64,
    /// Records that changed nothing but, at most, the bug's `last_polled`: `_no_update`
    /// records, records equal to what the database holds, and records older than it.
    pub unchanged: u64,
    /// Bugs removed by `_deleted` records.
    pub deleted: u64,
    /// Records not imported (see [`ImportSummary::rejections`]).
    pub rejected: u64,
    /// The first rejections, in order.
    pub rejections: Vec<Rejection>,
    /// Inputs that could not be read at all, with the reason.
    pub unusable: Vec<String>,
    /// Keys that are not `bugs` columns, ignored, with how many records had them.
    pub ignored_keys: BTreeMap<String, u64>,
    /// The `import_runs` row of this import.
    pub run_id: Option<i64>,
}

impl ImportSummary {
    /// The exit status of `import-results`: 0 clean, 1 some records rejected, 2 an input
    /// could not be read at all.
    pub fn exit_code(&self) -> u8 {
        if !self.unusable.is_empty() {
            2
        } else if self.rejected > 0 {
            1
        } else {
            0
        }
    }

    /// The one-line summary `import-results` prints.
    pub fn line(&self) -> String {
        format!(
            "{} records: {} inserted, {} updated, {} unchanged, {} deleted, {} rejected",
            self.records, self.inserted, self.updated, self.unchanged, self.deleted, self.rejected
        )
    }

    /// The summary as JSON (`import-results --json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "records": self.records,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "rejected": self.rejected,
            "rejections": self.rejections.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "unusable": self.unusable,
            "ignored_keys": self.ignored_keys,
            "run_id": self.run_id,
        })
    }

    fn reject(&mut self, keep: usize, r: Rejection) {
        tracing::warn!(target: "import", "{r}");
        self.rejected += 1;
        if self.rejections.len() < keep {
            self.rejections.push(r);
        }
    }
}

/// A checked record with where it came from and its tracker's id.
#[derive(Debug)]
pub(crate) struct Pending {
    pub file: Arc<str>,
    pub line: usize,
    pub record: Record,
    pub tracker_id: Option<i64>,
    /// Why the record's tracker does not own its link, when it does not (the record is then
    /// accepted only for a bug this tracker already holds).
    pub out_of_scope: Option<String>,
}

impl Pending {
    fn rejection(&self, reason: impl Into<String>) -> Rejection {
        Rejection {
            file: self.file.to_string(),
            line: self.line,
            link: Some(self.record.link.clone()),
            reason: reason.into(),
        }
    }
}

/// State that lives for the whole import.
#[derive(Debug, Default)]
pub(crate) struct State {
    trackers: HashMap<String, Option<i64>>,
    /// The links each tracker owns, by tracker name (or why that cannot be told).
    scopes: HashMap<String, std::result::Result<LinkScope, String>>,
    pub projects: HashMap<String, i64>,
    /// Oldest accepted `last_polled` per tracker id.
    pub polled: HashMap<i64, NaiveDateTime>,
    /// Size limits of this database.
    pub limits: apply::Limits,
    /// [`ImportOptions::capture_events`].
    pub capture_events: bool,
}

impl HostDb {
    /// Imports crawl results (docs/reference-behaviour.md §1.1, without its defects): every record
    /// is upserted by `canonical_bug_link` (the newer `last_polled` wins, so concurrent imports of
    /// overlapping files converge); `_no_update` only moves `last_polled`; `_deleted` removes
    /// the bug; the project is created when new; the tracker is found by `_tracker_name`.
    ///
    /// Files come from anywhere, so ownership is enforced here as in the crawl: a link must be
    /// an absolute http(s) URL without userinfo; a record never creates, updates or deletes a
    /// bug whose link its tracker does not own ([`Registry::link_scope`] of the tracker's
    /// stored configuration; a bug the tracker already holds stays its own), and never changes
    /// a bug that belongs to another tracker: the existing owner wins and the record is
    /// rejected naming both trackers.
    /// Bad records are rejected with file and line and the others go in, in transactions of
    /// [`ImportOptions::batch_size`] records. Afterwards the queries of the trackers imported
    /// get `last_polled` (the oldest `last_polled` of the tracker's records), and the summary
    /// goes into `import_runs`.
    ///
    /// An error is returned only when the database fails (not per record); what was
    /// committed stays.
    pub async fn import(
        &self,
        sources: Vec<ImportSource>,
        options: &ImportOptions,
    ) -> Result<ImportSummary> {
        let started = now();
        let files: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        let (tx, mut rx) = mpsc::channel::<Msg<Item<Record>>>(16); // 16 chunks of 256 items
        let format = options.format;
        // Parsing, checking and hashing run on the reader's thread, beside the database work
        // of this task (issue 18: they were half of this task's time).
        let reader = tokio::task::spawn_blocking(move || {
            reader::read_all(sources, format, tx, &|item: Item| Item {
                file: item.file,
                line: item.line,
                value: item.value.and_then(record::check),
            })
        });
        let mut summary = ImportSummary::default();
        let mut state = State {
            capture_events: options.capture_events,
            ..State::default()
        };
        let keep = options.max_rejections_kept;
        let batch_size = options.batch_size.max(1);
        let mut batch: Vec<Pending> = Vec::with_capacity(batch_size.min(100_000));
        let mut batch_bytes = 0usize;
        let mut result = self.limits().await.map(|l| state.limits = l);
        'read: while let Some(msg) = rx.recv().await {
            if result.is_err() {
                break;
            }
            let items = match msg {
                Msg::Items(items) => items,
                Msg::Unusable { file, message } => {
                    tracing::error!(target: "import", "{file}: {message}");
                    summary.unusable.push(format!("{file}: {message}"));
                    continue;
                }
            };
            for Item { file, line, value } in items {
                summary.records += 1;
                let record = match value {
                    Ok(r) => r,
                    Err(reason) => {
                        summary.reject(
                            keep,
                            Rejection {
                                file: file.to_string(),
                                line,
                                link: None,
                                reason,
                            },
                        );
                        continue;
                    }
                };
                for k in &record.ignored {
                    *summary.ignored_keys.entry(k.clone()).or_default() += 1;
                }
                let mut pending = Pending {
                    file,
                    line,
                    record,
                    tracker_id: None,
                    out_of_scope: None,
                };
                let bytes = apply::record_bytes(&pending.record);
                if let Some(reason) = state.limits.oversize(bytes) {
                    summary.reject(keep, pending.rejection(reason));
                    continue;
                }
                if let Some(name) = pending.record.tracker.clone() {
                    match self.tracker_id(&mut state, &name).await {
                        Ok(Some(id)) => {
                            pending.tracker_id = Some(id);
                            match self
                                .owns(&mut state, &options.registry, &name, &pending.record.link)
                                .await
                            {
                                Ok(owned) => pending.out_of_scope = owned,
                                Err(e) => {
                                    result = Err(e);
                                    break 'read;
                                }
                            }
                        }
                        Ok(None) if pending.record.no_update => {}
                        Ok(None) => {
                            let r = pending.rejection(format!("unknown tracker {name:?}"));
                            summary.reject(keep, r);
                            continue;
                        }
                        Err(e) => {
                            result = Err(e);
                            break 'read;
                        }
                    }
                }
                batch.push(pending);
                batch_bytes += bytes;
                if batch.len() >= batch_size || batch_bytes >= options.batch_bytes {
                    batch_bytes = 0;
                    if let Err(e) = self.apply(&mut state, &mut summary, &mut batch, keep).await {
                        result = Err(e);
                        break 'read;
                    }
                }
            }
        }
        drop(rx);
        if result.is_ok() && !batch.is_empty() {
            result = self.apply(&mut state, &mut summary, &mut batch, keep).await;
        }
        let _ = reader.await;
        if result.is_ok() {
            result = self.mark_queries_polled(&state).await;
        }
        if result.is_ok() && summary.inserted + summary.updated + summary.deleted > 0 {
            // The bounded history of `GET /events` (docs/events.md); a failure here loses
            // nothing and is retried by the next import.
            if let Err(e) = self.prune_events(crate::EVENT_HISTORY).await {
                tracing::warn!(target: "import", "cannot prune bug_events: {e}");
            }
        }
        let status = match (&result, summary.exit_code()) {
            (Err(_), _) => "failed",
            (Ok(()), 0) => "ok",
            (Ok(()), 1) => "rejections",
            (Ok(()), _) => "unusable-input",
        };
        match self.record_run(started, &files, &summary, status).await {
            Ok(id) => summary.run_id = Some(id),
            Err(e) => tracing::error!(target: "import", "cannot record the import run: {e}"),
        }
        result.map(|()| summary)
    }

    async fn tracker_id(&self, state: &mut State, name: &str) -> Result<Option<i64>> {
        if let Some(id) = state.trackers.get(name) {
            return Ok(*id);
        }
        let q = self.sql("SELECT id FROM trackers WHERE name = ?");
        let id: Option<i64> = with_pool!(&self.pool, |p| sqlx::query_scalar(&q)
            .bind(name)
            .fetch_optional(p)
            .await?);
        state.trackers.insert(name.to_owned(), id);
        Ok(id)
    }

    /// `None` when tracker `name` owns `link`, else why not (naming the tracker, the link and
    /// what it owns). The tracker's scope is computed once per import from its stored
    /// configuration.
    async fn owns(
        &self,
        state: &mut State,
        registry: &Registry,
        name: &str,
        link: &str,
    ) -> Result<Option<String>> {
        if !state.scopes.contains_key(name) {
            let scope = match self.tracker(name).await? {
                Some(record) => registry
                    .link_scope(&record.config)
                    .map_err(|e| format!("cannot tell which links tracker {name:?} owns: {e}")),
                None => Err(format!("unknown tracker {name:?}")),
            };
            state.scopes.insert(name.to_owned(), scope);
        }
        Ok(match &state.scopes[name] {
            Ok(scope) if scope.owns(link) => None,
            Ok(scope) => Some(format!(
                "tracker {name:?} does not own this link (its links are under {scope}); a \
                 tracker may only write its own bugs"
            )),
            Err(reason) => Some(reason.clone()),
        })
    }

    async fn mark_queries_polled(&self, state: &State) -> Result<()> {
        if state.polled.is_empty() {
            return Ok(());
        }
        let q = self.sql(
            "UPDATE tracker_queries SET last_polled = ? WHERE tracker_id = ? \
             AND (last_polled IS NULL OR last_polled < ?)",
        );
        let mut polled: Vec<(i64, NaiveDateTime)> =
            state.polled.iter().map(|(k, v)| (*k, *v)).collect();
        polled.sort();
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            for (id, t) in &polled {
                sqlx::query(&q)
                    .bind(*t)
                    .bind(*id)
                    .bind(*t)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn record_run(
        &self,
        started: NaiveDateTime,
        files: &[String],
        s: &ImportSummary,
        status: &str,
    ) -> Result<i64> {
        let errors: Vec<String> = s
            .unusable
            .iter()
            .cloned()
            .chain(s.rejections.iter().map(ToString::to_string))
            .collect();
        let errors = serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into());
        let files = serde_json::to_string(files).unwrap_or_else(|_| "[]".into());
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let insert = self.sql(
            "INSERT INTO import_runs (started_at, finished_at, files, inserted, updated, \
             unchanged, deleted, rejected, status, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let select = self.sql("SELECT MAX(id) FROM import_runs WHERE started_at = ? AND files = ?");
        let id = with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            sqlx::query(&insert)
                .bind(started)
                .bind(now())
                .bind(&files)
                .bind(n(s.inserted))
                .bind(n(s.updated))
                .bind(n(s.unchanged))
                .bind(n(s.deleted))
                .bind(n(s.rejected))
                .bind(status)
                .bind(&errors)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(&select)
                .bind(started)
                .bind(&files)
                .fetch_one(&mut *tx)
                .await?;
            let id: i64 = row.try_get(0)?;
            tx.commit().await?;
            id
        });
        Ok(id)
    }
}
