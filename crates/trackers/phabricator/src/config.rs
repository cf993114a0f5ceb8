//! The Phabricator-specific configuration keys, typed and checked.

use bugimporters_core::{forge, ConfigKey, Error, LinkScope, TrackerConfig};
use serde::Deserialize;

/// Environment variable holding a Conduit API token unless `token_env` names another.
pub const DEFAULT_TOKEN_ENV: &str = "PHABRICATOR_TOKEN";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "projects",
        description: "comma-separated project tags (`good_first_task` or `Good first task`): only tasks tagged with all of them",
        required: false,
    },
    ConfigKey {
        name: "bitesized_tag",
        description: "comma-separated project tags that make a task good_for_newcomers",
        required: false,
    },
    ConfigKey {
        name: "documentation_tag",
        description: "comma-separated project tags that make a task concerns_just_documentation",
        required: false,
    },
    ConfigKey {
        name: "token_env",
        description: "environment variable holding a Conduit API token (default PHABRICATOR_TOKEN); without one, reads are anonymous where the instance allows them",
        required: false,
    },
];

/// The Phabricator keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PhabricatorOptions {
    /// Project tags every listed task must carry.
    #[serde(deserialize_with = "forge::text")]
    pub projects: String,
    /// Tags of bite-sized tasks.
    #[serde(deserialize_with = "forge::text")]
    pub bitesized_tag: String,
    /// Tags of documentation tasks.
    #[serde(deserialize_with = "forge::text")]
    pub documentation_tag: String,
    /// Variable holding the API token.
    #[serde(deserialize_with = "forge::blank_as_none")]
    pub token_env: Option<String>,
}

impl PhabricatorOptions {
    /// Reads and checks the Phabricator keys of `config`.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let o: PhabricatorOptions = config.options()?;
        forge::check_token_env(o.token_env.as_deref())?;
        Ok(o)
    }

    /// The variable the token is read from.
    pub fn token_env(&self) -> &str {
        self.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV)
    }
}

/// The instance root of `config` (`https://phabricator.example.org`, no trailing slash);
/// `base_url` is required.
pub fn instance(config: &TrackerConfig) -> Result<String, Error> {
    if config.base_url.trim().is_empty() {
        return Err(Error::config(format!(
            "tracker {}: a phabricator tracker needs base_url (the instance root)",
            config.tracker_name
        )));
    }
    forge::instance_base(config, "")
}

/// The links a tracker owns: the instance's pages. Scopes are whole path segments, so the
/// task pages `{instance}/T<id>` cannot be named more tightly; the importer builds every link
/// itself from a task's numeric id, so a server cannot make it emit any other page.
pub fn link_scope(config: &TrackerConfig) -> Result<LinkScope, Error> {
    LinkScope::under(&format!("{}/", instance(config)?))
}

/// A project tag as Phabricator writes its slug: `#` dropped, trimmed, lower-cased, spaces as
/// `_` (`Good first task` → `good_first_task`).
pub fn slug(tag: &str) -> String {
    tag.trim()
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
}

/// The slugs of a comma-separated list of tags, blanks dropped.
pub fn slugs(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(slug)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_slugs() {
        assert_eq!(slug(" Good first task "), "good_first_task");
        assert_eq!(slug("#Documentation"), "documentation");
        assert_eq!(
            slugs("Good first task, ,#easy"),
            ["good_first_task", "easy"]
        );
    }

    #[test]
    fn base_url_is_required_and_a_pasted_token_is_refused() {
        let mut c = TrackerConfig::new("t", "phabricator");
        assert!(instance(&c).unwrap_err().to_string().contains("base_url"));
        c.base_url = "https://phab.example.org/".into();
        assert_eq!(instance(&c).unwrap(), "https://phab.example.org");
        assert!(link_scope(&c).unwrap().owns("https://phab.example.org/T12"));
        assert!(!link_scope(&c)
            .unwrap()
            .owns("https://other.example.org/T12"));
        c.extra.insert(
            "token_env".into(),
            "api-abcdefghijklmnopqrstuvwxyz12".into(),
        );
        assert!(PhabricatorOptions::from_config(&c).is_err());
    }
}
