//! The Trac-specific configuration keys, typed and checked.
//!
//! Trac reads the common keys (`base_url`, `bitesized_type`/`bitesized_text`,
//! `documentation_type`/`documentation_text`, `as_appears_in_distribution`) and two of its own:
//! `old_trac` (accepted and ignored, as the original host exported it) and `bugs_last_polled`
//! (the incremental cut-off, see `docs/trackers/trac.md`).

use bugimporters_core::{ConfigKey, Error, TrackerConfig};
use chrono::NaiveDateTime;
use serde::Deserialize;

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "bugs_last_polled",
        description: "oldest last_polled of this tracker's bugs in the host (naive UTC); existing \
                      tickets Trac reports unchanged since then become _no_update",
        required: false,
    },
    ConfigKey {
        name: "old_trac",
        description: "accepted for compatibility with the original host and ignored",
        required: false,
    },
];

/// The original host's default `last_polled` of a query row, never updated by it: it carries
/// no knowledge of a previous crawl.
fn is_placeholder(t: &NaiveDateTime) -> bool {
    t.and_utc().timestamp() <= 0
}

/// The Trac keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TracOptions {
    /// Oldest `last_polled` of the tracker's bugs in the host.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub bugs_last_polled: Option<NaiveDateTime>,
    /// Ignored (the original's removed special case for old Trac versions).
    pub old_trac: Option<serde_json::Value>,
}

impl TracOptions {
    /// Reads the Trac keys of `config`.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        config.options()
    }

    /// The time before which an existing ticket that Trac reports unchanged need not be
    /// downloaded again: `bugs_last_polled` when set, else the oldest `last_polled` of the
    /// queries when every query has a real one. `None` (fetch everything) otherwise.
    pub fn incremental_since(&self, config: &TrackerConfig) -> Option<NaiveDateTime> {
        if let Some(t) = self.bugs_last_polled.filter(|t| !is_placeholder(t)) {
            return Some(t);
        }
        if config.queries.is_empty() {
            return None;
        }
        let mut oldest: Option<NaiveDateTime> = None;
        for q in &config.queries {
            let t = q.last_polled.filter(|t| !is_placeholder(t))?;
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
        }
        oldest
    }
}

/// What the ticket parser needs from the configuration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TicketSettings {
    /// `tracker_name`; also the `_project_name` of every ticket (the original ignored
    /// `bug_project_name_format` for Trac).
    pub tracker_name: String,
    /// CSV column the bite-size rule reads (`keywords`, `priority`, `difficulty`, ...); blank = off.
    pub bitesized_type: String,
    /// Comma-separated substrings of the bite-size rule.
    pub bitesized_text: String,
    /// CSV column the documentation rule reads; blank = off.
    pub documentation_type: String,
    /// Comma-separated substrings of the documentation rule.
    pub documentation_text: String,
    /// Copied into `as_appears_in_distribution`.
    pub as_appears_in_distribution: String,
}

impl TicketSettings {
    /// Settings from a tracker record.
    pub fn from_config(config: &TrackerConfig) -> Self {
        TicketSettings {
            tracker_name: config.tracker_name.clone(),
            bitesized_type: config.bitesized_type.trim().to_owned(),
            bitesized_text: config.bitesized_text.clone(),
            documentation_type: config.documentation_type.trim().to_owned(),
            documentation_text: config.documentation_text.clone(),
            as_appears_in_distribution: config.as_appears_in_distribution.clone(),
        }
    }

    /// Settings with only a tracker name (rules off).
    pub fn new(tracker_name: impl Into<String>) -> Self {
        TicketSettings {
            tracker_name: tracker_name.into(),
            ..TicketSettings::default()
        }
    }

    /// Sets the bite-size rule.
    pub fn with_bitesized(mut self, column: &str, text: &str) -> Self {
        self.bitesized_type = column.trim().to_owned();
        self.bitesized_text = text.to_owned();
        self
    }

    /// Sets the documentation rule.
    pub fn with_documentation(mut self, column: &str, text: &str) -> Self {
        self.documentation_type = column.trim().to_owned();
        self.documentation_text = text.to_owned();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::{time::parse_datetime, Query};

    #[test]
    fn since_prefers_bugs_last_polled_and_ignores_the_epoch_placeholder() {
        let mut c = TrackerConfig::new("T", "trac");
        c.base_url = "http://t/".into();
        let opts = TracOptions::from_config(&c).unwrap();
        assert_eq!(opts.incremental_since(&c), None);

        let mut q1 = Query::new("http://t/query?format=csv&id=1");
        q1.last_polled = parse_datetime("1970-01-01T00:00:00");
        c.queries = vec![q1];
        assert_eq!(opts.incremental_since(&c), None, "1970 = never polled");

        let mut q2 = Query::new("http://t/query?format=csv&id=2");
        q2.last_polled = parse_datetime("2026-11-20T10:00:00");
        let mut q3 = Query::new("http://t/query?format=csv&id=3");
        q3.last_polled = parse_datetime("2026-11-21T10:00:00");
        c.queries = vec![q2.clone(), q3];
        assert_eq!(opts.incremental_since(&c), q2.last_polled);

        c.queries.push(Query::new("http://t/query?format=csv&id=4"));
        assert_eq!(
            opts.incremental_since(&c),
            None,
            "one query without last_polled"
        );

        c.extra
            .insert("bugs_last_polled".into(), "2026-11-19T09:00:00".into());
        let opts = TracOptions::from_config(&c).unwrap();
        assert_eq!(
            opts.incremental_since(&c),
            parse_datetime("2026-11-19T09:00:00")
        );
    }

    #[test]
    fn bad_bugs_last_polled_is_a_config_error() {
        let mut c = TrackerConfig::new("T", "trac");
        c.extra
            .insert("bugs_last_polled".into(), "yesterday".into());
        assert!(TracOptions::from_config(&c).is_err());
    }
}
