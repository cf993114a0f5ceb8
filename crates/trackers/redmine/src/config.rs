//! The Redmine-specific configuration keys, typed and checked, and the classification rules.

use bugimporters_core::{classify, ConfigKey, Error, TrackerConfig};
use serde::{Deserialize, Deserializer};

/// Environment variable holding the API key unless `api_key_env` names another.
pub const DEFAULT_API_KEY_ENV: &str = "REDMINE_API_KEY";

/// The keys `bugimporters trackers` lists for this type (besides the common ones, of which
/// `base_url`, `bug_project_name_format`, `bitesized_type`/`_text` and
/// `documentation_type`/`_text` are read).
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "project",
        description: "project identifier (or numeric id) whose issues are imported; blank or '*' = every project the key may see",
        required: false,
    },
    ConfigKey {
        name: "query_id",
        description: "id of a saved Redmine query, run when the record has no queries (its own filters apply; no updated_on filter)",
        required: false,
    },
    ConfigKey {
        name: "api_key_env",
        description: "environment variable holding the API key, sent as X-Redmine-API-Key (default REDMINE_API_KEY; unset = anonymous)",
        required: false,
    },
    ConfigKey {
        name: "include_private",
        description: "true: import private issues too (by default they are skipped, and a held issue made private is deleted from the host)",
        required: false,
    },
    ConfigKey {
        name: "people_from_journals",
        description: "true: fetch /issues/N.json?include=journals,watchers per imported issue so that people_involved counts watchers and commenters (one request per issue)",
        required: false,
    },
];

/// What a rule type (`bitesized_type`, `documentation_type`) reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RuleField {
    /// Blank type: the rule is off.
    #[default]
    Off,
    /// The tracker name (`Bug`, `Feature`).
    Tracker,
    /// The category name.
    Category,
    /// The priority name.
    Priority,
    /// A keyword in the subject (case-insensitive substring).
    Subject,
    /// The values of a custom field chosen by id.
    CustomFieldId(u64),
    /// The values of a custom field chosen by name (case-insensitive).
    CustomFieldName(String),
}

/// One classification rule: which field, and the comma-separated values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// The field read.
    pub field: RuleField,
    /// The values, trimmed, lower-cased, blanks dropped.
    pub values: Vec<String>,
}

impl Rule {
    /// Parses a rule from its type and text; `key` names the type key in errors.
    ///
    /// Types: `tracker`, `category`, `priority`, `subject`, `custom_field:<id or name>` (also
    /// `cf_<id>`); blank = off. Values are the comma-separated pieces of `text`, trimmed.
    pub fn parse(key: &str, kind: &str, text: &str) -> Result<Rule, Error> {
        let kind = kind.trim();
        let lower = kind.to_ascii_lowercase();
        let field = if kind.is_empty() {
            RuleField::Off
        } else if let Some(sel) = lower
            .strip_prefix("custom_field:")
            .map(|_| kind.get("custom_field:".len()..).unwrap_or("").trim())
        {
            if sel.is_empty() {
                return Err(Error::config(format!(
                    "{key}: custom_field: needs a field id or name (custom_field:1, custom_field:Keywords)"
                )));
            }
            match sel.parse::<u64>() {
                Ok(id) => RuleField::CustomFieldId(id),
                Err(_) => RuleField::CustomFieldName(sel.to_lowercase()),
            }
        } else if let Some(id) = lower.strip_prefix("cf_").and_then(|n| n.parse().ok()) {
            RuleField::CustomFieldId(id)
        } else {
            match lower.as_str() {
                "tracker" => RuleField::Tracker,
                "category" => RuleField::Category,
                "priority" => RuleField::Priority,
                "subject" => RuleField::Subject,
                _ => {
                    return Err(Error::config(format!(
                        "{key} {kind:?} is not a Redmine rule type; known: tracker, category, \
                         priority, subject, custom_field:<id or name>"
                    )))
                }
            }
        };
        let values = classify::pieces(text)
            .map(|p| p.trim().to_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        Ok(Rule { field, values })
    }

    /// Whether the rule is off (blank type or no values).
    pub fn is_off(&self) -> bool {
        self.field == RuleField::Off || self.values.is_empty()
    }

    /// Whether one of `candidates` equals a value (case-insensitive, trimmed).
    pub fn matches_any<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) -> bool {
        if self.is_off() {
            return false;
        }
        candidates.into_iter().any(|c| {
            let c = c.trim().to_lowercase();
            self.values.contains(&c)
        })
    }

