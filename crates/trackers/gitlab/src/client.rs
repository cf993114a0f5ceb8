//! Requests to the GitLab API: the token, and the pager that walks an issue list by its
//! `Link` header (or `X-Next-Page`).
//!
//! Everything goes through [`ImportContext::fetch`], so the core fetch layer's retries,
//! rate-limit waits (`RateLimit-Remaining: 0` + `RateLimit-Reset`, `Retry-After`),
//! conditional requests and redirect handling apply.

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, next_page_number, IssuePages};
use bugimporters_core::paging::{next_link, with_query_param};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::header::HeaderName;
use std::sync::Arc;

use crate::config::GitLabProject;
use crate::parser::{parse_issue_list, IssuePage, ParseSettings};

/// Page size asked for when the importer chooses it (GitLab's maximum).
pub const PER_PAGE: u32 = 100;

/// Most pages read from one listing (a loop guard: a million issues at 100 per page).
pub const MAX_PAGES: usize = 10_000;

/// The header GitLab reads personal, project and group access tokens from.
pub const TOKEN_HEADER: &str = "private-token";

/// Requests of one tracker: the project, its token and the parse settings. `Debug` never
/// shows the token.
pub(crate) struct GitLabClient {
    pub(crate) project: GitLabProject,
    /// Shared with the parse jobs this client hands out.
    pub(crate) settings: Arc<ParseSettings>,
    token: Option<String>,
}

impl std::fmt::Debug for GitLabClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabClient")
            .field("project", &self.project)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl GitLabClient {
    pub(crate) fn new(
        project: GitLabProject,
        settings: ParseSettings,
        token: Option<String>,
    ) -> Self {
        GitLabClient {
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
        let token = self
            .token
            .as_ref()
            .map(|token| (HeaderName::from_static(TOKEN_HEADER), token.clone()));
        forge::get_json(ctx, url, conditional, token, |u| {
            self.project.same_origin(u)
        })
        .await
    }
}

/// What one step of a [`Pager`] gave (see [`forge::PageOutcome`]).
pub(crate) type PageOutcome = forge::PageOutcome<IssuePage>;

/// Walks an issue list page by page: the first request is the URL as given; the next page
/// is the `Link: <...>; rel="next"` target, else the `X-Next-Page` number; a page with no
/// element ends the listing.
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
        gl: &GitLabClient,
        ctx: &ImportContext,
    ) -> Option<PageOutcome> {
        self.0.next(gl, ctx).await
    }
}

#[async_trait]
impl IssuePages for GitLabClient {
    type Page = IssuePage;

    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error> {
        GitLabClient::get(self, ctx, url, conditional).await
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

    fn next_page(&self, url: &str, resp: &Response, _page: &IssuePage) -> Option<String> {
        following_page(url, resp)
    }

    /// A 304 may come without paging headers: the next page they name, else the next page
    /// number (a page past the end answers `[]`, which ends the listing).
    fn next_after_not_modified(&self, url: &str, resp: &Response) -> Option<String> {
        following_page(url, resp).or_else(|| next_page_number(url))
    }
}

/// The next page named by a response: `Link` rel=next (resolved against the response URL),
/// else `X-Next-Page` applied to `url`.
fn following_page(url: &str, resp: &Response) -> Option<String> {
    if let Some(next) = next_link(&resp.headers) {
        return resp.url.join(&next).ok().map(String::from);
    }
    let n = resp
        .header("x-next-page")
        .map(str::trim)
        .filter(|v| !v.is_empty())?;
    let n: u64 = n.parse().ok()?;
    with_query_param(url, "page", &n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = GitLabClient::new(
            GitLabProject {
                base: "https://gitlab.com".into(),
                path: "a/b".into(),
            },
            ParseSettings::default(),
            Some("glpat-secret".into()),
        );
        assert!(!format!("{c:?}").contains("glpat"));
        assert!(c.has_token());
    }
}
