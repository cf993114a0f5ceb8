//! The Jira-specific configuration keys, typed and checked.

use bugimporters_core::forge::blank_as_none;
use bugimporters_core::{ConfigKey, Error, TrackerConfig};
use serde::Deserialize;
use url::Url;

use crate::parser::{BitesizedRule, ParseSettings};

/// Environment variable with the Atlassian account e-mail (Basic auth with an API token).
pub const DEFAULT_EMAIL_ENV: &str = "JIRA_EMAIL";
/// Environment variable with the Atlassian API token (Basic auth with the e-mail).
pub const DEFAULT_API_TOKEN_ENV: &str = "JIRA_API_TOKEN";
/// Environment variable with a personal access token (Bearer; Jira Server/Data Center).
pub const DEFAULT_TOKEN_ENV: &str = "JIRA_TOKEN";

/// The keys `bugimporters trackers` lists for this type (besides the common ones:
/// `base_url`, `bitesized_type` = `label` | `priority` | blank, `bitesized_text`,
/// `documentation_text`).
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "api_url",
        description: "Jira root for REST calls when it is not the root of the query URLs, e.g. https://issues.example.org/jira (default: taken from the first query or get_older_bug_data URL, else the host of base_url)",
        required: false,
    },
    ConfigKey {
        name: "email_env",
        description: "environment variable with the account e-mail for Basic auth (default JIRA_EMAIL)",
        required: false,
    },
    ConfigKey {
        name: "api_token_env",
        description: "environment variable with the API token for Basic auth (default JIRA_API_TOKEN)",
        required: false,
    },
    ConfigKey {
        name: "token_env",
        description: "environment variable with a personal access token sent as Bearer (default JIRA_TOKEN)",
        required: false,
    },
];

/// The Jira keys of a tracker record, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct JiraOptions {
    /// REST root (`https://host/context`); `None` = derived (see [`JiraOptions::api_root`]).
    #[serde(deserialize_with = "blank_as_none")]
    pub api_url: Option<String>,
    /// E-mail variable; `None` = [`DEFAULT_EMAIL_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub email_env: Option<String>,
    /// API-token variable; `None` = [`DEFAULT_API_TOKEN_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub api_token_env: Option<String>,
    /// Bearer-token variable; `None` = [`DEFAULT_TOKEN_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub token_env: Option<String>,
}

impl JiraOptions {
    /// Reads and checks the Jira keys of `config`. Errors name the key.
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let o: JiraOptions = config.options()?;
        for (key, value) in [
            ("email_env", &o.email_env),
            ("api_token_env", &o.api_token_env),
            ("token_env", &o.token_env),
        ] {
            if let Some(v) = value {
                bugimporters_core::redact::check_env_name(key, v)?;
            }
        }
        if let Some(api) = &o.api_url {
            let u = Url::parse(api)
                .map_err(|e| Error::config(format!("api_url {api:?} is not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(Error::config(format!(
                    "api_url {api:?} must be an http(s) URL with a host"
                )));
            }
        }
        Ok(o)
    }

    /// The variable names `(email, api_token, bearer)`.
    pub fn env_names(&self) -> (&str, &str, &str) {
        (
            self.email_env.as_deref().unwrap_or(DEFAULT_EMAIL_ENV),
            self.api_token_env
                .as_deref()
                .unwrap_or(DEFAULT_API_TOKEN_ENV),
            self.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV),
        )
    }

    /// The origins credentials may go to: `base_url`'s (the site whose links the host holds)
    /// and `api_url`'s when it is set; never an origin that only a query names (a query URL
    /// is the host's data and may point anywhere, so a REST root derived from it gets no
    /// credentials unless it is on one of these).
    pub fn credential_origins(&self, config: &TrackerConfig) -> Result<Vec<url::Origin>, Error> {
        let mut origins = vec![config.base_url_with_slash()?.origin()];
        if let Some(api) = &self.api_url {
            let api = Url::parse(api)
                .map_err(|e| Error::config(format!("api_url {api:?} is not a URL: {e}")))?;
            origins.push(api.origin());
        }
        Ok(origins)
    }

    /// The REST root without a trailing slash: `api_url`; else the part before `/rest/api/`
    /// of the first query URL or of `get_older_bug_data`; else scheme and host of
    /// `base_url` (where the original's `/browse/` links point too).
    pub fn api_root(&self, config: &TrackerConfig) -> Result<String, Error> {
        if let Some(api) = &self.api_url {
            return Ok(api.trim_end_matches('/').to_owned());
        }
        let candidates = config
            .queries
            .iter()
            .map(|q| q.url.as_str())
            .chain(config.get_older_bug_data.as_deref());
        for c in candidates {
            if let Some(i) = c.find("/rest/api/") {
                if let Some(root) = c.get(..i) {
                    if Url::parse(root).is_ok() {
                        return Ok(root.to_owned());
                    }
                }
            }
        }
        let base = config.base_url_with_slash()?;
        let root = base
            .join("/")
            .map_err(|e| Error::config(format!("base_url: {e}")))?;
        Ok(root.as_str().trim_end_matches('/').to_owned())
    }
}

