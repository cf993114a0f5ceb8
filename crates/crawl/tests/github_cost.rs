//! Conditional requests across runs (`--state`) on a server that charges like GitHub
//! (`bugimporters_testkit::github_cost`): a refresh spends points only on the repositories
//! that changed, and a `304` listing page neither re-emits nor deletes anything.

use std::sync::Arc;

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::secrets::FixedSecrets;
use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_crawl::{run_crawl, CrawlOptions, RunReport, VecSink};
use bugimporters_testkit::github_cost::{CostConfig, GitHubCostServer};

const TOKEN_ENV: &str = "BI_CRAWL_COST_TEST_TOKEN";
const POOL_ENV: &str = "BI_CRAWL_COST_TEST_POOL";

/// One `github` tracker per repository, each with one open-issues query.
fn configs(server: &GitHubCostServer, repos: usize) -> String {
    server.tracker_configs(repos, TOKEN_ENV)
}

fn configs_with(server: &GitHubCostServer, repos: usize, token_env: &str) -> String {
    server.tracker_configs(repos, token_env)
}

/// The token variable `name` holding `tokens`, comma-separated.
fn tokens(name: &str, tokens: &str) -> Arc<FixedSecrets> {
    Arc::new(FixedSecrets::new().with(name, tokens))
}

async fn crawl(
    text: &str,
    state: Option<&std::path::Path>,
    secrets: Arc<FixedSecrets>,
) -> (RunReport, Vec<String>) {
    let registry = bugimporters_all::default_registry();
    let mut options = CrawlOptions::default();
    options.secrets = secrets;
    options.fetch = FetchConfig::for_loopback_tests();
    options.concurrency = 4;
    options.validators_file = state.map(std::path::Path::to_path_buf);
    let sink = VecSink::new();
    let report = run_crawl(
        &registry,
        load_config_str(text, ConfigFormat::Json).unwrap(),
        options,
        sink.clone(),
    )
    .await
    .unwrap();
    let mut links: Vec<String> = sink
        .bugs()
        .into_iter()
        .map(|b| {
            assert!(!b.deleted, "nothing is deleted: {}", b.canonical_bug_link);
            b.canonical_bug_link
        })
        .collect();
    links.sort();
    (report, links)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_spends_points_only_on_the_repositories_that_changed() {
    let secrets = tokens(TOKEN_ENV, "tok-crawl-cost");
    let mut cfg = CostConfig::default();
    cfg.repos = 20;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let text = configs(&server, 20);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let all: u64 = (0..20).map(|i| server.issues_of(i)).sum();

    let (first, links) = crawl(&text, Some(&state), secrets.clone()).await;
    assert_eq!(first.trackers.iter().filter(|t| !t.ok).count(), 0);
    assert_eq!(links.len() as u64, all);
    let after_first = server.stats();
    assert_eq!(after_first.points, 20, "one page per repository");
    assert_eq!(server.token_use("tok-crawl-cost").total, 20);

    server.touch(3);
    server.touch(11);
    let (_, links) = crawl(&text, Some(&state), secrets.clone()).await;
    let second = server.stats();
    assert_eq!(
        second.points - after_first.points,
        2,
        "only the changed repositories"
    );
    assert_eq!(second.not_modified - after_first.not_modified, 18);
    // The changed repositories' issues are emitted (the host tells changed from unchanged);
    // a 304 page emits nothing.
    assert_eq!(
        links.len() as u64,
        server.issues_of(3) + server.issues_of(11)
    );
    assert!(links
        .iter()
        .all(|l| l.contains("/r00003/") || l.contains("/r00011/")));

    // Without the state file every repository costs again.
    let before = server.stats().points;
    crawl(&text, None, secrets).await;
    assert_eq!(server.stats().points - before, 20);
}

/// Three tokens of 10 points for 24 repositories (a tracker each): the trackers spend them as
/// one pool, the fullest first, and nobody waits or is refused while a token has points.
/// Two tokens for 24 repositories: a wait for the reset, only once both are spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trackers_spend_the_tokens_as_one_pool_fullest_first() {
    let mut cfg = CostConfig::default();
    cfg.repos = 24;
    cfg.points_per_token = 10;
    cfg.window = std::time::Duration::from_secs(2);
    let server = GitHubCostServer::start(cfg.clone()).await.unwrap();
    let (report, _) = crawl(
        &configs_with(&server, 24, POOL_ENV),
        None,
        tokens(POOL_ENV, "pool-a,pool-b,pool-c"),
    )
    .await;
    assert_eq!(report.trackers.iter().filter(|t| !t.ok).count(), 0);
    let uses: Vec<_> = ["pool-a", "pool-b", "pool-c"]
        .iter()
        .map(|t| server.token_use(t))
        .collect();
    assert_eq!(uses.iter().map(|u| u.total).sum::<u64>(), 24);
    assert!(uses.iter().all(|u| u.refused == 0), "{uses:?}");
    assert!(
        uses.iter().all(|u| u.total >= 6),
        "spread, fullest first: {uses:?}"
    );

    // Two tokens, 20 points, 24 repositories: the last ones wait for a reset.
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let started = std::time::Instant::now();
    let (report, links) = crawl(
        &configs_with(&server, 24, POOL_ENV),
        None,
        tokens(POOL_ENV, "pool-d,pool-e"),
    )
    .await;
    assert_eq!(report.trackers.iter().filter(|t| !t.ok).count(), 0);
    let all: u64 = (0..24).map(|i| server.issues_of(i)).sum();
    assert_eq!(links.len() as u64, all);
    let (d, e) = (server.token_use("pool-d"), server.token_use("pool-e"));
    assert_eq!(d.total + e.total, 24);
    assert!(
        d.total >= 10 && e.total >= 10,
        "both spent before waiting: {d:?} {e:?}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "waited for a reset"
    );
}
