//! The crawl configuration: [`TrackerConfig`] records and their [`Query`]s.
//!
//! The format is the one the original host exported (docs/reference-behaviour.md §2): a YAML or
//! JSON list of records, or a mapping with the list under `objects` (the REST export). PyYAML tags
//! such as `!!python/unicode 'text'` are read as plain values. Every key the original exported
//! loads; keys of one tracker type (`github_name`, `closed_status`, ...) are kept in
//! [`TrackerConfig::extra`] for the tracker crate to type-check. The reference for users is
//! `docs/config-reference.md`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::Error;

/// One tracker of the crawl configuration.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Unique name; the default project name and the `_tracker_name` of every bug.
    pub tracker_name: String,
    /// Tracker type: a registered name (`trac`), alias or the original dotted class name
    /// (`trac.TracBugImporter`).
    pub bugimporter: String,
    /// Root URL of the tracker (`""` for types that have none, such as GitHub).
    #[serde(default, deserialize_with = "null_as_default")]
    pub base_url: String,
    /// Project-name format with `{tracker_name}`, `{component}`, `{product}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub bug_project_name_format: String,
    /// Which field the bite-size rule reads (`keywords`, `key`, `label`, ...); blank = off.
    #[serde(default, deserialize_with = "null_as_default")]
    pub bitesized_type: String,
    /// Comma-separated values of the bite-size rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub bitesized_text: String,
    /// Which field the documentation rule reads; blank = off.
    #[serde(default, deserialize_with = "null_as_default")]
    pub documentation_type: String,
    /// Comma-separated values of the documentation rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub documentation_text: String,
    /// Distribution name copied into Trac and Roundup bugs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub as_appears_in_distribution: String,
    /// Named custom parser (`bugzilla.KDEBugzilla`); `""` = the type's default parser.
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_parser: String,
    /// The queries that name bugs to import.
    #[serde(default, deserialize_with = "null_as_default")]
    pub queries: Vec<Query>,
    /// Canonical links of the bugs the host already holds; refreshed every crawl.
    #[serde(default, deserialize_with = "null_as_default")]
    pub existing_bug_urls: Vec<String>,
    /// URL listing recently changed bugs (GitHub, Jira), or `None`.
    #[serde(default)]
    pub get_older_bug_data: Option<String>,
    /// At most this many requests in flight for this tracker (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Every other key, for the tracker crate to type-check (see
    /// [`TrackerConfig::options`]).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Keys every record may carry, whatever its type.
pub const COMMON_KEYS: &[&str] = &[
    "tracker_name",
    "bugimporter",
    "base_url",
    "bug_project_name_format",
    "bitesized_type",
    "bitesized_text",
    "documentation_type",
    "documentation_text",
    "as_appears_in_distribution",
    "custom_parser",
    "queries",
    "existing_bug_urls",
    "get_older_bug_data",
    "max_connections",
];

/// Key fragments that suggest a secret; such keys are refused in the config file.
const SECRET_HINTS: &[&str] = &["token", "password", "passwd", "secret", "api_key", "apikey"];

impl fmt::Debug for TrackerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra: BTreeMap<&str, String> = self
            .extra
            .iter()
            .map(|(k, v)| {
                let shown = if looks_secret(k) {
                    "<redacted>".to_owned()
                } else {
                    v.to_string()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("TrackerConfig")
            .field("tracker_name", &self.tracker_name)
            .field("bugimporter", &self.bugimporter)
            .field("base_url", &self.base_url)
            .field("custom_parser", &self.custom_parser)
            .field("queries", &self.queries.len())
            .field("existing_bug_urls", &self.existing_bug_urls.len())
            .field("extra", &extra)
            .finish_non_exhaustive()
    }
}

fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !k.ends_with("_env") && SECRET_HINTS.iter().any(|h| k.contains(h))
}

impl TrackerConfig {
    /// A record with only a name and a type; the other keys take their defaults.
    pub fn new(tracker_name: impl Into<String>, bugimporter: impl Into<String>) -> Self {
        TrackerConfig {
            tracker_name: tracker_name.into(),
            bugimporter: bugimporter.into(),
            base_url: String::new(),
            bug_project_name_format: String::new(),
            bitesized_type: String::new(),
            bitesized_text: String::new(),
            documentation_type: String::new(),
            documentation_text: String::new(),
            as_appears_in_distribution: String::new(),
            custom_parser: String::new(),
            queries: Vec::new(),
            existing_bug_urls: Vec::new(),
            get_older_bug_data: None,
            max_connections: None,
            extra: BTreeMap::new(),
        }
    }

