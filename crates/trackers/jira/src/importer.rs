//! The [`JiraImporter`]: queries (JQL searches paged to the end), and the refresh of the bugs
//! a host already holds.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, IssueRefresh, Refreshed};
use bugimporters_core::paging::query_param;
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use futures::StreamExt;

use crate::client::{
    cloud_search_url, fix_host_refresh_url, is_token_paged, offset_page_url, token_first_url,
    token_page_url, with_updated_since, Auth, JiraClient, KEYS_PER_SEARCH, MAX_PAGES,
};
use crate::config::{parse_settings, JiraOptions};
use crate::parser::{key_from_link, parse_issue, ParseSettings, SearchPage};

/// Offset pages of one search fetched at the same time once `total` is known (the context
/// still bounds requests in flight by `max_connections`).
const PARALLEL_PAGES: usize = 4;

/// Held bugs refreshed one by one at the same time.
const PARALLEL_REFRESH: usize = 8;

/// Imports the issues of one Jira. See the crate docs and `docs/trackers/jira.md`.
#[derive(Debug)]
pub struct JiraImporter {
    config: TrackerConfig,
    options: JiraOptions,
    settings: ParseSettings,
    api_root: String,
    credential_origins: Vec<url::Origin>,
}

/// Where the bugs of a search page go.
#[async_trait]
trait Sink: Send + Sync {
    async fn take(&self, ctx: &ImportContext, bugs: Vec<ParsedBug>) -> Result<(), Error>;
    /// Whether nothing more is wanted (stops paging early).
    fn satisfied(&self) -> bool {
        false
    }
}

/// Queries: every bug, once per run.
struct QuerySink;

#[async_trait]
impl Sink for QuerySink {
    async fn take(&self, ctx: &ImportContext, bugs: Vec<ParsedBug>) -> Result<(), Error> {
        for bug in bugs {
            if ctx.claim(&bug.canonical_bug_link) {
                ctx.emit(bug).await?;
            }
        }
        Ok(())
    }
}

/// Refresh: only the held bugs still pending.
struct RefreshSink {
    pending: Mutex<HashSet<String>>,
}

impl RefreshSink {
    fn remove(&self, link: &str) -> bool {
        self.pending
            .lock()
            .map(|mut p| p.remove(link))
            .unwrap_or(false)
    }
    fn contains(&self, link: &str) -> bool {
        self.pending
            .lock()
            .map(|p| p.contains(link))
            .unwrap_or(false)
    }
}

#[async_trait]
impl Sink for RefreshSink {
    async fn take(&self, ctx: &ImportContext, bugs: Vec<ParsedBug>) -> Result<(), Error> {
        for bug in bugs {
            if self.remove(&bug.canonical_bug_link) {
                ctx.emit(bug).await?;
            }
        }
        Ok(())
    }
    fn satisfied(&self) -> bool {
        self.pending.lock().map(|p| p.is_empty()).unwrap_or(false)
    }
}

