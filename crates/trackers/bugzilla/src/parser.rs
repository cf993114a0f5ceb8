//! Pure parsers: response bytes in, [`ParsedBug`]s or bug ids out. No I/O, no panics on input.
//!
//! * [`parse_bug_xml`]: a `show_bug.cgi?ctype=xml` document with one or many `<bug>`s;
//! * [`parse_tracking_xml`]: the `<dependson>` ids of a tracking bug's XML;
//! * [`parse_buglist_html`]: the ids of a `buglist.cgi` page (its "XML" button form);
//! * [`build_bug`]: the generic rules of docs/reference-behaviour.md §5.1, then the custom parser;
//! * [`crate::rest`] holds the REST API's JSON parsers.
//!
//! XML is read with quick-xml, which never fetches or expands external entities and never
//! expands DTD-declared entities. On top of that, a document whose DOCTYPE declares entities
//! (an "entity bomb" or an external entity) is refused outright, and any entity other than the
//! five predefined ones and character references is an error: such input fails with
//! [`Error::Parse`], in time and memory linear in its size.

use std::sync::LazyLock;

use bugimporters_core::{classify, time, Error, ParsedBug};
use chrono::NaiveDateTime;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use scraper::{ElementRef, Html, Selector};

use crate::config::{BitesizeRule, DocumentationRule, ParseSettings, CLOSED_STATUSES};
use crate::custom::{BugFacts, CustomParser};

/// `description` when the bug has no first comment, or an empty one (as the original).
pub const EMPTY_DESCRIPTION: &str = "(Empty description)";

/// Most elements nested inside each other that a Bugzilla document may have (it has 4).
const MAX_DEPTH: usize = 64;

/// A `<bug error="...">` element (or a REST fault): `NotFound` and `NotPermitted` delete a
/// held bug, `InvalidBugId` rejects the link, anything else is reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedBug {
    /// The `bug_id` text (may be an alias or garbage: it is what was asked for).
    pub id: String,
    /// The `error` attribute: `NotFound`, `NotPermitted`, `InvalidBugId`...
    pub error: String,
}

impl SkippedBug {
    /// The error `error` about the bug asked for as `id`.
    pub fn new(id: impl Into<String>, error: impl Into<String>) -> Self {
        SkippedBug {
            id: id.into(),
            error: error.into(),
        }
    }
}

/// What a `show_bug.cgi?ctype=xml` document holds.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct BugPage {
    /// The bugs, in document order.
    pub bugs: Vec<ParsedBug>,
    /// `<bug error="...">` elements.
    pub skipped: Vec<SkippedBug>,
    /// Bugs that could not be read (a missing `bug_id`, an unreadable date...), each naming
    /// the bug.
    pub failed: Vec<Error>,
    /// The integer `bug_id` of every `<bug>` the document names, errors included: ids asked
    /// for and absent from this list are missing from the response.
    pub ids: Vec<u64>,
}

/// Parses a `show_bug.cgi?ctype=xml` document: every `<bug>` child of the root, in document
/// order, through the generic rules and `parser`. `url` names the response in errors.
///
/// A malformed document, one that is not Bugzilla XML (an HTML error page), or one declaring
/// entities is an error; a bad bug inside a good document lands in [`BugPage::failed`].
pub fn parse_bug_xml(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    parser: &dyn CustomParser,
    now: NaiveDateTime,
) -> Result<BugPage, Error> {
    let mut page = BugPage::default();
    for_each_bug(body, url, |raw| {
        if let Ok(id) = raw.id_text.trim().parse::<u64>() {
            page.ids.push(id);
        }
        if let Some(error) = raw.error {
            page.skipped.push(SkippedBug {
                id: raw.id_text.trim().to_owned(),
                error,
            });
            return;
        }
        let Ok(id) = raw.id_text.trim().parse::<u64>() else {
            page.failed.push(Error::parse(
                url,
                format!(
                    "a <bug> without a numeric bug_id ({})",
                    bugimporters_core::excerpt(raw.id_text.trim())
                ),
            ));
            return;
        };
        let mut facts = raw.facts;
        facts.id = id;
        match build_bug(&facts, settings, parser, now) {
            Ok(bug) => page.bugs.push(bug),
            Err(e) => page.failed.push(e),
        }
    })?;
    Ok(page)
}

