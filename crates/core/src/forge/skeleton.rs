//! The forge skeleton: an [`IssueApi`] (an issue API with a listing, a since filter and a
//! single-issue GET) becomes an [`Importer`] by [`ForgeImporter`], which owns the queries,
//! the refresh of held bugs and the rules they keep:
//!
//! * each query URL gets the since filter from its `last_polled`; a listing without it is
//!   conditional; a failed query is reported and the others go on; a bug two queries name is
//!   emitted once;
//! * held bugs are asked for one by one (conditional: `304` → `_no_update`, `404`/`410` →
//!   `_deleted`, never a deletion after a 5xx, 401 or 403) up to a page's worth, or when a
//!   query of the same run listed every issue to the end; above that, from a listing
//!   ([`IssueApi::refresh_many`]);
//! * what a run learns (its client, with this run's credentials; whether a query listed
//!   every issue) is a [`ForgeRun`] kept by the run's [`ImportContext`]
//!   ([`ImportContext::run_value`]), never in the importer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use futures::stream::{BoxStream, StreamExt};
use http::header::HeaderName;
use url::Url;

use super::{
    emit_gone, emit_refreshed, get_json_accepting, next_page_number, refresh_each, IssueItem,
    IssuePage, IssuePages, IssueRefresh, PageOutcome, Pager, Refreshed, PARALLEL_REFRESH,
};
use crate::fetch::Response;
use crate::paging::{next_link, query_param, with_query_param};
use crate::parse::Job;
use crate::{Error, ImportContext, Importer, ParsedBug, TrackerConfig};

/// Most pages one listing reads (a loop guard: a million issues at 100 per page).
pub const MAX_PAGES: usize = 10_000;

/// The requests of one run, with that run's credentials.
#[async_trait]
pub trait ForgeClient: std::fmt::Debug + Send + Sync + 'static {
    /// GETs `url` asking for JSON, conditionally when `conditional`; a final answer with one
    /// of the `accept` statuses is a response (see [`get_json_accepting`]). Credentials go to
    /// the tracker's own origin only.
    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
        accept: &[u16],
    ) -> Result<Response, Error>;
}

/// A [`ForgeClient`] sending one token in one header, to the origin of the instance only.
/// `Debug` never shows the token.
pub struct TokenClient {
    header: HeaderName,
    value: Option<String>,
    base: Option<Url>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("base", &self.base.as_ref().map(Url::as_str))
            .field("token", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl TokenClient {
    /// The client of `ctx`'s run: the secret `token_env` (when set) sent as
    /// `header: {prefix}{token}` to the origin of `base`.
    pub fn new(
        ctx: &ImportContext,
        token_env: &str,
        header: HeaderName,
        prefix: &str,
        base: &str,
    ) -> Self {
        let client = TokenClient::with_token(ctx.secret(token_env), header, prefix, base);
        tracing::debug!(tracker = %ctx.tracker_name(), token = client.has_token(), "credentials");
        client
    }

    /// A client sending `token` (when there is one) as `header: {prefix}{token}` to the origin
    /// of `base`.
    pub fn with_token(token: Option<String>, header: HeaderName, prefix: &str, base: &str) -> Self {
        TokenClient {
            header,
            value: token.map(|t| format!("{prefix}{t}")),
            base: Url::parse(base).ok(),
        }
    }

    /// Whether a token was found.
    pub fn has_token(&self) -> bool {
        self.value.is_some()
    }
}

#[async_trait]
impl ForgeClient for TokenClient {
    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
        accept: &[u16],
    ) -> Result<Response, Error> {
        let token = self.value.clone().map(|v| (self.header.clone(), v));
        let trusted = |u: &Url| self.base.as_ref().is_some_and(|b| b.origin() == u.origin());
        get_json_accepting(ctx, url, conditional, token, trusted, accept).await
    }
}

/// An issue API: a listing walked page by page with a since filter, and a GET of one issue.
/// What differs between forges (URLs, the token header, JSON fields, link patterns) is
/// written here; [`ForgeImporter`] does the rest.
#[async_trait]
pub trait IssueApi: std::fmt::Debug + Send + Sync + Sized + 'static {
    /// The requests of one run (a [`TokenClient`], say).
    type Client: ForgeClient;

