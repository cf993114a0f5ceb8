//! Change capture: every change an import makes to `bugs` becomes a row of `bug_events`,
//! written in the import's own transaction (design §6a: "every change that reaches the host
//! database, from any path, becomes an event").
//!
//! * `created` and `updated` events carry the bug as [`BugView`] shows it, read back inside
//!   the transaction after the change (so a record that sets only some columns still gives
//!   the whole bug); `deleted` events carry the bug as it was just before it went. Records
//!   that change nothing (`_no_update`, equal or older data) make no event.
//! * Ids come from the one-row table `bug_event_seq`, bumped by the number of events as the
//!   last statement before the commit: its row lock orders the writers, so ids are
//!   contiguous (no holes, ever: a rolled-back transaction gives its ids back) and become
//!   visible in id order. A reader that has seen id `n` has seen everything up to `n`.
//! * On PostgreSQL each transaction that writes events also sends one `NOTIFY` on
//!   [`NOTIFY_CHANNEL`] (payload: its last id), delivered at commit.
//! * The history is bounded: every import that wrote events prunes the table to the last
//!   [`EVENT_HISTORY`] ids.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::with_pool;
use crate::read::BugView;
use crate::{HostDb, Result};

/// How many events `bug_events` keeps (the newest): older ones are pruned after each import
/// that wrote events. `Last-Event-ID` resumption reaches back this far.
pub const EVENT_HISTORY: i64 = 100_000;

/// The PostgreSQL `NOTIFY` channel of new events (payload: the transaction's last event id).
pub const NOTIFY_CHANNEL: &str = "bugimporters_events";

/// Events per multi-row `INSERT` (7 parameters a row: SQLite takes 32 766 at most).
pub(crate) const INSERT_ROWS: usize = 1000;

/// What happened to a bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EventKind {
    /// A bug the database did not hold was stored.
    Created,
    /// A held bug's data changed.
    Updated,
    /// A bug was removed (a `_deleted` record).
    Deleted,
}

impl EventKind {
    /// `created`, `updated` or `deleted` (the SSE event name and the stored `kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Option<EventKind> {
        match s {
            "created" => Some(EventKind::Created),
            "updated" => Some(EventKind::Updated),
            "deleted" => Some(EventKind::Deleted),
            _ => None,
        }
    }
}

/// One change of one bug, as `bug_events` holds it (and `GET /events` sends it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BugEvent {
    /// Position in the history (contiguous, increasing; the SSE `id:`).
    pub id: i64,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The bug's tracker (name).
    pub tracker: String,
    /// The bug's project (name).
    pub project: String,
    /// The bug's `canonical_bug_link`.
    pub link: String,
    /// When the import transaction that wrote it began (host clock, UTC); it committed
    /// within that batch's time.
    pub at: NaiveDateTime,
    /// The bug after the change (`created`, `updated`), or just before it (`deleted`).
    pub bug: Option<BugView>,
}

/// What the history holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EventBounds {
    /// The oldest event kept (`None`: the table is empty).
    pub oldest: Option<i64>,
    /// The last id ever given (0: none yet); events up to it are committed.
    pub last: i64,
}

/// A change waiting, inside an import's transaction, to become a `bug_events` row.
#[derive(Debug)]
pub(crate) struct Captured {
    pub kind: EventKind,
    pub tracker: String,
    pub project: String,
    pub link: String,
    /// The bug as JSON (`BugView`), `None` when it could not be read (never http(s)).
    pub bug: Option<String>,
}

impl Captured {
    /// A change of the bug shown as `view`.
    pub(crate) fn of(kind: EventKind, view: &BugView) -> Captured {
        Captured {
            kind,
            tracker: view.tracker.clone(),
            project: view.project.clone(),
            link: view.link.clone(),
            bug: serde_json::to_string(view).ok(),
        }
    }
}

