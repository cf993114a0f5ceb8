//! The [`RoundupImporter`]: queries, refresh of known issues, pages or REST.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bugimporters_core::parse::{self, Job};
use bugimporters_core::{Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use futures::StreamExt;

use crate::client::{query_with_since, rest_request, Credentials, Endpoints, CHUNK};
use crate::config::{is_placeholder, ApiMode, RoundupOptions};
use crate::parser::{
    issue_id, issue_link, parse_csv_ids, parse_issue_html, ParseSettings, PYTHON_PARSER,
};
use crate::rest::{
    self, creator_id, issue_to_bug, message_ids, RestMessage, RestUser, RuleProperties,
    ISSUE_FIELDS,
};

/// Issue pages fetched at once (the context and the fetch layer bound this further).
pub const PAGE_CONCURRENCY: usize = 8;

/// Imports one Roundup tracker. See the crate documentation for how pages and REST are
/// picked and how incremental crawls work.
#[derive(Debug)]
pub struct RoundupImporter {
    config: TrackerConfig,
    options: RoundupOptions,
    settings: ParseSettings,
    endpoints: Endpoints,
    rules: RuleProperties,
    rest_fields: Vec<String>,
    /// `auto` mode found the REST API refused: pages for the rest of the run.
    rest_off: AtomicBool,
    /// The field labels of the issues parsed in this run.
    seen_fields: Arc<Mutex<BTreeSet<String>>>,
    /// Whether the rule fields were checked against them (one warning per run at most).
    fields_checked: AtomicBool,
}

/// Where issue data comes from in this run.
#[derive(Debug, Clone)]
enum Source {
    Html,
    Rest(Option<Credentials>),
}

/// A REST request failed in a way that means "no usable REST API here".
fn rest_refused(e: &Error) -> bool {
    match e.status() {
        Some(s) => matches!(s, 400 | 401 | 403 | 404 | 405 | 501),
        None => matches!(e.inner(), Error::Parse { .. }),
    }
}

impl RoundupImporter {
    /// An importer for `config`; `settings` come from [`RoundupOptions::parse_settings`] with
    /// the custom parser set.
    pub fn new(
        config: &TrackerConfig,
        options: RoundupOptions,
        settings: ParseSettings,
    ) -> Result<Self, Error> {
        let endpoints = Endpoints::new(config.base_url_with_slash()?);
        let rules = RuleProperties {
            bitesized: options.bitesized_rest_property(),
            documentation: options.documentation_rest_property(),
        };
        let mut rest_fields: Vec<String> = ISSUE_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        let python = settings
            .custom_parser
            .as_ref()
            .is_some_and(|p| p.name() == PYTHON_PARSER);
        for extra in [rules.bitesized.clone(), rules.documentation.clone()]
            .into_iter()
            .flatten()
            .chain(python.then(|| "stage".to_owned()))
        {
            if !rest_fields.contains(&extra) {
                rest_fields.push(extra);
            }
        }
        Ok(RoundupImporter {
            config: config.clone(),
            options,
            settings,
            endpoints,
            rules,
            rest_fields,
            rest_off: AtomicBool::new(false),
            seen_fields: Arc::default(),
            fields_checked: AtomicBool::new(false),
        })
    }

    /// The REST issue properties requested (`@fields`).
    pub fn rest_fields(&self) -> &[String] {
        &self.rest_fields
    }

    fn settings(&self, ctx: &ImportContext) -> ParseSettings {
        let mut s = self.settings.clone();
        s.extended_scrape = ctx.options().extended_scrape;
        s.seen_fields = Some(self.seen_fields.clone());
        s
    }

    /// Warns (once per run, in the run report) about a rule field that no issue parsed so
    /// far has, naming the fields they do have: such a rule classifies every bug false.
    fn check_rule_fields(&self, ctx: &ImportContext) {
        let seen = self.seen_fields.lock().expect("seen fields lock");
        if seen.is_empty() || self.fields_checked.swap(true, Ordering::Relaxed) {
            return;
        }
        let rules = [
            ("bitesized_field", &self.settings.bitesized_field),
            ("documentation_field", &self.settings.documentation_field),
        ];
        for (key, field) in rules {
            if !field.is_empty() && !seen.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                let known: Vec<&str> = seen.iter().map(String::as_str).collect();
                ctx.report_warning(format!(
                    "{key} {field:?} is a field of no issue read in this run, so the rule \
                     matches no bug; the issues have: {}",
                    known.join(", ")
                ));
            }
        }
    }

    fn source(&self, ctx: &ImportContext) -> Source {
        let (user_env, password_env) = self.options.credential_env();
        let creds = || Credentials::from_env(ctx, user_env, password_env);
        match self.options.roundup_api {
            ApiMode::Html => Source::Html,
            ApiMode::Rest => Source::Rest(creds()),
            ApiMode::Auto if self.rest_off.load(Ordering::Relaxed) => Source::Html,
            ApiMode::Auto => creds().map_or(Source::Html, |c| Source::Rest(Some(c))),
        }
    }

    /// The start of the incremental window of known issues (see
    /// [`RoundupOptions::refresh_since`]).
    pub fn refresh_since(&self) -> Option<NaiveDateTime> {
        self.options.refresh_since(&self.config)
    }

    /// REST was refused: in `auto` mode switch to pages (`true`), in `rest` mode fail.
    fn on_rest_refused(&self, ctx: &ImportContext, e: Error) -> Result<(), Error> {
        if self.options.roundup_api == ApiMode::Rest {
            return Err(e);
        }
        if !self.rest_off.swap(true, Ordering::Relaxed) {
            tracing::warn!(tracker = %ctx.tracker_name(), error = %e.inner(), "the REST API is not usable here; reading issue pages instead");
        }
        Ok(())
    }

    // ---- pages ----------------------------------------------------------------------------

    async fn fetch_page(&self, ctx: &ImportContext, link: String) -> Result<(), Error> {
        let name = ctx.tracker_name();
        let resp = match ctx.get(&link).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => {
                return ctx
                    .emit(ParsedBug::deleted(link.as_str(), name, name, ctx.now()))
                    .await
            }
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        let (body, url, settings, now) = (resp.body, link.clone(), self.settings(ctx), ctx.now());
        let parsed = parse::blocking(&link, move || parse_issue_html(&body, &url, &settings, now));
        match parsed.await {
            Ok(page) if page.retired => {
                ctx.emit(ParsedBug::deleted(link.as_str(), name, name, ctx.now()))
                    .await
            }
            Ok(page) => ctx.emit(page.bug).await,
            Err(e) => {
                ctx.report_error(e);
                Ok(())
            }
        }
    }

    async fn fetch_pages(&self, ctx: &ImportContext, links: Vec<String>) -> Result<(), Error> {
        let mut stream = futures::stream::iter(links)
            .map(|link| self.fetch_page(ctx, link))
            .buffer_unordered(PAGE_CONCURRENCY);
        while let Some(r) = stream.next().await {
            r?;
        }
        Ok(())
    }

    fn links(&self, ids: &[u64]) -> Vec<String> {
        ids.iter()
            .map(|id| issue_link(self.endpoints.base(), *id))
            .collect()
    }

    async fn csv_id_set(&self, ctx: &ImportContext, url: &str) -> Result<HashSet<u64>, Error> {
        let (body, u) = (ctx.get(url).await?.body, url.to_owned());
        let ids = parse::blocking(url, move || parse_csv_ids(&body, &u)).await?;
        Ok(ids.into_iter().collect())
    }

    /// Known issues through pages: with a window, one CSV of the live ids and one of the
    /// changed ids per chunk; unchanged ones become `_no_update` without a download.
    async fn refresh_pages(
        &self,
        ctx: &ImportContext,
        ids: &[u64],
        since: Option<NaiveDateTime>,
    ) -> Result<(), Error> {
        let Some(since) = since else {
            return self.fetch_pages(ctx, self.links(ids)).await;
        };
        let name = ctx.tracker_name();
        let alive = self
            .csv_id_set(ctx, &self.endpoints.csv_ids(ids, None))
            .await;
        let changed = self
            .csv_id_set(ctx, &self.endpoints.csv_ids(ids, Some(since)))
            .await;
        let (alive, changed) = match (alive, changed) {
            (Ok(a), Ok(c)) => (a, c),
            (Err(e), _) | (_, Err(e)) => {
                tracing::info!(tracker = %name, error = %e.inner(), "cannot list changed issues; fetching every page");
                return self.fetch_pages(ctx, self.links(ids)).await;
            }
        };
        let mut fetch = Vec::new();
        for id in ids {
            let link = issue_link(self.endpoints.base(), *id);
            if alive.contains(id) && !changed.contains(id) {
                ctx.emit(ParsedBug::no_update(link, name, name, ctx.now()))
                    .await?;
            } else {
                // changed, or gone from the lists (retired or deleted: the page tells)
                fetch.push(link);
            }
        }
        self.fetch_pages(ctx, fetch).await
    }

    // ---- REST -------------------------------------------------------------------------------

    async fn rest_get(
        &self,
        ctx: &ImportContext,
        creds: Option<&Credentials>,
        url: &str,
    ) -> Result<bytes::Bytes, Error> {
        let resp = ctx.fetch(rest_request(creds, url)?).await?;
        Ok(resp.body)
    }

    /// GETs `url` through REST and reads its body with `parse` on the bounded parse pool.
    async fn rest_read<T: Send + 'static>(
        &self,
        ctx: &ImportContext,
        creds: Option<&Credentials>,
        url: &str,
        parse: fn(&[u8], &str) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let body = self.rest_get(ctx, creds, url).await?;
        Job::new(url, body, parse).run().await
    }

    /// Fetches and emits the issues `ids` (changed since `since` when given) through REST.
    /// Returns the ids Roundup returned, or `None` when REST was refused in `auto` mode (the
    /// caller reads pages instead).
    async fn rest_chunk(
        &self,
        ctx: &ImportContext,
        creds: Option<&Credentials>,
        ids: &[u64],
        since: Option<NaiveDateTime>,
    ) -> Result<Option<HashSet<u64>>, Error> {
        let url = self.endpoints.rest_issues(ids, &self.rest_fields, since);
        let issues = match self.rest_read(ctx, creds, &url, rest::parse_issues).await {
            Ok(i) => i,
            Err(e) if rest_refused(&e) => {
                self.on_rest_refused(ctx, e)?;
                return Ok(None);
            }
            Err(e) => {
                ctx.report_error(e);
                return Ok(Some(ids.iter().copied().collect()));
            }
        };
        let returned: HashSet<u64> = issues.iter().map(|i| i.id).collect();
        let (messages, users) = match self.rest_details(ctx, creds, &issues).await {
            Ok(d) => d,
            Err(e) => {
                ctx.report_error(e);
                return Ok(Some(returned));
            }
        };
        let settings = self.settings(ctx);
        for issue in &issues {
            let link = issue_link(self.endpoints.base(), issue.id);
            match issue_to_bug(
                issue,
                &link,
                &settings,
                &self.rules,
                &messages,
                &users,
                ctx.now(),
            ) {
                Ok(bug) => ctx.emit(bug).await?,
                Err(e) => ctx.report_error(e),
            }
        }
        Ok(Some(returned))
    }

    /// Authors of every message, the text of each issue's first message, and the reporters.
    async fn rest_details(
        &self,
        ctx: &ImportContext,
        creds: Option<&Credentials>,
        issues: &[rest::RestIssue],
    ) -> Result<(HashMap<u64, RestMessage>, HashMap<String, RestUser>), Error> {
        let mut all: Vec<u64> = Vec::new();
        let mut first: Vec<u64> = Vec::new();
        for issue in issues {
            let ids = message_ids(issue);
            if let Some(f) = ids.first() {
                first.push(*f);
            }
            all.extend(ids);
        }
        all.sort_unstable();
        all.dedup();
        let mut messages: HashMap<u64, RestMessage> = HashMap::new();
        for chunk in all.chunks(CHUNK) {
            let url = self.endpoints.rest_messages(chunk, false);
            messages.extend(
                self.rest_read(ctx, creds, &url, rest::parse_messages)
                    .await?,
            );
        }
        for chunk in first.chunks(CHUNK) {
            let url = self.endpoints.rest_messages(chunk, true);
            for (id, m) in self
                .rest_read(ctx, creds, &url, rest::parse_messages)
                .await?
            {
                let entry = messages.entry(id).or_default();
                entry.content = m.content;
                if entry.author.is_none() {
                    entry.author = m.author;
                }
            }
        }
        let mut creators: Vec<String> = issues.iter().filter_map(creator_id).collect();
        creators.sort();
        creators.dedup();
        // Real names are a nicety: an account that may not read users still imports issues
        // (with `submitter_realname: null`).
        let mut users = HashMap::new();
        for chunk in creators.chunks(CHUNK) {
            let url = self.endpoints.rest_users(chunk);
            match self.rest_read(ctx, creds, &url, rest::parse_users).await {
                Ok(u) => users.extend(u),
                Err(e) if e.is_temporary() => return Err(e),
                Err(e) => {
                    tracing::info!(tracker = %ctx.tracker_name(), error = %e.inner(), "cannot read reporters' real names");
                }
            }
        }
        Ok((messages, users))
    }

    /// A known issue no list returned: 404/410 or an item Roundup still serves (a retired
    /// one: lists leave out exactly the retired items) become `_deleted`.
    async fn rest_verify_gone(
        &self,
        ctx: &ImportContext,
        creds: Option<&Credentials>,
        id: u64,
    ) -> Result<(), Error> {
        let name = ctx.tracker_name();
        let link = issue_link(self.endpoints.base(), id);
        let url = self.endpoints.rest_issue(id);
        match self.rest_get(ctx, creds, &url).await {
            Ok(body) => match Job::new(url.as_str(), body, rest::parse_issues).run().await {
                Ok(_) => {
                    ctx.emit(ParsedBug::deleted(link, name, name, ctx.now()))
                        .await
                }
                Err(e) => {
                    ctx.report_error(e);
                    Ok(())
                }
            },
            Err(e) if e.is_not_found() => {
                ctx.emit(ParsedBug::deleted(link, name, name, ctx.now()))
                    .await
            }
            Err(e) => {
                ctx.report_error(e);
                Ok(())
            }
        }
    }

    /// Known issues through REST, one chunk: with a window, the live ids first, then the data
    /// of the changed ones; unchanged ones become `_no_update`.
    async fn refresh_rest_chunk(
        &self,
        ctx: &ImportContext,
        creds: Option<&Credentials>,
        ids: &[u64],
        since: Option<NaiveDateTime>,
    ) -> Result<bool, Error> {
        let name = ctx.tracker_name();
        let alive: Option<HashSet<u64>> = match since {
            None => None,
            Some(_) => {
                let url = self.endpoints.rest_issues(ids, &[], None);
                match self.rest_read(ctx, creds, &url, rest::parse_issues).await {
                    Ok(list) => Some(list.into_iter().map(|i| i.id).collect()),
                    Err(e) if rest_refused(&e) => {
                        self.on_rest_refused(ctx, e)?;
                        return Ok(false);
                    }
                    Err(e) => {
                        ctx.report_error(e);
                        return Ok(true);
                    }
                }
            }
        };
        let Some(returned) = self.rest_chunk(ctx, creds, ids, since).await? else {
            return Ok(false);
        };
        for id in ids {
            if returned.contains(id) {
                continue;
            }
            match &alive {
                Some(alive) if alive.contains(id) => {
                    let link = issue_link(self.endpoints.base(), *id);
                    ctx.emit(ParsedBug::no_update(link, name, name, ctx.now()))
                        .await?;
                }
                _ => self.rest_verify_gone(ctx, creds, *id).await?,
            }
        }
        Ok(true)
    }

    /// Issues named by a query, through the run's source.
    async fn fetch_issues(&self, ctx: &ImportContext, ids: Vec<u64>) -> Result<(), Error> {
        for chunk in ids.chunks(CHUNK) {
            match self.source(ctx) {
                Source::Html => self.fetch_pages(ctx, self.links(chunk)).await?,
                Source::Rest(creds) => {
                    match self.rest_chunk(ctx, creds.as_ref(), chunk, None).await? {
                        None => self.fetch_pages(ctx, self.links(chunk)).await?,
                        Some(returned) => {
                            // listed by the query a moment ago, missing now: read the page
                            let missing: Vec<u64> = chunk
                                .iter()
                                .copied()
                                .filter(|id| !returned.contains(id))
                                .collect();
                            self.fetch_pages(ctx, self.links(&missing)).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Importer for RoundupImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        for query in &self.config.queries {
            let url = match query.last_polled.filter(|t| !is_placeholder(t)) {
                Some(t) => query_with_since(query.url.trim(), t),
                None => query.url.trim().to_owned(),
            };
            let ids = match ctx.get(&url).await {
                Ok(resp) => Job::new(url.as_str(), resp.body, parse_csv_ids).run().await,
                Err(e) => Err(e),
            };
            let ids = match ids {
                Ok(ids) => ids,
                Err(e) => {
                    ctx.report_error(e);
                    continue;
                }
            };
            let fresh: Vec<u64> = ids
                .into_iter()
                .filter(|id| ctx.claim(&issue_link(self.endpoints.base(), *id)))
                .collect();
            self.fetch_issues(ctx, fresh).await?;
        }
        self.check_rule_fields(ctx);
        Ok(())
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let mut ids = Vec::new();
        let mut direct = Vec::new();
        for url in urls {
            let url = url.trim();
            if !ctx.claim(url) {
                continue;
            }
            match issue_id(url) {
                Some(id) if issue_link(self.endpoints.base(), id) == url => ids.push(id),
                _ => direct.push(url.to_owned()),
            }
        }
        self.fetch_pages(ctx, direct).await?;
        let since = self.refresh_since();
        for chunk in ids.chunks(CHUNK) {
            let handled = match self.source(ctx) {
                Source::Html => false,
                Source::Rest(creds) => {
                    self.refresh_rest_chunk(ctx, creds.as_ref(), chunk, since)
                        .await?
                }
            };
            if !handled {
                self.refresh_pages(ctx, chunk, since).await?;
            }
        }
        self.check_rule_fields(ctx);
        Ok(())
    }
}
