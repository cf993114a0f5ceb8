//! Conditional requests across runs (`--state`) on a server that charges like GitHub
//! (`bugimporters_testkit::github_cost`): a refresh spends points only on the repositories
//! that changed, and a `304` listing page neither re-emits nor deletes anything.

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_crawl::{run_crawl, CrawlOptions, RunReport, VecSink};
use bugimporters_testkit::github_cost::{CostConfig, GitHubCostServer};

const TOKEN_ENV: &str = "BI_CRAWL_COST_TEST_TOKEN";

/// One `github` tracker per repository, each with one open-issues query.
fn configs(server: &GitHubCostServer, repos: usize) -> String {
    let records: Vec<serde_json::Value> = (0..repos)
        .map(|i| {
            let repo = server.repo(i);
            serde_json::json!({
                "tracker_name": format!("repo {i}"),
                "bugimporter": "github",
                "github_name": server.owner(),
                "github_repo": repo,
                "api_url": server.api_url(),
                "token_env": TOKEN_ENV,
                "bitesized_tag": "good first issue",
                "documentation_tag": "documentation",
                "queries": [format!("{}/repos/org/{repo}/issues?state=open", server.api_url())],
            })
        })
        .collect();
    serde_json::to_string(&records).unwrap()
}

async fn crawl(text: &str, state: Option<&std::path::Path>) -> (RunReport, Vec<String>) {
    let registry = bugimporters_all::default_registry();
    let mut options = CrawlOptions::default();
    options.fetch = FetchConfig::for_loopback_tests();
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
    std::env::set_var(TOKEN_ENV, "tok-crawl-cost");
    let mut cfg = CostConfig::default();
    cfg.repos = 20;
    let server = GitHubCostServer::start(cfg).await.unwrap();
    let text = configs(&server, 20);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let all: u64 = (0..20).map(|i| server.issues_of(i)).sum();

    let (first, links) = crawl(&text, Some(&state)).await;
    assert_eq!(first.trackers.iter().filter(|t| !t.ok).count(), 0);
    assert_eq!(links.len() as u64, all);
    let after_first = server.stats();
    assert_eq!(after_first.points, 20, "one page per repository");
    assert_eq!(server.token_use("tok-crawl-cost").total, 20);

    server.touch(3);
    server.touch(11);
    let (_, links) = crawl(&text, Some(&state)).await;
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
    crawl(&text, None).await;
    assert_eq!(server.stats().points - before, 20);
}
