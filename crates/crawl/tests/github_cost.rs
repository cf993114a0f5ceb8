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

/// A crawl of `text` with `concurrency` trackers at once: the report and every record.
async fn crawl_with(
    text: &str,
    state: Option<&std::path::Path>,
    secrets: Arc<FixedSecrets>,
    concurrency: usize,
) -> (RunReport, Vec<bugimporters_core::ParsedBug>) {
    let registry = bugimporters_all::default_registry();
    let mut options = CrawlOptions::default();
    options.secrets = secrets;
    options.fetch = FetchConfig::for_loopback_tests();
    options.concurrency = concurrency;
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
    (report, sink.bugs())
}

async fn crawl(
    text: &str,
    state: Option<&std::path::Path>,
    secrets: Arc<FixedSecrets>,
) -> (RunReport, Vec<String>) {
    let (report, bugs) = crawl_with(text, state, secrets, 4).await;
    let mut links: Vec<String> = bugs
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

/// The configurations of [`configs`] with each query carrying `last_polled` (as the host
/// exports them once it has imported a run, and as `serve` crawls): the importer adds
/// `since=` to them, a new URL each run.
fn configs_polled(server: &GitHubCostServer, repos: usize, last_polled: &str) -> String {
    let mut records: serde_json::Value = serde_json::from_str(&configs(server, repos)).unwrap();
    for r in records.as_array_mut().unwrap() {
        let url = r["queries"][0].as_str().unwrap().to_owned();
        r["queries"] = serde_json::json!([{ "url": url, "last_polled": last_polled }]);
    }
    records.to_string()
}

/// Queries with `last_polled` (so `since=` URLs, new every run) still cost nothing for an
/// unchanged repository: the importer asks for their stable, sorted stand-in conditionally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_queries_spend_points_only_on_the_repositories_that_changed() {
    let secrets = tokens(TOKEN_ENV, "tok-crawl-since");
    let mut cfg = CostConfig::default();
    cfg.repos = 20;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let all: u64 = (0..20).map(|i| server.issues_of(i)).sum();

    let text = configs_polled(&server, 20, "2000-01-01T00:00:00");
    let (first, links) = crawl(&text, Some(&state), secrets.clone()).await;
    assert_eq!(first.trackers.iter().filter(|t| !t.ok).count(), 0);
    assert_eq!(
        links.len() as u64,
        all,
        "every issue is newer than last_polled"
    );
    let after_first = server.stats();
    assert_eq!(after_first.points, 20, "one page per repository");

    server.touch(5);
    server.touch(17);
    // The host imported the first run: the queries' `since=` moves.
    let text = configs_polled(&server, 20, "2000-01-02T00:00:00");
    let (_, links) = crawl(&text, Some(&state), secrets).await;
    let second = server.stats();
    assert_eq!(
        second.points - after_first.points,
        2,
        "only the changed ones"
    );
    assert_eq!(second.not_modified - after_first.not_modified, 18);
    assert_eq!(
        links.len() as u64,
        server.issues_of(5) + server.issues_of(17)
    );
    assert!(links
        .iter()
        .all(|l| l.contains("/r00005/") || l.contains("/r00017/")));
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

/// A crawl of `text` (no state file) returning the report and every record, `last_polled`
/// cleared (the two runs poll at different times), sorted by link.
async fn crawl_records(
    text: &str,
    secrets: Arc<FixedSecrets>,
) -> (RunReport, Vec<bugimporters_core::ParsedBug>) {
    let (report, mut bugs) = crawl_with(text, None, secrets, 64).await;
    for b in &mut bugs {
        b.last_polled = None;
    }
    bugs.sort_by(|a, b| a.canonical_bug_link.cmp(&b.canonical_bug_link));
    (report, bugs)
}

/// Both crawls wrote `all` records, equal field by field.
fn assert_same_records(
    rest: &[bugimporters_core::ParsedBug],
    gql: &[bugimporters_core::ParsedBug],
    all: u64,
) {
    assert_eq!(rest.len() as u64, all);
    assert_eq!(gql.len(), rest.len());
    for (r, g) in rest.iter().zip(gql) {
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::to_value(g).unwrap()
        );
    }
}

/// `configs` of `repos` repositories with `github_api: api`, plus one tracker of a
/// repository the server does not have (`org/r99999`).
fn configs_api(server: &GitHubCostServer, repos: usize, token_env: &str, api: &str) -> String {
    let mut records: Vec<serde_json::Value> =
        serde_json::from_str(&server.tracker_configs_api(repos, token_env, api)).unwrap();
    let mut missing = records[0].clone();
    missing["tracker_name"] = "missing".into();
    missing["github_repo"] = "r99999".into();
    missing["queries"] = serde_json::json!([format!(
        "{}/repos/org/r99999/issues?state=open",
        server.api_url()
    )]);
    records.push(missing);
    serde_json::Value::Array(records).to_string()
}