    /// What the parsers need from the configuration (names, label rules...).
    type Settings: Send + Sync + 'static;

    /// Parses one issue object (`GET` of one issue).
    const PARSE_ISSUE: Parse<Self::Settings, IssueItem>;

    /// Parses one page of a listing.
    const PARSE_ISSUE_LIST: Parse<Self::Settings, IssuePage>;

    /// The query parameter of the since filter (`since`, `updated_after`).
    const SINCE_PARAM: &'static str;

    /// The error reported for a held link that is not an issue link (it names the form of
    /// one).
    const NOT_AN_ISSUE_LINK: &'static str;

    /// Why a held bug listed as confidential (private) now is deleted.
    const HIDDEN_REASON: &'static str = "now confidential; deleting it";

    /// Why a held bug that is a pull request is deleted.
    const PULL_REQUEST_REASON: &'static str = "a pull request, not an issue; deleting it";

    /// The API of `config`; fails (naming the key) on missing or malformed keys.
    fn from_config(config: &TrackerConfig) -> Result<Self, Error>;

    /// The configuration (queries, tracker name).
    fn config(&self) -> &TrackerConfig;

    /// The project name of deletion and no-update records.
    fn project_name(&self) -> &str;

    /// The parse settings, shared with the parse jobs.
    fn settings(&self) -> &Arc<Self::Settings>;

    /// The client of one run, credentials read from that run's `ctx` (see
    /// [`ImportContext::secret`]).
    fn client(&self, ctx: &ImportContext) -> Self::Client;

