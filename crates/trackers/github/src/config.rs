//! The GitHub-specific configuration keys, typed and checked.

use bugimporters_core::forge::{blank_as_none, text, ForgeOptions};
use bugimporters_core::{ConfigKey, Error, LinkScope, TrackerConfig};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::parser::ParseSettings;

/// The public GitHub API; GitHub Enterprise Server uses `https://HOST/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Environment variable holding bearer token(s), comma-separated, unless `token_env` says
/// otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "GITHUB_TOKEN";
/// The original's basic-auth user variable.
pub const DEFAULT_USERNAME_ENV: &str = "GITHUB_USERNAME";
/// The original's basic-auth token variable.
pub const DEFAULT_PAT_ENV: &str = "GITHUB_PERSONAL_ACCESS_TOKEN";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "github_name",
        description: "owner of the repository: user or organisation (github.com/<github_name>/...)",
        required: true,
    },
    ConfigKey {
        name: "github_repo",
        description: "repository name (github.com/<github_name>/<github_repo>)",
        required: true,
    },
    ConfigKey {
        name: "bitesized_tag",
        description: "comma-separated label names (exact, untrimmed) that make a bug good_for_newcomers",
        required: false,
    },
    ConfigKey {
        name: "documentation_tag",
        description: "comma-separated label names (exact, untrimmed) that make a bug concerns_just_documentation",
        required: false,
    },
    ConfigKey {
        name: "api_url",
        description: "API root, default https://api.github.com; GitHub Enterprise: https://HOST/api/v3",
        required: false,
    },
    ConfigKey {
        name: "github_api",
        description: "how open-issue queries are listed: rest (default) or graphql (up to 50 repositories of the process per GraphQL query; REST still for filtered queries, refreshes of held bugs and listings with stored validators)",
        required: false,
    },
    ConfigKey {
        name: "token_env",
        description: "environment variable holding bearer token(s), comma-separated (default GITHUB_TOKEN)",
        required: false,
    },
    ConfigKey {
        name: "username_env",
        description: "environment variable with the basic-auth user (default GITHUB_USERNAME)",
        required: false,
    },
    ConfigKey {
        name: "personal_access_token_env",
        description: "environment variable with the basic-auth token (default GITHUB_PERSONAL_ACCESS_TOKEN)",
        required: false,
    },
];

/// Which API lists a tracker's open-issue queries (`github_api`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum GitHubApi {
    /// The REST API v3 for everything (the default).
    #[default]
    Rest,
    /// GraphQL for the listing of open issues (see `docs/trackers/github.md`, "GraphQL").
    Graphql,
}

fn api_choice<'de, D: Deserializer<'de>>(d: D) -> Result<GitHubApi, D::Error> {
    match Option::<String>::deserialize(d)?.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(GitHubApi::Rest),
        Some(s) if s.is_empty() || s == "rest" => Ok(GitHubApi::Rest),
        Some(s) if s == "graphql" => Ok(GitHubApi::Graphql),
        Some(s) => Err(serde::de::Error::custom(format!(
            "github_api {s:?} is neither \"rest\" nor \"graphql\""
        ))),
    }
}

/// The GitHub keys of a tracker record, as written, besides the label rules of the common
/// forge keys ([`ForgeOptions`]; `token_env` is read here too: GitHub's may hold several
/// tokens).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GitHubOptions {
    /// Repository owner.
    #[serde(deserialize_with = "text")]
    pub github_name: String,
    /// Repository name.
    #[serde(deserialize_with = "text")]
    pub github_repo: String,
    /// API root (GitHub Enterprise); `None` = [`DEFAULT_API_URL`].
    #[serde(deserialize_with = "blank_as_none")]
    pub api_url: Option<String>,
    /// `github_api`: `rest` (default) or `graphql`.
    #[serde(deserialize_with = "api_choice")]
    pub github_api: GitHubApi,
    /// Bearer token variable; `None` = [`DEFAULT_TOKEN_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub token_env: Option<String>,
    /// Basic-auth user variable; `None` = [`DEFAULT_USERNAME_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub username_env: Option<String>,
    /// Basic-auth token variable; `None` = [`DEFAULT_PAT_ENV`].
    #[serde(deserialize_with = "blank_as_none")]
    pub personal_access_token_env: Option<String>,
}

