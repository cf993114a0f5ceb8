//! The crawl configuration, written from the database (`export-config`).

use bugimporters_core::time::format_naive;
use bugimporters_core::TrackerConfig;
use chrono::{NaiveDateTime, Timelike};
use serde_json::{Map, Value};
use sqlx::Row;

use crate::db::with_pool;
use crate::{Error, HostDb, Result, TrackerRecord};

/// The syntax `export-config` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExportFormat {
    /// A YAML list of records, as the original `manage.py export_bug_trackers` printed.
    #[default]
    Yaml,
    /// A JSON list of records.
    Json,
}

/// Which trackers [`HostDb::export_filtered`] writes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExportFilter {
    /// Only this tracker (an error when there is none).
    pub tracker: Option<String>,
    /// Only trackers of this canonical type (`github`).
    pub kind: Option<String>,
    /// Skip trackers whose bugs were all polled within this time (the original's
    /// `just_stale=yes` was 24 hours). Trackers without bugs are always written.
    pub skip_polled_within: Option<chrono::TimeDelta>,
}

/// The common keys each type's model had in the original host, which its export always
/// carried (docs/reference-behaviour.md §2.1–2.3); other common keys are written only when set.
fn original_keys(kind: &str) -> &'static [&'static str] {
    const ALL: &[&str] = &[
        "base_url",
        "bug_project_name_format",
        "bitesized_type",
        "bitesized_text",
        "documentation_type",
        "documentation_text",
        "as_appears_in_distribution",
    ];
    match kind {
        "bugzilla" | "trac" => ALL,
        "roundup" => &[
            "base_url",
            "bitesized_text",
            "documentation_text",
            "as_appears_in_distribution",
        ],
        "github" | "launchpad" => &[],
        "google" => &[
            "bitesized_type",
            "bitesized_text",
            "documentation_type",
            "documentation_text",
        ],
        "jira" => &[
            "base_url",
            "bug_project_name_format",
            "bitesized_type",
            "bitesized_text",
            "documentation_text",
        ],
        "tigris" => &[
            "base_url",
            "bitesized_type",
            "bitesized_text",
            "documentation_type",
            "documentation_text",
        ],
        _ => ALL,
    }
}

fn common_value<'a>(c: &'a TrackerConfig, key: &str) -> &'a str {
    match key {
        "base_url" => &c.base_url,
        "bug_project_name_format" => &c.bug_project_name_format,
        "bitesized_type" => &c.bitesized_type,
        "bitesized_text" => &c.bitesized_text,
        "documentation_type" => &c.documentation_type,
        "documentation_text" => &c.documentation_text,
        "as_appears_in_distribution" => &c.as_appears_in_distribution,
        _ => "",
    }
}

