//! Applying a batch of checked records in one transaction.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::NaiveDateTime;
use sqlx::Row;

use super::record::{Field, COLUMNS};
use super::{ImportSummary, Pending, State};
use crate::admin::project_id;
use crate::db::{begin_statement, is_connection_error, is_retryable, with_pool};
use crate::events::{links_first, read_views, write_events, Captured, EventKind};
use crate::read::BugView;
use crate::{now, Backend, HostDb, Result};

/// What a committed batch did.
#[derive(Debug, Default)]
struct Outcome {
    inserted: u64,
    updated: u64,
    unchanged: u64,
    deleted: u64,
    rejections: Vec<(usize, String)>,
    new_projects: Vec<(String, i64)>,
    polled: Vec<(i64, NaiveDateTime)>,
}

/// Links per `IN (...)` look-up.
const LOOKUP_CHUNK: usize = 500;
/// Rows per multi-row upsert (PostgreSQL takes at most 65535 parameters, 21 per row).
const UPSERT_ROWS: usize = 500;
/// Text bytes per multi-row upsert (MySQL's max_allowed_packet is 16 MiB by default).
const UPSERT_BYTES: usize = 4 << 20;
/// What a MySQL/MariaDB packet needs beyond the record's text: the statement, the other
/// parameters and their headers.
pub(super) const PACKET_HEADROOM: usize = 256 << 10;
/// Attempts of a batch that hit a deadlock, a serialisation failure or a busy database.
const ATTEMPTS: u32 = 10;

/// The upsert for records with the data columns of `shape`: the newer (or equal)
/// `last_polled` wins, so that concurrent imports converge on the newest record; absent
/// columns keep their value (docs/reference-behaviour.md §1.1).
fn upsert_sql(db: &HostDb, shape: u32, rows: usize) -> String {
    let cols: Vec<&str> = COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, _)| shape & (1 << i) != 0)
        .map(|(_, (c, _))| *c)
        .collect();
    let mut names = vec![
        "canonical_bug_link",
        "project_id",
        "tracker_id",
        "last_polled",
        "content_hash",
        "created_at",
        "modified_at",
    ];
    names.extend(&cols);
    let one = format!("({})", vec!["?"; names.len()].join(", "));
    let marks = vec![one; rows.max(1)].join(", ");
    let mut updated: Vec<&str> = vec!["project_id", "tracker_id", "content_hash", "modified_at"];
    updated.extend(&cols);
    let text = match db.backend {
        Backend::MySql => {
            // The owner guard `tracker_id = VALUES(tracker_id)` backs up the check in Rust
            // against a concurrent import: a bug never changes tracker.
            let mut sets: Vec<String> = updated
                .iter()
                .map(|c| {
                    format!(
                        "{c} = IF(VALUES(last_polled) >= last_polled \
                         AND tracker_id = VALUES(tracker_id), VALUES({c}), {c})"
                    )
                })
                .collect();
            // Last: the assignments above compare with the old value.
            sets.push(
                "last_polled = IF(tracker_id = VALUES(tracker_id), \
                 GREATEST(last_polled, VALUES(last_polled)), last_polled)"
                    .into(),
            );
            format!(
                "INSERT INTO bugs ({}) VALUES {marks} ON DUPLICATE KEY UPDATE {}",
                names.join(", "),
                sets.join(", ")
            )
        }
        _ => {
            let mut sets: Vec<String> = updated
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            sets.push("last_polled = excluded.last_polled".into());
            format!(
                "INSERT INTO bugs ({}) VALUES {marks} ON CONFLICT (canonical_bug_link) DO UPDATE \
                 SET {} WHERE bugs.last_polled <= excluded.last_polled \
                 AND bugs.tracker_id = excluded.tracker_id",
                names.join(", "),
                sets.join(", ")
            )
        }
    };
    db.sql(&text)
}

/// The size limits of one database, read once per import.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest record accepted (see [`super::RECORD_MAX_BYTES`]).
    record_bytes: usize,
    /// Largest multi-row upsert, in record bytes.
    statement_bytes: usize,
    /// MySQL/MariaDB's `max_allowed_packet`, when it lowers the limits.
    packet: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::for_packet(None)
    }
}