    /// The value of the since filter for a query last polled at `t` (UTC): by default
    /// `2024-01-02T03:04:05Z`.
    fn since_value(&self, t: NaiveDateTime) -> String {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// A configured query URL as it is requested (trimmed; completed or moved by the
    /// tracker), before the since filter.
    fn query_url(&self, configured: &str) -> String {
        configured.trim().to_owned()
    }

    /// The queries run when the configuration has none (every issue, say).
    fn default_queries(&self) -> Vec<String>;

    /// Whether the listing `url` is walked with conditional requests: by default when it has
    /// no since filter (a URL with one changes every run: its validators would never serve).
    fn conditional_listing(&self, url: &str) -> bool {
        query_param(url, Self::SINCE_PARAM).is_none()
    }

    /// Whether `url` lists every issue of the project (both states, no filter): after such a
    /// listing read to the end, a held bug it did not name is gone, moved or hidden.
    fn lists_everything(&self, url: &str) -> bool;

    /// The parse of one listing page, owned and `'static` (see [`Job`]): by default
    /// [`IssueApi::PARSE_ISSUE_LIST`] with the settings.
    fn page_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<IssuePage> {
        let (settings, parse) = (Arc::clone(self.settings()), Self::PARSE_ISSUE_LIST);
        Job::of(resp, move |body, url| parse(body, url, &settings, now))
    }

    /// The page after `url`, read from its response and parsed page.
    fn next_page(&self, url: &str, resp: &Response, page: &IssuePage) -> Option<String>;

    /// The page after `url` when it answered 304: by default the next page number.
    fn next_after_not_modified(&self, url: &str, _resp: &Response) -> Option<String> {
        next_page_number(url)
    }

    /// Walks the listing from `first`: by default with [`Pager`], by
    /// [`IssueApi::next_page`], at most [`MAX_PAGES`] pages.
    fn pages<'a>(
        &'a self,
        client: &'a Self::Client,
        ctx: &'a ImportContext,
        first: String,
        conditional: bool,
    ) -> BoxStream<'a, PageOutcome<IssuePage>> {
        walk(
            Listing { api: self, client },
            ctx,
            Pager::new(first, conditional, MAX_PAGES),
        )
    }

    /// The API URL of the issue behind the held `link`; `None` when `link` is not an issue
    /// link of this tracker.
    fn issue_api_url(&self, link: &str) -> Option<String>;

    /// Statuses an issue GET returns as a response for [`IssueApi::issue_parser`] to read
    /// (the API's own "not allowed" error); none by default.
    fn refresh_accepts(&self) -> &'static [u16] {
        &[]
    }

    /// The parse of one issue response (see [`IssueRefresh::issue_parser`]: only the API's
    /// own word in a well-formed body may be [`Refreshed::Gone`]): by default
    /// [`IssueApi::PARSE_ISSUE`], a pull request or a confidential issue being gone.
    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let (settings, parse) = (Arc::clone(self.settings()), Self::PARSE_ISSUE);
        Job::of(resp, move |body, url| {
            Ok(refreshed::<Self>(parse(body, url, &settings, now)?))
        })
    }

    /// Completes a bug before it is emitted (more requests, say); as it is by default.
    async fn complete(
        &self,
        _client: &Self::Client,
        _ctx: &ImportContext,
        bug: ParsedBug,
    ) -> ParsedBug {
        bug
    }

    /// Up to how many held bugs are asked for one by one (a page's worth: asking for each
    /// costs no more than a listing would); more go to [`IssueApi::refresh_many`].
    fn one_by_one_max(&self) -> usize;

    /// The number of the issue `link` names when it is an issue of this project (the one the
    /// listing of every issue lists); `None` otherwise.
    fn own_issue_number(&self, _link: &str) -> Option<u64> {
        None
    }

    /// The listing of every issue of the project, for [`refresh_from_listing`]; `None` when
    /// there is none (held bugs are then asked for one by one).
    fn every_issue_url(&self) -> Option<String> {
        None
    }

    /// Refreshes more held bugs than [`IssueApi::one_by_one_max`]: by default
    /// [`refresh_from_listing`].
    async fn refresh_many(
        &self,
        run: &ForgeRun<Self>,
        ctx: &ImportContext,
        links: Vec<String>,
    ) -> Result<(), Error> {
        refresh_from_listing(self, run, ctx, links).await
    }
}

/// A parser of an [`IssueApi`]: the body, its URL, the settings and the time of the run
/// (`last_polled`).
pub type Parse<S, T> = fn(&[u8], &str, &S, NaiveDateTime) -> Result<T, Error>;

/// What a parsed issue means for a held bug: the bug, or gone (a pull request, a confidential
/// issue), with `A`'s reasons.
pub fn refreshed<A: IssueApi>(item: IssueItem) -> Refreshed {
    match item {
        IssueItem::Issue(bug) => Refreshed::Issue(bug),
        IssueItem::PullRequest { .. } => Refreshed::Gone(A::PULL_REQUEST_REASON),
        IssueItem::Skipped { .. } => Refreshed::Gone(A::HIDDEN_REASON),
    }
}

/// The `Link: rel="next"` target of `resp`, resolved against its URL.
pub fn link_next(resp: &Response) -> Option<String> {
    next_link(&resp.headers)
        .and_then(|n| resp.url.join(&n).ok())
        .map(String::from)
}

