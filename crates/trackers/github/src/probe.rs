//! Incremental queries that cost nothing when nothing changed.
//!
//! A query with `since=T` (the skeleton adds it from the query's `last_polled`) is a new URL
//! every run, so it can never be a conditional request, and GitHub charges a point for each
//! one even when the repository did not change. Instead the importer asks for the query's
//! stable stand-in — the same filters without `since`, `sort=updated&direction=desc`, 100 per
//! page — conditionally: an unchanged repository answers `304 Not Modified`, which GitHub
//! does not charge when authorised. A changed one answers its most recently updated issues
//! first; those updated at or after `T` are the `since=T` listing's. Only when every issue of
//! a full first page is that recent (more than a page changed) does the `since=T` listing
//! itself follow. A query that sorts or pages by itself keeps its `since=` listing.

use bugimporters_core::forge::{IssuePage, PageOutcome};
use bugimporters_core::time::parse_datetime;
use bugimporters_core::ImportContext;
use chrono::NaiveDateTime;
use futures::stream::{BoxStream, StreamExt};
use url::Url;

use crate::client::{fetch_page, query_param, GitHubClient, PER_PAGE};
use crate::importer::rest_pages;

/// The stable stand-in of one `since=` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The stand-in URL: the query without `since`, sorted by last update, 100 per page.
    pub(crate) url: String,
    /// The `since` time: issues updated before it are not the query's.
    pub(crate) since: NaiveDateTime,
}

impl Probe {
    /// The probe of `url` when it has a readable `since` and neither sorts nor pages itself.
    pub(crate) fn of(url: &str) -> Option<Probe> {
        let since = parse_datetime(&query_param(url, "since")?)?;
        if ["sort", "direction", "page"]
            .iter()
            .any(|k| query_param(url, k).is_some())
        {
            return None;
        }
        let mut u = Url::parse(url).ok()?;
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "since" && k != "per_page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("sort", "updated")
            .append_pair("direction", "desc")
            .append_pair("per_page", &PER_PAGE.to_string());
        Some(Probe {
            url: u.into(),
            since,
        })
    }

    /// The pages of the query `since_url` through this probe: the probe's page (its issues
    /// updated since `since`), then, only when that page was full of them, the `since=`
    /// listing (issues seen twice are claimed once by the skeleton).
    pub(crate) fn pages<'a>(
        self,
        client: &'a GitHubClient,
        ctx: &'a ImportContext,
        since_url: String,
    ) -> BoxStream<'a, PageOutcome<IssuePage>> {
        let first = async move {
            let (outcome, links) = fetch_page(client, ctx, &self.url, ctx.now()).await;
            let PageOutcome::Page(mut page) = outcome else {
                return (outcome, false);
            };
            let recent = |t: Option<NaiveDateTime>| t.is_none_or(|t| t >= self.since);
            let all_recent = page.bugs.iter().all(|b| recent(b.last_touched));
            let more = all_recent && page.items >= PER_PAGE as usize && links.next.is_some();
            page.bugs.retain(|b| recent(b.last_touched));
            (PageOutcome::Page(page), more)
        };
        futures::stream::once(first)
            .flat_map(move |(outcome, more)| {
                let head = futures::stream::once(async move { outcome });
                if more {
                    head.chain(rest_pages(client, ctx, since_url.clone()))
                        .boxed()
                } else {
                    head.boxed()
                }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_since_query_has_a_stable_sorted_stand_in() {
        let p = Probe::of("https://api.test/repos/o/r/issues?state=open&labels=x&since=2024-01-02T03:04:05Z&per_page=30")
            .unwrap();
        assert_eq!(
            p.url,
            "https://api.test/repos/o/r/issues?state=open&labels=x&sort=updated&direction=desc&per_page=100"
        );
        assert_eq!(p.since, parse_datetime("2024-01-02T03:04:05").unwrap());
        // The same query another day: the same stand-in (its validators serve again).
        let later = Probe::of(
            "https://api.test/repos/o/r/issues?state=open&labels=x&since=2024-03-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(later.url, p.url);
    }

    #[test]
    fn queries_that_sort_page_or_have_no_since_keep_their_listing() {
        for url in [
            "https://api.test/repos/o/r/issues?state=open",
            "https://api.test/repos/o/r/issues?since=2024-01-02T03:04:05Z&sort=created",
            "https://api.test/repos/o/r/issues?since=2024-01-02T03:04:05Z&direction=asc",
            "https://api.test/repos/o/r/issues?since=2024-01-02T03:04:05Z&page=2",
            "https://api.test/repos/o/r/issues?since=yesterday",
        ] {
            assert_eq!(Probe::of(url), None, "{url}");
        }
    }
}
