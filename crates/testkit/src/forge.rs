//! Helpers shared by the importer tests of the API trackers (GitHub, GitLab, Gitea/Forgejo,
//! Pagure, Jira, Launchpad, Redmine): a client allowed to reach a loopback mock server, and one
//! import run whose emitted records are collected.

use std::sync::Arc;
use std::time::Duration;

use bugimporters_core::fetch::{FetchConfig, HttpClient, NetworkPolicy};
pub use bugimporters_core::secrets::FixedSecrets;
use bugimporters_core::{
    ImportContext, ImportOptions, Importer, LinkScope, ParsedBug, TrackerConfig, TrackerStats,
};
use chrono::NaiveDateTime;

/// An HTTP client that may reach 127.0.0.0/8 (a wiremock server), with short back-offs.
pub fn loopback_client() -> Arc<HttpClient> {
    let mut cfg = FetchConfig::default();
    cfg.network = NetworkPolicy::allowing(["127.0.0.0/8".parse().expect("a network")]);
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    Arc::new(HttpClient::new(cfg).expect("an HTTP client"))
}

/// What one import run emitted, and its statistics.
#[derive(Debug)]
pub struct Run {
    /// Every emitted record, in emission order.
    pub bugs: Vec<ParsedBug>,
    /// The statistics of the run.
    pub stats: TrackerStats,
}

impl Run {
    /// The sorted links of the records `pick` chooses.
    pub fn links(&self, pick: impl Fn(&ParsedBug) -> bool) -> Vec<String> {
        let mut v: Vec<String> = self
            .bugs
            .iter()
            .filter(|b| pick(b))
            .map(|b| b.canonical_bug_link.clone())
            .collect();
        v.sort();
        v
    }

    /// The sorted links of the full records (neither `_deleted` nor `_no_update`).
    pub fn full(&self) -> Vec<String> {
        self.links(|b| !b.deleted && !b.no_update)
    }

    /// The full records themselves (neither `_deleted` nor `_no_update`), in emission order.
    pub fn full_bugs(&self) -> Vec<&ParsedBug> {
        self.bugs
            .iter()
            .filter(|b| !b.deleted && !b.no_update)
            .collect()
    }
}

/// How many records [`run_importer`] holds before the importer waits: they are collected only
/// once the run has finished, so a run emitting more needs [`run_importer_with`].
pub const RUN_CAPACITY: usize = 1024;

/// Runs `importer` for `config` as the crawl would (4 connections, clock at `now`, no
/// secrets): its queries when `queries`, then the refresh of `config.existing_bug_urls` when
/// there are any. A failure is reported in the statistics and marks the run unhealthy. At
/// most [`RUN_CAPACITY`] records may be emitted.
pub async fn run_importer(
    importer: &dyn Importer,
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    now: NaiveDateTime,
    queries: bool,
) -> Run {
    run_importer_with(
        importer,
        config,
        client,
        options(now),
        queries,
        RUN_CAPACITY,
    )
    .await
}

/// The options of a test run at `now`: no extended scrape and no secrets at all (not the
/// environment's: a developer's `GITHUB_TOKEN` must not change a test). Give secrets with
/// [`ImportOptions::with_secrets`] and a [`FixedSecrets`].
pub fn options(now: NaiveDateTime) -> ImportOptions {
    ImportOptions::new(now).with_secrets(Arc::new(FixedSecrets::new()))
}

/// [`run_importer`] with `options` (secrets, say, from [`options`] and
/// [`ImportOptions::with_secrets`]), for a run that may emit up to `capacity` records (they are
/// collected only once the run has finished: a run emitting more would wait forever).
pub async fn run_importer_with(
    importer: &dyn Importer,
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    options: ImportOptions,
    queries: bool,
    capacity: usize,
) -> Run {
    run_importer_scoped(importer, config, client, options, queries, capacity, None).await
}

/// [`run_importer_with`] with the links the tracker owns set on the context, as the crawl
/// does ([`bugimporters_core::Registry::link_scope`]): a record outside `scope` is dropped and
/// reported. `None` checks only the URL rules.
pub async fn run_importer_scoped(
    importer: &dyn Importer,
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    options: ImportOptions,
    queries: bool,
    capacity: usize,
    scope: Option<LinkScope>,
) -> Run {
    let (tx, mut rx) = tokio::sync::mpsc::channel(capacity);
    let mut ctx = ImportContext::new(
        &config.tracker_name,
        client,
        4,
        tx,
        options,
        &config.existing_bug_urls,
    );
    if let Some(scope) = scope {
        ctx = ctx.with_link_scope(scope);
    }
    let mut ok = true;
    if queries {
        if let Err(e) = importer.process_queries(&ctx).await {
            ok = false;
            ctx.report_error(e);
        }
    }
    if !config.existing_bug_urls.is_empty() {
        if let Err(e) = importer
            .process_existing_bugs(&ctx, &config.existing_bug_urls)
            .await
        {
            ok = false;
            ctx.report_error(e);
        }
    }
    let stats = ctx.finish(ok).await;
    drop(ctx);
    let mut bugs = Vec::new();
    while let Some(b) = rx.recv().await {
        bugs.push(b);
    }
    Run { bugs, stats }
}

/// `base` (a JSON object) with the members of `extra` (an object) added or replaced: a
/// fixture issue with a few fields changed.
pub fn with_members(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(o), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        o.extend(e);
    }
    base
}

/// The bug of a parsed issue element; panics, showing what it got, on anything else.
pub fn the_bug(
    item: Result<bugimporters_core::forge::IssueItem, bugimporters_core::Error>,
) -> ParsedBug {
    match item.expect("a parsed issue") {
        bugimporters_core::forge::IssueItem::Issue(b) => *b,
        other => panic!("not an issue: {other:?}"),
    }
}