/// The parse settings of `config`: project name, `base_url` for links, and the rules.
pub fn parse_settings(config: &TrackerConfig) -> Result<ParseSettings, Error> {
    let base = config.base_url_with_slash()?;
    let rule = match config.bitesized_type.trim() {
        "" => BitesizedRule::Off,
        "label" => BitesizedRule::Label(config.bitesized_text.clone()),
        "priority" => BitesizedRule::Priority(config.bitesized_text.clone()),
        other => BitesizedRule::Other(other.to_owned()),
    };
    Ok(ParseSettings {
        project_name: config.tracker_name.clone(),
        base_url: base,
        bitesized: rule,
        documentation_text: config.documentation_text.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::Query;

    fn cfg() -> TrackerConfig {
        let mut c = TrackerConfig::new("t", "jira");
        c.base_url = "http://jira.example.org/browse/".into();
        c
    }

    #[test]
    fn api_root_from_query_or_base() {
        let mut c = cfg();
        let o = JiraOptions::from_config(&c).unwrap();
        assert_eq!(o.api_root(&c).unwrap(), "http://jira.example.org");
        c.queries = vec![Query::new(
            "https://issues.example.org/jira/rest/api/2/search?jql=x",
        )];
        assert_eq!(o.api_root(&c).unwrap(), "https://issues.example.org/jira");
        c.extra
            .insert("api_url".into(), "https://other.example/j/".into());
        let o = JiraOptions::from_config(&c).unwrap();
        assert_eq!(o.api_root(&c).unwrap(), "https://other.example/j");
    }

    #[test]
    fn credentials_go_to_base_url_or_api_url_never_to_a_query_only_origin() {
        let mut c = cfg();
        c.queries = vec![Query::new(
            "https://issues.example.org/jira/rest/api/2/search?jql=x",
        )];
        let o = JiraOptions::from_config(&c).unwrap();
        let origins = o.credential_origins(&c).unwrap();
        assert_eq!(origins.len(), 1);
        assert_eq!(
            origins[0],
            Url::parse("http://jira.example.org/").unwrap().origin()
        );
        c.extra
            .insert("api_url".into(), "https://issues.example.org/jira".into());
        let o = JiraOptions::from_config(&c).unwrap();
        let origins = o.credential_origins(&c).unwrap();
        assert!(origins.contains(&Url::parse("https://issues.example.org/").unwrap().origin()));
    }

    #[test]
    fn bad_keys_are_named() {
        let mut c = cfg();
        c.extra.insert("token_env".into(), "A B".into());
        let e = JiraOptions::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("token_env"), "{e}");
        let mut c = cfg();
        c.extra.insert("api_url".into(), "ftp://x".into());
        assert!(JiraOptions::from_config(&c).is_err());
    }

    #[test]
    fn rules() {
        let mut c = cfg();
        assert!(matches!(
            parse_settings(&c).unwrap().bitesized,
            BitesizedRule::Off
        ));
        c.bitesized_type = "priority".into();
        c.bitesized_text = "Trivial".into();
        assert!(matches!(
            parse_settings(&c).unwrap().bitesized,
            BitesizedRule::Priority(ref t) if t == "Trivial"
        ));
    }
}
