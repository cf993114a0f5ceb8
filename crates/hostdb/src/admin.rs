//! Tracker administration: what the `customs` binary does (the original's `/customs/` pages).

use std::collections::BTreeMap;

use bugimporters_core::time::format_naive;
use bugimporters_core::{Query, Registry, TrackerConfig};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::Row;

use crate::db::{begin_statement, with_pool};
use crate::events::{write_events, Captured, EventKind};
use crate::import::NAME_MAX_CHARS;
use crate::{now, Error, HostDb, Result};

/// A tracker as the database holds it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrackerRecord {
    /// Row id.
    pub id: i64,
    /// The configuration: common keys, per-type options (in `extra`), `max_connections` and
    /// the queries with their `last_polled`. `existing_bug_urls` and `get_older_bug_data` are
    /// left empty (see [`HostDb::export_configs`]).
    pub config: TrackerConfig,
    /// The project the tracker was created for, if any.
    pub created_for_project: Option<String>,
    /// How many bugs of this tracker the database holds.
    pub bug_count: i64,
    /// The oldest `last_polled` of those bugs.
    pub oldest_bug_poll: Option<NaiveDateTime>,
}

/// Changes to a tracker, for [`HostDb::edit_tracker`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TrackerEdit {
    /// New name.
    pub rename: Option<String>,
    /// Keys to set: common keys (`base_url`, `bitesized_text`, `max_connections`, ...) or
    /// per-type keys (`github_name`, ...).
    pub set: Vec<(String, Value)>,
    /// Keys to remove (a common key goes back to `""`).
    pub unset: Vec<String>,
    /// `Some(Some(name))` sets the project the tracker was created for, `Some(None)` clears it.
    pub created_for_project: Option<Option<String>>,
}

/// Parses a `--option` argument: `KEY=VALUE` sets a string, `KEY:=JSON` a typed value
/// (`old_trac:=true`, `max_connections:=2`).
pub fn parse_option(text: &str) -> Result<(String, Value)> {
    let bad = || {
        Error::Usage(format!(
            "option {text:?}: expected KEY=VALUE (a string) or KEY:=JSON (a number, boolean, list...)"
        ))
    };
    let (key, value) = text.split_once('=').ok_or_else(bad)?;
    if let Some(key) = key.strip_suffix(':') {
        let key = key.trim();
        if key.is_empty() {
            return Err(bad());
        }
        let v: Value = serde_json::from_str(value)
            .map_err(|e| Error::Usage(format!("option {key}: {value:?} is not JSON: {e}")))?;
        return Ok((key.to_owned(), v));
    }
    let key = key.trim();
    if key.is_empty() {
        return Err(bad());
    }
    Ok((key.to_owned(), Value::String(value.to_owned())))
}

/// A tracker record from `customs add-tracker` arguments: type, name, base URL, `--option`s
/// (see [`parse_option`]; common keys allowed) and query URLs. Not yet checked against the
/// registry ([`HostDb::add_tracker`] does that).
pub fn tracker_from_args(
    kind: &str,
    name: &str,
    base_url: Option<&str>,
    options: &[String],
    queries: &[String],
) -> Result<TrackerConfig> {
    let mut map = serde_json::Map::new();
    map.insert("tracker_name".into(), name.into());
    map.insert("bugimporter".into(), kind.into());
    if let Some(url) = base_url {
        map.insert("base_url".into(), url.into());
    }
    for o in options {
        let (k, v) = parse_option(o)?;
        if matches!(
            k.as_str(),
            "tracker_name" | "bugimporter" | "queries" | "existing_bug_urls"
        ) {
            return Err(Error::Usage(format!("{k} cannot be set with an option")));
        }
        map.insert(k, v);
    }
    map.insert("queries".into(), queries.into());
    serde_json::from_value(Value::Object(map))
        .map_err(|e| Error::Usage(format!("tracker {name:?}: {e}")))
}

/// What [`HostDb::load_config_text`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadReport {
    /// Trackers created.
    pub created: usize,
    /// Trackers updated.
    pub updated: usize,
    /// Records that could not be loaded, with the reason (naming the record or tracker).
    pub failures: Vec<String>,
}

