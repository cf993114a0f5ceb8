//! Pure parsers: an issue page (HTML) and a CSV export to [`ParsedBug`]s and bug URLs.
//!
//! No I/O here: every function takes the response bytes (and the URL they came from, for
//! canonical links and error messages) and never panics on input. The REST JSON parser is
//! [`crate::rest`].
//!
//! The page rules are the original importer's (docs/reference-behaviour.md §5.6):
//!
//! * **metadata**: for every `th` of the page, the key is its whole text, trimmed, without the
//!   last `:` and what follows; the value is the whole text of its next sibling element,
//!   trimmed (a `th` without one is skipped); later keys overwrite earlier ones. `Title`,
//!   `Status` and `Priority` must be there.
//! * **synopsis**: the `b`/`strong` texts of the `p` after the form named `itemSynopsis`
//!   (directly or after an `hr`): reported date, reporter, last-change date, last changer. More
//!   than four values whose last is the status: the first four. Roundup 2.x's classic template
//!   shows no last-change date (its `<b content="context/activity">` lacks the `tal:` prefix),
//!   so three values `date, reporter, changer` are accepted too, the last change then being
//!   the latest date of the page's history table (else of its messages, else the report date).
//!   Dates in the fixed formats `%Y-%m-%d %H:%M`, `%Y-%m-%d %H:%M:%S`, `%Y-%m-%d.%H:%M`,
//!   `%Y-%m-%d.%H:%M:%S`, kept as written (no zone conversion).
//! * **people**: every `th` reading `Author: Real Name (username)` (or `Author: username`)
//!   names one person; `people_involved` counts distinct usernames; the reporter's real name
//!   comes from there, `null` when the reporter wrote no message.
//! * **description**: the text of the first message, trimmed (`""` without messages). Roundup
//!   2.x lists messages newest first; when every message header carries its `msgN` number the
//!   lowest number is taken, which is the first message on every Roundup version.
//! * **flags**: `looks_closed` when the status, lower-cased, is one of the trimmed, lower-cased
//!   `closed_status` pieces; `good_for_newcomers`/`concerns_just_documentation` when a
//!   non-empty piece of the rule's text is a substring of the named field's value.
//! * **raw_data**: `{}`, or with `--extended-scrape` the metadata map plus `files` and
//!   `messages`, as the original.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use bugimporters_core::{classify, Error, ParsedBug};
use chrono::NaiveDateTime;
use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde_json::{json, Map, Value};
use url::Url;

/// The date formats the original accepted, in order.
pub const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d.%H:%M",
    "%Y-%m-%d.%H:%M:%S",
];

/// A custom parser: adjusts a parsed bug from the issue's fields (by page label: `Status`,
/// `Stage`, ...). Registered per name with `Registry::register_parser` as
/// `Arc<dyn CustomParser>`.
pub trait CustomParser: std::fmt::Debug + Send + Sync + 'static {
    /// The registered name (`roundup.PythonRoundupBugParser`).
    fn name(&self) -> &str;
    /// Changes `bug` after the common rules ran; `fields` maps page labels to values.
    fn adjust(&self, bug: &mut ParsedBug, fields: &BTreeMap<String, String>);
}

/// `roundup.PythonRoundupBugParser` (bugs.python.org): an `open` issue reports its `Stage` as
/// status (`looks_closed` still comes from `Status`). An open issue without a stage keeps
/// `open` (the original failed on a page without a Stage field and wrote `""` for an empty
/// one).
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonRoundupBugParser;

/// Name of [`PythonRoundupBugParser`].
pub const PYTHON_PARSER: &str = "roundup.PythonRoundupBugParser";

impl CustomParser for PythonRoundupBugParser {
    fn name(&self) -> &str {
        PYTHON_PARSER
    }

    fn adjust(&self, bug: &mut ParsedBug, fields: &BTreeMap<String, String>) {
        if fields.get("Status").map(String::as_str) == Some("open") {
            if let Some(stage) = fields.get("Stage").filter(|s| !s.is_empty()) {
                bug.status = Some(stage.clone());
            }
        }
    }
}

