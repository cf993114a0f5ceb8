//! Read-only queries of the service's web pages: the dashboard's rows (one per tracker), its
//! totals per project, and the choices of the bug finder's filters (`docs/web.md`).
//!
//! Nothing here writes. Every text a row carries comes from the database as stored: the last
//! error was bounded and redacted when it was written ([`crate::schedule::bounded_error`]),
//! and the rest (names, types) is the administrators' or the trackers' text, to be escaped
//! by whoever shows it.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;
use sqlx::Row;

use crate::db::with_pool;
use crate::schedule::{format_interval, refresh_interval, DEFAULT_REFRESH_SECS};
use crate::{HostDb, Result};

/// One tracker's row of the dashboard, and of `GET /api/trackers` (the same shape, so that
/// the rows drawn at page load and those redrawn live are the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TrackerRow {
    /// Tracker name.
    pub name: String,
    /// Its type (`trac`, `github`, ...).
    pub tracker_type: String,
    /// The project it was created for, else the project of the bugs it holds (the first
    /// created, when they belong to several); `None` when neither is known.
    pub project: Option<String>,
    /// Bugs the database holds for it (open and closed).
    pub bugs: i64,
    /// Of those, the ones that do not look closed.
    pub open: i64,
    /// Open bite-sized bugs (`good_for_newcomers`).
    pub bitesized: i64,
    /// Open bugs that concern just documentation.
    pub documentation: i64,
    /// Its refresh interval (`5m`, `1d`...).
    pub refresh_interval: String,
    /// When it is next due (`None`: no service has scheduled it yet).
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub next_due: Option<NaiveDateTime>,
    /// When its last run finished.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub last_finished: Option<NaiveDateTime>,
    /// How the last run ended: `ok`, `failed`, or `None` before the first.
    pub outcome: Option<String>,
    /// When its last successful run finished (kept through later failures).
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub last_success: Option<NaiveDateTime>,
    /// When the crawl of the newest records imported for it began (its queries'
    /// `last_polled`), whether they came from a service run or `import-results`.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub last_import: Option<NaiveDateTime>,
    /// Failed runs in a row.
    pub consecutive_failures: i64,
    /// The last run's error, bounded and redacted when stored.
    pub last_error: Option<String>,
    /// Whether a process holds a live lease on it now: a run is under way. (Which process is
    /// not shown: host names and process ids are the operators' business; `customs status`
    /// shows them.)
    pub running: bool,
    /// Webhook deliveries waiting to be applied: single-issue refreshes queued for it.
    pub webhook_refreshes: i64,
    /// Webhook deliveries that concerned it since it was added (each counted once).
    pub webhook_deliveries: i64,
    /// When the last of them came.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub last_webhook: Option<NaiveDateTime>,
}

/// The dashboard's totals of one project (over every bug the database holds for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProjectTotals {
    /// Project name.
    pub project: String,
    /// Trackers holding its bugs.
    pub trackers: i64,
    /// Bugs held (open and closed).
    pub bugs: i64,
    /// Of those, the ones that do not look closed.
    pub open: i64,
    /// Open bite-sized bugs.
    pub bitesized: i64,
    /// Open bugs that concern just documentation.
    pub documentation: i64,
}

/// The order of the dashboard's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerSort {
    /// By name (the default).
    #[default]
    Name,
    /// By type, then name.
    Type,
    /// By bugs held.
    Bugs,
    /// By open bite-sized bugs.
    Bitesized,
    /// By open documentation bugs.
    Documentation,
    /// By the end of the last run (never run first).
    LastFinished,
    /// By the next due time (unscheduled first).
    NextDue,
    /// By failures in a row.
    Failures,
}

