//! # bugimporters-bugzilla
//!
//! The `bugzilla` tracker type (alias `bugzilla.BugzillaBugImporter`, the original's class
//! name; default parser `bugzilla.BugzillaBugParser`): Bugzilla 3 to 5, through
//! `show_bug.cgi?ctype=xml` as the original, or through the Bugzilla 5 REST API.
//!
//! * **Queries** are fetched as configured. The response decides its kind, as the original
//!   (docs/reference-behaviour.md §5.1): XML is a *tracking bug* whose `<dependson>` ids are the
//!   bugs; anything else is a `buglist.cgi` page whose "XML" button form lists the ids.
//! * **Existing bugs** give their ids from the `id=` parameter of their URL.
//! * **Bug fetching**: the ids of all queries (then, in the second entry point, those of the
//!   existing bugs) are de-duplicated, sorted ascending, claimed (a bug named twice is fetched
//!   once) and fetched 50 per request, several requests at once, with the original's exact URL
//!   shape ([`batch_url`]). A `<bug error="NotFound">` or `NotPermitted` on a bug asked for is
//!   a deletion (Bugzilla says it does not exist or became private; the context writes it only
//!   for a held bug after a healthy run), `InvalidBugId` rejects the link with an error naming
//!   it, any other error is reported; the REST mode reads the same from the `faults` of a
//!   `permissive=1` answer (codes 101, 102, 100); a bug missing from a batch response is reported and nothing is
//!   emitted for it (the original emitted nothing either).
//! * **REST** (`bugzilla_api: rest`, or a query that is a `…/rest/bug?…` search URL): searches
//!   are paged with `limit`/`offset`, narrowed with `last_change_time` from the query's
//!   `last_polled` for incremental crawls, and ask only the fields needed
//!   (`include_fields`); bugs by id come from `rest/bug?id=…`, descriptions and people from
//!   `rest/bug/N/comment?ids=…`. The API key comes from the environment (`BUGZILLA_API_KEY`,
//!   or the variable named by `api_key_env`) and travels only in the `X-BUGZILLA-API-KEY`
//!   header to the tracker's own origin: never in a URL, a log or the output.
//! * **Custom parsers** ([`CustomParser`]) are registered by name in the
//!   [`Registry`](bugimporters_core::Registry); the original's KDE, GNOME, Mozilla and
//!   MediaWiki variants are built in.
//!
//! The parsers ([`parser`], [`rest`]) are pure and serve the `parse` formats
//! `bugzilla-xml`, `bugzilla-buglist-html`, `bugzilla-tracker-xml` and `bugzilla-rest-json`.
//! XML is read without DTDs or entity expansion (an entity bomb is a parse error). The user
//! documentation is `docs/trackers/bugzilla.md`.
//!
//! ## Example: a third-party custom parser
//!
//! ```
//! use std::sync::Arc;
//! use bugimporters_bugzilla::parser::parse_bug_xml;
//! use bugimporters_bugzilla::{BugFacts, CustomParser, ParseSettings};
//! use bugimporters_core::{time::parse_datetime, Error, ParsedBug, Registry, TrackerConfig};
//!
//! /// LibreOffice: the project is the component; `easyHack` in the whiteboard is bite-sized.
//! #[derive(Debug)]
//! struct LibreOffice;
//!
//! impl CustomParser for LibreOffice {
//!     fn project_name(&self, facts: &BugFacts, _: &ParseSettings) -> Result<String, Error> {
//!         Ok(format!("LibreOffice {}", facts.component))
//!     }
//!     fn adjust(&self, bug: &mut ParsedBug, facts: &BugFacts) {
//!         bug.good_for_newcomers = Some(facts.whiteboard.contains("easyHack"));
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! bugimporters_bugzilla::register(&mut registry);
//! // Either with the helper...
//! bugimporters_bugzilla::register_custom_parser(&mut registry, "tdf.LibreOffice", LibreOffice);
//! // ...or by hand, in the shape the importer asks for:
//! let parser: Arc<dyn CustomParser> = Arc::new(LibreOffice);
//! registry.register_parser("bugzilla", "tdf.LibreOffice", parser);
//!
//! let mut config = TrackerConfig::new("TDF", "bugzilla.BugzillaBugImporter");
//! config.base_url = "https://bugs.documentfoundation.org/".into();
//! config.custom_parser = "tdf.LibreOffice".into();
//! let built = registry.build(&config).unwrap();
//! assert_eq!(built.parser.as_deref(), Some("tdf.LibreOffice"));
//!
//! // The same parser, without a network, on a saved response:
//! let xml = br#"<?xml version="1.0"?><bugzilla><bug><bug_id>42</bug_id>
//!   <creation_ts>2024-03-01 10:00:00 +0100</creation_ts><delta_ts>2024-03-02 10:00:00 +0100</delta_ts>
//!   <short_desc>Writer: crash</short_desc><component>Writer</component><bug_status>NEW</bug_status>
//!   <status_whiteboard>easyHack difficultyBeginner</status_whiteboard>
//!   <reporter name="Ann">ann@example.org</reporter>
//!   <long_desc><who name="Ann">ann@example.org</who><thetext>It crashes.</thetext></long_desc>
//! </bug></bugzilla>"#;
//! let settings = ParseSettings::from_config(&config).unwrap();
//! let now = parse_datetime("2024-04-01T00:00:00").unwrap();
//! let page = parse_bug_xml(xml, "saved.xml", &settings, &LibreOffice, now).unwrap();
//! let bug = &page.bugs[0];
//! assert_eq!(bug.canonical_bug_link, "https://bugs.documentfoundation.org/show_bug.cgi?id=42");
//! assert_eq!(bug.project_name.as_deref(), Some("LibreOffice Writer"));
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.date_reported.map(|t| t.to_string()).as_deref(), Some("2024-03-01 09:00:00"));
//! ```

