//! # bugimporters-redmine
//!
//! The `redmine` tracker type (alias `redmine.RedmineBugImporter`, for symmetry with the
//! original's class names; the original had no Redmine importer): the issues of a Redmine,
//! read through its REST API.
//!
//! * **Queries** are issue-list URLs (`<base>/issues.json?...`, `/projects/P/issues.json`, or
//!   the web `/issues?...` URLs, which become `.json`). Each is read with `status_id=*`
//!   (unless it filters on status itself), `sort=id` and `limit=100`, page by page with
//!   `offset` until `total_count`; once the first page gives `total_count` the other pages
//!   are fetched concurrently. With no query, every issue of `project` (or of every project),
//!   or the saved query `query_id`.
//! * **Incremental**: `updated_on=>=<last_polled>` from each query's `last_polled`.
//! * **Existing bugs** are refreshed in bulk with `issue_id=1,2,...` listings (100 per
//!   request, every status); unchanged ones (not updated since the refresh watermark) become
//!   `_no_update`; one a listing does not name is asked for alone, and a `404` becomes
//!   `_deleted`.
//! * **Closed** comes from the status's `is_closed` (in Redmine, *Resolved* is not closed),
//!   from the issue itself or `/issue_statuses.json` (read once per run), else `closed_on`.
//! * **API key** from the environment (`REDMINE_API_KEY`, or the variable `api_key_env`
//!   names), sent as `X-Redmine-API-Key` to the tracker's origin only; never in URLs, logs,
//!   errors or output.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `redmine-issues-json` and
//! `redmine-issue-json`. The user documentation is `docs/trackers/redmine.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_redmine::config::Rule;
//! use bugimporters_redmine::parser::{parse_issue, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_redmine::register(&mut registry);
//! assert_eq!(registry.canonical_kind("redmine.RedmineBugImporter").unwrap(), "redmine");
//!
//! let body = br#"{"issue": {"id": 5, "subject": "Typo", "description": "a\r\nb",
//!   "status": {"id": 3, "name": "Resolved", "is_closed": false},
//!   "priority": {"id": 2, "name": "Normal"}, "tracker": {"id": 1, "name": "Bug"},
//!   "author": {"id": 7, "name": "Carol Chen"}, "assigned_to": {"id": 5, "name": "Alice Anderson"},
//!   "custom_fields": [{"id": 1, "name": "Keywords", "multiple": true, "value": ["easy"]}],
//!   "created_on": "2026-11-01T13:23:00Z", "updated_on": "2026-11-20T14:58:18Z", "closed_on": null}}"#;
//! let base = url::Url::parse("https://redmine.example/").unwrap();
//! let mut settings = ParseSettings::new(base, "Example");
//! settings.bitesized = Rule::parse("bitesized_type", "custom_field:Keywords", "easy").unwrap();
//! let now = parse_datetime("2026-11-22T00:00:00").unwrap();
//! let issue = parse_issue(body, "issue.json", &settings, now).unwrap();
//! assert_eq!(issue.bug.canonical_bug_link, "https://redmine.example/issues/5");
//! assert_eq!(issue.bug.description.as_deref(), Some("a\nb"));
//! assert_eq!(issue.bug.looks_closed, Some(false), "Resolved is not closed");
//! assert_eq!(issue.bug.good_for_newcomers, Some(true));
//! assert_eq!(issue.bug.people_involved, Some(2));
//! ```

#![deny(missing_docs)]

pub mod client;
pub mod config;
mod importer;
pub mod parser;

use bugimporters_core::{BuildContext, Error, ParseFormat, ParseInput, ParseOutput};
use url::Url;

pub use config::{RedmineOptions, Rule, RuleField};
pub use importer::RedmineImporter;
pub use parser::{
    parse_issue, parse_issue_list, parse_statuses, IssuePage, ParseSettings, RedmineIssue,
};

/// The type name.
pub const KIND: &str = "redmine";

/// `parse` format: one page of `/issues.json`.
pub const FORMAT_ISSUES: &str = "redmine-issues-json";
/// `parse` format: one issue (`/issues/N.json`).
pub const FORMAT_ISSUE: &str = "redmine-issue-json";

/// The settings `parse` uses: those of the record, with `base_url` taken from `--url` (the
/// part before `/issues` or `/projects/`) when the record has none.
fn parse_settings(cx: &BuildContext<'_>, input: &ParseInput) -> Result<ParseSettings, Error> {
    let mut config = cx.config.clone();
    if config.base_url.trim().is_empty() {
        let derived = input.url.as_deref().and_then(|u| {
            let url = Url::parse(u).ok()?;
            let path = url.path();
            let cut = ["/projects/", "/issues"]
                .iter()
                .filter_map(|m| path.find(m))
                .min()?;
            let mut base = url.clone();
            base.set_path(path.get(..cut + 1)?);
            base.set_query(None);
            base.set_fragment(None);
            Some(base.to_string())
        });
        config.base_url = derived.ok_or_else(|| {
            Error::config("base_url is required (in --config, or give --url of the response)")
        })?;
    }
    importer::settings_from_config(&config)
}

const FORMATS: [ParseFormat; 2] = [
    ParseFormat::bugs(
        FORMAT_ISSUES,
        "one issue-list page JSON (GET /issues.json)",
        "a page of a Redmine issue list",
    ),
    ParseFormat::bugs(
        FORMAT_ISSUE,
        "one issue JSON (GET /issues/N.json[?include=journals,watchers])",
        "one Redmine issue",
    ),
];

bugimporters_core::tracker_factory! {
    /// Factory of the `redmine` type.
    pub struct RedmineFactory;
    register: /// Registers the `redmine` type.
        fn register;
    info: {
        // The type's identity; each capability claimed is held by this crate's tests.
        aliases: &["redmine.RedmineBugImporter"],
        description: "Redmine issues (REST API, /issues.json)",
        capabilities: bugimporters_core::Capabilities::NONE
            .incremental()
            .deletion_detection()
            .auth(&[
                bugimporters_core::AuthKind::Anonymous,
                bugimporters_core::AuthKind::ApiKey,
            ]),
    },
    formats: FORMATS,
    build: |cx| RedmineImporter::new(cx.config),
    parse: parse,
}

/// The `parse` command: reads `input` as `format` (one of `FORMATS`).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    let settings = parse_settings(cx, input)?;
    let now = input.options.now;
    let name = input.url_or_path();
    match format {
        FORMAT_ISSUES => {
            let (_, body) = input.file(0, "one issue-list page JSON")?;
            let page = parse_issue_list(body, &name, &settings, now)?;
            if let Some(e) = page.errors.into_iter().next() {
                return Err(e);
            }
            Ok(ParseOutput::Bugs(
                page.issues.into_iter().map(|i| i.bug).collect(),
            ))
        }
        FORMAT_ISSUE => {
            let (_, body) = input.file(0, "one issue JSON")?;
            Ok(ParseOutput::Bugs(vec![
                parse_issue(body, &name, &settings, now)?.bug,
            ]))
        }
        other => Err(ParseFormat::unknown(KIND, other, &FORMATS)),
    }
}