impl GitHubOptions {
    /// Reads the GitHub keys of `config` (unknown keys are the registry's business).
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        config.options()
    }

    /// The label rules (`bitesized_tag`, `documentation_tag`, as written) and names the
    /// parser needs.
    pub fn parse_settings(config: &TrackerConfig) -> Result<ParseSettings, Error> {
        let common = ForgeOptions::from_config(config)?;
        Ok(ParseSettings::new(
            config.tracker_name.clone(),
            common.bitesized_tag,
            common.documentation_tag,
        ))
    }

    /// Checks the keys and resolves the repository and API root. Errors name the key.
    pub fn repo(&self) -> Result<Repo, Error> {
        let owner = self.github_name.trim();
        let repo = self.github_repo.trim();
        check_name("github_name", owner)?;
        check_name("github_repo", repo)?;
        let api_text = self.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
        let api = Url::parse(api_text)
            .map_err(|e| Error::config(format!("api_url {api_text:?} is not a URL: {e}")))?;
        if !matches!(api.scheme(), "http" | "https") || api.host_str().is_none() {
            return Err(Error::config(format!(
                "api_url {api_text:?} must be an http(s) URL with a host"
            )));
        }
        if api.query().is_some() || api.fragment().is_some() {
            return Err(Error::config(format!(
                "api_url {api_text:?} must not have a query or fragment"
            )));
        }
        for (key, value) in [
            ("token_env", &self.token_env),
            ("username_env", &self.username_env),
            ("personal_access_token_env", &self.personal_access_token_env),
        ] {
            if let Some(v) = value {
                bugimporters_core::redact::check_env_name(key, v)?;
            }
        }
        Ok(Repo {
            api: api.as_str().trim_end_matches('/').to_owned(),
            owner: owner.to_owned(),
            name: repo.to_owned(),
        })
    }

    /// The bearer-token variable name.
    pub fn token_env(&self) -> &str {
        self.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV)
    }

    /// The basic-auth variable names (user, token).
    pub fn basic_env(&self) -> (&str, &str) {
        (
            self.username_env.as_deref().unwrap_or(DEFAULT_USERNAME_ENV),
            self.personal_access_token_env
                .as_deref()
                .unwrap_or(DEFAULT_PAT_ENV),
        )
    }
}

fn check_name(key: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::config(format!("{key} is required")));
    }
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && value != "."
        && value != "..";
    if !ok {
        return Err(Error::config(format!(
            "{key} {value:?} is not a GitHub name (letters, digits, '-', '_', '.')"
        )));
    }
    Ok(())
}

/// A repository on one API root, with the URLs the importer builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// API root without a trailing slash.
    pub api: String,
    /// Owner.
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl Repo {
    /// The web root issue pages live under, without a trailing slash: `https://github.com` for
    /// the public API; for an Enterprise root the same origin with `/api/v3` (or `/api`)
    /// dropped from the path (`https://ghe.example/api/v3` → `https://ghe.example`), and an
    /// `api.` host prefix dropped (`https://api.acme.ghe.com` → `https://acme.ghe.com`).
    pub fn web_root(&self) -> String {
        if self.api == DEFAULT_API_URL {
            return "https://github.com".to_owned();
        }
        let Ok(mut url) = Url::parse(&self.api) else {
            return self.api.clone();
        };
        let path = url.path().trim_end_matches('/').to_owned();
        let path = path
            .strip_suffix("/api/v3")
            .or_else(|| path.strip_suffix("/api"))
            .unwrap_or(&path)
            .to_owned();
        url.set_path(&path);
        if let Some(web_host) = url
            .host_str()
            .and_then(|h| h.strip_prefix("api."))
            .map(str::to_owned)
        {
            if web_host.contains('.') {
                let _ = url.set_host(Some(&web_host));
            }
        }
        url.as_str().trim_end_matches('/').to_owned()
    }

    /// The links this repository owns: its issue and pull-request pages,
    /// `{web root}/{owner}/{repo}/issues/N` and `.../pull/N` (owner and repo compare
    /// case-insensitively, as GitHub's do).
    pub fn link_scope(&self) -> Result<LinkScope, Error> {
        let base = format!("{}/{}/{}", self.web_root(), self.owner, self.name);
        LinkScope::none()
            .with_ignore_case(&format!("{base}/issues/"))?
            .with_ignore_case(&format!("{base}/pull/"))
    }

    /// `GET /repos/{owner}/{repo}/issues`, without parameters.
    pub fn issues_url(&self) -> String {
        format!("{}/repos/{}/{}/issues", self.api, self.owner, self.name)
    }

    /// `url` parsed, when it is this repository's issue list (`issues_url`, on the same
    /// origin; the path compared case-insensitively, as GitHub does), whatever its query.
    pub fn parse_issue_list(&self, url: &str) -> Option<Url> {
        let (u, expected) = (Url::parse(url).ok()?, Url::parse(&self.issues_url()).ok()?);
        let same = u.origin() == expected.origin()
            && u.path()
                .trim_end_matches('/')
                .eq_ignore_ascii_case(expected.path());
        same.then_some(u)
    }

    /// The query used when the configuration has none: every issue, open and closed, 100
    /// per page.
    pub fn default_query(&self) -> String {
        format!("{}?state=all&per_page=100", self.issues_url())
    }

    /// Whether `url` is on the API root's origin (scheme, host and port), the only place
    /// credentials are sent.
    pub fn same_origin(&self, url: &Url) -> bool {
        Url::parse(&self.api).is_ok_and(|api| api.origin() == url.origin())
    }

    /// Rewrites a URL of the public API (`https://api.github.com/...`, as the original host
    /// always exported) onto this API root when it is a GitHub Enterprise root.
    pub fn rebase(&self, url: &str) -> String {
        let public = DEFAULT_API_URL;
        if self.api == public {
            return url.to_owned();
        }
        match url.strip_prefix(public) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", self.api),
            _ => url.to_owned(),
        }
    }

    /// The API URL of the issue a bug link names: `.../{owner}/{repo}/issues/{n}` (or
    /// `/pull/{n}`, pull requests the original imported) becomes
    /// `{api}/repos/{owner}/{repo}/issues/{n}`. `None` when the link is not of that shape.
    pub fn issue_api_url(&self, link: &str) -> Option<String> {
        let (owner, repo, _, number) = issue_link_parts(link)?;
        Some(format!("{}/repos/{owner}/{repo}/issues/{number}", self.api))
    }
}