impl Limits {
    /// The limits under a server packet size (`None`: no packet limit, SQLite and PostgreSQL).
    fn for_packet(packet: Option<usize>) -> Limits {
        let budget = packet.map_or(usize::MAX, |p| p.saturating_sub(PACKET_HEADROOM).max(1));
        Limits {
            record_bytes: super::RECORD_MAX_BYTES.min(budget),
            statement_bytes: UPSERT_BYTES.min(budget),
            packet: packet.filter(|_| budget < super::RECORD_MAX_BYTES),
        }
    }

    /// Why a record of `bytes` is too large for this database, if it is.
    pub(crate) fn oversize(&self, bytes: usize) -> Option<String> {
        if bytes <= self.record_bytes {
            return None;
        }
        Some(match self.packet {
            Some(p) => format!(
                "record too large: {bytes} bytes of text, this database takes at most {} \
                 (its max_allowed_packet is {p} bytes)",
                self.record_bytes
            ),
            None => format!(
                "record too large: {bytes} bytes of text, an import takes at most {} per record",
                self.record_bytes
            ),
        })
    }
}

macro_rules! bind_field {
    ($q:expr, $f:expr) => {
        match $f {
            Field::Text(v) | Field::Json(v) => $q.bind(v.as_deref()),
            Field::Int(v) => $q.bind(*v),
            Field::Time(v) => $q.bind(*v),
            Field::Bool(b) => $q.bind(*b),
            Field::OptBool(b) => $q.bind(*b),
        }
    };
}

/// Why the database did not take a record, for its rejection.
fn refusal(e: &sqlx::Error, item: &Pending) -> String {
    if is_connection_error(e) {
        format!(
            "the database closed the connection while storing this record ({} bytes of \
             text): {e}",
            record_bytes(&item.record)
        )
    } else {
        format!("database refused it: {e}")
    }
}

impl HostDb {
    /// The size limits of this database: on MySQL/MariaDB its `max_allowed_packet`.
    pub(super) async fn limits(&self) -> Result<Limits> {
        let packet = match &self.pool {
            crate::db::Pool::MySql(p) => {
                let n: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
                    .fetch_one(p)
                    .await?;
                Some(usize::try_from(n).unwrap_or(usize::MAX))
            }
            _ => None,
        };
        Ok(Limits::for_packet(packet))
    }

    /// Whether the database still answers (on a connection of the pool, which replaces the
    /// connections that died).
    async fn alive(&self) -> bool {
        with_pool!(&self.pool, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .is_ok())
    }

    /// Whether `e` stops the import: the database is gone, not just one connection.
    async fn fatal(&self, e: &sqlx::Error) -> bool {
        is_connection_error(e) && !self.alive().await
    }

    /// Applies and empties `batch`; on a data error, record by record so that only the bad
    /// records are rejected. A record that makes the server drop the connection is rejected
    /// too, when the database still answers afterwards. Errors only when the database itself
    /// fails.
    pub(super) async fn apply(
        &self,
        state: &mut State,
        summary: &mut ImportSummary,
        batch: &mut Vec<Pending>,
        keep: usize,
    ) -> Result<()> {
        let items = std::mem::take(batch);
        let e = match self.apply_with_retry(state, &items).await {
            Ok(outcome) => {
                merge(state, summary, &items, outcome, keep);
                return Ok(());
            }
            Err(e) => e,
        };
        if self.fatal(&e).await {
            return Err(e.into());
        }
        if let [item] = &items[..] {
            summary.reject(keep, item.rejection(refusal(&e, item)));
            return Ok(());
        }
        tracing::warn!(
            target: "import",
            "a batch of {} records failed ({e}); importing them one by one",
            items.len()
        );
        for item in items {
            let one = [item];
            match self.apply_with_retry(state, &one).await {
                Ok(outcome) => merge(state, summary, &one, outcome, keep),
                Err(e) if self.fatal(&e).await => return Err(e.into()),
                Err(e) => summary.reject(keep, one[0].rejection(refusal(&e, &one[0]))),
            }
        }
        Ok(())
    }