impl TrackerSort {
    /// Every order with its query-parameter name, in the order the page lists them.
    pub const ALL: [(&'static str, TrackerSort); 8] = [
        ("name", TrackerSort::Name),
        ("type", TrackerSort::Type),
        ("bugs", TrackerSort::Bugs),
        ("bitesized", TrackerSort::Bitesized),
        ("documentation", TrackerSort::Documentation),
        ("last_finished", TrackerSort::LastFinished),
        ("next_due", TrackerSort::NextDue),
        ("failures", TrackerSort::Failures),
    ];

    /// The order named `name` (see [`TrackerSort::ALL`]); an unknown name is an error listing
    /// the known ones.
    pub fn parse(name: &str) -> std::result::Result<TrackerSort, String> {
        TrackerSort::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                let known: Vec<&str> = TrackerSort::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown sort {name:?}: use one of {}", known.join(", "))
            })
    }

    /// Its query-parameter name.
    pub fn name(self) -> &'static str {
        TrackerSort::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("name", |(n, _)| n)
    }

    fn compare(self, a: &TrackerRow, b: &TrackerRow) -> Ordering {
        let key = match self {
            TrackerSort::Name => Ordering::Equal,
            TrackerSort::Type => a.tracker_type.cmp(&b.tracker_type),
            TrackerSort::Bugs => a.bugs.cmp(&b.bugs),
            TrackerSort::Bitesized => a.bitesized.cmp(&b.bitesized),
            TrackerSort::Documentation => a.documentation.cmp(&b.documentation),
            TrackerSort::LastFinished => a.last_finished.cmp(&b.last_finished),
            TrackerSort::NextDue => a.next_due.cmp(&b.next_due),
            TrackerSort::Failures => a.consecutive_failures.cmp(&b.consecutive_failures),
        };
        key.then_with(|| a.name.cmp(&b.name))
    }
}

/// Which rows of the dashboard, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerFilter {
    /// Only these trackers (exact names; empty: every tracker).
    pub trackers: Vec<String>,
    /// Only trackers of this project (the row's `project`, exact name).
    pub project: Option<String>,
    /// Only trackers of this type.
    pub tracker_type: Option<String>,
    /// Only trackers whose name contains this text (any case).
    pub text: Option<String>,
    /// Only trackers whose last run failed.
    pub failing: bool,
    /// The order.
    pub sort: TrackerSort,
    /// Reverse the order.
    pub descending: bool,
}

/// What the bug finder's filters offer: the projects with open bugs and the types of the
/// trackers held, each sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BugFacets {
    /// Projects with at least one open bug.
    pub projects: Vec<String>,
    /// Tracker types with at least one tracker.
    pub tracker_types: Vec<String>,
}

/// The columns of a [`TrackerRow`] but its bug counts (see [`COUNTS_SELECT`]); the webhook
/// refreshes and the queries' `last_polled` are correlated subqueries on their tables'
/// `tracker_id` indexes (a few rows per tracker).
const ROW_SELECT: &str = "SELECT t.id AS tracker_id, TXT(t.name) AS name, t.kind, t.options, \
     (SELECT TXT(p.name) FROM projects p WHERE p.id = t.created_for_project_id) AS project, \
     (SELECT MAX(q.last_polled) FROM tracker_queries q WHERE q.tracker_id = t.id) AS last_import, \
     (SELECT COUNT(*) FROM webhook_refreshes w WHERE w.tracker_id = t.id) AS webhook_refreshes, \
     s.interval_secs, s.next_due, s.last_finished, s.last_success, s.outcome, \
     s.consecutive_failures, s.last_error, s.lease_owner, s.lease_expires, \
     d.deliveries AS webhook_deliveries, d.last_delivery \
     FROM trackers t LEFT JOIN tracker_schedule s ON s.tracker_id = t.id \
     LEFT JOIN tracker_webhook_deliveries d ON d.tracker_id = t.id";

/// The bug counts of trackers, in one grouped pass over their bugs (every bug for the whole
/// dashboard: one scan instead of four correlated counts per tracker, ~11× faster on
/// PostgreSQL at 100 000 bugs; `benches/dashboard.rs`), with the first project of their bugs
/// (its id: joining `projects` here makes MariaDB read a tracker's bugs through the project
/// index, every bug of the project).
const COUNTS_SELECT: &str = "SELECT b.tracker_id, COUNT(*) AS bugs, \
     COUNT(CASE WHEN b.looks_closed = FALSE THEN 1 END) AS open_bugs, \
     COUNT(CASE WHEN b.looks_closed = FALSE AND b.good_for_newcomers = TRUE THEN 1 END) AS bitesized, \
     COUNT(CASE WHEN b.looks_closed = FALSE AND b.concerns_just_documentation = TRUE THEN 1 END) \
       AS documentation, \
     MIN(b.project_id) AS project_id \
     FROM bugs b";

/// Trackers whose counts are read with `WHERE b.tracker_id IN (…)`; more are read with one
/// pass over every bug.
const COUNTS_BY_ID_MAX: usize = 500;

/// The bug counts of one tracker and the first project of its bugs.
#[derive(Debug, Default)]
struct Counts {
    bugs: i64,
    open: i64,
    bitesized: i64,
    documentation: i64,
    project_id: Option<i64>,
}