/// The bug ids a tracking bug's XML names: the integer texts of `bug/dependson` for every
/// `<bug>` child of the root, in document order (non-integers skipped).
pub fn parse_tracking_xml(body: &[u8], url: &str) -> Result<Vec<u64>, Error> {
    let mut ids = Vec::new();
    for_each_bug(body, url, |raw| {
        ids.extend(
            raw.dependson
                .iter()
                .filter_map(|t| t.trim().parse::<u64>().ok()),
        );
    })?;
    Ok(ids)
}

/// What a query response is, decided as the original did (docs/reference-behaviour.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryResponseKind {
    /// The first 100 bytes, trimmed, start with `<?xml`: a tracking bug.
    TrackingXml,
    /// Anything else: an HTML buglist.
    BuglistHtml,
}

/// Decides what a query response is (docs/reference-behaviour.md §5.1): XML (a tracking bug) when
/// its first 100 bytes, whitespace-trimmed (and without a byte-order mark), start with `<?xml`.
pub fn query_response_kind(body: &[u8]) -> QueryResponseKind {
    let head = &body[..body.len().min(100)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    if head[start..].starts_with(b"<?xml") {
        QueryResponseKind::TrackingXml
    } else {
        QueryResponseKind::BuglistHtml
    }
}

static FORM: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("form").unwrap_or_else(|_| unreachable!("valid selector")));

/// The bug ids of a `buglist.cgi` HTML page, as the original read them: the first `<form>`
/// whose `action` is `show_bug.cgi` and which has a direct child `<input value="xml">` (the
/// page's "XML" button); its direct children with an attribute whose value is `id` (the
/// hidden `name="id"` inputs) give the ids, in page order (duplicates kept, non-integers
/// skipped).
///
/// A page without that form is an empty result when Bugzilla says it found nothing
/// ("Zarro Boogs found"), else an error (the original crashed).
pub fn parse_buglist_html(body: &[u8], url: &str) -> Result<Vec<u64>, Error> {
    let text = decode_text(body);
    // A buglist of N bugs is a table of N rows and a form of N hidden inputs: the whole page's
    // DOM is ~10 times the form's (120 MB at 100 000 bugs). The `show_bug.cgi` forms are
    // parsed on their own first; the whole page only when that finds no XML form.
    for fragment in show_bug_forms(&text) {
        bugimporters_core::parse::check_html(url, fragment)?;
        if let Some(ids) = xml_form_ids(&Html::parse_fragment(fragment)) {
            return Ok(ids);
        }
    }
    bugimporters_core::parse::check_html(url, &text)?;
    if let Some(ids) = xml_form_ids(&Html::parse_document(&text)) {
        return Ok(ids);
    }
    if text.contains("Zarro Boogs") || text.contains("zero_results") {
        return Ok(Vec::new());
    }
    Err(Error::parse(
        url,
        "not a Bugzilla buglist: no <form action=\"show_bug.cgi\"> with an XML button (a login page or an error page?)",
    ))
}

/// The ids of the first `show_bug.cgi` form of `doc` with an XML button (see
/// [`parse_buglist_html`]).
fn xml_form_ids(doc: &Html) -> Option<Vec<u64>> {
    for form in doc.select(&FORM) {
        let action = form.value().attr("action").unwrap_or("").trim();
        if !(action == "show_bug.cgi" || action.ends_with("/show_bug.cgi")) {
            continue;
        }
        let children = || form.children().filter_map(ElementRef::wrap);
        let xml_button = children().any(|c| {
            c.value().name().eq_ignore_ascii_case("input") && c.value().attr("value") == Some("xml")
        });
        if !xml_button {
            continue;
        }
        return Some(
            children()
                .filter(|c| c.value().attrs().any(|(_, v)| v == "id"))
                .filter_map(|c| c.value().attr("value")?.trim().parse::<u64>().ok())
                .collect(),
        );
    }
    None
}

/// The `<form …show_bug.cgi…>…</form>` pieces of `html`, in page order, found by a plain
/// case-insensitive scan (no DOM).
fn show_bug_forms(html: &str) -> impl Iterator<Item = &str> {
    let mut from = 0;
    std::iter::from_fn(move || loop {
        let start = find_ascii_ci(html, from, "<form")?;
        let open_end = html[start..].find('>').map(|i| start + i + 1)?;
        let end = find_ascii_ci(html, open_end, "</form")
            .and_then(|i| html[i..].find('>').map(|j| i + j + 1))
            .unwrap_or(html.len());
        from = end;
        if html[start..open_end].contains("show_bug.cgi") {
            return Some(&html[start..end]);
        }
    })
}