    async fn apply_with_retry(
        &self,
        state: &State,
        items: &[Pending],
    ) -> std::result::Result<Outcome, sqlx::Error> {
        let mut attempt = 0;
        loop {
            match self.apply_once(state, items).await {
                Ok(o) => return Ok(o),
                Err(e) if is_retryable(&e) && attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    let wait = 20u64 << attempt.min(6);
                    let jitter = fastrand_jitter(wait);
                    tracing::debug!(target: "import", "retrying a batch after {e}");
                    tokio::time::sleep(Duration::from_millis(wait + jitter)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn apply_once(
        &self,
        state: &State,
        items: &[Pending],
    ) -> std::result::Result<Outcome, sqlx::Error> {
        let now = now();
        let mut links: Vec<&str> = items.iter().map(|p| p.record.link.as_str()).collect();
        links.sort_unstable();
        links.dedup();
        let lookups: Vec<(String, &[&str])> = links
            .chunks(LOOKUP_CHUNK)
            .map(|chunk| {
                let marks = vec!["?"; chunk.len()].join(", ");
                (
                    self.sql(&format!(
                        "SELECT TXT(b.canonical_bug_link), b.last_polled, b.content_hash, \
                         b.tracker_id, TXT(t.name) {} WHERE b.canonical_bug_link IN ({marks})",
                        links_first(
                            self.backend,
                            "FROM bugs b JOIN trackers t ON t.id = b.tracker_id"
                        )
                    )),
                    chunk,
                )
            })
            .collect();
        let bump = self.sql(
            "UPDATE bugs SET last_polled = ? WHERE canonical_bug_link = ? AND last_polled < ?",
        );
        let delete = self.sql(
            "DELETE FROM bugs WHERE canonical_bug_link = ? AND last_polled <= ? AND tracker_id = ?",
        );

        with_pool!(&self.pool, |p| {
            async {
                let mut out = Outcome::default();
                let mut tx = p.begin_with(begin_statement(self.backend)).await?;
                let mut existing: HashMap<String, (NaiveDateTime, i64)> =
                    HashMap::with_capacity(links.len());
                // Owner (tracker id and name) of every bug held or written in this batch.
                let mut owners: HashMap<String, (i64, String)> =
                    HashMap::with_capacity(links.len());
                for (text, chunk) in &lookups {
                    let mut q = sqlx::query(text);
                    for link in *chunk {
                        q = q.bind(*link);
                    }
                    for row in q.fetch_all(&mut *tx).await? {
                        let link: String = row.try_get(0)?;
                        owners.insert(link.clone(), (row.try_get(3)?, row.try_get(4)?));
                        existing.insert(link, (row.try_get(1)?, row.try_get(2)?));
                    }
                }
                let mut projects: HashMap<&str, i64> = HashMap::new();
                // Upserts of one shape waiting to go out as one multi-row statement.
                let mut pending: Vec<(usize, i64, i64, NaiveDateTime, i64)> = Vec::new();
                let mut pending_links: HashSet<&str> = HashSet::new();
                let mut pending_shape = 0u32;
                let mut pending_bytes = 0usize;
                // Changes to capture as `bug_events` rows, in order (`deleted`: the bug as it
                // was before).
                let mut changes: Vec<(EventKind, &str, Option<BugView>)> = Vec::new();
                macro_rules! flush {
                    () => {
                        if !pending.is_empty() {
                            let text = upsert_sql(self, pending_shape, pending.len());
                            let mut q = sqlx::query(&text);
                            for (idx, pid, tid, lp, hash) in &pending {
                                let r = &items[*idx].record;
                                q = q
                                    .bind(r.link.as_str())
                                    .bind(*pid)
                                    .bind(*tid)
                                    .bind(*lp)
                                    .bind(*hash)
                                    .bind(now)
                                    .bind(now);
                                for (_, f) in &r.fields {
                                    q = bind_field!(q, f);
                                }
                            }
                            q.execute(&mut *tx).await?;
                            pending.clear();
                            pending_links.clear();
                            pending_bytes = 0;
                        }
                    };
                }
                for (idx, item) in items.iter().enumerate() {
                    let r = &item.record;
                    if let Some(reason) = ownership_refusal(item, owners.get(&r.link)) {
                        out.rejections.push((idx, reason));
                        continue;
                    }
                    if r.no_update {
                        let Some(held) = existing.get_mut(&r.link) else {
                            out.rejections.push((
                                idx,
                                "_no_update for a bug the database does not hold".into(),
                            ));
                            continue;
                        };
                        let t = r.last_polled.unwrap_or(now);
                        if t > held.0 {
                            flush!();
                            sqlx::query(&bump)
                                .bind(t)
                                .bind(&r.link)
                                .bind(t)
                                .execute(&mut *tx)
                                .await?;
                            held.0 = t;
                        }
                        out.unchanged += 1;
                        if let Some(tid) = item.tracker_id {
                            out.polled.push((tid, t));
                        }
                        continue;
                    }
                    let (Some(lp), Some(tracker_id), Some(project)) =
                        (r.last_polled, item.tracker_id, r.project.as_deref())
                    else {
                        out.rejections.push((
                            idx,
                            "missing _tracker_name, _project_name or last_polled".into(),
                        ));
                        continue;
                    };
                    out.polled.push((tracker_id, lp));
                    if r.deleted {
                        match existing.get(&r.link) {
                            Some(held) if held.0 <= lp => {
                                flush!();
                                let before = if state.capture_events {
                                    read_views!(tx, self, &[r.link.as_str()])?.remove(&r.link)
                                } else {
                                    None
                                };
                                let n = sqlx::query(&delete)
                                    .bind(&r.link)
                                    .bind(lp)
                                    .bind(tracker_id)
                                    .execute(&mut *tx)
                                    .await?
                                    .rows_affected();
                                if n > 0 {
                                    out.deleted += 1;
                                    existing.remove(&r.link);
                                    if state.capture_events {
                                        changes.push((EventKind::Deleted, r.link.as_str(), before));
                                    }
                                } else {
                                    out.unchanged += 1;
                                }
                            }
                            _ => out.unchanged += 1,
                        }
                        continue;
                    }
                    let hash = r.hash;
                    let held = existing.get(&r.link).copied();
                    match held {
                        Some((t, _)) if lp < t => {
                            out.unchanged += 1;
                            continue;
                        }
                        Some((t, h)) if h == hash => {
                            if lp > t {
                                flush!();
                                sqlx::query(&bump)
                                    .bind(lp)
                                    .bind(&r.link)
                                    .bind(lp)
                                    .execute(&mut *tx)
                                    .await?;
                                existing.insert(r.link.clone(), (lp, hash));
                            }
                            out.unchanged += 1;
                            continue;
                        }
                        _ => {}
                    }
                    let pid = match projects
                        .get(project)
                        .or_else(|| state.projects.get(project))
                    {
                        Some(id) => *id,
                        None => {
                            let id = project_id!(tx, self, project, now);
                            projects.insert(project, id);
                            out.new_projects.push((project.to_owned(), id));
                            id
                        }
                    };
                    let shape = r.shape();
                    let bytes = record_bytes(r);
                    if shape != pending_shape
                        || pending.len() >= UPSERT_ROWS
                        || pending_bytes + bytes > state.limits.statement_bytes
                        || pending_links.contains(r.link.as_str())
                    {
                        flush!();
                        pending_shape = shape;
                    }
                    pending_bytes += bytes;
                    pending_links.insert(r.link.as_str());
                    pending.push((idx, pid, tracker_id, lp, hash));
                    owners
                        .entry(r.link.clone())
                        .or_insert_with(|| (tracker_id, r.tracker.clone().unwrap_or_default()));
                    let kind = if held.is_some() {
                        out.updated += 1;
                        EventKind::Updated
                    } else {
                        out.inserted += 1;
                        EventKind::Created
                    };
                    if state.capture_events {
                        changes.push((kind, r.link.as_str(), None));
                    }
                    existing.insert(r.link.clone(), (lp, hash));
                }
                flush!();
                let _ = pending_bytes;
                if !changes.is_empty() {
                    let captured =
                        capture(&changes, &read_views!(tx, self, &changed_links(&changes))?);
                    write_events!(tx, self, &captured, now)?;
                }
                tx.commit().await?;
                Ok::<Outcome, sqlx::Error>(out)
            }
            .await
        })
    }
}

/// The links of the created and updated bugs among `changes`, once each.
fn changed_links<'a>(changes: &[(EventKind, &'a str, Option<BugView>)]) -> Vec<&'a str> {
    let mut links: Vec<&str> = changes
        .iter()
        .filter(|(kind, _, _)| *kind != EventKind::Deleted)
        .map(|(_, link, _)| *link)
        .collect();
    links.sort_unstable();
    links.dedup();
    links
}