/// The same server state read through REST and through GraphQL gives the same records,
/// field by field (labels → bite-sized/documentation, assignees → `assigned`, people,
/// authors, dates), and a repository that does not exist fails its tracker alone, naming
/// it, in both. GraphQL batches the repositories and spends fewer points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_and_rest_give_the_same_records() {
    const REPOS: usize = 30;
    let mut cfg = CostConfig::default();
    cfg.repos = REPOS;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let all: u64 = (0..REPOS).map(|i| server.issues_of(i)).sum();

    let before = server.stats();
    let (rest_report, rest) = crawl_records(
        &configs_api(&server, REPOS, TOKEN_ENV, "rest"),
        tokens(TOKEN_ENV, "tok-eq-rest"),
    )
    .await;
    let after_rest = server.stats();
    let (gql_report, gql) = crawl_records(
        &configs_api(&server, REPOS, TOKEN_ENV, "graphql"),
        tokens(TOKEN_ENV, "tok-eq-graphql"),
    )
    .await;
    let after_gql = server.stats();

    assert_same_records(&rest, &gql, all);
    assert!(rest.iter().any(|b| b.good_for_newcomers == Some(true)));
    assert!(rest.iter().any(|b| b.good_for_newcomers == Some(false)));
    assert!(rest
        .iter()
        .any(|b| b.concerns_just_documentation == Some(true)));
    assert!(rest.iter().any(|b| b.assigned == Some(true)));
    assert!(rest.iter().any(|b| b.assigned == Some(false)));

    for report in [&rest_report, &gql_report] {
        let failed: Vec<_> = report.trackers.iter().filter(|t| !t.ok).collect();
        assert_eq!(failed.len(), 1, "only the missing repository fails");
        assert_eq!(failed[0].tracker_name, "missing");
        let reason = &failed[0].errors[0];
        assert!(
            reason.url.as_deref().unwrap_or("").contains("r99999")
                || reason.reason.contains("r99999"),
            "{reason:?}"
        );
    }
    assert!(gql_report.trackers[REPOS].errors[0]
        .reason
        .contains("NOT_FOUND"));

    let rest_points = after_rest.points - before.points;
    let gql_points = after_gql.points - after_rest.points;
    assert_eq!(rest_points, REPOS as u64, "one page per repository");
    let queries = after_gql.graphql_queries - after_rest.graphql_queries;
    assert!(
        queries > 0 && queries < REPOS as u64 / 2,
        "batched: {after_gql:?}"
    );
    assert_eq!(after_rest.graphql_queries, before.graphql_queries);
    assert!(gql_points < rest_points, "{gql_points} vs {rest_points}");
    assert_eq!(server.token_use("tok-eq-graphql").total, gql_points);
}

/// The run report names each token by a fingerprint (never the token), with the requests
/// sent with it and its last remaining count and reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_report_shows_per_token_use_without_the_tokens() {
    let mut cfg = CostConfig::default();
    cfg.repos = 9;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let env = "BI_CRAWL_COST_TEST_REPORT";
    let (report, _) = crawl(
        &configs_with(&server, 9, env),
        None,
        tokens(env, "report-tok-one,report-tok-two,report-tok-three"),
    )
    .await;
    assert_eq!(report.credentials.len(), 3, "{:?}", report.credentials);
    let sent: u64 = report.credentials.iter().map(|c| c.requests).sum();
    assert_eq!(sent, 9);
    for c in &report.credentials {
        assert!(c.credential.starts_with('#'), "{c:?}");
        let used = ["report-tok-one", "report-tok-two", "report-tok-three"]
            .iter()
            .map(|t| server.token_use(t))
            .find(|u| u.total == c.requests && 5000 - u.used == c.remaining.unwrap_or(0));
        assert!(used.is_some(), "{c:?}");
        assert!(c.reset_epoch.is_some());
    }
    let per_tracker: u64 = report
        .trackers
        .iter()
        .flat_map(|t| t.credentials.iter())
        .map(|c| c.requests)
        .sum();
    assert_eq!(per_tracker, 9);
    let text = report.to_json_pretty();
    assert!(!text.contains("report-tok"), "{text}");
    assert!(text.contains("\"credentials\""));
}

/// Repositories of more than a page: GraphQL continues each with its own cursor (50
/// continuations of 100 issues would pass GitHub's node limit, which the server enforces:
/// the batches are cut below it) and still gives REST's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_pages_big_repositories_like_rest() {
    const REPOS: usize = 60;
    let mut cfg = CostConfig::default();
    cfg.repos = REPOS;
    cfg.min_issues = 150;
    cfg.max_issues = 230;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let all: u64 = (0..REPOS).map(|i| server.issues_of(i)).sum();
    let env = "BI_CRAWL_COST_TEST_BIG";
    let (rest_report, rest) = crawl_records(
        &server.tracker_configs_api(REPOS, env, "rest"),
        tokens(env, "tok-big-rest"),
    )
    .await;
    let (gql_report, gql) = crawl_records(
        &server.tracker_configs_api(REPOS, env, "graphql"),
        tokens(env, "tok-big-graphql"),
    )
    .await;
    for report in [&rest_report, &gql_report] {
        let failed: Vec<_> = report.trackers.iter().filter(|t| !t.ok).collect();
        assert!(failed.is_empty(), "{failed:?}");
    }
    assert_same_records(&rest, &gql, all);
}

/// `github_api: graphql` leaves a listing REST already walked (its validators are in the
/// state file) to REST: an unchanged repository answers `304` for nothing, where a GraphQL
/// answer would cost again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_leaves_listings_with_validators_to_rest() {
    let mut cfg = CostConfig::default();
    cfg.repos = 8;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let env = "BI_CRAWL_COST_TEST_SWITCH";
    let secrets = tokens(env, "tok-switch");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    crawl(
        &server.tracker_configs_api(8, env, "rest"),
        Some(&state),
        secrets.clone(),
    )
    .await;
    server.touch(2);
    let before = server.stats();
    let (report, links) = crawl(
        &server.tracker_configs_api(8, env, "graphql"),
        Some(&state),
        secrets,
    )
    .await;
    let after = server.stats();
    assert!(report.trackers.iter().all(|t| t.ok));
    assert_eq!(after.graphql_queries, before.graphql_queries, "no GraphQL");
    assert_eq!(after.not_modified - before.not_modified, 7);
    assert_eq!(
        after.points - before.points,
        1,
        "only the changed repository"
    );
    assert_eq!(links.len() as u64, server.issues_of(2));
}