/// The byte offset of the first ASCII-case-insensitive occurrence of `needle` (ASCII) in
/// `hay[from..]`.
fn find_ascii_ci(hay: &str, from: usize, needle: &str) -> Option<usize> {
    let (hay_b, needle_b) = (hay.as_bytes(), needle.as_bytes());
    let first = needle_b.first()?.to_ascii_lowercase();
    (from..hay_b.len().checked_sub(needle_b.len())? + 1).find(|&i| {
        hay_b[i].to_ascii_lowercase() == first
            && hay_b[i..i + needle_b.len()].eq_ignore_ascii_case(needle_b)
    })
}

/// The ids an existing bug URL names: every `id` parameter of its query string (everything
/// after the first `?`). An id that is not an integer (an alias) is an error, as is a URL
/// without `id`.
pub fn ids_from_bug_url(bug_url: &str) -> Result<Vec<u64>, Error> {
    let query = bug_url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let query = query.split('#').next().unwrap_or_default();
    let mut ids = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "id" {
            let id = v.trim().parse::<u64>().map_err(|_| {
                Error::parse(
                    bug_url,
                    format!("bug id {} is not a number", bugimporters_core::excerpt(&v)),
                )
            })?;
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(Error::parse(
            bug_url,
            "no id= parameter: not a Bugzilla bug URL",
        ));
    }
    Ok(ids)
}

/// The record of one bug: the generic rules of docs/reference-behaviour.md §5.1 applied to `facts`,
/// the project named by `parser`, then `parser`'s adjustments. `last_polled` = `now`,
/// `_tracker_name` = the tracker's name.
///
/// A missing or unreadable `creation_ts`/`delta_ts` is an error naming the bug.
pub fn build_bug(
    facts: &BugFacts,
    settings: &ParseSettings,
    parser: &dyn CustomParser,
    now: NaiveDateTime,
) -> Result<ParsedBug, Error> {
    let link = settings.bug_link(facts.id);
    let date = |text: &str, what: &str| {
        time::parse_datetime(text).ok_or_else(|| {
            Error::parse(
                &link,
                format!("{what} {} is not a date", bugimporters_core::excerpt(text)),
            )
        })
    };
    let mut bug = ParsedBug::new(link.clone());
    bug.title = Some(facts.title.clone());
    bug.status = Some(facts.status.clone());
    bug.importance = Some(facts.severity.clone());
    bug.description = Some(match facts.first_comment.as_deref() {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => EMPTY_DESCRIPTION.to_owned(),
    });
    bug.people_involved = Some(u32::try_from(facts.commenters.len()).unwrap_or(u32::MAX));
    bug.date_reported = Some(date(&facts.created, "creation_ts")?);
    bug.last_touched = Some(date(&facts.changed, "delta_ts")?);
    bug.last_polled = Some(now);
    bug.submitter_username = Some(facts.reporter.clone());
    bug.submitter_realname = Some(Some(facts.reporter_name.clone().unwrap_or_default()));
    bug.looks_closed = Some(CLOSED_STATUSES.contains(&facts.status.as_str()));
    bug.assigned = facts
        .assigned_to
        .as_deref()
        .map(|who| is_taken(who, &facts.status));
    let keywords = || facts.keywords.iter().map(String::as_str);
    bug.good_for_newcomers = Some(match &settings.bitesized {
        BitesizeRule::Keyword(text) => classify::any_piece_equals(text, keywords(), false),
        BitesizeRule::Whiteboard(text) => classify::any_piece_in(text, &facts.whiteboard),
        BitesizeRule::Off => false,
    });
    bug.concerns_just_documentation = Some(match &settings.documentation {
        DocumentationRule::Keyword(text) => classify::any_piece_equals(text, keywords(), false),
        DocumentationRule::Component(text) => {
            classify::any_piece_equals(text, [facts.component.as_str()], false)
        }
        DocumentationRule::Product(text) => {
            classify::any_piece_equals(text, [facts.product.as_str()], false)
        }
        DocumentationRule::Off => false,
    });
    bug.tracker_name = Some(settings.tracker_name.clone());
    bug.project_name = Some(
        parser
            .project_name(facts, settings)
            .map_err(|e| Error::parse(&link, e))?,
    );
    parser.adjust(&mut bug, facts);
    Ok(bug)
}

