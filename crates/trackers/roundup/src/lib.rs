//! # bugimporters-roundup
//!
//! The `roundup` tracker type (alias `roundup.RoundupBugImporter`, the original's class name):
//! issues of a [Roundup](https://www.roundup-tracker.org) tracker, any version.
//!
//! * **Queries** are the tracker's "Download as CSV" URLs
//!   (`…/issue?@action=export_csv&@columns=id,…&@filter=status&status=…`): each row's `id`
//!   becomes `urljoin(base_url, "issue<id>")`, the bug's canonical link. Known bugs
//!   (`existing_bug_urls`) are read from their own URLs.
//! * **Issue data** comes from one of two sources, picked per tracker by `roundup_api`:
//!   * `html` — the issue page, exactly as the original importer read it ([`parser`]);
//!   * `rest` — the Roundup 2.x REST API ([`rest`]): one request lists up to 100 issues
//!     with `@verbose=2&@fields=…`, a few more give their messages' authors, first messages
//!     and reporters, so about 5 requests per 100 issues instead of 100 pages. Stock Roundup
//!     refuses anonymous REST (403), so this needs an account: Basic auth from the
//!     environment (`ROUNDUP_USERNAME`/`ROUNDUP_PASSWORD`, or the variables named by
//!     `roundup_username_env`/`roundup_password_env`), sent only to the REST URLs of
//!     `base_url`;
//!   * `auto` (the default) — REST when the credentials are set, else pages; if the tracker
//!     refuses REST (401/403/404, no JSON — Roundup before 2.0, or REST access not granted)
//!     the run switches to pages after that one request, so a wrong password costs one
//!     failed login per run (Roundup locks a login out after 4 within 10 minutes).
//! * **Incremental**: a query with `last_polled` gets an `activity` filter (changes since
//!   then, minus an hour for clock skew). Known bugs are refreshed against the same window
//!   (the oldest `last_polled` of the queries): per 100 issues one list of the live ids and one
//!   of the changed ones (CSV exports for pages, REST lists for REST); unchanged issues become
//!   `_no_update` records without being downloaded.
//! * **Deletions**: an issue answering 404/410, or a retired one (Roundup keeps serving
//!   retired issues: the page's history says `retired`, and lists leave them out), becomes
//!   a `_deleted` record when the host holds it.
//! * **Custom parser** `roundup.PythonRoundupBugParser` (bugs.python.org): an `open` issue
//!   reports its `Stage` as status. Third parties register more as
//!   `Arc<dyn CustomParser>` with `Registry::register_parser("roundup", name, parser)`.
//!
//! `parse` formats: `roundup-issue-html` (an issue page), `roundup-issue-json` (REST issue
//! JSON, optionally with the messages and users JSON) and `roundup-query-csv` (a CSV export
//! → bug URLs). The user documentation is `docs/trackers/roundup.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_roundup::parser::{parse_issue_html, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_roundup::register(&mut registry);
//! assert_eq!(registry.canonical_kind("roundup.RoundupBugImporter").unwrap(), "roundup");
//!
//! let page = br#"<html><body>
//! <form name="itemSynopsis"><table>
//!  <tr><th>Title:</th><td>Crash on start</td></tr>
//!  <tr><th>Priority:</th><td>urgent</td><th>Status:</th><td>chatting</td></tr>
//!  <tr><th>Keywords:</th><td>easy, patch</td></tr>
//! </table></form>
//! <p>Created on <b>2024-01-02 03:04</b> by <b>ann</b>,
//!    last changed <b>2024-01-05 06:07</b> by <b>bob</b>.</p>
//! <table class="messages"><tr><th>Messages</th></tr>
//!  <tr><th>msg1</th><th>Author: Ann Smith (ann)</th><th>Date: 2024-01-02 03:04</th></tr>
//!  <tr><td class="content"><pre>It crashes.</pre></td></tr>
//! </table></body></html>"#;
//! let mut settings = ParseSettings::new("My project", "resolved");
//! settings.bitesized_field = "Keywords".into();
//! settings.bitesized_text = "easy".into();
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let bug = parse_issue_html(page, "http://bugs.example.org/issue1", &settings, now)
//!     .unwrap()
//!     .bug;
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.looks_closed, Some(false));
//! assert_eq!(bug.submitter_realname, Some(Some("Ann Smith".to_owned())));
//! assert_eq!(bug.description.as_deref(), Some("It crashes."));
//! ```

#![deny(missing_docs)]

pub mod client;
pub mod config;
mod importer;
pub mod parser;
pub mod rest;

use std::collections::HashMap;
use std::sync::Arc;

use bugimporters_core::{BuildContext, Error, ParseFormat, ParseInput, ParseOutput, Registry};

pub use config::{ApiMode, RoundupOptions};
pub use importer::RoundupImporter;
pub use parser::{
    parse_issue_html, parse_query_csv, CustomParser, IssuePage, ParseSettings,
    PythonRoundupBugParser, PYTHON_PARSER,
};

/// The type name.
pub const KIND: &str = "roundup";
/// The default parser's name.
pub const DEFAULT_PARSER: &str = "roundup.RoundupBugParser";

