//! Requests to the Pagure API: the token, and the pager that walks an issue list by its
//! `pagination.next` URL.
//!
//! Everything goes through [`ImportContext::fetch`], so the core fetch layer's retries,
//! rate-limit waits (`Retry-After`, rate-limit headers where a proxy sends them),
//! conditional requests and redirect handling apply.

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, IssuePages};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::header::AUTHORIZATION;
use std::sync::Arc;

use crate::config::PagureProject;
use crate::parser::{parse_issue_list, IssuePage, ParseSettings};

/// Page size asked for when the importer chooses it (`per_page=`; Pagure's maximum).
pub const PER_PAGE: u32 = 100;

/// Most pages read from one listing (a loop guard: a million issues at 100 per page).
pub const MAX_PAGES: usize = 10_000;

/// Requests of one tracker: the project, its token and the parse settings. `Debug` never
/// shows the token.
pub(crate) struct PagureClient {
    pub(crate) project: PagureProject,
    /// Shared with the parse jobs this client hands out.
    pub(crate) settings: Arc<ParseSettings>,
    token: Option<String>,
}

impl std::fmt::Debug for PagureClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagureClient")
            .field("project", &self.project)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl PagureClient {
    pub(crate) fn new(
        project: PagureProject,
        settings: ParseSettings,
        token: Option<String>,
    ) -> Self {
        PagureClient {
            project,
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
        self.get_accepting(ctx, url, conditional, &[]).await
    }

    /// [`PagureClient::get`] returning a final answer with one of the `accept` statuses (a
    /// 403 whose body may be Pagure's own `EISSUENOTALLOWED`) as a response.
    pub(crate) async fn get_accepting(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
        accept: &[u16],
    ) -> Result<Response, Error> {
        let token = self
            .token
            .as_ref()
            .map(|token| (AUTHORIZATION, format!("token {token}")));
        forge::get_json_accepting(
            ctx,
            url,
            conditional,
            token,
            |u| self.project.same_origin(u),
            accept,
        )
        .await
    }
}

/// What one step of a [`Pager`] gave (see [`forge::PageOutcome`]).
pub(crate) type PageOutcome = forge::PageOutcome<IssuePage>;

/// Walks an issue list page by page: the first request is the URL as given; the next page
/// is the body's `pagination.next` URL (Pagure before 5.0 sends every issue at once and no
/// `pagination`); a page with no element ends the listing.
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
        pg: &PagureClient,
        ctx: &ImportContext,
    ) -> Option<PageOutcome> {
        self.0.next(pg, ctx).await
    }
}

#[async_trait]
impl IssuePages for PagureClient {
    type Page = IssuePage;

    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error> {
        PagureClient::get(self, ctx, url, conditional).await
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

    /// The body's `pagination.next` URL, resolved against the response URL.
    fn next_page(&self, _url: &str, resp: &Response, page: &IssuePage) -> Option<String> {
        page.next
            .as_deref()
            .and_then(|n| resp.url.join(n).ok())
            .map(String::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = PagureClient::new(
            PagureProject {
                base: "https://pagure.io".into(),
                path: "a/b".into(),
            },
            ParseSettings::default(),
            Some("pagure-secret".into()),
        );
        assert!(!format!("{c:?}").contains("pagure-secret"));
        assert!(c.has_token());
    }
}