/// Statuses of a bug nobody has started on. A bug in one of them keeps the component's
/// default assignee, which Bugzilla fills in by itself (often a real person: the component
/// owner), so its `assigned_to` says nothing about anybody working on it.
const UNTAKEN_STATUSES: &[&str] = &["UNCONFIRMED", "NEW", "CONFIRMED", "REOPENED"];

/// Whether a Bugzilla bug is taken (`ParsedBug::assigned`), conservatively, so that a free
/// bug is never hidden from newcomers: `assigned_to` must name a person — not empty, not a
/// placeholder account (`nobody@…`, `none@…`, `unassigned@…`, a list such as `*-bugs@…`,
/// `*-maint@…`, `*-triage@…`, `bug-wranglers@…`, a login without `@` such as `nobody`) —
/// **and** the status must be past the untaken ones (`UNCONFIRMED`, `NEW`, `CONFIRMED`,
/// `REOPENED`), e.g. `ASSIGNED` or `IN_PROGRESS`. The product's own default assignee is not
/// in the bug's XML; the status rule stands in for it.
pub fn is_taken(assigned_to: &str, status: &str) -> bool {
    let who = assigned_to.trim().to_ascii_lowercase();
    let local = who.split('@').next().unwrap_or_default();
    let placeholder = local.is_empty()
        || [
            "nobody",
            "none",
            "unassigned",
            "bugs",
            "bug-wranglers",
            "triage",
        ]
        .contains(&local)
        || [
            "-bugs",
            "-maint",
            "-maintainers",
            "-triage",
            "-unassigned",
            "-null",
        ]
        .iter()
        .any(|s| local.ends_with(s))
        || local.contains("-bugs-");
    let status = status.trim().to_ascii_uppercase();
    !placeholder && !UNTAKEN_STATUSES.contains(&status.as_str())
}

/// Splits a `keywords` text on `,`, trimming the pieces and dropping empty ones.
pub fn split_keywords(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Text of a response: UTF-8 (a byte-order mark dropped); a document declaring
/// ISO-8859-1/Latin-1 that is not valid UTF-8 is read as Latin-1; anything else is read
/// lossily (invalid bytes become U+FFFD) rather than refused.
pub(crate) fn decode_text(body: &[u8]) -> std::borrow::Cow<'_, str> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    match std::str::from_utf8(body) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            let head = String::from_utf8_lossy(&body[..body.len().min(200)]).to_ascii_lowercase();
            if head.contains("iso-8859-1") || head.contains("latin1") || head.contains("latin-1") {
                std::borrow::Cow::Owned(body.iter().map(|&b| char::from(b)).collect())
            } else {
                String::from_utf8_lossy(body)
            }
        }
    }
}

/// One `<bug>` element as read, before the rules.
#[derive(Debug, Default)]
struct RawBug {
    id_text: String,
    error: Option<String>,
    facts: BugFacts,
    dependson: Vec<String>,
    seen_reporter: bool,
    long_descs: usize,
    seen_first_text: bool,
}