/// What the parsers need besides the response: names, rules, the custom parser, flags.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `_tracker_name` and `_project_name`.
    pub tracker_name: String,
    /// Comma-separated closed status names.
    pub closed_status: String,
    /// Label of the bite-size field (blank = off).
    pub bitesized_field: String,
    /// Comma-separated bite-size texts.
    pub bitesized_text: String,
    /// Label of the documentation field (blank = off).
    pub documentation_field: String,
    /// Comma-separated documentation texts.
    pub documentation_text: String,
    /// Copied into every bug.
    pub as_appears_in_distribution: String,
    /// The custom parser, if the configuration names one.
    pub custom_parser: Option<Arc<dyn CustomParser>>,
    /// `--extended-scrape`: fill `raw_data` with the page's metadata.
    pub extended_scrape: bool,
    /// When set, the field labels of every issue parsed are added to it (the importer warns
    /// about a rule field no issue has).
    pub seen_fields: Option<Arc<Mutex<BTreeSet<String>>>>,
}

impl ParseSettings {
    /// Settings with a tracker name and closed list; rules off.
    pub fn new(tracker_name: &str, closed_status: &str) -> Self {
        ParseSettings {
            tracker_name: tracker_name.to_owned(),
            closed_status: closed_status.to_owned(),
            ..ParseSettings::default()
        }
    }
}

/// One parsed issue page.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuePage {
    /// The bug.
    pub bug: ParsedBug,
    /// The page's history says the issue was retired (Roundup keeps serving retired issues;
    /// the importer turns a retired issue the host holds into a `_deleted` record).
    pub retired: bool,
}

/// The values every source (page or REST) yields, before the common rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct IssueCore {
    pub title: String,
    pub status: String,
    pub importance: String,
    pub description: String,
    pub submitter_username: String,
    pub submitter_realname: Option<String>,
    pub people_involved: u32,
    pub date_reported: Option<NaiveDateTime>,
    pub last_touched: Option<NaiveDateTime>,
    /// Values by page label, for the rules and the custom parser.
    pub fields: BTreeMap<String, String>,
}

/// Applies the rules common to pages and REST and builds the record.
pub(crate) fn finish(
    core: IssueCore,
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
    raw_data: Value,
) -> ParsedBug {
    if let Some(seen) = &settings.seen_fields {
        seen.lock()
            .expect("seen fields lock")
            .extend(core.fields.keys().cloned());
    }
    // Field labels are matched case-insensitively (`keywords` names `Keywords`).
    let value = |field: &str| {
        core.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map_or("", |(_, v)| v.as_str())
    };
    let rule =
        |field: &str, text: &str| !field.is_empty() && classify::any_piece_in(text, value(field));
    let mut bug = ParsedBug::new(url);
    bug.looks_closed = Some(classify::status_in_list(
        &core.status,
        &settings.closed_status,
    ));
    bug.good_for_newcomers = Some(rule(&settings.bitesized_field, &settings.bitesized_text));
    bug.concerns_just_documentation = Some(rule(
        &settings.documentation_field,
        &settings.documentation_text,
    ));
    bug.title = Some(core.title);
    bug.description = Some(core.description);
    bug.status = Some(core.status);
    bug.importance = Some(core.importance);
    bug.submitter_username = Some(core.submitter_username);
    bug.submitter_realname = Some(core.submitter_realname);
    bug.people_involved = Some(core.people_involved);
    // `Assigned To` (property `assignedto`): empty when nobody has the issue; absent when the
    // tracker's template (or the REST fields asked for) does not show it.
    bug.assigned = core
        .fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Assigned To"))
        .map(|(_, v)| {
            let v = v.trim();
            !v.is_empty()
                && !["nobody", "anonymous", "(none)"]
                    .iter()
                    .any(|n| v.eq_ignore_ascii_case(n))
        });
    bug.date_reported = core.date_reported;
    bug.last_touched = core.last_touched;
    bug.last_polled = Some(now);
    bug.as_appears_in_distribution = Some(settings.as_appears_in_distribution.clone());
    bug.project_name = Some(settings.tracker_name.clone());
    bug.tracker_name = Some(settings.tracker_name.clone());
    bug.raw_data = Some(raw_data);
    if let Some(custom) = &settings.custom_parser {
        custom.adjust(&mut bug, &core.fields);
    }
    bug
}