const COMMON_ORDER: &[&str] = &[
    "base_url",
    "bug_project_name_format",
    "bitesized_type",
    "bitesized_text",
    "documentation_type",
    "documentation_text",
    "as_appears_in_distribution",
];

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `get_older_bug_data` for a tracker (docs/reference-behaviour.md §2.4): GitHub
/// `…/issues?since=<oldest last_polled>`, Jira a search of issues updated since then, Redmine a
/// listing with `updated_on=>=<oldest last_polled>`, Google the all-issues CSV; `""` for GitHub and
/// Jira when the tracker has no bugs (as the original); `None` for every other type.
pub(crate) fn older_bug_data(record: &TrackerRecord) -> Option<String> {
    let c = &record.config;
    let opt = |k: &str| c.extra.get(k).and_then(Value::as_str).unwrap_or_default();
    match c.bugimporter.as_str() {
        "github" => Some(match record.oldest_bug_poll {
            None => String::new(),
            Some(t) => {
                let api = match opt("api_url").trim_end_matches('/') {
                    "" => "https://api.github.com",
                    other => other,
                };
                // Whole seconds, rounded down (GitHub documents `YYYY-MM-DDTHH:MM:SSZ`; the
                // original wrote `isoformat()` without a zone, which GitHub reads as UTC).
                let t = t.with_nanosecond(0).unwrap_or(t);
                format!(
                    "{api}/repos/{}/{}/issues?since={}",
                    opt("github_name"),
                    opt("github_repo"),
                    enc(&format_naive(&t))
                )
            }
        }),
        "jira" => Some(match record.oldest_bug_poll {
            None => String::new(),
            Some(t) => {
                // The original asked for `created>=<isoformat>`: JQL does not read that date
                // format, and "created since" never names a bug the host already holds.
                // Issues *updated* since the oldest poll, to the minute, rounded down.
                let t = t
                    .with_second(0)
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(t);
                let jql = format!("updated>=\"{}\"", t.format("%Y-%m-%d %H:%M"));
                let base = c.base_url_with_slash().ok()?;
                let search = base.join("/rest/api/2/search?maxResults=1000&jql=").ok()?;
                format!("{search}{}", enc(&jql))
            }
        }),
        "redmine" => {
            // The Redmine importer reads only `T` of `updated_on=>=T`: its refresh watermark.
            let t = record.oldest_bug_poll?;
            let base = c.base_url_with_slash().ok()?;
            let listing = base.join("issues.json").ok()?;
            Some(format!(
                "{listing}?status_id=*&updated_on={}",
                enc(&format!(">={}Z", t.format("%Y-%m-%dT%H:%M:%S")))
            ))
        }
        "google" => {
            let name = opt("google_name");
            Some(format!(
                "https://code.google.com/p/{name}/issues/csv?can=1&num=1000&colspec={}",
                enc("ID Status Priority Owner Summary Stars Opened Closed Reporter Cc Difficulty Modified Type")
            ))
        }
        _ => None,
    }
}

/// One exported record, with keys in the original's order.
fn record_to_map(record: &TrackerRecord, existing: Vec<String>) -> Result<Map<String, Value>> {
    let c = &record.config;
    let mut m = Map::new();
    m.insert("tracker_name".into(), Value::String(c.tracker_name.clone()));
    let always = original_keys(&c.bugimporter);
    for key in COMMON_ORDER {
        let v = common_value(c, key);
        if always.contains(key) || !v.is_empty() {
            m.insert((*key).into(), Value::String(v.to_owned()));
        }
    }
    for (k, v) in &c.extra {
        // Service keys (`refresh_interval`) are for `serve`, not the crawler.
        if crate::schedule::SERVICE_KEYS.contains(&k.as_str()) {
            continue;
        }
        m.insert(k.clone(), v.clone());
    }
    m.insert(
        "custom_parser".into(),
        Value::String(c.custom_parser.clone()),
    );
    m.insert("bugimporter".into(), Value::String(c.bugimporter.clone()));
    let queries =
        serde_json::to_value(&c.queries).map_err(|e| Error::Output(format!("queries: {e}")))?;
    m.insert("queries".into(), queries);
    m.insert(
        "existing_bug_urls".into(),
        Value::Array(existing.into_iter().map(Value::String).collect()),
    );
    m.insert(
        "get_older_bug_data".into(),
        older_bug_data(record).map_or(Value::Null, Value::String),
    );
    if let Some(n) = c.max_connections {
        m.insert("max_connections".into(), Value::from(n));
    }
    if let Some(t) = bugs_last_polled(record) {
        m.insert(BUGS_LAST_POLLED.into(), Value::String(format_naive(&t)));
    }
    Ok(m)
}

/// The key of [`bugs_last_polled`], computed on export and never stored.
pub(crate) const BUGS_LAST_POLLED: &str = "bugs_last_polled";

/// `bugs_last_polled` (ours, not the original's): the oldest `last_polled` of the tracker's
/// bugs, for the types that refresh held bugs incrementally from it (Trac and Roundup ask
/// the tracker which tickets changed since then and emit `_no_update` for the others). A
/// bug that failed to refresh keeps its old `last_polled`, so the cut-off never skips it.
fn bugs_last_polled(record: &TrackerRecord) -> Option<NaiveDateTime> {
    match record.config.bugimporter.as_str() {
        "trac" | "roundup" => record.oldest_bug_poll,
        _ => None,
    }
}

