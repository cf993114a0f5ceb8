//! The Bugzilla-specific configuration keys, typed and checked, and the [`ParseSettings`] the
//! pure parsers take.

use bugimporters_core::forge::blank_as_none;
use bugimporters_core::{classify, ConfigKey, Error, TrackerConfig};
use serde::{Deserialize, Deserializer};
use url::Url;

/// Bugs per `show_bug.cgi?ctype=xml` request, as the original (docs/reference-behaviour.md §5.1).
pub const DEFAULT_BATCH_SIZE: usize = 50;
/// Largest accepted `batch_size` (longer URLs are refused by many web servers).
pub const MAX_BATCH_SIZE: usize = 200;
/// Bugs per page of a REST search (`limit=`).
pub const DEFAULT_REST_PAGE_SIZE: usize = 500;
/// Largest accepted `rest_page_size` (Bugzilla's own default `max_search_results` is 10000).
pub const MAX_REST_PAGE_SIZE: usize = 10_000;
/// Environment variable holding the REST API key when `api_key_env` does not name another.
pub const DEFAULT_API_KEY_ENV: &str = "BUGZILLA_API_KEY";
/// The statuses that make `looks_closed` true, exactly and case-sensitively, as the original
/// (`ASSIGNED` included: docs/reference-behaviour.md §5.1 and §9.3).
pub const CLOSED_STATUSES: &[&str] = &["RESOLVED", "WONTFIX", "CLOSED", "ASSIGNED"];

/// The keys `bugimporters trackers` lists for this type (besides the common ones:
/// `base_url`, `bug_project_name_format`, `bitesized_type` `key`|`wboard`, `bitesized_text`,
/// `documentation_type` `key`|`comp`|`prod`, `documentation_text`, `custom_parser`).
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "query_url_type",
        description: "the original's `xml` | `tracker` (deprecated and unused: the response decides)",
        required: false,
    },
    ConfigKey {
        name: "bugzilla_api",
        description: "`auto` (default: XML, REST for queries that are /rest/bug URLs), `xml`, or `rest` (Bugzilla 5 REST API for every query and refresh)",
        required: false,
    },
    ConfigKey {
        name: "api_key_env",
        description: "environment variable holding this tracker's REST API key (default BUGZILLA_API_KEY); sent as X-BUGZILLA-API-KEY",
        required: false,
    },
    ConfigKey {
        name: "batch_size",
        description: "bugs per show_bug.cgi / REST id request (default 50, at most 200)",
        required: false,
    },
    ConfigKey {
        name: "rest_page_size",
        description: "bugs per page of a REST search, `limit=` (default 500)",
        required: false,
    },
];

/// Which Bugzilla interface the importer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApiMode {
    /// The original's XML interface, except for queries that are REST search URLs
    /// (`…/rest/bug?…`); when any query is one, existing bugs are refreshed through REST too.
    #[default]
    Auto,
    /// Only `show_bug.cgi?ctype=xml` (a REST query URL is then a configuration error).
    Xml,
    /// The Bugzilla 5 REST API for everything: buglist queries become REST searches, tracking
    /// bugs and existing bugs are fetched through `/rest/bug?id=…`.
    Rest,
}

impl ApiMode {
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Some(ApiMode::Auto),
            "xml" => Some(ApiMode::Xml),
            "rest" | "json" => Some(ApiMode::Rest),
            _ => None,
        }
    }
}

fn api_mode<'de, D: Deserializer<'de>>(d: D) -> Result<ApiMode, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    ApiMode::parse(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "bugzilla_api {text:?}: expected `auto`, `xml` or `rest`"
        ))
    })
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(usize),
        S(String),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::N(n)) => Ok(Some(n)),
        Some(Num::S(s)) if s.trim().is_empty() => Ok(None),
        Some(Num::S(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a number"))),
    }
}

