//! Reading bugs and projects back (for hosts, tools and tests).

use bugimporters_core::ParsedBug;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::with_pool;
use crate::{HostDb, Result};

/// A bug as the database holds it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredBug {
    /// Row id.
    pub id: i64,
    /// The record: every column, with `_project_name` and `_tracker_name` from the foreign
    /// keys. Columns never set are `None` (booleans `false`).
    pub bug: ParsedBug,
    /// When the row was created (host clock, UTC).
    pub created_at: NaiveDateTime,
    /// When the row's data last changed (host clock, UTC).
    pub modified_at: NaiveDateTime,
}

const SELECT_BUGS: &str = "SELECT b.id, TXT(b.canonical_bug_link) AS canonical_bug_link, \
     TXT(p.name) AS project_name, TXT(t.name) AS tracker_name, b.title, b.description, b.status, b.importance, \
     b.people_involved, b.date_reported, b.last_touched, b.last_polled, \
     b.submitter_username, b.submitter_realname, b.looks_closed, b.good_for_newcomers, \
     b.concerns_just_documentation, b.as_appears_in_distribution, b.raw_data, b.assigned, \
     b.created_at, b.modified_at \
     FROM bugs b JOIN projects p ON p.id = b.project_id JOIN trackers t ON t.id = b.tracker_id";

macro_rules! bug_from_row {
    ($row:expr) => {{
        let row = $row;
        (|| -> std::result::Result<StoredBug, sqlx::Error> {
            let mut bug = ParsedBug::new(row.try_get::<String, _>("canonical_bug_link")?);
            bug.project_name = row.try_get("project_name")?;
            bug.tracker_name = row.try_get("tracker_name")?;
            bug.title = row.try_get("title")?;
            bug.description = row.try_get("description")?;
            bug.status = row.try_get("status")?;
            bug.importance = row.try_get("importance")?;
            let people: Option<i64> = row.try_get("people_involved")?;
            bug.people_involved = people.and_then(|n| u32::try_from(n).ok());
            bug.date_reported = row.try_get("date_reported")?;
            bug.last_touched = row.try_get("last_touched")?;
            bug.last_polled = row.try_get("last_polled")?;
            bug.submitter_username = row.try_get("submitter_username")?;
            let realname: Option<String> = row.try_get("submitter_realname")?;
            bug.submitter_realname = Some(realname);
            bug.looks_closed = Some(row.try_get("looks_closed")?);
            bug.good_for_newcomers = Some(row.try_get("good_for_newcomers")?);
            bug.concerns_just_documentation = Some(row.try_get("concerns_just_documentation")?);
            bug.as_appears_in_distribution = row.try_get("as_appears_in_distribution")?;
            bug.assigned = row.try_get("assigned")?;
            let raw: Option<String> = row.try_get("raw_data")?;
            bug.raw_data = raw.and_then(|r| serde_json::from_str(&r).ok());
            Ok(StoredBug {
                id: row.try_get("id")?,
                bug,
                created_at: row.try_get("created_at")?,
                modified_at: row.try_get("modified_at")?,
            })
        })()
    }};
}

