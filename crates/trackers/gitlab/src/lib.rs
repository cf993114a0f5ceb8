//! # bugimporters-gitlab
//!
//! The `gitlab` tracker type: the issues of one project on gitlab.com or a self-hosted GitLab,
//! read through the REST API v4.
//!
//! * **Configuration**: `base_url` (the instance, default `https://gitlab.com`), `project`
//!   (`group/subgroup/project` or the numeric id), label rules `bitesized_tag` /
//!   `documentation_tag` (or the common `bitesized_text` with `bitesized_type: label`),
//!   `token_env`, `include_confidential`, `fetch_participants` (opt-in: one request per issue).
//! * **Queries** are issue-list API URLs (`{base}/api/v4/projects/{id}/issues?...`); without
//!   one, every issue of the project (`state=all&per_page=100`). Pages are followed to the
//!   end by `Link: rel="next"` (else `X-Next-Page`). The list API carries every field the
//!   record needs: there is no request per issue.
//! * **Incremental**: `updated_after=` from a query's `last_polled`; the pages of a listing
//!   without a time filter are conditional requests (ETag).
//! * **Existing bugs** are refreshed by listing them by iid (`iids[]=`, 100 a request,
//!   conditional: `304` → `_no_update`); a bug such a listing does not name is asked for alone
//!   (`404` → `_deleted`). After a complete listing of every issue, the held bugs it did not
//!   name are asked for alone directly.
//! * **Confidential** issues are skipped unless `include_confidential: true` (a held bug that
//!   became confidential is deleted). GitLab lists no merge requests in its issues API.
//! * **Credentials**: a token from `GITLAB_TOKEN` (or the variable `token_env` names), sent as
//!   `PRIVATE-TOKEN` to the instance's origin only, never logged. Rate-limit waits
//!   (`RateLimit-*`, `Retry-After`) are the core fetch layer's.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `gitlab-issue-json` and
//! `gitlab-issues-json`. The user documentation is `docs/trackers/gitlab.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_gitlab::parser::{parse_issue, IssueItem, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_gitlab::register(&mut registry);
//! assert_eq!(registry.canonical_kind("gitlab").unwrap(), "gitlab");
//!
//! let body = br#"{"iid": 4, "web_url": "https://gitlab.com/g/p/-/issues/4",
//!   "title": "Crash", "description": null, "state": "opened",
//!   "author": {"username": "ann", "name": "Ann"}, "assignees": [{"username": "bob"}],
//!   "labels": ["easy", "priority::high"], "confidential": false,
//!   "created_at": "2024-01-02T03:04:05.000Z", "updated_at": "2024-01-03T00:00:00.000Z"}"#;
//! let settings = ParseSettings::new("My project", "My project", "easy", "docs");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let IssueItem::Issue(bug) = parse_issue(body, "issue.json", &settings, now).unwrap() else {
//!     panic!("not confidential")
//! };
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.importance.as_deref(), Some("high"));
//! assert_eq!(bug.people_involved, Some(2));
//! ```

#![deny(missing_docs)]

pub mod config;
mod importer;
pub mod parser;

use bugimporters_core::forge::{self, ForgeFactory, ForgeType};
use bugimporters_core::{
    AuthKind, Capabilities, Error, LinkScope, ParseFormat, Registry, TrackerConfig, TypeInfo,
};

pub use bugimporters_core::forge::MAX_PAGES;
pub use config::{GitLabOptions, GitLabProject};
pub use importer::{GitLab, GitLabImporter, PER_PAGE, TOKEN_HEADER};
pub use parser::{parse_issue, parse_issue_list, IssueItem, IssuePage, ParseSettings};

/// The type name.
pub const KIND: &str = "gitlab";

/// `parse` format: one issue object.
pub const FORMAT_ISSUE: &str = "gitlab-issue-json";
/// `parse` format: one page of an issue list.
pub const FORMAT_ISSUES: &str = "gitlab-issues-json";

/// Registers the `gitlab` type.
pub fn register(registry: &mut Registry) {
    forge::register::<GitLab>(registry);
}

/// Factory of the `gitlab` type.
pub type GitLabFactory = ForgeFactory<GitLab>;

impl ForgeType for GitLab {
    /// Each capability claimed is held by this crate's tests; `example.yaml` is the first
    /// example of `docs/trackers/gitlab.md` (a test keeps them equal).
    const INFO: TypeInfo = TypeInfo {
        kind: KIND,
        aliases: &["gitlab.GitLabBugImporter"],
        description: "GitLab issues, gitlab.com or self-hosted (REST API v4)",
        capabilities: Capabilities::NONE
            .incremental()
            .conditional_requests()
            .deletion_detection()
            .webhooks()
            .auth(&[AuthKind::Anonymous, AuthKind::Token]),
        example_config: include_str!("../example.yaml"),
        config_keys: config::CONFIG_KEYS,
    };
    const FORMATS: [ParseFormat; 2] = [
        ParseFormat::bugs(FORMAT_ISSUE, "one issue JSON (GET /projects/:id/issues/:iid)", "one GitLab issue object"),
        ParseFormat::bugs(FORMAT_ISSUES, "one issue-list page JSON (GET /projects/:id/issues)", "a page of a GitLab issue list; confidential issues are skipped unless include_confidential"),
    ];

    /// Only names, label rules and the confidential switch: no project key is required to
    /// parse.
    fn parse_settings(config: &TrackerConfig) -> Result<ParseSettings, Error> {
        let confidential = GitLabOptions::from_config(config)?.include_confidential;
        Ok(forge::ForgeOptions::from_config(config)?
            .parse_settings(config)?
            .with_confidential(confidential))
    }

    /// The project's pages, `{base}/{project}/` (`-/issues/N`, `issues/N`, `-/work_items/N`);
    /// the whole instance when `project` is a numeric id (its path is not known offline).
    fn link_scope(config: &TrackerConfig) -> Result<LinkScope, Error> {
        let p = GitLabOptions::from_config(config)?.project(config)?;
        if p.path.bytes().all(|b| b.is_ascii_digit()) {
            return LinkScope::under(&format!("{}/", p.base));
        }
        LinkScope::under(&format!("{}/{}/", p.base, p.path))
    }
}
