//! Running the importers.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::{FetchConfig, HttpClient};
use bugimporters_core::{
    load_config_str, BuiltImporter, ConfigFormat, Error, ImportContext, ImportOptions, LinkScope,
    ParsedBug, Registry, ReportedError, RunStats, TrackerConfig, TrackerStats,
};
use chrono::NaiveDateTime;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::report::{RunReport, TrackerReport};
use crate::shard::Shard;
use crate::writer::BugSink;

/// Options of a crawl.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CrawlOptions {
    /// Trackers crawled at once.
    pub concurrency: usize,
    /// The fetch layer's settings.
    pub fetch: FetchConfig,
    /// `last_polled` of every record (`None` = the current time).
    pub now: Option<NaiveDateTime>,
    /// Fill `raw_data` where the tracker supports it.
    pub extended_scrape: bool,
    /// Only these trackers (by name); empty = all.
    pub only: Vec<String>,
    /// This process's shard.
    pub shard: Shard,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Load and save conditional-request validators here.
    pub validators_file: Option<std::path::PathBuf>,
    /// Trackers already finished by an interrupted run (`--resume`): not crawled again.
    pub skip: HashSet<String>,
    /// For trackers an interrupted run left half done (`--resume`): the canonical links it
    /// already wrote, which are neither fetched nor written again.
    pub resume_written: HashMap<String, HashSet<String>>,
    /// Per-tracker deadline (`--tracker-timeout`): a tracker still running after it is
    /// abandoned; its records so far are kept, none of its deletions is written.
    pub tracker_timeout: Duration,
    /// Only the refresh of each record's `existing_bug_urls`: no query is run (what
    /// `bugimporters serve` does for a webhook's single-issue refresh).
    pub existing_only: bool,
    /// Where importers read credentials (`--secrets-file`, then the environment; the
    /// environment alone by default).
    pub secrets: std::sync::Arc<dyn bugimporters_core::secrets::SecretSource>,
    /// The scope of conditional-request validators ([`ImportOptions::validator_scope`]) for a
    /// crawl of one tracker; `None`: each tracker's name.
    pub validator_scope: Option<String>,
}

/// Default of [`CrawlOptions::tracker_timeout`]: one hour.
pub const DEFAULT_TRACKER_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            concurrency: 32,
            fetch: FetchConfig::default(),
            now: None,
            extended_scrape: false,
            only: Vec::new(),
            shard: Shard::ALL,
            progress: false,
            validators_file: None,
            skip: HashSet::new(),
            resume_written: HashMap::new(),
            tracker_timeout: DEFAULT_TRACKER_TIMEOUT,
            existing_only: false,
            secrets: std::sync::Arc::new(bugimporters_core::secrets::EnvSecrets),
            validator_scope: None,
        }
    }
}

/// Reads a configuration file: JSON when the name ends in `.json`, YAML otherwise (the
/// original's format; JSON is valid YAML too). `-` reads standard input.
pub fn load_config_file(path: &Path) -> Result<Vec<Result<TrackerConfig, Error>>, Error> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| Error::io("<stdin>", e))?
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?
    };
    let format = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        ConfigFormat::Json
    } else {
        ConfigFormat::Yaml
    };
    load_config_str(&text, format).map_err(|e| match e {
        Error::Config { message } => Error::config(format!("{}: {message}", path.display())),
        other => other,
    })
}

/// Runs every selected tracker and writes their bugs to `sink`.
///
/// One tracker's failure — a bad record, an unknown type or custom parser, a server that is
/// down, a parse error — is logged, counted in the report and never stops the others. Returns
/// `Err` only when the run as a whole cannot proceed (the HTTP client cannot be built, the
/// output cannot be written).
pub async fn run_crawl<S: BugSink + 'static>(
    registry: &Registry,
    configs: Vec<Result<TrackerConfig, Error>>,
    options: CrawlOptions,
    sink: S,
) -> Result<RunReport, Error> {
    let client = Arc::new(HttpClient::new(options.fetch.clone())?);
    run_crawl_with_client(registry, configs, options, sink, client).await
}

