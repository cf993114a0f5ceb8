//! Pure parsers: Trac responses (bytes) to bug URLs and [`ParsedBug`]s, with no I/O.
//!
//! * [`parse_query_csv`] reads a query's CSV export (`/query?...&format=csv`) into ticket URLs;
//! * [`parse_ticket_csv`] reads a ticket's CSV export (`/ticket/N?format=csv`) into a
//!   [`TicketRow`];
//! * [`parse_ticket`] combines that row with the ticket's HTML page into a [`ParsedBug`],
//!   field by field as the original `TracBugParser` did (docs/reference-behaviour.md §5.2, with the
//!   deviations listed in `docs/trackers/trac.md`).
//!
//! Every function returns [`Error::Parse`] naming the URL on malformed input; none panics.

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use bugimporters_core::classify::any_piece_in;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{Error, ParsedBug};
use chrono::NaiveDateTime;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::config::TicketSettings;

/// The text of a Trac CSV or HTML response: UTF-8 (invalid bytes replaced), without a
/// leading byte-order mark.
pub fn decode(body: &[u8]) -> String {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    String::from_utf8_lossy(body).into_owned()
}

/// Whether a response text is an HTML page rather than CSV (a login page, an error page, a
/// query URL without `format=csv`).
pub fn looks_like_html(text: &str) -> bool {
    let head: String = text.trim_start().chars().take(16).collect();
    let head = head.to_ascii_lowercase();
    head.starts_with("<!doctype") || head.starts_with("<html") || head.starts_with("<?xml")
}

/// `urljoin(base_url, "ticket/<id>")`: the canonical link of ticket `id`. `base` must end with
/// `/` (see [`bugimporters_core::TrackerConfig::base_url_with_slash`]).
pub fn ticket_url(base: &Url, id: u64) -> String {
    match base.join(&format!("ticket/{id}")) {
        Ok(u) => u.to_string(),
        Err(_) => format!("{base}ticket/{id}"),
    }
}

/// The ticket number of `link` when it is exactly `urljoin(base, "ticket/<id>")`.
pub fn ticket_id(base: &Url, link: &str) -> Option<u64> {
    let rest = link.strip_prefix(base.as_str())?.strip_prefix("ticket/")?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u64 = rest.parse().ok()?;
    (ticket_url(base, id) == link).then_some(id)
}

/// One page of a query's CSV export.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct QueryPage {
    /// Ticket numbers, in document order.
    pub ids: Vec<u64>,
    /// Ticket URLs (`urljoin(base_url, "ticket/<id>")`), in document order.
    pub urls: Vec<String>,
    /// Data rows read (including rows that failed).
    pub rows: usize,
    /// The body was empty: Trac's answer for a page past the last one.
    pub empty: bool,
    /// Rows that could not be read (a non-numeric id); the other rows are kept.
    pub errors: Vec<Error>,
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes())
}

fn csv_error(url: &str, e: &csv::Error) -> Error {
    let at = e
        .position()
        .map(|p| format!(" (line {})", p.line()))
        .unwrap_or_default();
    Error::parse(url, format!("malformed CSV{at}: {e}"))
}