/// Parses a date in one of [`DATE_FORMATS`] (after trimming), as written.
pub fn parse_roundup_date(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    DATE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

// html5ever turns "\r\n" into "\n" as HTML requires; the original (libxml2) kept carriage
// returns, and Roundup messages sent from a browser carry them. They are hidden from the
// HTML parser as a private-use character and restored in every text taken from the page.
const CR_MARK: char = '\u{E00D}';

fn restore(text: &str) -> String {
    text.replace(CR_MARK, "\r")
}

fn text_of(el: ElementRef<'_>) -> String {
    restore(&el.text().collect::<String>())
}

fn selector(css: &'static str, cell: &'static OnceLock<Selector>) -> &'static Selector {
    cell.get_or_init(|| Selector::parse(css).unwrap_or_else(|_| unreachable!("valid selector")))
}

fn th_selector() -> &'static Selector {
    static S: OnceLock<Selector> = OnceLock::new();
    selector("th", &S)
}

fn author_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"^Author: (?:([^(]*) \()?([^)]*)").unwrap_or_else(|_| unreachable!())
    })
}

fn msg_number_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"msg(\d+)").unwrap_or_else(|_| unreachable!()))
}

fn next_element(el: ElementRef<'_>) -> Option<ElementRef<'_>> {
    el.next_siblings().find_map(ElementRef::wrap)
}

fn is(el: ElementRef<'_>, name: &str) -> bool {
    el.value().name().eq_ignore_ascii_case(name)
}

/// The `th` → next-sibling map of the page, in first-seen key order.
fn metadata(doc: &Html) -> Map<String, Value> {
    let mut map = Map::new();
    for th in doc.select(th_selector()) {
        let key_with_colon = text_of(th);
        let key_with_colon = key_with_colon.trim();
        let key = match key_with_colon.rfind(':') {
            Some(i) => &key_with_colon[..i],
            None => key_with_colon,
        };
        let Some(value_el) = next_element(th) else {
            continue;
        };
        map.insert(
            key.to_owned(),
            Value::String(text_of(value_el).trim().to_owned()),
        );
    }
    map
}

fn meta_str<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    map.get(key).and_then(Value::as_str)
}

/// The `b`/`strong` texts of the paragraph after the `itemSynopsis` form.
fn synopsis(doc: &Html) -> Vec<String> {
    static S: OnceLock<Selector> = OnceLock::new();
    let forms = selector(r#"form[name="itemSynopsis"]"#, &S);
    let mut out = Vec::new();
    for form in doc.select(forms) {
        let mut next = next_element(form);
        if next.is_some_and(|e| is(e, "hr")) {
            next = next.and_then(next_element);
        }
        let Some(p) = next.filter(|e| is(*e, "p")) else {
            continue;
        };
        for child in p.child_elements() {
            if is(child, "b") || is(child, "strong") {
                out.push(text_of(child));
            }
        }
    }
    out
}

/// Rows of a table: its `tr` children, also inside `thead`/`tbody`/`tfoot`.
fn rows(table: ElementRef<'_>) -> Vec<ElementRef<'_>> {
    let mut out = Vec::new();
    for child in table.child_elements() {
        if is(child, "tr") {
            out.push(child);
        } else if is(child, "tbody") || is(child, "thead") || is(child, "tfoot") {
            out.extend(child.child_elements().filter(|e| is(*e, "tr")));
        }
    }
    out
}

/// Text of `el` before its first child element (lxml's `.text`).
fn leading_text(el: ElementRef<'_>) -> Option<String> {
    let mut out = String::new();
    let mut any = false;
    for child in el.children() {
        match child.value() {
            scraper::Node::Text(t) => {
                out.push_str(t);
                any = true;
            }
            scraper::Node::Element(_) => break,
            _ => {}
        }
    }
    any.then(|| restore(&out))
}

/// Text nodes right after `el` up to the next element (lxml's `.tail`).
fn tail_text(el: ElementRef<'_>) -> String {
    let mut out = String::new();
    for sib in el.next_siblings() {
        match sib.value() {
            scraper::Node::Text(t) => out.push_str(t),
            scraper::Node::Element(_) | scraper::Node::Comment(_) => break,
            _ => {}
        }
    }
    restore(&out)
}

fn xml_escape(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\r' | CR_MARK => out.push_str("&#13;"),
            c if c.is_ascii() => out.push(c),
            c => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
        }
    }
}