/// The events of `changes`: created and updated bugs as `views` shows them after the change,
/// deleted bugs as they were. A bug that cannot be shown (gone again in the same batch, or a
/// link that is not http(s)) makes no event of that kind.
fn capture(
    changes: &[(EventKind, &str, Option<BugView>)],
    views: &HashMap<String, BugView>,
) -> Vec<Captured> {
    changes
        .iter()
        .filter_map(|(kind, link, before)| {
            let view = match kind {
                EventKind::Deleted => before.as_ref(),
                _ => views.get(*link),
            };
            view.map(|v| Captured::of(*kind, v))
        })
        .collect()
}

/// Why `item` may not touch its bug, if it may not: the bug belongs to another tracker (the
/// existing owner wins), or its tracker does not own the link and does not already hold the
/// bug. `owner` is the bug's tracker (id, name) when the database holds it.
fn ownership_refusal(item: &Pending, owner: Option<&(i64, String)>) -> Option<String> {
    let name = item.record.tracker.as_deref().unwrap_or_default();
    match (owner, item.tracker_id) {
        (Some((owner_id, owner_name)), Some(tid)) if *owner_id != tid => Some(format!(
            "the bug belongs to tracker {owner_name:?}; a record of tracker {name:?} may not \
             change it (the existing owner wins)"
        )),
        (Some((owner_id, _)), Some(tid)) if *owner_id == tid => None,
        _ => item.out_of_scope.clone(),
    }
}

