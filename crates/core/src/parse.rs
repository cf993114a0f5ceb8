//! CPU-heavy parsing off the async runtime, and the cost bound of HTML.
//!
//! A hostile tracker can send a page that is cheap to send and expensive to parse (200 KB of
//! nested `<div>` took seconds, 1 MB minutes, with `html5ever`). Parsed on the runtime's
//! worker threads, one such page starved every other tracker of the run. So:
//!
//! * the crawl runs every tracker as a task of its own, so a tracker busy parsing holds at most
//!   one worker thread, never the other trackers (`crates/crawl/tests/isolation.rs`);
//! * every tracker parses every response body (JSON, XML, HTML or CSV) through [`blocking`]: a
//!   bounded pool ([`pool_size`] threads of tokio's blocking pool at once) with a deadline
//!   ([`PARSE_DEADLINE`]) after which the awaiting importer gets an [`Error::Parse`] and goes
//!   on (the abandoned parse finishes in the background, holding its slot, so the pool stays
//!   bounded). A parse is handed to the pool as an owned, `'static` [`Job`]: the response
//!   body (a cheap [`Bytes`] clone), its URL and the settings the parser needs (an `Arc` or
//!   a clone), never a borrow of the importer. The traits of [`crate::forge`] hand out such
//!   jobs (`IssuePages::page_parser`, `IssueRefresh::issue_parser`) and their pager and
//!   refresh run them; other trackers build theirs with [`Job::of`] or [`Job::new`]
//!   (`docs/plugin-guide.md`, "Parsing off the runtime");
//! * every HTML page is checked by [`check_html`] before it is handed to a DOM parser: at most
//!   [`HTML_MAX_BYTES`] (smaller than the fetch layer's body limit for JSON/XML), at most
//!   [`HTML_MAX_ELEMENTS`] elements and at most [`HTML_MAX_DEPTH`] nested elements, measured by
//!   a linear scan that never builds a tree;
//! * every JSON body is checked by [`check_json`] before it is parsed: at most
//!   [`JSON_MAX_VALUES`] values, counted by a linear scan (the fetch layer's body limit bounds
//!   its bytes, this bounds the tree a parser would build).
//!
//! The figures (`bench parse`) are in `docs/performance.md`; the threats in
//! `docs/security.md`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::fetch::Response;
use crate::Error;

/// How long an importer waits for one parse before it gets an error.
pub const PARSE_DEADLINE: Duration = Duration::from_secs(30);

/// Largest HTML page given to a DOM parser (8 MiB; JSON and XML get the fetch layer's
/// `--max-body-mib`, 64 MiB by default).
pub const HTML_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Most elements (start tags) in an HTML page given to a DOM parser.
pub const HTML_MAX_ELEMENTS: usize = 500_000;

/// Deepest nesting of elements in an HTML page given to a DOM parser. Elements whose end tag
/// HTML lets one omit (`p`, `li`, `td`, `option`, ...) and void elements (`br`, `img`, ...) do
/// not nest in this count, as they do not in a browser.
pub const HTML_MAX_DEPTH: usize = 128;

/// Most values in a JSON body given to a JSON parser (see [`check_json`]). A page of a
/// tracker API holds far fewer (100 GitHub issues are about 13 000); a 64 MiB body of `[0,0,…]`
/// holds 33 million, which took 11 s and 7.6 GiB to parse into a tree.
pub const JSON_MAX_VALUES: usize = 1_000_000;

/// Threads that may parse at once: the machine's parallelism, and at least 2, so that on a
/// one-CPU machine one costly page never holds every other tracker's parsing for up to
/// [`PARSE_DEADLINE`].
pub fn pool_size() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

fn pool() -> Arc<Semaphore> {
    static POOL: OnceLock<Arc<Semaphore>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(Semaphore::new(pool_size())))
        .clone()
}

/// Runs the parse `f` of a response from `url` on the bounded blocking pool, with
/// [`PARSE_DEADLINE`]. Errors name `url`.
pub async fn blocking<T, F>(url: &str, f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    blocking_within(url, PARSE_DEADLINE, f).await
}

