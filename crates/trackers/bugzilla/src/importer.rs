//! The [`BugzillaImporter`]: queries → bug ids → batches, or REST searches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Response;
use bugimporters_core::parse::{self, Job};
use bugimporters_core::{Error, ImportContext, Importer, ParsedBug, Query, TrackerConfig};
use chrono::NaiveDateTime;
use futures::stream::{self, StreamExt};
use url::Url;

use crate::client::{batch_url, Client};
use crate::config::{ApiMode, BugzillaOptions, ParseSettings};
use crate::custom::{BugFacts, CustomParser};
use crate::parser::{
    build_bug, ids_from_bug_url, parse_bug_xml, parse_buglist_html, parse_tracking_xml,
    query_response_kind, QueryResponseKind, SkippedBug,
};
use crate::rest::{self, CommentFacts, COMMENT_CHUNK};

/// Batch requests in flight at once (the context's `max_connections` bounds them further).
pub const BATCH_CONCURRENCY: usize = 8;
/// Query responses fetched at once.
const QUERY_CONCURRENCY: usize = 4;
/// Most pages of one REST search.
pub const MAX_REST_PAGES: usize = 10_000;

/// The comments of one chunk of bugs, by bug id.
type CommentsResult = Result<HashMap<u64, CommentFacts>, Error>;

/// How one query is run.
#[derive(Debug, Clone)]
enum Plan {
    /// Fetch the URL as configured; the response (tracking-bug XML or buglist HTML) names ids.
    Discover(String),
    /// A REST search, paged, with `last_change_time` from the query's `last_polled`.
    RestSearch(Url, Option<NaiveDateTime>),
}

/// The importer of one Bugzilla tracker.
#[derive(Debug)]
pub struct BugzillaImporter {
    queries: Vec<Query>,
    settings: ParseSettings,
    parser: Arc<dyn CustomParser>,
    options: BugzillaOptions,
    rest_root: Url,
    rest_for_ids: bool,
}

impl BugzillaImporter {
    /// An importer for `config` using `parser` (the generic one, or the configured custom
    /// parser). Checks everything that can be checked without a network.
    pub fn new(config: &TrackerConfig, parser: Arc<dyn CustomParser>) -> Result<Self, Error> {
        let options = BugzillaOptions::from_config(config)?;
        let settings = ParseSettings::from_config(config)?;
        let mut rest_root = None;
        for q in &config.queries {
            let url = Url::parse(q.url.trim())
                .map_err(|e| Error::config(format!("queries: {:?}: {e}", q.url)))?;
            bugimporters_core::redact::refuse_credential_params("queries", &url, "api_key_env")?;
            if let Some(root) = rest::rest_root_of(&url) {
                if options.bugzilla_api == ApiMode::Xml {
                    return Err(Error::config(format!(
                        "queries: {:?} is a REST URL but bugzilla_api is `xml`",
                        q.url
                    )));
                }
                rest_root.get_or_insert(root);
            }
        }
        let any_rest_query = rest_root.is_some();
        let rest_root = match rest_root {
            Some(r) => r,
            None => settings
                .base_url
                .join("rest/")
                .map_err(|e| Error::config(format!("base_url: {e}")))?,
        };
        let rest_for_ids = match options.bugzilla_api {
            ApiMode::Rest => true,
            ApiMode::Xml => false,
            ApiMode::Auto => any_rest_query,
        };
        Ok(BugzillaImporter {
            queries: config.queries.clone(),
            settings,
            parser,
            options,
            rest_root,
            rest_for_ids,
        })
    }

    /// Whether bugs are fetched by id through the REST API (else `show_bug.cgi?ctype=xml`).
    pub fn uses_rest(&self) -> bool {
        self.rest_for_ids
    }

    fn plan(&self, q: &Query) -> Plan {
        if let Ok(url) = Url::parse(q.url.trim()) {
            if rest::is_rest_bug_url(&url) {
                return Plan::RestSearch(url, q.last_polled);
            }
            if self.options.bugzilla_api == ApiMode::Rest && url.path().ends_with("buglist.cgi") {
                if let Ok(search) = rest::search_url_for_buglist(&url, &self.rest_root) {
                    return Plan::RestSearch(search, q.last_polled);
                }
            }
        }
        Plan::Discover(q.url.trim().to_owned())
    }

