//! The Roundup-specific configuration keys, typed and checked.

use bugimporters_core::forge::{blank_as_none, text};
use bugimporters_core::{ConfigKey, Error, TrackerConfig};
use chrono::{Datelike, NaiveDateTime};
use serde::{Deserialize, Deserializer};

use crate::parser::ParseSettings;

/// Environment variable holding the REST user name, unless `roundup_username_env` says
/// otherwise.
pub const DEFAULT_USERNAME_ENV: &str = "ROUNDUP_USERNAME";
/// Environment variable holding the REST password, unless `roundup_password_env` says
/// otherwise.
pub const DEFAULT_PASSWORD_ENV: &str = "ROUNDUP_PASSWORD";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "closed_status",
        description: "comma-separated status names meaning closed (trimmed, case-insensitive), e.g. `resolved,wontfix`",
        required: true,
    },
    ConfigKey {
        name: "bitesized_field",
        description: "label of a field of the issue page (`Keywords`, `Topics`); blank = rule off",
        required: false,
    },
    ConfigKey {
        name: "bitesized_text",
        description: "comma-separated texts; bite-sized when one is a SUBSTRING of that field's value",
        required: false,
    },
    ConfigKey {
        name: "documentation_field",
        description: "label of a field of the issue page (`Components`); blank = rule off",
        required: false,
    },
    ConfigKey {
        name: "documentation_text",
        description: "comma-separated texts; documentation when one is a SUBSTRING of that field's value",
        required: false,
    },
    ConfigKey {
        name: "roundup_api",
        description: "`auto` (default: REST when credentials are set, else issue pages), `rest` (Roundup 2.x REST API) or `html` (issue pages, as the original)",
        required: false,
    },
    ConfigKey {
        name: "roundup_username_env",
        description: "environment variable with the REST user name (default ROUNDUP_USERNAME)",
        required: false,
    },
    ConfigKey {
        name: "roundup_password_env",
        description: "environment variable with the REST password (default ROUNDUP_PASSWORD)",
        required: false,
    },
    ConfigKey {
        name: "bugs_last_polled",
        description: "the oldest last_polled of this tracker's bugs in the host (naive UTC); opens the incremental refresh window (else the queries' oldest last_polled)",
        required: false,
    },
    ConfigKey {
        name: "bitesized_property",
        description: "REST mode: the issue property behind bitesized_field (default derived from the label: Keywords -> keyword, Topics -> topic, ...)",
        required: false,
    },
    ConfigKey {
        name: "documentation_property",
        description: "REST mode: the issue property behind documentation_field (default derived from the label)",
        required: false,
    },
];

/// How issues are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ApiMode {
    /// REST when credentials are in the environment (falling back to pages when the tracker
    /// refuses them), else issue pages.
    #[default]
    Auto,
    /// Always the Roundup 2.x REST API (anonymously when no credentials are set).
    Rest,
    /// Always the issue pages, as the original importer.
    Html,
}

fn mode_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<ApiMode, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(ApiMode::Auto),
        "rest" => Ok(ApiMode::Rest),
        "html" => Ok(ApiMode::Html),
        other => Err(serde::de::Error::custom(format!(
            "roundup_api must be auto, rest or html, not {other:?}"
        ))),
    }
}

/// The Roundup keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RoundupOptions {
    /// Comma-separated closed status names.
    #[serde(deserialize_with = "text")]
    pub closed_status: String,
    /// Label of the field the bite-size rule reads.
    #[serde(deserialize_with = "text")]
    pub bitesized_field: String,
    /// Label of the field the documentation rule reads.
    #[serde(deserialize_with = "text")]
    pub documentation_field: String,
    /// Pages, REST, or automatic.
    #[serde(deserialize_with = "mode_or_default")]
    pub roundup_api: ApiMode,
    /// REST user variable; `None` = [`DEFAULT_USERNAME_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub roundup_username_env: Option<String>,
    /// REST password variable; `None` = [`DEFAULT_PASSWORD_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub roundup_password_env: Option<String>,
    /// REST property behind `bitesized_field`.
    #[serde(deserialize_with = "blank_as_none")]
    pub bitesized_property: Option<String>,
    /// REST property behind `documentation_field`.
    #[serde(deserialize_with = "blank_as_none")]
    pub documentation_property: Option<String>,
    /// The oldest `last_polled` of the host's bugs of this tracker.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub bugs_last_polled: Option<NaiveDateTime>,
}

