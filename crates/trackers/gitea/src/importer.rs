//! [`Gitea`]: the Gitea/Forgejo API v1 as an [`IssueApi`]; [`GiteaImporter`] is the forge
//! skeleton's importer of it.

use std::sync::Arc;

use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{
    self, ForgeImporter, ForgeOptions, IssueApi, IssueItem, IssuePage, Parse, ParseSettings,
    TokenClient,
};
use bugimporters_core::paging::{query_param, with_query_param};
use bugimporters_core::{Error, ImportContext, TrackerConfig};
use http::header::AUTHORIZATION;

use crate::config::{GiteaOptions, GiteaRepo, DEFAULT_TOKEN_ENV};
use crate::parser::{parse_issue, parse_issue_list};

/// Page size asked for when the importer chooses it (`limit=`; Gitea's default maximum,
/// `MAX_RESPONSE_ITEMS`, is 50, and larger values are cut to it).
pub const PAGE_LIMIT: u32 = 50;

/// Imports the issues of one Gitea or Forgejo repository. See the crate docs and
/// `docs/trackers/gitea.md`.
pub type GiteaImporter = ForgeImporter<Gitea>;

/// One Gitea or Forgejo repository's issue API.
#[derive(Debug)]
pub struct Gitea {
    config: TrackerConfig,
    common: ForgeOptions,
    repo: GiteaRepo,
    settings: Arc<ParseSettings>,
}

impl Gitea {
    /// The instance and repository read.
    pub fn repo(&self) -> &GiteaRepo {
        &self.repo
    }
}

impl IssueApi for Gitea {
    type Client = TokenClient;
    type Settings = ParseSettings;
    const PARSE_ISSUE: Parse<ParseSettings, IssueItem> = parse_issue;
    const PARSE_ISSUE_LIST: Parse<ParseSettings, IssuePage> = parse_issue_list;
    const SINCE_PARAM: &'static str = "since";
    const NOT_AN_ISSUE_LINK: &'static str =
        "not an issue link of this instance (…/OWNER/REPO/issues/N); cannot refresh it";

    fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let common = ForgeOptions::from_config(config)?;
        let repo = GiteaOptions::from_config(config)?.repo(config)?;
        Ok(Gitea {
            config: config.clone(),
            settings: Arc::new(common.parse_settings(config)?),
            common,
            repo,
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
        TokenClient::new(ctx, env, AUTHORIZATION, "token ", &self.repo.base)
    }

    /// With `type=issues` when the URL names no `type` (pull requests are not bugs).
    fn query_url(&self, configured: &str) -> String {
        let url = configured.trim().to_owned();
        if query_param(&url, "type").is_some() {
            return url;
        }
        with_query_param(&url, "type", "issues").unwrap_or(url)
    }

    fn default_queries(&self) -> Vec<String> {
        vec![self.repo.default_query()]
    }

    fn lists_everything(&self, url: &str) -> bool {
        let neutral = ["type=issues", "limit", "page"];
        forge::lists_every_issue(url, &self.repo.issues_url(), &["state"], true, &neutral)
    }

    /// The `Link: <...>; rel="next"` target, else (an instance or proxy that drops `Link`)
    /// the next `page=` number while `X-Total-Count` says more remain.
    fn next_page(&self, url: &str, resp: &Response, page: &IssuePage) -> Option<String> {
        forge::link_next(resp).or_else(|| counted_next_page(url, resp, page.items))
    }

    /// A 304 may come without paging headers: the `Link` target, else the next page number
    /// (a page past the end answers `[]`, which ends the listing).
    fn next_after_not_modified(&self, url: &str, resp: &Response) -> Option<String> {
        forge::link_next(resp).or_else(|| forge::next_page_number(url))
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.repo.issue_api_url(link)
    }

    fn one_by_one_max(&self) -> usize {
        PAGE_LIMIT as usize
    }

    /// Owner and repository compared case-insensitively (as Gitea does).
    fn own_issue_number(&self, link: &str) -> Option<u64> {
        let (o, r, n) = self.repo.issue_of_link(link)?;
        (o.eq_ignore_ascii_case(&self.repo.owner) && r.eq_ignore_ascii_case(&self.repo.name))
            .then_some(n)
    }

    fn every_issue_url(&self) -> Option<String> {
        Some(self.repo.default_query())
    }
}

/// The next page number when `X-Total-Count` is more than the pages so far hold.
fn counted_next_page(url: &str, resp: &Response, items: usize) -> Option<String> {
    let total: u64 = resp.header("x-total-count")?.trim().parse().ok()?;
    let page: u64 = query_param(url, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let limit: u64 = query_param(url, "limit")
        .and_then(|p| p.parse().ok())
        .unwrap_or(items as u64);
    if items == 0 || page.saturating_mul(limit) >= total {
        return None;
    }
    with_query_param(url, "page", &(page + 1).to_string())
}