impl HostDb {
    /// The crawl configuration of every tracker (or of the tracker named `tracker`, an error
    /// when there is none), as ordered records: every key the original host exported, the
    /// per-type keys, the queries (objects with `last_polled` once an import has set it),
    /// `existing_bug_urls` (the links of the tracker's bugs, sorted) and `get_older_bug_data`,
    /// plus `max_connections` when set. [`bugimporters_core::load_config_str`] reads the
    /// rendered text back unchanged.
    pub async fn export_configs(&self, tracker: Option<&str>) -> Result<Vec<Map<String, Value>>> {
        let filter = ExportFilter {
            tracker: tracker.map(str::to_owned),
            ..ExportFilter::default()
        };
        self.export_filtered(&filter).await
    }

    /// [`HostDb::export_configs`] with the filters of the original's REST export (one tracker,
    /// one type, only stale trackers).
    pub async fn export_filtered(&self, filter: &ExportFilter) -> Result<Vec<Map<String, Value>>> {
        let mut records = match &filter.tracker {
            Some(name) => vec![self
                .tracker(name)
                .await?
                .ok_or_else(|| Error::NoSuchTracker(name.to_owned()))?],
            None => self.trackers().await?,
        };
        if let Some(kind) = &filter.kind {
            records.retain(|r| r.config.bugimporter == *kind);
        }
        if let Some(within) = filter.skip_polled_within {
            let cutoff = crate::now() - within;
            records.retain(|r| r.oldest_bug_poll.is_none_or(|t| t < cutoff));
        }
        let links_sql = self.sql(
            "SELECT TXT(canonical_bug_link) FROM bugs WHERE tracker_id = ? ORDER BY canonical_bug_link",
        );
        let mut out = Vec::with_capacity(records.len());
        for record in &records {
            let links: Vec<String> = with_pool!(&self.pool, |p| {
                let rows = sqlx::query(&links_sql).bind(record.id).fetch_all(p).await?;
                let mut links = Vec::with_capacity(rows.len());
                for row in rows {
                    links.push(row.try_get::<String, _>(0)?);
                }
                links.sort_unstable();
                links
            });
            out.push(record_to_map(record, links)?);
        }
        Ok(out)
    }

    /// The crawl record that refreshes only `links` of the tracker `name` (a webhook's hint):
    /// its record as [`HostDb::export_configs`] writes it, with no queries, no
    /// `get_older_bug_data` (nor `bugs_last_polled`) and `links` as `existing_bug_urls`, so
    /// that the importer asks the tracker for each of those issues and nothing else (crawl it
    /// with `existing_only`). An error when there is no such tracker.
    pub async fn export_refresh(&self, name: &str, links: &[String]) -> Result<Map<String, Value>> {
        let record = self
            .tracker(name)
            .await?
            .ok_or_else(|| Error::NoSuchTracker(name.to_owned()))?;
        let mut m = record_to_map(&record, links.to_vec())?;
        m.insert("queries".into(), Value::Array(Vec::new()));
        m.insert("get_older_bug_data".into(), Value::Null);
        m.remove(BUGS_LAST_POLLED);
        Ok(m)
    }

    /// The oldest `last_polled` of the bugs of `tracker`, if it has any.
    pub async fn oldest_poll(&self, tracker: &str) -> Result<Option<NaiveDateTime>> {
        Ok(self.tracker(tracker).await?.and_then(|r| r.oldest_bug_poll))
    }
}

/// Renders exported records as YAML (a list, like the original) or pretty JSON. The YAML
/// reads back the same in YAML 1.1 readers (the original crawler's PyYAML) as in YAML 1.2
/// ones: every string a 1.1 reader would take for something else (`yes`, `<<`, `2001-01-01`,
/// `12:30:00`, ...) is quoted.
pub fn render_export(records: &[Map<String, Value>], format: ExportFormat) -> Result<String> {
    match format {
        ExportFormat::Json => serde_json::to_string_pretty(records)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| Error::Output(e.to_string())),
        ExportFormat::Yaml => {
            let list: Vec<Value> = records.iter().cloned().map(Value::Object).collect();
            Ok(crate::yaml11::to_string(&Value::Array(list)))
        }
    }
}