/// Roughly how many bytes a record sends: its text and JSON plus a little per column.
pub(super) fn record_bytes(r: &super::record::Record) -> usize {
    r.link.len()
        + r.fields
            .iter()
            .map(|(_, f)| match f {
                Field::Text(v) | Field::Json(v) => v.as_ref().map_or(0, String::len) + 8,
                _ => 8,
            })
            .sum::<usize>()
        + 64
}

fn fastrand_jitter(max: u64) -> u64 {
    // No randomness crate needed: the clock's nanoseconds are jitter enough here.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    nanos % max.max(1)
}

fn merge(
    state: &mut State,
    summary: &mut ImportSummary,
    items: &[Pending],
    outcome: Outcome,
    keep: usize,
) {
    summary.inserted += outcome.inserted;
    summary.updated += outcome.updated;
    summary.unchanged += outcome.unchanged;
    summary.deleted += outcome.deleted;
    for (idx, reason) in outcome.rejections {
        if let Some(item) = items.get(idx) {
            summary.reject(keep, item.rejection(reason));
        }
    }
    for (name, id) in outcome.new_projects {
        state.projects.insert(name, id);
    }
    for (tid, t) in outcome.polled {
        state
            .polled
            .entry(tid)
            .and_modify(|old| *old = (*old).min(t))
            .or_insert(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_a_small_packet() {
        let none = Limits::for_packet(None);
        assert_eq!(none.oversize(super::super::RECORD_MAX_BYTES), None);
        let e = none.oversize(super::super::RECORD_MAX_BYTES + 1).unwrap();
        assert!(e.contains("8388609 bytes") && e.contains("8388608"), "{e}");
        // MariaDB's default (16 MiB) leaves the record limit as it is.
        let maria = Limits::for_packet(Some(16 << 20));
        assert_eq!(maria.record_bytes, super::super::RECORD_MAX_BYTES);
        assert_eq!(maria.statement_bytes, UPSERT_BYTES);
        assert!(!maria
            .oversize(20_000_000)
            .unwrap()
            .contains("max_allowed_packet"));
        // MySQL 5.7's (4 MiB) lowers both, and the error says why.
        let small = Limits::for_packet(Some(4 << 20));
        assert_eq!(small.record_bytes, (4 << 20) - PACKET_HEADROOM);
        assert_eq!(small.statement_bytes, (4 << 20) - PACKET_HEADROOM);
        let e = small.oversize(4 << 20).unwrap();
        assert!(e.contains("max_allowed_packet is 4194304 bytes"), "{e}");
    }
}
