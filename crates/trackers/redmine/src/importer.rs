//! The [`RedmineImporter`]: queries, and the refresh of the bugs a host already holds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::parse::Job;
use bugimporters_core::{classify, Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::{NaiveDateTime, Timelike};
use futures::StreamExt;
use url::Url;

use crate::client::{
    default_listing, ids_count, ids_listing, ids_listing_since, issue_url, listing_url, page_url,
    since_of, statuses_url, RedmineClient, PAGE_SIZE, REFRESH_CHUNK,
};
use crate::config::{RedmineOptions, Rule};
use crate::parser::{
    canonical_link, issue_id_from_link, parse_issue, parse_issue_list, parse_statuses, IssuePage,
    ParseSettings, RedmineIssue, StatusMap,
};

/// Pages of one listing fetched at the same time once `total_count` is known (the context
/// still bounds requests in flight by `max_connections`).
const PARALLEL_PAGES: usize = 8;
/// Single-issue requests at the same time (journals, deletion checks).
const PARALLEL_ISSUES: usize = 16;
/// Most pages read from a listing that reports no `total_count`.
const MAX_BLIND_PAGES: u64 = 10_000;

/// Imports the issues of one Redmine. See the crate docs and `docs/trackers/redmine.md`.
#[derive(Debug)]
pub struct RedmineImporter {
    config: TrackerConfig,
    options: RedmineOptions,
    base: Url,
    settings: ParseSettings,
}

/// The settings of one run, with the status list (fetched once per run, kept by the run's
/// context).
#[derive(Debug, Default)]
struct RunSettings(tokio::sync::OnceCell<Arc<ParseSettings>>);

/// How one listing went.
#[derive(Debug, Default)]
struct ListingOutcome {
    /// Every page was read and parsed.
    complete: bool,
    /// `total_count` changed while paging (issues created or deleted meanwhile).
    changed: bool,
}

impl RedmineImporter {
    /// An importer for `config`; fails (naming the key) on a missing `base_url`, malformed
    /// Redmine keys, rules or project-name format.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = RedmineOptions::from_config(config)?;
        let settings = settings_from_config(config)?;
        let base = settings.base.clone();
        for q in &config.queries {
            scope_category(&listing_url(&q.url, None)?, options.project.as_deref())?;
        }
        Ok(RedmineImporter {
            config: config.clone(),
            options,
            base,
            settings,
        })
    }

    /// The parse settings of this record (rules, names), without a status list: what the
    /// `parse` command uses.
    pub fn settings_for_parse(&self) -> ParseSettings {
        self.settings.clone()
    }

    /// The tracker root (`base_url` with a trailing `/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The first-page URLs of this run's listings: each query as [`listing_url`] makes it,
    /// with `updated_on>=` from its `last_polled`; with no query, every issue of `project`
    /// (or the saved query `query_id`), incremental from `get_older_bug_data`'s `updated_on`
    /// when the record carries one.
    pub fn query_urls(&self) -> Result<Vec<String>, Error> {
        if self.config.queries.is_empty() {
            return Ok(vec![default_listing(
                &self.base,
                self.options.project.as_deref(),
                self.options.query_id.as_deref(),
                self.older_since(),
            )?]);
        }
        self.config
            .queries
            .iter()
            .map(|q| {
                let url = listing_url(&q.url, q.last_polled)?;
                scope_category(&url, self.options.project.as_deref())
            })
            .collect()
    }

    /// `updated_on>=T` of `get_older_bug_data`, when the record carries such a listing.
    fn older_since(&self) -> Option<NaiveDateTime> {
        self.config.get_older_bug_data.as_deref().and_then(since_of)
    }

    /// The time before which a held issue's data is known to be current in the host (see
    /// `docs/trackers/redmine.md`, "Refresh"): `updated_on>=T` of `get_older_bug_data`, else
    /// the oldest `last_polled` of the queries when every query has one.
    pub fn refresh_watermark(&self) -> Option<NaiveDateTime> {
        let t = match self.older_since() {
            Some(t) => t,
            None if self.config.queries.is_empty() => return None,
            None => self
                .config
                .queries
                .iter()
                .map(|q| q.last_polled)
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .min()?,
        };
        // Redmine keeps whole seconds: an update at 12:00:05.7 reads 12:00:05, which must not
        // count as older than a watermark of 12:00:05.5.
        t.with_nanosecond(0)
    }

    fn client(&self, ctx: &ImportContext) -> RedmineClient {
        let key = ctx.secret(self.options.api_key_env());
        RedmineClient::new(self.base.clone(), key)
    }

    /// The run's settings with the status list, fetched on first use. A status list that
    /// cannot be read (an old Redmine, a proxy) is no error but a warning in the run report:
    /// `looks_closed` then comes from the issue's own `is_closed` or from
    /// [`crate::parser::fallback_closed`].
    async fn run_settings(&self, ctx: &ImportContext, rc: &RedmineClient) -> Arc<ParseSettings> {
        let slot = ctx.run_value(RunSettings::default);
        slot.0
            .get_or_init(|| self.fetch_run_settings(ctx, rc))
            .await
            .clone()
    }

    async fn fetch_run_settings(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
    ) -> Arc<ParseSettings> {
        let url = statuses_url(&self.base);
        let statuses = match rc.get(ctx, &url).await {
            Ok(resp) => {
                Job::new(url.as_str(), resp.body, parse_statuses)
                    .run()
                    .await
            }
            Err(e) => Err(e),
        };
        let statuses = match statuses {
            Ok(statuses) => statuses,
            Err(e) => {
                ctx.report_warning(format!(
                    "{url}: the status list cannot be read ({}); looks_closed of issues that do \
                     not say is_closed comes from the fallback (Redmine's default status names, \
                     else closed_on set and not older than updated_on)",
                    e.inner()
                ));
                StatusMap::new()
            }
        };
        let mut settings = self.settings.clone();
        settings.statuses = statuses;
        Arc::new(settings)
    }

    async fn fetch_page(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        url: String,
    ) -> Result<IssuePage, Error> {
        let resp = rc.get(ctx, &url).await?;
        let (settings, now) = (Arc::clone(settings), ctx.now());
        Job::of(&resp, move |body, url| {
            parse_issue_list(body, url, &settings, now)
        })
        .run()
        .await
    }

    /// Emits an issue from a listing (claimed by the caller): as listed, or re-read with
    /// journals and watchers when `people_from_journals` is on.
    async fn emit_issue(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        issue: RedmineIssue,
    ) -> Result<(), Error> {
        if !self.options.people_from_journals {
            return ctx.emit(issue.bug).await;
        }
        let url = issue_url(&self.base, issue.id, true);
        let detailed = match rc.get(ctx, &url).await {
            Ok(resp) => issue_job(&resp, settings, ctx.now()).run().await,
            Err(e) => Err(e),
        };
        match detailed {
            Ok(d) => ctx.emit(d.bug).await,
            Err(e) if e.is_not_found() => {
                tracing::info!(tracker = %ctx.tracker_name(), id = issue.id, "issue deleted while crawling");
                Ok(())
            }
            Err(e) => {
                // The listing's data is still right; only people_involved is short.
                ctx.report_error(e);
                ctx.emit(issue.bug).await
            }
        }
    }

    /// Emits the issues of a listing page that no earlier page or query emitted.
    async fn emit_page(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        page: IssuePage,
    ) -> Result<bool, Error> {
        let ok = page.errors.is_empty();
        for e in page.errors {
            ctx.report_error(e);
        }
        let include_private = self.options.include_private;
        let fresh: Vec<RedmineIssue> = page
            .issues
            .into_iter()
            // A private issue is not claimed: if the host holds it, the refresh deletes it.
            .filter(|i| include_private || !i.is_private)
            .filter(|i| ctx.claim(&i.bug.canonical_bug_link))
            .collect();
        let results: Vec<Result<(), Error>> = futures::stream::iter(fresh)
            .map(|i| self.emit_issue(ctx, rc, settings, i))
            .buffer_unordered(PARALLEL_ISSUES)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), Error>>()?;
        Ok(ok)
    }

    /// Reads one listing to its end: the first page, then (once `total_count` is known) the
    /// other pages concurrently. A first page that fails fails the listing; a later page
    /// that fails is reported and the listing goes on.
    async fn read_listing(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        first_url: &str,
    ) -> Result<ListingOutcome, Error> {
        let first = self
            .fetch_page(ctx, rc, settings, first_url.to_owned())
            .await?;
        let total = first.total_count;
        let stride = first
            .limit
            .filter(|l| *l > 0)
            .unwrap_or(PAGE_SIZE)
            .min(PAGE_SIZE);
        let first_len = first.issues.len() as u64 + first.errors.len() as u64;
        let mut outcome = ListingOutcome {
            complete: self.emit_page(ctx, rc, settings, first).await?,
            changed: false,
        };
        let Some(total) = total else {
            // No total_count (not quite Redmine): page on until a short page.
            let mut offset = stride;
            let mut len = first_len;
            let mut pages = 1;
            while len >= stride && pages < MAX_BLIND_PAGES {
                let page = match self
                    .fetch_page(ctx, rc, settings, page_url(first_url, offset))
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        ctx.report_error(e);
                        outcome.complete = false;
                        break;
                    }
                };
                len = page.issues.len() as u64 + page.errors.len() as u64;
                outcome.complete &= self.emit_page(ctx, rc, settings, page).await?;
                offset += stride;
                pages += 1;
            }
            return Ok(outcome);
        };
        let offsets: Vec<u64> = (1..)
            .map(|k| k * stride)
            .take_while(|o| *o < total)
            .collect();
        // Each page is fetched *and* emitted inside its own future, so that every future
        // holding a connection permit keeps being polled: emitting in the loop below while
        // other page fetches sat un-polled on their permits would starve the per-issue
        // requests of `people_from_journals` (a deadlock once all permits are held).
        let mut pages = futures::stream::iter(offsets)
            .map(|offset| async move {
                let url = page_url(first_url, offset);
                match self.fetch_page(ctx, rc, settings, url).await {
                    Ok(page) => {
                        let changed = page.total_count.is_some_and(|t| t != total);
                        let ok = self.emit_page(ctx, rc, settings, page).await?;
                        Ok::<_, Error>((ok, changed))
                    }
                    Err(e) => {
                        ctx.report_error(e);
                        Ok((false, false))
                    }
                }
            })
            .buffer_unordered(PARALLEL_PAGES);
        while let Some(result) = pages.next().await {
            let (ok, changed) = result?;
            outcome.complete &= ok;
            outcome.changed |= changed;
        }
        Ok(outcome)
    }

    async fn run_query(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        url: String,
    ) -> Result<(), Error> {
        let outcome = self.read_listing(ctx, rc, settings, &url).await?;
        if outcome.changed {
            // Issues were created or deleted while the pages were read, so offsets moved and
            // an issue may have slipped between two pages. Read again; claims skip the
            // issues already emitted.
            tracing::info!(tracker = %ctx.tracker_name(), url = %url, "the listing changed while paging; reading it again");
            self.read_listing(ctx, rc, settings, &url).await?;
        }
        tracing::debug!(tracker = %ctx.tracker_name(), url = %url, complete = outcome.complete, "query done");
        Ok(())
    }

    /// Emits the refreshed record of a held issue: `_no_update` when it has not changed since
    /// the [`RedmineImporter::refresh_watermark`], else the full record (re-read with
    /// journals when configured, unless `detailed`: asked for with them already). A held
    /// link spelled differently from the canonical one is replaced by it.
    async fn emit_refreshed(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        held: &str,
        issue: RedmineIssue,
        detailed: bool,
    ) -> Result<(), Error> {
        let watermark = self.refresh_watermark();
        let name = ctx.tracker_name();
        let emit = |issue: RedmineIssue| async move {
            if detailed {
                ctx.emit(issue.bug).await
            } else {
                self.emit_issue(ctx, rc, settings, issue).await
            }
        };
        if issue.is_private && !self.options.include_private {
            tracing::info!(tracker = %name, url = %held, "issue is private now; deleting it from the host");
            return ctx
                .emit(ParsedBug::deleted(held, name, name, ctx.now()))
                .await;
        }
        let unchanged = matches!((watermark, issue.updated_on), (Some(w), Some(u)) if u < w);
        if held == issue.bug.canonical_bug_link {
            if unchanged {
                return ctx
                    .emit(ParsedBug::no_update(held, name, name, ctx.now()))
                    .await;
            }
            return emit(issue).await;
        }
        tracing::info!(tracker = %name, from = %held, to = %issue.bug.canonical_bug_link, "held link is not the canonical one; replacing it");
        if ctx.claim(&issue.bug.canonical_bug_link) {
            emit(issue).await?;
        }
        ctx.emit(ParsedBug::deleted(held, name, name, ctx.now()))
            .await
    }

    /// The cheap refresh of a chunk when a watermark is known: one listing of the held
    /// issues updated since it, and one `limit=1` listing of them all whose `total_count`
    /// proves that none is gone. Returns `false` (nothing emitted) when that proof fails
    /// (an issue was deleted or hidden, or the server ignores `issue_id`), so that the
    /// caller reads the full chunk.
    async fn refresh_chunk_since(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        chunk: &[(u64, String)],
        ids: &[u64],
        watermark: NaiveDateTime,
    ) -> Result<bool, Error> {
        let changed_url = ids_listing_since(&self.base, ids, watermark);
        let count_url = ids_count(&self.base, ids);
        let (changed, count) = futures::future::join(
            self.fetch_page(ctx, rc, settings, changed_url),
            self.fetch_page(ctx, rc, settings, count_url),
        )
        .await;
        let (changed, count) = match (changed, count) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                ctx.report_error(e);
                return Ok(true);
            }
        };
        let all_there = count.total_count == Some(ids.len() as u64);
        let changed_fits = changed.total_count.is_some_and(|t| t <= ids.len() as u64);
        if !all_there || !changed_fits || !changed.errors.is_empty() {
            return Ok(false);
        }
        let name = ctx.tracker_name();
        let mut by_id: HashMap<u64, RedmineIssue> = changed
            .issues
            .into_iter()
            .filter(|i| ids.binary_search(&i.id).is_ok())
            .map(|i| (i.id, i))
            .collect();
        for (id, held) in chunk {
            match by_id.remove(id) {
                Some(issue) => {
                    self.emit_refreshed(ctx, rc, settings, held, issue, false)
                        .await?
                }
                None => {
                    ctx.emit(ParsedBug::no_update(held.as_str(), name, name, ctx.now()))
                        .await?
                }
            }
        }
        Ok(true)
    }

    /// Refreshes one chunk of held issues. With a watermark, cheaply (see
    /// [`Self::refresh_chunk_since`]); else, or when that cannot prove that no issue is gone,
    /// with one `issue_id=` listing of every status, and the issues it does not name are
    /// asked for one by one (404 → `_deleted`).
    async fn refresh_chunk(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        chunk: Vec<(u64, String)>,
        watermark: Option<NaiveDateTime>,
    ) -> Result<(), Error> {
        let mut ids: Vec<u64> = chunk
            .iter()
            .map(|(id, _)| *id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        ids.sort_unstable();
        let all_canonical = chunk
            .iter()
            .all(|(id, held)| *held == canonical_link(&self.base, *id));
        if let (Some(w), true) = (watermark, all_canonical) {
            if self
                .refresh_chunk_since(ctx, rc, settings, &chunk, &ids, w)
                .await?
            {
                return Ok(());
            }
        }
        let url = ids_listing(&self.base, &ids);
        let page = match self.fetch_page(ctx, rc, settings, url).await {
            Ok(p) => p,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        for e in page.errors {
            ctx.report_error(e);
        }
        let mut by_id: HashMap<u64, RedmineIssue> = HashMap::new();
        for issue in page.issues {
            // A server that ignores the filter lists other issues: keep only those asked for.
            if ids.binary_search(&issue.id).is_ok() {
                by_id.insert(issue.id, issue);
            }
        }
        let mut missing = Vec::new();
        for (id, held) in chunk {
            match by_id.get(&id) {
                Some(issue) => {
                    self.emit_refreshed(ctx, rc, settings, &held, issue.clone(), false)
                        .await?
                }
                None => missing.push((id, held)),
            }
        }
        let results: Vec<Result<(), Error>> = futures::stream::iter(missing)
            .map(|(id, held)| self.refresh_one(ctx, rc, settings, id, held))
            .buffer_unordered(PARALLEL_ISSUES)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Asks for one held issue that a listing of every status did not name: `404` → the
    /// issue is gone (`_deleted`); `403` (made private, or the key lost access) is reported.
    async fn refresh_one(
        &self,
        ctx: &ImportContext,
        rc: &RedmineClient,
        settings: &Arc<ParseSettings>,
        id: u64,
        held: String,
    ) -> Result<(), Error> {
        let name = ctx.tracker_name();
        let url = issue_url(&self.base, id, self.options.people_from_journals);
        match rc.get(ctx, &url).await {
            Ok(resp) => match issue_job(&resp, settings, ctx.now()).run().await {
                // Asked for with its people already (`people_from_journals`): emitted as is.
                Ok(issue) => {
                    self.emit_refreshed(ctx, rc, settings, &held, issue, true)
                        .await
                }
                Err(e) => {
                    ctx.report_error(e);
                    Ok(())
                }
            },
            Err(e) if e.is_not_found() => {
                ctx.emit(ParsedBug::deleted(held.as_str(), name, name, ctx.now()))
                    .await
            }
            Err(e) => {
                ctx.report_error(e);
                Ok(())
            }
        }
    }
}

/// Redmine ignores `category_id` unless the listing is scoped to a project (and then lists
/// every issue, silently): a listing with `category_id` and no project gets `project_id` from
/// the `project` key, and without one it is a configuration error.
fn scope_category(url: &str, project: Option<&str>) -> Result<String, Error> {
    let parsed = Url::parse(url).map_err(|e| Error::config(format!("query {url:?}: {e}")))?;
    let has = |key: &str| parsed.query_pairs().any(|(k, v)| k == key && !v.is_empty());
    if !has("category_id") || has("project_id") || parsed.path().contains("/projects/") {
        return Ok(url.to_owned());
    }
    match project {
        Some(p) => Ok(
            bugimporters_core::paging::with_query_param(url, "project_id", p)
                .unwrap_or_else(|| url.to_owned()),
        ),
        None => Err(Error::config(format!(
            "query {} filters on category_id without a project: Redmine would ignore the \
             filter and list every issue; add project_id to the URL or set `project`",
            parsed.path()
        ))),
    }
}

/// The parse of one issue response (see [`parse_issue`]), for the bounded parse pool.
fn issue_job(
    resp: &Response,
    settings: &Arc<ParseSettings>,
    now: NaiveDateTime,
) -> Job<RedmineIssue> {
    let settings = Arc::clone(settings);
    Job::of(resp, move |body, url| {
        parse_issue(body, url, &settings, now)
    })
}

/// The parse settings of a record: `base_url`, the rules and the project-name format (the
/// Redmine-specific keys are not needed to parse, so they are not checked here).
pub(crate) fn settings_from_config(config: &TrackerConfig) -> Result<ParseSettings, Error> {
    let base = config.base_url_with_slash()?;
    let mut settings = ParseSettings::new(base, config.tracker_name.clone());
    settings.bitesized = Rule::parse(
        "bitesized_type",
        &config.bitesized_type,
        &config.bitesized_text,
    )?;
    settings.documentation = Rule::parse(
        "documentation_type",
        &config.documentation_type,
        &config.documentation_text,
    )?;
    if !config.bug_project_name_format.trim().is_empty() {
        classify::validate_project_name_format(&config.bug_project_name_format)?;
        settings.project_format = config.bug_project_name_format.clone();
    }
    Ok(settings)
}

#[async_trait]
impl Importer for RedmineImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let rc = self.client(ctx);
        tracing::debug!(tracker = %ctx.tracker_name(), api_key = rc.has_key(), "Redmine credentials");
        let urls = self.query_urls()?;
        let settings = self.run_settings(ctx, &rc).await;
        let runs = urls
            .into_iter()
            .map(|url| self.run_query(ctx, &rc, &settings, url));
        let results = futures::future::join_all(runs).await;
        results.into_iter().collect()
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let mut held = Vec::new();
        for link in urls {
            // Bugs a query of this run already emitted are done.
            if !ctx.claim(link) {
                continue;
            }
            match issue_id_from_link(&self.base, link) {
                Some(id) => held.push((id, link.clone())),
                None => ctx.report_error(Error::parse(
                    link.as_str(),
                    format!(
                        "not an issue link of this Redmine ({}issues/N); cannot refresh it",
                        self.base
                    ),
                )),
            }
        }
        if held.is_empty() {
            return Ok(());
        }
        let rc = self.client(ctx);
        let settings = self.run_settings(ctx, &rc).await;
        let watermark = self.refresh_watermark();
        let chunks: Vec<Vec<(u64, String)>> =
            held.chunks(REFRESH_CHUNK).map(<[_]>::to_vec).collect();
        let results: Vec<Result<(), Error>> = futures::stream::iter(chunks)
            .map(|chunk| self.refresh_chunk(ctx, &rc, &settings, chunk, watermark))
            .buffer_unordered(PARALLEL_PAGES)
            .collect()
            .await;
        results.into_iter().collect()
    }
}
