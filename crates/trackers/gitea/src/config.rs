//! The Gitea/Forgejo-specific configuration keys, typed and checked.

pub use bugimporters_core::forge::label_rule;
use bugimporters_core::forge::{self, instance_base, path_segments_under, text, ForgeOptions};
use bugimporters_core::{ConfigKey, Error, TrackerConfig};
use serde::Deserialize;
use url::Url;

/// The instance used when `base_url` is empty.
pub const DEFAULT_BASE_URL: &str = "https://codeberg.org";
/// Environment variable holding the access token unless `token_env` says otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "GITEA_TOKEN";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "project",
        description: "repository as owner/repo (user or organisation, then repository)",
        required: true,
    },
    forge::BITESIZED_LABELS_KEY,
    forge::DOCUMENTATION_LABELS_KEY,
    ConfigKey {
        name: "token_env",
        description: "environment variable holding an access token, sent as `Authorization: token ...` (default GITEA_TOKEN)",
        required: false,
    },
];

/// The Gitea keys of a tracker record, as written, besides the common forge keys
/// (`bitesized_tag`, `documentation_tag`, `token_env`: [`bugimporters_core::forge::ForgeOptions`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GiteaOptions {
    /// Repository, `owner/repo`.
    #[serde(deserialize_with = "text")]
    pub project: String,
}

impl GiteaOptions {
    /// Reads the Gitea keys of `config` (unknown keys are the registry's business).
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        config.options()
    }

    /// Checks the keys and resolves the instance and repository. Errors name the key.
    pub fn repo(&self, config: &TrackerConfig) -> Result<GiteaRepo, Error> {
        let path = self.project.trim().trim_matches('/');
        let segs: Vec<&str> = path.split('/').collect();
        let ok = segs.len() == 2
            && segs.iter().all(|seg| {
                !seg.is_empty()
                    && *seg != "."
                    && *seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if !ok {
            return Err(Error::config(format!(
                "project {path:?} must be owner/repo (letters, digits, '-', '_', '.')"
            )));
        }
        ForgeOptions::from_config(config)?.check(config)?;
        let base = instance_base(config, DEFAULT_BASE_URL)?;
        Ok(GiteaRepo {
            base,
            owner: segs[0].to_owned(),
            name: segs[1].to_owned(),
        })
    }
}

/// A repository on one Gitea or Forgejo instance, with the URLs the importer builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiteaRepo {
    /// Web root of the instance without a trailing slash (`https://codeberg.org`).
    pub base: String,
    /// Owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl GiteaRepo {
    /// `{base}/api/v1`.
    pub fn api_root(&self) -> String {
        format!("{}/api/v1", self.base)
    }

    /// `GET /repos/{owner}/{repo}/issues` of this repository, without parameters.
    pub fn issues_url(&self) -> String {
        format!(
            "{}/repos/{}/{}/issues",
            self.api_root(),
            self.owner,
            self.name
        )
    }

    /// The query used when the configuration has none: every issue (no pull requests), both
    /// states, [`crate::PAGE_LIMIT`] per page.
    pub fn default_query(&self) -> String {
        format!(
            "{}?state=all&type=issues&limit={}",
            self.issues_url(),
            crate::PAGE_LIMIT
        )
    }

    /// Whether `url` is on the instance's origin (scheme, host, port): the only place the
    /// token is sent.
    pub fn same_origin(&self, url: &Url) -> bool {
        Url::parse(&self.base).is_ok_and(|b| b.origin() == url.origin())
    }

    /// `(owner, repo, index)` of an issue (or pull request) page of this instance (its path; the origin may be a former one):
    /// `{base}/{owner}/{repo}/issues/{n}` or `.../pulls/{n}`. `None` for anything else.
    pub fn issue_of_link(&self, link: &str) -> Option<(String, String, u64)> {
        let segs = path_segments_under(&self.base, link)?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let [owner, repo, kind, n] = segs.as_slice() else {
            return None;
        };
        if !matches!(*kind, "issues" | "pulls") {
            return None;
        }
        Some(((*owner).to_owned(), (*repo).to_owned(), n.parse().ok()?))
    }

    /// `GET /repos/{owner}/{repo}/issues/{index}` of an issue page link, on this instance.
    pub fn issue_api_url(&self, link: &str) -> Option<String> {
        let (owner, repo, n) = self.issue_of_link(link)?;
        Some(format!(
            "{}/repos/{owner}/{repo}/issues/{n}",
            self.api_root()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str, project: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("t", "gitea");
        c.base_url = base.into();
        c.extra.insert("project".into(), project.into());
        c
    }

    fn repo(base: &str, path: &str) -> Result<GiteaRepo, Error> {
        let c = config(base, path);
        GiteaOptions::from_config(&c)?.repo(&c)
    }

    #[test]
    fn repos_are_checked() {
        let r = repo("", "forgejo/forgejo").unwrap();
        assert_eq!(r.base, "https://codeberg.org");
        assert_eq!(
            r.default_query(),
            "https://codeberg.org/api/v1/repos/forgejo/forgejo/issues?state=all&type=issues&limit=50"
        );
        for bad in ["", "a", "a/b/c", "a/..", "a b/c"] {
            assert!(repo("", bad).is_err(), "{bad}");
        }
        assert!(repo("https://h/?x=1", "a/b").is_err());
    }

    #[test]
    fn links() {
        let r = repo("https://git.example.org/", "o/r").unwrap();
        assert_eq!(
            r.issue_api_url("https://git.example.org/o/r/issues/12")
                .as_deref(),
            Some("https://git.example.org/api/v1/repos/o/r/issues/12")
        );
        assert_eq!(
            r.issue_of_link("https://git.example.org/x/y/pulls/3"),
            Some(("x".to_owned(), "y".to_owned(), 3))
        );
        assert_eq!(
            r.issue_of_link("https://other.org/o/r/issues/3"),
            Some(("o".to_owned(), "r".to_owned(), 3)),
            "a moved instance"
        );
        assert_eq!(r.issue_of_link("https://git.example.org/o/r/issues"), None);
        assert_eq!(r.issue_of_link("https://git.example.org/o/r/wiki/3"), None);
    }

    #[test]
    fn label_rules_and_project_names() {
        assert_eq!(label_rule("easy", "label", "x"), "easy");
        assert_eq!(label_rule("", "labels", "x,y"), "x,y");
        assert_eq!(label_rule("", "", "x"), "");
        let mut c = config("", "a/b");
        c.documentation_type = "label".into();
        c.documentation_text = "Kind/Documentation".into();
        c.bug_project_name_format = "{tracker_name} on Codeberg".into();
        let s = ForgeOptions::from_config(&c)
            .unwrap()
            .parse_settings(&c)
            .unwrap();
        assert_eq!(s.documentation, "Kind/Documentation");
        assert_eq!(s.project_name, "t on Codeberg");
    }
}