/// The element serialised as the original did (`lxml.etree.tostring(el, pretty_print=True)`:
/// XML syntax, ASCII with character references, the tail text, a final newline). Informative
/// only: the exact bytes depend on the HTML parser.
fn xml_string(el: ElementRef<'_>) -> String {
    fn walk(el: ElementRef<'_>, out: &mut String) {
        let e = el.value();
        out.push('<');
        out.push_str(e.name());
        for (name, value) in e.attrs() {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            xml_escape(value, true, out);
            out.push('"');
        }
        if !el.has_children() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in el.children() {
            match child.value() {
                scraper::Node::Text(t) => xml_escape(t, false, out),
                scraper::Node::Comment(c) => {
                    out.push_str("<!--");
                    out.push_str(c);
                    out.push_str("-->");
                }
                scraper::Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        walk(child, out);
                    }
                }
                _ => {}
            }
        }
        out.push_str("</");
        out.push_str(e.name());
        out.push('>');
    }
    let mut out = String::new();
    walk(el, &mut out);
    xml_escape(&tail_text(el), false, &mut out);
    out.push('\n');
    out
}

/// The `files` list of the extended scrape.
fn files(doc: &Html) -> Vec<Value> {
    static S: OnceLock<Selector> = OnceLock::new();
    let Some(table) = doc.select(selector(".files", &S)).next() else {
        return Vec::new();
    };
    rows(table)
        .into_iter()
        .skip(2)
        .filter_map(|row| {
            let mut cells = row.child_elements();
            let first = cells.next()?;
            let href = first.child_elements().next()?.attr("href")?.to_owned();
            let author = cells
                .next()
                .and_then(|c| c.child_elements().next())
                .and_then(leading_text);
            Some(json!({"url": href, "author": author}))
        })
        .collect()
}

/// One message of the messages table.
#[derive(Debug)]
struct Message<'a> {
    number: Option<u64>,
    /// Second header cell's leading text with `Author: ` removed (the extended scrape's).
    author: String,
    date: Option<NaiveDateTime>,
    content: Option<ElementRef<'a>>,
}

fn messages(doc: &Html) -> Vec<Message<'_>> {
    static S: OnceLock<Selector> = OnceLock::new();
    let Some(table) = doc.select(selector(".messages", &S)).next() else {
        return Vec::new();
    };
    let mut out: Vec<Message<'_>> = Vec::new();
    for (i, row) in rows(table).into_iter().skip(1).enumerate() {
        let cells: Vec<ElementRef<'_>> = row.child_elements().collect();
        if i % 2 == 0 {
            let number = cells.first().and_then(|c| {
                msg_number_re()
                    .captures(&text_of(*c))
                    .and_then(|m| m.get(1))
                    .and_then(|m| m.as_str().parse().ok())
            });
            let author = cells
                .get(1)
                .and_then(|c| leading_text(*c))
                .unwrap_or_default()
                .replace("Author: ", "");
            let date = cells.get(2).and_then(|c| {
                let t = text_of(*c);
                parse_roundup_date(t.trim().trim_start_matches("Date:"))
            });
            out.push(Message {
                number,
                author,
                date,
                content: None,
            });
        } else if let Some(last) = out.last_mut() {
            last.content = cells.first().copied();
        }
    }
    out
}

/// History rows: (date, action), in document order.
fn history(doc: &Html) -> Vec<(NaiveDateTime, String)> {
    static S: OnceLock<Selector> = OnceLock::new();
    let mut out = Vec::new();
    for table in doc.select(selector("table.history", &S)) {
        for row in rows(table) {
            let cells: Vec<ElementRef<'_>> =
                row.child_elements().filter(|c| is(*c, "td")).collect();
            let [date, _user, action, ..] = cells.as_slice() else {
                continue;
            };
            let date_text = text_of(*date).replace('\u{a0}', " ");
            if let Some(date) = parse_roundup_date(&date_text) {
                out.push((date, text_of(*action).trim().to_owned()));
            }
        }
    }
    out
}