/// [`blocking`] with another deadline (tests, benchmarks). The deadline counts from the moment
/// the parse gets its slot in the pool.
pub async fn blocking_within<T, F>(url: &str, deadline: Duration, f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let permit = pool().acquire_owned().await.map_err(|_| Error::Closed)?;
    let task = tokio::task::spawn_blocking(move || {
        let _slot = permit;
        f()
    });
    match tokio::time::timeout(deadline, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(Error::parse(url, format!("the parser failed: {join}"))),
        Err(_) => Err(Error::parse(
            url,
            format!(
                "parsing took longer than {} s; abandoned (see docs/security.md)",
                deadline.as_secs()
            ),
        )),
    }
}

/// One parse, owned and `'static`, ready to run on the bounded pool with [`Job::run`]: what
/// every tracker hands the pool instead of parsing on the async runtime (see the module docs).
///
/// ```
/// # use bugimporters_core::parse::Job;
/// # use bugimporters_core::Error;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let body = bytes::Bytes::from_static(b"[1, 2, 3]");
/// let job = Job::new("https://t.example/issues", body, |body, url| {
///     serde_json::from_slice::<Vec<u32>>(body).map_err(|e| Error::parse(url, e.to_string()))
/// });
/// assert_eq!(job.run().await.unwrap(), vec![1, 2, 3]);
/// # });
/// ```
pub struct Job<T> {
    url: String,
    parse: Box<dyn FnOnce() -> Result<T, Error> + Send>,
}

impl<T: Send + 'static> Job<T> {
    /// The parse of `body`, fetched from `url`, by `parse` (given the body and `url`, which its
    /// errors name). `parse` owns what it needs besides: an `Arc` of the settings, a clone.
    pub fn new<F>(url: impl Into<String>, body: Bytes, parse: F) -> Self
    where
        F: FnOnce(&[u8], &str) -> Result<T, Error> + Send + 'static,
    {
        let url = url.into();
        let named = url.clone();
        Job {
            url,
            parse: Box::new(move || parse(&body, &named)),
        }
    }

    /// [`Job::new`] for the body of `resp`, named by the URL that answered (after redirects).
    pub fn of<F>(resp: &Response, parse: F) -> Self
    where
        F: FnOnce(&[u8], &str) -> Result<T, Error> + Send + 'static,
    {
        Job::new(resp.url.as_str(), resp.body.clone(), parse)
    }

    /// This job with `f` applied to its result (on the pool, after the parse).
    pub fn map<U: Send + 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Job<U> {
        let parse = self.parse;
        Job {
            url: self.url,
            parse: Box::new(move || parse().map(f)),
        }
    }

    /// Runs the parse on the bounded pool with [`PARSE_DEADLINE`] (see [`blocking`]).
    pub async fn run(self) -> Result<T, Error> {
        blocking(&self.url, self.parse).await
    }
}

impl<T> std::fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("url", &self.url).finish()
    }
}

/// Refuses an HTML page that is too costly to parse: over [`HTML_MAX_BYTES`], more than
/// [`HTML_MAX_ELEMENTS`] elements or nested deeper than [`HTML_MAX_DEPTH`]. Linear in the
/// page's length; the error names `url` and the limit.
pub fn check_html(url: &str, html: &str) -> Result<(), Error> {
    if html.len() > HTML_MAX_BYTES {
        return Err(Error::parse(
            url,
            format!(
                "HTML page of {} bytes is over the {HTML_MAX_BYTES}-byte HTML limit",
                html.len()
            ),
        ));
    }
    let cost = html_cost(html.as_bytes());
    if cost.elements > HTML_MAX_ELEMENTS {
        return Err(Error::parse(
            url,
            format!("HTML page has more than {HTML_MAX_ELEMENTS} elements; not parsed"),
        ));
    }
    if cost.depth > HTML_MAX_DEPTH {
        return Err(Error::parse(
            url,
            format!("HTML page nests elements deeper than {HTML_MAX_DEPTH}; not parsed"),
        ));
    }
    Ok(())
}

