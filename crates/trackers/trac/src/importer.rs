//! [`TracImporter`]: queries with Trac's paging, ticket CSV + page per ticket, incremental
//! refresh from `changetime`, 404 deletions.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::{parse, Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use futures::StreamExt;
use url::Url;

use crate::client::{
    changed_since_url, existing_ids_urls, page_number, page_size, page_url, ticket_csv_url,
    MAX_PAGES, TICKET_CONCURRENCY,
};
use crate::config::{TicketSettings, TracOptions};
use crate::parser::{parse_query_csv, parse_ticket, parse_ticket_csv, ticket_id, QueryPage};

/// Links of existing tickets that Trac reports unchanged since the incremental cut-off.
type Unchanged = Arc<HashSet<String>>;

/// The importer of one Trac tracker.
#[derive(Debug)]
pub struct TracImporter {
    config: TrackerConfig,
    base: Url,
    settings: TicketSettings,
    since: Option<NaiveDateTime>,
    /// The unchanged set of the current run, keyed by the run's clock, computed once and
    /// shared by both entry points.
    unchanged: tokio::sync::Mutex<Option<(NaiveDateTime, Unchanged)>>,
}

enum Outcome {
    Bug(Box<ParsedBug>),
    Gone,
}

impl TracImporter {
    /// Checks `config` (a `base_url` is required, the Trac keys must be well-formed) and
    /// builds the importer.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let base = config.base_url_with_slash()?;
        let options = TracOptions::from_config(config)?;
        Ok(TracImporter {
            since: options.incremental_since(config),
            settings: TicketSettings::from_config(config),
            base,
            config: config.clone(),
            unchanged: tokio::sync::Mutex::new(None),
        })
    }

    /// The incremental cut-off in use (see [`TracOptions::incremental_since`]).
    pub fn since(&self) -> Option<NaiveDateTime> {
        self.since
    }

    async fn unchanged(&self, ctx: &ImportContext) -> Unchanged {
        let mut guard = self.unchanged.lock().await;
        if let Some((at, set)) = guard.as_ref() {
            if *at == ctx.now() {
                return set.clone();
            }
        }
        let set = Arc::new(self.compute_unchanged(ctx).await);
        *guard = Some((ctx.now(), set.clone()));
        set
    }

    /// Two small queries: the tickets changed since the cut-off, and which of the existing
    /// tickets still exist. Existing tickets that exist and did not change are unchanged.
    /// Any failure means "unknown": everything is fetched.
    async fn compute_unchanged(&self, ctx: &ImportContext) -> HashSet<String> {
        let Some(since) = self.since else {
            return HashSet::new();
        };
        let existing: BTreeMap<u64, &String> = self
            .config
            .existing_bug_urls
            .iter()
            .filter_map(|link| ticket_id(&self.base, link).map(|id| (id, link)))
            .collect();
        if existing.is_empty() {
            return HashSet::new();
        }
        let Some(changed_url) = changed_since_url(&self.base, since) else {
            return HashSet::new();
        };
        let changed = match self.list_ids(ctx, &changed_url).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(tracker = %ctx.tracker_name(), error = %e, "cannot list changed tickets; refreshing every ticket");
                return HashSet::new();
            }
        };
        let ids: Vec<u64> = existing.keys().copied().collect();
        let mut present = HashSet::new();
        for url in existing_ids_urls(&self.base, &ids) {
            match self.list_ids(ctx, &url).await {
                Ok(found) => present.extend(found),
                Err(e) => {
                    tracing::warn!(tracker = %ctx.tracker_name(), error = %e, "cannot list existing tickets; refreshing every ticket");
                    return HashSet::new();
                }
            }
        }
        let unchanged: HashSet<String> = existing
            .iter()
            .filter(|(id, _)| present.contains(*id) && !changed.contains(*id))
            .map(|(_, link)| (*link).clone())
            .collect();
        tracing::info!(tracker = %ctx.tracker_name(), since = %since, existing = existing.len(), changed = changed.len(), unchanged = unchanged.len(), "incremental refresh");
        unchanged
    }

    /// Ticket ids of an unpaged id query; an empty body or a page without an `id` column is an
    /// error here (an empty result still has its header row).
    async fn list_ids(&self, ctx: &ImportContext, url: &str) -> Result<HashSet<u64>, Error> {
        let resp = ctx.get(url).await?;
        let page = self.parse_query(&resp, url).await?;
        if page.empty {
            return Err(Error::parse(url, "empty body"));
        }
        if let Some(e) = page.errors.into_iter().next() {
            return Err(e);
        }
        Ok(page.ids.into_iter().collect())
    }

    /// Runs one query, page by page: the URL as configured first, then (only when it sets
    /// `max`) `page=2, 3, ...` until a page is empty or shorter than `max`.
    async fn run_query(
        &self,
        ctx: &ImportContext,
        query: &str,
        unchanged: &Unchanged,
    ) -> Result<(), Error> {
        let max = page_size(query);
        let mut page_no = page_number(query);
        let mut url = query.to_owned();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut resp = ctx.get(&url).await?;
        for pages in 1..=MAX_PAGES {
            let page = self.parse_query(&resp, &url).await?;
            for e in page.errors {
                ctx.report_error(e);
            }
            if page.empty {
                // Trac answers a page past the end with an empty body, but its first page
                // always has the header row, even for an empty result: an empty first answer
                // is a broken server or proxy, not "no tickets".
                if pages == 1 && page_number(query) == 1 {
                    return Err(Error::parse(
                        &url,
                        "empty body, not a query CSV (an empty result still has its header row)",
                    ));
                }
                return Ok(());
            }
            let fresh = page.ids.iter().filter(|id| seen.insert(**id)).count();
            if pages > 1 && fresh == 0 {
                tracing::warn!(tracker = %ctx.tracker_name(), url = %url, "the page repeats the previous ones (does this Trac ignore page=?); stopping");
                return Ok(());
            }
            let next_url = match max {
                Some(m) if page.rows as u64 >= m && pages < MAX_PAGES => {
                    page_no = page_no.saturating_add(1);
                    Some(
                        page_url(query, page_no)
                            .ok_or_else(|| Error::parse(query, "cannot build the next page URL"))?,
                    )
                }
                _ => None,
            };
            // The next page is fetched while this page's tickets are.
            let next = async {
                match &next_url {
                    Some(u) => Some(ctx.get(u).await),
                    None => None,
                }
            };
            let (refreshed, next) =
                futures::join!(self.refresh_many(ctx, page.urls, unchanged), next);
            refreshed?;
            match (next_url, next) {
                (Some(u), Some(r)) => {
                    url = u;
                    resp = r?;
                }
                _ => return Ok(()),
            }
        }
        tracing::warn!(tracker = %ctx.tracker_name(), url = %query, "stopped after {MAX_PAGES} pages");
        Ok(())
    }

    /// Refreshes `links` concurrently. Only a closed output ends it early.
    async fn refresh_many(
        &self,
        ctx: &ImportContext,
        links: Vec<String>,
        unchanged: &Unchanged,
    ) -> Result<(), Error> {
        let mut results = futures::stream::iter(links)
            .map(|link| async move { self.refresh_one(ctx, &link, unchanged).await })
            .buffer_unordered(TICKET_CONCURRENCY);
        while let Some(r) = results.next().await {
            r?;
        }
        Ok(())
    }

    async fn refresh_one(
        &self,
        ctx: &ImportContext,
        link: &str,
        unchanged: &Unchanged,
    ) -> Result<(), Error> {
        if !ctx.claim(link) {
            return Ok(());
        }
        let name = ctx.tracker_name();
        if ctx.is_existing(link) && unchanged.contains(link) {
            return ctx
                .emit(ParsedBug::no_update(link, name, name, ctx.now()))
                .await;
        }
        match self.fetch_ticket(ctx, link).await {
            Ok(Outcome::Bug(bug)) => ctx.emit(*bug).await,
            Ok(Outcome::Gone) => {
                ctx.emit(ParsedBug::deleted(link, name, name, ctx.now()))
                    .await
            }
            Err(e) => {
                ctx.report_error(e);
                Ok(())
            }
        }
    }

    async fn fetch_ticket(&self, ctx: &ImportContext, link: &str) -> Result<Outcome, Error> {
        let csv_url = ticket_csv_url(link);
        let csv = match ctx.get(&csv_url).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(Outcome::Gone),
            Err(e) => return Err(e),
        };
        let body = csv.body.clone();
        let u = csv_url.clone();
        let row = parse::blocking(&csv_url, move || parse_ticket_csv(&body, &u)).await?;
        let page = match ctx.get(link).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(Outcome::Gone),
            Err(e) => return Err(e),
        };
        let (body, owned_link) = (page.body.clone(), link.to_owned());
        let (settings, now) = (self.settings.clone(), ctx.now());
        let bug = parse::blocking(link, move || {
            parse_ticket(&row, &body, &owned_link, &settings, now)
        })
        .await?;
        Ok(Outcome::Bug(Box::new(bug)))
    }

    /// Parses a query CSV on the blocking parse pool.
    async fn parse_query(&self, resp: &Response, url: &str) -> Result<QueryPage, Error> {
        let (body, u, base) = (resp.body.clone(), url.to_owned(), self.base.clone());
        parse::blocking(url, move || parse_query_csv(&body, &u, &base)).await
    }
}

#[async_trait]
impl Importer for TracImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        if self.config.queries.is_empty() {
            return Ok(());
        }
        let unchanged = self.unchanged(ctx).await;
        for query in &self.config.queries {
            match self.run_query(ctx, &query.url, &unchanged).await {
                Ok(()) => {}
                Err(Error::Closed) => return Err(Error::Closed),
                Err(e) => ctx.report_error(e),
            }
        }
        Ok(())
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let unchanged = self.unchanged(ctx).await;
        self.refresh_many(ctx, urls.to_vec(), &unchanged).await
    }
}
