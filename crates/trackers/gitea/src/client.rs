//! Requests to the Gitea/Forgejo API: the token, and the pager that walks an issue list by
//! its `Link` header.
//!
//! Everything goes through [`ImportContext::fetch`], so the core fetch layer's retries,
//! rate-limit waits (`Retry-After`, `X-RateLimit-*`/`RateLimit-*` where an instance or its
//! proxy sends them), conditional requests and redirect handling apply.

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, next_page_number, IssuePages};
use bugimporters_core::paging::{next_link, query_param, with_query_param};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::header::AUTHORIZATION;
use std::sync::Arc;

use crate::config::GiteaRepo;
use crate::parser::{parse_issue_list, IssuePage, ParseSettings};

/// Page size asked for when the importer chooses it (`limit=`; Gitea's default maximum,
/// `MAX_RESPONSE_ITEMS`, is 50, and larger values are cut to it).
pub const PAGE_LIMIT: u32 = 50;

/// Most pages read from one listing (a loop guard: half a million issues at 50 per page).
pub const MAX_PAGES: usize = 10_000;

/// Requests of one tracker: the repository, its token and the parse settings. `Debug` never
/// shows the token.
pub(crate) struct GiteaClient {
    pub(crate) repo: GiteaRepo,
    /// Shared with the parse jobs this client hands out.
    pub(crate) settings: Arc<ParseSettings>,
    token: Option<String>,
}

impl std::fmt::Debug for GiteaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GiteaClient")
            .field("repo", &self.repo)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl GiteaClient {
    pub(crate) fn new(repo: GiteaRepo, settings: ParseSettings, token: Option<String>) -> Self {
        GiteaClient {
            repo,
            settings: Arc::new(settings),
            token,
        }
    }

    /// Whether a token was found.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// GETs `url`, conditionally when `conditional`, with the token when `url` is on the
    /// instance's origin (never elsewhere: query URLs come from a database users edit).
    pub(crate) async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error> {
        let token = self
            .token
            .as_ref()
            .map(|token| (AUTHORIZATION, format!("token {token}")));
        forge::get_json(ctx, url, conditional, token, |u| self.repo.same_origin(u)).await
    }
}

/// What one step of a [`Pager`] gave (see [`forge::PageOutcome`]).
pub(crate) type PageOutcome = forge::PageOutcome<IssuePage>;

/// Walks an issue list page by page: the first request is the URL as given; the next page
/// is the `Link: <...>; rel="next"` target, else (an instance or proxy that drops `Link`) the
/// next `page=` number while `X-Total-Count` says more remain; a page with no element ends
/// the listing.
#[derive(Debug)]
pub(crate) struct Pager(forge::Pager);

impl Pager {
    /// A pager from `first`; every page is a conditional request when `conditional`.
    pub(crate) fn new(first: String, conditional: bool) -> Self {
        Pager(forge::Pager::new(first, conditional, MAX_PAGES))
    }

    /// The next page, or `None` at the end.
    pub(crate) async fn next(
        &mut self,
        gt: &GiteaClient,
        ctx: &ImportContext,
    ) -> Option<PageOutcome> {
        self.0.next(gt, ctx).await
    }
}

#[async_trait]
impl IssuePages for GiteaClient {
    type Page = IssuePage;

    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error> {
        GiteaClient::get(self, ctx, url, conditional).await
    }

    fn page_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<IssuePage> {
        let settings = Arc::clone(&self.settings);
        Job::of(resp, move |body, url| {
            parse_issue_list(body, url, &settings, now)
        })
    }

    fn items(page: &IssuePage) -> usize {
        page.items
    }

    fn next_page(&self, url: &str, resp: &Response, page: &IssuePage) -> Option<String> {
        following_page(url, resp, page.items)
    }

    /// A 304 may come without paging headers: the `Link` target, else the next page number
    /// (a page past the end answers `[]`, which ends the listing).
    fn next_after_not_modified(&self, url: &str, resp: &Response) -> Option<String> {
        next_link(&resp.headers)
            .and_then(|n| resp.url.join(&n).ok().map(String::from))
            .or_else(|| next_page_number(url))
    }
}

/// The next page named by a response: `Link` rel=next (resolved against the response URL),
/// else the next page number when `X-Total-Count` is more than the pages so far hold.
fn following_page(url: &str, resp: &Response, items: usize) -> Option<String> {
    if let Some(next) = next_link(&resp.headers) {
        return resp.url.join(&next).ok().map(String::from);
    }
    let total: u64 = resp.header("x-total-count")?.trim().parse().ok()?;
    let page: u64 = query_param(url, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let limit: u64 = query_param(url, "limit")
        .and_then(|p| p.parse().ok())
        .unwrap_or(items as u64);
    if items == 0 || page.saturating_mul(limit) >= total {
        return None;
    }
    with_query_param(url, "page", &(page + 1).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = GiteaClient::new(
            GiteaRepo {
                base: "https://codeberg.org".into(),
                owner: "a".into(),
                name: "b".into(),
            },
            ParseSettings::default(),
            Some("gitea-secret".into()),
        );
        assert!(!format!("{c:?}").contains("gitea-secret"));
        assert!(c.has_token());
    }
}