/// A bug as the host shows it: the one shape of a bug that leaves the service, in the events
/// of `GET /events` and (later) the bug finder's `GET /api/bugs`. Field names are stable (see
/// `docs/events.md`); timestamps are naive UTC, ISO 8601 (`2026-01-01T00:00:00.123456`).
/// `link` is always an http(s) URL: a row whose link is not is never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BugView {
    /// `canonical_bug_link`: where the bug lives on its tracker (http or https).
    pub link: String,
    /// Title (`""` when the tracker gave none).
    pub title: String,
    /// Status as the tracker says it.
    pub status: Option<String>,
    /// Importance or priority as the tracker says it.
    pub importance: Option<String>,
    /// The project's name.
    pub project: String,
    /// The tracker's name.
    pub tracker: String,
    /// The tracker's type (`trac`, `github`, ...).
    pub tracker_type: String,
    /// Bite-sized: good for newcomers.
    pub good_for_newcomers: bool,
    /// Concerns only documentation.
    pub concerns_just_documentation: bool,
    /// The tracker's status reads as closed.
    pub looks_closed: bool,
    /// Somebody has taken the bug, as its tracker says it; `None` when the tracker does not
    /// say (the bug finder counts that as not assigned).
    pub assigned: Option<bool>,
    /// When the bug was reported.
    pub date_reported: Option<NaiveDateTime>,
    /// When the bug last changed on its tracker.
    pub last_touched: Option<NaiveDateTime>,
    /// When the bug was last read from its tracker.
    pub last_polled: NaiveDateTime,
    /// How many people took part.
    pub people_involved: Option<i64>,
    /// Who reported it (user name on the tracker).
    pub submitter_username: Option<String>,
    /// When the host's copy last changed (host clock).
    pub modified_at: NaiveDateTime,
}

/// The columns of a [`BugView`], for `SELECT {VIEW_COLUMNS} {VIEW_FROM} WHERE ...` (written
/// for [`HostDb::sql`]).
pub(crate) const VIEW_COLUMNS: &str = "TXT(b.canonical_bug_link) AS link, b.title, b.status, \
     b.importance, TXT(p.name) AS project, TXT(t.name) AS tracker, t.kind AS tracker_type, \
     b.good_for_newcomers, b.concerns_just_documentation, b.looks_closed, b.assigned, b.date_reported, \
     b.last_touched, b.last_polled, b.people_involved, b.submitter_username, b.modified_at";
/// The tables of a [`BugView`].
pub(crate) const VIEW_FROM: &str =
    "FROM bugs b JOIN projects p ON p.id = b.project_id JOIN trackers t ON t.id = b.tracker_id";

/// A [`BugView`] from a row of `SELECT {VIEW_COLUMNS}`; `Ok(None)` when its link is not
/// http(s) (never shown).
macro_rules! view_from_row {
    ($row:expr) => {{
        let row = $row;
        (|| -> std::result::Result<Option<$crate::read::BugView>, sqlx::Error> {
            use sqlx::Row;
            let link: String = row.try_get("link")?;
            if !$crate::read::is_web_link(&link) {
                return Ok(None);
            }
            let title: Option<String> = row.try_get("title")?;
            Ok(Some($crate::read::BugView {
                link,
                title: title.unwrap_or_default(),
                status: row.try_get("status")?,
                importance: row.try_get("importance")?,
                project: row.try_get("project")?,
                tracker: row.try_get("tracker")?,
                tracker_type: row.try_get("tracker_type")?,
                good_for_newcomers: row.try_get("good_for_newcomers")?,
                concerns_just_documentation: row.try_get("concerns_just_documentation")?,
                looks_closed: row.try_get("looks_closed")?,
                assigned: row.try_get("assigned")?,
                date_reported: row.try_get("date_reported")?,
                last_touched: row.try_get("last_touched")?,
                last_polled: row.try_get("last_polled")?,
                people_involved: row.try_get("people_involved")?,
                submitter_username: row.try_get("submitter_username")?,
                modified_at: row.try_get("modified_at")?,
            }))
        })()
    }};
}
pub(crate) use view_from_row;