impl JiraImporter {
    /// An importer for `config`; fails (naming the key) on a missing `base_url` or malformed
    /// Jira keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = JiraOptions::from_config(config)?;
        let settings = parse_settings(config)?;
        let api_root = options.api_root(config)?;
        let credential_origins = options.credential_origins(config)?;
        Ok(JiraImporter {
            config: config.clone(),
            options,
            settings,
            api_root,
            credential_origins,
        })
    }

    /// The REST root (`https://host[/context]`) used for the refresh requests.
    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    /// The client of `ctx`'s run (its credentials), made on first use in the run.
    fn client(&self, ctx: &ImportContext) -> Arc<JiraClient> {
        ctx.run_value(|| {
            let auth = Auth::from_env(&self.options, |name| ctx.secret(name));
            tracing::debug!(tracker = %ctx.tracker_name(), auth = auth.kind(), "Jira credentials");
            JiraClient {
                api_root: self.api_root.clone(),
                credential_origins: self.credential_origins.clone(),
                settings: Arc::new(self.settings.clone()),
                auth,
            }
        })
    }

    /// The first URL of each query: as configured, with `updated > T` added to the JQL when
    /// the query has a `last_polled` (T = that time), and `fields=*navigable` added to a
    /// token-paged Cloud search that names no fields.
    pub fn query_urls(&self) -> Vec<String> {
        self.config
            .queries
            .iter()
            .map(|q| {
                let mut url = q.url.trim().to_owned();
                if let Some(t) = q.last_polled {
                    url = with_updated_since(&url, t).unwrap_or(url);
                }
                if is_token_paged(&url) {
                    url = token_first_url(&url);
                }
                url
            })
            .collect()
    }

    /// Fetches and parses one page; failures are reported and give `None`.
    async fn page(&self, ctx: &ImportContext, jc: &JiraClient, url: &str) -> Option<SearchPage> {
        match self.fetch_page(ctx, jc, url).await {
            Ok(p) => Some(p),
            Err(e) => {
                ctx.report_error(e);
                None
            }
        }
    }

    async fn fetch_page(
        &self,
        ctx: &ImportContext,
        jc: &JiraClient,
        url: &str,
    ) -> Result<SearchPage, Error> {
        let resp = jc.get(ctx, url, false).await?;
        jc.search(resp, url, ctx.now()).await
    }

    /// Hands a page's bugs to `sink`, reporting its per-issue errors. `false` if any.
    async fn deliver(
        &self,
        ctx: &ImportContext,
        sink: &dyn Sink,
        page: SearchPage,
    ) -> Result<bool, Error> {
        let clean = page.errors.is_empty();
        for e in page.errors {
            ctx.report_error(e);
        }
        sink.take(ctx, page.bugs).await?;
        Ok(clean)
    }

    /// Runs one search to its end. Returns whether every page was read and parsed.
    async fn run_search(
        &self,
        ctx: &ImportContext,
        jc: &JiraClient,
        url: &str,
        sink: &dyn Sink,
    ) -> Result<bool, Error> {
        let first = match self.fetch_page(ctx, jc, url).await {
            Ok(p) => p,
            Err(e) if e.status() == Some(410) => match cloud_search_url(url) {
                // Jira Cloud removed `/search` (410 Gone) for `/search/jql`.
                Some(jql_url) => {
                    tracing::info!(tracker = %ctx.tracker_name(), from = %url, to = %jql_url, "search endpoint gone; using Jira Cloud's token-paged search");
                    let Some(p) = self.page(ctx, jc, &jql_url).await else {
                        return Ok(false);
                    };
                    return self.run_token_paged(ctx, jc, &jql_url, p, sink).await;
                }
                None => {
                    ctx.report_error(e);
                    return Ok(false);
                }
            },
            Err(e) => {
                ctx.report_error(e);
                return Ok(false);
            }
        };
        if is_token_paged(url) {
            return self.run_token_paged(ctx, jc, url, first, sink).await;
        }
        let start = first
            .start_at
            .or_else(|| query_param(url, "startAt").and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        let step = first.issue_count as u64;
        let total = first.total;
        let mut complete = self.deliver(ctx, sink, first).await?;
        let Some(total) = total else {
            return Ok(complete);
        };
        if step == 0 || start + step >= total || sink.satisfied() {
            return Ok(complete);
        }
        // `total` is known: read the remaining chunks of `step` issues side by side.
        let offsets: Vec<u64> = (start + step..total)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .take(MAX_PAGES)
            .collect();
        let ok = AtomicBool::new(true);
        let results: Vec<Result<(), Error>> = futures::stream::iter(offsets)
            .map(|off| {
                let end = (off + step).min(total);
                self.read_chunk(ctx, jc, url, off, end, sink, &ok)
            })
            .buffer_unordered(PARALLEL_PAGES)
            .collect()
            .await;
        for r in results {
            r?;
        }
        complete &= ok.load(Ordering::Relaxed);
        Ok(complete)
    }

    /// Reads issues `[off, end)`: one page normally, more when the server returns fewer
    /// issues than asked for.
    #[allow(clippy::too_many_arguments)]
    async fn read_chunk(
        &self,
        ctx: &ImportContext,
        jc: &JiraClient,
        url: &str,
        mut off: u64,
        end: u64,
        sink: &dyn Sink,
        ok: &AtomicBool,
    ) -> Result<(), Error> {
        while off < end {
            if sink.satisfied() {
                return Ok(());
            }
            let Some(page_url) = offset_page_url(url, off) else {
                ok.store(false, Ordering::Relaxed);
                return Ok(());
            };
            let Some(page) = self.page(ctx, jc, &page_url).await else {
                ok.store(false, Ordering::Relaxed);
                return Ok(());
            };
            let got = page.issue_count as u64;
            if !self.deliver(ctx, sink, page).await? {
                ok.store(false, Ordering::Relaxed);
            }
            if got == 0 {
                // The result shrank while we read it; nothing more here.
                return Ok(());
            }
            off += got;
        }
        Ok(())
    }

    async fn run_token_paged(
        &self,
        ctx: &ImportContext,
        jc: &JiraClient,
        url: &str,
        first: SearchPage,
        sink: &dyn Sink,
    ) -> Result<bool, Error> {
        let mut page = first;
        let mut complete = true;
        let mut seen_tokens = HashSet::new();
        for _ in 0..MAX_PAGES {
            let next = match (&page.next_page_token, page.is_last) {
                (_, Some(true)) | (None, _) => None,
                (Some(t), _) if page.issue_count > 0 && seen_tokens.insert(t.clone()) => {
                    Some(t.clone())
                }
                _ => None,
            };
            complete &= self.deliver(ctx, sink, page).await?;
            let Some(token) = next else {
                return Ok(complete);
            };
            if sink.satisfied() {
                return Ok(complete);
            }
            let Some(next_url) = token_page_url(url, &token) else {
                return Ok(false);
            };
            match self.page(ctx, jc, &next_url).await {
                Some(p) => page = p,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Refreshes `links` (held bugs not found by the listing): `key in (...)` searches, then
    /// one request per issue for those the searches did not return.
    async fn refresh_by_key(
        &self,
        ctx: &ImportContext,
        jc: &JiraClient,
        sink: &RefreshSink,
        links: Vec<(String, String)>,
    ) -> Result<(), Error> {
        let chunks: Vec<Vec<(String, String)>> = links
            .chunks(KEYS_PER_SEARCH)
            .map(<[(String, String)]>::to_vec)
            .collect();
        let results: Vec<Result<(), Error>> = futures::stream::iter(chunks)
            .map(|chunk| async move {
                let keys: Vec<String> = chunk.iter().map(|(_, k)| k.clone()).collect();
                if let Some(url) = jc.keys_search_url(&keys) {
                    match jc.get(ctx, &url, false).await {
                        Ok(resp) => match jc.search(resp, &url, ctx.now()).await {
                            Ok(page) => {
                                for e in page.errors {
                                    ctx.report_error(e);
                                }
                                sink.take(ctx, page.bugs).await?;
                            }
                            Err(e) => tracing::debug!(tracker = %ctx.tracker_name(), error = %e, "key search unreadable; asking issue by issue"),
                        },
                        Err(e) => tracing::debug!(tracker = %ctx.tracker_name(), error = %e, "key search failed; asking issue by issue"),
                    }
                }
                let left: Vec<(String, String)> =
                    chunk.into_iter().filter(|(l, _)| sink.contains(l)).collect();
                let refresher = Refresher {
                    jc,
                    name: ctx.tracker_name(),
                };
                let refresher = &refresher;
                let inner: Vec<Result<(), Error>> = futures::stream::iter(left)
                    .map(|(link, _)| async move {
                        if !sink.remove(&link) {
                            return Ok(());
                        }
                        forge::refresh_one(ctx, refresher, link).await
                    })
                    .buffer_unordered(PARALLEL_REFRESH)
                    .collect()
                    .await;
                inner.into_iter().collect::<Result<(), Error>>()
            })
            .buffer_unordered(2)
            .collect()
            .await;
        results.into_iter().collect()
    }
}

/// What [`forge::refresh_one`] needs of one Jira run: `GET /rest/api/2/issue/KEY`
/// (conditional: `304` → `_no_update`, `404`/`410` → `_deleted`, an issue under another key —
/// moved — is the new bug plus a deletion of the old link).
struct Refresher<'a> {
    jc: &'a JiraClient,
    /// The tracker name, also the project name of Jira's deletion and no-update records.
    name: &'a str,
}

#[async_trait]
impl IssueRefresh for Refresher<'_> {
    fn project_name(&self) -> &str {
        self.name
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        key_from_link(link).map(|key| self.jc.issue_url(&key))
    }

    fn not_an_issue_link(&self) -> &'static str {
        NOT_AN_ISSUE_LINK
    }

    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        self.jc.get(ctx, url, true).await
    }

    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let settings = Arc::clone(&self.jc.settings);
        Job::of(resp, move |body, url| {
            parse_issue(body, url, &settings, now).map(|bug| Refreshed::Issue(Box::new(bug)))
        })
    }
}