/// `(owner, repo, "issues" | "pull", number)` of an issue or pull-request page URL.
pub fn issue_link_parts(link: &str) -> Option<(String, String, String, u64)> {
    let url = Url::parse(link).ok()?;
    let segs: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let [.., owner, repo, kind, number] = segs.as_slice() else {
        return None;
    };
    if !matches!(*kind, "issues" | "pull") {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    Some((
        (*owner).to_owned(),
        (*repo).to_owned(),
        (*kind).to_owned(),
        number,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(name: &str, repo: &str, api: Option<&str>) -> GitHubOptions {
        GitHubOptions {
            github_name: name.into(),
            github_repo: repo.into(),
            api_url: api.map(str::to_owned),
            ..GitHubOptions::default()
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(opts("openhatch", "oh-mainline", None).repo().is_ok());
        assert!(opts("a", "b.c_d-1", None).repo().is_ok());
        for (n, r) in [
            ("", "x"),
            ("x", ""),
            ("a/b", "x"),
            ("x", ".."),
            ("x", "a b"),
        ] {
            assert!(opts(n, r, None).repo().is_err(), "{n}/{r}");
        }
        assert!(opts("a", "b", Some("ftp://x")).repo().is_err());
        assert!(opts("a", "b", Some("https://x/api/v3?x=1")).repo().is_err());
    }

    #[test]
    fn urls() {
        let r = opts("o", "r", Some("https://ghe.example/api/v3/"))
            .repo()
            .unwrap();
        assert_eq!(
            r.issues_url(),
            "https://ghe.example/api/v3/repos/o/r/issues"
        );
        assert_eq!(
            r.rebase("https://api.github.com/repos/o/r/issues?state=open"),
            "https://ghe.example/api/v3/repos/o/r/issues?state=open"
        );
        assert_eq!(
            r.rebase("https://api.github.community/x"),
            "https://api.github.community/x"
        );
        assert_eq!(
            r.issue_api_url("https://ghe.example/o/r/issues/12")
                .as_deref(),
            Some("https://ghe.example/api/v3/repos/o/r/issues/12")
        );
        assert_eq!(
            r.issue_api_url("https://github.com/x/y/pull/3").as_deref(),
            Some("https://ghe.example/api/v3/repos/x/y/issues/3")
        );
        assert_eq!(r.issue_api_url("https://github.com/x/y/issues"), None);
        assert_eq!(r.issue_api_url("not a url"), None);
        let public = opts("o", "r", None).repo().unwrap();
        assert_eq!(
            public.rebase("https://api.github.com/x"),
            "https://api.github.com/x"
        );
        assert!(public.same_origin(&Url::parse("https://api.github.com/repos/x").unwrap()));
        assert!(!public.same_origin(&Url::parse("http://api.github.com/repos/x").unwrap()));
        assert!(!public.same_origin(&Url::parse("https://evil.example/repos/x").unwrap()));
    }
}
