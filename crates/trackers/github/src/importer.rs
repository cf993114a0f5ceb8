//! [`GitHub`]: the GitHub REST API v3 as an [`IssueApi`]; [`GitHubImporter`] is the forge
//! skeleton's importer of it.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{
    self, ForgeImporter, ForgeRun, IssueApi, IssueItem, IssuePage, PageOutcome, Parse, Refreshed,
};
use bugimporters_core::parse::Job;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{Error, ImportContext, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use futures::stream::{BoxStream, StreamExt};
use url::Url;

use crate::client::{query_param, with_param, Auth, GitHubClient, Pager};
use crate::config::{issue_link_parts, GitHubApi, GitHubOptions, Repo};
use crate::parser::{parse_issue, parse_issue_list, ParseSettings};

/// Imports the issues of one GitHub (or GitHub Enterprise) repository. See the crate docs and
/// `docs/trackers/github.md` for the behaviour.
pub type GitHubImporter = ForgeImporter<GitHub>;

/// One GitHub repository's issue API.
#[derive(Debug)]
pub struct GitHub {
    config: TrackerConfig,
    options: GitHubOptions,
    repo: Repo,
    settings: Arc<ParseSettings>,
}

impl GitHub {
    /// The repository and API root read.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// `get_older_bug_data` when set and not blank, moved onto a GitHub Enterprise root.
    fn older_bug_data(&self) -> Option<String> {
        self.config
            .get_older_bug_data
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| self.repo.rebase(u))
    }

    /// Reads one listing for the refresh: emits the held bugs it lists (removing them from
    /// `pending`). Returns whether every page was read and parsed (no 304, no error).
    async fn refresh_from_listing(
        &self,
        run: &ForgeRun<Self>,
        ctx: &ImportContext,
        url: String,
        pending: &mut HashSet<String>,
    ) -> Result<bool, Error> {
        // The listing itself (never the probe: a 304 would tell nothing of the held bugs).
        let mut pages = rest_pages(run.client(), ctx, url);
        let mut complete = true;
        while let Some(outcome) = pages.next().await {
            match outcome {
                PageOutcome::Page(page) => {
                    for e in page.errors {
                        complete = false;
                        ctx.report_error(e);
                    }
                    for bug in page.bugs {
                        if pending.remove(&bug.canonical_bug_link) {
                            ctx.emit(bug).await?;
                        }
                    }
                }
                PageOutcome::NotModified | PageOutcome::Failed => complete = false,
            }
            if pending.is_empty() {
                // Every held bug is refreshed; the rest of the listing cannot matter.
                break;
            }
        }
        Ok(complete)
    }
}

/// Whether `link` is an issue page of `repo` (owner and name compared case-insensitively, as
/// GitHub does).
fn is_issue_of(repo: &Repo, link: &str) -> bool {
    issue_link_parts(link).is_some_and(|(o, r, _, _)| {
        o.eq_ignore_ascii_case(&repo.owner) && r.eq_ignore_ascii_case(&repo.name)
    })
}

/// Days between two checks of a held issue that complete `since=` listings keep vouching
/// for: such a listing never names a deleted or transferred issue, so each held issue it
/// does not name is still asked for alone (conditionally) once in this many days — issue
/// `N` on the days `D` (since 1970-01-01, UTC) with `N % 7 == D % 7`.
pub const VERIFY_EVERY_DAYS: u64 = 7;

/// Whether the held `link` is due for its check (see [`VERIFY_EVERY_DAYS`]) at `now`.
fn due_for_check(link: &str, now: NaiveDateTime) -> bool {
    let day = now.and_utc().timestamp().div_euclid(86_400).unsigned_abs();
    issue_link_parts(link)
        .is_none_or(|(_, _, _, n)| n % VERIFY_EVERY_DAYS == day % VERIFY_EVERY_DAYS)
}

/// Why a held issue now answered from another repository (a 301 after a transfer) is
/// deleted: it is no longer an issue of this tracker.
const TRANSFERRED: &str = "transferred to another repository; gone from this tracker";