/// Usernames to real names (`None` when the header shows no real name), from every
/// `Author: ...` header of the page.
fn authors(doc: &Html) -> HashMap<String, Option<String>> {
    let mut map = HashMap::new();
    for th in doc.select(th_selector()) {
        let text = text_of(th);
        if let Some(c) = author_re().captures(text.trim()) {
            let username = c.get(2).map_or("", |m| m.as_str()).to_owned();
            let realname = c.get(1).map(|m| m.as_str().to_owned());
            map.insert(username, realname);
        }
    }
    map
}

/// Parses one issue page fetched from `url` (the canonical link).
pub fn parse_issue_html(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssuePage, Error> {
    let text = String::from_utf8_lossy(body).replace('\r', &CR_MARK.to_string());
    bugimporters_core::parse::check_html(url, &text)?;
    let doc = Html::parse_document(&text);
    let meta = metadata(&doc);
    let required = |key: &str| {
        meta_str(&meta, key).map(str::to_owned).ok_or_else(|| {
            Error::parse(
                url,
                format!("no {key:?} field (a th labelled {key}): not a Roundup issue page"),
            )
        })
    };
    let title = required("Title")?;
    let status = required("Status")?;
    let importance = required("Priority")?;

    let msgs = messages(&doc);
    let hist = history(&doc);
    let mut values = synopsis(&doc);
    if values.len() > 4 && values.last().map(String::as_str) == Some(status.as_str()) {
        values.truncate(4);
    }
    let date = |label: &str, text: &str| {
        parse_roundup_date(text).ok_or_else(|| {
            Error::parse(
                url,
                format!(
                    "{label} {} is not a Roundup date",
                    bugimporters_core::excerpt(text)
                ),
            )
        })
    };
    let (date_reported, submitter_username, last_touched) = match values.as_slice() {
        [reported, reporter, changed, _changer] => (
            date("report date", reported)?,
            reporter.clone(),
            date("last-change date", changed)?,
        ),
        [reported, reporter, _changer] if parse_roundup_date(reported).is_some() => {
            let reported = date("report date", reported)?;
            let latest = hist
                .iter()
                .map(|(d, _)| *d)
                .chain(msgs.iter().filter_map(|m| m.date))
                .max()
                .unwrap_or(reported);
            (reported, reporter.clone(), latest.max(reported))
        }
        other => {
            return Err(Error::parse(
                url,
                format!(
                    "expected 4 values (reported, reporter, changed, changer) after the \
                     itemSynopsis form, found {}: {other:?}",
                    other.len()
                ),
            ))
        }
    };

    let authors = authors(&doc);
    let submitter_realname = authors.get(&submitter_username).cloned().flatten();

    static CONTENT: OnceLock<Selector> = OnceLock::new();
    let numbered = !msgs.is_empty()
        && msgs
            .iter()
            .all(|m| m.number.is_some() && m.content.is_some());
    let first_content = if numbered {
        msgs.iter().min_by_key(|m| m.number).and_then(|m| m.content)
    } else {
        doc.select(selector("table.messages td.content", &CONTENT))
            .next()
    };
    let description = first_content
        .map(|c| text_of(c).trim().to_owned())
        .unwrap_or_default();

    let retired = hist
        .iter()
        .filter(|(_, a)| a == "retired" || a == "restored")
        .max_by_key(|(d, _)| *d)
        .is_some_and(|(_, a)| a == "retired");

    let fields: BTreeMap<String, String> = meta
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .collect();
    let raw_data = if settings.extended_scrape {
        let mut raw = meta.clone();
        raw.insert("files".into(), Value::Array(files(&doc)));
        raw.insert(
            "messages".into(),
            Value::Array(
                msgs.iter()
                    .filter_map(|m| {
                        let content = m.content?.child_elements().next()?;
                        Some(json!({"author": m.author, "message": xml_string(content)}))
                    })
                    .collect(),
            ),
        );
        Value::Object(raw)
    } else {
        Value::Object(Map::new())
    };
    let core = IssueCore {
        title,
        status,
        importance,
        description,
        submitter_username,
        submitter_realname,
        people_involved: u32::try_from(authors.len()).unwrap_or(u32::MAX),
        date_reported: Some(date_reported),
        last_touched: Some(last_touched),
        fields,
    };
    Ok(IssuePage {
        bug: finish(core, url, settings, now, raw_data),
        retired,
    })
}

/// The issue ids of a CSV export (`issue?@action=export_csv&@columns=id,...`), in order.
/// A missing `id` column or a non-numeric id is an error (the original failed the query), and
/// so is an empty body: Roundup writes the header row even for an empty result, so an empty
/// answer is a broken server or proxy, not "no issues".
pub fn parse_csv_ids(body: &[u8], url: &str) -> Result<Vec<u64>, Error> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| Error::parse(url, format!("not a CSV export: {e}")))?
        .clone();
    if headers.is_empty() {
        return Err(Error::parse(
            url,
            "empty body, not a CSV export (an export has a header row even without issues)",
        ));
    }
    let column = headers
        .iter()
        .position(|h| h.trim() == "id")
        .ok_or_else(|| {
            Error::parse(
                url,
                format!(
                    "the CSV export has no id column (columns: {}); add id to @columns",
                    bugimporters_core::excerpt(&headers.iter().collect::<Vec<_>>().join(","))
                ),
            )
        })?;
    let mut ids = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::parse(url, format!("bad CSV row: {e}")))?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let field = record.get(column).unwrap_or("").trim();
        let id = field.parse::<u64>().map_err(|_| {
            Error::parse(
                url,
                format!(
                    "issue id {} is not a number",
                    bugimporters_core::excerpt(field)
                ),
            )
        })?;
        ids.push(id);
    }
    Ok(ids)
}

