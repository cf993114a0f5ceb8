//! # bugimporters-gitea
//!
//! The `gitea` tracker type (alias `forgejo`): the issues of one repository on a Gitea or
//! Forgejo instance — Codeberg included — read through the API v1.
//!
//! * **Configuration**: `base_url` (the instance, default `https://codeberg.org`), `project`
//!   (`owner/repo`), label rules `bitesized_tag` / `documentation_tag` (or the common
//!   `bitesized_text` with `bitesized_type: label`), `token_env`.
//! * **Queries** are issue-list API URLs (`{base}/api/v1/repos/{owner}/{repo}/issues?...`),
//!   given `type=issues` when they name no `type`; without one, every issue of the repository
//!   (`state=all&type=issues&limit=50`). Pages are followed to the end by
//!   `Link: rel="next"` (else `X-Total-Count`). No request per issue.
//! * **Pull requests**, which the issues API lists unless `type=issues`, are skipped (a
//!   non-null `pull_request`, or a `/pulls/N` link).
//! * **Incremental**: `since=` from a query's `last_polled`; the pages of a listing without
//!   `since=` are conditional requests.
//! * **Existing bugs**: up to a page's worth (50) are asked for one by one (conditional: `304`
//!   → `_no_update`; `404` → `_deleted`); more are refreshed from one listing of every issue,
//!   and those it does not name are asked for alone. After a complete listing of every issue
//!   by a query, the held bugs it did not name are asked for alone directly.
//! * **Credentials**: a token from `GITEA_TOKEN` (or the variable `token_env` names), sent as
//!   `Authorization: token ...` to the instance's origin only, never logged. Rate-limit waits
//!   (`Retry-After`, rate-limit headers) are the core fetch layer's.
//!
//! Gitea has no confidential issues (privacy is per repository), so there is no
//! `include_confidential` key. The parsers ([`parser`]) are pure and serve the `parse` formats
//! `gitea-issue-json` and `gitea-issues-json`. The user documentation is
//! `docs/trackers/gitea.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_gitea::parser::{parse_issue, IssueItem, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_gitea::register(&mut registry);
//! assert_eq!(registry.canonical_kind("forgejo").unwrap(), "gitea");
//!
//! let body = br#"{"number": 4, "html_url": "https://codeberg.org/o/r/issues/4",
//!   "title": "Crash", "body": "", "state": "open", "pull_request": null,
//!   "user": {"login": "ann", "full_name": "Ann"}, "assignees": [{"login": "bob"}],
//!   "labels": [{"name": "good first issue"}, {"name": "Priority/High"}],
//!   "created_at": "2024-01-02T03:04:05+01:00", "updated_at": "2024-01-03T00:00:00Z"}"#;
//! let settings = ParseSettings::new("My project", "My project", "good first issue", "docs");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let IssueItem::Issue(bug) = parse_issue(body, "issue.json", &settings, now).unwrap() else {
//!     panic!("not a pull request")
//! };
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.importance.as_deref(), Some("High"));
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
pub use config::{GiteaOptions, GiteaRepo};
pub use importer::{Gitea, GiteaImporter, PAGE_LIMIT};
pub use parser::{parse_issue, parse_issue_list, IssueItem, IssuePage, ParseSettings};

/// The type name.
pub const KIND: &str = "gitea";

/// `parse` format: one issue object.
pub const FORMAT_ISSUE: &str = "gitea-issue-json";
/// `parse` format: one page of an issue list.
pub const FORMAT_ISSUES: &str = "gitea-issues-json";

/// Registers the `gitea` type (alias `forgejo`).
pub fn register(registry: &mut Registry) {
    forge::register::<Gitea>(registry);
}

/// Factory of the `gitea` type.
pub type GiteaFactory = ForgeFactory<Gitea>;

impl ForgeType for Gitea {
    /// Each capability claimed is held by this crate's tests; `example.yaml` is the first
    /// example of `docs/trackers/gitea.md` (a test keeps them equal).
    const INFO: TypeInfo = TypeInfo {
        kind: KIND,
        aliases: &["forgejo", "gitea.GiteaBugImporter"],
        description: "Gitea and Forgejo issues: Codeberg or self-hosted (API v1)",
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
        ParseFormat::bugs(
            FORMAT_ISSUE,
            "one issue JSON (GET /repos/{owner}/{repo}/issues/{index})",
            "one Gitea/Forgejo issue object",
        ),
        ParseFormat::bugs(
            FORMAT_ISSUES,
            "one issue-list page JSON (GET /repos/{owner}/{repo}/issues)",
            "a page of a Gitea/Forgejo issue list; pull requests are skipped",
        ),
    ];

    /// Only names and label rules: no project key is required to parse.
    fn parse_settings(config: &TrackerConfig) -> Result<ParseSettings, Error> {
        forge::ForgeOptions::from_config(config)?.parse_settings(config)
    }

    /// The repository's pages, `{base}/{owner}/{repo}/` (`issues/N`, `pulls/N`).
    fn link_scope(config: &TrackerConfig) -> Result<LinkScope, Error> {
        let r = GiteaOptions::from_config(config)?.repo(config)?;
        LinkScope::under(&format!("{}/{}/{}/", r.base, r.owner, r.name))
    }
}
