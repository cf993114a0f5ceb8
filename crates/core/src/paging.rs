//! Helpers for walking paged REST listings: the `Link` header (RFC 8288) and query
//! parameters.
//!
//! GitHub, GitLab and Gitea/Forgejo all page their issue lists with a
//! `Link: <url>; rel="next"` header; these helpers read it without any tracker knowledge.
//!
//! ```
//! use bugimporters_core::paging::{link_rel, query_param, with_query_param};
//! let h = r#"<https://x/issues?page=2>; rel="next", <https://x/issues?page=5>; rel="last""#;
//! assert_eq!(link_rel(h, "next").as_deref(), Some("https://x/issues?page=2"));
//! assert_eq!(link_rel(h, "prev"), None);
//! let u = with_query_param("https://x/i?state=all", "page", "3").unwrap();
//! assert_eq!(u, "https://x/i?state=all&page=3");
//! assert_eq!(query_param(&u, "page").as_deref(), Some("3"));
//! ```

use http::header::{HeaderMap, LINK};
use url::Url;

/// The target of the first link with relation `rel` in one `Link` header value, as written
/// (possibly relative). Relations are compared case-insensitively; a `rel` parameter may name
/// several relations separated by spaces. Malformed input gives `None`, never a panic.
pub fn link_rel(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest.get(start..)?.find('>')?;
        let target = rest.get(start + 1..end)?;
        let after = rest.get(end + 1..)?;
        // Parameters run to the next link (the next `<` after a comma) or the end.
        let params_end = after.find(',').map_or(after.len(), |c| {
            after
                .get(c..)
                .and_then(|s| s.find('<'))
                .map_or(after.len(), |lt| c + lt)
        });
        let params = after.get(..params_end).unwrap_or("");
        let matches = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            let Some(v) = p
                .strip_prefix("rel")
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('='))
            else {
                return false;
            };
            v.trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case(rel))
        });
        if matches {
            return Some(target.to_owned());
        }
        rest = after.get(params_end..)?;
    }
}

/// The `rel="next"` target of the `Link` headers of a response (every `Link` header is
/// read), as written (resolve it against the response URL when it may be relative).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| link_rel(v, "next"))
}

/// The value of query parameter `key` of `url` (the first one), decoded.
pub fn query_param(url: &str, key: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `url` with query parameter `key` set to `value`: replaced where present (the other
/// parameters keep their order), else appended. `None` when `url` is not a URL.
pub fn with_query_param(url: &str, key: &str, value: &str) -> Option<String> {
    let mut parsed = Url::parse(url).ok()?;
    if parsed.query_pairs().any(|(k, _)| k == key) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == key {
                    value.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    } else {
        parsed.query_pairs_mut().append_pair(key, value);
    }
    Some(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn link_forms() {
        assert_eq!(
            link_rel(r#"<a?page=3>; rel="prev", <a?page=5>;rel=next"#, "next").as_deref(),
            Some("a?page=5")
        );
        assert_eq!(
            link_rel(
                r#"<a?x=1,2>; title="a, b"; rel="last", <b>; rel="next""#,
                "next"
            )
            .as_deref(),
            Some("b")
        );
        assert_eq!(
            link_rel(r#"<c>; rel="next last""#, "LAST").as_deref(),
            Some("c")
        );
        assert_eq!(link_rel("garbage", "next"), None);
        assert_eq!(link_rel("<unterminated", "next"), None);
        assert_eq!(link_rel("", "next"), None);
        assert_eq!(link_rel("<é>; rel=next", "next").as_deref(), Some("é"));
    }

    #[test]
    fn next_link_reads_every_header() {
        let mut h = HeaderMap::new();
        h.append(LINK, HeaderValue::from_static(r#"<x>; rel="first""#));
        h.append(LINK, HeaderValue::from_static(r#"<y>; rel="next""#));
        assert_eq!(next_link(&h).as_deref(), Some("y"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn params() {
        assert_eq!(
            with_query_param("https://h/i?state=open&x=1", "state", "all").as_deref(),
            Some("https://h/i?state=all&x=1")
        );
        assert_eq!(
            with_query_param("https://h/p/a%2Fb/issues", "page", "2").as_deref(),
            Some("https://h/p/a%2Fb/issues?page=2")
        );
        assert_eq!(with_query_param("nope", "a", "b"), None);
        assert_eq!(query_param("https://h/i", "state"), None);
    }
}