/// A tracker's id and [`TrackerRow`] (counts at zero) from a row of [`ROW_SELECT`] (a
/// macro: each backend has its own row type).
macro_rules! tracker_row {
    ($row:expr, $now:expr) => {{
        let row = $row;
        (|| -> std::result::Result<(i64, TrackerRow), sqlx::Error> {
            let name: String = row.try_get("name")?;
            let interval = match row.try_get::<Option<i64>, _>("interval_secs")? {
                Some(i) => i,
                None => {
                    let mut c = bugimporters_core::TrackerConfig::new(name.clone(), "");
                    c.extra = crate::admin::extra_options(&row.try_get::<String, _>("options")?);
                    refresh_interval(&c).unwrap_or(DEFAULT_REFRESH_SECS)
                }
            };
            let outcome: Option<String> = row.try_get("outcome")?;
            let last_finished: Option<NaiveDateTime> = row.try_get("last_finished")?;
            let owner: Option<String> = row.try_get("lease_owner")?;
            let expires: Option<NaiveDateTime> = row.try_get("lease_expires")?;
            let id: i64 = row.try_get("tracker_id")?;
            Ok((
                id,
                TrackerRow {
                    name,
                    tracker_type: row.try_get("kind")?,
                    project: row.try_get("project")?,
                    bugs: 0,
                    open: 0,
                    bitesized: 0,
                    documentation: 0,
                    refresh_interval: format_interval(interval),
                    next_due: row.try_get("next_due")?,
                    last_success: row.try_get("last_success")?,
                    last_finished,
                    outcome,
                    last_import: row.try_get("last_import")?,
                    consecutive_failures: row
                        .try_get::<Option<i64>, _>("consecutive_failures")?
                        .unwrap_or(0),
                    last_error: row.try_get("last_error")?,
                    running: owner.is_some() && expires.is_some_and(|e| e >= $now),
                    webhook_refreshes: row.try_get("webhook_refreshes")?,
                    webhook_deliveries: row
                        .try_get::<Option<i64>, _>("webhook_deliveries")?
                        .unwrap_or(0),
                    last_webhook: row.try_get("last_delivery")?,
                },
            ))
        })()
    }};
}