/// Whether `link` is an absolute http(s) URL (the only links ever shown).
pub(crate) fn is_web_link(link: &str) -> bool {
    let lower = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

impl HostDb {
    /// The bug whose `canonical_bug_link` is `link` as the host shows it ([`BugView`]), if
    /// the database holds it (and its link is http(s)).
    pub async fn bug_view(&self, link: &str) -> Result<Option<BugView>> {
        let q = self.sql(&format!(
            "SELECT {VIEW_COLUMNS} {VIEW_FROM} WHERE b.canonical_bug_link = ?"
        ));
        Ok(with_pool!(&self.pool, |p| {
            match sqlx::query(&q).bind(link).fetch_optional(p).await? {
                Some(row) => view_from_row!(&row)?,
                None => None,
            }
        }))
    }

    /// The bug whose `canonical_bug_link` is `link`, if the database holds it.
    pub async fn bug(&self, link: &str) -> Result<Option<StoredBug>> {
        let q = self.sql(&format!("{SELECT_BUGS} WHERE b.canonical_bug_link = ?"));
        Ok(with_pool!(&self.pool, |p| {
            match sqlx::query(&q).bind(link).fetch_optional(p).await? {
                Some(row) => Some(bug_from_row!(&row)?),
                None => None,
            }
        }))
    }

    /// Every bug (of `tracker`, when given), ordered by link. Loads them all: for tools and
    /// tests, not for millions of bugs.
    pub async fn bugs(&self, tracker: Option<&str>) -> Result<Vec<StoredBug>> {
        let q = match tracker {
            Some(_) => self.sql(&format!(
                "{SELECT_BUGS} WHERE t.name = ? ORDER BY b.canonical_bug_link"
            )),
            None => self.sql(&format!("{SELECT_BUGS} ORDER BY b.canonical_bug_link")),
        };
        Ok(with_pool!(&self.pool, |p| {
            let mut query = sqlx::query(&q);
            if let Some(t) = tracker {
                query = query.bind(t);
            }
            let rows = query.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(bug_from_row!(row)?);
            }
            // Byte order, the same on every backend (collations differ).
            out.sort_by(|a: &StoredBug, b: &StoredBug| {
                a.bug.canonical_bug_link.cmp(&b.bug.canonical_bug_link)
            });
            out
        }))
    }

    /// How many bugs the database holds.
    pub async fn bug_count(&self) -> Result<i64> {
        Ok(with_pool!(&self.pool, |p| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM bugs"
        )
        .fetch_one(p)
        .await?))
    }

    /// Every project as `(id, name, created_at)`, by id.
    pub async fn projects(&self) -> Result<Vec<(i64, String, NaiveDateTime)>> {
        let q = self.sql("SELECT id, TXT(name), created_at FROM projects ORDER BY id");
        Ok(with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&q).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
            }
            out
        }))
    }

    /// The rows of `import_runs` as `(id, status, [inserted, updated, unchanged, deleted,
    /// rejected], errors JSON)`, oldest first.
    pub async fn import_runs(&self) -> Result<Vec<(i64, String, [i64; 5], String)>> {
        Ok(with_pool!(&self.pool, |p| {
            let rows = sqlx::query(
                "SELECT id, status, inserted, updated, unchanged, deleted, rejected, errors \
                 FROM import_runs ORDER BY id",
            )
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    [
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                        row.try_get(6)?,
                    ],
                    row.try_get(7)?,
                ));
            }
            out
        }))
    }
}

/// What `GET /api/bugs` asks for: filters, a page size and where the page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BugQuery {
    /// Only bugs of this project (exact name).
    pub project: Option<String>,
    /// Only bugs of this tracker (exact name).
    pub tracker: Option<String>,
    /// Only bugs of trackers of this type (`trac`, `github`, ...).
    pub tracker_type: Option<String>,
    /// Only bite-sized bugs (`good_for_newcomers`).
    pub bitesized: bool,
    /// Only bugs that concern just documentation.
    pub documentation: bool,
    /// Only bugs whose title contains this text (any case).
    pub text: Option<String>,
    /// Closed bugs too (default: only those that do not look closed).
    pub include_closed: bool,
    /// Assigned bugs too (default: bugs whose tracker says somebody has them are hidden;
    /// a bug whose tracker does not say counts as not assigned and is shown).
    pub include_assigned: bool,
    /// Bugs per page (1 to [`BugQuery::MAX_LIMIT`]; 0 means [`BugQuery::DEFAULT_LIMIT`]).
    pub limit: usize,
    /// Where the page starts: the `next` of the previous page.
    pub cursor: Option<String>,
}

impl BugQuery {
    /// Bugs per page when none is asked for.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The largest page.
    pub const MAX_LIMIT: usize = 200;
}

