//! Link ownership and URL rules: which bug links a tracker may emit, and which URLs may be
//! stored at all.
//!
//! Every tracker server is untrusted (its configuration is edited by ordinary site users, and
//! the server may be the attacker's), so a record is only believed about links its tracker
//! *owns*: links under the tracker's own web origin and path, as [`LinkScope`] describes. The
//! crawl drops every other record ([`crate::ImportContext::emit`]) and the host database
//! refuses it again on import, because files are imported from anywhere.
//!
//! The rules, the same everywhere:
//!
//! * only absolute `http`/`https` URLs with a host are accepted (no `javascript:`, `data:`,
//!   `file:`, relative or opaque URLs);
//! * a URL never carries userinfo (`http://bob:S3cret@host/`): credentials come from the
//!   secrets mechanism (environment variables named by `token_env` and the other `*_env`
//!   keys, see `docs/config-reference.md`, "Secrets"), never from a URL, so they cannot reach
//!   logs, reports or `canonical_bug_link`;
//! * hosts compare case-insensitively (the `url` crate lower-cases them), ports compare by
//!   their effective value (`http://x/` is `http://x:80/`);
//! * `http` and `https` of the same host and port are the same origin: trackers moved from
//!   http to https keep their links (the original host exported many `http://` links whose
//!   servers now redirect to `https://`), and neither scheme lets one tracker reach another
//!   tracker's links, which differ by host or path;
//! * a path prefix matches at a segment boundary only: `/trac/` owns `/trac/ticket/7`, never
//!   `/tracker/...`; a prefix naming a file (`/show_bug.cgi`) owns that path exactly. Paths are
//!   compared after the `url` crate's normalisation, so `/trac/../other/` does not escape.

use std::fmt;

use url::Url;

use crate::Error;

/// Longest excerpt of a URL quoted in an error message (in characters).
const QUOTE_MAX: usize = 200;

/// One web root a tracker owns: host, effective port and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Root {
    /// Lower-case host.
    host: String,
    /// Port, `None` when it is the default port of its scheme (80 for http, 443 for https).
    port: Option<u16>,
    /// Path prefix, starting with `/`.
    path: String,
    /// Whether the path prefix compares case-insensitively (GitHub owner/repo names).
    path_ignore_case: bool,
}

/// The web origin(s) and path prefix(es) whose links a tracker owns (see the module docs for
/// the rules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkScope {
    roots: Vec<Root>,
}

impl LinkScope {
    /// A scope owning nothing (add roots with [`LinkScope::with`]).
    pub fn none() -> Self {
        LinkScope::default()
    }

    /// A scope owning every link under `root` (an absolute http(s) URL; its query and fragment
    /// are ignored). An error names the URL.
    pub fn under(root: &str) -> Result<Self, Error> {
        LinkScope::none().with(root)
    }

    /// This scope plus the links under `root`.
    pub fn with(self, root: &str) -> Result<Self, Error> {
        self.push(root, false)
    }

    /// This scope plus the links under `root`, whose path compares case-insensitively (for
    /// trackers whose names in paths are case-insensitive, such as GitHub's owner/repo).
    pub fn with_ignore_case(self, root: &str) -> Result<Self, Error> {
        self.push(root, true)
    }

    fn push(mut self, root: &str, path_ignore_case: bool) -> Result<Self, Error> {
        let url = check_http_url(root)?;
        self.roots.push(Root {
            host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: effective_port(&url),
            path: url.path().to_owned(),
            path_ignore_case,
        });
        Ok(self)
    }