/// [`run_crawl`] with an HTTP client the caller owns (`options.fetch` is then unused), so
/// that several crawls at once share its per-host limits and counters — what
/// `bugimporters serve` does for all the runs of a process. The report's request counts are
/// the client's totals so far.
pub async fn run_crawl_with_client<S: BugSink + 'static>(
    registry: &Registry,
    configs: Vec<Result<TrackerConfig, Error>>,
    mut options: CrawlOptions,
    sink: S,
    client: Arc<HttpClient>,
) -> Result<RunReport, Error> {
    let started_at = Instant::now();
    let started = chrono::Utc::now().naive_utc();
    if let Some(path) = &options.validators_file {
        client.load_validators(path)?;
    }
    let now = options
        .now
        .unwrap_or_else(bugimporters_core::time::now_naive);
    let import_options = {
        let mut o = ImportOptions::new(now).with_secrets(options.secrets.clone());
        o.extended_scrape = options.extended_scrape;
        o.validator_scope.clone_from(&options.validator_scope);
        o
    };

    // Select this run's records: --tracker filter and shard.
    let selected: Vec<(usize, Result<TrackerConfig, Error>)> = configs
        .into_iter()
        .enumerate()
        .filter(|(_, c)| match c {
            Ok(c) => {
                (options.only.is_empty() || options.only.contains(&c.tracker_name))
                    && options.shard.contains(&c.tracker_name)
                    && !options.skip.contains(&c.tracker_name)
            }
            // A record that cannot be read is reported by shard 0 only (once), and never when
            // the user asked for named trackers.
            Err(_) => options.only.is_empty() && options.shard.index == 0,
        })
        .collect();

    let progress = if options.progress {
        let bar = ProgressBar::with_draw_target(
            Some(selected.len() as u64),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} trackers, {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    // One channel carries every tracker's records and, after a tracker's last record, its
    // "done" mark: FIFO order guarantees the mark follows all its records.
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let writer_progress = progress.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<u64, Error> {
        let mut sink: Box<dyn BugSink> = Box::new(sink);
        let mut n = 0u64;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Bug(bug) => {
                    sink.write_bug(&bug)?;
                    n += 1;
                    if n % 256 == 0 {
                        writer_progress.set_message(format!("{n} bugs"));
                    }
                }
                Msg::Done(name) => sink.tracker_done(&name)?,
            }
            // Caught up with the importers: hand what is buffered to the OS, so that a killed
            // crawl loses only the records of the moment and `--resume` keeps the rest.
            if rx.is_empty() {
                sink.flush()?;
            }
        }
        sink.finish()?;
        Ok(n)
    });

    let mut resume_written = std::mem::take(&mut options.resume_written);
    let mut reports: Vec<(usize, TrackerReport)> = futures::stream::iter(selected)
        .map(|(i, config)| {
            let written = config
                .as_ref()
                .ok()
                .and_then(|c| resume_written.remove(&c.tracker_name))
                .unwrap_or_default();
            let tx = tx.clone();
            let client = client.clone();
            let import_options = import_options.clone();
            let progress = progress.clone();
            let deadline = options.tracker_timeout;
            let existing_only = options.existing_only;
            async move {
                let report = run_one(
                    registry,
                    i,
                    config,
                    Setup {
                        client,
                        tx,
                        options: import_options,
                        written,
                        deadline,
                        existing_only,
                    },
                )
                .await;
                progress.inc(1);
                (i, report)
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| Error::config(format!("the writer task failed: {e}")))??;
    progress.finish_and_clear();
    reports.sort_by_key(|(i, _)| *i);
    let trackers: Vec<TrackerReport> = reports.into_iter().map(|(_, r)| r).collect();

    if let Some(path) = &options.validators_file {
        // Saved only now that the output is complete: a validator must never claim "unchanged"
        // for a bug whose record was lost.
        client.save_validators(path)?;
    }

    let counters = client.counters();
    let totals = RunStats {
        trackers: trackers.len() as u64,
        trackers_failed: trackers.iter().filter(|t| !t.ok).count() as u64,
        bugs_emitted: written,
        errors: trackers.iter().map(|t| t.errors.len() as u64).sum(),
    };
    Ok(RunReport {
        started: bugimporters_core::time::format_naive(&started),
        duration_s: started_at.elapsed().as_secs_f64(),
        shard: options.shard.to_string(),
        totals,
        http_requests: counters.requests,
        http_retries: counters.retries,
        credentials: bugimporters_core::merge_credential_uses(
            trackers.iter().flat_map(|t| t.credentials.iter()),
        ),
        trackers,
    })
}

// Nearly every message is a bug; boxing each one to shrink the rare `Done` would cost an
// allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Bug(ParsedBug),
    Done(String),
}

