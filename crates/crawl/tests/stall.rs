//! The per-tracker deadline (`--tracker-timeout`) and the output line cap, through a whole
//! crawl with the test-only `testkit` tracker against wiremock on loopback.

use std::time::Duration;

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::{limits, load_config_str, ConfigFormat, ParsedBug, Registry};
use bugimporters_crawl::{run_crawl, BugSink, CrawlOptions, JsonLinesWriter, VecSink};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn registry() -> Registry {
    let mut r = Registry::new();
    bugimporters_testkit::register(&mut r);
    r
}

fn page(bugs: &[ParsedBug], next: Option<String>) -> ResponseTemplate {
    let body = serde_json::json!({ "bugs": bugs, "next": next });
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn a_tracker_past_its_deadline_is_abandoned_keeping_its_records_and_deleting_nothing() {
    let server = MockServer::start().await;
    let base = server.uri();
    let held = format!("{base}/bug/2");
    let mut gone = ParsedBug::new(&held);
    gone.deleted = true;
    Mock::given(path("/q1"))
        .respond_with(page(
            &[ParsedBug::new(format!("{base}/bug/1")), gone],
            Some(format!("{base}/q2")),
        ))
        .mount(&server)
        .await;
    // The second page never comes in time.
    Mock::given(path("/q2"))
        .respond_with(page(&[], None).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let config = format!(
        "- tracker_name: Slow\n  bugimporter: testkit\n  queries: ['{base}/q1']\n  existing_bug_urls: ['{held}']\n"
    );
    let configs = load_config_str(&config, ConfigFormat::Yaml).unwrap();
    let mut options = CrawlOptions::default();
    options.fetch = FetchConfig::for_loopback_tests();
    options.tracker_timeout = Duration::from_secs(1);
    let sink = VecSink::new();
    let report = run_crawl(&registry(), configs, options, sink.clone())
        .await
        .unwrap();
    let t = &report.trackers[0];
    assert!(!t.ok);
    let why = t.abandoned.as_deref().expect("the report says why");
    assert!(why.contains("--tracker-timeout"), "{why}");
    assert!(t
        .errors
        .iter()
        .any(|e| e.temporary && e.reason.contains("abandoned")));
    let bugs = sink.bugs();
    assert_eq!(
        bugs.len(),
        1,
        "the record written before the deadline is kept"
    );
    assert_eq!(bugs[0].canonical_bug_link, format!("{base}/bug/1"));
    assert!(bugs.iter().all(|b| !b.deleted), "no held bug is deleted");
    assert_eq!((t.deleted, t.deletions_withheld), (0, 1));
    assert!(report.has_failures());
}

#[test]
fn the_writer_never_writes_a_line_over_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let mut writer = JsonLinesWriter::create(&out).unwrap();
    // A record that did not go through `ImportContext::emit` (an embedder's own sink input).
    let mut bug = ParsedBug::new("http://t/1");
    bug.description = Some("&amp;".repeat(4 * limits::MAX_LINE_BYTES / 5));
    bug.title = Some("\u{1}".repeat(3 * limits::MAX_TITLE_BYTES));
    writer.write_bug(&bug).unwrap();
    Box::new(writer).finish().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let line = text.lines().next().unwrap();
    assert!(line.len() <= limits::MAX_LINE_BYTES, "{}", line.len());
    let back: ParsedBug = serde_json::from_str(line).unwrap();
    assert!(back
        .description
        .unwrap()
        .ends_with(limits::TRUNCATION_MARKER));
}
