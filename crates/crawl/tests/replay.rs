//! A whole crawl from a hand-made replay directory, with the test-only `testkit` tracker.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::Registry;
use bugimporters_crawl::{load_config_file, run_crawl, CrawlOptions, JsonLinesWriter};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/testkit/replay")
}

fn registry() -> Registry {
    let mut r = Registry::new();
    bugimporters_testkit::register(&mut r);
    r
}

fn options() -> CrawlOptions {
    let mut fetch = FetchConfig::default();
    fetch.replay_dir = Some(fixtures());
    let mut o = CrawlOptions::default();
    o.fetch = fetch;
    o.now = bugimporters_core::time::parse_datetime("2020-01-02T03:04:05");
    o
}

#[tokio::test]
async fn replayed_crawl_writes_expected_lines_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bugs.jsonl");
    let configs = load_config_file(&fixtures().join("config.yaml")).unwrap();
    let writer = JsonLinesWriter::create(&out).unwrap();
    let report = run_crawl(&registry(), configs, options(), writer)
        .await
        .unwrap();

    // Lines are written as importers emit them, so compare as sets of exact lines.
    let got: BTreeSet<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let want: BTreeSet<String> = std::fs::read_to_string(fixtures().join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(got, want);

    // bug/2 was named by the query and the existing list: emitted once, no request for it.
    assert_eq!(report.totals.bugs_emitted, 5);
    let main = &report.trackers[0];
    assert_eq!(main.tracker_name, "Main");
    assert_eq!(main.deleted, 1);
    assert_eq!(main.errors.len(), 1, "{:?}", main.errors);
    assert_eq!(
        main.errors[0].url.as_deref(),
        Some("http://tracker.test/bug/404")
    );
    assert!(main.errors[0].reason.contains("not in the replay index"));

    let unknown = &report.trackers[1];
    assert!(!unknown.ok);
    assert!(unknown.errors[0].reason.contains("nonexistent.Importer"));
    assert!(
        unknown.errors[0].reason.contains("testkit"),
        "lists known types"
    );

    assert!(report.trackers[2].ok);
    let flaky = &report.trackers[3];
    assert!(!flaky.ok);
    assert_eq!(flaky.deleted, 0, "a failed tracker run never deletes");
    assert_eq!(flaky.deletions_withheld, 1);
    assert!(report.has_failures());
}

#[tokio::test]
async fn tracker_filter_and_shards() {
    let configs = load_config_file(&fixtures().join("config.yaml")).unwrap();
    let mut o = options();
    o.only = vec!["Other".to_owned()];
    let sink = bugimporters_crawl::VecSink::new();
    let report = run_crawl(&registry(), configs, o, sink.clone())
        .await
        .unwrap();
    assert_eq!(report.trackers.len(), 1);
    assert_eq!(sink.bugs().len(), 1);
    assert!(!report.has_failures());

    // Every tracker lands in exactly one of three shards.
    let mut names = Vec::new();
    for k in 0..3 {
        let configs = load_config_file(&fixtures().join("config.yaml")).unwrap();
        let mut o = options();
        o.shard = format!("{k}/3").parse().unwrap();
        let report = run_crawl(&registry(), configs, o, bugimporters_crawl::VecSink::new())
            .await
            .unwrap();
        names.extend(report.trackers.into_iter().map(|t| t.tracker_name));
    }
    names.sort();
    assert_eq!(names, ["Flaky", "Main", "Other", "Unknown type"]);
}

/// `existing_only` (a webhook's refresh in `bugimporters serve`): no query runs; only the
/// held links are asked for, each on its own.
#[tokio::test]
async fn existing_only_skips_the_queries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bugs.jsonl");
    let configs = load_config_file(&fixtures().join("config.yaml")).unwrap();
    let writer = JsonLinesWriter::create(&out).unwrap();
    let mut options = options();
    options.only = vec!["Main".to_owned()];
    options.existing_only = true;
    let report = run_crawl(&registry(), configs, options, writer)
        .await
        .unwrap();
    let links: BTreeSet<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["canonical_bug_link"].as_str().unwrap().to_owned()
        })
        .collect();
    // bug/1 and bug/3, which only the query names, are not there; bug/2 is, fetched alone.
    let want: BTreeSet<String> = ["http://tracker.test/bug/2", "http://tracker.test/bug/9"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(links, want);
    assert_eq!(report.trackers[0].requests, 3, "{:?}", report.trackers[0]);
}