/// The Bugzilla keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BugzillaOptions {
    /// `auto`, `xml` or `rest`.
    #[serde(deserialize_with = "api_mode")]
    pub bugzilla_api: ApiMode,
    /// Variable holding the API key; `None` = [`DEFAULT_API_KEY_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub api_key_env: Option<String>,
    /// Bugs per id request; `None` = [`DEFAULT_BATCH_SIZE`].
    #[serde(deserialize_with = "size")]
    pub batch_size: Option<usize>,
    /// REST search page size; `None` = [`DEFAULT_REST_PAGE_SIZE`].
    #[serde(deserialize_with = "size")]
    pub rest_page_size: Option<usize>,
    /// The original's deprecated `query_url_type` (`xml` | `tracker`); read and ignored.
    #[serde(deserialize_with = "blank_as_none")]
    pub query_url_type: Option<String>,
}

impl BugzillaOptions {
    /// Reads and checks the Bugzilla keys of `config`. Errors name the key.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let o: BugzillaOptions = config.options()?;
        if let Some(n) = o.batch_size {
            if n == 0 || n > MAX_BATCH_SIZE {
                return Err(Error::config(format!(
                    "batch_size {n}: must be between 1 and {MAX_BATCH_SIZE}"
                )));
            }
        }
        if let Some(n) = o.rest_page_size {
            if n == 0 || n > MAX_REST_PAGE_SIZE {
                return Err(Error::config(format!(
                    "rest_page_size {n}: must be between 1 and {MAX_REST_PAGE_SIZE}"
                )));
            }
        }
        if let Some(var) = &o.api_key_env {
            bugimporters_core::redact::check_env_name("api_key_env", var)?;
        }
        Ok(o)
    }

    /// Bugs per id request.
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// Bugs per REST search page.
    pub fn rest_page_size(&self) -> usize {
        self.rest_page_size.unwrap_or(DEFAULT_REST_PAGE_SIZE)
    }

    /// The environment variable the API key is read from.
    pub fn api_key_env(&self) -> &str {
        self.api_key_env.as_deref().unwrap_or(DEFAULT_API_KEY_ENV)
    }
}

/// The bite-size rule of a Bugzilla tracker (`bitesized_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitesizeRule {
    /// `key`: some `bitesized_text` piece equals a keyword.
    Keyword(String),
    /// `wboard`: some piece is a substring of the status whiteboard.
    Whiteboard(String),
    /// Blank or unknown type: never bite-sized.
    Off,
}

/// The documentation rule of a Bugzilla tracker (`documentation_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocumentationRule {
    /// `key`: some `documentation_text` piece equals a keyword.
    Keyword(String),
    /// `comp`: some piece equals the component.
    Component(String),
    /// `prod`: some piece equals the product.
    Product(String),
    /// Blank or unknown type: never documentation.
    Off,
}

/// What the pure parsers need from the configuration: the tracker's name and root, the
/// project-name format and the two classification rules.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `tracker_name`.
    pub tracker_name: String,
    /// `base_url` with a trailing `/`; canonical links are `show_bug.cgi?id=N` joined to it.
    pub base_url: Url,
    /// `bug_project_name_format` (`{tracker_name}` when blank).
    pub project_name_format: String,
    /// The bite-size rule.
    pub bitesized: BitesizeRule,
    /// The documentation rule.
    pub documentation: DocumentationRule,
}

impl ParseSettings {
    /// Settings for `tracker_name` at `base_url` with the generic rules off and the project
    /// named after the tracker; set the public fields to change them.
    pub fn new(tracker_name: impl Into<String>, base_url: &str) -> Result<Self, Error> {
        let mut text = base_url.trim().to_owned();
        if !text.ends_with('/') {
            text.push('/');
        }
        let base_url =
            Url::parse(&text).map_err(|e| Error::config(format!("base_url {base_url:?}: {e}")))?;
        Ok(ParseSettings {
            tracker_name: tracker_name.into(),
            base_url,
            project_name_format: "{tracker_name}".to_owned(),
            bitesized: BitesizeRule::Off,
            documentation: DocumentationRule::Off,
        })
    }

