//! # bugimporters-jira
//!
//! The `jira` tracker type (alias `jira.JiraBugImporter`, the original's class name): issues
//! of a Jira Server, Data Center or Cloud site, read through the REST search API with JQL.
//!
//! * **Queries** are search URLs as the original host exported them
//!   (`https://HOST/rest/api/2/search?maxResults=1000&jql=status=open`). The first request is
//!   the URL as configured; following pages come from `startAt`/`maxResults`/`total` (read
//!   side by side once `total` is known) until the end. Jira Cloud's token-paged
//!   `/rest/api/3/search/jql` (or `/2/search/jql`) is followed by `nextPageToken` instead.
//! * **Incremental**: a query with a `last_polled` gets `AND updated > T` added to its JQL
//!   (epoch milliseconds, independent of the Jira user's time zone).
//! * **Existing bugs** are matched on their `/browse/KEY` link (the original compared the
//!   REST `self` URL, which never matches): first the `get_older_bug_data` listing (the host's
//!   `created>=…` shape is read as `updated` since that time), then `key in (...)` searches
//!   for the rest, then one issue request each for keys those did not return (`304` →
//!   `_no_update`, `404`/`410` → `_deleted`, a moved issue is followed).
//! * **Credentials** from the environment only: `JIRA_EMAIL` + `JIRA_API_TOKEN` (Basic, Jira
//!   Cloud) or `JIRA_TOKEN` (Bearer personal access token, Server/Data Center); other
//!   variable names per tracker with `email_env`, `api_token_env`, `token_env`. They are sent
//!   only to `base_url`'s origin (and `api_url`'s when set) and never appear in logs, errors or
//!   output.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `jira-issue-json` and
//! `jira-search-json`. The user documentation is `docs/trackers/jira.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::{format_naive, parse_datetime}, Registry};
//! use bugimporters_jira::parser::{parse_issue, BitesizedRule, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_jira::register(&mut registry);
//! assert_eq!(registry.canonical_kind("jira.JiraBugImporter").unwrap(), "jira");
//!
//! let body = br#"{"key": "MKY-1", "fields": {"summary": "Crash", "description": "Boom",
//!   "status": {"name": "Closed"}, "labels": ["docs"], "priority": {"name": "Trivial"},
//!   "created": "2011-11-22T09:22:59.899+1100", "updated": "2011-11-22T09:23:02.302+1100",
//!   "reporter": {"name": "admin", "displayName": "Administrator"}}}"#;
//! let settings = ParseSettings::new(
//!     "My project", "http://jira.example.org/browse/",
//!     BitesizedRule::Priority("Trivial".into()), "docs",
//! ).unwrap();
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let bug = parse_issue(body, "issue.json", &settings, now).unwrap();
//! assert_eq!(bug.canonical_bug_link, "http://jira.example.org/browse/MKY-1");
//! assert_eq!(bug.status.as_deref(), Some("closed"));
//! assert_eq!(bug.looks_closed, Some(true));
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(format_naive(&bug.date_reported.unwrap()), "2011-11-21T22:22:59.899000");
//! ```

#![deny(missing_docs)]

pub mod client;
pub mod config;
mod importer;
pub mod parser;

use bugimporters_core::{
    BuildContext, Error, LinkScope, ParseFormat, ParseInput, ParseOutput, TrackerConfig,
};

pub use config::JiraOptions;
pub use importer::JiraImporter;
pub use parser::{parse_issue, parse_search, BitesizedRule, ParseSettings, SearchPage};

/// The type name.
pub const KIND: &str = "jira";

/// `parse` format: one issue document.
pub const FORMAT_ISSUE: &str = "jira-issue-json";
/// `parse` format: one page of a search.
pub const FORMAT_SEARCH: &str = "jira-search-json";

const FORMATS: [ParseFormat; 2] = [
    ParseFormat::bugs(
        FORMAT_ISSUE,
        "one issue JSON (GET /rest/api/2/issue/KEY)",
        "one Jira issue",
    ),
    ParseFormat::bugs(
        FORMAT_SEARCH,
        "one search response JSON (GET /rest/api/2/search or /rest/api/3/search/jql)",
        "a page of a Jira search",
    ),
];

bugimporters_core::tracker_factory! {
    /// Factory of the `jira` type.
    pub struct JiraFactory;
    register: /// Registers the `jira` type.
        fn register;
    info: {
        // The type's identity; each capability claimed is held by this crate's tests.
        aliases: &["jira.JiraBugImporter"],
        description: "Jira Server, Data Center and Cloud (REST search with JQL)",
        capabilities: bugimporters_core::Capabilities::NONE
            .incremental()
            .conditional_requests()
            .deletion_detection()
            .auth(&[
                bugimporters_core::AuthKind::Anonymous,
                bugimporters_core::AuthKind::Token,
                bugimporters_core::AuthKind::Basic,
            ]),
    },
    formats: FORMATS,
    build: |cx| JiraImporter::new(cx.config),
    parse: parse,

    /// Issue links are `urljoin(base_url, "/browse/KEY")`: `/browse/` at the root of
    /// `base_url`'s host.
    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        let base = config.base_url_with_slash()?;
        let browse = base
            .join("/browse/")
            .map_err(|e| Error::config(format!("base_url: {e}")))?;
        LinkScope::under(browse.as_str())
    }
}

/// The `parse` command: reads `input` as `format` (one of `FORMATS`).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    let settings = config::parse_settings(cx.config)?;
    let now = input.options.now;
    let name = input.url_or_path();
    match format {
        FORMAT_ISSUE => {
            let (_, body) = input.file(0, "one issue JSON")?;
            Ok(ParseOutput::Bugs(vec![parse_issue(
                body, &name, &settings, now,
            )?]))
        }
        FORMAT_SEARCH => {
            let (_, body) = input.file(0, "one search response JSON")?;
            let page = parse_search(body, &name, &settings, now)?;
            if let Some(e) = page.errors.into_iter().next() {
                return Err(e);
            }
            Ok(ParseOutput::Bugs(page.bugs))
        }
        other => Err(ParseFormat::unknown(KIND, other, &FORMATS)),
    }
}