/// Whether `link` is the page of an issue of the repository `listing` lists
/// (`{api}/repos/{owner}/{repo}/issues?...`).
fn listed_by(listing: &str, link: &str) -> bool {
    let Ok(u) = Url::parse(listing) else {
        return false;
    };
    let segs: Vec<&str> = u
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let [.., "repos", owner, repo, "issues"] = segs.as_slice() else {
        return false;
    };
    match issue_link_parts(link) {
        Some((o, r, kind, _)) => {
            kind == "issues" && o.eq_ignore_ascii_case(owner) && r.eq_ignore_ascii_case(repo)
        }
        None => false,
    }
}

#[async_trait]
impl IssueApi for GitHub {
    type Client = GitHubClient;
    type Settings = ParseSettings;
    const PARSE_ISSUE: Parse<ParseSettings, IssueItem> = parse_issue;
    const PARSE_ISSUE_LIST: Parse<ParseSettings, IssuePage> = parse_issue_list;
    const SINCE_PARAM: &'static str = "since";
    const NOT_AN_ISSUE_LINK: &'static str =
        "not a GitHub issue link (…/OWNER/REPO/issues/N); cannot refresh it";
    const PULL_REQUEST_REASON: &'static str =
        "a pull request, not an issue (the original imported those); deleting it";

    fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        let options = GitHubOptions::from_config(config)?;
        let repo = options.repo()?;
        bugimporters_core::redact::refuse_credential_queries(config, "token_env")?;
        Ok(GitHub {
            settings: Arc::new(GitHubOptions::parse_settings(config)?),
            config: config.clone(),
            options,
            repo,
        })
    }

    fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The tracker name, which is also the project name of GitHub bugs.
    fn project_name(&self) -> &str {
        &self.config.tracker_name
    }

    fn settings(&self) -> &Arc<ParseSettings> {
        &self.settings
    }

    /// Credentials read through the run's secrets; the token pool is shared by the trackers
    /// of the process that use the same tokens on the same API.
    fn client(&self, ctx: &ImportContext) -> GitHubClient {
        let auth = Auth::from_env(&self.options, &self.repo.api, |name| ctx.secret(name));
        tracing::debug!(tracker = %ctx.tracker_name(), auth = auth.kind(), "GitHub credentials");
        GitHubClient {
            repo: self.repo.clone(),
            settings: Arc::clone(&self.settings),
            auth,
        }
    }

    /// Moved onto a GitHub Enterprise root.
    fn query_url(&self, configured: &str) -> String {
        self.repo.rebase(configured.trim())
    }

    /// The repository's every issue (`state=all`) — unless the record carries
    /// `get_older_bug_data`: the host exports that for a tracker that holds bugs, and a host
    /// tracker without query rows asks only for the refresh of those bugs.
    fn default_queries(&self) -> Vec<String> {
        if self.older_bug_data().is_some() {
            return Vec::new();
        }
        vec![self.repo.default_query()]
    }

    /// Every page is a conditional request (a 304 costs no rate limit).
    fn conditional_listing(&self, _url: &str) -> bool {
        true
    }

    /// `state=all` and no filter; a `page` would start the listing part-way.
    fn lists_everything(&self, url: &str) -> bool {
        let neutral = ["per_page", "sort", "direction"];
        forge::lists_every_issue(url, &self.repo.issues_url(), &["state"], true, &neutral)
    }

    fn next_page(&self, _url: &str, resp: &Response, _page: &IssuePage) -> Option<String> {
        forge::link_next(resp)
    }

    /// GitHub's own pager: every page conditional, pages fetched in parallel once the
    /// last is known, and a restart at 100 per page; with `github_api: graphql`, the GraphQL
    /// batcher for the open-issue listings it covers.
    fn pages<'a>(
        &'a self,
        client: &'a GitHubClient,
        ctx: &'a ImportContext,
        first: String,
        _conditional: bool,
    ) -> BoxStream<'a, PageOutcome<IssuePage>> {
        // `github_api: graphql`: an open-issue listing not yet seen (no stored validators: a
        // REST refresh's 304s are free, a GraphQL answer never is) goes through the batcher.
        if self.options.github_api == GitHubApi::Graphql
            && crate::graphql::covers(&self.repo, &first)
            && ctx
                .client()
                .validators(ctx.validator_scope(), &first)
                .is_none()
        {
            return crate::graphql::pages(ctx, client);
        }
        // A `since=` query: its stable, sorted stand-in, conditional (see `probe`).
        if let Some(probe) = crate::probe::Probe::of(&first) {
            return probe.pages(client, ctx, first);
        }
        rest_pages(client, ctx, first)
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.repo.issue_api_url(link)
    }

    /// A transferred issue (301 followed by the fetch layer), a renamed repository or a
    /// differently spelled held link: the bug lives on under its new link, and the old record
    /// goes.
    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let (settings, repo) = (Arc::clone(&self.settings), self.repo.clone());
        Job::of(resp, move |body, url| {
            Ok(match parse_issue(body, url, &settings, now)? {
                IssueItem::Issue(bug) if !is_issue_of(&repo, &bug.canonical_bug_link) => {
                    Refreshed::Gone(TRANSFERRED)
                }
                other => forge::refreshed::<Self>(other),
            })
        })
    }

    /// Held bugs go to [`GitHub::refresh_many`] (the host's `get_older_bug_data` listing).
    fn one_by_one_max(&self) -> usize {
        0
    }

    /// Refreshed from the `get_older_bug_data` listing (both states); those it does not name
    /// become `_no_update` when a complete `since=` listing proves them unchanged (and are
    /// checked once a week), else are asked for one by one.
    async fn refresh_many(
        &self,
        run: &ForgeRun<Self>,
        ctx: &ImportContext,
        order: Vec<String>,
    ) -> Result<(), Error> {
        let Some(listing) = self.older_bug_data() else {
            return forge::refresh_each(ctx, &run.refresher(self), order).await;
        };
        let mut pending: HashSet<String> = order.iter().cloned().collect();
        let mut complete = self
            .refresh_from_listing(run, ctx, listing.clone(), &mut pending)
            .await?;
        // The host's listing has no `state`, so it names open issues only (the original
        // never refreshed closed ones). Read the other state too, only if still needed.
        let state = query_param(&listing, "state");
        let other = match state.as_deref() {
            None | Some("") | Some("open") => Some("closed"),
            Some("closed") => Some("open"),
            _ => None,
        };
        let mut states_covered = state.as_deref() == Some("all");
        if let Some(other) = other {
            if complete && !pending.is_empty() {
                if let Some(url) = with_param(&listing, "state", other) {
                    complete = self
                        .refresh_from_listing(run, ctx, url, &mut pending)
                        .await?;
                    states_covered = true;
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let since = query_param(&listing, "since").filter(|s| !s.is_empty());
        let name = ctx.tracker_name();
        let (mut one_by_one, mut verify) = (Vec::new(), Vec::new());
        for link in order.into_iter().filter(|l| pending.contains(l)) {
            // A complete `since=T` listing of every state (T = the oldest last_polled of the
            // held bugs, as the host computes it) names every issue changed since its last
            // poll; an issue of that repository it does not name is unchanged — or deleted or
            // transferred, which no listing shows: each is checked once a week.
            if complete && states_covered && since.is_some() && listed_by(&listing, &link) {
                if due_for_check(&link, ctx.now()) {
                    verify.push(link);
                } else {
                    ctx.emit(ParsedBug::no_update(link.as_str(), name, name, ctx.now()))
                        .await?;
                }
            } else {
                one_by_one.push(link);
            }
        }
        let mut checker = run.refresher(self);
        checker.unchanged_before = since.as_deref().and_then(parse_datetime);
        forge::refresh_each(ctx, &checker, verify).await?;
        forge::refresh_each(ctx, &run.refresher(self), one_by_one).await
    }
}

/// A REST listing walked by GitHub's [`Pager`] from `first`.
pub(crate) fn rest_pages<'a>(
    client: &'a GitHubClient,
    ctx: &'a ImportContext,
    first: String,
) -> BoxStream<'a, PageOutcome<IssuePage>> {
    futures::stream::unfold(Pager::new(first), move |mut pager| async move {
        let outcome = pager.next(client, ctx, ctx.now()).await?;
        Some((outcome, pager))
    })
    .boxed()
}