impl HostDb {
    /// The dashboard's rows at `now` (for `running`), filtered and sorted by `filter`.
    pub async fn tracker_rows(
        &self,
        filter: &TrackerFilter,
        now: NaiveDateTime,
    ) -> Result<Vec<TrackerRow>> {
        let mut text = format!("{ROW_SELECT} WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if !filter.trackers.is_empty() {
            text.push_str(&format!(
                " AND t.name IN ({})",
                vec!["?"; filter.trackers.len()].join(", ")
            ));
            binds.extend(filter.trackers.iter().cloned());
        }
        if let Some(kind) = &filter.tracker_type {
            text.push_str(" AND t.kind = ?");
            binds.push(kind.clone());
        }
        if let Some(t) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            text.push_str(" AND LOWER(t.name) LIKE ? ESCAPE '!'");
            binds.push(crate::read::like_anywhere(t));
        }
        if filter.failing {
            text.push_str(" AND s.outcome = 'failed'");
        }
        let q = self.sql(&text);
        let rows: Vec<(i64, TrackerRow)> = with_pool!(&self.pool, |p| {
            let mut sql = sqlx::query(&q);
            for b in &binds {
                sql = sql.bind(b.as_str());
            }
            let mut out = Vec::new();
            for row in sql.fetch_all(p).await? {
                out.push(tracker_row!(&row, now)?);
            }
            out
        });
        let narrowed = !binds.is_empty() || filter.failing;
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let mut counts = self.bug_counts(&ids, narrowed).await?;
        let names = self
            .project_names(counts.values().filter_map(|c| c.project_id))
            .await?;
        let mut rows: Vec<TrackerRow> = rows
            .into_iter()
            .map(|(id, mut row)| {
                let c = counts.remove(&id).unwrap_or_default();
                (row.bugs, row.open, row.bitesized, row.documentation) =
                    (c.bugs, c.open, c.bitesized, c.documentation);
                row.project = row
                    .project
                    .or_else(|| c.project_id.and_then(|p| names.get(&p).cloned()));
                row
            })
            .collect();
        if let Some(project) = &filter.project {
            rows.retain(|r| r.project.as_deref() == Some(project.as_str()));
        }
        rows.sort_by(|a, b| {
            let o = filter.sort.compare(a, b);
            if filter.descending {
                o.reverse()
            } else {
                o
            }
        });
        Ok(rows)
    }

    /// The bug counts of the trackers `ids`, by id: read for those trackers only when the
    /// filter `narrowed` them to a few, else for every tracker in one pass.
    async fn bug_counts(&self, ids: &[i64], narrowed: bool) -> Result<HashMap<i64, Counts>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let by_id = narrowed && ids.len() <= COUNTS_BY_ID_MAX;
        let mut text = COUNTS_SELECT.to_owned();
        if by_id {
            text.push_str(&format!(
                " WHERE b.tracker_id IN ({})",
                vec!["?"; ids.len()].join(", ")
            ));
        }
        text.push_str(" GROUP BY b.tracker_id");
        let q = self.sql(&text);
        Ok(with_pool!(&self.pool, |p| {
            let mut sql = sqlx::query(&q);
            if by_id {
                for id in ids {
                    sql = sql.bind(*id);
                }
            }
            let mut out = HashMap::new();
            for row in sql.fetch_all(p).await? {
                out.insert(
                    row.try_get::<i64, _>("tracker_id")?,
                    Counts {
                        bugs: row.try_get("bugs")?,
                        open: row.try_get("open_bugs")?,
                        bitesized: row.try_get("bitesized")?,
                        documentation: row.try_get("documentation")?,
                        project_id: row.try_get("project_id")?,
                    },
                );
            }
            out
        }))
    }

    /// The names of the projects `ids`, by id.
    async fn project_names(&self, ids: impl Iterator<Item = i64>) -> Result<HashMap<i64, String>> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = HashMap::new();
        for chunk in ids.chunks(COUNTS_BY_ID_MAX) {
            let q = self.sql(&format!(
                "SELECT id, TXT(name) AS name FROM projects WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            ));
            with_pool!(&self.pool, |p| {
                let mut sql = sqlx::query(&q);
                for id in chunk {
                    sql = sql.bind(*id);
                }
                for row in sql.fetch_all(p).await? {
                    out.insert(row.try_get::<i64, _>("id")?, row.try_get("name")?);
                }
            });
        }
        Ok(out)
    }

    /// The dashboard's totals per project (of `project` only, when given), by name.
    pub async fn project_totals(&self, project: Option<&str>) -> Result<Vec<ProjectTotals>> {
        let open = "b.looks_closed = FALSE";
        let mut text = format!(
            "SELECT TXT(p.name) AS project, COUNT(DISTINCT b.tracker_id) AS trackers, \
             COUNT(*) AS bugs, COUNT(CASE WHEN {open} THEN 1 END) AS open_bugs, \
             COUNT(CASE WHEN {open} AND b.good_for_newcomers = TRUE THEN 1 END) AS bitesized, \
             COUNT(CASE WHEN {open} AND b.concerns_just_documentation = TRUE THEN 1 END) \
               AS documentation \
             FROM bugs b JOIN projects p ON p.id = b.project_id"
        );
        if project.is_some() {
            text.push_str(" WHERE p.name = ?");
        }
        text.push_str(" GROUP BY p.name");
        let q = self.sql(&text);
        let mut totals = with_pool!(&self.pool, |p| {
            let mut sql = sqlx::query(&q);
            if let Some(name) = project {
                sql = sql.bind(name);
            }
            let mut out = Vec::new();
            for row in sql.fetch_all(p).await? {
                out.push(ProjectTotals {
                    project: row.try_get("project")?,
                    trackers: row.try_get("trackers")?,
                    bugs: row.try_get("bugs")?,
                    open: row.try_get("open_bugs")?,
                    bitesized: row.try_get("bitesized")?,
                    documentation: row.try_get("documentation")?,
                });
            }
            out
        });
        totals.sort_by(|a, b| a.project.cmp(&b.project));
        Ok(totals)
    }

    /// Webhook deliveries the database remembers (those within the retention; every forge).
    pub async fn webhook_delivery_count(&self) -> Result<i64> {
        Ok(with_pool!(&self.pool, |p| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM webhook_deliveries"
        )
        .fetch_one(p)
        .await?))
    }

    /// The choices of the bug finder's filters ([`BugFacets`]).
    pub async fn bug_facets(&self) -> Result<BugFacets> {
        let projects = self.sql(
            "SELECT TXT(p.name) FROM projects p WHERE EXISTS \
             (SELECT 1 FROM bugs b WHERE b.project_id = p.id AND b.looks_closed = FALSE)",
        );
        let kinds = self.sql("SELECT DISTINCT t.kind FROM trackers t");
        let mut facets = with_pool!(&self.pool, |p| BugFacets {
            projects: sqlx::query_scalar::<_, String>(&projects)
                .fetch_all(p)
                .await?,
            tracker_types: sqlx::query_scalar::<_, String>(&kinds).fetch_all(p).await?,
        });
        facets.projects.sort();
        facets.tracker_types.sort();
        Ok(facets)
    }
}