/// Reads a query's CSV export. An empty body is the end of paging (`empty`); an HTML body or a
/// CSV without an `id` column is an error naming `url`.
pub fn parse_query_csv(body: &[u8], url: &str, base: &Url) -> Result<QueryPage, Error> {
    let text = decode(body);
    if text.trim().is_empty() {
        return Ok(QueryPage {
            empty: true,
            ..QueryPage::default()
        });
    }
    if looks_like_html(&text) {
        return Err(Error::parse(
            url,
            "an HTML page, not CSV (does the query URL have format=csv? does Trac ask for a login?)",
        ));
    }
    let mut reader = csv_reader(&text);
    let headers = reader.headers().map_err(|e| csv_error(url, &e))?.clone();
    // Queries label the ticket number `id`; reports (`/report/N?format=csv`) label it `ticket`.
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let id_col = column("id").or_else(|| column("ticket")).ok_or_else(|| {
        Error::parse(
            url,
            format!(
                "the query CSV has no id (or ticket) column (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let mut page = QueryPage::default();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(url, &e))?;
        page.rows += 1;
        let raw = record.get(id_col).unwrap_or("").trim();
        let raw = raw.strip_prefix('#').unwrap_or(raw);
        match raw.parse::<u64>() {
            Ok(id) => {
                page.ids.push(id);
                page.urls.push(ticket_url(base, id));
            }
            Err(_) => page.errors.push(Error::parse(
                url,
                format!(
                    "row {}: ticket id {} is not a number",
                    page.rows,
                    bugimporters_core::excerpt(raw)
                ),
            )),
        }
    }
    Ok(page)
}

/// The first data row of a ticket's CSV export: column name → value, in header order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketRow {
    columns: Vec<(String, String)>,
}

impl TicketRow {
    /// A row from `(column, value)` pairs.
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        TicketRow {
            columns: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `column` (the first column of that name).
    pub fn get(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(k, _)| k == column)
            .map(|(_, v)| v.as_str())
    }

    /// Column names, in header order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(k, _)| k.as_str())
    }
}

/// Reads the first data row of a ticket's CSV export (header row, then one row). Line breaks
/// inside quoted fields are kept as Trac sent them.
pub fn parse_ticket_csv(body: &[u8], url: &str) -> Result<TicketRow, Error> {
    let text = decode(body);
    if text.trim().is_empty() {
        return Err(Error::parse(url, "empty body, not a ticket CSV"));
    }
    if looks_like_html(&text) {
        return Err(Error::parse(
            url,
            "an HTML page, not a ticket CSV (does Trac ask for a login?)",
        ));
    }
    let mut reader = csv_reader(&text);
    let headers = reader.headers().map_err(|e| csv_error(url, &e))?.clone();
    let record = match reader.records().next() {
        Some(r) => r.map_err(|e| csv_error(url, &e))?,
        None => return Err(Error::parse(url, "the ticket CSV has a header but no row")),
    };
    let row = TicketRow::new(
        headers
            .iter()
            .map(|h| h.trim().to_owned())
            .zip(record.iter().map(str::to_owned)),
    );
    for required in ["summary", "status", "reporter", "description"] {
        if row.get(required).is_none() {
            return Err(Error::parse(
                url,
                format!(
                    "the ticket CSV has no {required} column (columns: {})",
                    bugimporters_core::excerpt(&row.columns().collect::<Vec<_>>().join(", "))
                ),
            ));
        }
    }
    Ok(row)
}

/// `&`, `<` and `>` as entities (quotes left alone), as the original stored descriptions.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

fn selector(css: &str) -> Selector {
    // Only called on the literals below, which are valid selectors.
    Selector::parse(css).unwrap_or_else(|_| unreachable!("invalid built-in selector {css}"))
}

static PROPERTY_TH: LazyLock<Selector> = LazyLock::new(|| selector("table.properties th"));
static CHANGE_H3: LazyLock<Selector> = LazyLock::new(|| selector(".change h3"));
static TRAC_AUTHOR: LazyLock<Selector> = LazyLock::new(|| selector(".trac-author"));
static DATE_P: LazyLock<Selector> = LazyLock::new(|| selector(".date p"));
static SPAN_OR_A: LazyLock<Selector> = LazyLock::new(|| selector("span, a"));
static TIMELINE_A: LazyLock<Selector> = LazyLock::new(|| selector("a.timeline"));
static LINK: LazyLock<Selector> = LazyLock::new(|| selector("a[href]"));

fn text_of(e: ElementRef<'_>) -> String {
    e.text().collect::<String>()
}

/// The facts the ticket page gives.
#[derive(Debug, Default)]
struct PageFacts {
    people: BTreeSet<String>,
    date_reported: Option<NaiveDateTime>,
    last_touched: Option<NaiveDateTime>,
    reporter_login: Option<String>,
    reporter_shown: Option<String>,
    /// The page's `Assigned to:`, else `Owned by:` value (`None`: the page shows neither).
    owner_shown: Option<String>,
}

/// The properties table: `(th text, text of the th's next element)`, trimmed, in order.
fn properties(doc: &Html) -> Vec<(String, String, Option<ElementRef<'_>>)> {
    doc.select(&PROPERTY_TH)
        .map(|th| {
            let key = text_of(th).trim().to_owned();
            let cell = th.next_siblings().find_map(ElementRef::wrap);
            let value = cell
                .map(|c| text_of(c).trim().to_owned())
                .unwrap_or_default();
            (key, value, cell)
        })
        .collect()
}

fn meta<'a>(props: &'a [(String, String, Option<ElementRef<'_>>)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .rev()
        .find(|(k, _, _)| k == key)
        .map(|(_, v, _)| v.as_str())
}

/// A date from a `title` attribute, with Trac's "in Timeline" / "See timeline at " phrases
/// removed, through the shared date rule.
fn title_date(title: &str, url: &str) -> Result<NaiveDateTime, Error> {
    let cleaned = title
        .replace("See timeline at ", "")
        .replace("in Timeline", "");
    parse_datetime(cleaned.trim()).ok_or_else(|| {
        Error::parse(
            url,
            format!(
                "unreadable date in title {}",
                bugimporters_core::excerpt(title)
            ),
        )
    })
}

/// The first `span`/`a` with a `title` inside the first `.date p` whose text contains `word`.
fn dated_child<'a>(doc: &'a Html, word: &str) -> Option<(ElementRef<'a>, Option<String>)> {
    let p = doc.select(&DATE_P).find(|p| text_of(*p).contains(word))?;
    let child = p
        .select(&SPAN_OR_A)
        .find_map(|e| e.value().attr("title").map(str::to_owned));
    Some((p, child))
}

fn opened_title(doc: &Html) -> Option<String> {
    // Candidates: span/a inside the "Opened" paragraph of `.date`, and every a.timeline; the
    // first in document order that has a title wins; else the paragraph's own title.
    let opened_p = doc.select(&DATE_P).find(|p| text_of(*p).contains("Opened"));
    let mut candidates = HashSet::new();
    if let Some(p) = opened_p {
        candidates.extend(p.select(&SPAN_OR_A).map(|e| e.id()));
    }
    candidates.extend(doc.select(&TIMELINE_A).map(|e| e.id()));
    let first = doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(|e| candidates.contains(&e.id()))
        .find_map(|e| e.value().attr("title").map(str::to_owned));
    first.or_else(|| opened_p.and_then(|p| p.value().attr("title").map(str::to_owned)))
}

fn login_from_link(cell: Option<ElementRef<'_>>, param: &str) -> Option<String> {
    let href = cell?.select(&LINK).next()?.value().attr("href")?;
    let base = Url::parse("http://trac.invalid/").ok()?;
    let url = base.join(href).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == param)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn page_facts(html: &str, url: &str) -> Result<PageFacts, Error> {
    bugimporters_core::parse::check_html(url, html)?;
    let doc = Html::parse_document(html);
    let props = properties(&doc);
    if props.is_empty() {
        return Err(Error::parse(
            url,
            "no table.properties: not a Trac ticket page (a login or error page?)",
        ));
    }
    let mut facts = PageFacts::default();

    for h3 in doc.select(&CHANGE_H3) {
        let text = text_of(h3);
        for line in text.lines() {
            if let Some(after) = line.split("changed by").nth(1) {
                facts.people.insert(after.trim().to_owned());
            }
        }
        // Trac >= 1.2 marks the author up: "comment:3 by <span class="trac-author">X</span>".
        for author in h3.select(&TRAC_AUTHOR) {
            let name = text_of(author).trim().to_owned();
            if !name.is_empty() {
                facts.people.insert(name);
            }
        }
    }
    if let Some(reporter) = meta(&props, "Reported by:") {
        facts.people.insert(reporter.to_owned());
        facts.reporter_shown = Some(reporter.to_owned());
    }
    for key in ["Cc", "Cc:"] {
        if let Some(cc) = meta(&props, key) {
            for piece in cc.split(',') {
                facts.people.insert(piece.trim().to_owned());
            }
        }
    }
    let assignee = meta(&props, "Assigned to:")
        .filter(|v| !v.is_empty())
        .or_else(|| meta(&props, "Owned by:").filter(|v| !v.is_empty()));
    facts.owner_shown = assignee
        .or_else(|| meta(&props, "Owned by:").or_else(|| meta(&props, "Assigned to:")))
        .map(str::to_owned);
    if let Some(a) = assignee {
        facts.people.insert(a.to_owned());
    }
    facts.reporter_login = props
        .iter()
        .find(|(k, _, _)| k == "Reported by:")
        .and_then(|(_, _, cell)| login_from_link(*cell, "reporter"));

    let opened = opened_title(&doc)
        .ok_or_else(|| Error::parse(url, "no opened date (no .date paragraph, no a.timeline)"))?;
    let reported = title_date(&opened, url)?;
    facts.date_reported = Some(reported);

    // "Last modified" (a span/a title only, as the original); Trac >= 1.0 shows "Closed"
    // instead when the closing was the last change.
    let mut touched = None;
    for word in ["Last modified", "Closed"] {
        if let Some((_, Some(title))) = dated_child(&doc, word) {
            touched = Some(title_date(&title, url)?);
            break;
        }
    }
    facts.last_touched = Some(touched.unwrap_or(reported));
    Ok(facts)
}

fn rule(row: &TicketRow, key: &str, column: &str, text: &str, url: &str) -> Result<bool, Error> {
    if column.is_empty() {
        return Ok(false);
    }
    let value = row.get(column).ok_or_else(|| {
        Error::parse(
            url,
            format!(
                "{key} names the CSV column {column:?}, which this ticket does not have \
                 (columns: {})",
                bugimporters_core::excerpt(&row.columns().collect::<Vec<_>>().join(", "))
            ),
        )
    })?;
    Ok(any_piece_in(text, value))
}

/// Builds the bug from a ticket's CSV row and its HTML page. `canonical_link` is the ticket
/// URL as the crawl knows it (verbatim), also named in errors; `now` becomes `last_polled`.
pub fn parse_ticket(
    row: &TicketRow,
    html: &[u8],
    canonical_link: &str,
    settings: &TicketSettings,
    now: NaiveDateTime,
) -> Result<ParsedBug, Error> {
    let url = canonical_link;
    let field = |name: &str| row.get(name).unwrap_or("").to_owned();
    let html = decode(html);
    if html.trim().is_empty() {
        return Err(Error::parse(url, "empty ticket page"));
    }
    let facts = page_facts(&html, url)?;

    let mut bug = ParsedBug::new(canonical_link);
    bug.title = Some(field("summary"));
    // Cut before escaping: escaping multiplies `&` by five (`docs/output-schema.md`).
    let mut description = field("description");
    bugimporters_core::limits::truncate_text(
        &mut description,
        bugimporters_core::limits::MAX_DESCRIPTION_BYTES,
    );
    bug.description = Some(escape_html(&description));
    let status = field("status");
    bug.looks_closed = Some(status == "closed");
    bug.status = Some(status);
    bug.importance = Some(field("priority"));
    bug.people_involved = Some(u32::try_from(facts.people.len()).unwrap_or(u32::MAX));
    bug.date_reported = facts.date_reported;
    bug.last_touched = facts.last_touched;
    bug.last_polled = Some(now);

    // Trac may show full names in the CSV and on the page; the page's reporter link carries
    // the login (`/query?reporter=<login>`). The shown name is the real name when it differs.
    let (login, realname) = match facts.reporter_login {
        Some(login) => {
            let shown = facts.reporter_shown.unwrap_or_default();
            let realname = if shown.is_empty() || shown == login {
                String::new()
            } else {
                shown
            };
            (login, realname)
        }
        None => (field("reporter").trim().to_owned(), String::new()),
    };
    bug.submitter_username = Some(login);
    bug.submitter_realname = Some(Some(realname));

    bug.good_for_newcomers = Some(rule(
        row,
        "bitesized_type",
        &settings.bitesized_type,
        &settings.bitesized_text,
        url,
    )?);
    bug.concerns_just_documentation = Some(rule(
        row,
        "documentation_type",
        &settings.documentation_type,
        &settings.documentation_text,
        url,
    )?);
    let owner = row.get("owner").or(facts.owner_shown.as_deref());
    bug.assigned = owner.map(|o| ticket_is_taken(o, bug.status.as_deref().unwrap_or("")));
    bug.as_appears_in_distribution = Some(settings.as_appears_in_distribution.clone());
    bug.project_name = Some(settings.tracker_name.clone());
    Ok(bug)
}

/// Owner values that name nobody: Trac's placeholders (`somebody` is the owner of a ticket
/// nobody took in older releases, `< default >` the component-default marker) and the usual
/// "nobody" accounts.
const NO_OWNER: &[&str] = &[
    "somebody",
    "nobody",
    "anonymous",
    "(none)",
    "none",
    "< default >",
];

/// Whether a Trac ticket is taken: its owner names somebody **and** its status says the owner
/// has it (anything but `new` and `reopened`, e.g. `assigned` or `accepted` of the default
/// workflow). A `new` ticket's owner is usually the component's default owner, which Trac
/// fills in by itself and which does not mean anybody works on it; the crawl cannot read the
/// component defaults (an admin page), so it counts such a ticket as free — a newcomer may
/// see a ticket that is in fact taken, but never misses a free one.
pub fn ticket_is_taken(owner: &str, status: &str) -> bool {
    let owner = owner.trim();
    let named = !owner.is_empty() && !NO_OWNER.iter().any(|n| owner.eq_ignore_ascii_case(n));
    let status = status.trim();
    named && !status.eq_ignore_ascii_case("new") && !status.eq_ignore_ascii_case("reopened")
}

/// [`parse_ticket_csv`] then [`parse_ticket`]: the ticket CSV body (fetched from
/// `csv_url`) and the ticket page body (fetched from `canonical_link`).
pub fn parse_ticket_files(
    csv: &[u8],
    csv_url: &str,
    html: &[u8],
    canonical_link: &str,
    settings: &TicketSettings,
    now: NaiveDateTime,
) -> Result<ParsedBug, Error> {
    let row = parse_ticket_csv(csv, csv_url)?;
    parse_ticket(&row, html, canonical_link, settings, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://t.example/trac/").unwrap()
    }

    #[test]
    fn huge_title_error_is_bounded() {
        // A hostile server's 60 MB `title` attribute: the error quotes 200 bytes of it.
        let title = format!("{}\n\u{1b}[31m", "&".repeat(60_000_000));
        let e = title_date(&title, "http://t/ticket/1")
            .unwrap_err()
            .to_string();
        assert!(e.len() < 1024, "{} bytes", e.len());
        assert!(e.contains("60000006 bytes") && !e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn ticket_urls_round_trip() {
        let b = base();
        assert_eq!(ticket_url(&b, 42), "http://t.example/trac/ticket/42");
        assert_eq!(ticket_id(&b, "http://t.example/trac/ticket/42"), Some(42));
        for other in [
            "http://t.example/trac/ticket/42?x",
            "http://t.example/trac/ticket/",
            "http://t.example/trac/ticket/4a",
            "http://t.example/trac/query?id=42",
            "http://other/trac/ticket/42",
            "http://t.example/trac/ticket/042",
        ] {
            assert_eq!(ticket_id(&b, other), None, "{other}");
        }
    }

    #[test]
    fn query_csv_edge_cases() {
        let b = base();
        let p = parse_query_csv(b"", "u", &b).unwrap();
        assert!(p.empty && p.ids.is_empty());
        let p = parse_query_csv(b"\xEF\xBB\xBF\r\n", "u", &b).unwrap();
        assert!(p.empty);
        let e = parse_query_csv(b"<!DOCTYPE html><html></html>", "http://u/q", &b).unwrap_err();
        assert!(e.to_string().contains("http://u/q") && e.to_string().contains("HTML"));
        let e = parse_query_csv(b"summary\r\nx\r\n", "u", &b).unwrap_err();
        assert!(e.to_string().contains("no id (or ticket) column"), "{e}");
        let p = parse_query_csv(b"ticket,summary,_reporter\r\n3,a,b\r\n", "u", &b).unwrap();
        assert_eq!(p.ids, vec![3], "report CSV");
        let p = parse_query_csv(b"id,summary\r\n7,a\r\nx,b\r\n9,c\r\n", "u", &b).unwrap();
        assert_eq!(p.ids, vec![7, 9]);
        assert_eq!(p.rows, 3);
        assert_eq!(p.errors.len(), 1);
        let e = parse_query_csv(b"id,summary\r\n7,a,extra\r\n", "u", &b).unwrap_err();
        assert!(e.to_string().contains("malformed CSV"), "{e}");
        // Header only: a valid, empty result (not the end-of-pages marker).
        let p = parse_query_csv(b"id,summary\r\n", "u", &b).unwrap();
        assert!(!p.empty && p.rows == 0);
    }

    #[test]
    fn ticket_csv_needs_a_row_and_the_standard_columns() {
        assert!(parse_ticket_csv(b"", "u").is_err());
        assert!(parse_ticket_csv(b"id,summary\r\n", "u").is_err());
        let e = parse_ticket_csv(b"id,summary\r\n1,x\r\n", "http://u/1?format=csv").unwrap_err();
        assert!(e.to_string().contains("http://u/1?format=csv"), "{e}");
        assert!(parse_ticket_csv(b"<html><body>404</body></html>", "u").is_err());
        let row = parse_ticket_csv(
            b"id,summary,reporter,description,status\r\n1,\"a, b\",me,\"x\r\ny\",new\r\n",
            "u",
        )
        .unwrap();
        assert_eq!(row.get("summary"), Some("a, b"));
        assert_eq!(row.get("description"), Some("x\r\ny"));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_html("a<b> & \"c\""), "a&lt;b&gt; &amp; \"c\"");
    }

    #[test]
    fn taken_tickets() {
        assert!(ticket_is_taken("kpoole", "assigned"));
        assert!(ticket_is_taken("kpoole", "accepted"));
        assert!(!ticket_is_taken("kpoole", "new"), "the component default");
        assert!(!ticket_is_taken("kpoole", "reopened"));
        for nobody in ["", " ", "somebody", "Nobody", "< default >"] {
            assert!(!ticket_is_taken(nobody, "assigned"), "{nobody:?}");
        }
    }

    #[test]
    fn garbage_html_is_an_error_not_a_panic() {
        let row = TicketRow::new([("summary", "s"), ("status", "new"), ("reporter", "r")]);
        let s = TicketSettings::new("T");
        let now = parse_datetime("2020-01-01T00:00:00").unwrap();
        for html in [
            &b""[..],
            b"<html><body>login</body></html>",
            b"\xff\xfe<<<>>>",
            b"<table class=\"properties\"><tr><th>Reported by:</th></tr></table>",
        ] {
            let e = parse_ticket(&row, html, "http://u/ticket/1", &s, now).unwrap_err();
            assert!(e.to_string().contains("http://u/ticket/1"), "{e}");
        }
    }
}