/// Refuses a JSON body that is too costly to parse into a tree: more than
/// [`JSON_MAX_VALUES`] values (see [`json_values`]). Linear in the body's length and
/// allocation-free; the error names `url` and the limit. Every JSON parser of a response body
/// calls it first (the fetch layer's body limit bounds the bytes, this bounds the tree).
pub fn check_json(url: &str, body: &[u8]) -> Result<(), Error> {
    if json_values(body) > JSON_MAX_VALUES {
        return Err(Error::parse(
            url,
            format!(
                "JSON body of {} bytes has more than {JSON_MAX_VALUES} values; not parsed",
                body.len()
            ),
        ));
    }
    Ok(())
}

/// Decodes the JSON body `body` fetched from `url` after [`check_json`]: the one way a JSON
/// response becomes a value, so that no parser forgets the cost check. Errors name `url`
/// (`invalid JSON: …`).
pub fn json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, Error> {
    check_json(url, body)?;
    serde_json::from_slice(body).map_err(|e| Error::parse(url, format!("invalid JSON: {e}")))
}

/// An upper bound of the values and keys of the JSON text `body`, in one pass without
/// parsing: one, plus one per `[`, `{`, `,` and `:` outside strings. Malformed text is counted
/// all the same (the parser rejects it afterwards).
pub fn json_values(body: &[u8]) -> usize {
    let mut n = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &c in body {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' | b',' | b':' => n += 1,
            _ => {}
        }
    }
    n
}

/// What [`html_cost`] measured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HtmlCost {
    /// Start tags.
    pub elements: usize,
    /// Deepest nesting of elements that nest (see [`HTML_MAX_DEPTH`]).
    pub depth: usize,
}

/// Elements that do not nest: void elements and those whose end tag may be omitted.
const FLAT: &[&[u8]] = &[
    b"area",
    b"base",
    b"br",
    b"col",
    b"embed",
    b"hr",
    b"img",
    b"input",
    b"link",
    b"meta",
    b"param",
    b"source",
    b"track",
    b"wbr",
    b"p",
    b"li",
    b"dt",
    b"dd",
    b"option",
    b"optgroup",
    b"tr",
    b"td",
    b"th",
    b"thead",
    b"tbody",
    b"tfoot",
    b"colgroup",
    b"caption",
    b"rb",
    b"rt",
    b"rp",
    b"rtc",
    b"html",
    b"head",
    b"body",
];

/// Elements whose content is text up to their end tag.
const RAW_TEXT: &[&[u8]] = &[b"script", b"style", b"textarea", b"title", b"xmp"];

