//! The [`PagureImporter`]: queries, and the refresh of the bugs a host already holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, IssueRefresh, Refreshed};
use bugimporters_core::paging::{query_param, with_query_param};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext, Importer, TrackerConfig};
use chrono::NaiveDateTime;
use url::Url;

use crate::client::{PageOutcome, Pager, PagureClient, PER_PAGE};
use crate::config::{PagureOptions, PagureProject};
use crate::parser::{parse_issue, IssueItem, ParseSettings};

/// Imports the issues of one Pagure project. See the crate docs and `docs/trackers/pagure.md`.
#[derive(Debug)]
pub struct PagureImporter {
    config: TrackerConfig,
    options: PagureOptions,
    project: PagureProject,
    settings: ParseSettings,
    client: OnceLock<Arc<PagureClient>>,
    /// Set by `process_queries` when a query listed every issue of the project (both
    /// states, no filter) to the end with no 304 page and no error.
    full_listing_done: AtomicBool,
}

/// `(project path, id)`: the key that matches a held link to a listed issue.
type IssueKey = (String, u64);

impl PagureImporter {
    /// An importer for `config`; fails (naming the key) on missing or malformed keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = PagureOptions::from_config(config)?;
        let project = options.project(config)?;
        let settings = options
            .parse_settings(config)?
            .with_web_root(project.web_root());
        Ok(PagureImporter {
            config: config.clone(),
            options,
            project,
            settings,
            client: OnceLock::new(),
            full_listing_done: AtomicBool::new(false),
        })
    }

    /// The instance and project this importer reads.
    pub fn project(&self) -> &PagureProject {
        &self.project
    }

    fn client(&self, ctx: &ImportContext) -> Arc<PagureClient> {
        self.client
            .get_or_init(|| {
                let token = ctx.secret(self.options.token_env());
                let client =
                    PagureClient::new(self.project.clone(), self.settings.clone(), token);
                tracing::debug!(tracker = %ctx.tracker_name(), token = client.has_token(), "Pagure credentials");
                Arc::new(client)
            })
            .clone()
    }

    fn key(&self, link: &str) -> Option<IssueKey> {
        self.project.issue_of_link(link)
    }

    /// The first URL of each query: as configured, with `since=` (a Unix timestamp) from the
    /// query's `last_polled` when it has one and the URL none; every issue of the project when
    /// the configuration has no query.
    pub fn query_urls(&self) -> Vec<String> {
        if self.config.queries.is_empty() {
            return vec![self.project.default_query()];
        }
        self.config
            .queries
            .iter()
            .map(|q| {
                let url = q.url.trim().to_owned();
                match q.last_polled {
                    Some(t) if query_param(&url, "since").is_none() => {
                        let since = t.and_utc().timestamp().to_string();
                        with_query_param(&url, "since", &since).unwrap_or(url)
                    }
                    _ => url,
                }
            })
            .collect()
    }

    /// Whether `url` lists every issue of this project: its issues path, `status=all`, and no
    /// filtering parameter.
    fn lists_everything(&self, url: &str) -> bool {
        let (Ok(u), Ok(expected)) = (Url::parse(url), Url::parse(&self.project.issues_url()))
        else {
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
        let mut all = false;
        for (k, v) in u.query_pairs() {
            match &*k {
                "status" => all = v.eq_ignore_ascii_case("all"),
                "per_page" | "page" | "order" | "order_key" => {}
                _ => return false,
            }
        }
        all
    }

    async fn run_query(
        &self,
        ctx: &ImportContext,
        pg: &PagureClient,
        url: String,
    ) -> Result<(), Error> {
        // A URL with a time filter changes every run: validators stored for it would never be
        // used again, so such listings are not conditional.
        let conditional = query_param(&url, "since").is_none();
        let mut pager = Pager::new(url.clone(), conditional);
        let mut complete = true;
        let (mut emitted, mut private) = (0u64, 0usize);
        while let Some(outcome) = pager.next(pg, ctx).await {
            match outcome {
                PageOutcome::Page(page) => {
                    private += page.skipped.len();
                    for e in page.errors {
                        complete = false;
                        ctx.report_error(e);
                    }
                    for bug in page.bugs {
                        if ctx.claim(&bug.canonical_bug_link) {
                            ctx.emit(bug).await?;
                            emitted += 1;
                        }
                    }
                }
                PageOutcome::NotModified | PageOutcome::Failed => complete = false,
            }
        }
        tracing::debug!(tracker = %ctx.tracker_name(), url = %url, emitted, private_skipped = private, complete, "query done");
        if complete && self.lists_everything(&url) {
            self.full_listing_done.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Lists every issue of the project (not conditionally: the content is needed) and emits
    /// the held bugs it names, removing them from `pending` (a held bug listed as private is
    /// deleted).
    async fn refresh_from_listing(
        &self,
        ctx: &ImportContext,
        pg: &PagureClient,
        pending: &mut HashMap<IssueKey, String>,
    ) -> Result<(), Error> {
        let mut pager = Pager::new(self.project.default_query(), false);
        while let Some(outcome) = pager.next(pg, ctx).await {
            if let PageOutcome::Page(page) = outcome {
                for e in page.errors {
                    ctx.report_error(e);
                }
                for bug in page.bugs {
                    let Some(held) = self
                        .key(&bug.canonical_bug_link)
                        .and_then(|k| pending.remove(&k))
                    else {
                        continue;
                    };
                    forge::emit_refreshed(ctx, &self.refresher(pg), held, bug).await?;
                }
                for link in page.skipped {
                    if let Some(held) = self.key(&link).and_then(|k| pending.remove(&k)) {
                        forge::emit_gone(ctx, &self.refresher(pg), held, NOW_PRIVATE).await?;
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// The refresh of held bugs through `pg` (see [`forge::refresh_one`]).
    fn refresher<'a>(&'a self, pg: &'a PagureClient) -> Refresher<'a> {
        Refresher { imp: self, pg }
    }
}

/// Why a held bug that is now private is deleted (it must not stay on a public site).
const NOW_PRIVATE: &str = "now private; deleting it";

/// Whether `body` is Pagure's JSON error for an issue the caller may not see
/// (`{"error": …, "error_code": "EISSUENOTALLOWED"}`).
fn is_not_allowed(body: &[u8]) -> bool {
    if bugimporters_core::parse::json_values(body) > bugimporters_core::parse::JSON_MAX_VALUES {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error_code")?
                .as_str()
                .map(|c| c == "EISSUENOTALLOWED")
        })
        .unwrap_or(false)
}

/// [`IssueRefresh`] for one Pagure importer and its client.
struct Refresher<'a> {
    imp: &'a PagureImporter,
    pg: &'a PagureClient,
}

#[async_trait]
impl IssueRefresh for Refresher<'_> {
    fn project_name(&self) -> &str {
        &self.imp.settings.project_name
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.imp.project.issue_api_url(link)
    }

    fn not_an_issue_link(&self) -> &'static str {
        "not an issue link of this instance (…/[NAMESPACE/]REPO/issue/N); cannot refresh it"
    }

    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        self.pg.get_accepting(ctx, url, true, &[403]).await
    }

    /// A 403 is a deletion only when its body is Pagure's own `EISSUENOTALLOWED` (a private
    /// issue) and private issues are not wanted; any other 403 (a bot wall, a proxy, a token
    /// that lost access) is an error that deletes nothing.
    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let (settings, status) = (Arc::clone(&self.pg.settings), resp.status);
        Job::of(resp, move |body, url| {
            if status == 403 {
                if is_not_allowed(body) && !settings.include_private {
                    return Ok(Refreshed::Gone(NOW_PRIVATE));
                }
                return Err(Error::status_error(url, 403));
            }
            Ok(match parse_issue(body, url, &settings, now)? {
                IssueItem::Issue(bug) => Refreshed::Issue(bug),
                IssueItem::Skipped { .. } => Refreshed::Gone(NOW_PRIVATE),
            })
        })
    }
}

#[async_trait]
impl Importer for PagureImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        self.full_listing_done.store(false, Ordering::Relaxed);
        let pg = self.client(ctx);
        let runs = self
            .query_urls()
            .into_iter()
            .map(|url| self.run_query(ctx, &pg, url));
        let results = futures::future::join_all(runs).await;
        results.into_iter().collect()
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
        let pg = self.client(ctx);
        // After a complete listing of every issue, the held bugs it did not name are gone,
        // moved or private; with at most a page's worth of bugs, asking for each costs no more
        // than a listing would.
        if self.full_listing_done.load(Ordering::Relaxed) || order.len() <= PER_PAGE as usize {
            return forge::refresh_each(ctx, &self.refresher(&pg), order).await;
        }
        let mut pending: HashMap<IssueKey, String> = HashMap::new();
        let mut rest = Vec::new();
        for link in order {
            match self.key(&link) {
                Some(k) if k.0 == self.project.path => {
                    pending.insert(k, link);
                }
                _ => rest.push(link),
            }
        }
        if !pending.is_empty() {
            self.refresh_from_listing(ctx, pg.as_ref(), &mut pending)
                .await?;
        }
        rest.extend(pending.into_values());
        forge::refresh_each(ctx, &self.refresher(&pg), rest).await
    }
}