/// The original host's "never polled" value (1970-01-01T00:00:00) and anything before 1971:
/// not a real poll time, so no window.
pub fn is_placeholder(t: &NaiveDateTime) -> bool {
    t.year() <= 1970
}

impl RoundupOptions {
    /// Reads and checks the Roundup keys of `config`. Errors name the key.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let options: RoundupOptions = config.options()?;
        for (key, value) in [
            ("roundup_username_env", &options.roundup_username_env),
            ("roundup_password_env", &options.roundup_password_env),
        ] {
            if let Some(v) = value {
                bugimporters_core::redact::check_env_name(key, v)?;
            }
        }
        for (key, value) in [
            ("bitesized_property", &options.bitesized_property),
            ("documentation_property", &options.documentation_property),
        ] {
            if let Some(v) = value {
                if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(Error::config(format!(
                        "{key} must be a Roundup property name (letters, digits, _), got {v:?}"
                    )));
                }
            }
        }
        Ok(options)
    }

    /// The variable names of the REST credentials (user, password).
    pub fn credential_env(&self) -> (&str, &str) {
        (
            self.roundup_username_env
                .as_deref()
                .unwrap_or(DEFAULT_USERNAME_ENV),
            self.roundup_password_env
                .as_deref()
                .unwrap_or(DEFAULT_PASSWORD_ENV),
        )
    }

    /// The start of the incremental window of held bugs: `bugs_last_polled` when set, else the
    /// oldest `last_polled` of the queries when there are queries and each has a real one.
    pub fn refresh_since(&self, config: &TrackerConfig) -> Option<NaiveDateTime> {
        if let Some(t) = self.bugs_last_polled.filter(|t| !is_placeholder(t)) {
            return Some(t);
        }
        if config.queries.is_empty() {
            return None;
        }
        config
            .queries
            .iter()
            .map(|q| q.last_polled.filter(|t| !is_placeholder(t)))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min()
    }

    /// The rules and names the parsers need.
    pub fn parse_settings(&self, config: &TrackerConfig) -> ParseSettings {
        let mut s = ParseSettings::new(&config.tracker_name, &self.closed_status);
        s.bitesized_field = canonical_label(&self.bitesized_field);
        // `bitesized_text`/`documentation_text` are common keys of the record.
        s.bitesized_text = config.bitesized_text.clone();
        s.documentation_field = canonical_label(&self.documentation_field);
        s.documentation_text = config.documentation_text.clone();
        s.as_appears_in_distribution = config.as_appears_in_distribution.clone();
        s
    }

    /// The REST property behind the bite-size rule, if the rule is on.
    pub fn bitesized_rest_property(&self) -> Option<String> {
        rule_property(&self.bitesized_field, self.bitesized_property.as_deref())
    }

    /// The REST property behind the documentation rule, if the rule is on.
    pub fn documentation_rest_property(&self) -> Option<String> {
        rule_property(
            &self.documentation_field,
            self.documentation_property.as_deref(),
        )
    }
}

fn rule_property(label: &str, explicit: Option<&str>) -> Option<String> {
    if label.is_empty() {
        return None;
    }
    Some(
        explicit
            .map(str::to_owned)
            .unwrap_or_else(|| property_for_label(&canonical_label(label))),
    )
}

/// The page label a rule field names: `bitesized_field`/`documentation_field` may give the
/// label (`Keywords`) or the property (`keyword`, as Roundup's schema and REST API call it),
/// in any case; a known label or property becomes the template's label, anything else is
/// kept (trimmed) and matched case-insensitively.
///
/// ```
/// use bugimporters_roundup::config::canonical_label;
/// assert_eq!(canonical_label("keyword"), "Keywords");
/// assert_eq!(canonical_label(" KEYWORDS "), "Keywords");
/// assert_eq!(canonical_label("Component"), "Component");
/// ```
pub fn canonical_label(field: &str) -> String {
    let f = field.trim();
    LABELS
        .iter()
        .find(|(l, p)| l.eq_ignore_ascii_case(f) || p.eq_ignore_ascii_case(f))
        .map_or_else(|| f.to_owned(), |(l, _)| (*l).to_owned())
}