/// Whether `url` lists every issue of the list `issues_url`: the same origin and path (case
/// and a trailing slash aside), each of the `state_keys` present equal to `all` (ASCII case
/// aside) and at least one present when `state_required`, and no other parameter but the
/// `neutral` ones (`key`, or `key=value` for that value only).
pub fn lists_every_issue(
    url: &str,
    issues_url: &str,
    state_keys: &[&str],
    state_required: bool,
    neutral: &[&str],
) -> bool {
    let (Ok(u), Ok(expected)) = (Url::parse(url), Url::parse(issues_url)) else {
        return false;
    };
    if u.origin() != expected.origin()
        || !u
            .path()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(expected.path())
    {
        return false;
    }
    let mut all = !state_required;
    for (k, v) in u.query_pairs() {
        if state_keys.contains(&&*k) {
            all = v.eq_ignore_ascii_case("all");
            if !all {
                return false;
            }
        } else if !neutral
            .iter()
            .any(|n| *n == k || n.split_once('=') == Some((&*k, &*v)))
        {
            return false;
        }
    }
    all
}

/// What one run of a [`ForgeImporter`] keeps between its two entry points: its client (this
/// run's credentials) and whether a query listed every issue to the end.
#[derive(Debug)]
pub struct ForgeRun<A: IssueApi> {
    client: A::Client,
    full_listing_done: AtomicBool,
}

impl<A: IssueApi> ForgeRun<A> {
    /// The run's client.
    pub fn client(&self) -> &A::Client {
        &self.client
    }

    /// Whether a query of this run listed every issue of the project to the end, with no 304
    /// page and no error.
    pub fn full_listing_done(&self) -> bool {
        self.full_listing_done.load(Ordering::Relaxed)
    }

    /// The one-by-one refresh of held bugs through this run's client.
    pub fn refresher<'a>(&'a self, api: &'a A) -> ForgeRefresher<'a, A> {
        ForgeRefresher {
            api,
            client: &self.client,
            unchanged_before: None,
        }
    }
}

/// [`IssueRefresh`] of an [`IssueApi`] with a run's client: what [`refresh_each`] and
/// [`refresh_one`](super::refresh_one) need.
#[derive(Debug)]
pub struct ForgeRefresher<'a, A: IssueApi> {
    api: &'a A,
    client: &'a A::Client,
    /// When set, an issue last touched before it is `_no_update` (a complete listing since
    /// then did not name it, so the host's copy is current).
    pub unchanged_before: Option<NaiveDateTime>,
}

#[async_trait]
impl<A: IssueApi> IssueRefresh for ForgeRefresher<'_, A> {
    fn project_name(&self) -> &str {
        self.api.project_name()
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.api.issue_api_url(link)
    }

    fn not_an_issue_link(&self) -> &'static str {
        A::NOT_AN_ISSUE_LINK
    }

    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        self.client
            .get(ctx, url, true, self.api.refresh_accepts())
            .await
    }

    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let job = self.api.issue_parser(resp, now);
        let Some(since) = self.unchanged_before else {
            return job;
        };
        job.map(move |r| match r {
            Refreshed::Issue(bug) if bug.last_touched.is_some_and(|t| t < since) => {
                Refreshed::Unchanged
            }
            other => other,
        })
    }

    async fn complete(&self, ctx: &ImportContext, bug: ParsedBug) -> ParsedBug {
        self.api.complete(self.client, ctx, bug).await
    }
}

/// An [`IssueApi`] with a run's client, as the [`IssuePages`] of a [`Pager`].
struct Listing<'a, A: IssueApi> {
    api: &'a A,
    client: &'a A::Client,
}

#[async_trait]
impl<A: IssueApi> IssuePages for Listing<'_, A> {
    type Page = IssuePage;

    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error> {
        self.client.get(ctx, url, conditional, &[]).await
    }

    fn page_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<IssuePage> {
        self.api.page_parser(resp, now)
    }

    fn items(page: &IssuePage) -> usize {
        page.items
    }

    fn next_page(&self, url: &str, resp: &Response, page: &IssuePage) -> Option<String> {
        self.api.next_page(url, resp, page)
    }

    fn next_after_not_modified(&self, url: &str, resp: &Response) -> Option<String> {
        self.api.next_after_not_modified(url, resp)
    }
}

