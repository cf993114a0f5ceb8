//! The tracker form of `/customs/`, generated from the tracker registry: the common keys of
//! every crawl record, then the type's own keys (`ImporterFactory::config_keys`, with their
//! descriptions and required flags), the service's keys, and the type's custom parsers. What
//! a form sends is turned into the same arguments as `customs add-tracker` / `customs edit`
//! and checked by the same code ([`tracker_from_args`], [`HostDb::add_tracker`],
//! [`HostDb::edit_tracker`]); an error is placed beside the field it names.
//!
//! [`HostDb::add_tracker`]: bugimporters_hostdb::HostDb::add_tracker
//! [`HostDb::edit_tracker`]: bugimporters_hostdb::HostDb::edit_tracker

use bugimporters_core::{Registry, TrackerConfig};
use bugimporters_hostdb::schedule::REFRESH_INTERVAL;
use bugimporters_hostdb::webhooks::WEBHOOK_SECRET_ENV;
use bugimporters_hostdb::{tracker_from_args, Error, TrackerEdit};
use serde_json::Value;

/// Keys of every tracker type, with what they mean (`docs/config-reference.md`).
const COMMON_KEYS: &[(&str, &str)] = &[
    (
        "base_url",
        "Root URL of the tracker (http or https); required by the types that have one.",
    ),
    (
        "bitesized_type",
        "Which field the bite-sized rule reads (per type); blank: rule off.",
    ),
    (
        "bitesized_text",
        "What that field must hold for a bug to be bite-sized.",
    ),
    (
        "documentation_type",
        "Which field the documentation rule reads; blank: rule off.",
    ),
    (
        "documentation_text",
        "What that field must hold for a documentation bug.",
    ),
    (
        "bug_project_name_format",
        "Project name of the bugs, with {tracker_name}, {component}, {product}.",
    ),
    (
        "as_appears_in_distribution",
        "Distribution name copied into the bugs (Trac, Roundup).",
    ),
    (
        "max_connections",
        "Requests in flight for this tracker (a number; default 4).",
    ),
];

/// Keys of the service (`bugimporters serve`), not of the tracker types.
const SERVICE_KEY_HELP: &[(&str, &str)] = &[
    (
        REFRESH_INTERVAL,
        "How often `bugimporters serve` crawls it (e.g. 6h, 1d).",
    ),
    (
        WEBHOOK_SECRET_ENV,
        "Name of the environment variable holding its webhook secret (never the secret).",
    ),
];

/// One field of the form.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The key (the form field is `k.KEY`).
    pub(crate) key: String,
    /// What it means.
    pub(crate) help: String,
    /// Whether the type needs it.
    pub(crate) required: bool,
    /// The value shown.
    pub(crate) value: String,
    /// The error beside it, if any.
    pub(crate) error: String,
}

/// The form of one tracker type.
#[derive(Debug, Clone)]
pub(crate) struct TrackerForm {
    /// The canonical type name.
    pub(crate) kind: String,
    /// The tracker's name.
    pub(crate) name: String,
    /// The error beside the name.
    pub(crate) name_error: String,
    /// The project the tracker was created for.
    pub(crate) project: String,
    /// The type's custom parsers (none: no choice) and the one chosen.
    pub(crate) parsers: Vec<String>,
    /// The chosen custom parser (`""`: the type's default).
    pub(crate) parser: String,
    /// The error beside the parser.
    pub(crate) parser_error: String,
    /// Query URLs, one per line (new trackers only).
    pub(crate) queries: String,
    /// The error beside the queries.
    pub(crate) queries_error: String,
    /// The fields, common keys first.
    pub(crate) fields: Vec<Field>,
    /// An error naming no field.
    pub(crate) error: String,
}

