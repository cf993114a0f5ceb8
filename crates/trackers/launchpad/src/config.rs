//! The Launchpad-specific configuration keys, typed and checked.

use bugimporters_core::forge::{blank_as_none, text};
use bugimporters_core::{ConfigKey, Error, LinkScope, TrackerConfig};
use serde::Deserialize;
use url::Url;

use crate::parser::ParseSettings;

/// The public Launchpad web-service root the original used.
pub const DEFAULT_API_URL: &str = "https://api.launchpad.net/1.0";

/// The public Launchpad web root bug links point to.
pub const DEFAULT_WEB_URL: &str = "https://bugs.launchpad.net";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "launchpad_name",
        description: "project name on Launchpad (launchpad.net/<launchpad_name>)",
        required: true,
    },
    ConfigKey {
        name: "bitesized_tag",
        description: "one tag (exact, not a list) that makes a bug good_for_newcomers",
        required: false,
    },
    ConfigKey {
        name: "documentation_tag",
        description: "one tag (exact, not a list) that makes a bug concerns_just_documentation",
        required: false,
    },
    ConfigKey {
        name: "api_url",
        description: "web-service root, default https://api.launchpad.net/1.0 (e.g. .../devel, or a staging instance)",
        required: false,
    },
];

/// The Launchpad keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LaunchpadOptions {
    /// Project name on Launchpad.
    #[serde(deserialize_with = "text")]
    pub launchpad_name: String,
    /// The bite-size tag.
    #[serde(deserialize_with = "text")]
    pub bitesized_tag: String,
    /// The documentation tag.
    #[serde(deserialize_with = "text")]
    pub documentation_tag: String,
    /// Web-service root; `None` = [`DEFAULT_API_URL`].
    #[serde(deserialize_with = "blank_as_none")]
    pub api_url: Option<String>,
}

impl LaunchpadOptions {
    /// Reads and checks the Launchpad keys of `config`. Errors name the key.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let o: LaunchpadOptions = config.options()?;
        if let Some(api) = &o.api_url {
            let u = Url::parse(api)
                .map_err(|e| Error::config(format!("api_url {api:?} is not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(Error::config(format!(
                    "api_url {api:?} must be an http(s) URL with a host"
                )));
            }
        }
        let name = o.launchpad_name.trim();
        if !name.is_empty()
            && !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'+'))
        {
            return Err(Error::config(format!(
                "launchpad_name {name:?} is not a Launchpad name (letters, digits, '-', '.', '+')"
            )));
        }
        Ok(o)
    }

    /// The web-service root without a trailing slash.
    pub fn api_root(&self) -> String {
        self.api_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
            .to_owned()
    }

    /// The links this project owns: `https://bugs.launchpad.net/{launchpad_name}/...` and,
    /// for another `api_url`, the same path on its web host (`api.X` → `bugs.X`, the
    /// version segment `1.0`/`devel`/`beta` dropped from the path).
    pub fn link_scope(&self) -> Result<LinkScope, Error> {
        let name = self.launchpad_name.trim();
        if name.is_empty() {
            return Err(Error::config("launchpad_name is required"));
        }
        let scope = LinkScope::under(&format!("{DEFAULT_WEB_URL}/{name}/"))?;
        if self.api_url.is_none() {
            return Ok(scope);
        }
        let mut web =
            Url::parse(&self.api_root()).map_err(|e| Error::config(format!("api_url: {e}")))?;
        if let Some(host) = web
            .host_str()
            .and_then(|h| h.strip_prefix("api."))
            .map(|h| format!("bugs.{h}"))
        {
            let _ = web.set_host(Some(&host));
        }
        let path = web.path().trim_end_matches('/').to_owned();
        let path = ["/1.0", "/devel", "/beta"]
            .iter()
            .find_map(|v| path.strip_suffix(v))
            .unwrap_or(&path)
            .to_owned();
        web.set_path(&format!("{path}/{name}/"));
        scope.with(web.as_str())
    }

    /// The parse settings for a tracker named `tracker_name`.
    pub fn parse_settings(&self, tracker_name: &str) -> ParseSettings {
        ParseSettings::new(
            tracker_name,
            self.bitesized_tag.clone(),
            self.documentation_tag.clone(),
        )
    }
}

/// `(project, bug number)` of a web bug link `https://bugs.launchpad.net/<project>/+bug/<n>`
/// (also `.../<distro>/+source/<package>/+bug/<n>`: the project is the segment before
/// `+bug`'s parent chain, i.e. everything between the host and `/+bug/`).
pub fn bug_link_parts(link: &str) -> Option<(String, u64)> {
    let url = Url::parse(link.trim()).ok()?;
    let segs: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let [target @ .., "+bug", number] = segs.as_slice() else {
        return None;
    };
    if target.is_empty() {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    Some((target.join("/"), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(
            bug_link_parts("https://bugs.launchpad.net/bzr/+bug/839461"),
            Some(("bzr".to_owned(), 839461))
        );
        assert_eq!(
            bug_link_parts("https://bugs.launchpad.net/ubuntu/+source/bzr/+bug/12"),
            Some(("ubuntu/+source/bzr".to_owned(), 12))
        );
        assert_eq!(bug_link_parts("https://bugs.launchpad.net/+bug/12"), None);
        assert_eq!(
            bug_link_parts("https://bugs.launchpad.net/bzr/+bug/x"),
            None
        );
        assert_eq!(bug_link_parts("nope"), None);
    }

    #[test]
    fn keys() {
        let mut c = TrackerConfig::new("t", "launchpad");
        c.extra.insert("launchpad_name".into(), "bzr".into());
        let o = LaunchpadOptions::from_config(&c).unwrap();
        assert_eq!(o.api_root(), DEFAULT_API_URL);
        c.extra.insert("launchpad_name".into(), "a/b".into());
        assert!(LaunchpadOptions::from_config(&c)
            .unwrap_err()
            .to_string()
            .contains("launchpad_name"));
        let mut c = TrackerConfig::new("t", "launchpad");
        c.extra.insert("api_url".into(), "ftp://x".into());
        assert!(LaunchpadOptions::from_config(&c).is_err());
    }
}
