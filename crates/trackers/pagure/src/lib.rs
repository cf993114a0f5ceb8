//! # bugimporters-pagure
//!
//! The `pagure` tracker type: the issues of one project on a Pagure instance — pagure.io,
//! src.fedoraproject.org or self-hosted — read through the API 0.
//!
//! * **Configuration**: `base_url` (the instance, default `https://pagure.io`), `project`
//!   (`[namespace/]repo`, or `fork/USER/[namespace/]repo`), tag rules `bitesized_tag` /
//!   `documentation_tag` (or the common `bitesized_text` with `bitesized_type: label`),
//!   `token_env`, `include_confidential` (private issues).
//! * **Queries** are issue-list API URLs (`{base}/api/0/{project}/issues?...`); without one,
//!   every issue of the project (`status=all&per_page=100`). Pages are followed to the end by
//!   the body's `pagination.next`. No request per issue (the list carries the comments too).
//! * **Incremental**: `since=` (a Unix timestamp) from a query's `last_polled`.
//! * **Existing bugs**: up to a page's worth (100) are asked for one by one (`404` →
//!   `_deleted`; `403`, a private issue → `_deleted`); more are refreshed from one listing of
//!   every issue, and those it does not name are asked for alone.
//! * **Private** issues are skipped unless `include_confidential: true`. Pull requests are not
//!   in Pagure's issues API.
//! * **Credentials**: a token from `PAGURE_TOKEN` (or the variable `token_env` names), sent as
//!   `Authorization: token ...` to the instance's origin only, never logged.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `pagure-issue-json` and
//! `pagure-issues-json`. The user documentation is `docs/trackers/pagure.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_pagure::parser::{parse_issue, IssueItem, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_pagure::register(&mut registry);
//! assert_eq!(registry.canonical_kind("pagure").unwrap(), "pagure");
//!
//! let body = br#"{"id": 4, "full_url": "https://pagure.io/fedora-infra/ansible/issue/4",
//!   "title": "Crash", "content": "", "status": "Open", "private": false,
//!   "user": {"name": "ann", "fullname": "Ann"}, "assignee": {"name": "bob"},
//!   "comments": [{"user": {"name": "carol"}}], "tags": ["easyfix"],
//!   "date_created": "1704164645", "last_updated": "1704240000"}"#;
//! let settings = ParseSettings::new("Infra", "Infra", "easyfix", "docs");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let IssueItem::Issue(bug) = parse_issue(body, "issue.json", &settings, now).unwrap() else {
//!     panic!("not private")
//! };
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.people_involved, Some(3));
//! assert_eq!(bug.date_reported, parse_datetime("2024-01-02T03:04:05"));
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
pub use config::{PagureOptions, PagureProject};
pub use importer::{Pagure, PagureImporter, PER_PAGE};
pub use parser::{parse_issue, parse_issue_list, IssueItem, IssuePage, ParseSettings};

/// The type name.
pub const KIND: &str = "pagure";

/// `parse` format: one issue object.
pub const FORMAT_ISSUE: &str = "pagure-issue-json";
/// `parse` format: one page of an issue list.
pub const FORMAT_ISSUES: &str = "pagure-issues-json";

/// Registers the `pagure` type.
pub fn register(registry: &mut Registry) {
    forge::register::<Pagure>(registry);
}

/// Factory of the `pagure` type.
pub type PagureFactory = ForgeFactory<Pagure>;

impl ForgeType for Pagure {
    /// Each capability claimed is held by this crate's tests; `example.yaml` is the first
    /// example of `docs/trackers/pagure.md` (a test keeps them equal).
    const INFO: TypeInfo = TypeInfo {
        kind: KIND,
        aliases: &["pagure.PagureBugImporter"],
        description: "Pagure issues: pagure.io, src.fedoraproject.org or self-hosted (API 0)",
        capabilities: Capabilities::NONE
            .incremental()
            .conditional_requests()
            .deletion_detection()
            .auth(&[AuthKind::Anonymous, AuthKind::Token]),
        example_config: include_str!("../example.yaml"),
        config_keys: config::CONFIG_KEYS,
    };
    const FORMATS: [ParseFormat; 2] = [
        ParseFormat::bugs(
            FORMAT_ISSUE,
            "one issue JSON (GET /api/0/<repo>/issue/<id>)",
            "one Pagure issue object",
        ),
        ParseFormat::bugs(
            FORMAT_ISSUES,
            "one issue-list page JSON (GET /api/0/<repo>/issues)",
            "a page of a Pagure issue list; private issues are skipped unless include_confidential",
        ),
    ];

    /// Names, tag rules and the private switch; the project key only for issues without
    /// `full_url`.
    fn parse_settings(config: &TrackerConfig) -> Result<ParseSettings, Error> {
        let options = PagureOptions::from_config(config)?;
        let mut settings = forge::ForgeOptions::from_config(config)?
            .parse_settings(config)?
            .with_confidential(options.include_confidential);
        if let Ok(project) = options.project(config) {
            settings = settings.with_web_root(project.web_root());
        }
        Ok(settings)
    }

    /// The project's issue pages, `{base}/{project}/issue/N`.
    fn link_scope(config: &TrackerConfig) -> Result<LinkScope, Error> {
        let p = PagureOptions::from_config(config)?.project(config)?;
        LinkScope::under(&format!("{}/issue/", p.web_root()))
    }
}
