//! # bugimporters-github
//!
//! The `github` tracker type (alias `github.GitHubBugImporter`, the original's class name):
//! the issues of one GitHub or GitHub Enterprise repository, read through the REST API v3.
//!
//! * **Queries** are issue-list URLs as the original host exported them
//!   (`https://api.github.com/repos/OWNER/REPO/issues?state=open`); the first request is the
//!   URL exactly as configured, following pages come from the `Link` header to the last page.
//!   With no query, every issue of the repository is listed (`state=all`). Pull requests,
//!   which the issues API lists too, are skipped.
//! * **Incremental**: `since=` from a query's `last_polled`; every page is a conditional
//!   request (ETag), so an unchanged page answers `304` and costs no rate limit.
//! * **Existing bugs** are refreshed from the `get_older_bug_data` listing (both states), and
//!   those it does not name become `_no_update` when the listing proves them unchanged; else
//!   one by one (`/repos/OWNER/REPO/issues/N`, conditional: `304` → `_no_update`,
//!   `404`/`410` → `_deleted`, a transferred issue is followed).
//! * **GraphQL** (`github_api: graphql`): plain open-issue queries of repositories not listed
//!   before are read through GraphQL, up to 50 repositories of the process a query
//!   (`graphql.rs`); filtered queries, refreshes and held bugs stay REST.
//! * **Credentials** from the environment only: `GITHUB_TOKEN` (bearer; several tokens,
//!   comma-separated: the fullest is used, one pool per token set and API root for every
//!   tracker of the process) or the original's `GITHUB_USERNAME` +
//!   `GITHUB_PERSONAL_ACCESS_TOKEN` (basic). They are sent only to the API's origin and never
//!   appear in logs, errors or output. Rate-limit waits are the core fetch layer's.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `github-issue-json` and
//! `github-issues-json`. The user documentation is `docs/trackers/github.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_github::parser::{parse_issue, IssueItem, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_github::register(&mut registry);
//! assert_eq!(registry.canonical_kind("github.GitHubBugImporter").unwrap(), "github");
//!
//! let body = br#"{"number": 1, "html_url": "https://github.com/o/r/issues/1",
//!   "title": "Crash", "body": null, "state": "open", "user": {"login": "ann"},
//!   "assignee": null, "comments": 2, "labels": [{"name": "easy"}],
//!   "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-03T00:00:00Z"}"#;
//! let settings = ParseSettings::new("My project", "easy", "docs");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let IssueItem::Issue(bug) = parse_issue(body, "issue.json", &settings, now).unwrap() else {
//!     panic!("not a pull request")
//! };
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.people_involved, Some(2));
//! assert_eq!(bug.description.as_deref(), Some(""));
//! ```

#![deny(missing_docs)]

mod client;
pub mod config;
mod graphql;
mod importer;
pub mod parser;
mod probe;

use bugimporters_core::forge::{self, ForgeFactory, ForgeType};
use bugimporters_core::{
    AuthKind, Capabilities, Error, LinkScope, ParseFormat, Registry, TrackerConfig, TypeInfo,
};

pub use bugimporters_core::forge::MAX_PAGES;
pub use client::{GitHubClient, PER_PAGE};
pub use config::{GitHubApi, GitHubOptions, Repo};
pub use importer::{GitHub, GitHubImporter, VERIFY_EVERY_DAYS};
pub use parser::{parse_issue, parse_issue_list, IssueItem, IssuePage, ParseSettings};

/// The type name.
pub const KIND: &str = "github";

/// `parse` format: one issue object.
pub const FORMAT_ISSUE: &str = "github-issue-json";
/// `parse` format: one page of an issue list.
pub const FORMAT_ISSUES: &str = "github-issues-json";

/// Registers the `github` type.
pub fn register(registry: &mut Registry) {
    forge::register::<GitHub>(registry);
}

/// Factory of the `github` type.
pub type GitHubFactory = ForgeFactory<GitHub>;

impl ForgeType for GitHub {
    /// Each capability claimed is held by this crate's tests; `example.yaml` is the first
    /// example of `docs/trackers/github.md` (a test keeps them equal).
    const INFO: TypeInfo = TypeInfo {
        kind: KIND,
        aliases: &["github.GitHubBugImporter"],
        description: "GitHub and GitHub Enterprise issues (REST API v3)",
        capabilities: Capabilities::NONE
            .incremental()
            .conditional_requests()
            .deletion_detection()
            .webhooks()
            .auth(&[AuthKind::Anonymous, AuthKind::Token, AuthKind::Basic]),
        example_config: include_str!("../example.yaml"),
        config_keys: config::CONFIG_KEYS,
    };
    const FORMATS: [ParseFormat; 2] = [
        ParseFormat::bugs(
            FORMAT_ISSUE,
            "one issue JSON (GET /repos/OWNER/REPO/issues/N)",
            "one GitHub issue object",
        ),
        ParseFormat::bugs(
            FORMAT_ISSUES,
            "one issue-list page JSON (GET /repos/OWNER/REPO/issues)",
            "a page of a GitHub issue list; pull requests are skipped",
        ),
    ];

    /// Only the label rules: no repository keys are required to parse.
    fn parse_settings(config: &TrackerConfig) -> Result<ParseSettings, Error> {
        GitHubOptions::parse_settings(config)
    }

    fn link_scope(config: &TrackerConfig) -> Result<LinkScope, Error> {
        GitHubOptions::from_config(config)?.repo()?.link_scope()
    }
}
