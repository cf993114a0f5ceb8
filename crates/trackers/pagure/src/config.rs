//! The Pagure-specific configuration keys, typed and checked.

pub use bugimporters_core::forge::label_rule;
use bugimporters_core::forge::{flag, instance_base, path_segments_under, text, ForgeOptions};
use bugimporters_core::{ConfigKey, Error, TrackerConfig};
use serde::Deserialize;
use url::Url;

/// The instance used when `base_url` is empty.
pub const DEFAULT_BASE_URL: &str = "https://pagure.io";
/// Environment variable holding the access token unless `token_env` says otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "PAGURE_TOKEN";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "project",
        description: "project as [namespace/]repo (or fork/USER/[namespace/]repo)",
        required: true,
    },
    ConfigKey {
        name: "bitesized_tag",
        description: "comma-separated tag names (exact; pieces trimmed) that make a bug good_for_newcomers; else bitesized_text when bitesized_type is `label`",
        required: false,
    },
    ConfigKey {
        name: "documentation_tag",
        description: "comma-separated tag names (exact; pieces trimmed) that make a bug concerns_just_documentation; else documentation_text when documentation_type is `label`",
        required: false,
    },
    ConfigKey {
        name: "token_env",
        description: "environment variable holding an API token, sent as `Authorization: token ...` (default PAGURE_TOKEN)",
        required: false,
    },
    ConfigKey {
        name: "include_confidential",
        description: "import private issues too (default false: they are skipped)",
        required: false,
    },
];

/// The Pagure keys of a tracker record, as written, besides the common forge keys
/// (`bitesized_tag`, `documentation_tag`, `token_env`: [`ForgeOptions`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PagureOptions {
    /// Project path (`[namespace/]repo`, `fork/user/[namespace/]repo`).
    #[serde(deserialize_with = "text")]
    pub project: String,
    /// Import private issues.
    #[serde(deserialize_with = "flag")]
    pub include_confidential: bool,
}

impl PagureOptions {
    /// Reads the Pagure keys of `config` (unknown keys are the registry's business).
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        config.options()
    }

    /// Checks the keys and resolves the instance and project. Errors name the key.
    pub fn project(&self, config: &TrackerConfig) -> Result<PagureProject, Error> {
        let path = self.project.trim().trim_matches('/');
        let segs: Vec<&str> = path.split('/').collect();
        let shape_ok = match segs.as_slice() {
            [_] | [_, _] => segs.first() != Some(&"fork"),
            ["fork", _, _] | ["fork", _, _, _] => true,
            _ => false,
        };
        if path.is_empty() || !shape_ok {
            return Err(Error::config(format!(
                "project {path:?} must be [namespace/]repo, or fork/USER/[namespace/]repo"
            )));
        }
        let ok = segs.iter().all(|seg| {
            !seg.is_empty()
                && *seg != "."
                && *seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
        if !ok {
            return Err(Error::config(format!(
                "project {path:?} is not a Pagure project path (letters, digits, '-', '_', '.')"
            )));
        }
        ForgeOptions::from_config(config)?.check(config)?;
        let base = instance_base(config, DEFAULT_BASE_URL)?;
        Ok(PagureProject {
            base,
            path: path.to_owned(),
        })
    }
}

/// A project on one Pagure instance, with the URLs the importer builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagureProject {
    /// Web root of the instance without a trailing slash (`https://pagure.io`).
    pub base: String,
    /// Project path (`namespace/repo`, `repo`, `fork/user/repo`).
    pub path: String,
}

impl PagureProject {
    /// `{base}/api/0`.
    pub fn api_root(&self) -> String {
        format!("{}/api/0", self.base)
    }

    /// The project's web page, `{base}/{path}`.
    pub fn web_root(&self) -> String {
        format!("{}/{}", self.base, self.path)
    }

