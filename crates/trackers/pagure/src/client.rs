//! Requests to the Pagure API: the token, and the pager that walks an issue list by its
//! `pagination.next` URL.
//!
//! Everything goes through [`ImportContext::fetch`], so the core fetch layer's retries,
//! rate-limit waits (`Retry-After`, rate-limit headers where a proxy sends them),
//! conditional requests and redirect handling apply.

use std::collections::HashSet;

use bugimporters_core::fetch::{Request, Response};
use bugimporters_core::paging::{query_param, with_query_param};
use bugimporters_core::{Error, ImportContext};
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};

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
    pub(crate) settings: ParseSettings,
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
            settings,
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
        let mut req =
            Request::get(url)?.with_header(ACCEPT, HeaderValue::from_static("application/json"));
        if conditional {
            req = req.conditional();
        }
        if let Some(token) = &self.token {
            if self.project.same_origin(&req.url) {
                req = req.with_secret_header(AUTHORIZATION, &format!("token {token}"))?;
            }
        }
        ctx.fetch(req).await
    }
}

/// What one step of a [`Pager`] gave.
#[derive(Debug)]
pub(crate) enum PageOutcome {
    /// A page of issues (private ones already skipped unless configured).
    Page(IssuePage),
    /// `304 Not Modified`: the page is as it was when last fetched; its issues are unknown.
    NotModified,
    /// The page could not be fetched or parsed; the error was reported and the listing ends.
    Failed,
}

/// Walks an issue list page by page: the first request is the URL as given; the next page
/// is the body's `pagination.next` URL (Pagure before 5.0 sends every issue at once and no
/// `pagination`); a page with no element ends the listing.
#[derive(Debug)]
pub(crate) struct Pager {
    next: Option<String>,
    conditional: bool,
    seen: HashSet<String>,
    pages: usize,
}

impl Pager {
    /// A pager from `first`; every page is a conditional request when `conditional`.
    pub(crate) fn new(first: String, conditional: bool) -> Self {
        Pager {
            next: Some(first),
            conditional,
            seen: HashSet::new(),
            pages: 0,
        }
    }

    /// The next page, or `None` at the end.
    pub(crate) async fn next(
        &mut self,
        pg: &PagureClient,
        ctx: &ImportContext,
    ) -> Option<PageOutcome> {
        let url = self.next.take()?;
        if !self.seen.insert(url.clone()) || self.pages >= MAX_PAGES {
            ctx.report_error(Error::parse(
                url.as_str(),
                "the pagination loops or exceeds the page limit; listing stopped",
            ));
            return Some(PageOutcome::Failed);
        }
        self.pages += 1;
        let resp = match pg.get(ctx, &url, self.conditional).await {
            Ok(r) => r,
            Err(e) => {
                ctx.report_error(e);
                return Some(PageOutcome::Failed);
            }
        };
        if resp.not_modified() {
            // The body (and its `pagination.next`) is unknown: step to the next page number
            // (a page past the end lists no issue, which ends the listing).
            self.next = next_page_number(&url);
            return Some(PageOutcome::NotModified);
        }
        let page = match parse_issue_list(&resp.body, resp.url.as_str(), &pg.settings, ctx.now()) {
            Ok(p) => p,
            Err(e) => {
                ctx.report_error(e);
                return Some(PageOutcome::Failed);
            }
        };
        if page.items > 0 {
            self.next = page
                .next
                .as_deref()
                .and_then(|n| resp.url.join(n).ok())
                .map(String::from);
        }
        Some(PageOutcome::Page(page))
    }
}

/// `url` with its `page` parameter incremented (`page=2` when absent).
pub(crate) fn next_page_number(url: &str) -> Option<String> {
    let page: u64 = match query_param(url, "page") {
        Some(p) => p.parse().ok()?,
        None => 1,
    };
    with_query_param(url, "page", &(page + 1).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers() {
        assert_eq!(
            next_page_number("https://h/i?state=all").as_deref(),
            Some("https://h/i?state=all&page=2")
        );
        assert_eq!(
            next_page_number("https://h/i?page=4&per_page=100").as_deref(),
            Some("https://h/i?page=5&per_page=100")
        );
        assert_eq!(next_page_number("https://h/i?page=x"), None);
    }

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