/// The pages `pager` walks through `src`, as a stream.
pub fn walk<'a, S: IssuePages + Send + 'a>(
    src: S,
    ctx: &'a ImportContext,
    pager: Pager,
) -> BoxStream<'a, PageOutcome<S::Page>> {
    futures::stream::unfold((src, pager), move |(src, mut pager)| async move {
        let outcome = pager.next(&src, ctx).await?;
        Some((outcome, (src, pager)))
    })
    .boxed()
}

/// Refreshes held bugs from one listing of every issue of the project
/// ([`IssueApi::every_issue_url`], not conditional: the content is needed): emits those it
/// names (see [`emit_refreshed`]), deletes those it lists as confidential; the others (and
/// the links that are not issues of this project) are asked for one by one.
pub async fn refresh_from_listing<A: IssueApi>(
    api: &A,
    run: &ForgeRun<A>,
    ctx: &ImportContext,
    links: Vec<String>,
) -> Result<(), Error> {
    let refresher = run.refresher(api);
    let Some(listing) = api.every_issue_url() else {
        return refresh_each(ctx, &refresher, links).await;
    };
    let mut pending: HashMap<u64, String> = HashMap::new();
    let mut rest = Vec::new();
    for link in links {
        match api.own_issue_number(&link) {
            Some(n) => {
                pending.insert(n, link);
            }
            None => rest.push(link),
        }
    }
    if !pending.is_empty() {
        let take = |pending: &mut HashMap<u64, String>, link: &str| {
            api.own_issue_number(link).and_then(|n| pending.remove(&n))
        };
        let mut pages = api.pages(run.client(), ctx, listing, false);
        while let Some(outcome) = pages.next().await {
            if let PageOutcome::Page(page) = outcome {
                for e in page.errors {
                    ctx.report_error(e);
                }
                for bug in page.bugs {
                    if let Some(held) = take(&mut pending, &bug.canonical_bug_link) {
                        emit_refreshed(ctx, &refresher, held, bug).await?;
                    }
                }
                for link in page.skipped {
                    if let Some(held) = take(&mut pending, &link) {
                        emit_gone(ctx, &refresher, held, A::HIDDEN_REASON).await?;
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
        }
    }
    rest.extend(pending.into_values());
    refresh_each(ctx, &refresher, rest).await
}

/// The [`Importer`] of an [`IssueApi`]: runs the queries and refreshes the held bugs (see the
/// module docs).
#[derive(Debug)]
pub struct ForgeImporter<A> {
    api: A,
}

impl<A: IssueApi> ForgeImporter<A> {
    /// An importer for `config`; fails (naming the key) on missing or malformed keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        Ok(ForgeImporter {
            api: A::from_config(config)?,
        })
    }

    /// The API this importer reads.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// The first URL of each query: as configured ([`IssueApi::query_url`]), with the since
    /// filter from the query's `last_polled` when it has one and the URL none; the
    /// [`IssueApi::default_queries`] when the configuration has no query.
    pub fn query_urls(&self) -> Vec<String> {
        let config = self.api.config();
        if config.queries.is_empty() {
            return self.api.default_queries();
        }
        config
            .queries
            .iter()
            .map(|q| {
                let url = self.api.query_url(&q.url);
                match q.last_polled {
                    Some(t) if query_param(&url, A::SINCE_PARAM).is_none() => {
                        with_query_param(&url, A::SINCE_PARAM, &self.api.since_value(t))
                            .unwrap_or(url)
                    }
                    _ => url,
                }
            })
            .collect()
    }

    /// This run's state, made on first use from the run's context.
    fn run(&self, ctx: &ImportContext) -> Arc<ForgeRun<A>> {
        ctx.run_value(|| ForgeRun {
            client: self.api.client(ctx),
            full_listing_done: AtomicBool::new(false),
        })
    }

    /// Runs one query: emits the bugs it names (once each in the run, completed); a page that
    /// fails is reported and ends this query only. Returns whether the query listed every
    /// issue to the end with no 304 page and no error.
    async fn run_query(
        &self,
        ctx: &ImportContext,
        run: &ForgeRun<A>,
        url: String,
    ) -> Result<bool, Error> {
        let conditional = self.api.conditional_listing(&url);
        let mut pages = self.api.pages(run.client(), ctx, url.clone(), conditional);
        let (mut complete, mut emitted, mut skipped) = (true, 0u64, 0usize);
        while let Some(outcome) = pages.next().await {
            let PageOutcome::Page(page) = outcome else {
                complete = false;
                continue;
            };
            skipped += page.pull_requests + page.skipped.len();
            for e in page.errors {
                complete = false;
                ctx.report_error(e);
            }
            let fresh: Vec<ParsedBug> = page
                .bugs
                .into_iter()
                .filter(|b| ctx.claim(&b.canonical_bug_link))
                .collect();
            let mut done = futures::stream::iter(fresh)
                .map(|bug| self.api.complete(run.client(), ctx, bug))
                .buffered(PARALLEL_REFRESH);
            while let Some(bug) = done.next().await {
                ctx.emit(bug).await?;
                emitted += 1;
            }
        }
        tracing::debug!(tracker = %ctx.tracker_name(), url = %url, emitted, skipped, complete, "query done");
        Ok(complete && self.api.lists_everything(&url))
    }
}