/// Labels of the classic and python/mercurial templates and the properties behind them.
pub const LABELS: &[(&str, &str)] = &[
    ("Title", "title"),
    ("Status", "status"),
    ("Priority", "priority"),
    ("Keywords", "keyword"),
    ("Topics", "topic"),
    ("Nosy List", "nosy"),
    ("Assigned To", "assignedto"),
    ("Superseder", "superseder"),
    ("Dependencies", "dependencies"),
    ("Components", "components"),
    ("Versions", "versions"),
    ("Type", "type"),
    ("Stage", "stage"),
    ("Resolution", "resolution"),
];

/// The REST property behind a page label: the known labels of [`LABELS`], else the label
/// lower-cased without spaces (`Assigned To` -> `assignedto`).
pub fn property_for_label(label: &str) -> String {
    let trimmed = label.trim();
    LABELS
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(trimmed))
        .map(|(_, p)| (*p).to_owned())
        .unwrap_or_else(|| {
            trimmed
                .chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect()
        })
}

/// The page label of a REST property (the inverse of [`property_for_label`] for the known
/// labels; otherwise the property itself).
pub fn label_for_property(property: &str) -> String {
    LABELS
        .iter()
        .find(|(_, p)| *p == property)
        .map(|(l, _)| (*l).to_owned())
        .unwrap_or_else(|| property.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: serde_json::Value) -> TrackerConfig {
        let mut c = TrackerConfig::new("T", "roundup");
        c.base_url = "http://bugs.example.org/".into();
        if let serde_json::Value::Object(m) = extra {
            c.extra.extend(m);
        }
        c
    }

    #[test]
    fn keys_are_typed() {
        let mut c = config(serde_json::json!({
            "closed_status": "resolved, wontfix",
            "bitesized_field": "Keywords",
            "documentation_field": null,
            "roundup_api": "REST",
            "roundup_password_env": "PY_TRACKER_PW",
        }));
        c.bitesized_text = "easy".into();
        let o = RoundupOptions::from_config(&c).unwrap();
        assert_eq!(o.roundup_api, ApiMode::Rest);
        assert_eq!(o.credential_env(), ("ROUNDUP_USERNAME", "PY_TRACKER_PW"));
        assert_eq!(o.bitesized_rest_property().as_deref(), Some("keyword"));
        assert_eq!(o.documentation_rest_property(), None);
        let s = o.parse_settings(&c);
        assert_eq!(s.closed_status, "resolved, wontfix");
        assert_eq!(s.bitesized_field, "Keywords");
        assert_eq!(s.bitesized_text, "easy");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = RoundupOptions::from_config(&config(serde_json::json!({"roundup_api": "soap"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("roundup_api"), "{e}");
        let e = RoundupOptions::from_config(&config(
            serde_json::json!({"roundup_username_env": "A B"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("roundup_username_env"), "{e}");
    }

    #[test]
    fn refresh_window() {
        use bugimporters_core::Query;
        let t = |s: &str| bugimporters_core::time::parse_datetime(s).unwrap();
        let mut c = config(serde_json::json!({}));
        let o = RoundupOptions::from_config(&c).unwrap();
        assert_eq!(o.refresh_since(&c), None, "no queries, no bugs_last_polled");
        let mut q1 = Query::new("http://bugs.example.org/issue?@action=export_csv");
        q1.last_polled = Some(t("2026-11-20T10:00:00"));
        let mut q2 = q1.clone();
        q2.last_polled = Some(t("2026-11-19T10:00:00"));
        c.queries = vec![q1.clone(), q2];
        assert_eq!(o.refresh_since(&c), Some(t("2026-11-19T10:00:00")));
        let mut never = q1.clone();
        never.last_polled = Some(t("1970-01-01T00:00:00"));
        c.queries.push(never);
        assert_eq!(o.refresh_since(&c), None, "a never-polled query: no window");
        c.extra
            .insert("bugs_last_polled".into(), "2026-11-18T08:00:00".into());
        let o = RoundupOptions::from_config(&c).unwrap();
        assert_eq!(o.refresh_since(&c), Some(t("2026-11-18T08:00:00")));
        c.extra.insert("bugs_last_polled".into(), "soon".into());
        let e = RoundupOptions::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("soon"), "{e}");
    }

    #[test]
    fn labels_map_to_properties() {
        assert_eq!(property_for_label("Nosy List"), "nosy");
        assert_eq!(property_for_label("Fancy Field"), "fancyfield");
        assert_eq!(label_for_property("keyword"), "Keywords");
        assert_eq!(label_for_property("whatever"), "whatever");
    }
}