    /// Checks what every type needs: a name, a type, an http(s) `base_url` when one is given,
    /// absolute http(s) query URLs, every URL key (`get_older_bug_data`, `api_url`, ...) an
    /// absolute http(s) URL, no userinfo (`user:password@`) in any URL, and no secrets in the
    /// file. Errors name the key and never echo a password (see [`crate::link`]).
    pub fn validate(&self) -> Result<(), Error> {
        if self.tracker_name.trim().is_empty() {
            return Err(Error::config("tracker_name is empty"));
        }
        if self.bugimporter.trim().is_empty() {
            return Err(Error::config("bugimporter is empty"));
        }
        if !self.base_url.is_empty() {
            check_http_url("base_url", &self.base_url)?;
        }
        for q in &self.queries {
            check_http_url("queries", &q.url)?;
        }
        if let Some(url) = self
            .get_older_bug_data
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            check_http_url("get_older_bug_data", url)?;
        }
        check_extra_urls(&self.extra)?;
        if let Some(key) = self.extra.keys().find(|k| looks_secret(k)) {
            return Err(Error::config(format!(
                "key {key:?} looks like a secret; secrets come from the environment, never from \
                 the config file (name the variable with a `*_env` key instead)"
            )));
        }
        if self.max_connections == Some(0) {
            return Err(Error::config("max_connections must be at least 1"));
        }
        Ok(())
    }

    /// `base_url` with a trailing `/`, parsed, ready for RFC 3986 joining (as the original
    /// appended `/` before resolving relative URLs). An error names the key when it is missing
    /// or not an http(s) URL.
    pub fn base_url_with_slash(&self) -> Result<Url, Error> {
        if self.base_url.trim().is_empty() {
            return Err(Error::config("base_url is required for this tracker type"));
        }
        let mut text = self.base_url.trim().to_owned();
        if !text.ends_with('/') {
            text.push('/');
        }
        check_http_url("base_url", &text)
    }

    /// The type-specific keys, deserialised into the tracker crate's own options type. Unknown
    /// keys are reported by the registry, not here, so `T` may use `#[serde(default)]` freely.
    pub fn options<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::config(format!("tracker-specific keys: {e}")))
    }

    /// The project name the bug of this tracker belongs to when the type does not format one:
    /// the tracker name.
    pub fn default_project_name(&self) -> &str {
        &self.tracker_name
    }
}

fn check_http_url(key: &str, text: &str) -> Result<Url, Error> {
    crate::link::check_http_url(text)
        .map_err(|e| Error::config(format!("{key}: {}", strip_prefix(&e))))
}

/// Whether a type-specific key holds a URL by its name (`api_url`, `web_url`, `*_uri`).
fn is_url_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("url") || k.ends_with("uri")
}