/// `parse` format: one issue page.
pub const FORMAT_HTML: &str = "roundup-issue-html";
/// `parse` format: REST issue JSON (+ messages JSON, + users JSON).
pub const FORMAT_JSON: &str = "roundup-issue-json";
/// `parse` format: a CSV export, to bug URLs.
pub const FORMAT_CSV: &str = "roundup-query-csv";

/// Registers the built-in custom parser `roundup.PythonRoundupBugParser`.
fn register_builtin_parsers(registry: &mut Registry) {
    let python: Arc<dyn CustomParser> = Arc::new(PythonRoundupBugParser);
    registry.register_parser(KIND, PYTHON_PARSER, python);
}

impl RoundupFactory {
    fn settings(cx: &BuildContext<'_>) -> Result<(RoundupOptions, ParseSettings), Error> {
        let options = RoundupOptions::from_config(cx.config)?;
        let mut settings = options.parse_settings(cx.config);
        settings.custom_parser = cx.custom_parser::<Arc<dyn CustomParser>>()?;
        Ok((options, settings))
    }
}

const FORMATS: [ParseFormat; 3] = [
    ParseFormat::bugs(
        FORMAT_HTML,
        "one issue page (GET BASE/issueN)",
        "a Roundup issue page, as the original importer read it",
    ),
    ParseFormat::bugs(
        FORMAT_JSON,
        "issue JSON (GET BASE/rest/data/issue/N?@verbose=2, or a list with @verbose=2&@fields=...), then optionally messages JSON (rest/data/msg?...&@verbose=3&@fields=author,date,content) and users JSON (rest/data/user?...&@verbose=2&@fields=username,realname)",
        "Roundup 2.x REST issue data",
    ),
    ParseFormat::bug_urls(
        FORMAT_CSV,
        "one CSV export (issue?@action=export_csv&@columns=id,...)",
        "the bug URLs a Roundup CSV query names",
    ),
];

bugimporters_core::tracker_factory! {
    /// Factory of the `roundup` type.
    pub struct RoundupFactory;
    register: /// Registers the `roundup` type and the `roundup.PythonRoundupBugParser` custom
        /// parser.
        fn register then register_builtin_parsers;
    info: {
        // Basic auth on REST requests only.
        aliases: &["roundup.RoundupBugImporter"],
        description: "Roundup issue trackers (issue pages, or the Roundup 2.x REST API)",
        capabilities: bugimporters_core::Capabilities::NONE
            .incremental()
            .deletion_detection()
            .custom_parsers()
            .auth(&[
                bugimporters_core::AuthKind::Anonymous,
                bugimporters_core::AuthKind::Basic,
            ]),
    },
    formats: FORMATS,
    build: |cx| {
        let (options, settings) = RoundupFactory::settings(cx)?;
        RoundupImporter::new(cx.config, options, settings)
    },
    parse: parse,

    fn default_parser(&self) -> Option<&'static str> {
        Some(DEFAULT_PARSER)
    }
}

/// The `parse` command: reads `input` as `format` (one of `FORMATS`).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    let (options, mut settings) = RoundupFactory::settings(cx)?;
    settings.extended_scrape = input.options.extended_scrape;
    let now = input.options.now;
    let name = input.url_or_path();
    match format {
        FORMAT_HTML => {
            let (_, body) = input.file(0, "one issue page")?;
            let page = parse_issue_html(body, &name, &settings, now)?;
            Ok(ParseOutput::Bugs(vec![page.bug]))
        }
        FORMAT_CSV => {
            let (_, body) = input.file(0, "one CSV export")?;
            let base = cx.config.base_url_with_slash()?;
            Ok(ParseOutput::BugUrls(parse_query_csv(body, &name, &base)?))
        }
        FORMAT_JSON => {
            let (path, body) = input.file(0, "issue JSON")?;
            let issues = rest::parse_issues(body, path)?;
            let mut messages = HashMap::new();
            if let Some((p, b)) = input.files.get(1) {
                messages = rest::parse_messages(b, p)?;
            }
            let mut users = HashMap::new();
            if let Some((p, b)) = input.files.get(2) {
                users = rest::parse_users(b, p)?;
            }
            let rules = rest::RuleProperties {
                bitesized: options.bitesized_rest_property(),
                documentation: options.documentation_rest_property(),
            };
            let single_url = input.url.clone().filter(|_| issues.len() == 1);
            let base = cx.config.base_url_with_slash();
            let mut bugs = Vec::with_capacity(issues.len());
            for issue in &issues {
                let link = match (&single_url, &base) {
                    (Some(u), _) => u.clone(),
                    (None, Ok(b)) => parser::issue_link(b, issue.id),
                    (None, Err(e)) => {
                        return Err(Error::config(format!(
                            "base_url is needed to name REST issues without --url: {e}"
                        )))
                    }
                };
                bugs.push(rest::issue_to_bug(
                    issue, &link, &settings, &rules, &messages, &users, now,
                )?);
            }
            Ok(ParseOutput::Bugs(bugs))
        }
        other => Err(ParseFormat::unknown(KIND, other, &FORMATS)),
    }
}
