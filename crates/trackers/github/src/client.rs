//! Requests to the GitHub API: credentials and token rotation, and the pager that walks an
//! issue list by its `Link` header.
//!
//! Everything goes through [`ImportContext::fetch`], so the core fetch layer's retries,
//! rate-limit waits (`X-RateLimit-Remaining: 0` + `X-RateLimit-Reset`, `Retry-After`),
//! conditional requests and redirect handling apply.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use bugimporters_core::fetch::{Request, Response};
use bugimporters_core::forge::{ForgeClient, IssuePage, MAX_PAGES};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, LINK};
use url::Url;

use crate::config::{GitHubOptions, Repo};
use crate::parser::{parse_issue_list, ParseSettings};
pub(crate) use bugimporters_core::paging::{link_rel, query_param, with_query_param as with_param};

/// Page size asked for when the importer chooses it.
pub const PER_PAGE: u32 = 100;

#[derive(Debug, Clone, Copy, Default)]
struct TokenState {
    remaining: Option<u64>,
    reset_epoch: Option<u64>,
    /// Requests sent with this token whose answer has not come yet: counted against what it
    /// has left, so that concurrent requests spread over the pool instead of all picking the
    /// token that was the fullest when they started.
    in_flight: u64,
}

/// One request's claim on a token of a [`Pool`]: counted in flight until dropped (answered,
/// or failed).
pub(crate) struct Lease {
    pool: Arc<Pool>,
    index: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut states) = self.pool.states.lock() {
            if let Some(s) = states.get_mut(self.index) {
                s.in_flight = s.in_flight.saturating_sub(1);
            }
        }
    }
}

/// What is known of one set of credentials on one API: shared by every tracker of the
/// process that uses the same tokens on the same API root, so that a host of many small
/// repositories (a tracker each) spends its tokens as one pool.
#[derive(Debug, Default)]
struct Pool {
    states: Mutex<Vec<TokenState>>,
    current: AtomicUsize,
}

/// The pools of the process, by API root and credential set (a hash: the tokens are not kept
/// twice).
static POOLS: LazyLock<Mutex<HashMap<u64, Arc<Pool>>>> = LazyLock::new(Default::default);

fn shared_pool(api: &str, values: &[String]) -> Arc<Pool> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    api.hash(&mut h);
    values.hash(&mut h);
    let key = h.finish();
    let mut pools = POOLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pools
        .entry(key)
        .or_insert_with(|| {
            Arc::new(Pool {
                states: Mutex::new(vec![TokenState::default(); values.len()]),
                current: AtomicUsize::new(0),
            })
        })
        .clone()
}

/// The credentials of a run, read from the environment: bearer tokens (rotated) or the
/// original's basic-auth pair. `Debug` never shows them.
pub(crate) struct Auth {
    kind: &'static str,
    values: Vec<String>,
    /// A non-secret name of each value for the run report (see [`fingerprint`]).
    labels: Vec<String>,
    pool: Arc<Pool>,
}

/// The run report's name of credential `index` (from 0) with header value `value`: its
/// position from 1 and 32 bits of an FNV-1a hash of the whole value — enough to tell tokens
/// apart across runs, nothing that helps guess one.
pub(crate) fn fingerprint(index: usize, value: &str) -> String {
    let h = value.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("#{} {:08x}", index + 1, h >> 32)
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("kind", &self.kind)
            .field("credentials", &self.values.len())
            .finish()
    }
}

