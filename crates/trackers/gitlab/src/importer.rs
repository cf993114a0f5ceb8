//! The [`GitLabImporter`]: queries, and the refresh of the bugs a host already holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, IssueRefresh, Refreshed, PARALLEL_REFRESH};
use bugimporters_core::paging::{query_param, with_query_param};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use futures::StreamExt;
use url::Url;

use crate::client::{GitLabClient, PageOutcome, Pager, PER_PAGE};
use crate::config::{GitLabOptions, GitLabProject};
use crate::parser::{parse_issue, parse_issue_list, parse_participants, IssueItem, ParseSettings};

/// Held bugs refreshed per listing request (`iids[]=`; GitLab's page maximum).
const IIDS_PER_REQUEST: usize = 100;

/// Imports the issues of one GitLab project. See the crate docs and `docs/trackers/gitlab.md`.
#[derive(Debug)]
pub struct GitLabImporter {
    config: TrackerConfig,
    options: GitLabOptions,
    project: GitLabProject,
    settings: ParseSettings,
    client: OnceLock<Arc<GitLabClient>>,
    /// Set by `process_queries` when a query listed every issue of the project (both states,
    /// no filter) to the end with no 304 page and no error: a held bug it did not list is gone
    /// (or confidential), and the refresh asks for each such bug alone.
    full_listing_done: AtomicBool,
}

impl GitLabImporter {
    /// An importer for `config`; fails (naming the key) on missing or malformed keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = GitLabOptions::from_config(config)?;
        let project = options.project(config)?;
        let settings = options.parse_settings(config)?;
        Ok(GitLabImporter {
            config: config.clone(),
            options,
            project,
            settings,
            client: OnceLock::new(),
            full_listing_done: AtomicBool::new(false),
        })
    }

    /// The instance and project this importer reads.
    pub fn project(&self) -> &GitLabProject {
        &self.project
    }

    fn client(&self, ctx: &ImportContext) -> Arc<GitLabClient> {
        self.client
            .get_or_init(|| {
                let token = ctx.secret(self.options.token_env());
                let client =
                    GitLabClient::new(self.project.clone(), self.settings.clone(), token);
                tracing::debug!(tracker = %ctx.tracker_name(), token = client.has_token(), "GitLab credentials");
                Arc::new(client)
            })
            .clone()
    }

    /// The first URL of each query: as configured, with `updated_after=` from the query's
    /// `last_polled` when it has one and the URL none; every issue of the project when the
    /// configuration has no query.
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
                    Some(t) if query_param(&url, "updated_after").is_none() => {
                        let since = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                        with_query_param(&url, "updated_after", &since).unwrap_or(url)
                    }
                    _ => url,
                }
            })
            .collect()
    }

    /// Whether `url` lists every issue of this project: its issues path, both states, and no
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
        u.query_pairs().all(|(k, v)| match &*k {
            "state" | "scope" => v == "all",
            "per_page" | "page" | "order_by" | "sort" => true,
            _ => false,
        })
    }

    async fn run_query(
        &self,
        ctx: &ImportContext,
        gl: &GitLabClient,
        url: String,
    ) -> Result<(), Error> {
        // A URL with a time filter changes every run: validators stored for it would never be
        // used again, so such listings are not conditional.
        let conditional = query_param(&url, "updated_after").is_none();
        let mut pager = Pager::new(url.clone(), conditional);
        let mut complete = true;
        let (mut emitted, mut skipped) = (0u64, 0usize);
        while let Some(outcome) = pager.next(gl, ctx).await {
            match outcome {
                PageOutcome::Page(page) => {
                    skipped += page.skipped.len();
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
                        .map(|bug| self.with_participants(ctx, gl, bug))
                        .buffered(PARALLEL_REFRESH);
                    while let Some(bug) = done.next().await {
                        ctx.emit(bug).await?;
                        emitted += 1;
                    }
                }
                PageOutcome::NotModified | PageOutcome::Failed => complete = false,
            }
        }
        tracing::debug!(tracker = %ctx.tracker_name(), url = %url, emitted, confidential_skipped = skipped, complete, "query done");
        if complete && self.lists_everything(&url) {
            self.full_listing_done.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Refreshes the held bugs of one project with `iids[]=` listings, 100 bugs a request;
    /// the bugs a listing does not name are asked for one by one.
    async fn refresh_batch(
        &self,
        ctx: &ImportContext,
        gl: &GitLabClient,
        path: String,
        batch: Vec<(u64, String)>,
    ) -> Result<(), Error> {
        let name = ctx.tracker_name();
        let project_name = self.settings.project_name.as_str();
        let mut url = match Url::parse(&self.project.issues_url_of(&path)) {
            Ok(u) => u,
            Err(e) => {
                ctx.report_error(Error::parse(path.as_str(), e));
                return Ok(());
            }
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("state", "all");
            q.append_pair("per_page", &PER_PAGE.to_string());
            for (iid, _) in &batch {
                q.append_pair("iids[]", &iid.to_string());
            }
        }
        let url = String::from(url);
        let resp = match gl.get(ctx, &url, true).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => {
                // The project is gone or hidden: ask for each bug (a 404 each is a deletion).
                let links = batch.into_iter().map(|(_, l)| l).collect();
                return forge::refresh_each(ctx, &self.refresher(gl), links).await;
            }
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        if resp.not_modified() {
            // The same iids listed the same issues, unchanged, as last time.
            for (_, link) in batch {
                ctx.emit(ParsedBug::no_update(link, name, project_name, ctx.now()))
                    .await?;
            }
            return Ok(());
        }
        let (settings, now) = (Arc::clone(&gl.settings), ctx.now());
        let page = Job::of(&resp, move |body, url| {
            parse_issue_list(body, url, &settings, now)
        });
        let page = match page.run().await {
            Ok(p) => p,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        let mut pending: HashMap<u64, String> = batch.into_iter().collect();
        // The listing is of one project, where an iid names one issue: match by iid (the
        // path in `web_url` differs when the project was renamed or moved since).
        let mut take = |link: &str| -> Option<String> {
            let (_, iid) = self.project.issue_of_link(link)?;
            pending.remove(&iid)
        };
        // A malformed element is reported; its bug, if held, is asked for alone below.
        for e in page.errors {
            ctx.report_error(e);
        }
        for bug in page.bugs {
            let Some(held) = take(&bug.canonical_bug_link) else {
                continue;
            };
            forge::emit_refreshed(ctx, &self.refresher(gl), held, bug).await?;
        }
        for link in page.skipped {
            if let Some(held) = take(&link) {
                forge::emit_gone(ctx, &self.refresher(gl), held, NOW_CONFIDENTIAL).await?;
            }
        }
        let rest: Vec<String> = pending.into_values().collect();
        forge::refresh_each(ctx, &self.refresher(gl), rest).await
    }

    /// With `fetch_participants`, `people_involved` becomes the number of the issue's
    /// participants (`GET /projects/:id/issues/:iid/participants`: author, assignees,
    /// commenters...) when that is larger. A failure is reported and the bug keeps its count.
    async fn with_participants(
        &self,
        ctx: &ImportContext,
        gl: &GitLabClient,
        mut bug: ParsedBug,
    ) -> ParsedBug {
        if !self.options.fetch_participants {
            return bug;
        }
        let Some(api) = self.project.issue_api_url(&bug.canonical_bug_link) else {
            return bug;
        };
        let url = format!("{api}/participants?per_page=100");
        match gl.get(ctx, &url, false).await {
            Ok(resp) => match Job::of(&resp, parse_participants).run().await {
                Ok(n) => {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    if bug.people_involved.is_none_or(|p| p < n) {
                        bug.people_involved = Some(n);
                    }
                }
                Err(e) => ctx.report_error(e),
            },
            Err(e) => ctx.report_error(e),
        }
        bug
    }

    /// The refresh of held bugs through `gl` (see [`forge::refresh_one`]).
    fn refresher<'a>(&'a self, gl: &'a GitLabClient) -> Refresher<'a> {
        Refresher { imp: self, gl }
    }
}

/// [`IssueRefresh`] for one GitLab importer and its client.
struct Refresher<'a> {
    imp: &'a GitLabImporter,
    gl: &'a GitLabClient,
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
        "not an issue link of this GitLab instance (…/GROUP/PROJECT/-/issues/N); cannot refresh it"
    }

    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        self.gl.get(ctx, url, true).await
    }

    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let settings = Arc::clone(&self.gl.settings);
        Job::of(resp, move |body, url| {
            Ok(match parse_issue(body, url, &settings, now)? {
                IssueItem::Issue(bug) => Refreshed::Issue(bug),
                IssueItem::Skipped { .. } => Refreshed::Gone(NOW_CONFIDENTIAL),
            })
        })
    }

    /// With `fetch_participants`, the participants' count (see
    /// [`GitLabImporter::with_participants`]).
    async fn complete(&self, ctx: &ImportContext, bug: ParsedBug) -> ParsedBug {
        self.imp.with_participants(ctx, self.gl, bug).await
    }
}