/// Counts elements and nesting depth of `html` in one pass, without building a tree
/// (comments, doctype and the content of `script`/`style`/`textarea`/`title` are skipped).
pub fn html_cost(html: &[u8]) -> HtmlCost {
    let mut cost = HtmlCost::default();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = memchr(b'<', &html[i..]) {
        i += off + 1;
        let rest = &html[i..];
        if rest.starts_with(b"!--") {
            i += find(&rest[3..], b"-->").map_or(rest.len(), |p| p + 6);
            continue;
        }
        if rest.first().is_some_and(|c| *c == b'!' || *c == b'?') {
            i += memchr(b'>', rest).map_or(rest.len(), |p| p + 1);
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let name_start = usize::from(closing);
        let name_len = rest[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if name_len == 0 || !rest[name_start].is_ascii_alphabetic() {
            continue;
        }
        let name = rest[name_start..name_start + name_len].to_ascii_lowercase();
        let (tag_len, self_closing) = tag_end(&rest[name_start + name_len..]);
        i += name_start + name_len + tag_len;
        let flat = FLAT.contains(&name.as_slice());
        if closing {
            if !flat {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        cost.elements += 1;
        if RAW_TEXT.contains(&name.as_slice()) {
            i += skip_raw_text(&html[i..], &name);
            continue;
        }
        if !flat && !self_closing {
            depth += 1;
            cost.depth = cost.depth.max(depth);
        }
    }
    cost
}

/// Length up to and including the `>` ending a tag (quotes respected), and whether it is
/// `/>`.
fn tag_end(rest: &[u8]) -> (usize, bool) {
    let mut quote = None;
    for (k, &c) in rest.iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return (k + 1, k > 0 && rest[k - 1] == b'/'),
            (None, _) => {}
        }
    }
    (rest.len(), false)
}

/// Bytes to skip after `<name ...>` of a raw-text element: up to its end tag.
fn skip_raw_text(rest: &[u8], name: &[u8]) -> usize {
    let mut k = 0;
    while let Some(off) = find(&rest[k..], b"</") {
        let at = k + off + 2;
        let candidate = rest.get(at..at + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name)) {
            return at - 2;
        }
        k = at;
    }
    rest.len()
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|c| *c == needle)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_cost_counts_nesting_like_a_browser() {
        let c = html_cost(b"<!DOCTYPE html><html><head><title>a<b>c</title></head><body><div class=\"x>y\"><p>one<p>two<br><img src=x /><span>s</span></div><!-- <div><div> --><script>if (a<b) {}</script></body></html>");
        assert_eq!(
            c.depth, 2,
            "div > span; p, br, img and comments do not nest"
        );
        assert_eq!(c.elements, 11);
        let nested = "<div>".repeat(1000);
        assert_eq!(html_cost(nested.as_bytes()).depth, 1000);
        assert_eq!(html_cost("<a x=\"1\">".repeat(300).as_bytes()).depth, 300);
        let closed = "<div><b>x</b></div>".repeat(1000);
        assert_eq!(html_cost(closed.as_bytes()).depth, 2);
        assert_eq!(html_cost(b"<p>".repeat(10).as_slice()).depth, 0);
    }

    #[test]
    fn check_html_refuses_costly_pages_and_names_the_url() {
        assert!(check_html("http://t/1", "<html><body><div>ok</div></body></html>").is_ok());
        let deep = "<div>".repeat(HTML_MAX_DEPTH + 1);
        let e = check_html("http://t/1", &deep).unwrap_err();
        assert!(e.to_string().contains("http://t/1"), "{e}");
        assert!(e.to_string().contains("deeper than 128"), "{e}");
        let many = "<br>".repeat(HTML_MAX_ELEMENTS + 1);
        assert!(check_html("u", &many)
            .unwrap_err()
            .to_string()
            .contains("elements"));
        let big = " ".repeat(HTML_MAX_BYTES + 1);
        assert!(check_html("u", &big)
            .unwrap_err()
            .to_string()
            .contains("HTML limit"));
    }

    #[test]
    fn check_json_counts_values_outside_strings_and_refuses_too_many() {
        assert_eq!(json_values(b"0"), 1);
        assert_eq!(
            json_values(b"[0,0,0]"),
            4,
            "one bracket, two commas, plus one"
        );
        assert_eq!(json_values(br#"{"a":1,"b":[2]}"#), 6);
        // Structural characters inside strings, escaped quotes included, do not count.
        assert_eq!(json_values(br#"["a,b:[{", "\",:{"]"#), 3);
        assert!(check_json("http://t/1", br#"[{"number":1}]"#).is_ok());
        let many = format!("[{}0]", "0,".repeat(JSON_MAX_VALUES));
        let e = check_json("http://t/1", many.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("http://t/1"), "{e}");
        assert!(e.to_string().contains("more than 1000000 values"), "{e}");
        let admitted = format!("[{}0]", "0,".repeat(JSON_MAX_VALUES - 2));
        assert!(check_json("u", admitted.as_bytes()).is_ok());
    }

    #[tokio::test]
    async fn a_parse_past_its_deadline_is_an_error_for_the_importer() {
        let e = blocking_within("http://t/slow", Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("http://t/slow"), "{e}");
        assert!(e.to_string().contains("longer than"), "{e}");
        assert_eq!(blocking("u", || Ok(7)).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn parsing_does_not_block_the_runtime() {
        // On a one-thread runtime, a timer keeps ticking while a long parse runs.
        let ticker = tokio::spawn(async {
            let mut n = 0;
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                n += 1;
            }
            n
        });
        blocking("u", || {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        })
        .await
        .unwrap();
        assert!(ticker.is_finished(), "the timer ran during the parse");
        assert_eq!(ticker.await.unwrap(), 5);
    }
}
