//! `bench github-cost`: what a GitHub host of many small repositories pays in rate-limit
//! points (issue 18), on `bugimporters_testkit::github_cost` (a server that charges like
//! GitHub): a first crawl of every repository, then a refresh after some of them changed,
//! both through the crawl engine with a `--state` file, for each token-pool size.

use std::time::{Duration, Instant};

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_crawl::{run_crawl, CrawlOptions, VecSink};
use bugimporters_testkit::github_cost::{CostConfig, GitHubCostServer};

/// `bench github-cost` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Repositories (one `github` tracker each).
    #[arg(long, default_value_t = 10_000)]
    repos: usize,
    /// Per cent of the repositories changed before the refresh.
    #[arg(long, default_value_t = 5)]
    changed_percent: usize,
    /// Token-pool sizes to run.
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    tokens: Vec<usize>,
    /// Points of a token per window (GitHub: 5000 an hour).
    #[arg(long, default_value_t = 5000)]
    points_per_token: u64,
    /// The rate-limit window in seconds (GitHub: 3600; shortened so that a one-token run
    /// waits for a reset within the crawl's `max_wait`).
    #[arg(long, default_value_t = 10)]
    window_secs: u64,
    /// Requests in flight per host (the crawl's `--per-host`).
    #[arg(long, default_value_t = 16)]
    per_host: usize,
    /// Trackers crawled at once (the crawl's `--concurrency`; GraphQL batches only the
    /// repositories whose trackers run at the same time).
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// How the open issues are listed: `rest`, `graphql` (`github_api: graphql`) or `both`.
    #[arg(long, default_value = "rest", value_parser = ["rest", "graphql", "both"])]
    api: String,
}

const TOKEN_ENV: &str = "BENCH_GITHUB_COST_TOKENS";

struct Phase {
    points: u64,
    requests: u64,
    graphql: u64,
    not_modified: u64,
    wall: Duration,
    bugs: usize,
    failed_trackers: usize,
}

async fn crawl(
    server: &GitHubCostServer,
    text: &str,
    state: &std::path::Path,
    a: &Args,
    secrets: std::sync::Arc<bugimporters_core::secrets::FixedSecrets>,
) -> anyhow::Result<Phase> {
    let registry = bugimporters_all::default_registry();
    let mut options = CrawlOptions::default();
    options.secrets = secrets;
    options.fetch = FetchConfig::for_loopback_tests();
    options.fetch.per_host_limit = a.per_host;
    options.concurrency = a.concurrency;
    options.fetch.max_wait = Duration::from_secs(120);
    options.validators_file = Some(state.to_path_buf());
    let before = server.stats();
    let sink = VecSink::new();
    let started = Instant::now();
    let report = run_crawl(
        &registry,
        load_config_str(text, ConfigFormat::Json)?,
        options,
        sink.clone(),
    )
    .await?;
    let wall = started.elapsed();
    let after = server.stats();
    Ok(Phase {
        points: after.points - before.points,
        requests: after.requests - before.requests,
        graphql: after.graphql_queries - before.graphql_queries,
        not_modified: after.not_modified - before.not_modified,
        wall,
        bugs: sink.bugs().len(),
        failed_trackers: report.trackers.iter().filter(|t| !t.ok).count(),
    })
}

fn row(api: &str, label: &str, tokens: usize, p: &Phase) {
    println!(
        "| {api} | {label} | {tokens} | {} | {} ({} GraphQL) | {} | {:.2} s | {} | {} |",
        p.points,
        p.requests,
        p.graphql,
        p.not_modified,
        p.wall.as_secs_f64(),
        p.bugs,
        p.failed_trackers
    );
}

/// Runs the benchmark and prints a Markdown table.
pub async fn run(a: Args) -> anyhow::Result<()> {
    println!(
        "{} repositories, {} % changed before the refresh, {} points per token per {} s window, {} in flight per host, {} trackers at once",
        a.repos, a.changed_percent, a.points_per_token, a.window_secs, a.per_host, a.concurrency
    );
    println!("| API | phase | tokens | points | requests | 304s | wall | bugs | failed trackers |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let apis: &[&str] = match a.api.as_str() {
        "both" => &["rest", "graphql"],
        "graphql" => &["graphql"],
        _ => &["rest"],
    };
    for api in apis {
        for &n in &a.tokens {
            run_one(&a, api, n).await?;
        }
    }
    Ok(())
}

/// One API and pool size: a first crawl, then a refresh after `changed_percent` changed.
async fn run_one(a: &Args, api: &str, n: usize) -> anyhow::Result<()> {
    let mut cfg = CostConfig::default();
    cfg.repos = a.repos;
    cfg.points_per_token = a.points_per_token;
    cfg.window = Duration::from_secs(a.window_secs);
    let server = GitHubCostServer::start(cfg).await?;
    let tokens: Vec<String> = (0..n).map(|i| format!("bench-token-{i}")).collect();
    let secrets = std::sync::Arc::new(
        bugimporters_core::secrets::FixedSecrets::new().with(TOKEN_ENV, &tokens.join(",")),
    );
    let text = server.tracker_configs_api(a.repos, TOKEN_ENV, api);
    let dir = std::env::temp_dir().join(format!(
        "bench-github-cost-{}-{api}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);

    let first = crawl(&server, &text, &state, a, secrets.clone()).await?;
    row(api, "first crawl", n, &first);
    let changed = a.repos * a.changed_percent / 100;
    // Spread over the repositories: every (100 / percent)-th one.
    let step = (a.repos / changed.max(1)).max(1);
    for i in (0..a.repos).step_by(step).take(changed) {
        server.touch(i);
    }
    let refresh = crawl(&server, &text, &state, a, secrets.clone()).await?;
    row(api, &format!("refresh, {changed} changed"), n, &refresh);
    let ratio = refresh.points as f64 / changed.max(1) as f64;
    let uses: Vec<String> = tokens
        .iter()
        .map(|t| format!("{}", server.token_use(t).total))
        .collect();
    println!(
        "| {api} |   refresh points / changed repositories = {ratio:.3}; points per token (both phases): {} | | | | | | | |",
        uses.join(" / ")
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