/// The error reported for a held link that is not a Jira issue link.
const NOT_AN_ISSUE_LINK: &str = "not a Jira issue link (…/browse/KEY-N); cannot refresh it";

#[async_trait]
impl Importer for JiraImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let jc = self.client(ctx);
        let runs = self.query_urls().into_iter().map(|url| {
            let jc = jc.clone();
            async move {
                let complete = self.run_search(ctx, &jc, &url, &QuerySink).await?;
                tracing::debug!(tracker = %ctx.tracker_name(), url = %url, complete, "query done");
                Ok::<(), Error>(())
            }
        });
        let results = futures::future::join_all(runs).await;
        results.into_iter().collect()
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let mut order = Vec::new();
        for link in urls {
            if !ctx.claim(link) {
                continue;
            }
            match key_from_link(link) {
                Some(key) => order.push((link.clone(), key)),
                None => ctx.report_error(Error::parse(link.as_str(), NOT_AN_ISSUE_LINK)),
            }
        }
        if order.is_empty() {
            return Ok(());
        }
        let jc = self.client(ctx);
        let sink = RefreshSink {
            pending: Mutex::new(order.iter().map(|(l, _)| l.clone()).collect()),
        };
        if let Some(listing) = self
            .config
            .get_older_bug_data
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            let mut url = fix_host_refresh_url(listing);
            if is_token_paged(&url) {
                url = token_first_url(&url);
            }
            self.run_search(ctx, &jc, &url, &sink).await?;
        }
        let left: Vec<(String, String)> = order
            .into_iter()
            .filter(|(l, _)| sink.contains(l))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        self.refresh_by_key(ctx, &jc, &sink, left).await
    }
}