    /// The settings of a tracker record: checks `base_url` and `bug_project_name_format`.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let base_url = config.base_url_with_slash()?;
        let format = if config.bug_project_name_format.trim().is_empty() {
            "{tracker_name}".to_owned()
        } else {
            config.bug_project_name_format.clone()
        };
        classify::validate_project_name_format(&format)?;
        let bitesized = match config.bitesized_type.trim() {
            "key" => BitesizeRule::Keyword(config.bitesized_text.clone()),
            "wboard" => BitesizeRule::Whiteboard(config.bitesized_text.clone()),
            _ => BitesizeRule::Off,
        };
        let documentation = match config.documentation_type.trim() {
            "key" => DocumentationRule::Keyword(config.documentation_text.clone()),
            "comp" => DocumentationRule::Component(config.documentation_text.clone()),
            "prod" => DocumentationRule::Product(config.documentation_text.clone()),
            _ => DocumentationRule::Off,
        };
        Ok(ParseSettings {
            tracker_name: config.tracker_name.clone(),
            base_url,
            project_name_format: format,
            bitesized,
            documentation,
        })
    }

    /// `urljoin(base_url, "show_bug.cgi?id=N")`, the canonical link of bug `id`.
    pub fn bug_link(&self, id: u64) -> String {
        bug_link(&self.base_url, id)
    }
}

/// `urljoin(base, "show_bug.cgi?id=N")`.
pub(crate) fn bug_link(base: &Url, id: u64) -> String {
    base.join(&format!("show_bug.cgi?id={id}"))
        .map(String::from)
        .unwrap_or_else(|_| format!("{base}show_bug.cgi?id={id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: serde_json::Value) -> TrackerConfig {
        let mut c = TrackerConfig::new("KDE", "bugzilla");
        c.base_url = "https://bugs.kde.org".into();
        if let serde_json::Value::Object(m) = extra {
            c.extra.extend(m);
        }
        c
    }

    #[test]
    fn defaults_and_values() {
        let o = BugzillaOptions::from_config(&cfg(serde_json::json!({}))).unwrap();
        assert_eq!(o.bugzilla_api, ApiMode::Auto);
        assert_eq!(o.batch_size(), 50);
        assert_eq!(o.api_key_env(), "BUGZILLA_API_KEY");
        let o = BugzillaOptions::from_config(&cfg(serde_json::json!({
            "bugzilla_api": "REST", "api_key_env": "KDE_BZ_KEY", "batch_size": "20",
            "query_url_type": "xml", "rest_page_size": null
        })))
        .unwrap();
        assert_eq!(o.bugzilla_api, ApiMode::Rest);
        assert_eq!(o.api_key_env(), "KDE_BZ_KEY");
        assert_eq!(o.batch_size(), 20);
        assert_eq!(o.rest_page_size(), 500);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (extra, key) in [
            (serde_json::json!({"bugzilla_api": "soap"}), "bugzilla_api"),
            (serde_json::json!({"batch_size": 0}), "batch_size"),
            (serde_json::json!({"batch_size": 5000}), "batch_size"),
            (serde_json::json!({"api_key_env": "abc def"}), "api_key_env"),
        ] {
            let e = BugzillaOptions::from_config(&cfg(extra))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn settings_from_config() {
        let mut c = cfg(serde_json::json!({}));
        c.bitesized_type = "wboard".into();
        c.bitesized_text = "[good first bug]".into();
        c.documentation_type = "comp".into();
        c.documentation_text = "Docs,Help".into();
        let s = ParseSettings::from_config(&c).unwrap();
        assert_eq!(s.base_url.as_str(), "https://bugs.kde.org/");
        assert_eq!(s.project_name_format, "{tracker_name}");
        assert_eq!(
            s.bitesized,
            BitesizeRule::Whiteboard("[good first bug]".into())
        );
        assert_eq!(
            s.documentation,
            DocumentationRule::Component("Docs,Help".into())
        );
        assert_eq!(s.bug_link(7), "https://bugs.kde.org/show_bug.cgi?id=7");
        c.bug_project_name_format = "{nope}".into();
        assert!(ParseSettings::from_config(&c)
            .unwrap_err()
            .to_string()
            .contains("{nope}"));
    }
}