/// Checks the type-specific keys: those named as URLs must be absolute http(s) URLs without
/// userinfo when set; any other string that is a URL with userinfo is refused too (a password
/// in a URL would be printed and stored). Errors name the key, never the password.
fn check_extra_urls(extra: &BTreeMap<String, serde_json::Value>) -> Result<(), Error> {
    for (key, value) in extra {
        let mut strings = Vec::new();
        collect_strings(value, &mut strings);
        for text in strings {
            if is_url_key(key) && matches!(value, serde_json::Value::String(_)) {
                if !text.trim().is_empty() {
                    check_http_url(key, text)?;
                }
            } else if text.contains('@') && text.contains("://") {
                if let Ok(url) = Url::parse(text.trim()) {
                    if !url.username().is_empty() || url.password().is_some() {
                        check_http_url(key, text)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn collect_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(m) => m.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One query of a tracker: a URL naming bugs to import, and when it was last polled.
///
/// In a config file a query is either a bare URL string (the original format) or an object
/// `{url, kind, description, last_polled}`. It is written back as a bare string when only the
/// URL is set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// The query URL.
    pub url: String,
    /// Query kind where a type has several (Bugzilla: `xml` or `tracker`).
    pub kind: Option<String>,
    /// Free text from the host.
    pub description: Option<String>,
    /// When the host last imported this query's results; trackers with a "changed since"
    /// filter use it for incremental crawls.
    pub last_polled: Option<NaiveDateTime>,
}

impl Query {
    /// A query with only a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Query {
            url: url.into(),
            kind: None,
            description: None,
            last_polled: None,
        }
    }
}

#[derive(Deserialize, Serialize)]
struct QueryObject {
    url: String,
    #[serde(default, alias = "query_type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(
        default,
        with = "crate::time::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    last_polled: Option<NaiveDateTime>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum QueryRepr {
    Url(String),
    Object(QueryObject),
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match QueryRepr::deserialize(d).map_err(|_| {
            serde::de::Error::custom("a query is a URL string or an object with a `url` key")
        })? {
            QueryRepr::Url(url) => Ok(Query::new(url)),
            QueryRepr::Object(o) => Ok(Query {
                url: o.url,
                kind: o.kind,
                description: o.description,
                last_polled: o.last_polled,
            }),
        }
    }
}

impl Serialize for Query {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.kind.is_none() && self.description.is_none() && self.last_polled.is_none() {
            return s.serialize_str(&self.url);
        }
        QueryObject {
            url: self.url.clone(),
            kind: self.kind.clone(),
            description: self.description.clone(),
            last_polled: self.last_polled,
        }
        .serialize(s)
    }
}

/// The syntax of a configuration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigFormat {
    /// YAML (JSON is valid YAML, so this also reads JSON).
    Yaml,
    /// JSON.
    Json,
}

/// Reads a configuration text: a list of records, `{objects: [...]}`, or a single record (a
/// mapping with `tracker_name`, as `bugimporters parse --config` takes).
///
/// An unreadable text is an error (the crawl exits 2). A record that cannot be read or fails
/// [`TrackerConfig::validate`] becomes an `Err` in its slot, naming its position and, when it
/// has one, its `tracker_name`, so that the other trackers still run.
pub fn load_config_str(
    text: &str,
    format: ConfigFormat,
) -> Result<Vec<Result<TrackerConfig, Error>>, Error> {
    // A UTF-8 byte order mark (some editors write one) is not part of the text.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let value: serde_json::Value = match format {
        ConfigFormat::Json => {
            serde_json::from_str(text).map_err(|e| Error::config(format!("invalid JSON: {e}")))?
        }
        ConfigFormat::Yaml => {
            let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
                .map_err(|e| Error::config(format!("invalid YAML: {e}")))?;
            yaml_to_json(yaml).map_err(Error::config)?
        }
    };
    let list =
        match value {
            serde_json::Value::Array(list) => list,
            serde_json::Value::Object(mut map) if map.contains_key("objects") => {
                match map.remove("objects") {
                    Some(serde_json::Value::Array(list)) => list,
                    Some(serde_json::Value::Null) => Vec::new(),
                    _ => return Err(Error::config("`objects` must be a list of tracker records")),
                }
            }
            serde_json::Value::Object(map) if map.contains_key("tracker_name") => {
                vec![serde_json::Value::Object(map)]
            }
            serde_json::Value::Null => Vec::new(),
            _ => return Err(Error::config(
                "the configuration must be a list of tracker records or a mapping with `objects`",
            )),
        };
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let name = record
                .get("tracker_name")
                .and_then(|n| n.as_str())
                .map(str::to_owned);
            let label = match &name {
                Some(n) => format!("record {} (tracker {n:?})", i + 1),
                None => format!("record {}", i + 1),
            };
            let config: TrackerConfig = serde_json::from_value(record)
                .map_err(|e| Error::config(format!("{label}: {e}")))?;
            config
                .validate()
                .map_err(|e| Error::config(format!("{label}: {}", strip_prefix(&e))))?;
            Ok(config)
        })
        .collect())
}

fn strip_prefix(e: &Error) -> String {
    match e {
        Error::Config { message } => message.clone(),
        other => other.to_string(),
    }
}