/// Why a held bug that is now confidential is deleted.
const NOW_CONFIDENTIAL: &str = "now confidential; deleting it";

#[async_trait]
impl Importer for GitLabImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        self.full_listing_done.store(false, Ordering::Relaxed);
        let gl = self.client(ctx);
        let runs = self
            .query_urls()
            .into_iter()
            .map(|url| self.run_query(ctx, &gl, url));
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
        let gl = self.client(ctx);
        if self.full_listing_done.load(Ordering::Relaxed) {
            // A complete listing of every issue did not name these: ask for each.
            return forge::refresh_each(ctx, &self.refresher(&gl), order).await;
        }
        // Group by project (held bugs may name other projects of the instance), then list
        // them by iid, 100 a request.
        let mut by_project: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        let mut odd = Vec::new();
        for link in order {
            match self.project.issue_of_link(&link) {
                Some((path, iid)) => by_project.entry(path).or_default().push((iid, link)),
                None => odd.push(link),
            }
        }
        let mut batches = Vec::new();
        for (path, mut items) in by_project {
            // Sorted, so that the same held bugs give the same URLs (and a 304) next run.
            items.sort_unstable();
            for chunk in items.chunks(IIDS_PER_REQUEST) {
                batches.push((path.clone(), chunk.to_vec()));
            }
        }
        let gl_ref = gl.as_ref();
        let results: Vec<Result<(), Error>> = futures::stream::iter(batches)
            .map(|(path, batch)| self.refresh_batch(ctx, gl_ref, path, batch))
            .buffer_unordered(PARALLEL_REFRESH)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), Error>>()?;
        // Links that are not issue pages of this instance: refresh_one reports each.
        forge::refresh_each(ctx, &self.refresher(gl_ref), odd).await
    }
}