/// Checks a tracker record against the registry (type, keys, custom parser, everything the
/// type's factory checks without a network) and returns it with `bugimporter` set to the
/// canonical type name.
pub(crate) fn check_tracker(registry: &Registry, config: &TrackerConfig) -> Result<TrackerConfig> {
    let invalid = |message: String| Error::InvalidTracker {
        tracker: config.tracker_name.clone(),
        message,
    };
    let name = &config.tracker_name;
    if name.trim() != name || name.is_empty() {
        return Err(invalid(
            "tracker_name must not be empty or start or end with spaces".into(),
        ));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(invalid(format!(
            "tracker_name is longer than {NAME_MAX_CHARS} characters"
        )));
    }
    let kind = registry
        .canonical_kind(&config.bugimporter)
        .map_err(|e| invalid(e.to_string()))?;
    let factory = registry.factory(kind).map_err(|e| invalid(e.to_string()))?;
    let keys = factory.config_keys();
    let mut unknown = registry.unknown_keys(config);
    // Keys of the service (`refresh_interval`): checked here, unknown to the tracker types.
    unknown.retain(|k| !crate::schedule::SERVICE_KEYS.contains(&k.as_str()));
    crate::schedule::refresh_interval(config)?;
    crate::webhooks::check_secret_env(config)?;
    if !unknown.is_empty() {
        let known: Vec<&str> = keys.iter().map(|k| k.name).collect();
        return Err(invalid(format!(
            "unknown key(s) {} for type {kind}; its own keys are: {}",
            unknown.join(", "),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    let missing: Vec<&str> = keys
        .iter()
        .filter(|k| k.required)
        .filter(|k| {
            config
                .extra
                .get(k.name)
                .is_none_or(|v| v.is_null() || v.as_str().is_some_and(str::is_empty))
        })
        .map(|k| k.name)
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "type {kind} needs key(s) {}",
            missing.join(", ")
        )));
    }
    let mut checked = config.clone();
    checked.bugimporter = kind.to_owned();
    checked.existing_bug_urls.clear();
    checked.get_older_bug_data = None;
    // Computed on export from the bugs table, like `get_older_bug_data`; never stored.
    checked.extra.remove(crate::export::BUGS_LAST_POLLED);
    let mut for_build = checked.clone();
    for key in crate::schedule::SERVICE_KEYS {
        for_build.extra.remove(*key);
    }
    registry.build(&for_build).map_err(|e| {
        let e = match e {
            bugimporters_core::Error::Tracker { source, .. } => *source,
            other => other,
        };
        invalid(e.to_string())
    })?;
    Ok(checked)
}

fn options_text(config: &TrackerConfig) -> String {
    let map: serde_json::Map<String, Value> = config
        .extra
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(map).to_string()
}