/// The shown text of a stored value.
pub(crate) fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl TrackerForm {
    /// An empty form for type `kind` (canonical name), or `None` for an unknown type.
    pub(crate) fn new(registry: &Registry, kind: &str) -> Option<TrackerForm> {
        let factory = registry.factory(kind).ok()?;
        let field = |key: &str, help: &str, required: bool| Field {
            key: key.to_owned(),
            help: help.to_owned(),
            required,
            value: String::new(),
            error: String::new(),
        };
        let mut fields: Vec<Field> = COMMON_KEYS
            .iter()
            .map(|(k, h)| field(k, h, false))
            .collect();
        for k in factory.config_keys() {
            fields.push(field(k.name, k.description, k.required));
        }
        for (k, h) in SERVICE_KEY_HELP {
            fields.push(field(k, h, false));
        }
        Some(TrackerForm {
            kind: factory.kind().to_owned(),
            name: String::new(),
            name_error: String::new(),
            project: String::new(),
            parsers: registry.parser_names(factory.kind()),
            parser: String::new(),
            parser_error: String::new(),
            queries: String::new(),
            queries_error: String::new(),
            fields,
            error: String::new(),
        })
    }

    /// The form filled with a stored tracker's values (as `customs show --json` prints them).
    pub(crate) fn filled(mut self, record: &Value) -> TrackerForm {
        self.name = shown(record.get("tracker_name"));
        self.project = shown(record.get("created_for_project"));
        self.parser = shown(record.get("custom_parser"));
        for f in &mut self.fields {
            f.value = shown(record.get(&f.key));
        }
        self
    }

    /// The form filled with what was posted (`name`, `project`, `custom_parser`, `queries`,
    /// `k.KEY`).
    pub(crate) fn posted(mut self, pairs: &[(String, String)]) -> TrackerForm {
        for (k, v) in pairs {
            match k.as_str() {
                "name" => self.name = v.clone(),
                "project" => self.project = v.clone(),
                "custom_parser" => self.parser = v.clone(),
                "queries" => self.queries = v.clone(),
                other => {
                    if let Some(f) = other
                        .strip_prefix("k.")
                        .and_then(|key| self.fields.iter_mut().find(|f| f.key == key))
                    {
                        f.value = v.clone();
                    }
                }
            }
        }
        self
    }

    /// The query URLs of the form, one per line.
    fn query_lines(&self) -> Vec<String> {
        self.queries
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The `KEY=VALUE` / `KEY:=JSON` arguments of the filled keys (what `customs -o` takes).
    fn option_args(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .fields
            .iter()
            .filter(|f| !f.value.trim().is_empty())
            .map(|f| option_arg(&f.key, f.value.trim()))
            .collect();
        if !self.parser.is_empty() {
            out.push(format!("custom_parser={}", self.parser));
        }
        out
    }

    /// The tracker record the form describes (not yet checked against the registry).
    pub(crate) fn config(&self) -> Result<TrackerConfig, Error> {
        tracker_from_args(
            &self.kind,
            &self.name,
            None,
            &self.option_args(),
            &self.query_lines(),
        )
    }

    /// The changes from `stored` (the tracker's JSON) to what the form holds.
    pub(crate) fn edit(&self, stored: &Value) -> Result<TrackerEdit, Error> {
        let mut edit = TrackerEdit::default();
        if self.name != shown(stored.get("tracker_name")) {
            edit.rename = Some(self.name.clone());
        }
        if self.project != shown(stored.get("created_for_project")) {
            edit.created_for_project = Some(Some(self.project.clone()).filter(|p| !p.is_empty()));
        }
        let mut keys: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|f| (f.key.as_str(), f.value.trim()))
            .collect();
        keys.push(("custom_parser", self.parser.as_str()));
        for (key, value) in keys {
            let before = shown(stored.get(key));
            if value == before {
                continue;
            }
            if value.is_empty() {
                edit.unset.push(key.to_owned());
            } else {
                edit.set
                    .push(bugimporters_hostdb::parse_option(&option_arg(key, value))?);
            }
        }
        Ok(edit)
    }

    /// Puts `e` beside the field it names (the longest key its message mentions), else at the
    /// top of the form.
    pub(crate) fn place_error(&mut self, e: &Error) {
        let message = match e {
            Error::InvalidTracker { message, .. } => message.clone(),
            other => other.to_string(),
        };
        if matches!(e, Error::TrackerExists(_)) || message.contains("tracker_name") {
            self.name_error = message;
            return;
        }
        if message.contains("custom_parser") || message.contains("parser") {
            self.parser_error = message;
            return;
        }
        let best = self
            .fields
            .iter_mut()
            .filter(|f| message.contains(f.key.as_str()))
            .max_by_key(|f| f.key.len());
        match best {
            Some(f) => f.error = message,
            None if message.contains("queries") || message.contains("query") => {
                self.queries_error = message
            }
            None => self.error = message,
        }
    }
}

/// One `customs -o` argument: `max_connections`, `true`/`false` and JSON lists or objects
/// are typed (`KEY:=JSON`), everything else is a string.
fn option_arg(key: &str, value: &str) -> String {
    let typed = key == "max_connections"
        || matches!(value, "true" | "false")
        || value.starts_with('[')
        || value.starts_with('{');
    if typed {
        format!("{key}:={value}")
    } else {
        format!("{key}={value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_become_json_arguments() {
        assert_eq!(option_arg("max_connections", "2"), "max_connections:=2");
        assert_eq!(option_arg("old_trac", "true"), "old_trac:=true");
        assert_eq!(option_arg("bitesized_text", "2"), "bitesized_text=2");
        assert_eq!(option_arg("bitesized_text", "a=b"), "bitesized_text=a=b");
    }
}