/// `UPDATE bug_event_seq` by `n` and read the new last id, then insert the captured events
/// with the ids before it, then (PostgreSQL) `NOTIFY`, all on transaction `$tx`: the last
/// statements before the commit, so that the sequence's row lock is held briefly. Evaluates
/// to `Result<(), sqlx::Error>`.
macro_rules! write_events {
    ($tx:expr, $db:expr, $captured:expr, $now:expr) => {{
        async {
            let captured: &[$crate::events::Captured] = $captured;
            if captured.is_empty() {
                return Ok::<(), sqlx::Error>(());
            }
            let n = i64::try_from(captured.len()).unwrap_or(i64::MAX);
            sqlx::query(&$db.sql("UPDATE bug_event_seq SET last_id = last_id + ? WHERE id = 1"))
                .bind(n)
                .execute(&mut *$tx)
                .await?;
            let last: i64 = sqlx::query_scalar("SELECT last_id FROM bug_event_seq WHERE id = 1")
                .fetch_one(&mut *$tx)
                .await?;
            let mut id = last - n;
            for chunk in captured.chunks($crate::events::INSERT_ROWS) {
                let text = $crate::events::insert_sql($db, chunk.len());
                let mut q = sqlx::query(&text);
                for c in chunk {
                    id += 1;
                    q = q
                        .bind(id)
                        .bind(c.kind.as_str())
                        .bind(c.tracker.as_str())
                        .bind(c.project.as_str())
                        .bind(c.link.as_str())
                        .bind(c.bug.as_deref())
                        .bind($now);
                }
                q.execute(&mut *$tx).await?;
            }
            if $db.backend() == $crate::Backend::Postgres {
                sqlx::query(&$db.sql("SELECT pg_notify(?, ?)"))
                    .bind($crate::events::NOTIFY_CHANNEL)
                    .bind(last.to_string())
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok(())
        }
        .await
    }};
}
pub(crate) use write_events;

/// The [`BugView`]s of `links` (those the database holds with an http(s) link), by link, read
/// on transaction `$tx` (so they show the transaction's own changes). Evaluates to
/// `Result<HashMap<String, BugView>, sqlx::Error>`.
macro_rules! read_views {
    ($tx:expr, $db:expr, $links:expr) => {{
        async {
            let links: &[&str] = $links;
            let mut out: std::collections::HashMap<String, $crate::read::BugView> =
                std::collections::HashMap::with_capacity(links.len());
            for chunk in links.chunks($crate::events::VIEW_CHUNK) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let text = $db.sql(&format!(
                    "SELECT {} {} WHERE b.canonical_bug_link IN ({marks})",
                    $crate::read::VIEW_COLUMNS,
                    $crate::events::links_first($db.backend(), $crate::read::VIEW_FROM)
                ));
                let mut q = sqlx::query(&text);
                for link in chunk {
                    q = q.bind(*link);
                }
                for row in q.fetch_all(&mut *$tx).await? {
                    if let Some(v) = $crate::read::view_from_row!(&row)? {
                        out.insert(v.link.clone(), v);
                    }
                }
            }
            Ok::<_, sqlx::Error>(out)
        }
        .await
    }};
}
pub(crate) use read_views;

/// `from` (a `FROM bugs b JOIN ...` clause) with `bugs` read first on MySQL/MariaDB, for a
/// look-up by `b.canonical_bug_link IN (...)`: MariaDB's optimizer otherwise starts from the
/// (one-row) `trackers` table and walks every bug of the tracker through `bugs_tracker` for
/// each look-up, so an import of 200 000 bugs of one tracker grew quadratic (issue 18: ~500
/// records/s near the end). `STRAIGHT_JOIN` keeps the written order: a range on `bugs_link`,
/// then the primary keys of the joined tables.
pub(crate) fn links_first(backend: crate::Backend, from: &str) -> String {
    match backend {
        crate::Backend::MySql => from.replace(" JOIN ", " STRAIGHT_JOIN "),
        _ => from.to_owned(),
    }
}

/// Links per `IN (...)` when reading the views of changed bugs.
pub(crate) const VIEW_CHUNK: usize = 500;