impl Auth {
    /// Reads the credentials through `lookup` (the context's secret lookup): the bearer
    /// variable first (several tokens comma-separated), else the basic-auth pair, else none.
    pub(crate) fn from_env(
        options: &GitHubOptions,
        api: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let tokens: Vec<String> = lookup(options.token_env())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("Bearer {t}"))
                    .collect()
            })
            .unwrap_or_default();
        let (kind, values) = if !tokens.is_empty() {
            ("bearer", tokens)
        } else {
            let (user_env, pat_env) = options.basic_env();
            match (lookup(user_env), lookup(pat_env)) {
                (Some(user), Some(pat)) => {
                    let encoded =
                        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pat}"));
                    ("basic", vec![format!("Basic {encoded}")])
                }
                _ => ("none", Vec::new()),
            }
        };
        Auth {
            kind,
            pool: shared_pool(api, &values),
            labels: values
                .iter()
                .enumerate()
                .map(|(i, v)| fingerprint(i, v))
                .collect(),
            values,
        }
    }

    /// `"bearer"`, `"basic"` or `"none"`.
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// The credential to use next: the fullest one — the most requests left less those in
    /// flight, a token never used or whose window has reset counting as full — the current
    /// one on a tie; held as in flight until the returned lease is dropped. The pool is shared by the trackers using the same tokens on the same API, so a
    /// token is never spent while another has more left, and the fetch layer's wait for a
    /// reset (`X-RateLimit-Remaining: 0`, bounded by `max_wait`) comes only once every token
    /// is spent.
    fn pick(&self) -> Option<Lease> {
        // One lock for the choice and the claim: two requests never both take a last point.
        let mut states = self.pool.states.lock().ok()?;
        let index = self.choose(&states)?;
        if let Some(s) = states.get_mut(index) {
            s.in_flight += 1;
        }
        Some(Lease {
            pool: self.pool.clone(),
            index,
        })
    }

    fn choose(&self, states: &[TokenState]) -> Option<usize> {
        match self.values.len() {
            0 => return None,
            1 => return Some(0),
            _ => {}
        }
        let now = epoch_now();
        let left = |s: &TokenState| match (s.remaining, s.reset_epoch) {
            (Some(_), Some(reset)) if reset <= now => u64::MAX - s.in_flight,
            (Some(r), _) => r.saturating_sub(s.in_flight),
            (None, _) => u64::MAX - s.in_flight,
        };
        let cur = self.pool.current.load(Ordering::Relaxed) % self.values.len();
        let cur_left = states.get(cur).map_or(u64::MAX, left);
        let best =
            (0..states.len()).max_by_key(|&i| (states.get(i).map_or(0, left), usize::MAX - i))?;
        let best_left = states.get(best).map_or(0, left);
        if best != cur && best_left > cur_left {
            tracing::debug!(
                from = cur,
                to = best,
                remaining = cur_left,
                "switching to the GitHub token with the most requests left"
            );
            self.pool.current.store(best, Ordering::Relaxed);
            return Some(best);
        }
        Some(cur)
    }

    /// Learns what `resp` said of token `index` (pool and the tracker's run report).
    fn observe(&self, ctx: &ImportContext, index: usize, resp: &Response) {
        let remaining = resp
            .header("x-ratelimit-remaining")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let reset_epoch = remaining.and_then(|_| {
            resp.header("x-ratelimit-reset")
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        if let Some(label) = self.labels.get(index) {
            ctx.record_credential_use(label, remaining, reset_epoch);
        }
        if remaining.is_some() {
            self.record(index, remaining, reset_epoch);
        }
    }

    /// Identifies the pool this credential set shares (the GraphQL batcher groups
    /// repositories by it): the same for every tracker of the process with the same
    /// credentials on the same API root.
    pub(crate) fn pool_id(&self) -> usize {
        Arc::as_ptr(&self.pool) as usize
    }

    /// Records what an answer said of token `index`.
    fn record(&self, index: usize, remaining: Option<u64>, reset_epoch: Option<u64>) {
        if let Ok(mut states) = self.pool.states.lock() {
            if let Some(s) = states.get_mut(index) {
                // Answers may arrive out of order: within one window the count only falls,
                // so an older answer never raises it again.
                let same_window = reset_epoch.is_some() && s.reset_epoch == reset_epoch;
                s.remaining = match (same_window, s.remaining, remaining) {
                    (true, Some(old), Some(new)) => Some(old.min(new)),
                    _ => remaining,
                };
                s.reset_epoch = reset_epoch;
            }
        }
    }
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The requests of one run of a GitHub tracker: the repository, the run's credentials (a
/// token of the process-wide pool for them) and the parse settings.
#[derive(Debug)]
pub struct GitHubClient {
    pub(crate) repo: Repo,
    /// Shared with the parse jobs.
    pub(crate) settings: Arc<ParseSettings>,
    pub(crate) auth: Auth,
}

#[async_trait]
impl ForgeClient for GitHubClient {
    /// GETs `url`, conditionally when `conditional`, with the credentials when `url` is on the
    /// API's origin (never elsewhere: query URLs come from a database that users edit).
    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
        accept: &[u16],
    ) -> Result<Response, Error> {
        let mut req = Request::get(url)?.with_header(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        if conditional {
            req = req.conditional();
        }
        for status in accept {
            req = req.accept_status(*status);
        }
        self.send(ctx, req).await
    }
}

impl GitHubClient {
    /// POSTs the GraphQL document `body` (`{"query": ...}`) to `url`, with the credentials of
    /// the same pool (fullest token first) when `url` is on the API's origin. Marked
    /// idempotent (a query changes nothing), so it is retried like a `GET`.
    pub(crate) async fn post_graphql(
        &self,
        ctx: &ImportContext,
        url: &str,
        body: serde_json::Value,
    ) -> Result<Response, Error> {
        let req = Request::post_json(url, body)?
            .idempotent()
            .with_header(ACCEPT, HeaderValue::from_static("application/json"));
        self.send(ctx, req).await
    }

    /// Sends `req`, with a token of the pool when it goes to the API's origin.
    async fn send(&self, ctx: &ImportContext, mut req: Request) -> Result<Response, Error> {
        let mut used = None;
        if self.repo.same_origin(&req.url) {
            if let Some(lease) = self.auth.pick() {
                if let Some(value) = self.auth.values.get(lease.index) {
                    req = req.with_secret_header(AUTHORIZATION, value)?;
                    used = Some(lease);
                }
            }
        }
        let resp = ctx.fetch(req).await;
        if let Some(lease) = used {
            match &resp {
                Ok(r) => self.auth.observe(ctx, lease.index, r),
                Err(_) => {
                    if let Some(label) = self.auth.labels.get(lease.index) {
                        ctx.record_credential_use(label, None, None);
                    }
                }
            }
        }
        resp
    }
}

/// What one step of a [`Pager`] gave.
pub(crate) type PageOutcome = bugimporters_core::forge::PageOutcome<IssuePage>;

/// The `Link` header of a response, resolved against its URL.
#[derive(Debug, Default)]
pub(crate) struct Links {
    present: bool,
    pub(crate) next: Option<String>,
    last: Option<String>,
}

/// Pages of one listing fetched at the same time once its last page is known.
pub const PARALLEL_PAGES: usize = 4;

/// Walks an issue list page by page. The first request is the URL exactly as given (the
/// conformance replay and the host's own URLs rely on it); following pages come from the
/// `Link` header. When the first URL names no `per_page` and there is more than one page, the
/// listing restarts once at `per_page=100` (fewer requests for any list longer than about 45
/// issues; issues seen twice are de-duplicated by the caller). Once a page's `Link` names both
/// `next` and `last` as numbered pages of the same URL, the remaining pages are fetched
/// [`PARALLEL_PAGES`] at a time (still delivered in order).
#[derive(Debug)]
pub(crate) struct Pager {
    next: Option<String>,
    first: String,
    seen: HashSet<String>,
    pages: usize,
    queued: VecDeque<String>,
    ready: VecDeque<PageOutcome>,
}

impl Pager {
    pub(crate) fn new(first: String) -> Self {
        Pager {
            next: Some(first.clone()),
            first,
            seen: HashSet::new(),
            pages: 0,
            queued: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next page, or `None` at the end.
    pub(crate) async fn next(
        &mut self,
        gh: &GitHubClient,
        ctx: &ImportContext,
        now: NaiveDateTime,
    ) -> Option<PageOutcome> {
        if let Some(ready) = self.ready.pop_front() {
            return Some(ready);
        }
        if !self.queued.is_empty() {
            let n = PARALLEL_PAGES.min(self.queued.len());
            let batch: Vec<String> = self.queued.drain(..n).collect();
            let fetched =
                futures::future::join_all(batch.iter().map(|u| fetch_page(gh, ctx, u, now))).await;
            self.ready
                .extend(fetched.into_iter().map(|(outcome, _)| outcome));
            return self.ready.pop_front();
        }
        let url = self.next.take()?;
        if !self.seen.insert(url.clone()) || self.pages >= MAX_PAGES {
            ctx.report_error(Error::parse(
                url.as_str(),
                "the Link header loops or the listing exceeds the page limit; listing stopped",
            ));
            return Some(PageOutcome::Failed);
        }
        self.pages += 1;
        let is_first = self.pages == 1;
        let (outcome, links) = fetch_page(gh, ctx, &url, now).await;
        match &outcome {
            PageOutcome::Failed => {}
            PageOutcome::NotModified => {
                // The fetch layer gives a 304 the `Link` of the answer it stands for. Without
                // one, that answer had none either (one page, or validators stored before
                // links were): step on (`page=N+1`) only to a page an earlier run walked —
                // an unknown page past the end would cost a point to answer `[]`.
                self.next = if links.present {
                    links.next.clone()
                } else {
                    next_page_number(&url).filter(|next| {
                        ctx.client()
                            .validators(ctx.validator_scope(), next)
                            .is_some()
                    })
                };
                // Walk the pages an earlier run walked, so that their validators apply:
                // restart at 100 per page only if that first page was fetched before.
                if is_first {
                    if let Some(bigger) = self.upsized() {
                        if ctx
                            .client()
                            .validators(ctx.validator_scope(), &bigger)
                            .is_some()
                        {
                            self.next = Some(bigger);
                            return Some(outcome);
                        }
                    }
                }
                self.queue_rest(&links);
            }
            PageOutcome::Page(page) => {
                if page.items > 0 {
                    self.next = links.next.clone();
                    if is_first && self.next.is_some() {
                        if let Some(bigger) = self.upsized() {
                            self.next = Some(bigger);
                            return Some(outcome);
                        }
                    }
                    self.queue_rest(&links);
                }
            }
        }
        Some(outcome)
    }

    /// When `next` and `last` are numbered pages of one URL, queues them all (and clears the
    /// sequential `next`).
    fn queue_rest(&mut self, links: &Links) {
        let (Some(next), Some(last)) = (&links.next, &links.last) else {
            return;
        };
        let Some(urls) = page_range(next, last) else {
            return;
        };
        if self.pages + urls.len() > MAX_PAGES || urls.iter().any(|u| self.seen.contains(u)) {
            return;
        }
        self.seen.extend(urls.iter().cloned());
        self.pages += urls.len();
        self.queued.extend(urls);
        self.next = None;
    }

    /// The first URL at [`PER_PAGE`] per page, when it chose neither a page size nor a page.
    fn upsized(&self) -> Option<String> {
        let mut url = Url::parse(&self.first).ok()?;
        if url
            .query_pairs()
            .any(|(k, _)| k == "per_page" || k == "page")
        {
            return None;
        }
        url.query_pairs_mut()
            .append_pair("per_page", &PER_PAGE.to_string());
        Some(url.into())
    }
}

/// Fetches and parses one page; errors are reported here.
pub(crate) async fn fetch_page(
    gh: &GitHubClient,
    ctx: &ImportContext,
    url: &str,
    now: NaiveDateTime,
) -> (PageOutcome, Links) {
    let resp = match gh.get(ctx, url, true, &[]).await {
        Ok(r) => r,
        Err(e) => {
            ctx.report_error(e);
            return (PageOutcome::Failed, Links::default());
        }
    };
    // Every `Link` header counts (a server may split the relations over several).
    let values: Vec<&str> = resp
        .headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let find = |rel: &str| {
        values
            .iter()
            .find_map(|v| link_rel(v, rel))
            .and_then(|t| resp.url.join(&t).ok())
            .map(String::from)
    };
    let links = Links {
        present: !values.is_empty(),
        next: find("next"),
        last: find("last"),
    };
    if resp.not_modified() {
        return (PageOutcome::NotModified, links);
    }
    match page_job(&gh.settings, &resp, now).run().await {
        Ok(page) => (PageOutcome::Page(page), links),
        Err(e) => {
            ctx.report_error(e);
            (PageOutcome::Failed, Links::default())
        }
    }
}

/// The parse of one listing page.
pub(crate) fn page_job(
    settings: &Arc<ParseSettings>,
    resp: &Response,
    now: NaiveDateTime,
) -> Job<IssuePage> {
    let settings = Arc::clone(settings);
    Job::of(resp, move |body, url| {
        parse_issue_list(body, url, &settings, now)
    })
}

/// A URL split into itself, its `page` number and its other parameters.
type NumberedPage = (Url, u64, Vec<(String, String)>);

/// The URLs of pages `next..=last` when both are the same URL but for `page=N` (GitHub's
/// links); `next` itself is kept verbatim.
pub(crate) fn page_range(next: &str, last: &str) -> Option<Vec<String>> {
    let split = |text: &str| -> Option<NumberedPage> {
        let url = Url::parse(text).ok()?;
        let mut page = None;
        let mut rest = Vec::new();
        for (k, v) in url.query_pairs() {
            if k == "page" {
                page = Some(v.parse::<u64>().ok()?);
            } else {
                rest.push((k.into_owned(), v.into_owned()));
            }
        }
        Some((url, page?, rest))
    };
    let (next_url, from, next_rest) = split(next)?;
    let (last_url, to, last_rest) = split(last)?;
    if next_url.origin() != last_url.origin()
        || next_url.path() != last_url.path()
        || next_rest != last_rest
        || to < from
        || to - from >= MAX_PAGES as u64
    {
        return None;
    }
    let mut urls = vec![next.to_owned()];
    for n in from + 1..=to {
        urls.push(with_param(next, "page", &n.to_string())?);
    }
    Some(urls)
}

/// `url` with its `page` parameter incremented (`page=2` when absent).
pub(crate) fn next_page_number(url: &str) -> Option<String> {
    let mut parsed = Url::parse(url).ok()?;
    let mut page = 1u64;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in parsed.query_pairs() {
        if k == "page" {
            page = v.parse().ok()?;
        } else {
            pairs.push((k.into_owned(), v.into_owned()));
        }
    }
    pairs.push(("page".to_owned(), (page + 1).to_string()));
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    Some(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> GitHubOptions {
        GitHubOptions::default()
    }

    #[test]
    fn basic_auth_value_is_the_originals() {
        let auth = Auth::from_env(&opts(), "https://api.test", |k| match k {
            "GITHUB_USERNAME" => Some("sample_username".into()),
            "GITHUB_PERSONAL_ACCESS_TOKEN" => Some("sample_token".into()),
            _ => None,
        });
        assert_eq!(auth.kind(), "basic");
        assert_eq!(
            auth.values,
            vec!["Basic c2FtcGxlX3VzZXJuYW1lOnNhbXBsZV90b2tlbg==".to_owned()]
        );
        assert!(!format!("{auth:?}").contains("c2Ft"));
    }

    #[test]
    fn bearer_wins_and_splits() {
        let auth = Auth::from_env(&opts(), "https://api.test", |k| match k {
            "GITHUB_TOKEN" => Some(" a , ,b".into()),
            "GITHUB_USERNAME" => Some("u".into()),
            "GITHUB_PERSONAL_ACCESS_TOKEN" => Some("p".into()),
            _ => None,
        });
        assert_eq!(auth.kind(), "bearer");
        assert_eq!(
            auth.values,
            vec!["Bearer a".to_owned(), "Bearer b".to_owned()]
        );
        let none = Auth::from_env(&opts(), "https://api.test", |k| {
            (k == "GITHUB_USERNAME").then(|| "u".into())
        });
        assert_eq!(none.kind(), "none");
        assert_eq!(none.pick().map(|l| l.index), None);
    }

    #[test]
    fn rotation_picks_the_fullest_token() {
        let auth = Auth::from_env(&opts(), "https://rotation.test", |k| {
            (k == "GITHUB_TOKEN").then(|| "a,b,c".into())
        });
        assert_eq!(auth.pick().map(|l| l.index), Some(0));
        let future = epoch_now() + 3600;
        {
            let mut s = auth.pool.states.lock().unwrap();
            s[0] = TokenState {
                remaining: Some(5),
                reset_epoch: Some(future),
                in_flight: 0,
            };
            s[1] = TokenState {
                remaining: Some(50),
                reset_epoch: Some(future),
                in_flight: 0,
            };
        }
        // Token 2 is unknown, hence presumed full.
        assert_eq!(auth.pick().map(|l| l.index), Some(2));
        assert_eq!(
            auth.pick().map(|l| l.index),
            Some(2),
            "stays: still the fullest"
        );
        auth.pool.states.lock().unwrap()[2] = TokenState {
            remaining: Some(40),
            reset_epoch: Some(future),
            in_flight: 0,
        };
        assert_eq!(
            auth.pick().map(|l| l.index),
            Some(1),
            "token 1 has more left (50)"
        );
        {
            let mut s = auth.pool.states.lock().unwrap();
            s[2] = TokenState {
                remaining: Some(1),
                reset_epoch: Some(future),
                in_flight: 0,
            };
            s[0] = TokenState {
                remaining: Some(0),
                reset_epoch: Some(1),
                in_flight: 0,
            };
        }
        assert_eq!(
            auth.pick().map(|l| l.index),
            Some(0),
            "token 0 has reset since"
        );
    }

    #[test]
    fn requests_in_flight_count_against_their_token() {
        let auth = Auth::from_env(&opts(), "https://in-flight.test", |k| {
            (k == "GITHUB_TOKEN").then(|| "x,y".into())
        });
        let future = epoch_now() + 3600;
        for s in auth.pool.states.lock().unwrap().iter_mut() {
            *s = TokenState {
                remaining: Some(2),
                reset_epoch: Some(future),
                in_flight: 0,
            };
        }
        // Four requests at once on two tokens of two points: two each, none over.
        let leases: Vec<Lease> = (0..4).map(|_| auth.pick().unwrap()).collect();
        let mut per_token = [0; 2];
        for l in &leases {
            per_token[l.index] += 1;
        }
        assert_eq!(per_token, [2, 2]);
        drop(leases);
        assert!(auth
            .pool
            .states
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.in_flight == 0));
    }

    #[test]
    fn an_older_answer_never_raises_the_count_within_a_window() {
        let auth = Auth::from_env(&opts(), "https://order.test", |k| {
            (k == "GITHUB_TOKEN").then(|| "o1,o2".into())
        });
        let future = epoch_now() + 3600;
        auth.record(0, Some(5), Some(future));
        auth.record(0, Some(7), Some(future));
        assert_eq!(auth.pool.states.lock().unwrap()[0].remaining, Some(5));
        auth.record(0, Some(4_999), Some(future + 3600));
        assert_eq!(
            auth.pool.states.lock().unwrap()[0].remaining,
            Some(4_999),
            "a new window"
        );
    }

    #[test]
    fn trackers_with_the_same_tokens_on_the_same_api_share_one_pool() {
        let env = |k: &str| (k == "GITHUB_TOKEN").then(|| "p1,p2".to_owned());
        let a = Auth::from_env(&opts(), "https://pool.test", env);
        let b = Auth::from_env(&opts(), "https://pool.test", env);
        let elsewhere = Auth::from_env(&opts(), "https://other.test", env);
        let future = epoch_now() + 3600;
        a.pool.states.lock().unwrap()[0] = TokenState {
            remaining: Some(3),
            reset_epoch: Some(future),
            in_flight: 0,
        };
        // What tracker A learnt moves tracker B to the fuller token at once.
        assert_eq!(b.pick().map(|l| l.index), Some(1));
        assert_eq!(
            elsewhere.pick().map(|l| l.index),
            Some(0),
            "another API is another pool"
        );
    }

    #[test]
    fn page_ranges_from_link_headers() {
        let r = page_range(
            "https://h/r/issues?state=all&per_page=100&page=2",
            "https://h/r/issues?state=all&per_page=100&page=4",
        )
        .unwrap();
        assert_eq!(
            r,
            vec![
                "https://h/r/issues?state=all&per_page=100&page=2",
                "https://h/r/issues?state=all&per_page=100&page=3",
                "https://h/r/issues?state=all&per_page=100&page=4",
            ]
        );
        // Not siblings, or cursor links without page numbers: walk sequentially.
        assert!(page_range("https://h/r?page=2&x=1", "https://h/r?page=4&x=2").is_none());
        assert!(page_range("https://h/r?after=abc", "https://h/r?page=4").is_none());
        assert!(page_range("https://h/r?page=5", "https://h/r?page=4").is_none());
    }

    #[test]
    fn url_helpers() {
        assert_eq!(
            next_page_number("https://h/r/issues?state=open").as_deref(),
            Some("https://h/r/issues?state=open&page=2")
        );
        assert_eq!(
            next_page_number("https://h/r/issues?page=4&per_page=100").as_deref(),
            Some("https://h/r/issues?per_page=100&page=5")
        );
        assert_eq!(
            with_param(
                "https://h/i?since=2012-09-15T00%3A00%3A00",
                "state",
                "closed"
            )
            .as_deref(),
            Some("https://h/i?since=2012-09-15T00%3A00%3A00&state=closed")
        );
        assert_eq!(
            with_param("https://h/i?state=open&x=1", "state", "closed").as_deref(),
            Some("https://h/i?state=closed&x=1")
        );
        assert_eq!(
            query_param("https://h/i?state=all", "state").as_deref(),
            Some("all")
        );
        assert_eq!(query_param("https://h/i", "state"), None);
    }
}