#[async_trait]
impl<A: IssueApi> Importer for ForgeImporter<A> {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let run = self.run(ctx);
        let runs = self
            .query_urls()
            .into_iter()
            .map(|url| self.run_query(ctx, &run, url));
        let mut full = false;
        let mut result = Ok(());
        for r in futures::future::join_all(runs).await {
            match r {
                Ok(listed_all) => full |= listed_all,
                Err(e) if result.is_ok() => result = Err(e),
                Err(_) => {}
            }
        }
        run.full_listing_done.store(full, Ordering::Relaxed);
        result
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        // Bugs a query of this run already emitted are done.
        let order: Vec<String> = urls.iter().filter(|u| ctx.claim(u)).cloned().collect();
        if order.is_empty() {
            return Ok(());
        }
        let run = self.run(ctx);
        if run.full_listing_done() || order.len() <= self.api.one_by_one_max() {
            return refresh_each(ctx, &run.refresher(&self.api), order).await;
        }
        self.api.refresh_many(&run, ctx, order).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_listings() {
        let issues = "https://h/api/v1/repos/o/r/issues";
        let gitea = |url: &str| {
            lists_every_issue(
                url,
                issues,
                &["state"],
                true,
                &["limit", "page", "type=issues"],
            )
        };
        assert!(gitea(
            "https://h/api/v1/repos/o/r/issues?state=all&type=issues&limit=50"
        ));
        assert!(gitea("https://h/api/v1/repos/O/R/issues/?state=ALL"));
        assert!(
            !gitea("https://h/api/v1/repos/o/r/issues?type=issues"),
            "open only"
        );
        assert!(!gitea(
            "https://h/api/v1/repos/o/r/issues?state=all&type=pulls"
        ));
        assert!(!gitea(
            "https://h/api/v1/repos/o/r/issues?state=all&labels=x"
        ));
        assert!(!gitea("http://h/api/v1/repos/o/r/issues?state=all"));
        let gitlab =
            |url: &str| lists_every_issue(url, issues, &["state", "scope"], false, &["page"]);
        assert!(gitlab(issues));
        assert!(!gitlab("https://h/api/v1/repos/o/r/issues?state=opened"));
    }

    #[test]
    fn token_clients_never_show_the_token() {
        let c = TokenClient::with_token(
            Some("forge-secret".into()),
            http::header::AUTHORIZATION,
            "token ",
            "https://codeberg.org",
        );
        assert!(!format!("{c:?}").contains("forge-secret"));
        assert!(c.has_token());
    }
}
