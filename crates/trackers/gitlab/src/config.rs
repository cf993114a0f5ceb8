//! The GitLab-specific configuration keys, typed and checked.

pub use bugimporters_core::forge::label_rule;
use bugimporters_core::forge::{
    self, flag, instance_base, path_segments_under, text, ForgeOptions,
};
use bugimporters_core::{ConfigKey, Error, TrackerConfig};
use serde::Deserialize;
use url::Url;

/// The instance used when `base_url` is empty.
pub const DEFAULT_BASE_URL: &str = "https://gitlab.com";
/// Environment variable holding the access token unless `token_env` says otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "GITLAB_TOKEN";

/// The keys `bugimporters trackers` lists for this type.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "project",
        description: "project path with its groups (group/subgroup/project) or numeric project id",
        required: true,
    },
    forge::BITESIZED_LABELS_KEY,
    forge::DOCUMENTATION_LABELS_KEY,
    ConfigKey {
        name: "token_env",
        description: "environment variable holding a personal/project access token, sent as PRIVATE-TOKEN (default GITLAB_TOKEN)",
        required: false,
    },
    ConfigKey {
        name: "fetch_participants",
        description: "count participants (commenters...) in people_involved: one more request per issue (default false: author and assignees)",
        required: false,
    },
    ConfigKey {
        name: "include_confidential",
        description: "import confidential issues too (default false: they are skipped)",
        required: false,
    },
];

/// The GitLab keys of a tracker record, as written, besides the common forge keys
/// (`bitesized_tag`, `documentation_tag`, `token_env`: [`ForgeOptions`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GitLabOptions {
    /// Project path (`group/subgroup/project`) or numeric id.
    #[serde(deserialize_with = "text")]
    pub project: String,
    /// Import confidential issues.
    #[serde(deserialize_with = "flag")]
    pub include_confidential: bool,
    /// Ask for each issue's participants (one request per issue).
    #[serde(deserialize_with = "flag")]
    pub fetch_participants: bool,
}

impl GitLabOptions {
    /// Reads the GitLab keys of `config` (unknown keys are the registry's business).
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        config.options()
    }

    /// Checks the keys and resolves the instance and project. Errors name the key.
    pub fn project(&self, config: &TrackerConfig) -> Result<GitLabProject, Error> {
        let path = self.project.trim().trim_matches('/');
        if path.is_empty() {
            return Err(Error::config(
                "project is required (group/subgroup/project, or the numeric project id)",
            ));
        }
        let ok = path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
        if !ok {
            return Err(Error::config(format!(
                "project {path:?} is not a GitLab project path (group/subgroup/project; letters, digits, '-', '_', '.')"
            )));
        }
        ForgeOptions::from_config(config)?.check(config)?;
        let base = instance_base(config, DEFAULT_BASE_URL)?;
        Ok(GitLabProject {
            base,
            path: path.to_owned(),
        })
    }
}

/// Percent-encodes a project path as one URL path segment (`a/b` → `a%2Fb`).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A project on one GitLab instance, with the URLs the importer builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabProject {
    /// Web root of the instance without a trailing slash (`https://gitlab.com`, or
    /// `https://example.org/gitlab` for an instance under a path).
    pub base: String,
    /// Project path (`group/subgroup/project`) or id.
    pub path: String,
}

impl GitLabProject {
    /// `{base}/api/v4`.
    pub fn api_root(&self) -> String {
        format!("{}/api/v4", self.base)
    }

    /// `GET /projects/:id/issues` of project `path` on this instance, without parameters.
    pub fn issues_url_of(&self, path: &str) -> String {
        format!("{}/projects/{}/issues", self.api_root(), encode_path(path))
    }

    /// This project's issue list, without parameters.
    pub fn issues_url(&self) -> String {
        self.issues_url_of(&self.path)
    }

    /// The query used when the configuration has none: every issue, both states, 100 per
    /// page.
    pub fn default_query(&self) -> String {
        format!("{}?state=all&per_page=100", self.issues_url())
    }

    /// Whether `url` is on the instance's origin (scheme, host, port): the only place the
    /// token is sent.
    pub fn same_origin(&self, url: &Url) -> bool {
        Url::parse(&self.base).is_ok_and(|b| b.origin() == url.origin())
    }