/// What one tracker's run gets from the crawl.
struct Setup {
    client: Arc<HttpClient>,
    tx: mpsc::Sender<Msg>,
    options: ImportOptions,
    written: HashSet<String>,
    deadline: Duration,
    existing_only: bool,
}

async fn run_one(
    registry: &Registry,
    index: usize,
    config: Result<TrackerConfig, Error>,
    setup: Setup,
) -> TrackerReport {
    let name = config.as_ref().map(|c| c.tracker_name.clone()).ok();
    let tx = setup.tx.clone();
    let report = run_tracker(registry, index, config, setup).await;
    if let Some(name) = name {
        // Only a tracker whose run ended is checkpointed; a failed one is crawled again on
        // --resume like any other, which is what a re-run would do.
        let _ = tx.send(Msg::Done(name)).await;
    }
    report
}

/// One tracker's run: build its importer, run it as a task of its own under its deadline,
/// and report.
async fn run_tracker(
    registry: &Registry,
    index: usize,
    config: Result<TrackerConfig, Error>,
    setup: Setup,
) -> TrackerReport {
    let started = Instant::now();
    let (config, built, scope) = match prepare(registry, index, config) {
        Ok(prepared) => prepared,
        Err((name, kind, e)) => return failed_report(name, kind, e, started),
    };
    let name = config.tracker_name.clone();
    let Setup {
        client,
        tx,
        options,
        written,
        deadline,
        existing_only,
    } = setup;
    let (ctx, forward) = start_context(&config, client, tx, options, written);
    let ctx = Arc::new(ctx.with_link_scope(scope));
    tracing::info!(tracker = %name, kind = built.kind, queries = config.queries.len(), existing = config.existing_bug_urls.len(), "crawl started");
    let (ok, abandoned) = run_within(
        &name,
        built.importer.clone(),
        ctx.clone(),
        config.existing_bug_urls.clone(),
        existing_only,
        deadline,
    )
    .await;
    let stats: TrackerStats = ctx.finish(ok).await;
    drop(ctx);
    let _ = forward.await;
    let ok = ok && stats.errors.is_empty();
    tracing::info!(tracker = %name, bugs = stats.bugs_emitted, errors = stats.errors.len(), requests = stats.requests, "crawl finished");
    TrackerReport {
        tracker_name: name,
        kind: Some(built.kind.to_owned()),
        ok,
        bugs_emitted: stats.bugs_emitted,
        no_update: stats.no_update,
        deleted: stats.deleted,
        deletions_withheld: stats.deletions_withheld,
        resumed: stats.resumed,
        requests: stats.requests,
        bytes: stats.bytes,
        errors: stats.errors,
        suppressed_errors: stats.suppressed_errors,
        truncated: stats.truncated,
        abandoned,
        warnings: stats.warnings,
        credentials: stats.credentials,
        duration_s: started.elapsed().as_secs_f64(),
    }
}

/// Why a tracker could not start: the name to report it under, its type when known, the error.
type NotStarted = (String, Option<String>, Error);

/// A record's importer and the links it may emit: a record for any other link is dropped and
/// reported (a hostile server must not write over another tracker's bugs).
fn prepare(
    registry: &Registry,
    index: usize,
    config: Result<TrackerConfig, Error>,
) -> Result<(TrackerConfig, BuiltImporter, LinkScope), NotStarted> {
    let config = config.map_err(|e| {
        tracing::error!(record = index + 1, error = %e, "unusable tracker record; skipped");
        (format!("record {}", index + 1), None, e)
    })?;
    let name = &config.tracker_name;
    let built = registry.build(&config).map_err(|e| {
        tracing::error!(tracker = %name, error = %e, "cannot build importer; tracker skipped");
        (name.clone(), None, e)
    })?;
    let scope = registry.link_scope(&config).map_err(|e| {
        tracing::error!(tracker = %name, error = %e, "cannot tell which links this tracker owns; tracker skipped");
        (name.clone(), Some(built.kind.to_owned()), e)
    })?;
    if !built.unknown_keys.is_empty() {
        tracing::warn!(tracker = %name, keys = ?built.unknown_keys, "keys this tracker type does not use (typos?)");
    }
    Ok((config, built, scope))
}