    fn client<'a>(&'a self, ctx: &'a ImportContext) -> Client<'a> {
        Client::new(ctx, self.options.api_key_env(), &self.rest_root)
    }

    /// Fetches a query as configured and reads the ids it names.
    async fn discover(&self, client: &Client<'_>, url: &str) -> Result<Vec<u64>, Error> {
        let resp = client.get(url).await?;
        let (body, u) = (resp.body.clone(), url.to_owned());
        let ids = parse::blocking(url, move || match query_response_kind(&body) {
            QueryResponseKind::TrackingXml => parse_tracking_xml(&body, &u),
            QueryResponseKind::BuglistHtml => parse_buglist_html(&body, &u),
        })
        .await?;
        tracing::debug!(tracker = %client.ctx.tracker_name(), url, bugs = ids.len(), "query read");
        Ok(ids)
    }

    /// Sorts and de-duplicates `ids`, claims each bug, and fetches the claimed ones in batches,
    /// several batches at once.
    async fn fetch_ids(&self, client: &Client<'_>, mut ids: Vec<u64>) -> Result<(), Error> {
        ids.sort_unstable();
        ids.dedup();
        let fresh: Vec<u64> = ids
            .into_iter()
            .filter(|id| client.ctx.claim(&self.settings.bug_link(*id)))
            .collect();
        // Owned chunks: closures over borrowed slices trip the `Send` check of async-trait.
        let chunks: Vec<Vec<u64>> = fresh
            .chunks(self.options.batch_size())
            .map(<[u64]>::to_vec)
            .collect();
        let mut batches = stream::iter(chunks)
            .map(|chunk: Vec<u64>| async move {
                if self.rest_for_ids {
                    self.fetch_rest_batch(client, &chunk).await
                } else {
                    self.fetch_xml_batch(client, &chunk).await
                }
            })
            .buffer_unordered(BATCH_CONCURRENCY);
        while let Some(result) = batches.next().await {
            result?;
        }
        Ok(())
    }

    fn report_missing(&self, ctx: &ImportContext, requested: &[u64], seen: &HashSet<u64>) {
        for id in requested.iter().filter(|id| !seen.contains(id)) {
            ctx.report_error(Error::parse(
                self.settings.bug_link(*id),
                "missing from the batch response: nothing emitted, nothing deleted",
            ));
        }
    }

    /// What Bugzilla said about the bugs of `chunk` it did not return (`<bug error="…">`, or
    /// a REST fault): `NotFound` (the bug does not exist) and `NotPermitted` (it became
    /// private) are deletions — the context writes them only for a held bug after a healthy
    /// run —; `InvalidBugId` rejects the link as a bad one; anything else, and an error about
    /// a bug not asked for, is reported. Only a closed output is an `Err`.
    async fn bug_errors(
        &self,
        ctx: &ImportContext,
        skipped: Vec<SkippedBug>,
        chunk: &[u64],
        url: &str,
    ) -> Result<(), Error> {
        let name = ctx.tracker_name();
        for s in skipped {
            let id = s.id.parse::<u64>().ok();
            let asked = id.is_some_and(|id| chunk.contains(&id));
            let link = id.map(|id| self.settings.bug_link(id));
            match (s.error.as_str(), link) {
                ("NotFound" | "NotPermitted", Some(link)) if asked => {
                    tracing::info!(tracker = %name, url = %link, error = %s.error, "Bugzilla says the bug is gone or private; deleting it");
                    ctx.emit(ParsedBug::deleted(link, name, name, ctx.now()))
                        .await?;
                }
                ("InvalidBugId", link) => ctx.report_error(Error::parse(
                    link.unwrap_or_else(|| url.to_owned()),
                    format!(
                        "Bugzilla says {:?} is not a valid bug id (InvalidBugId): a bad link, rejected, nothing deleted",
                        s.id
                    ),
                )),
                (error, link) => ctx.report_error(Error::parse(
                    link.unwrap_or_else(|| url.to_owned()),
                    format!(
                        "Bugzilla answered error=\"{error}\" for bug {}: skipped, not deleted",
                        s.id
                    ),
                )),
            }
        }
        Ok(())
    }