/// The canonical link of issue `id`: `urljoin(base_url, "issue<id>")`.
pub fn issue_link(base: &Url, id: u64) -> String {
    base.join(&format!("issue{id}"))
        .map(String::from)
        .unwrap_or_else(|_| format!("{base}issue{id}"))
}

/// The issue id of a canonical link (`.../issue123`), if it has that shape.
pub fn issue_id(link: &str) -> Option<u64> {
    let url = Url::parse(link).ok()?;
    if url.query().is_some() {
        return None;
    }
    let last = url.path_segments()?.next_back()?;
    last.strip_prefix("issue")?.parse().ok()
}

/// The bug URLs a CSV export names, joined to `base`.
pub fn parse_query_csv(body: &[u8], url: &str, base: &Url) -> Result<Vec<String>, Error> {
    Ok(parse_csv_ids(body, url)?
        .into_iter()
        .map(|id| issue_link(base, id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_id_column_error_is_bounded_and_holds_no_token() {
        // The server knows the token (it echoes it) and puts it in a 1 MB first line.
        let token = "rt0k3n-very-secret-value-17";
        bugimporters_core::redact::register(token);
        let header = format!("title,{token},{}\n1,x\n", "c,".repeat(500_000));
        let e = parse_csv_ids(header.as_bytes(), "http://r/issue?@action=export_csv")
            .unwrap_err()
            .to_string();
        assert!(e.len() < 1024, "{} bytes", e.len());
        assert!(e.contains("no id column") && !e.contains(token), "{e}");
    }

    fn now() -> NaiveDateTime {
        bugimporters_core::time::parse_datetime("2026-01-01T00:00:00").unwrap()
    }

    const PAGE: &str = r#"<html><body>
<form name="itemSynopsis"><table class="form">
<tr><th>Title:</th><td> A bug </td></tr>
<tr><th>Priority</th><td>urgent</td><th>Status</th><td>Resolved</td></tr>
<tr><th>Keywords</th><td>easy, docs</td></tr>
</table></form>
<p>Created on <b>2020-01-02.03:04:05</b> by <b>ann</b>, last changed <b>2020-02-03 04:05</b> by <b>bob</b>.</p>
<table class="messages">
<tr><th colspan="4">Messages</th></tr>
<tr><th>msg2 (view)</th><th>Author: Bob B (bob)</th><th>Date: 2020-02-03 04:05</th></tr>
<tr><td class="content"><pre>second</pre></td></tr>
<tr><th>msg1 (view)</th><th>Author: Ann A (ann)</th><th>Date: 2020-01-02 03:04</th></tr>
<tr><td class="content"><pre>first &amp; only
line</pre></td></tr>
</table></body></html>"#;

    #[test]
    fn page_fields() {
        let mut s = ParseSettings::new("T", "wontfix, resolved");
        s.bitesized_field = "Keywords".into();
        s.bitesized_text = "hard,eas".into();
        s.documentation_field = "Nope".into();
        s.documentation_text = "docs".into();
        let page = parse_issue_html(PAGE.as_bytes(), "http://x/issue1", &s, now()).unwrap();
        let b = page.bug;
        assert!(!page.retired);
        assert_eq!(b.title.as_deref(), Some("A bug"));
        assert_eq!(b.status.as_deref(), Some("Resolved"));
        assert_eq!(b.looks_closed, Some(true));
        assert_eq!(b.importance.as_deref(), Some("urgent"));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(false));
        assert_eq!(b.description.as_deref(), Some("first & only\nline"));
        assert_eq!(b.submitter_username.as_deref(), Some("ann"));
        assert_eq!(b.submitter_realname, Some(Some("Ann A".into())));
        assert_eq!(b.people_involved, Some(2));
        assert_eq!(
            b.date_reported.map(|d| d.to_string()).as_deref(),
            Some("2020-01-02 03:04:05")
        );
        assert_eq!(
            b.last_touched.map(|d| d.to_string()).as_deref(),
            Some("2020-02-03 04:05:00")
        );
        assert_eq!(b.raw_data, Some(json!({})));
    }

    #[test]
    fn missing_fields_and_bad_synopsis_are_errors() {
        let s = ParseSettings::new("T", "closed");
        let e = parse_issue_html(b"<html><p>hi</p></html>", "u", &s, now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Title"), "{e}");
        let two = PAGE.replace("<b>2020-02-03 04:05</b> by <b>bob</b>", "");
        let e = parse_issue_html(two.as_bytes(), "u", &s, now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("found 2"), "{e}");
        let bad_date = PAGE.replace("2020-01-02.03:04:05", "yesterday");
        assert!(parse_issue_html(bad_date.as_bytes(), "u", &s, now()).is_err());
    }

    #[test]
    fn csv_ids_and_links() {
        let body = b"\"id\",\"title\"\r\n\"4\",\"a, b\"\r\n\"10\",\"c\"\r\n\n";
        assert_eq!(parse_csv_ids(body, "u").unwrap(), vec![4, 10]);
        let base = Url::parse("http://h/bts/").unwrap();
        assert_eq!(
            parse_query_csv(body, "u", &base).unwrap(),
            vec!["http://h/bts/issue4", "http://h/bts/issue10"]
        );
        assert!(parse_csv_ids(b"title\nx\n", "u").is_err());
        assert!(parse_csv_ids(b"id\nx\n", "u").is_err());
        // An empty answer is no export (an empty result still has its header row).
        assert!(parse_csv_ids(b"", "u").is_err());
        assert_eq!(
            parse_csv_ids(b"\"id\",\"title\"\r\n", "u").unwrap(),
            Vec::<u64>::new()
        );
        assert_eq!(issue_id("http://h/bts/issue42"), Some(42));
        assert_eq!(issue_id("http://h/bts/issue42?x=1"), None);
        assert_eq!(issue_id("http://h/bts/msg42"), None);
    }

    #[test]
    fn dates_are_fixed_formats() {
        for (t, want) in [
            ("2007-12-03 16:34", "2007-12-03 16:34:00"),
            ("2007-12-03 16:34:05", "2007-12-03 16:34:05"),
            ("2007-12-03.16:34", "2007-12-03 16:34:00"),
            (" 2026-11-21.20:38:46 ", "2026-11-21 20:38:46"),
        ] {
            assert_eq!(parse_roundup_date(t).unwrap().to_string(), want);
        }
        assert!(parse_roundup_date("2007-12-03T16:34:00+02:00").is_none());
    }
}