#![deny(missing_docs)]

mod client;
pub mod config;
pub mod custom;
mod importer;
pub mod parser;
pub mod rest;

use std::sync::Arc;

use bugimporters_core::{
    BuildContext, Error, LinkScope, ParseFormat, ParseInput, ParseOutput, ParsedBug, TrackerConfig,
};
use url::Url;

pub use client::{batch_url, API_KEY_HEADER};
pub use config::{ApiMode, BugzillaOptions, ParseSettings};
pub use custom::{
    register_builtin_parsers, register_custom_parser, BugFacts, CustomParser, GenericParser,
    GnomeBugzilla, KdeBugzilla, MediaWikiBugParser, MozillaBugParser, DEFAULT_PARSER,
};
pub use importer::BugzillaImporter;

/// The type name.
pub const KIND: &str = "bugzilla";

/// `parse` format: a `show_bug.cgi?ctype=xml` document (one or many bugs).
pub const FORMAT_XML: &str = "bugzilla-xml";
/// `parse` format: a `buglist.cgi` HTML page (prints bug URLs).
pub const FORMAT_BUGLIST_HTML: &str = "bugzilla-buglist-html";
/// `parse` format: a tracking bug's XML (prints the URLs of the bugs it depends on).
pub const FORMAT_TRACKER_XML: &str = "bugzilla-tracker-xml";
/// `parse` format: a REST `{"bugs": [...]}` answer, optionally with its comment answer.
pub const FORMAT_REST_JSON: &str = "bugzilla-rest-json";

fn selected_parser(cx: &BuildContext<'_>) -> Result<Arc<dyn CustomParser>, Error> {
    Ok(cx
        .custom_parser::<Arc<dyn CustomParser>>()?
        .unwrap_or_else(|| Arc::new(GenericParser)))
}

/// Settings for `parse`: from the record; without a `base_url`, the directory of `--url`.
fn parse_settings(cx: &BuildContext<'_>, input: &ParseInput) -> Result<ParseSettings, Error> {
    if !cx.config.base_url.trim().is_empty() || input.url.is_none() {
        return ParseSettings::from_config(cx.config);
    }
    let url = input.url.as_deref().unwrap_or_default();
    let base = Url::parse(url)
        .and_then(|u| u.join("./"))
        .map_err(|e| Error::config(format!("--url {url:?}: {e}")))?;
    let mut config = cx.config.clone();
    config.base_url = base.into();
    ParseSettings::from_config(&config)
}