/// One page of [`HostDb::bug_views`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BugPage {
    /// The bugs, newest activity first (`last_touched`, else when the host's copy changed).
    pub bugs: Vec<BugView>,
    /// The cursor of the next page (`None`: this is the last).
    pub next: Option<String>,
}

/// The sort key of the bug finder: the tracker's last activity, else the host's last change.
const ACTIVITY: &str = "COALESCE(b.last_touched, b.modified_at)";

/// `(activity, id)` from a cursor `MICROS.ID` (microseconds since 1970 UTC).
fn parse_cursor(cursor: &str) -> Result<(NaiveDateTime, i64)> {
    let bad = || crate::Error::Usage(format!("bad cursor {cursor:?}: pass the `next` of a page"));
    let (micros, id) = cursor.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((at.naive_utc(), id))
}

/// `text` as a `LIKE` pattern that matches it anywhere, with `!` as the escape character.
pub(crate) fn like_anywhere(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl HostDb {
    /// A page of bugs as the bug finder shows them ([`BugView`]), filtered by `query`, newest
    /// activity first, with a cursor to the next page (stable while bugs change: a page
    /// starts strictly after the last bug of the previous one).
    pub async fn bug_views(&self, query: &BugQuery) -> Result<BugPage> {
        let limit = match query.limit {
            0 => BugQuery::DEFAULT_LIMIT,
            n => n.min(BugQuery::MAX_LIMIT),
        };
        let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut text = format!(
            "SELECT {VIEW_COLUMNS}, b.id AS row_id, {ACTIVITY} AS activity {VIEW_FROM} WHERE 1 = 1"
        );
        let mut binds: Vec<String> = Vec::new();
        for (value, column) in [
            (&query.project, "p.name"),
            (&query.tracker, "t.name"),
            (&query.tracker_type, "t.kind"),
        ] {
            if let Some(v) = value {
                text.push_str(&format!(" AND {column} = ?"));
                binds.push(v.clone());
            }
        }
        if query.bitesized {
            text.push_str(" AND b.good_for_newcomers = TRUE");
        }
        if query.documentation {
            text.push_str(" AND b.concerns_just_documentation = TRUE");
        }
        if !query.include_closed {
            text.push_str(" AND b.looks_closed = FALSE");
        }
        if !query.include_assigned {
            text.push_str(" AND (b.assigned IS NULL OR b.assigned = FALSE)");
        }
        if let Some(t) = query.text.as_deref().filter(|t| !t.is_empty()) {
            text.push_str(" AND LOWER(b.title) LIKE ? ESCAPE '!'");
            binds.push(like_anywhere(t));
        }
        if cursor.is_some() {
            text.push_str(&format!(
                " AND ({ACTIVITY} < ? OR ({ACTIVITY} = ? AND b.id < ?))"
            ));
        }
        text.push_str(&format!(" ORDER BY {ACTIVITY} DESC, b.id DESC LIMIT ?"));
        let q = self.sql(&text);
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let mut rows: Vec<((NaiveDateTime, i64), Option<BugView>)> = Vec::with_capacity(limit + 1);
        with_pool!(&self.pool, |p| {
            let mut sql = sqlx::query(&q);
            for b in &binds {
                sql = sql.bind(b.as_str());
            }
            if let Some((at, id)) = cursor {
                sql = sql.bind(at).bind(at).bind(id);
            }
            for row in sql.bind(fetch).fetch_all(p).await? {
                let key = (row.try_get("activity")?, row.try_get("row_id")?);
                rows.push((key, view_from_row!(&row)?));
            }
        });
        // A row whose link is not http(s) is skipped but still moves the cursor.
        let next = (rows.len() > limit)
            .then(|| rows[limit - 1].0)
            .map(|(at, id)| format!("{}.{id}", at.and_utc().timestamp_micros()));
        rows.truncate(limit);
        let bugs = rows.into_iter().filter_map(|(_, v)| v).collect();
        Ok(BugPage { bugs, next })
    }
}