/// Renders any JSON value as YAML (what `customs show` prints), quoted as
/// [`render_export`] does.
pub fn render_yaml(value: &Value) -> Result<String> {
    Ok(crate::yaml11::to_string(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        kind: &str,
        base: &str,
        extra: &[(&str, &str)],
        oldest: Option<&str>,
    ) -> TrackerRecord {
        let mut config = TrackerConfig::new("t", kind);
        config.base_url = base.into();
        for (k, v) in extra {
            config.extra.insert((*k).into(), Value::String((*v).into()));
        }
        TrackerRecord {
            id: 1,
            config,
            created_for_project: None,
            bug_count: i64::from(oldest.is_some()),
            oldest_bug_poll: oldest.and_then(bugimporters_core::time::parse_datetime),
        }
    }

    #[test]
    fn older_bug_data_per_type() {
        let gh = [("github_name", "openhatch"), ("github_repo", "oh-mainline")];
        assert_eq!(
            older_bug_data(&record("github", "", &gh, None)),
            Some(String::new())
        );
        assert_eq!(
            older_bug_data(&record("github", "", &gh, Some("2012-09-15T00:00:00"))).unwrap(),
            "https://api.github.com/repos/openhatch/oh-mainline/issues?since=2012-09-15T00%3A00%3A00"
        );
        let ghe = [
            ("github_name", "o"),
            ("github_repo", "r"),
            ("api_url", "https://ghe.example/api/v3/"),
        ];
        assert!(
            older_bug_data(&record("github", "", &ghe, Some("2012-09-15T00:00:00.5")))
                .unwrap()
                .ends_with(
                    "https://ghe.example/api/v3/repos/o/r/issues?since=2012-09-15T00%3A00%3A00"
                )
        );
        assert_eq!(
            older_bug_data(&record("jira", "http://jira.twistedmatrix.com/jira/", &[], Some("2012-09-15T10:11:12"))).unwrap(),
            "http://jira.twistedmatrix.com/rest/api/2/search?maxResults=1000&jql=updated%3E%3D%222012-09-15+10%3A11%22"
        );
        assert_eq!(
            older_bug_data(&record("jira", "http://j/", &[], None)),
            Some(String::new())
        );
        assert_eq!(
            older_bug_data(&record("redmine", "https://r.example/redmine", &[], Some("2012-09-15T10:11:12"))).unwrap(),
            "https://r.example/redmine/issues.json?status_id=*&updated_on=%3E%3D2012-09-15T10%3A11%3A12Z"
        );
        assert!(
            older_bug_data(&record("google", "", &[("google_name", "p")], None))
                .unwrap()
                .starts_with(
                    "https://code.google.com/p/p/issues/csv?can=1&num=1000&colspec=ID+Status"
                )
        );
        assert_eq!(
            older_bug_data(&record(
                "trac",
                "http://t/",
                &[],
                Some("2012-09-15T00:00:00")
            )),
            None
        );
    }

    #[test]
    fn bugs_last_polled_only_for_incremental_types() {
        let map = |kind: &str, oldest: Option<&str>| {
            record_to_map(&record(kind, "http://t/", &[], oldest), Vec::new()).unwrap()
        };
        assert_eq!(
            map("trac", Some("2012-09-15T10:11:12")).get("bugs_last_polled"),
            Some(&Value::String("2012-09-15T10:11:12".into()))
        );
        assert!(map("roundup", Some("2012-09-15T10:11:12"))
            .get("bugs_last_polled")
            .is_some());
        assert!(
            map("trac", None).get("bugs_last_polled").is_none(),
            "no bugs yet: fetch everything"
        );
        assert!(map("bugzilla", Some("2012-09-15T10:11:12"))
            .get("bugs_last_polled")
            .is_none());
    }
}
