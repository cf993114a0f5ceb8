//! [`Pagure`]: the Pagure API 0 as an [`IssueApi`]; [`PagureImporter`] is the forge
//! skeleton's importer of it.

use std::sync::Arc;

use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{
    self, ForgeImporter, ForgeOptions, IssueApi, IssueItem, IssuePage, Parse, ParseSettings,
    Refreshed, TokenClient,
};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext, TrackerConfig};
use chrono::NaiveDateTime;
use http::header::AUTHORIZATION;

use crate::config::{PagureOptions, PagureProject, DEFAULT_TOKEN_ENV};
use crate::parser::{parse_issue, parse_issue_list};

/// Page size asked for when the importer chooses it (`per_page=`; Pagure's maximum).
pub const PER_PAGE: u32 = 100;

/// Imports the issues of one Pagure project. See the crate docs and `docs/trackers/pagure.md`.
pub type PagureImporter = ForgeImporter<Pagure>;

/// One Pagure project's issue API.
#[derive(Debug)]
pub struct Pagure {
    config: TrackerConfig,
    common: ForgeOptions,
    project: PagureProject,
    settings: Arc<ParseSettings>,
}

impl Pagure {
    /// The instance and project read.
    pub fn project(&self) -> &PagureProject {
        &self.project
    }
}

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

impl IssueApi for Pagure {
    type Client = TokenClient;
    type Settings = ParseSettings;
    const PARSE_ISSUE: Parse<ParseSettings, IssueItem> = parse_issue;
    const PARSE_ISSUE_LIST: Parse<ParseSettings, IssuePage> = parse_issue_list;
    const SINCE_PARAM: &'static str = "since";
    const NOT_AN_ISSUE_LINK: &'static str =
        "not an issue link of this instance (…/[NAMESPACE/]REPO/issue/N); cannot refresh it";
    /// A private issue must not stay on a public site.
    const HIDDEN_REASON: &'static str = "now private; deleting it";

    fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let common = ForgeOptions::from_config(config)?;
        let options = PagureOptions::from_config(config)?;
        let project = options.project(config)?;
        let settings = common
            .parse_settings(config)?
            .with_confidential(options.include_confidential)
            .with_web_root(project.web_root());
        Ok(Pagure {
            config: config.clone(),
            common,
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
        TokenClient::new(ctx, env, AUTHORIZATION, "token ", &self.project.base)
    }

    /// A Unix timestamp.
    fn since_value(&self, t: NaiveDateTime) -> String {
        t.and_utc().timestamp().to_string()
    }

    fn default_queries(&self) -> Vec<String> {
        vec![self.project.default_query()]
    }

    fn lists_everything(&self, url: &str) -> bool {
        let neutral = ["per_page", "page", "order", "order_key"];
        forge::lists_every_issue(url, &self.project.issues_url(), &["status"], true, &neutral)
    }

    /// The body's `pagination.next` URL, resolved against the response URL (Pagure before 5.0
    /// sends every issue at once and no `pagination`).
    fn next_page(&self, _url: &str, resp: &Response, page: &IssuePage) -> Option<String> {
        page.next
            .as_deref()
            .and_then(|n| resp.url.join(n).ok())
            .map(String::from)
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.project.issue_api_url(link)
    }

    /// A 403 may be Pagure's own `EISSUENOTALLOWED` (see [`Pagure::issue_parser`]).
    fn refresh_accepts(&self) -> &'static [u16] {
        &[403]
    }

    /// A 403 is a deletion only when its body is Pagure's own `EISSUENOTALLOWED` (a private
    /// issue) and private issues are not wanted; any other 403 (a bot wall, a proxy, a token
    /// that lost access) is an error that deletes nothing.
    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let (settings, status) = (Arc::clone(&self.settings), resp.status);
        Job::of(resp, move |body, url| {
            if status == 403 {
                if is_not_allowed(body) && !settings.include_confidential {
                    return Ok(Refreshed::Gone(Self::HIDDEN_REASON));
                }
                return Err(Error::status_error(url, 403));
            }
            Ok(forge::refreshed::<Self>(parse_issue(
                body, url, &settings, now,
            )?))
        })
    }

    fn one_by_one_max(&self) -> usize {
        PER_PAGE as usize
    }

    fn own_issue_number(&self, link: &str) -> Option<u64> {
        let (path, id) = self.project.issue_of_link(link)?;
        (path == self.project.path).then_some(id)
    }

    fn every_issue_url(&self) -> Option<String> {
        Some(self.project.default_query())
    }
}