const FORMATS: [ParseFormat; 4] = [
    ParseFormat::bugs(
        FORMAT_XML,
        "show_bug.cgi?ctype=xml documents (one or many <bug>s each)",
        "Bugzilla bug XML; <bug error=...> elements are skipped",
    ),
    ParseFormat::bug_urls(
        FORMAT_BUGLIST_HTML,
        "one buglist.cgi HTML page",
        "the bug URLs a Bugzilla buglist names (its XML button form)",
    ),
    ParseFormat::bug_urls(
        FORMAT_TRACKER_XML,
        "one tracking bug's show_bug.cgi?ctype=xml document",
        "the bug URLs a Bugzilla tracking bug depends on",
    ),
    ParseFormat::bugs(
        FORMAT_REST_JSON,
        "a REST bug answer (GET /rest/bug...), then optionally its comment answer (GET /rest/bug/N/comment?ids=...)",
        "Bugzilla 5 REST bugs",
    ),
];

bugimporters_core::tracker_factory! {
    /// Factory of the `bugzilla` type.
    pub struct BugzillaFactory;
    register: /// Registers the `bugzilla` type and its built-in custom parsers.
        fn register then register_builtin_parsers;
    info: {
        // Incremental in REST mode only (`last_change_time`); the XML batches carry no
        // validators.
        aliases: &["bugzilla.BugzillaBugImporter"],
        description: "Bugzilla 3-5: show_bug.cgi XML in batches of 50 from buglist or tracking-bug queries, or the Bugzilla 5 REST API",
        capabilities: bugimporters_core::Capabilities::NONE
            .incremental()
            .deletion_detection()
            .custom_parsers()
            .auth(&[
                bugimporters_core::AuthKind::Anonymous,
                bugimporters_core::AuthKind::ApiKey,
            ]),
    },
    formats: FORMATS,
    build: |cx| BugzillaImporter::new(cx.config, selected_parser(cx)?),
    parse: parse,

    fn default_parser(&self) -> Option<&'static str> {
        Some(DEFAULT_PARSER)
    }

    /// Bug links are `urljoin(base_url, "show_bug.cgi?id=N")`: that one page under
    /// `base_url`, whatever its query.
    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        let base = config.base_url_with_slash()?;
        let page = base
            .join("show_bug.cgi")
            .map_err(|e| Error::config(format!("base_url: {e}")))?;
        LinkScope::under(page.as_str())
    }
}

/// The `parse` command: reads `input` as `format` (one of `FORMATS`).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    let settings = parse_settings(cx, input)?;
    let now = input.options.now;
    let name = input.url_or_path();
    let urls = |ids: Vec<u64>| {
        ParseOutput::BugUrls(ids.into_iter().map(|id| settings.bug_link(id)).collect())
    };
    match format {
        FORMAT_XML => {
            let parser = selected_parser(cx)?;
            input.file(0, "show_bug.cgi?ctype=xml documents")?;
            let mut bugs = Vec::new();
            for (path, body) in &input.files {
                let label = input.url.clone().unwrap_or_else(|| path.clone());
                let page = parser::parse_bug_xml(body, &label, &settings, &*parser, now)?;
                for s in &page.skipped {
                    tracing::warn!(bug = %s.id, error = %s.error, "skipped: Bugzilla answered an error for this bug");
                }
                if let Some(e) = page.failed.into_iter().next() {
                    return Err(e);
                }
                bugs.extend(page.bugs);
            }
            Ok(ParseOutput::Bugs(bugs))
        }
        FORMAT_BUGLIST_HTML => {
            let (_, body) = input.file(0, "one buglist.cgi HTML page")?;
            Ok(urls(parser::parse_buglist_html(body, &name)?))
        }
        FORMAT_TRACKER_XML => {
            let (_, body) = input.file(0, "one tracking bug's XML")?;
            Ok(urls(parser::parse_tracking_xml(body, &name)?))
        }
        FORMAT_REST_JSON => {
            let parser = selected_parser(cx)?;
            let (_, body) = input.file(0, "a REST bug answer, then its comment answer")?;
            let (facts, errors) = rest::parse_bugs(body, &name)?;
            if let Some(e) = errors.into_iter().next() {
                return Err(e);
            }
            let mut comments = match input.files.get(1) {
                Some((path, body)) => rest::parse_comments(body, path)?,
                None => Default::default(),
            };
            let bugs = facts
                .into_iter()
                .map(|mut f| {
                    if let Some(c) = comments.remove(&f.id) {
                        c.apply(&mut f);
                    }
                    parser::build_bug(&f, &settings, &*parser, now)
                })
                .collect::<Result<Vec<ParsedBug>, Error>>()?;
            Ok(ParseOutput::Bugs(bugs))
        }
        other => Err(ParseFormat::unknown(KIND, other, &FORMATS)),
    }
}