    /// One `show_bug.cgi?ctype=xml` batch. Only a closed output is an `Err`.
    async fn fetch_xml_batch(&self, client: &Client<'_>, chunk: &[u64]) -> Result<(), Error> {
        let ctx = client.ctx;
        let url = batch_url(&self.settings.base_url, chunk);
        let resp = match client.get(&url).await {
            Ok(r) => r,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        let (body, u, settings) = (resp.body.clone(), url.clone(), self.settings.clone());
        let (parser, now) = (self.parser.clone(), ctx.now());
        let parsed = parse::blocking(&url, move || {
            parse_bug_xml(&body, &u, &settings, &*parser, now)
        });
        let page = match parsed.await {
            Ok(p) => p,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        self.bug_errors(ctx, page.skipped, chunk, &url).await?;
        for e in page.failed {
            ctx.report_error(e);
        }
        let seen: HashSet<u64> = page.ids.iter().copied().collect();
        self.report_missing(ctx, chunk, &seen);
        let requested: HashSet<String> =
            chunk.iter().map(|id| self.settings.bug_link(*id)).collect();
        for bug in page.bugs {
            if requested.contains(&bug.canonical_bug_link) || ctx.claim(&bug.canonical_bug_link) {
                ctx.emit(bug).await?;
            }
        }
        Ok(())
    }

    /// One `rest/bug?id=…` batch.
    async fn fetch_rest_batch(&self, client: &Client<'_>, chunk: &[u64]) -> Result<(), Error> {
        let ctx = client.ctx;
        let url = rest::bugs_by_id_url(&self.rest_root, chunk)?;
        let (facts, errors, faults) =
            match parse_rest_refresh(client.get_rest(&url).await, &url).await {
                Ok(p) => p,
                Err(e) => {
                    ctx.report_error(e);
                    return Ok(());
                }
            };
        for e in errors {
            ctx.report_error(e);
        }
        let mut seen: HashSet<u64> = facts.iter().map(|f| f.id).collect();
        seen.extend(faults.iter().filter_map(|f| f.id.parse::<u64>().ok()));
        self.bug_errors(ctx, faults, chunk, url.as_str()).await?;
        self.report_missing(ctx, chunk, &seen);
        let requested: HashSet<u64> = chunk.iter().copied().collect();
        self.emit_rest_bugs(client, facts, Some(&requested)).await
    }

    /// Claims (unless `requested` already holds them), fetches the comments of, and emits REST
    /// bugs.
    async fn emit_rest_bugs(
        &self,
        client: &Client<'_>,
        facts: Vec<BugFacts>,
        requested: Option<&HashSet<u64>>,
    ) -> Result<(), Error> {
        let ctx = client.ctx;
        let keep: Vec<BugFacts> = facts
            .into_iter()
            .filter(|f| {
                requested.is_some_and(|r| r.contains(&f.id))
                    || ctx.claim(&self.settings.bug_link(f.id))
            })
            .collect();
        if keep.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = keep.iter().map(|f| f.id).collect();
        let chunks: Vec<Vec<u64>> = ids.chunks(COMMENT_CHUNK).map(<[u64]>::to_vec).collect();
        let results: Vec<(Vec<u64>, CommentsResult)> = stream::iter(chunks)
            .map(|chunk: Vec<u64>| async move {
                let result = match rest::comments_url(&self.rest_root, &chunk) {
                    Some(url) => match client.get_rest(&url).await {
                        Ok(r) => {
                            Job::new(url.as_str(), r.body, rest::parse_comments)
                                .run()
                                .await
                        }
                        Err(e) => Err(e),
                    },
                    None => Ok(HashMap::new()),
                };
                (chunk, result)
            })
            .buffer_unordered(QUERY_CONCURRENCY)
            .collect()
            .await;
        let mut comments: HashMap<u64, CommentFacts> = HashMap::new();
        let mut failed: HashSet<u64> = HashSet::new();
        for (chunk, result) in results {
            match result {
                Ok(map) => comments.extend(map),
                Err(e) => {
                    ctx.report_error(e);
                    failed.extend(chunk.iter().copied());
                }
            }
        }
        for mut f in keep {
            if failed.contains(&f.id) {
                continue;
            }
            match comments.remove(&f.id) {
                Some(c) => c.apply(&mut f),
                None if f.first_comment.is_some() => {}
                None => {
                    ctx.report_error(Error::parse(
                        self.settings.bug_link(f.id),
                        "the comment answer does not hold this bug: not emitted",
                    ));
                    continue;
                }
            }
            match build_bug(&f, &self.settings, &*self.parser, ctx.now()) {
                Ok(bug) => ctx.emit(bug).await?,
                Err(e) => ctx.report_error(e),
            }
        }
        Ok(())
    }

    /// A REST search, page after page (the next page downloads while this one's comments are
    /// fetched and its bugs emitted), until a page shorter than the limit.
    async fn rest_search(
        &self,
        client: &Client<'_>,
        search: &Url,
        since: Option<NaiveDateTime>,
    ) -> Result<(), Error> {
        let ctx = client.ctx;
        let limit = self.options.rest_page_size();
        let mut offset = 0;
        let mut url = rest::search_page_url(search, limit, offset, since);
        let mut ready = None;
        let mut previous_first: Option<u64> = None;
        for page_no in 1..=MAX_REST_PAGES {
            let resp = match ready.take() {
                Some(r) => r,
                None => client.get_rest(&url).await,
            };
            let (facts, errors) = match parse_rest_bugs(resp, &url).await {
                Ok(p) => p,
                Err(e) => {
                    ctx.report_error(e);
                    return Ok(());
                }
            };
            for e in errors {
                ctx.report_error(e);
            }
            let n = facts.len();
            let first = facts.first().map(|f| f.id);
            if n > 0 && first == previous_first {
                ctx.report_error(Error::parse(
                    url.as_str(),
                    "the server answered the same page again (does it ignore offset=?); search stopped",
                ));
                return Ok(());
            }
            previous_first = first;
            tracing::debug!(tracker = %ctx.tracker_name(), url = %url, bugs = n, "REST page");
            if n < limit || page_no == MAX_REST_PAGES {
                return self.emit_rest_bugs(client, facts, None).await;
            }
            offset += n;
            url = rest::search_page_url(search, limit, offset, since);
            let (emitted, next) = futures::join!(
                self.emit_rest_bugs(client, facts, None),
                client.get_rest(&url)
            );
            emitted?;
            ready = Some(next);
        }
        Ok(())
    }
}

/// Parses a REST bug list on the blocking parse pool.
async fn parse_rest_bugs(
    resp: Result<Response, Error>,
    url: &Url,
) -> Result<(Vec<BugFacts>, Vec<Error>), Error> {
    let body = resp?.body;
    let u = url.to_string();
    parse::blocking(url.as_str(), move || rest::parse_bugs(&body, &u)).await
}

/// [`parse_rest_bugs`] for a refresh by id: also the bugs the answer names as faults
/// (`NotFound`, `NotPermitted`, ...).
async fn parse_rest_refresh(
    resp: Result<Response, Error>,
    url: &Url,
) -> Result<(Vec<BugFacts>, Vec<Error>, Vec<crate::parser::SkippedBug>), Error> {
    let body = resp?.body;
    let u = url.to_string();
    parse::blocking(url.as_str(), move || {
        let (facts, errors) = rest::parse_bugs(&body, &u)?;
        Ok((facts, errors, rest::parse_bug_faults(&body)))
    })
    .await
}

#[async_trait]
impl Importer for BugzillaImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let client = self.client(ctx);
        let plans: Vec<Plan> = self.queries.iter().map(|q| self.plan(q)).collect();
        let discover: Vec<String> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Discover(u) => Some(u.clone()),
                Plan::RestSearch(..) => None,
            })
            .collect();
        let client_ref = &client;
        let found: Vec<Result<Vec<u64>, Error>> = stream::iter(discover)
            .map(|u: String| async move { self.discover(client_ref, &u).await })
            .buffer_unordered(QUERY_CONCURRENCY)
            .collect()
            .await;
        let mut ids = Vec::new();
        for r in found {
            match r {
                Ok(v) => ids.extend(v),
                Err(e) => ctx.report_error(e),
            }
        }
        for p in &plans {
            if let Plan::RestSearch(url, since) = p {
                self.rest_search(&client, url, *since).await?;
            }
        }
        self.fetch_ids(&client, ids).await
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let mut ids = Vec::with_capacity(urls.len());
        for u in urls {
            match ids_from_bug_url(u) {
                Ok(v) => ids.extend(v),
                Err(e) => ctx.report_error(e),
            }
        }
        self.fetch_ids(&self.client(ctx), ids).await
    }
}