    /// Whether some value is a substring of `text` (case-insensitive).
    pub fn in_text(&self, text: &str) -> bool {
        if self.is_off() {
            return false;
        }
        let text = text.to_lowercase();
        self.values.iter().any(|v| text.contains(v.as_str()))
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.trim().to_owned()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string or a number, got {other}"
            )))
        }
    }
    .filter(|s| !s.is_empty()))
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => b,
        Some(serde_json::Value::String(s)) => {
            matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "true" | "yes" | "1" | "on"
            )
        }
        Some(serde_json::Value::Number(n)) => n.as_i64().is_some_and(|v| v != 0),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected true or false, got {other}"
            )))
        }
    })
}

/// The Redmine keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RedmineOptions {
    /// Project identifier or id; `None` (or `*`) = every visible project.
    #[serde(deserialize_with = "string_or_number")]
    pub project: Option<String>,
    /// Saved query id.
    #[serde(deserialize_with = "string_or_number")]
    pub query_id: Option<String>,
    /// API key variable; `None` = [`DEFAULT_API_KEY_ENV`].
    #[serde(deserialize_with = "string_or_number")]
    pub api_key_env: Option<String>,
    /// Fetch journals and watchers per issue for `people_involved`.
    #[serde(deserialize_with = "lenient_bool")]
    pub people_from_journals: bool,
    /// Import private issues too.
    #[serde(deserialize_with = "lenient_bool")]
    pub include_private: bool,
}

impl RedmineOptions {
    /// Reads and checks the Redmine keys of `config`. Errors name the key.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let mut o: RedmineOptions = config.options()?;
        if o.project.as_deref() == Some("*") {
            o.project = None;
        }
        if let Some(p) = &o.project {
            let ok = p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
            if !ok {
                return Err(Error::config(format!(
                    "project {p:?} is not a Redmine project identifier (letters, digits, '-', '_') or id"
                )));
            }
        }
        if let Some(q) = &o.query_id {
            if q.parse::<u64>().is_err() {
                return Err(Error::config(format!(
                    "query_id {q:?} must be the number of a saved query"
                )));
            }
        }
        if let Some(v) = &o.api_key_env {
            bugimporters_core::redact::check_env_name("api_key_env", v)?;
        }
        Ok(o)
    }

    /// The API key variable name.
    pub fn api_key_env(&self) -> &str {
        self.api_key_env.as_deref().unwrap_or(DEFAULT_API_KEY_ENV)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_types() {
        let r = Rule::parse("bitesized_type", "custom_field:Keywords", "easy, Trivial").unwrap();
        assert_eq!(r.field, RuleField::CustomFieldName("keywords".into()));
        assert_eq!(r.values, vec!["easy", "trivial"]);
        assert!(r.matches_any(["Easy"]));
        assert!(!r.matches_any(["easyish"]));
        assert_eq!(
            Rule::parse("k", "custom_field: 3", "x").unwrap().field,
            RuleField::CustomFieldId(3)
        );
        assert_eq!(
            Rule::parse("k", "cf_1", "x").unwrap().field,
            RuleField::CustomFieldId(1)
        );
        assert_eq!(
            Rule::parse("k", "Tracker", "x").unwrap().field,
            RuleField::Tracker
        );
        let s = Rule::parse("k", "subject", "typo,[docs]").unwrap();
        assert!(s.in_text("Fix a TYPO in the manual"));
        assert!(!s.in_text("Crash"));
        assert!(Rule::parse("k", "", "easy").unwrap().is_off());
        assert!(Rule::parse("k", "tracker", " , ").unwrap().is_off());
        let e = Rule::parse("bitesized_type", "keywords", "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bitesized_type") && e.contains("custom_field"),
            "{e}"
        );
        assert!(Rule::parse("k", "custom_field:", "x").is_err());
    }

    #[test]
    fn options() {
        let mut c = TrackerConfig::new("t", "redmine");
        c.extra.insert("project".into(), "realtrackers".into());
        c.extra.insert("query_id".into(), 3.into());
        c.extra.insert("people_from_journals".into(), "yes".into());
        let o = RedmineOptions::from_config(&c).unwrap();
        assert_eq!(o.project.as_deref(), Some("realtrackers"));
        assert_eq!(o.query_id.as_deref(), Some("3"));
        assert!(o.people_from_journals);
        assert_eq!(o.api_key_env(), DEFAULT_API_KEY_ENV);
        c.extra.insert("project".into(), "*".into());
        assert_eq!(RedmineOptions::from_config(&c).unwrap().project, None);
        c.extra.insert("project".into(), "a/b".into());
        assert!(RedmineOptions::from_config(&c).is_err());
        c.extra.insert("project".into(), "x".into());
        c.extra.insert("query_id".into(), "abc".into());
        assert!(RedmineOptions::from_config(&c).is_err());
        c.extra.remove("query_id");
        c.extra.insert("api_key_env".into(), "BAD-NAME".into());
        assert!(RedmineOptions::from_config(&c).is_err());
    }
}