/// Converts YAML to JSON, reading tagged values (`!!python/unicode 'x'`) as their plain value
/// and scalar keys (numbers, booleans, null) as their text. A mapping or sequence used as a
/// key (YAML's `? ` complex keys) is an error: no configuration has one, and rendering nested
/// ones as text grows exponentially with their depth (found by the `config` fuzz target).
fn yaml_to_json(v: serde_yaml_ng::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Y::String(s) => J::String(s),
        Y::Sequence(seq) => J::Array(
            seq.into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut object = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match yaml_to_json(k)? {
                    J::String(s) => s,
                    J::Array(_) | J::Object(_) => {
                        return Err("invalid YAML: a mapping key must be a plain value, not a mapping or a list".to_owned())
                    }
                    scalar => scalar.to_string(),
                };
                object.insert(key, yaml_to_json(v)?);
            }
            J::Object(object)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complex_yaml_keys_are_an_error_not_an_exponential_blowup() {
        // Found by the `config` fuzz target: nested `? ` keys rendered as text doubled their
        // escaping at every level (2 GiB at depth 30).
        // (The fuzzer's input is fixtures/fuzz/config/oom-nested-complex-keys.yaml, replayed by
        // bins/bugimporters/tests/fuzz_regressions.rs.)
        let err = load_config_str("- {? {a: 1}: 2}\n", ConfigFormat::Yaml).unwrap_err();
        assert!(err.to_string().contains("mapping key"), "{err}");
        let numbers = load_config_str(
            "- tracker_name: t\n  bugimporter: trac\n  1: x\n",
            ConfigFormat::Yaml,
        )
        .unwrap();
        assert_eq!(numbers.len(), 1, "scalar keys still read as text");
    }

    const ORIGINAL: &str = r#"
- tracker_name: !!python/unicode 'Twisted'
  bugimporter: trac.TracBugImporter
  base_url: !!python/unicode 'http://twistedmatrix.com/trac/'
  bug_project_name_format: '{tracker_name}'
  bitesized_type: keywords
  bitesized_text: easy
  documentation_type: null
  documentation_text: ''
  as_appears_in_distribution: ''
  custom_parser: ''
  queries:
  - !!python/unicode 'http://twistedmatrix.com/trac/query?status=new&format=csv&keywords=%7Eeasy'
  existing_bug_urls: []
  get_older_bug_data: null
- tracker_name: GitHub thing
  bugimporter: github
  github_name: openhatch
  github_repo: oh-bugimporters
  bitesized_tag: easy
  queries:
  - url: https://api.github.com/repos/openhatch/oh-bugimporters/issues?state=open
    last_polled: 2012-09-15 00:00:00
"#;

    #[test]
    fn loads_original_yaml_with_python_tags() {
        let all = load_config_str(ORIGINAL, ConfigFormat::Yaml).unwrap();
        assert_eq!(all.len(), 2);
        let trac = all[0].as_ref().unwrap();
        assert_eq!(trac.tracker_name, "Twisted");
        assert_eq!(trac.bugimporter, "trac.TracBugImporter");
        assert_eq!(trac.documentation_type, "");
        assert_eq!(
            trac.queries[0].url,
            "http://twistedmatrix.com/trac/query?status=new&format=csv&keywords=%7Eeasy"
        );
        assert_eq!(
            trac.base_url_with_slash().unwrap().as_str(),
            "http://twistedmatrix.com/trac/"
        );
        let gh = all[1].as_ref().unwrap();
        assert_eq!(gh.extra["github_name"], "openhatch");
        assert_eq!(
            gh.queries[0]
                .last_polled
                .map(|t| crate::time::format_naive(&t)),
            Some("2012-09-15T00:00:00".to_owned())
        );
    }

    #[test]
    fn objects_wrapper_and_json() {
        let text = r#"{"meta": {"limit": 20}, "objects": [{"tracker_name": "a", "bugimporter": "trac", "base_url": "http://x/"}]}"#;
        for fmt in [ConfigFormat::Json, ConfigFormat::Yaml] {
            let all = load_config_str(text, fmt).unwrap();
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].as_ref().unwrap().tracker_name, "a");
        }
    }

    #[test]
    fn bad_records_fail_alone_and_name_the_tracker() {
        let text = r#"
- {tracker_name: good, bugimporter: trac, base_url: "http://x/"}
- {tracker_name: badurl, bugimporter: trac, base_url: "ftp://x/"}
- {bugimporter: trac}
- {tracker_name: secret, bugimporter: github, api_token: abc}
"#;
        let all = load_config_str(text, ConfigFormat::Yaml).unwrap();
        assert!(all[0].is_ok());
        let e1 = all[1].as_ref().unwrap_err().to_string();
        assert!(e1.contains("badurl") && e1.contains("base_url"), "{e1}");
        let e2 = all[2].as_ref().unwrap_err().to_string();
        assert!(
            e2.contains("record 3") && e2.contains("tracker_name"),
            "{e2}"
        );
        let e3 = all[3].as_ref().unwrap_err().to_string();
        assert!(e3.contains("api_token") && !e3.contains("abc"), "{e3}");
    }

    /// Issue 13 point 13: a byte order mark at the start of a configuration is accepted.
    #[test]
    fn byte_order_mark_is_accepted() {
        for (text, fmt) in [
            (
                "- {tracker_name: a, bugimporter: trac, base_url: 'http://x/'}\n",
                ConfigFormat::Yaml,
            ),
            (
                "tracker_name: a\nbugimporter: trac\nbase_url: http://x/\n",
                ConfigFormat::Yaml,
            ),
            (
                r#"[{"tracker_name": "a", "bugimporter": "trac", "base_url": "http://x/"}]"#,
                ConfigFormat::Json,
            ),
            (
                r#"{"objects": [{"tracker_name": "a", "bugimporter": "trac", "base_url": "http://x/"}]}"#,
                ConfigFormat::Yaml,
            ),
        ] {
            let all = load_config_str(&format!("\u{FEFF}{text}"), fmt)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(all.len(), 1, "{text}");
            assert_eq!(all[0].as_ref().unwrap().tracker_name, "a", "{text}");
        }
    }

    #[test]
    fn userinfo_in_any_url_is_refused_without_echoing_the_password() {
        let text = r#"
- {tracker_name: base, bugimporter: trac, base_url: "http://bob:S3cret@host.example/trac/"}
- {tracker_name: query, bugimporter: trac, base_url: "http://host.example/trac/", queries: ["http://bob:S3cret@host.example/trac/query?format=csv"]}
- {tracker_name: api, bugimporter: github, api_url: "https://bob:S3cret@ghe.example/api/v3"}
- {tracker_name: other, bugimporter: jira, base_url: "http://j.example/", rest_root: "https://bob:S3cret@j.example/"}
- {tracker_name: older, bugimporter: jira, base_url: "http://j.example/", get_older_bug_data: "https://bob:S3cret@j.example/x"}
- {tracker_name: script, bugimporter: github, api_url: "javascript:alert(1)"}
- {tracker_name: fine, bugimporter: github, api_url: "https://ghe.example/api/v3", note: "mail bob@example.org"}
"#;
        let all = load_config_str(text, ConfigFormat::Yaml).unwrap();
        for (i, name) in ["base", "query", "api", "other", "older"]
            .iter()
            .enumerate()
        {
            let e = all[i].as_ref().unwrap_err().to_string();
            assert!(
                e.contains(name) && !e.contains("S3cret") && !e.contains("bob"),
                "{e}"
            );
            assert!(e.contains("secrets") && e.contains("token_env"), "{e}");
        }
        let e = all[5].as_ref().unwrap_err().to_string();
        assert!(e.contains("api_url") && e.contains("http or https"), "{e}");
        assert!(all[6].is_ok(), "{:?}", all[6]);
    }

    #[test]
    fn unreadable_text_is_an_error() {
        assert!(load_config_str("{[", ConfigFormat::Yaml).is_err());
        assert!(load_config_str("42", ConfigFormat::Yaml).is_err());
        assert!(load_config_str("", ConfigFormat::Yaml).unwrap().is_empty());
    }

    #[test]
    fn query_round_trip() {
        let mut q = Query::new("http://x/q");
        assert_eq!(serde_json::to_string(&q).unwrap(), r#""http://x/q""#);
        q.kind = Some("tracker".into());
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(serde_json::from_str::<Query>(&text).unwrap(), q);
    }

    #[test]
    fn debug_hides_secret_looking_keys() {
        let mut c = TrackerConfig::new("t", "github");
        c.extra.insert("token".into(), "s3cr3t".into());
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
