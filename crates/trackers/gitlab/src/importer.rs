//! [`GitLab`]: the GitLab REST API v4 as an [`IssueApi`]; [`GitLabImporter`] is the forge
//! skeleton's importer of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{
    self, ForgeClient, ForgeImporter, ForgeOptions, ForgeRun, IssueApi, IssueItem, IssuePage,
    Parse, ParseSettings, TokenClient, PARALLEL_REFRESH,
};
use bugimporters_core::paging::with_query_param;
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext, ParsedBug, TrackerConfig};
use futures::StreamExt;
use http::header::HeaderName;
use url::Url;

use crate::config::{GitLabOptions, GitLabProject, DEFAULT_TOKEN_ENV};
use crate::parser::{parse_issue, parse_issue_list, parse_participants};

/// Page size asked for when the importer chooses it (GitLab's maximum).
pub const PER_PAGE: u32 = 100;

/// The header GitLab reads personal, project and group access tokens from.
pub const TOKEN_HEADER: &str = "private-token";

/// Held bugs refreshed per listing request (`iids[]=`; GitLab's page maximum).
const IIDS_PER_REQUEST: usize = 100;

/// Imports the issues of one GitLab project. See the crate docs and `docs/trackers/gitlab.md`.
pub type GitLabImporter = ForgeImporter<GitLab>;

/// One GitLab project's issue API.
#[derive(Debug)]
pub struct GitLab {
    config: TrackerConfig,
    common: ForgeOptions,
    options: GitLabOptions,
    project: GitLabProject,
    settings: Arc<ParseSettings>,
}

impl GitLab {
    /// The instance and project read.
    pub fn project(&self) -> &GitLabProject {
        &self.project
    }

    /// Refreshes the held bugs of one project with an `iids[]=` listing (conditional: a 304
    /// makes them all `_no_update`); the bugs it does not name are asked for one by one.
    async fn refresh_batch(
        &self,
        run: &ForgeRun<Self>,
        ctx: &ImportContext,
        path: String,
        batch: Vec<(u64, String)>,
    ) -> Result<(), Error> {
        let refresher = run.refresher(self);
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
        let resp = match run.client().get(ctx, url.as_str(), true, &[]).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => {
                // The project is gone or hidden: ask for each bug (a 404 each is a deletion).
                let links = batch.into_iter().map(|(_, l)| l).collect();
                return forge::refresh_each(ctx, &refresher, links).await;
            }
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        if resp.not_modified() {
            // The same iids listed the same issues, unchanged, as last time.
            let (name, project) = (ctx.tracker_name(), self.project_name());
            for (_, link) in batch {
                ctx.emit(ParsedBug::no_update(link, name, project, ctx.now()))
                    .await?;
            }
            return Ok(());
        }
        let page = match self.page_parser(&resp, ctx.now()).run().await {
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
            if let Some(held) = take(&bug.canonical_bug_link) {
                forge::emit_refreshed(ctx, &refresher, held, bug).await?;
            }
        }
        for link in page.skipped {
            if let Some(held) = take(&link) {
                forge::emit_gone(ctx, &refresher, held, Self::HIDDEN_REASON).await?;
            }
        }
        let rest: Vec<String> = pending.into_values().collect();
        forge::refresh_each(ctx, &refresher, rest).await
    }
}

#[async_trait]
impl IssueApi for GitLab {
    type Client = TokenClient;
    type Settings = ParseSettings;
    const PARSE_ISSUE: Parse<ParseSettings, IssueItem> = parse_issue;
    const PARSE_ISSUE_LIST: Parse<ParseSettings, IssuePage> = parse_issue_list;
    const SINCE_PARAM: &'static str = "updated_after";
    const NOT_AN_ISSUE_LINK: &'static str =
        "not an issue link of this GitLab instance (…/GROUP/PROJECT/-/issues/N); cannot refresh it";

    fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let common = ForgeOptions::from_config(config)?;
        let options = GitLabOptions::from_config(config)?;
        let project = options.project(config)?;
        let settings = common
            .parse_settings(config)?
            .with_confidential(options.include_confidential);
        Ok(GitLab {
            config: config.clone(),
            common,
            options,
            project,
            settings: Arc::new(settings),
        })
    }

    fn config(&self) -> &TrackerConfig {
        &self.config
    }

    fn project_name(&self) -> &str {
        &self.settings.project_name
    }

    fn settings(&self) -> &Arc<ParseSettings> {
        &self.settings
    }

    fn client(&self, ctx: &ImportContext) -> TokenClient {
        let env = self.common.token_env(DEFAULT_TOKEN_ENV);
        let header = HeaderName::from_static(TOKEN_HEADER);
        TokenClient::new(ctx, env, header, "", &self.project.base)
    }

    fn default_queries(&self) -> Vec<String> {
        vec![self.project.default_query()]
    }

    /// Both states (GitLab's default) and no filter.
    fn lists_everything(&self, url: &str) -> bool {
        let neutral = ["per_page", "page", "order_by", "sort"];
        let states = ["state", "scope"];
        forge::lists_every_issue(url, &self.project.issues_url(), &states, false, &neutral)
    }

    fn next_page(&self, url: &str, resp: &Response, _page: &IssuePage) -> Option<String> {
        following_page(url, resp)
    }

    /// A 304 may come without paging headers: the next page they name, else the next page
    /// number (a page past the end answers `[]`, which ends the listing).
    fn next_after_not_modified(&self, url: &str, resp: &Response) -> Option<String> {
        following_page(url, resp).or_else(|| forge::next_page_number(url))
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.project.issue_api_url(link)
    }

    /// With `fetch_participants`, `people_involved` becomes the number of the issue's
    /// participants (`GET /projects/:id/issues/:iid/participants`: author, assignees,
    /// commenters...) when that is larger. A failure is reported and the bug keeps its count.
    async fn complete(
        &self,
        client: &TokenClient,
        ctx: &ImportContext,
        mut bug: ParsedBug,
    ) -> ParsedBug {
        if !self.options.fetch_participants {
            return bug;
        }
        let Some(api) = self.project.issue_api_url(&bug.canonical_bug_link) else {
            return bug;
        };
        let url = format!("{api}/participants?per_page=100");
        let counted = match client.get(ctx, &url, false, &[]).await {
            Ok(resp) => Job::of(&resp, parse_participants).run().await,
            Err(e) => Err(e),
        };
        match counted {
            Ok(n) => {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                if bug.people_involved.is_none_or(|p| p < n) {
                    bug.people_involved = Some(n);
                }
            }
            Err(e) => ctx.report_error(e),
        }
        bug
    }

    /// Held bugs are listed by iid, 100 a request (even one: the listing is conditional).
    fn one_by_one_max(&self) -> usize {
        0
    }

    /// Grouped by project (held bugs may name other projects of the instance), then listed
    /// by iid, 100 a request; links that are not issue pages of this instance are reported.
    async fn refresh_many(
        &self,
        run: &ForgeRun<Self>,
        ctx: &ImportContext,
        links: Vec<String>,
    ) -> Result<(), Error> {
        let mut by_project: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        let mut odd = Vec::new();
        for link in links {
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
        let results: Vec<Result<(), Error>> = futures::stream::iter(batches)
            .map(|(path, batch)| self.refresh_batch(run, ctx, path, batch))
            .buffer_unordered(PARALLEL_REFRESH)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), Error>>()?;
        forge::refresh_each(ctx, &run.refresher(self), odd).await
    }
}

/// The next page named by a response: `Link` rel=next (resolved against the response URL),
/// else `X-Next-Page` applied to `url`.
fn following_page(url: &str, resp: &Response) -> Option<String> {
    if let Some(next) = forge::link_next(resp) {
        return Some(next);
    }
    let n = resp
        .header("x-next-page")
        .map(str::trim)
        .filter(|v| !v.is_empty())?;
    let n: u64 = n.parse().ok()?;
    with_query_param(url, "page", &n.to_string())
}