/// The tracker's context, and the task forwarding its records into the writer's channel
/// (done when the context is dropped).
fn start_context(
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    tx: mpsc::Sender<Msg>,
    options: ImportOptions,
    written: HashSet<String>,
) -> (ImportContext, tokio::task::JoinHandle<()>) {
    let name = &config.tracker_name;
    let (bug_tx, mut bug_rx) = mpsc::channel::<ParsedBug>(256);
    let forward = tokio::spawn(async move {
        while let Some(bug) = bug_rx.recv().await {
            if tx.send(Msg::Bug(bug)).await.is_err() {
                break;
            }
        }
    });
    let ctx = ImportContext::new(
        name,
        client,
        config.max_connections.unwrap_or(4),
        bug_tx,
        options,
        &config.existing_bug_urls,
    );
    if written.is_empty() {
        return (ctx, forward);
    }
    tracing::info!(tracker = %name, already_written = written.len(), "resuming a half-done tracker");
    (ctx.resuming(written), forward)
}

/// Runs the importer's entry points as a task of its own, so that a tracker busy with a
/// large page holds at most one worker thread of the runtime, never the other trackers of
/// the crawl; abandons it at `deadline`. Returns whether it succeeded and, when abandoned,
/// why (also reported to `ctx`).
async fn run_within(
    name: &str,
    importer: Arc<dyn bugimporters_core::Importer>,
    ctx: Arc<ImportContext>,
    existing: Vec<String>,
    existing_only: bool,
    deadline: Duration,
) -> (bool, Option<String>) {
    let mut work = tokio::spawn(run_entry_points(
        importer,
        ctx.clone(),
        existing,
        existing_only,
    ));
    match tokio::time::timeout(deadline, &mut work).await {
        Ok(Ok(ok)) => (ok, None),
        Ok(Err(join)) => {
            tracing::error!(tracker = %name, error = %join, "the importer panicked");
            ctx.report_error(Error::config(format!("the importer failed: {join}")));
            (false, None)
        }
        Err(_) => {
            work.abort();
            let _ = work.await;
            let e = Error::TrackerDeadline {
                limit_s: deadline.as_secs(),
            };
            let reason = e.to_string();
            tracing::warn!(tracker = %name, limit_s = deadline.as_secs(), "tracker abandoned at its deadline; records so far kept, deletions withheld");
            ctx.report_error(e);
            (false, Some(reason))
        }
    }
}

/// Runs both entry points of an importer (only the refresh of `existing` with
/// `existing_only`); `false` when one of them failed (reported).
async fn run_entry_points(
    importer: Arc<dyn bugimporters_core::Importer>,
    ctx: Arc<ImportContext>,
    existing: Vec<String>,
    existing_only: bool,
) -> bool {
    let mut ok = true;
    if existing_only {
        // Nothing to do but the refresh.
    } else if let Err(e) = importer.process_queries(&ctx).await {
        ok = false;
        ctx.report_error(e);
    }
    if !existing.is_empty() {
        if let Err(e) = importer.process_existing_bugs(&ctx, &existing).await {
            ok = false;
            ctx.report_error(e);
        }
    }
    ok
}

fn failed_report(name: String, kind: Option<String>, e: Error, started: Instant) -> TrackerReport {
    TrackerReport {
        tracker_name: name,
        kind,
        ok: false,
        bugs_emitted: 0,
        no_update: 0,
        deleted: 0,
        deletions_withheld: 0,
        resumed: 0,
        requests: 0,
        bytes: 0,
        errors: vec![ReportedError::new(&e)],
        suppressed_errors: 0,
        truncated: 0,
        abandoned: None,
        warnings: Vec::new(),
        credentials: Vec::new(),
        duration_s: started.elapsed().as_secs_f64(),
    }
}