    /// `GET /api/0/{path}/issues` of this project, without parameters.
    pub fn issues_url(&self) -> String {
        format!("{}/{}/issues", self.api_root(), self.path)
    }

    /// The query used when the configuration has none: every issue, both states,
    /// [`crate::PER_PAGE`] per page.
    pub fn default_query(&self) -> String {
        format!(
            "{}?status=all&per_page={}",
            self.issues_url(),
            crate::PER_PAGE
        )
    }

    /// Whether `url` is on the instance's origin (scheme, host, port): the only place the
    /// token is sent.
    pub fn same_origin(&self, url: &Url) -> bool {
        Url::parse(&self.base).is_ok_and(|b| b.origin() == url.origin())
    }

    /// `(project path, id)` of an issue page of this instance (its path; the origin may be a former one), `{base}/{path}/issue/{id}`.
    /// `None` for anything else.
    pub fn issue_of_link(&self, link: &str) -> Option<(String, u64)> {
        let segs = path_segments_under(&self.base, link)?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let [project @ .., "issue", id] = segs.as_slice() else {
            return None;
        };
        if project.is_empty() || project.len() > 4 {
            return None;
        }
        Some((project.join("/"), id.parse().ok()?))
    }

    /// `GET /api/0/{path}/issue/{id}` of an issue page link, on this instance.
    pub fn issue_api_url(&self, link: &str) -> Option<String> {
        let (path, id) = self.issue_of_link(link)?;
        Some(format!("{}/{path}/issue/{id}", self.api_root()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str, project: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("t", "pagure");
        c.base_url = base.into();
        c.extra.insert("project".into(), project.into());
        c
    }

    fn project(base: &str, path: &str) -> Result<PagureProject, Error> {
        let c = config(base, path);
        PagureOptions::from_config(&c)?.project(&c)
    }

    #[test]
    fn paths_are_checked() {
        let p = project("", "fedora-infra/ansible").unwrap();
        assert_eq!(p.base, "https://pagure.io");
        assert_eq!(
            p.default_query(),
            "https://pagure.io/api/0/fedora-infra/ansible/issues?status=all&per_page=100"
        );
        assert_eq!(p.web_root(), "https://pagure.io/fedora-infra/ansible");
        assert!(project("", "pagure").is_ok());
        assert!(project("", "fork/pingou/pagure").is_ok());
        for bad in ["", "a/b/c", "fork", "fork/x", "a/..", "a b"] {
            assert!(project("", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links() {
        let p = project("https://src.example.org/", "rpms/foo").unwrap();
        assert_eq!(
            p.issue_api_url("https://src.example.org/rpms/foo/issue/12")
                .as_deref(),
            Some("https://src.example.org/api/0/rpms/foo/issue/12")
        );
        assert_eq!(
            p.issue_of_link("https://src.example.org/fork/u/bar/issue/3"),
            Some(("fork/u/bar".to_owned(), 3))
        );
        assert_eq!(
            p.issue_of_link("https://other.org/rpms/foo/issue/3"),
            Some(("rpms/foo".to_owned(), 3)),
            "a moved instance"
        );
        assert_eq!(
            p.issue_of_link("https://src.example.org/rpms/foo/pull-request/3"),
            None
        );
        assert_eq!(p.issue_of_link("https://src.example.org/issue/3"), None);
    }

    #[test]
    fn tag_rules_and_project_names() {
        assert_eq!(label_rule("easyfix", "label", "x"), "easyfix");
        assert_eq!(label_rule("", "tags", "x,y"), "x,y");
        let mut c = config("", "a/b");
        c.bitesized_type = "tag".into();
        c.bitesized_text = "easyfix".into();
        c.extra.insert("include_confidential".into(), true.into());
        let s = <crate::Pagure as bugimporters_core::forge::ForgeType>::parse_settings(&c).unwrap();
        assert_eq!(s.bitesized, "easyfix");
        assert!(s.include_confidential);
        assert_eq!(s.project_name, "t");
    }
}
