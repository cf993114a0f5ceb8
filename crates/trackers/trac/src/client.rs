//! The URLs the Trac importer requests: ticket CSV exports, query pages, and the two small
//! queries of an incremental refresh. Requests themselves go through
//! [`bugimporters_core::ImportContext`]; this module only builds URLs.

use bugimporters_core::paging::{query_param, with_query_param};
use chrono::NaiveDateTime;
use url::Url;

/// Longest URL built for the "which of these tickets still exist" query; longer id lists are
/// split over several requests.
pub const MAX_ID_URL_LEN: usize = 1800;

/// Most pages read from one query (a guard against a server that ignores `page`).
pub const MAX_PAGES: u32 = 10_000;

/// Tickets fetched at once within one tracker (the context also bounds requests in flight
/// by `max_connections`).
pub const TICKET_CONCURRENCY: usize = 16;

/// The CSV export of ticket page `link`: `link?format=csv` (the original appended
/// `?format=csv`; a link that already has a query gets `&format=csv`).
pub fn ticket_csv_url(link: &str) -> String {
    let without_fragment = link.split('#').next().unwrap_or(link);
    if without_fragment.contains('?') {
        with_query_param(without_fragment, "format", "csv")
            .unwrap_or_else(|| format!("{without_fragment}&format=csv"))
    } else {
        format!("{without_fragment}?format=csv")
    }
}

/// The page size of a query URL: its `max` when it is a positive number. Without `max` (or
/// with `max=0`) Trac's CSV export is not paged: one response holds every row.
pub fn page_size(query_url: &str) -> Option<u64> {
    query_param(query_url, "max")
        .and_then(|m| m.trim().parse::<u64>().ok())
        .filter(|m| *m > 0)
}

/// The page number a query URL asks for (`page`, default 1).
pub fn page_number(query_url: &str) -> u32 {
    query_param(query_url, "page")
        .and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(1)
}

/// `query_url` asking for page `page`.
pub fn page_url(query_url: &str, page: u32) -> Option<String> {
    with_query_param(query_url, "page", &page.to_string())
}

fn query_url(base: &Url, pairs: &[(&str, String)]) -> Option<String> {
    let mut url = base.join("query").ok()?;
    url.query_pairs_mut()
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    Some(url.to_string())
}

/// The tickets changed at or after `since` (naive UTC), ids only, unpaged:
/// `query?format=csv&changetime=<since>Z..&col=id&order=id&max=0`.
pub fn changed_since_url(base: &Url, since: NaiveDateTime) -> Option<String> {
    query_url(
        base,
        &[
            ("format", "csv".to_owned()),
            (
                "changetime",
                format!("{}..", since.format("%Y-%m-%dT%H:%M:%SZ")),
            ),
            ("col", "id".to_owned()),
            ("order", "id".to_owned()),
            ("max", "0".to_owned()),
        ],
    )
}

/// `ids` (sorted, unique) as Trac id ranges: `1-3,7,9-10`.
pub fn id_ranges(ids: &[u64]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = ids.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out
}

/// Queries listing which of `ids` (sorted, unique) still exist, ids only, each URL at most
/// about [`MAX_ID_URL_LEN`] long: `query?format=csv&id=1-3,7&col=id&order=id&max=0`.
pub fn existing_ids_urls(base: &Url, ids: &[u64]) -> Vec<String> {
    let mut urls = Vec::new();
    let mut chunk = String::new();
    let flush = |chunk: &mut String, urls: &mut Vec<String>| {
        if chunk.is_empty() {
            return;
        }
        if let Some(u) = query_url(
            base,
            &[
                ("format", "csv".to_owned()),
                ("id", std::mem::take(chunk)),
                ("col", "id".to_owned()),
                ("order", "id".to_owned()),
                ("max", "0".to_owned()),
            ],
        ) {
            urls.push(u);
        }
    };
    let budget = MAX_ID_URL_LEN
        .saturating_sub(base.as_str().len() + 60)
        .max(64);
    for range in id_ranges(ids) {
        // `,` is escaped as %2C in the URL: 3 bytes per separator.
        let encoded = |s: &str| s.len() + 2 * s.matches(',').count();
        if !chunk.is_empty() && encoded(&chunk) + 3 + range.len() > budget {
            flush(&mut chunk, &mut urls);
        }
        if !chunk.is_empty() {
            chunk.push(',');
        }
        chunk.push_str(&range);
    }
    flush(&mut chunk, &mut urls);
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::time::parse_datetime;

    #[test]
    fn ticket_csv_urls() {
        assert_eq!(
            ticket_csv_url("http://t/trac/ticket/5"),
            "http://t/trac/ticket/5?format=csv"
        );
        assert_eq!(
            ticket_csv_url("http://t/trac/ticket/5#comment:2"),
            "http://t/trac/ticket/5?format=csv"
        );
        assert_eq!(
            ticket_csv_url("https://code.example/query?id=18937"),
            "https://code.example/query?id=18937&format=csv"
        );
    }

    #[test]
    fn paging_parameters() {
        assert_eq!(page_size("http://t/query?format=csv&max=25"), Some(25));
        assert_eq!(page_size("http://t/query?format=csv&max=0"), None);
        assert_eq!(page_size("http://t/query?format=csv"), None);
        assert_eq!(page_number("http://t/query?format=csv&page=3"), 3);
        assert_eq!(page_number("http://t/query?format=csv"), 1);
        assert_eq!(
            page_url("http://t/query?format=csv&max=2&page=1", 2).as_deref(),
            Some("http://t/query?format=csv&max=2&page=2")
        );
        assert_eq!(
            page_url("http://t/query?format=csv&max=2", 2).as_deref(),
            Some("http://t/query?format=csv&max=2&page=2")
        );
    }

    #[test]
    fn incremental_urls() {
        let base = Url::parse("http://t/trac/").unwrap();
        let since = parse_datetime("2026-11-19T07:00:00.5").unwrap();
        assert_eq!(
            changed_since_url(&base, since).unwrap(),
            "http://t/trac/query?format=csv&changetime=2026-11-19T07%3A00%3A00Z..&col=id&order=id&max=0"
        );
        assert_eq!(id_ranges(&[1, 2, 3, 7, 9, 10]), vec!["1-3", "7", "9-10"]);
        assert_eq!(
            existing_ids_urls(&base, &[1, 2, 3, 7]),
            vec!["http://t/trac/query?format=csv&id=1-3%2C7&col=id&order=id&max=0"]
        );
        let many: Vec<u64> = (0..5000).map(|i| i * 2).collect();
        let urls = existing_ids_urls(&base, &many);
        assert!(urls.len() > 1);
        assert!(
            urls.iter().all(|u| u.len() <= MAX_ID_URL_LEN),
            "{}",
            urls[0].len()
        );
        let listed: usize = urls
            .iter()
            .map(|u| query_param(u, "id").unwrap().split(',').count())
            .sum();
        assert_eq!(listed, 5000);
    }
}