fn attr(e: &BytesStart<'_>, name: &[u8], url: &str) -> Result<Option<String>, Error> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| Error::parse(url, format!("bad attribute: {err}")))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .unescape_value()
                .map_err(|err| Error::parse(url, format!("bad attribute value: {err}")))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Streams the `<bug>` children of the root of a Bugzilla XML document to `each`.
fn for_each_bug(body: &[u8], url: &str, mut each: impl FnMut(RawBug)) -> Result<(), Error> {
    let mut text = decode_text(body);
    if text.contains('\r') {
        // XML 1.0 §2.11: literal CR LF and lone CR are read as LF (a `&#13;` stays a CR).
        text = std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"));
    }
    let mut reader = Reader::from_str(&text);
    reader.config_mut().expand_empty_elements = true;
    let bad = |msg: String| Error::parse(url, msg);
    // Names of the open elements, outermost first.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut root: Option<Vec<u8>> = None;
    let mut bug: Option<RawBug> = None;
    let mut buf = String::new();
    loop {
        let event = reader.read_event().map_err(|e| {
            bad(format!(
                "malformed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::DocType(d) => {
                let decl = String::from_utf8_lossy(&d).to_ascii_uppercase();
                if decl.contains("<!ENTITY") {
                    return Err(bad(
                        "the DOCTYPE declares entities; refused (Bugzilla never sends them: an entity bomb or an external entity?)".to_owned(),
                    ));
                }
            }
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if path.len() >= MAX_DEPTH {
                    return Err(bad(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                if path.is_empty() {
                    if root.is_some() {
                        return Err(bad("more than one root element".to_owned()));
                    }
                    if name != b"bugzilla" {
                        return Err(bad(format!(
                            "not Bugzilla XML: the root element is <{}>, not <bugzilla>",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    root = Some(name.clone());
                }
                if path.len() == 1 && name == b"bug" {
                    bug = Some(RawBug {
                        error: attr(&e, b"error", url)?,
                        ..RawBug::default()
                    });
                }
                if let Some(b) = bug.as_mut() {
                    let depth = path.len();
                    if depth == 2 && name == b"reporter" && !b.seen_reporter {
                        b.facts.reporter_name = attr(&e, b"name", url)?;
                    }
                    if depth == 2 && name == b"long_desc" {
                        b.long_descs += 1;
                    }
                }
                path.push(name);
                buf.clear();
            }
            Event::Text(t) => {
                if bug.is_some() {
                    let s = t.unescape().map_err(|e| bad(format!("bad text: {e}")))?;
                    buf.push_str(&s);
                }
            }
            Event::CData(c) => {
                if bug.is_some() {
                    buf.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(bad("unbalanced end tag".to_owned()));
                };
                let depth = path.len();
                if let Some(b) = bug.as_mut() {
                    let text = std::mem::take(&mut buf);
                    if depth == 2 {
                        let f = &mut b.facts;
                        match name.as_slice() {
                            b"bug_id" => b.id_text = text,
                            b"short_desc" => f.title = text,
                            b"bug_status" => f.status = text,
                            b"resolution" => f.resolution = text,
                            b"bug_severity" => f.severity = text,
                            b"priority" => f.priority = text,
                            b"product" => f.product = text,
                            b"component" => f.component = text,
                            b"keywords" => f.keywords = split_keywords(&text),
                            b"status_whiteboard" => f.whiteboard = text,
                            b"creation_ts" => f.created = text,
                            b"delta_ts" => f.changed = text,
                            b"dependson" => b.dependson.push(text),
                            b"assigned_to" => f.assigned_to = Some(text),
                            b"reporter" if !b.seen_reporter => {
                                b.seen_reporter = true;
                                f.reporter = text;
                            }
                            _ => {}
                        }
                    } else if depth > 2 && name == b"who" {
                        b.facts.commenters.insert(text);
                    } else if depth == 3
                        && name == b"thetext"
                        && b.long_descs == 1
                        && !b.seen_first_text
                        && path.get(2).is_some_and(|p| p == b"long_desc")
                    {
                        b.seen_first_text = true;
                        b.facts.first_comment = Some(text);
                    }
                }
                if depth == 1 && name == b"bug" {
                    if let Some(b) = bug.take() {
                        each(b);
                    }
                }
            }
            Event::Eof => break,
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !path.is_empty() {
        return Err(bad(
            "truncated document: unclosed elements at the end".to_owned()
        ));
    }
    if root.is_none() {
        return Err(bad("not Bugzilla XML: no root element".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom::{GenericParser, KdeBugzilla};

    fn now() -> NaiveDateTime {
        time::parse_datetime("2024-05-01T12:00:00").unwrap()
    }

    fn settings() -> ParseSettings {
        let mut s = ParseSettings::new("Miro", "http://bugzilla.example.org").unwrap();
        s.bitesized = BitesizeRule::Keyword("bitesized".into());
        s
    }

    const TWO: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<!DOCTYPE bugzilla SYSTEM "http://bugzilla.example.org/page.cgi?id=bugzilla.dtd">
<bugzilla version="5.0.4" urlbase="http://bugzilla.example.org/">
  <bug error="NotFound"><bug_id>99</bug_id></bug>
  <bug>
    <bug_id>12</bug_id>
    <creation_ts>2010-02-25 16:14:00 +0100</creation_ts>
    <short_desc>JJ: Crash on &quot;save&quot; &amp; quit</short_desc>
    <delta_ts>2010-09-14 23:27:10 -0700</delta_ts>
    <product>docs</product>
    <component>general</component>
    <bug_status>ASSIGNED</bug_status>
    <keywords> bitesized ,junior-jobs</keywords>
    <bug_severity>major</bug_severity>
    <reporter name="Ann O&apos;Neil">ann</reporter>
    <reporter>second</reporter>
    <long_desc isprivate="0"><who name="Ann">ann</who><bug_when>x</bug_when><thetext><![CDATA[first <b>]]> comment</thetext></long_desc>
    <long_desc isprivate="0"><who name="Bob">bob</who><thetext>second</thetext></long_desc>
    <long_desc isprivate="0"><who name="Ann">ann</who><thetext>third</thetext></long_desc>
    <attachment><delta_ts>2020-01-01 00:00:00</delta_ts><attacher>carl</attacher></attachment>
  </bug>
</bugzilla>
"#;

    #[test]
    fn generic_rules() {
        let page = parse_bug_xml(TWO.as_bytes(), "u", &settings(), &GenericParser, now()).unwrap();
        assert_eq!(page.ids, vec![99, 12]);
        assert_eq!(
            page.skipped,
            vec![SkippedBug {
                id: "99".into(),
                error: "NotFound".into()
            }]
        );
        assert!(page.failed.is_empty());
        let b = &page.bugs[0];
        assert_eq!(
            b.canonical_bug_link,
            "http://bugzilla.example.org/show_bug.cgi?id=12"
        );
        assert_eq!(b.title.as_deref(), Some("JJ: Crash on \"save\" & quit"));
        assert_eq!(b.description.as_deref(), Some("first <b> comment"));
        assert_eq!(b.people_involved, Some(2));
        assert_eq!(b.importance.as_deref(), Some("major"));
        assert_eq!(
            time::format_naive(&b.date_reported.unwrap()),
            "2010-02-25T15:14:00"
        );
        assert_eq!(
            time::format_naive(&b.last_touched.unwrap()),
            "2010-09-15T06:27:10"
        );
        assert_eq!(b.submitter_username.as_deref(), Some("ann"));
        assert_eq!(b.submitter_realname, Some(Some("Ann O'Neil".into())));
        assert_eq!(
            b.looks_closed,
            Some(true),
            "ASSIGNED is closed, as the original"
        );
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(false));
        assert_eq!(
            b.assigned, None,
            "no assigned_to element: the tracker does not say"
        );
        assert_eq!(b.project_name.as_deref(), Some("Miro"));
        assert_eq!(b.tracker_name.as_deref(), Some("Miro"));
        assert_eq!(b.last_polled, Some(now()));

        let page = parse_bug_xml(TWO.as_bytes(), "u", &settings(), &KdeBugzilla, now()).unwrap();
        let b = &page.bugs[0];
        assert_eq!(b.title.as_deref(), Some("Crash on \"save\" & quit"));
        assert_eq!(b.project_name.as_deref(), Some("KDE documentation"));
        assert_eq!(b.concerns_just_documentation, Some(true));
    }

    #[test]
    fn assigned_to_other_than_a_default() {
        let with = |who: &str, status: &str| {
            let xml = TWO
                .replace(
                    "<reporter>second</reporter>",
                    &format!(
                        "<reporter>second</reporter><assigned_to name=\"X\">{who}</assigned_to>"
                    ),
                )
                .replace(
                    "<bug_status>ASSIGNED</bug_status>",
                    &format!("<bug_status>{status}</bug_status>"),
                );
            let page =
                parse_bug_xml(xml.as_bytes(), "u", &settings(), &GenericParser, now()).unwrap();
            page.bugs[0].assigned
        };
        assert_eq!(with("dev@example.org", "ASSIGNED"), Some(true));
        assert_eq!(with("dev@example.org", "IN_PROGRESS"), Some(true));
        assert_eq!(
            with("dev@example.org", "NEW"),
            Some(false),
            "the component owner"
        );
        for default in [
            "nobody@mozilla.org",
            "konqueror-bugs-null@kde.org",
            "gimp-bugs@gnome.bugs",
            "xorg-maint@example.org",
            "bug-wranglers@gentoo.org",
            "nobody",
            "",
        ] {
            assert_eq!(with(default, "ASSIGNED"), Some(false), "{default:?}");
        }
    }

    #[test]
    fn empty_description_and_rules() {
        let xml = r#"<?xml version="1.0"?><bugzilla><bug><bug_id>3</bug_id>
            <creation_ts>2006-06-09 12:49</creation_ts><delta_ts>2006-06-09 12:49</delta_ts>
            <short_desc/><bug_status>VERIFIED</bug_status><component>Help</component>
            <status_whiteboard>[good first bug][lang=js]</status_whiteboard>
            <reporter>x</reporter><long_desc><who/><thetext></thetext></long_desc></bug></bugzilla>"#;
        let mut s = settings();
        s.bitesized = BitesizeRule::Whiteboard("[mentor],[good first bug]".into());
        s.documentation = DocumentationRule::Component("Docs,Help".into());
        s.project_name_format = "{tracker_name} {component}".into();
        let page = parse_bug_xml(xml.as_bytes(), "u", &s, &GenericParser, now()).unwrap();
        let b = &page.bugs[0];
        assert_eq!(b.description.as_deref(), Some(EMPTY_DESCRIPTION));
        assert_eq!(b.title.as_deref(), Some(""));
        assert_eq!(b.people_involved, Some(1), "an empty who still counts");
        assert_eq!(
            time::format_naive(&b.date_reported.unwrap()),
            "2006-06-09T12:49:00"
        );
        assert_eq!(b.submitter_realname, Some(Some(String::new())));
        assert_eq!(b.looks_closed, Some(false));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(true));
        assert_eq!(b.project_name.as_deref(), Some("Miro Help"));
    }

    #[test]
    fn bad_bugs_fail_alone() {
        let xml = r#"<?xml version="1.0"?><bugzilla>
            <bug><bug_id>abc</bug_id></bug>
            <bug><bug_id>4</bug_id><creation_ts>yesterday</creation_ts></bug>
            <bug><bug_id>5</bug_id><creation_ts>2001-01-01 00:00</creation_ts><delta_ts>2001-01-01 00:00</delta_ts></bug>
            </bugzilla>"#;
        let page = parse_bug_xml(xml.as_bytes(), "u", &settings(), &GenericParser, now()).unwrap();
        assert_eq!(page.bugs.len(), 1);
        assert_eq!(page.failed.len(), 2);
        assert!(page.failed[1].to_string().contains("show_bug.cgi?id=4"));
        assert_eq!(page.ids, vec![4, 5]);
    }

    #[test]
    fn refuses_entities_and_non_bugzilla_documents() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE bugzilla [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<bugzilla><bug><bug_id>1</bug_id><short_desc>&c;</short_desc></bug></bugzilla>"#;
        let e = parse_bug_xml(bomb.as_bytes(), "u", &settings(), &GenericParser, now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("entities"), "{e}");
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE bugzilla [<!ENTITY x SYSTEM "file:///etc/passwd">]><bugzilla><bug><bug_id>1</bug_id><short_desc>&x;</short_desc></bug></bugzilla>"#;
        assert!(parse_tracking_xml(xxe.as_bytes(), "u").is_err());
        // An undeclared entity is an error too, whatever the DOCTYPE says.
        let undeclared =
            r#"<bugzilla><bug><bug_id>1</bug_id><short_desc>&x;</short_desc></bug></bugzilla>"#;
        assert!(parse_bug_xml(
            undeclared.as_bytes(),
            "u",
            &settings(),
            &GenericParser,
            now()
        )
        .is_err());
        for bad in [
            "<!DOCTYPE html><html><body>Bugzilla is down</body></html>",
            "",
            "<bugzilla><bug><bug_id>1</bug_id>",
            "<bugzilla><bug></bugzilla>",
        ] {
            assert!(
                parse_bug_xml(bad.as_bytes(), "u", &settings(), &GenericParser, now()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tracking_bug_ids() {
        let xml = r#"<?xml version="1.0"?><bugzilla><bug><bug_id>1</bug_id>
          <dependson>5</dependson><dependson> 7 </dependson><dependson>x</dependson>
          <long_desc><dependson>999</dependson></long_desc></bug>
          <bug><bug_id>2</bug_id><dependson>3</dependson></bug></bugzilla>"#;
        assert_eq!(
            parse_tracking_xml(xml.as_bytes(), "u").unwrap(),
            vec![5, 7, 3]
        );
    }

    #[test]
    fn buglist_form() {
        let html = r#"<html><body>
          <form action="buglist.cgi"><input type="hidden" name="id" value="1"><input value="xml"></form>
          <form method="post" action="show_bug.cgi"><input type="hidden" name="id" value="2"></form>
          <form method="post" action="show_bug.cgi">
            <input type="hidden" name="ctype" value="xml">
            <input type="hidden" name="id" value="30">
            <input type="hidden" name="id" value="4">
            <input type="hidden" name="id" value="abc">
            <div><input type="hidden" name="id" value="5"></div>
            <input type="hidden" name="excludefield" value="attachmentdata">
            <button type="submit" id="xml">XML</button>
          </form></body></html>"#;
        assert_eq!(
            parse_buglist_html(html.as_bytes(), "u").unwrap(),
            vec![30, 4]
        );
        assert!(parse_buglist_html(b"<html><body>Login</body></html>", "u").is_err());
        let zero =
            r#"<html><body><span class="zero_results">Zarro Boogs found.</span></body></html>"#;
        assert!(parse_buglist_html(zero.as_bytes(), "u").unwrap().is_empty());
    }

    #[test]
    fn buglist_forms_are_found_without_a_dom_of_the_page() {
        let html = "<TABLE><tr><td>é</td></tr></TABLE>\
            <FORM Action='show_bug.cgi'><input name=id value=1></FORM>\
            <form method=post action=\"/bz/show_bug.cgi\"><input value=xml><input name=id value=7>";
        let forms: Vec<&str> = show_bug_forms(html).collect();
        assert_eq!(forms.len(), 2, "{forms:?}");
        assert!(forms[0].starts_with("<FORM") && forms[0].ends_with("</FORM>"));
        assert!(
            forms[1].ends_with("value=7>"),
            "an unclosed form runs to the end"
        );
        assert_eq!(parse_buglist_html(html.as_bytes(), "u").unwrap(), vec![7]);
        assert_eq!(find_ascii_ci("ab<FoRm", 0, "<form"), Some(2));
        assert_eq!(find_ascii_ci("<form", 1, "<form"), None);
        assert_eq!(find_ascii_ci("", 0, "<form"), None);
    }

    #[test]
    fn query_kind_and_existing_urls() {
        assert_eq!(
            query_response_kind(b"\xef\xbb\xbf  \n<?xml version"),
            QueryResponseKind::TrackingXml
        );
        assert_eq!(
            query_response_kind(b"<!DOCTYPE html>"),
            QueryResponseKind::BuglistHtml
        );
        assert_eq!(query_response_kind(b""), QueryResponseKind::BuglistHtml);
        assert_eq!(
            ids_from_bug_url("http://b/show_bug.cgi?id=5&id=7#c1").unwrap(),
            vec![5, 7]
        );
        assert!(ids_from_bug_url("http://b/show_bug.cgi?id=alias").is_err());
        assert!(ids_from_bug_url("http://b/show_bug.cgi").is_err());
    }

    #[test]
    fn line_ends_are_normalised_as_xml_says() {
        let xml = "<bugzilla><bug><bug_id>1</bug_id><creation_ts>2001-01-01 00:00</creation_ts><delta_ts>2001-01-01 00:00</delta_ts><long_desc><thetext>a\r\nb\rc&#13;d</thetext></long_desc></bug></bugzilla>";
        let page = parse_bug_xml(xml.as_bytes(), "u", &settings(), &GenericParser, now()).unwrap();
        assert_eq!(page.bugs[0].description.as_deref(), Some("a\nb\nc\rd"));
    }

    #[test]
    fn latin1_documents() {
        let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><bugzilla><bug><bug_id>1</bug_id><creation_ts>2001-01-01 00:00</creation_ts><delta_ts>2001-01-01 00:00</delta_ts><short_desc>caf".to_vec();
        xml.push(0xe9);
        xml.extend_from_slice(b"</short_desc></bug></bugzilla>");
        let page = parse_bug_xml(&xml, "u", &settings(), &GenericParser, now()).unwrap();
        assert_eq!(page.bugs[0].title.as_deref(), Some("café"));
    }
}
