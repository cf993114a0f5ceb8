//! The [`GiteaImporter`]: queries, and the refresh of the bugs a host already holds.

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

use crate::client::{GiteaClient, PageOutcome, Pager, PAGE_LIMIT};
use crate::config::{GiteaOptions, GiteaRepo};
use crate::parser::{parse_issue, IssueItem, ParseSettings};

/// Imports the issues of one Gitea or Forgejo repository. See the crate docs and
/// `docs/trackers/gitea.md`.
#[derive(Debug)]
pub struct GiteaImporter {
    config: TrackerConfig,
    options: GiteaOptions,
    repo: GiteaRepo,
    settings: ParseSettings,
    client: OnceLock<Arc<GiteaClient>>,
    /// Set by `process_queries` when a query listed every issue of the repository (both
    /// states, no filter) to the end with no 304 page and no error.
    full_listing_done: AtomicBool,
}

/// `(owner, repo, index)` in lower case: the key that matches a held link to a listed issue
/// (Gitea owner and repository names are case-insensitive).
type IssueKey = (String, String, u64);

impl GiteaImporter {
    /// An importer for `config`; fails (naming the key) on missing or malformed keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = GiteaOptions::from_config(config)?;
        let repo = options.repo(config)?;
        let settings = options.parse_settings(config)?;
        Ok(GiteaImporter {
            config: config.clone(),
            options,
            repo,
            settings,
            client: OnceLock::new(),
            full_listing_done: AtomicBool::new(false),
        })
    }

    /// The instance and repository this importer reads.
    pub fn repo(&self) -> &GiteaRepo {
        &self.repo
    }

    fn client(&self, ctx: &ImportContext) -> Arc<GiteaClient> {
        self.client
            .get_or_init(|| {
                let token = ctx.secret(self.options.token_env());
                let client = GiteaClient::new(self.repo.clone(), self.settings.clone(), token);
                tracing::debug!(tracker = %ctx.tracker_name(), token = client.has_token(), "Gitea credentials");
                Arc::new(client)
            })
            .clone()
    }

    fn key(&self, link: &str) -> Option<IssueKey> {
        let (o, r, n) = self.repo.issue_of_link(link)?;
        Some((o.to_lowercase(), r.to_lowercase(), n))
    }

    /// The first URL of each query: as configured, with `type=issues` when the URL names no
    /// `type` (pull requests are not bugs) and `since=` from the query's `last_polled` when
    /// it has one and the URL none; every issue of the repository when there is no query.
    pub fn query_urls(&self) -> Vec<String> {
        if self.config.queries.is_empty() {
            return vec![self.repo.default_query()];
        }
        self.config
            .queries
            .iter()
            .map(|q| {
                let mut url = q.url.trim().to_owned();
                if query_param(&url, "type").is_none() {
                    url = with_query_param(&url, "type", "issues").unwrap_or(url);
                }
                match q.last_polled {
                    Some(t) if query_param(&url, "since").is_none() => {
                        let since = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                        with_query_param(&url, "since", &since).unwrap_or(url)
                    }
                    _ => url,
                }
            })
            .collect()
    }

    /// Whether `url` lists every issue of this repository: its issues path, `state=all`, and
    /// no filtering parameter.
    fn lists_everything(&self, url: &str) -> bool {
        let (Ok(u), Ok(expected)) = (Url::parse(url), Url::parse(&self.repo.issues_url())) else {
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
                "state" => all = v == "all",
                "type" if v == "issues" => {}
                "limit" | "page" => {}
                _ => return false,
            }
        }
        all
    }

    async fn run_query(
        &self,
        ctx: &ImportContext,
        gt: &GiteaClient,
        url: String,
    ) -> Result<(), Error> {
        // A URL with a time filter changes every run: validators stored for it would never be
        // used again, so such listings are not conditional.
        let conditional = query_param(&url, "since").is_none();
        let mut pager = Pager::new(url.clone(), conditional);
        let mut complete = true;
        let (mut emitted, mut pulls) = (0u64, 0usize);
        while let Some(outcome) = pager.next(gt, ctx).await {
            match outcome {
                PageOutcome::Page(page) => {
                    pulls += page.pull_requests;
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
        tracing::debug!(tracker = %ctx.tracker_name(), url = %url, emitted, pull_requests_skipped = pulls, complete, "query done");
        if complete && self.lists_everything(&url) {
            self.full_listing_done.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Lists every issue of the repository (not conditionally: the content is needed) and
    /// emits the held bugs it names, removing them from `pending`.
    async fn refresh_from_listing(
        &self,
        ctx: &ImportContext,
        gt: &GiteaClient,
        pending: &mut HashMap<IssueKey, String>,
    ) -> Result<(), Error> {
        let mut pager = Pager::new(self.repo.default_query(), false);
        while let Some(outcome) = pager.next(gt, ctx).await {
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
                    forge::emit_refreshed(ctx, &self.refresher(gt), held, bug).await?;
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// The refresh of held bugs through `gt` (see [`forge::refresh_one`]).
    fn refresher<'a>(&'a self, gt: &'a GiteaClient) -> Refresher<'a> {
        Refresher { imp: self, gt }
    }
}

/// [`IssueRefresh`] for one Gitea importer and its client.
struct Refresher<'a> {
    imp: &'a GiteaImporter,
    gt: &'a GiteaClient,
}

#[async_trait]
impl IssueRefresh for Refresher<'_> {
    fn project_name(&self) -> &str {
        &self.imp.settings.project_name
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.imp.repo.issue_api_url(link)
    }

    fn not_an_issue_link(&self) -> &'static str {
        "not an issue link of this instance (…/OWNER/REPO/issues/N); cannot refresh it"
    }

    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        self.gt.get(ctx, url, true).await
    }

    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let settings = Arc::clone(&self.gt.settings);
        Job::of(resp, move |body, url| {
            Ok(match parse_issue(body, url, &settings, now)? {
                IssueItem::Issue(bug) => Refreshed::Issue(bug),
                IssueItem::PullRequest { .. } => {
                    Refreshed::Gone("a pull request, not an issue; deleting it")
                }
            })
        })
    }
}

#[async_trait]
impl Importer for GiteaImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        self.full_listing_done.store(false, Ordering::Relaxed);
        let gt = self.client(ctx);
        let runs = self
            .query_urls()
            .into_iter()
            .map(|url| self.run_query(ctx, &gt, url));
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
        let gt = self.client(ctx);
        // After a complete listing of every issue, the held bugs it did not name are gone,
        // moved or pull requests; with at most a page's worth of bugs, asking for each costs
        // no more than a listing would.
        if self.full_listing_done.load(Ordering::Relaxed) || order.len() <= PAGE_LIMIT as usize {
            return forge::refresh_each(ctx, &self.refresher(&gt), order).await;
        }
        let mut pending: HashMap<IssueKey, String> = HashMap::new();
        let mut rest = Vec::new();
        for link in order {
            match self.key(&link) {
                Some(k)
                    if k.0 == self.repo.owner.to_lowercase()
                        && k.1 == self.repo.name.to_lowercase() =>
                {
                    pending.insert(k, link);
                }
                _ => rest.push(link),
            }
        }
        if !pending.is_empty() {
            self.refresh_from_listing(ctx, gt.as_ref(), &mut pending)
                .await?;
        }
        rest.extend(pending.into_values());
        forge::refresh_each(ctx, &self.refresher(&gt), rest).await
    }
}
