//! The one public error type of bugimporters.

use std::time::Duration;

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring, fetching or parsing.
///
/// Every variant names what failed: the tracker (wrap with [`Error::in_tracker`]), the URL or
/// the file. [`Error::is_temporary`] says whether retrying later may help; the fetch layer uses
/// it to decide on retries, and the crawl report shows it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration record (or command-line option) is unusable.
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong, naming the key.
        message: String,
    },
    /// `bugimporter` names a type no registered crate provides.
    #[error("unknown tracker type {name:?}; known types: {known}")]
    UnknownType {
        /// The name as written in the configuration.
        name: String,
        /// Comma-separated list of known types and aliases.
        known: String,
    },
    /// `custom_parser` names a parser that is not registered for the tracker type.
    #[error("unknown custom parser {name:?} for tracker type {kind}; known parsers: {known}")]
    UnknownParser {
        /// Tracker type.
        kind: String,
        /// The parser name as written in the configuration.
        name: String,
        /// Comma-separated list of known parsers (or `none`).
        known: String,
    },
    /// The server answered with a status that is not a success after all retries, or an
    /// answer the request's classifier ([`crate::fetch::Request::classify`]) did not call a
    /// success (then `status` may be 200).
    #[error("{url}: HTTP {status}{}", show_excerpt(.excerpt.as_deref()))]
    Status {
        /// The requested URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// How long the server asked us to wait (`Retry-After`, a rate-limit reset), if it
        /// did. On a 403 it marks a rate limit (GitHub's primary and secondary limits, whose
        /// body says so, get one minute when no header says more), which is temporary.
        retry_after: Option<Duration>,
        /// The start of the body ([`body_excerpt`]: at most [`BODY_EXCERPT_MAX`] bytes, on one
        /// line, secrets redacted), when there was one.
        excerpt: Option<Box<str>>,
        /// What the answer means, when the fetch layer classified it
        /// ([`crate::fetch::Outcome`]); `None` (an error built elsewhere) decides from the
        /// status alone. [`Error::is_temporary`] and [`Error::is_not_found`] follow it.
        outcome: Option<crate::fetch::Outcome>,
    },
    /// Connecting, sending or receiving failed (timeouts, resets, DNS, TLS).
    #[error("{url}: {message}")]
    Network {
        /// The requested URL.
        url: String,
        /// What failed: the messages of the whole chain, so that a report line needs no more.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// The underlying error (reqwest's, with its own chain: hyper, I/O, TLS), for a caller
        /// that inspects it; `None` for a failure of our own (the low-speed limit) or one a
        /// test's transport made up.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The request was refused before any connection: a private address, a scheme other than
    /// http/https, or a URL that cannot be requested.
    #[error("{url}: refused: {reason}")]
    Refused {
        /// The URL that was refused.
        url: String,
        /// Why.
        reason: String,
    },
    /// The body exceeded the configured maximum size.
    #[error("{url}: response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The requested URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// More redirects than allowed (or a redirect loop).
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects {
        /// The first URL of the chain.
        url: String,
        /// The redirect limit.
        limit: usize,
    },
    /// A response could not be parsed.
    #[error("{url}: cannot parse response: {message}")]
    Parse {
        /// The URL (or file) the response came from.
        url: String,
        /// What was wrong with it.
        message: String,
    },
    /// In `--replay` mode, a request whose URL is not in the index.
    #[error("{url}: not in the replay index")]
    NotRecorded {
        /// The requested URL.
        url: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The host's circuit breaker is open: it failed `failures` consecutive attempts in this
    /// run, so its remaining requests fail at once (temporary: the next run tries again).
    #[error("{url}: host {host} failed {failures} consecutive attempts; its remaining requests in this run fail fast (circuit breaker)")]
    HostUnavailable {
        /// The requested URL.
        url: String,
        /// `host:port` of the breaker.
        host: String,
        /// The threshold that opened it.
        failures: u32,
    },
    /// The tracker's run took longer than the per-tracker deadline (`--tracker-timeout`) and was
    /// abandoned (temporary: its records so far are kept, its deletions withheld).
    #[error("the tracker's run was abandoned after {limit_s} s (--tracker-timeout): records written so far are kept, deletions withheld")]
    TrackerDeadline {
        /// The deadline in seconds.
        limit_s: u64,
    },
    /// The output channel was closed: the run is shutting down.
    #[error("the output was closed")]
    Closed,
    /// An error inside one tracker's work, naming the tracker.
    #[error("tracker {tracker:?}: {source}")]
    Tracker {
        /// `tracker_name` of the configuration record.
        tracker: String,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    /// A parse error for a response from `url`.
    pub fn parse(url: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Parse {
            url: url.into(),
            message: message.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// Wraps the error so that it names `tracker` (idempotent for the same tracker).
    pub fn in_tracker(self, tracker: &str) -> Self {
        match self {
            Error::Tracker { tracker: ref t, .. } if t == tracker => self,
            other => Error::Tracker {
                tracker: tracker.to_owned(),
                source: Box::new(other),
            },
        }
    }

    /// The error without [`Error::Tracker`] wrappers.
    pub fn inner(&self) -> &Error {
        match self {
            Error::Tracker { source, .. } => source.inner(),
            other => other,
        }
    }

    /// Whether trying again later may succeed: 408, 425, 429 and 5xx statuses, a 403 that is
    /// a rate limit (it carries a wait: `Retry-After`, an exhausted `X-RateLimit-Remaining`, a
    /// rate-limit body, or a wait longer than `--max-wait`), timeouts and connection failures.
    /// Configuration, parse and refusal errors are permanent. A temporary error in a tracker's
    /// run withholds its deletions.
    pub fn is_temporary(&self) -> bool {
        match self.inner() {
            Error::Status {
                outcome: Some(outcome),
                ..
            } => *outcome == crate::fetch::Outcome::Temporary,
            Error::Status {
                status,
                retry_after,
                ..
            } => is_temporary_status(*status) || (*status == 403 && retry_after.is_some()),
            Error::Network { .. }
            | Error::HostUnavailable { .. }
            | Error::TrackerDeadline { .. } => true,
            _ => false,
        }
    }

    /// Whether the server said the resource is gone: HTTP 404 or 410, or an answer the
    /// request's classifier called [`crate::fetch::Outcome::NotFound`].
    pub fn is_not_found(&self) -> bool {
        match self.inner() {
            Error::Status {
                outcome: Some(outcome),
                ..
            } => *outcome == crate::fetch::Outcome::NotFound,
            Error::Status { status, .. } => matches!(status, 404 | 410),
            _ => false,
        }
    }

    /// A status error without a body, wait or classification (the same as the fetch layer's
    /// for a bodiless answer): what a parser returns for an answer it refuses.
    pub fn status_error(url: impl Into<String>, status: u16) -> Self {
        Error::Status {
            url: url.into(),
            status,
            retry_after: None,
            excerpt: None,
            outcome: None,
        }
    }

    /// The HTTP status, when the error is a status error.
    pub fn status(&self) -> Option<u16> {
        match self.inner() {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The URL the error is about, if it is about one.
    pub fn url(&self) -> Option<&str> {
        match self.inner() {
            Error::Status { url, .. }
            | Error::Network { url, .. }
            | Error::Refused { url, .. }
            | Error::BodyTooLarge { url, .. }
            | Error::TooManyRedirects { url, .. }
            | Error::Parse { url, .. }
            | Error::HostUnavailable { url, .. }
            | Error::NotRecorded { url } => Some(url),
            _ => None,
        }
    }
}

/// The most bytes of input an error message quotes (see [`excerpt`]).
pub const EXCERPT_MAX: usize = 200;

/// A bounded, printable quote of untrusted input for an error message: the text in quotes,
/// control characters (and quotes, backslashes, invisible format characters) escaped as
/// `Debug` does, registered secrets and secret query parameters scrubbed (see
/// [`crate::redact`]), cut on a character boundary after at most [`EXCERPT_MAX`] bytes, and
/// then followed by `…` and the input's total length. Every parse error that quotes a field
/// of a response uses it, so that a 60 MB title gives a message of a few hundred bytes.
///
/// ```
/// use bugimporters_core::excerpt;
/// assert_eq!(excerpt("2020-13-01"), "\"2020-13-01\"");
/// let long = "x".repeat(1_000_000);
/// let e = excerpt(&long);
/// assert!(e.len() < 300 && e.ends_with("… (1000000 bytes)"), "{e}");
/// assert_eq!(excerpt("a\nb"), "\"a\\nb\"");
/// ```
pub fn excerpt(text: &str) -> String {
    bounded(text, true, EXCERPT_MAX, text.len())
}

/// [`excerpt`] without the quotes, for a message the server sent (`the server says: …`).
///
/// ```
/// assert_eq!(bugimporters_core::excerpt_plain("Not Found"), "Not Found");
/// ```
pub fn excerpt_plain(text: &str) -> String {
    bounded(text, false, EXCERPT_MAX, text.len())
}

/// The most bytes of a response body an [`Error::Status`] quotes (see [`body_excerpt`]).
pub const BODY_EXCERPT_MAX: usize = 512;

/// The excerpt of a response body an [`Error::Status`] carries, or `None` for a blank body:
/// like [`excerpt`] (quoted, escaped, registered secrets and secret query parameters
/// redacted) but up to [`BODY_EXCERPT_MAX`] bytes, with runs of white space folded into one
/// space (an HTML error page stays readable on one line), and with `secrets` — the request's
/// own secret values (a token header, a secret form field) — redacted too, registered or not.
///
/// ```
/// use bugimporters_core::body_excerpt;
/// let page = b"<h1>Bad gateway</h1>\n\n   <p>token s3cret-abc echoed</p>";
/// assert_eq!(
///     &*body_excerpt(page, &["s3cret-abc"]).unwrap(),
///     "\"<h1>Bad gateway</h1> <p>token [REDACTED] echoed</p>\""
/// );
/// assert_eq!(body_excerpt(b" \n", &[]), None);
/// ```
pub fn body_excerpt(body: &[u8], secrets: &[&str]) -> Option<Box<str>> {
    let longest = secrets.iter().map(|s| s.len()).max().unwrap_or(0);
    let window = body
        .len()
        .min(BODY_EXCERPT_MAX + longest.max(crate::redact::longest_secret()) + 64);
    let mut text = String::from_utf8_lossy(&body[..window]).into_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, crate::redact::REDACTED);
    }
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return None;
    }
    let total = if window < body.len() {
        body.len()
    } else {
        folded.len()
    };
    Some(bounded(&folded, true, BODY_EXCERPT_MAX, total).into())
}

/// How [`Error::Status`] shows its excerpt.
fn show_excerpt(excerpt: Option<&str>) -> String {
    excerpt.map(|e| format!(", body {e}")).unwrap_or_default()
}

/// `text` quoted (or not), escaped, scrubbed and cut after about `max` bytes; `total` is the
/// length named after a cut (the input's, which `text` may be a window of).
fn bounded(text: &str, quoted: bool, max: usize, total: usize) -> String {
    // Scrub a little more than is shown, so that a secret cut by the limit is still found.
    let window = floor_boundary(text, max + crate::redact::longest_secret() + 64);
    let scrubbed = crate::redact::scrub(&text[..window]);
    let mut out = String::with_capacity(max + 32);
    if quoted {
        out.push('"');
    }
    let mut cut = false;
    for c in scrubbed.chars() {
        let debug = format!("{c:?}");
        let escaped = match c {
            '\'' => "'",
            '"' if quoted => "\\\"",
            '"' => "\"",
            '\\' if !quoted => "\\",
            _ => &debug[1..debug.len() - 1],
        };
        if out.len() + escaped.len() > max + 1 {
            cut = true;
            break;
        }
        out.push_str(escaped);
    }
    if quoted {
        out.push('"');
    }
    if cut || window < text.len() || total > text.len() {
        out.push_str(&format!("… ({total} bytes)"));
    }
    out
}

/// The largest char boundary of `text` at or below `max`.
fn floor_boundary(text: &str, max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    let mut i = max;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Statuses worth retrying: 408, 425, 429, 500, 502, 503, 504.
pub(crate) fn is_temporary_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_wrapper_names_tracker_and_keeps_kind() {
        let e = Error::status_error("http://x/y", 503).in_tracker("Twisted");
        assert_eq!(e.to_string(), "tracker \"Twisted\": http://x/y: HTTP 503");
        assert!(e.is_temporary());
        assert_eq!(e.url(), Some("http://x/y"));
        let twice = e.in_tracker("Twisted");
        assert!(matches!(twice.inner(), Error::Status { .. }));
        assert!(
            !matches!(twice, Error::Tracker { ref source, .. } if matches!(**source, Error::Tracker { .. }))
        );
    }

    #[test]
    fn excerpts_are_bounded_and_printable() {
        let title = "é".repeat(30_000_000);
        let e = excerpt(&title);
        assert!(e.len() <= EXCERPT_MAX + 40, "{} bytes", e.len());
        assert!(e.ends_with("… (60000000 bytes)"), "{e}");
        let control = "\u{1b}[31m\r\n".repeat(100);
        let e = excerpt(&control);
        assert!(!e.contains(['\u{1b}', '\r', '\n']), "{e}");
        assert!(e.len() <= EXCERPT_MAX + 40, "{e}");
        assert_eq!(excerpt("it's"), "\"it's\"");
    }

    /// Results carrying an `Error` stay small (clippy's `result_large_err` in the crates that
    /// wrap it): the body excerpt is a `Box<str>`, the network source reqwest's thin error.
    #[test]
    fn the_error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 72,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn not_found_is_permanent() {
        let e = Error::status_error("u", 410);
        assert!(e.is_not_found());
        assert!(!e.is_temporary());
        assert!(!Error::parse("u", "bad").is_temporary());
    }
}