    /// Whether `link` is an absolute http(s) URL without userinfo under one of the roots.
    pub fn owns(&self, link: &str) -> bool {
        let Ok(url) = check_http_url(link) else {
            return false;
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = effective_port(&url);
        self.roots.iter().any(|r| {
            r.host == host && r.port == port && path_under(url.path(), &r.path, r.path_ignore_case)
        })
    }

    /// The roots as text, for messages and docs (`http(s)://host[:port]/path`).
    pub fn describe(&self) -> String {
        if self.roots.is_empty() {
            return "nothing".to_owned();
        }
        self.roots
            .iter()
            .map(|r| match r.port {
                Some(p) => format!("http(s)://{}:{p}{}", r.host, r.path),
                None => format!("http(s)://{}{}", r.host, r.path),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for LinkScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

fn effective_port(url: &Url) -> Option<u16> {
    // `Url::port` is already `None` for the scheme's default port.
    url.port()
}

fn path_under(path: &str, prefix: &str, ignore_case: bool) -> bool {
    let (path, prefix) = if ignore_case {
        (path.to_ascii_lowercase(), prefix.to_ascii_lowercase())
    } else {
        (path.to_owned(), prefix.to_owned())
    };
    if path == prefix || prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix.as_str()) {
        Some(rest) => prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// At most 200 characters of `text` with userinfo redacted, `...` and the length
/// appended when cut: what messages and reports show of an untrusted URL.
pub fn bounded_url(text: &str) -> String {
    let shown = redact_userinfo(text);
    let count = shown.chars().count();
    if count <= QUOTE_MAX {
        shown
    } else {
        let cut: String = shown.chars().take(QUOTE_MAX).collect();
        format!("{cut}... ({count} characters)")
    }
}

/// [`bounded_url`] in quotes (control characters escaped), for error messages.
pub fn quote_url(text: &str) -> String {
    format!("{:?}", bounded_url(text))
}

/// Checks that `text` is an absolute http(s) URL with a host and no userinfo, and parses it.
/// The error quotes the URL (bounded, password never shown) and, for userinfo, explains that
/// credentials come from the secrets mechanism.
pub fn check_http_url(text: &str) -> Result<Url, Error> {
    let trimmed = text.trim();
    let url = Url::parse(trimmed)
        .map_err(|e| Error::config(format!("{} is not a valid URL: {e}", quote_url(text))))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(format!(
            "{} must be an http or https URL",
            quote_url(text)
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(format!("{} has no host", quote_url(text))));
    }
    if has_userinfo(&url) {
        return Err(Error::config(format!(
            "{} has a user name or password in it; URLs never carry credentials: give them \
             through the secrets mechanism, an environment variable named by `token_env` or \
             another `*_env` key (see \"Secrets\" in docs/config-reference.md)",
            quote_url(text)
        )));
    }
    Ok(url)
}

fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `text` with any userinfo (`user:password@`) of a URL replaced by `***@`, for printing.
/// Text that is not a URL is searched for `scheme://user@` spans too, so URLs inside error
/// messages are covered.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first `/`, `?`, `#` or whitespace (or a quote, in messages).
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owns_under_the_path_at_a_segment_boundary() {
        let s = LinkScope::under("http://Legit.Example/trac/").unwrap();
        assert!(s.owns("http://legit.example/trac/ticket/7"));
        assert!(
            s.owns("https://LEGIT.example:443/trac/ticket/7"),
            "https and case"
        );
        assert!(s.owns("http://legit.example:80/trac/ticket/7#c1"));
        assert!(!s.owns("http://legit.example/tracker/ticket/7"));
        assert!(!s.owns("http://legit.example/other/ticket/7"));
        assert!(!s.owns("http://legit.example/trac/../other/ticket/7"));
        assert!(!s.owns("http://legit.example/trac/%2e%2e/other/ticket/7"));
        assert!(
            !s.owns("http://legit.example:8080/trac/ticket/7"),
            "other port"
        );
        assert!(!s.owns("http://legit.example.evil/trac/ticket/7"));
        assert!(
            !s.owns("http://evil@legit.example/trac/ticket/7"),
            "userinfo"
        );
        assert!(!s.owns("javascript:alert(1)//legit.example/trac/"));
        assert!(!s.owns("data:text/html,<script>alert(1)</script>"));
        assert!(!s.owns("/trac/ticket/7"), "relative");
        let no_slash = LinkScope::under("http://x/trac").unwrap();
        assert!(no_slash.owns("http://x/trac/ticket/1"));
        assert!(!no_slash.owns("http://x/tracker/1"));
    }

    #[test]
    fn file_prefix_and_several_roots() {
        let s = LinkScope::under("https://bz.example/show_bug.cgi")
            .unwrap()
            .with("https://bz2.example/")
            .unwrap();
        assert!(s.owns("https://bz.example/show_bug.cgi?id=5"));
        assert!(!s.owns("https://bz.example/show_bug.cgi.evil?id=5"));
        assert!(!s.owns("https://bz.example/other"));
        assert!(s.owns("http://bz2.example/anything"));
        assert!(s.describe().contains("bz.example/show_bug.cgi"));
        assert!(!LinkScope::none().owns("https://bz.example/"));
    }

    #[test]
    fn ignore_case_paths() {
        let s = LinkScope::none()
            .with_ignore_case("https://github.com/OpenHatch/oh-bugimporters/issues/")
            .unwrap();
        assert!(s.owns("https://github.com/openhatch/OH-bugimporters/issues/3"));
        assert!(!s.owns("https://github.com/openhatch/other/issues/3"));
    }

    #[test]
    fn check_http_url_refuses_userinfo_without_echoing_it() {
        let e = check_http_url("http://bob:S3cret@host.example/trac/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("S3cret") && !e.contains("bob"), "{e}");
        assert!(
            e.contains("token_env") && e.contains("config-reference"),
            "{e}"
        );
        assert!(check_http_url("ftp://x/").is_err());
        assert!(check_http_url("javascript:alert(1)").is_err());
        assert!(check_http_url("http://").is_err());
        assert!(check_http_url("/relative/x").is_err());
        assert!(check_http_url("https://x.example/a").is_ok());
        let long = format!("javascript:{}", "a".repeat(10_000));
        assert!(check_http_url(&long).unwrap_err().to_string().len() < 600);
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_userinfo("GET http://bob:S3cret@h.example/x?y=1 failed"),
            "GET http://***@h.example/x?y=1 failed"
        );
        assert_eq!(redact_userinfo("https://h/x"), "https://h/x");
        assert_eq!(
            redact_userinfo("\"http://a@b\" and ftp://u:p@c/d"),
            "\"http://***@b\" and ftp://***@c/d"
        );
        assert_eq!(redact_userinfo("no url"), "no url");
    }
}
