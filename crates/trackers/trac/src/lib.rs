//! # bugimporters-trac
//!
//! The `trac` tracker type (alias `trac.TracBugImporter`, the original's class name): the
//! tickets of one Trac site, read through Trac's own CSV exports and ticket pages.
//!
//! * **Queries** are Trac query URLs in CSV form (`…/query?status=new&…&format=csv`). The URL
//!   is requested exactly as configured; when it sets `max`, the following pages
//!   (`page=2, 3, …`) are read until a page is empty (Trac answers a page past the end with an
//!   empty body) or shorter than `max`. Without `max`, Trac's CSV export is not paged.
//!   Every row's `id` gives the ticket `urljoin(base_url, "ticket/<id>")`.
//! * **Tickets**: `T?format=csv` (the first row), then the page `T`; both parsed by
//!   [`parser::parse_ticket`], many tickets at once. Existing bug URLs are refreshed as given
//!   (the canonical link is the URL verbatim). A ticket named twice is fetched once.
//! * **Deletions**: a 404/410 on the ticket CSV (or page) gives a `_deleted` record, written
//!   by the context only for a bug the host holds and only after a healthy run.
//! * **Incremental**: with a cut-off time (`bugs_last_polled`, else the queries'
//!   `last_polled`), one query lists the tickets changed since (`changetime=<T>..`) and one the
//!   existing tickets that still exist; an existing ticket that exists and did not change
//!   becomes `_no_update` without any download. Without a cut-off everything is fetched.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `trac-ticket` (FILES: the
//! ticket CSV, then the ticket HTML) and `trac-query-csv`. The user documentation is
//! `docs/trackers/trac.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_trac::parser::{parse_ticket_files, parse_query_csv};
//! use bugimporters_trac::TicketSettings;
//!
//! let mut registry = Registry::new();
//! bugimporters_trac::register(&mut registry);
//! assert_eq!(registry.canonical_kind("trac.TracBugImporter").unwrap(), "trac");
//!
//! let base = url::Url::parse("https://trac.example/").unwrap();
//! let page = parse_query_csv(b"\xEF\xBB\xBFid,Summary\r\n7,Crash\r\n", "q", &base).unwrap();
//! assert_eq!(page.urls, vec!["https://trac.example/ticket/7"]);
//!
//! let csv = b"id,summary,reporter,owner,description,status,priority,keywords,cc\r\n\
//!             7,Crash,ann,,\"a < b\",new,major,easy,\r\n";
//! let html = br#"<div class="date"><p>Opened <a class="timeline" title="See timeline at 01/02/24 03:04:05">x</a></p></div>
//!   <table class="properties"><tr><th>Reported by:</th><td>ann</td><th>Owned by:</th><td></td></tr>
//!   <tr><th>Cc:</th><td>bob, cy</td></tr></table>"#;
//! let settings = TicketSettings::new("Example").with_bitesized("keywords", "easy");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let bug = parse_ticket_files(csv, "https://trac.example/ticket/7?format=csv", html,
//!                              "https://trac.example/ticket/7", &settings, now).unwrap();
//! assert_eq!(bug.description.as_deref(), Some("a &lt; b"));
//! assert_eq!(bug.people_involved, Some(3));
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.date_reported, parse_datetime("2024-01-02T03:04:05"));
//! assert_eq!(bug.last_touched, bug.date_reported);
//! ```

#![deny(missing_docs)]

pub mod client;
pub mod config;
mod importer;
pub mod parser;

use bugimporters_core::{BuildContext, Error, ParseFormat, ParseInput, ParseOutput};

pub use config::{TicketSettings, TracOptions};
pub use importer::TracImporter;

/// The type name.
pub const KIND: &str = "trac";

/// `parse` format: a ticket's CSV export and its HTML page.
pub const FORMAT_TICKET: &str = "trac-ticket";
/// `parse` format: a query's CSV export.
pub const FORMAT_QUERY_CSV: &str = "trac-query-csv";

const FORMATS: [ParseFormat; 2] = [
    ParseFormat::bugs(
        FORMAT_TICKET,
        "ticket CSV (TICKET?format=csv), then ticket HTML (TICKET)",
        "one Trac ticket; --url gives the canonical link",
    ),
    ParseFormat::bug_urls(
        FORMAT_QUERY_CSV,
        "query CSV (/query?...&format=csv)",
        "the ticket URLs a Trac query names (needs base_url)",
    ),
];

bugimporters_core::tracker_factory! {
    /// Factory of the `trac` type.
    pub struct TracFactory;
    register: /// Registers the `trac` type.
        fn register;
    info: {
        // Trac sends no validators; read anonymously.
        aliases: &["trac.TracBugImporter"],
        description: "Trac tickets (query CSV, ticket CSV and ticket page)",
        capabilities: bugimporters_core::Capabilities::NONE
            .incremental()
            .deletion_detection(),
    },
    formats: FORMATS,
    build: |cx| TracImporter::new(cx.config),
    parse: parse,

    fn default_parser(&self) -> Option<&'static str> {
        Some("trac.TracBugParser")
    }
}

/// The `parse` command: reads `input` as `format` (one of `FORMATS`).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    match format {
        FORMAT_TICKET => {
            let expected = "ticket CSV, then ticket HTML";
            let (csv_path, csv) = input.file(0, expected)?;
            let (html_path, html) = input.file(1, expected)?;
            let link = input.url.clone().unwrap_or_else(|| html_path.clone());
            let settings = TicketSettings::from_config(cx.config);
            let row = parser::parse_ticket_csv(csv, csv_path)?;
            let mut bug = parser::parse_ticket(&row, html, &link, &settings, input.options.now)?;
            // As the crawl writes it: the context adds `_tracker_name`.
            bug.tracker_name = Some(cx.config.tracker_name.clone());
            Ok(ParseOutput::Bugs(vec![bug]))
        }
        FORMAT_QUERY_CSV => {
            let (path, body) = input.file(0, "query CSV")?;
            let base = cx.config.base_url_with_slash()?;
            let name = input.url.clone().unwrap_or_else(|| path.clone());
            let page = parser::parse_query_csv(body, &name, &base)?;
            if let Some(e) = page.errors.into_iter().next() {
                return Err(e);
            }
            Ok(ParseOutput::BugUrls(page.urls))
        }
        other => Err(ParseFormat::unknown(KIND, other, &FORMATS)),
    }
}