/// The multi-row `INSERT INTO bug_events` for `rows` events.
pub(crate) fn insert_sql(db: &HostDb, rows: usize) -> String {
    let marks = vec!["(?, ?, ?, ?, ?, ?, ?)"; rows.max(1)].join(", ");
    db.sql(&format!(
        "INSERT INTO bug_events (id, kind, tracker, project, link, bug, created_at) VALUES {marks}"
    ))
}

/// Reads a `bug_events` row (columns `id, kind, tracker, project, link, bug, created_at`).
macro_rules! event_from_row {
    ($row:expr) => {{
        let row = $row;
        (|| -> std::result::Result<BugEvent, sqlx::Error> {
            let kind: String = row.try_get(1)?;
            let bug: Option<String> = row.try_get(5)?;
            Ok(BugEvent {
                id: row.try_get(0)?,
                kind: EventKind::parse(&kind).ok_or_else(|| {
                    sqlx::Error::Decode(format!("bug_events: unknown kind {kind:?}").into())
                })?,
                tracker: row.try_get(2)?,
                project: row.try_get(3)?,
                link: row.try_get(4)?,
                bug: bug.and_then(|b| serde_json::from_str(&b).ok()),
                at: row.try_get(6)?,
            })
        })()
    }};
}

impl HostDb {
    /// The events after id `after`, oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<BugEvent>> {
        let q = self.sql(
            "SELECT id, kind, tracker, project, link, bug, created_at FROM bug_events \
             WHERE id > ? ORDER BY id LIMIT ?",
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&q).bind(after).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(event_from_row!(row)?);
            }
            out
        }))
    }

    /// The oldest event kept and the last id given.
    pub async fn event_bounds(&self) -> Result<EventBounds> {
        Ok(with_pool!(&self.pool, |p| {
            let last: i64 = sqlx::query_scalar("SELECT last_id FROM bug_event_seq WHERE id = 1")
                .fetch_one(p)
                .await?;
            let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM bug_events")
                .fetch_one(p)
                .await?;
            EventBounds { oldest, last }
        }))
    }

    /// Removes every event but the newest `keep` (by id); returns how many went.
    pub async fn prune_events(&self, keep: i64) -> Result<u64> {
        let q = self.sql(
            "DELETE FROM bug_events WHERE id <= \
             (SELECT last_id FROM bug_event_seq WHERE id = 1) - ?",
        );
        Ok(with_pool!(&self.pool, |p| sqlx::query(&q)
            .bind(keep.max(0))
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// A wake-up source for readers of `bug_events` in other processes: on PostgreSQL a
    /// `LISTEN` on [`NOTIFY_CHANNEL`]; `None` on SQLite and MySQL/MariaDB, which have no
    /// notifications (poll [`HostDb::events_after`] there).
    pub async fn event_listener(&self) -> Result<Option<EventListener>> {
        match &self.pool {
            crate::db::Pool::Postgres(p) => {
                // A pool of its own: the LISTEN connection is held for good, and must not
                // take one of the import's connections.
                let own = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(std::time::Duration::from_secs(15))
                    .connect_lazy_with((*p.connect_options()).clone());
                let mut l = sqlx::postgres::PgListener::connect_with(&own).await?;
                l.listen(NOTIFY_CHANNEL).await?;
                Ok(Some(EventListener { inner: l }))
            }
            _ => Ok(None),
        }
    }
}

/// A `LISTEN` on [`NOTIFY_CHANNEL`] (PostgreSQL), from [`HostDb::event_listener`].
#[derive(Debug)]
pub struct EventListener {
    inner: sqlx::postgres::PgListener,
}

impl EventListener {
    /// Waits for the next notification. Returns `Ok(false)` when the connection was lost
    /// (it reconnects on the next call; notifications sent meanwhile are lost, so read the
    /// table then), `Ok(true)` on a notification.
    pub async fn wait(&mut self) -> Result<bool> {
        Ok(self.inner.try_recv().await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in [EventKind::Created, EventKind::Updated, EventKind::Deleted] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(EventKind::parse("other"), None);
    }
}