fn max_conn(config: &TrackerConfig) -> Option<i64> {
    config
        .max_connections
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

const SELECT_TRACKERS: &str =
    "SELECT t.id, TXT(t.name) AS name, t.kind, t.base_url, t.bug_project_name_format, \
     t.bitesized_type, t.bitesized_text, t.documentation_type, t.documentation_text, \
     t.as_appears_in_distribution, t.custom_parser, t.max_connections, t.options, \
     (SELECT TXT(p.name) FROM projects p WHERE p.id = t.created_for_project_id) AS project_name, \
     (SELECT COUNT(*) FROM bugs b WHERE b.tracker_id = t.id) AS bug_count, \
     (SELECT MIN(b.last_polled) FROM bugs b WHERE b.tracker_id = t.id) AS oldest_poll \
     FROM trackers t";

/// The per-type keys kept in a tracker row's `options` column (a JSON object) as
/// [`TrackerConfig::extra`]; empty when the column holds anything else.
pub(crate) fn extra_options(options: &str) -> BTreeMap<String, Value> {
    match serde_json::from_str::<Value>(options) {
        Ok(Value::Object(map)) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// Builds a [`TrackerRecord`] (without queries) from a row of `SELECT_TRACKERS`.
macro_rules! tracker_from_row {
    ($row:expr) => {{
        let row = $row;
        (|| -> std::result::Result<TrackerRecord, sqlx::Error> {
            let name: String = row.try_get("name")?;
            let kind: String = row.try_get("kind")?;
            let mut config = TrackerConfig::new(name, kind);
            config.base_url = row.try_get("base_url")?;
            config.bug_project_name_format = row.try_get("bug_project_name_format")?;
            config.bitesized_type = row.try_get("bitesized_type")?;
            config.bitesized_text = row.try_get("bitesized_text")?;
            config.documentation_type = row.try_get("documentation_type")?;
            config.documentation_text = row.try_get("documentation_text")?;
            config.as_appears_in_distribution = row.try_get("as_appears_in_distribution")?;
            config.custom_parser = row.try_get("custom_parser")?;
            let max: Option<i64> = row.try_get("max_connections")?;
            config.max_connections = max.and_then(|n| usize::try_from(n).ok());
            config.extra = $crate::admin::extra_options(&row.try_get::<String, _>("options")?);
            Ok(TrackerRecord {
                id: row.try_get("id")?,
                config,
                created_for_project: row.try_get("project_name")?,
                bug_count: row.try_get("bug_count")?,
                oldest_bug_poll: row.try_get("oldest_poll")?,
            })
        })()
    }};
}

/// Gets or creates the project `name`, returning its id (inside a transaction).
macro_rules! project_id {
    ($conn:expr, $db:expr, $name:expr, $now:expr) => {{
        let name: &str = $name;
        let insert = $db.sql(match $db.backend {
            crate::Backend::MySql => {
                "INSERT INTO projects (name, display_name, created_at) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE name = name"
            }
            _ => {
                "INSERT INTO projects (name, display_name, created_at) VALUES (?, ?, ?) \
                 ON CONFLICT (name) DO NOTHING"
            }
        });
        sqlx::query(&insert)
            .bind(name)
            .bind(name)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        let select = $db.sql("SELECT id FROM projects WHERE name = ?");
        let id: i64 = sqlx::query_scalar(&select)
            .bind(name)
            .fetch_one(&mut *$conn)
            .await?;
        id
    }};
}
pub(crate) use project_id;

impl HostDb {
    /// Every tracker, by name, with its queries.
    pub async fn trackers(&self) -> Result<Vec<TrackerRecord>> {
        self.select_trackers(None).await
    }

    /// The tracker `name` with its queries, if there is one.
    pub async fn tracker(&self, name: &str) -> Result<Option<TrackerRecord>> {
        Ok(self.select_trackers(Some(name)).await?.into_iter().next())
    }

    async fn select_trackers(&self, name: Option<&str>) -> Result<Vec<TrackerRecord>> {
        let text = match name {
            Some(_) => format!("{SELECT_TRACKERS} WHERE t.name = ? ORDER BY t.name"),
            None => format!("{SELECT_TRACKERS} ORDER BY t.name"),
        };
        let text = self.sql(&text);
        // One tracker's queries only when one is asked for: reading every tracker's queries
        // for each lookup made `tracker(name)` (export of one tracker, the import's ownership
        // check, `customs load`) cost O(trackers), minutes at 10 000 trackers.
        let qtext = self.sql(match name {
            Some(_) => {
                "SELECT tracker_id, url, kind, description, last_polled FROM tracker_queries \
                 WHERE tracker_id IN (SELECT id FROM trackers WHERE name = ?) \
                 ORDER BY tracker_id, id"
            }
            None => {
                "SELECT tracker_id, url, kind, description, last_polled FROM tracker_queries \
                 ORDER BY tracker_id, id"
            }
        });
        let (mut records, queries) = with_pool!(&self.pool, |p| {
            let mut q = sqlx::query(&text);
            if let Some(n) = name {
                q = q.bind(n);
            }
            let rows = q.fetch_all(p).await?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                records.push(tracker_from_row!(row)?);
            }
            let mut queries: Vec<(i64, Query)> = Vec::new();
            let mut qq = sqlx::query(&qtext);
            if let Some(n) = name {
                qq = qq.bind(n);
            }
            for row in qq.fetch_all(p).await? {
                let mut q = Query::new(row.try_get::<String, _>("url")?);
                q.kind = row.try_get("kind")?;
                q.description = row.try_get("description")?;
                q.last_polled = row.try_get("last_polled")?;
                queries.push((row.try_get("tracker_id")?, q));
            }
            (records, queries)
        });
        let mut by_tracker: BTreeMap<i64, Vec<Query>> = BTreeMap::new();
        for (id, q) in queries {
            by_tracker.entry(id).or_default().push(q);
        }
        for r in &mut records {
            r.config.queries = by_tracker.remove(&r.id).unwrap_or_default();
        }
        // Byte order, the same on every backend (collations differ).
        records.sort_by(|a, b| a.config.tracker_name.cmp(&b.config.tracker_name));
        Ok(records)
    }

    /// Adds a tracker after checking it against `registry`; its queries come along. An
    /// existing name is an error ([`HostDb::load_config`] updates instead).
    pub async fn add_tracker(
        &self,
        registry: &Registry,
        config: &TrackerConfig,
        created_for_project: Option<&str>,
    ) -> Result<TrackerRecord> {
        self.add_tracker_owned(registry, config, created_for_project, None)
            .await
    }

    /// [`HostDb::add_tracker`] with `owner` (a user's id) as the tracker's `created_by`,
    /// written in the same transaction as the tracker: a tracker added from the web is never
    /// left without its owner.
    pub async fn add_tracker_owned(
        &self,
        registry: &Registry,
        config: &TrackerConfig,
        created_for_project: Option<&str>,
        owner: Option<i64>,
    ) -> Result<TrackerRecord> {
        let checked = check_tracker(registry, config)?;
        if self.tracker(&checked.tracker_name).await?.is_some() {
            return Err(Error::TrackerExists(checked.tracker_name));
        }
        let write = TrackerWrite {
            id: None,
            created_for_project: Some(created_for_project),
            sync_queries: true,
            owner,
        };
        self.write_tracker(&checked, &write).await?;
        self.tracker(&checked.tracker_name)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(checked.tracker_name.clone()))
    }

    /// Brings one record of a crawl configuration (the original's format) into the database:
    /// creates the tracker or updates the one of that name, and makes its queries those of
    /// the record (a query already held keeps its `last_polled` unless the record carries a
    /// later one). `existing_bug_urls` and `get_older_bug_data` are not stored: bugs come in
    /// through [`HostDb::import`], and `get_older_bug_data` is computed on export. Returns
    /// whether the tracker was created.
    pub async fn load_config(&self, registry: &Registry, config: &TrackerConfig) -> Result<bool> {
        let mut checked = check_tracker(registry, config)?;
        let existing = self.tracker(&checked.tracker_name).await?;
        let created = existing.is_none();
        // Service keys are not exported: a record without them keeps the stored ones, so
        // that loading an export back changes nothing.
        if let Some(old) = &existing {
            for key in crate::schedule::SERVICE_KEYS {
                if let (None, Some(v)) = (checked.extra.get(*key), old.config.extra.get(*key)) {
                    checked.extra.insert((*key).to_owned(), v.clone());
                }
            }
        }
        let write = TrackerWrite::update(existing.map(|r| r.id), None, true);
        self.write_tracker(&checked, &write).await?;
        Ok(created)
    }

    /// `customs load`: reads a crawl configuration text (see
    /// [`bugimporters_core::load_config_str`]) and loads every record with
    /// [`HostDb::load_config`]; a bad record is reported and the others go in. An unreadable
    /// text is an error.
    pub async fn load_config_text(
        &self,
        registry: &Registry,
        text: &str,
        format: bugimporters_core::ConfigFormat,
    ) -> Result<LoadReport> {
        let records = bugimporters_core::load_config_str(text, format)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let mut report = LoadReport::default();
        for record in records {
            match record {
                Ok(c) => match self.load_config(registry, &c).await {
                    Ok(true) => report.created += 1,
                    Ok(false) => report.updated += 1,
                    Err(e @ Error::Db(_)) => return Err(e),
                    Err(e) => report.failures.push(e.to_string()),
                },
                Err(e) => report.failures.push(e.to_string()),
            }
        }
        Ok(report)
    }

    /// Inserts or updates the tracker row (and, with `sync_queries`, its queries; with an
    /// owner, its `created_by`) in one transaction.
    async fn write_tracker(&self, config: &TrackerConfig, write: &TrackerWrite<'_>) -> Result<i64> {
        let TrackerWrite {
            id,
            created_for_project,
            sync_queries,
            owner,
        } = *write;
        let now = now();
        let options = options_text(config);
        let max = max_conn(config);
        let insert = self.sql(
            "INSERT INTO trackers (name, kind, base_url, bug_project_name_format, bitesized_type, \
             bitesized_text, documentation_type, documentation_text, as_appears_in_distribution, \
             custom_parser, max_connections, options, created_at, modified_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let update = self.sql(
            "UPDATE trackers SET name = ?, kind = ?, base_url = ?, bug_project_name_format = ?, \
             bitesized_type = ?, bitesized_text = ?, documentation_type = ?, \
             documentation_text = ?, as_appears_in_distribution = ?, custom_parser = ?, \
             max_connections = ?, options = ?, modified_at = ? WHERE id = ?",
        );
        let select_id = self.sql("SELECT id FROM trackers WHERE name = ?");
        let set_project = self.sql("UPDATE trackers SET created_for_project_id = ? WHERE id = ?");
        let set_owner = self.sql("UPDATE trackers SET created_by = ? WHERE id = ?");
        let select_queries = self.sql(
            "SELECT id, url, last_polled FROM tracker_queries WHERE tracker_id = ? ORDER BY id",
        );
        let insert_query = self.sql(
            "INSERT INTO tracker_queries (tracker_id, url, kind, description, last_polled, \
             created_at) VALUES (?, ?, ?, ?, ?, ?)",
        );
        let update_query = self.sql(
            "UPDATE tracker_queries SET kind = ?, description = ?, last_polled = ? WHERE id = ?",
        );
        let delete_query = self.sql("DELETE FROM tracker_queries WHERE id = ?");
        let c = config;
        let id = with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            let id: i64 = match id {
                Some(id) => {
                    sqlx::query(&update)
                        .bind(&c.tracker_name)
                        .bind(&c.bugimporter)
                        .bind(&c.base_url)
                        .bind(&c.bug_project_name_format)
                        .bind(&c.bitesized_type)
                        .bind(&c.bitesized_text)
                        .bind(&c.documentation_type)
                        .bind(&c.documentation_text)
                        .bind(&c.as_appears_in_distribution)
                        .bind(&c.custom_parser)
                        .bind(max)
                        .bind(&options)
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    id
                }
                None => {
                    sqlx::query(&insert)
                        .bind(&c.tracker_name)
                        .bind(&c.bugimporter)
                        .bind(&c.base_url)
                        .bind(&c.bug_project_name_format)
                        .bind(&c.bitesized_type)
                        .bind(&c.bitesized_text)
                        .bind(&c.documentation_type)
                        .bind(&c.documentation_text)
                        .bind(&c.as_appears_in_distribution)
                        .bind(&c.custom_parser)
                        .bind(max)
                        .bind(&options)
                        .bind(now)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query_scalar(&select_id)
                        .bind(&c.tracker_name)
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            if let Some(project) = created_for_project {
                let pid: Option<i64> = match project {
                    Some(name) => Some(project_id!(tx, self, name, now)),
                    None => None,
                };
                sqlx::query(&set_project)
                    .bind(pid)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(user) = owner {
                sqlx::query(&set_owner)
                    .bind(user)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if sync_queries {
                let rows = sqlx::query(&select_queries)
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut held: Vec<(i64, String, Option<NaiveDateTime>)> = Vec::new();
                for row in rows {
                    held.push((
                        row.try_get("id")?,
                        row.try_get("url")?,
                        row.try_get("last_polled")?,
                    ));
                }
                let mut kept = Vec::new();
                for q in &c.queries {
                    match held
                        .iter()
                        .find(|(hid, url, _)| *url == q.url && !kept.contains(hid))
                    {
                        Some((hid, _, polled)) => {
                            kept.push(*hid);
                            let last = match (*polled, q.last_polled) {
                                (Some(a), Some(b)) => Some(a.max(b)),
                                (a, b) => a.or(b),
                            };
                            sqlx::query(&update_query)
                                .bind(&q.kind)
                                .bind(&q.description)
                                .bind(last)
                                .bind(*hid)
                                .execute(&mut *tx)
                                .await?;
                        }
                        None => {
                            sqlx::query(&insert_query)
                                .bind(id)
                                .bind(&q.url)
                                .bind(&q.kind)
                                .bind(&q.description)
                                .bind(q.last_polled)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                for (hid, _, _) in held.iter().filter(|(hid, _, _)| !kept.contains(hid)) {
                    sqlx::query(&delete_query)
                        .bind(*hid)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// Changes a tracker's name, keys or project; the result is checked against `registry`
    /// as a new tracker would be. Queries are kept.
    pub async fn edit_tracker(
        &self,
        registry: &Registry,
        name: &str,
        edit: &TrackerEdit,
    ) -> Result<TrackerRecord> {
        let record = self
            .tracker(name)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(name.to_owned()))?;
        let mut value = serde_json::to_value(&record.config)
            .map_err(|e| Error::Usage(format!("tracker {name:?}: {e}")))?;
        let Some(map) = value.as_object_mut() else {
            return Err(Error::Usage(format!("tracker {name:?} is not a record")));
        };
        for key in &edit.unset {
            match key.as_str() {
                "tracker_name" | "bugimporter" | "queries" => {
                    return Err(Error::Usage(format!("{key} cannot be unset")))
                }
                "max_connections" => {
                    map.remove(key);
                }
                k if map.get(k).is_some_and(Value::is_string) && is_common(k) => {
                    map.insert(k.to_owned(), Value::String(String::new()));
                }
                k => {
                    if map.remove(k).is_none() {
                        return Err(Error::Usage(format!("tracker {name:?} has no key {k:?}")));
                    }
                }
            }
        }
        for (key, v) in &edit.set {
            if matches!(key.as_str(), "queries" | "existing_bug_urls") {
                return Err(Error::Usage(format!(
                    "{key} cannot be set with an option (use add-query / remove --query)"
                )));
            }
            map.insert(key.clone(), v.clone());
        }
        if let Some(new) = &edit.rename {
            map.insert("tracker_name".into(), Value::String(new.clone()));
        }
        let config: TrackerConfig = serde_json::from_value(value)
            .map_err(|e| Error::Usage(format!("tracker {name:?}: {e}")))?;
        let checked = check_tracker(registry, &config)?;
        if checked.tracker_name != name && self.tracker(&checked.tracker_name).await?.is_some() {
            return Err(Error::TrackerExists(checked.tracker_name));
        }
        let project = edit.created_for_project.as_ref().map(|p| p.as_deref());
        self.write_tracker(
            &checked,
            &TrackerWrite::update(Some(record.id), project, false),
        )
        .await?;
        self.tracker(&checked.tracker_name)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(checked.tracker_name.clone()))
    }

    /// Removes a tracker with its queries and its bugs. Returns how many queries and bugs went
    /// with it. Each bug removed is a `deleted` event (`GET /events`), written in the same
    /// transaction, as an import's deletions are.
    pub async fn remove_tracker(&self, name: &str) -> Result<(i64, i64)> {
        let record = self
            .tracker(name)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(name.to_owned()))?;
        let views = self.sql(&format!(
            "SELECT {} {} WHERE b.tracker_id = ?",
            crate::read::VIEW_COLUMNS,
            crate::read::VIEW_FROM
        ));
        let del_bugs = self.sql("DELETE FROM bugs WHERE tracker_id = ?");
        let del_queries = self.sql("DELETE FROM tracker_queries WHERE tracker_id = ?");
        let del_tracker = self.sql("DELETE FROM trackers WHERE id = ?");
        let id = record.id;
        let now = now();
        let (queries, bugs) = with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            let mut gone = Vec::new();
            for row in sqlx::query(&views).bind(id).fetch_all(&mut *tx).await? {
                if let Some(view) = crate::read::view_from_row!(&row)? {
                    gone.push(Captured::of(EventKind::Deleted, &view));
                }
            }
            let bugs = sqlx::query(&del_bugs)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let queries = sqlx::query(&del_queries)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(&del_tracker).bind(id).execute(&mut *tx).await?;
            write_events!(tx, self, &gone, now)?;
            tx.commit().await?;
            (queries, bugs)
        });
        Ok((
            i64::try_from(queries).unwrap_or(i64::MAX),
            i64::try_from(bugs).unwrap_or(i64::MAX),
        ))
    }

    /// Adds a query to a tracker. A URL the tracker already has is an error.
    pub async fn add_query(&self, registry: &Registry, tracker: &str, query: &Query) -> Result<()> {
        let record = self
            .tracker(tracker)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(tracker.to_owned()))?;
        if record.config.queries.iter().any(|q| q.url == query.url) {
            return Err(Error::Usage(format!(
                "tracker {tracker:?} already has the query {:?}",
                query.url
            )));
        }
        let mut config = record.config.clone();
        config.queries.push(query.clone());
        check_tracker(registry, &config)?;
        self.write_tracker(&config, &TrackerWrite::update(Some(record.id), None, true))
            .await?;
        Ok(())
    }

    /// Removes a query from a tracker; returns whether it had it.
    pub async fn remove_query(&self, tracker: &str, url: &str) -> Result<bool> {
        let record = self
            .tracker(tracker)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(tracker.to_owned()))?;
        let del = self.sql("DELETE FROM tracker_queries WHERE tracker_id = ? AND url = ?");
        let n = with_pool!(&self.pool, |p| sqlx::query(&del)
            .bind(record.id)
            .bind(url)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n > 0)
    }
}

impl TrackerRecord {
    /// The record as JSON (what `customs list --json` and `customs show --json` print):
    /// `tracker_name`, `bugimporter`, the other keys of the configuration, the queries,
    /// `created_for_project`, `bug_count` and `oldest_bug_poll`.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.config).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.remove("existing_bug_urls");
            m.remove("get_older_bug_data");
            m.insert(
                "created_for_project".into(),
                self.created_for_project
                    .clone()
                    .map_or(Value::Null, Value::String),
            );
            m.insert("bug_count".into(), Value::from(self.bug_count));
            m.insert(
                "oldest_bug_poll".into(),
                self.oldest_bug_poll
                    .map_or(Value::Null, |t| Value::String(format_naive(&t))),
            );
        }
        v
    }
}

/// What [`HostDb::write_tracker`] writes besides the tracker's configuration.
#[derive(Debug, Clone, Copy)]
struct TrackerWrite<'a> {
    /// The row to update; `None` inserts.
    id: Option<i64>,
    /// `Some`: set (or clear) the project the tracker was created for.
    created_for_project: Option<Option<&'a str>>,
    /// Make its queries those of the configuration.
    sync_queries: bool,
    /// The user who owns it (`created_by`), set in the same transaction.
    owner: Option<i64>,
}

impl<'a> TrackerWrite<'a> {
    /// A write of row `id` (or a new row) that leaves the owner alone.
    fn update(
        id: Option<i64>,
        created_for_project: Option<Option<&'a str>>,
        sync_queries: bool,
    ) -> Self {
        TrackerWrite {
            id,
            created_for_project,
            sync_queries,
            owner: None,
        }
    }
}

/// A plain-text table of trackers (what `customs list` prints): name, type, where, queries,
/// bugs, and when the oldest bug was polled.
pub fn render_table(records: &[TrackerRecord]) -> String {
    let header = ["NAME", "TYPE", "WHERE", "QUERIES", "BUGS", "OLDEST POLL"];
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            let c = &r.config;
            let place = if c.base_url.is_empty() {
                c.extra
                    .iter()
                    .filter(|(k, _)| k.ends_with("_name") || k.ends_with("_repo"))
                    .filter_map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            } else {
                c.base_url.clone()
            };
            [
                c.tracker_name.clone(),
                c.bugimporter.clone(),
                place,
                c.queries.len().to_string(),
                r.bug_count.to_string(),
                r.oldest_bug_poll
                    .map(|t| format_naive(&t))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

fn is_common(key: &str) -> bool {
    matches!(
        key,
        "base_url"
            | "bug_project_name_format"
            | "bitesized_type"
            | "bitesized_text"
            | "documentation_type"
            | "documentation_text"
            | "as_appears_in_distribution"
            | "custom_parser"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        assert_eq!(
            parse_option("github_name=openhatch").unwrap(),
            ("github_name".into(), Value::String("openhatch".into()))
        );
        assert_eq!(
            parse_option("old_trac:=true").unwrap(),
            ("old_trac".into(), Value::Bool(true))
        );
        assert_eq!(
            parse_option("text=a=b").unwrap().1,
            Value::String("a=b".into())
        );
        assert!(parse_option("novalue").is_err());
        assert!(parse_option("=x").is_err());
        assert!(parse_option("n:=nope").is_err());
    }

    #[test]
    fn tracker_from_command_line_arguments() {
        let c = tracker_from_args(
            "github",
            "oh",
            None,
            &[
                "github_name=openhatch".into(),
                "max_connections:=2".into(),
                "bitesized_text=easy".into(),
            ],
            &["https://api.github.com/repos/openhatch/x/issues".into()],
        )
        .unwrap();
        assert_eq!(c.extra["github_name"], "openhatch");
        assert_eq!(c.max_connections, Some(2));
        assert_eq!(c.bitesized_text, "easy");
        assert_eq!(c.queries.len(), 1);
        assert!(tracker_from_args("github", "oh", None, &["tracker_name=x".into()], &[]).is_err());
        assert!(
            tracker_from_args("github", "oh", None, &["max_connections=two".into()], &[]).is_err()
        );
    }
}