    /// `(project path, iid)` of an issue page of this instance (its path; the origin may be a former one):
    /// `{base}/{path}/-/issues/{iid}` (also `/-/issues/incident/{iid}`, `/-/work_items/{iid}`
    /// and the old `{base}/{path}/issues/{iid}`). `None` for anything else.
    pub fn issue_of_link(&self, link: &str) -> Option<(String, u64)> {
        let segs = path_segments_under(&self.base, link)?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let (iid, before) = segs.split_last()?;
        let iid: u64 = iid.parse().ok()?;
        let project: &[&str] = match before {
            [p @ .., "-", "issues"]
            | [p @ .., "-", "issues", "incident"]
            | [p @ .., "-", "work_items"] => p,
            [p @ .., "issues"] => p,
            _ => return None,
        };
        if project.is_empty() {
            return None;
        }
        Some((project.join("/"), iid))
    }

    /// `GET /projects/:id/issues/:iid` of an issue page link, on this instance.
    pub fn issue_api_url(&self, link: &str) -> Option<String> {
        let (path, iid) = self.issue_of_link(link)?;
        Some(format!("{}/{iid}", self.issues_url_of(&path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str, project: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("t", "gitlab");
        c.base_url = base.into();
        c.extra.insert("project".into(), project.into());
        c
    }

    fn project(base: &str, path: &str) -> Result<GitLabProject, Error> {
        let c = config(base, path);
        GitLabOptions::from_config(&c)?.project(&c)
    }

    #[test]
    fn paths_are_checked_and_encoded() {
        let p = project("", "gitlab-org/sub.group/my_proj").unwrap();
        assert_eq!(p.base, "https://gitlab.com");
        assert_eq!(
            p.default_query(),
            "https://gitlab.com/api/v4/projects/gitlab-org%2Fsub.group%2Fmy_proj/issues?state=all&per_page=100"
        );
        assert!(project("", "").is_err());
        assert!(project("", "a//b").is_err());
        assert!(project("", "a/../b").is_err());
        assert!(project("", "a b").is_err());
        assert!(project("https://h/x?y=1", "a/b").is_err());
        assert_eq!(
            project("", "278964").unwrap().issues_url(),
            "https://gitlab.com/api/v4/projects/278964/issues"
        );
        let mut c = config("", "a/b");
        c.extra.insert("token_env".into(), "X Y".into());
        assert!(GitLabOptions::from_config(&c).unwrap().project(&c).is_err());
    }

    #[test]
    fn links() {
        let p = project("https://example.org/gitlab/", "g/p").unwrap();
        assert_eq!(p.base, "https://example.org/gitlab");
        assert_eq!(
            p.issue_of_link("https://example.org/gitlab/g/sub/p/-/issues/12"),
            Some(("g/sub/p".to_owned(), 12))
        );
        assert_eq!(
            p.issue_api_url("https://example.org/gitlab/g/p/issues/3")
                .as_deref(),
            Some("https://example.org/gitlab/api/v4/projects/g%2Fp/issues/3")
        );
        assert_eq!(
            p.issue_of_link("https://example.org/gitlab/g/p/-/issues/incident/4"),
            Some(("g/p".to_owned(), 4))
        );
        assert_eq!(
            p.issue_of_link("http://old-name.example/g/p/-/issues/3"),
            Some(("g/p".to_owned(), 3)),
            "a moved instance"
        );
        assert_eq!(
            p.issue_of_link("https://example.org/gitlab/g/p/-/merge_requests/3"),
            None
        );
        assert_eq!(
            p.issue_of_link("https://example.org/gitlab/-/issues/3"),
            None
        );
        assert_eq!(p.issue_of_link("not a url"), None);
    }

    #[test]
    fn label_rules_and_project_names() {
        assert_eq!(label_rule("easy", "label", "x"), "easy");
        assert_eq!(label_rule("", "Label", "x,y"), "x,y");
        assert_eq!(label_rule("", "keywords", "x"), "");
        let mut c = config("", "a/b");
        c.bitesized_type = "label".into();
        c.bitesized_text = "good first issue".into();
        c.bug_project_name_format = "{tracker_name} (GitLab)".into();
        let s = ForgeOptions::from_config(&c)
            .unwrap()
            .parse_settings(&c)
            .unwrap();
        assert_eq!(s.bitesized, "good first issue");
        assert_eq!(s.project_name, "t (GitLab)");
        c.bug_project_name_format = "{nope}".into();
        assert!(ForgeOptions::from_config(&c)
            .unwrap()
            .parse_settings(&c)
            .is_err());
    }
}
