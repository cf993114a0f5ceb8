//! The [`GitHubImporter`]: queries, and the refresh of the bugs a host already holds.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::forge::{self, IssueRefresh, Refreshed};
use bugimporters_core::parse::Job;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use url::Url;

use crate::client::{query_param, with_param, Auth, GitHubClient, PageOutcome, Pager};
use crate::config::{issue_link_parts, GitHubApi, GitHubOptions, Repo};
use crate::parser::{parse_issue, IssueItem};

/// Imports the issues of one GitHub (or GitHub Enterprise) repository. See the crate docs and
/// `docs/trackers/github.md` for the behaviour.
#[derive(Debug)]
pub struct GitHubImporter {
    config: TrackerConfig,
    options: GitHubOptions,
    repo: Repo,
    client: OnceLock<Arc<GitHubClient>>,
    /// Set by `process_queries` when a query listed every issue of the repository (state=all,
    /// no filter) to the end with no 304 page: then every held bug it did not list is gone or
    /// moved, and `process_existing_bugs` checks those one by one without another listing.
    full_listing_done: AtomicBool,
}

impl GitHubImporter {
    /// An importer for `config`; fails (naming the key) on missing or malformed GitHub keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = GitHubOptions::from_config(config)?;
        let repo = options.repo()?;
        bugimporters_core::redact::refuse_credential_queries(config, "token_env")?;
        Ok(GitHubImporter {
            config: config.clone(),
            options,
            repo,
            client: OnceLock::new(),
            full_listing_done: AtomicBool::new(false),
        })
    }

    /// The repository and API root this importer reads.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The client, with credentials read from the environment on first use.
    fn client(&self, ctx: &ImportContext) -> Arc<GitHubClient> {
        self.client
            .get_or_init(|| {
                let auth = Auth::from_env(&self.options, &self.repo.api, |name| ctx.secret(name));
                tracing::debug!(tracker = %ctx.tracker_name(), auth = auth.kind(), "GitHub credentials");
                Arc::new(GitHubClient {
                    repo: self.repo.clone(),
                    settings: Arc::new(self.options.parse_settings(&self.config.tracker_name)),
                    auth,
                })
            })
            .clone()
    }

    /// The first URL of each query: as configured (moved onto a GitHub Enterprise root), with
    /// `since=` from the query's `last_polled` when it has one and the URL none.
    ///
    /// With no query at all, the repository's every issue (`state=all`) — unless the record
    /// carries `get_older_bug_data`: the host exports that for a tracker that holds bugs, and a
    /// host tracker without query rows asks only for the refresh of those bugs.
    pub fn query_urls(&self) -> Vec<String> {
        if self.config.queries.is_empty() {
            if self.older_bug_data().is_some() {
                return Vec::new();
            }
            return vec![self.repo.default_query()];
        }
        self.config
            .queries
            .iter()
            .map(|q| {
                let url = self.repo.rebase(q.url.trim());
                match q.last_polled {
                    Some(t) if query_param(&url, "since").is_none() => {
                        let since = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                        with_param(&url, "since", &since).unwrap_or(url)
                    }
                    _ => url,
                }
            })
            .collect()
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

    /// Whether `url` lists every issue of this repository: its issues path, `state=all`, and no
    /// filtering parameter.
    fn lists_everything(&self, url: &str) -> bool {
        let Some(u) = self.repo.parse_issue_list(url) else {
            return false;
        };
        let mut all = false;
        for (k, v) in u.query_pairs() {
            match &*k {
                "state" => all = v == "all",
                // A `page` would start the listing part-way.
                "per_page" | "sort" | "direction" => {}
                _ => return false,
            }
        }
        all
    }

    async fn run_query(
        &self,
        ctx: &ImportContext,
        gh: &GitHubClient,
        url: String,
    ) -> Result<(), Error> {
        if self.options.github_api == GitHubApi::Graphql
            && crate::graphql::covers(&self.repo, &url)
            && ctx
                .client()
                .validators(ctx.validator_scope(), &url)
                .is_none()
        {
            return crate::graphql::run_query(ctx, gh).await;
        }
        let mut pager = Pager::new(url.clone());
        let mut complete = true;
        let (mut emitted, mut pulls) = (0u64, 0usize);
        while let Some(outcome) = pager.next(gh, ctx, ctx.now()).await {
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
                PageOutcome::NotModified => complete = false,
                PageOutcome::Failed => complete = false,
            }
        }
        tracing::debug!(tracker = %ctx.tracker_name(), url = %url, emitted, pull_requests_skipped = pulls, complete, "query done");
        if complete && self.lists_everything(&url) {
            self.full_listing_done.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Reads one listing for the refresh: emits the held bugs it lists (removing them from
    /// `pending`). Returns whether every page was read and parsed (no 304, no error).
    async fn refresh_from_listing(
        &self,
        ctx: &ImportContext,
        gh: &GitHubClient,
        url: String,
        pending: &mut HashSet<String>,
    ) -> Result<bool, Error> {
        let mut pager = Pager::new(url);
        let mut complete = true;
        while let Some(outcome) = pager.next(gh, ctx, ctx.now()).await {
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

    /// The refresh of held bugs through `gh` (see [`forge::refresh_one`]).
    fn refresher<'a>(&'a self, ctx: &'a ImportContext, gh: &'a Arc<GitHubClient>) -> Refresher<'a> {
        Refresher {
            imp: self,
            gh,
            project_name: ctx.tracker_name(),
            unchanged_before: None,
        }
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

/// [`IssueRefresh`] for one GitHub importer and its client. A transferred issue (301
/// followed by the fetch layer), a renamed repository or a differently spelled held link:
/// the bug lives on under its new link, and the old record goes.
struct Refresher<'a> {
    imp: &'a GitHubImporter,
    /// Shared with the parse jobs the refresher hands out.
    gh: &'a Arc<GitHubClient>,
    /// The tracker name, which is also the project name of GitHub bugs.
    project_name: &'a str,
    /// The `since` of a complete listing that did not name the issue: one updated before it
    /// is unchanged for the host (`_no_update`).
    unchanged_before: Option<NaiveDateTime>,
}

#[async_trait]
impl IssueRefresh for Refresher<'_> {
    fn project_name(&self) -> &str {
        self.project_name
    }

    fn issue_api_url(&self, link: &str) -> Option<String> {
        self.imp.repo.issue_api_url(link)
    }

    fn not_an_issue_link(&self) -> &'static str {
        "not a GitHub issue link (…/OWNER/REPO/issues/N); cannot refresh it"
    }

    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        self.gh.get(ctx, url, true).await
    }

    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed> {
        let (gh, unchanged_before) = (Arc::clone(self.gh), self.unchanged_before);
        Job::of(resp, move |body, url| {
            Ok(match parse_issue(body, url, &gh.settings, now)? {
                IssueItem::Issue(bug) if !is_issue_of(&gh.repo, &bug.canonical_bug_link) => {
                    Refreshed::Gone(TRANSFERRED)
                }
                IssueItem::Issue(bug)
                    if unchanged_before
                        .zip(bug.last_touched)
                        .is_some_and(|(since, touched)| touched < since) =>
                {
                    Refreshed::Unchanged
                }
                IssueItem::Issue(bug) => Refreshed::Issue(bug),
                IssueItem::PullRequest { .. } => Refreshed::Gone(
                    "a pull request, not an issue (the original imported those); deleting it",
                ),
            })
        })
    }
}

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
impl Importer for GitHubImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        self.full_listing_done.store(false, Ordering::Relaxed);
        let gh = self.client(ctx);
        let runs = self
            .query_urls()
            .into_iter()
            .map(|url| self.run_query(ctx, &gh, url));
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
        let mut pending: HashSet<String> = order.iter().cloned().collect();
        let gh = self.client(ctx);

        if self.full_listing_done.load(Ordering::Relaxed) {
            // A complete listing of every issue did not name these: gone, moved or pull
            // requests. Ask for each.
            return forge::refresh_each(ctx, &self.refresher(ctx, &gh), order).await;
        }

        let Some(listing) = self.older_bug_data() else {
            return forge::refresh_each(ctx, &self.refresher(ctx, &gh), order).await;
        };

        let mut complete = self
            .refresh_from_listing(ctx, gh.as_ref(), listing.clone(), &mut pending)
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
                        .refresh_from_listing(ctx, gh.as_ref(), url, &mut pending)
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
        let checker = Refresher {
            unchanged_before: since.as_deref().and_then(parse_datetime),
            ..self.refresher(ctx, &gh)
        };
        forge::refresh_each(ctx, &checker, verify).await?;
        forge::refresh_each(ctx, &self.refresher(ctx, &gh), one_by_one).await
    }
}
