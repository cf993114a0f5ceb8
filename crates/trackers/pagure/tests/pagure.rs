//! The Pagure importer against wiremock, and the parsers on `fixtures/pagure/`.
//!
//! Every test names its own token variable (`token_env`) so that tests running in parallel
//! never see each other's environment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{ImportOptions, ParseInput, ParseOutput, Query, Registry, TrackerConfig};
use bugimporters_pagure::{
    parse_issue, parse_issue_list, IssueItem, PagureImporter, ParseSettings,
};
use bugimporters_testkit::forge::{self, FixedSecrets, Run, RUN_CAPACITY};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ISSUES: &str = "/api/0/fedora-infra/rota/issues";
const ISSUE: &str = "/api/0/fedora-infra/rota/issue";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/pagure/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A fixture with its `https://pagure.example` links moved onto the mock server.
fn fixture_on(name: &str, base: &str) -> Vec<u8> {
    String::from_utf8(fixture(name))
        .unwrap()
        .replace("https://pagure.example", base)
        .into_bytes()
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

fn config(base: &str, tag: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Rota", "pagure");
    c.base_url = base.to_owned();
    for (k, v) in [
        ("project", "fedora-infra/rota".to_owned()),
        ("bitesized_tag", "easyfix".to_owned()),
        ("documentation_tag", "docs".to_owned()),
        ("token_env", format!("PG_TEST_{tag}_TOKEN")),
    ] {
        c.extra.insert(k.to_owned(), Value::String(v));
    }
    c
}

fn link(base: &str, n: u32) -> String {
    format!("{base}/fedora-infra/rota/issue/{n}")
}

async fn run_with(config: &TrackerConfig, queries: bool) -> Run {
    run_with_secrets(config, queries, FixedSecrets::new()).await
}

async fn run_with_secrets(config: &TrackerConfig, queries: bool, secrets: FixedSecrets) -> Run {
    let importer = PagureImporter::new(config).unwrap();
    let options = forge::options(now()).with_secrets(Arc::new(secrets));
    forge::run_importer_with(&importer, config, client(), options, queries, RUN_CAPACITY).await
}

async fn run(config: &TrackerConfig) -> Run {
    run_with(config, true).await
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn json_body(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

#[test]
fn fixture_issue_parses_to_every_field() {
    let settings = ParseSettings::new("Rota", "Rota", "easyfix", "docs");
    let IssueItem::Issue(bug) =
        parse_issue(&fixture("issue.json"), "issue.json", &settings, now()).unwrap()
    else {
        panic!("private?")
    };
    assert_eq!(bug.title.as_deref(), Some("Ticket 31"));
    assert!(bug.description.as_deref().unwrap().contains("midnight UTC"));
    assert_eq!(bug.status.as_deref(), Some("Open"));
    assert_eq!(bug.looks_closed, Some(false));
    assert_eq!(bug.importance.as_deref(), Some("high"));
    // jdoe (author), kfox (assignee, commenter), mo (commenter)
    assert_eq!(bug.people_involved, Some(3));
    assert_eq!(bug.date_reported, parse_datetime("2024-02-01T00:00:00"));
    assert_eq!(bug.last_touched, parse_datetime("2024-02-01T03:00:00"));
    assert_eq!(bug.submitter_username.as_deref(), Some("jdoe"));
    assert_eq!(bug.submitter_realname, Some(Some("Jane Doe".to_owned())));
    assert_eq!(
        bug.canonical_bug_link,
        "https://pagure.example/fedora-infra/rota/issue/31"
    );
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));

    let page = parse_issue_list(&fixture("issues-page-1.json"), "p1", &settings, now()).unwrap();
    assert_eq!((page.items, page.bugs.len(), page.skipped.len()), (3, 2, 1));
    assert_eq!(page.bugs[1].looks_closed, Some(true));
    assert_eq!(page.bugs[1].concerns_just_documentation, Some(true));
    assert!(page.next.unwrap().ends_with("page=2"));
}

#[test]
fn parse_formats_through_the_registry() {
    let mut registry = Registry::new();
    bugimporters_pagure::register(&mut registry);
    let (factory, _) = registry.parse_format("pagure-issues-json").unwrap();
    let mut c = TrackerConfig::new("Rota", "pagure");
    c.base_url = "https://pagure.example".into();
    c.extra.insert("project".into(), "fedora-infra/rota".into());
    c.bitesized_type = "tag".into();
    c.bitesized_text = "easyfix".into();
    let cx = registry.build_context(&c).unwrap();
    let input = ParseInput::new(
        vec![("p2".into(), fixture("issues-page-2.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "pagure-issues-json", &input).unwrap() else {
        panic!()
    };
    assert_eq!(bugs.len(), 2);
    assert_eq!(
        bugs[0].canonical_bug_link, "https://pagure.example/fedora-infra/rota/issue/27",
        "no full_url: built from base_url and project"
    );
    assert_eq!(
        bugs[0].good_for_newcomers,
        Some(false),
        "tag names are exact"
    );
    assert_eq!(bugs[1].importance.as_deref(), Some("low"));
    let input = ParseInput::new(
        vec![("i".into(), fixture("issue.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(one) = factory.parse(&cx, "pagure-issue-json", &input).unwrap() else {
        panic!()
    };
    assert_eq!(one[0].good_for_newcomers, Some(true));
}

#[tokio::test]
async fn pages_to_the_end_by_pagination_next_skipping_private_issues() {
    let server = MockServer::start().await;
    let base = server.uri();
    let secrets = FixedSecrets::from([("PG_TEST_PAGING_TOKEN", "pagure-s3cr3t-value")]);
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("status", "all"))
        .and(query_param("per_page", "100"))
        .respond_with(json_body(fixture_on("issues-page-1.json", &base)))
        .with_priority(10)
        .mount(&server)
        .await;
    let r = run_with_secrets(&config(&base, "PAGING"), true, secrets).await;
    assert_eq!(
        r.full(),
        [26, 27, 29, 30]
            .iter()
            .map(|n| link(&base, *n))
            .collect::<Vec<_>>()
    );
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "one request per page, none per issue");
    for req in &reqs {
        assert_eq!(
            req.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("token pagure-s3cr3t-value")
        );
    }
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert!(r.bugs.iter().all(|b| !b.to_json_line().contains("s3cr3t")));

    let mut c = config(&base, "PAGING2");
    c.extra
        .insert("include_confidential".into(), Value::Bool(true));
    assert!(run(&c).await.full().contains(&link(&base, 28)));
}

#[tokio::test]
async fn incremental_query_asks_for_since_as_a_timestamp() {
    let server = MockServer::start().await;
    let base = server.uri();
    let mut body: Value = serde_json::from_slice(&fixture_on("issues-page-2.json", &base)).unwrap();
    body["pagination"]["next"] = Value::Null;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("since", "1714456800"))
        .respond_with(json_body(serde_json::to_vec(&body).unwrap()))
        .mount(&server)
        .await;
    let mut c = config(&base, "INCR");
    let mut q = Query::new(format!("{base}{ISSUES}?status=Open&tags=easyfix"));
    q.last_polled = parse_datetime("2024-04-30T06:00:00");
    c.queries = vec![q];
    let r = run(&c).await;
    assert_eq!(r.full().len(), 2);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].url.query(),
        Some("status=Open&tags=easyfix&since=1714456800")
    );
    assert!(
        reqs[0].headers.get("authorization").is_none(),
        "no token set, none sent"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let mut body: Value = serde_json::from_slice(&fixture_on("issues-page-2.json", &base)).unwrap();
    body["pagination"]["next"] = Value::Null;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(serde_json::to_vec(&body).unwrap()))
        .with_priority(5)
        .mount(&server)
        .await;
    let start = Instant::now();
    let r = run(&config(&base, "RATE")).await;
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.full().len(), 2);
    assert_eq!(requests(&server).await.len(), 2);
    assert!(r.stats.errors.is_empty());
}

#[tokio::test]
async fn held_bugs_404_and_private_are_deletions() {
    let server = MockServer::start().await;
    let base = server.uri();
    let secrets = FixedSecrets::from([("PG_TEST_HELD_TOKEN", "pagure-held")]);
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/31")))
        .and(header("authorization", "token pagure-held"))
        .respond_with(json_body(fixture_on("issue.json", &base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/5")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "Issue not found", "error_code": "ENOISSUE"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/28")))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"error": "You are not allowed to view this issue", "error_code": "EISSUENOTALLOWED"}),
        ))
        .mount(&server)
        .await;
    let mut c = config(&base, "HELD");
    c.existing_bug_urls = vec![link(&base, 31), link(&base, 5), link(&base, 28)];
    let r = run_with_secrets(&c, false, secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full(), vec![link(&base, 31)]);
    assert_eq!(
        r.links(|b| b.deleted),
        vec![link(&base, 28), link(&base, 5)]
    );
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn many_held_bugs_are_refreshed_from_one_listing() {
    let server = MockServer::start().await;
    let base = server.uri();
    // 120 held bugs; the listing names 1..=118 (118 is private); 119 and 120 are asked alone.
    let template: Value = serde_json::from_slice(&fixture_on("issue.json", &base)).unwrap();
    let issue = |n: u32| {
        let mut v = template.clone();
        v["id"] = json!(n);
        v["full_url"] = json!(link(&base, n));
        v["private"] = json!(n == 118);
        v
    };
    let page = |range: std::ops::RangeInclusive<u32>, next: Option<String>| {
        json!({"issues": range.map(issue).collect::<Vec<_>>(),
               "pagination": {"next": next, "page": 1, "pages": 2, "per_page": 100},
               "total_issues": 118})
    };
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(json_body(
            serde_json::to_vec(&page(101..=118, None)).unwrap(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("status", "all"))
        .respond_with(json_body(
            serde_json::to_vec(&page(
                1..=100,
                Some(format!("{base}{ISSUES}?status=all&per_page=100&page=2")),
            ))
            .unwrap(),
        ))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/119")))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(119)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/120")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&base, "MANY");
    c.existing_bug_urls = (1..=120).map(|n| link(&base, n)).collect();
    let r = run_with(&c, false).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full().len(), 118);
    assert_eq!(
        r.links(|b| b.deleted),
        vec![link(&base, 118), link(&base, 120)]
    );
    assert_eq!(
        requests(&server).await.len(),
        4,
        "two pages, then #119 and #120"
    );
    // This test mounts no `expect`, so wiremock's `Drop` (a blocking `verify` of the server
    // state) has nothing to check; it hung here 1 run in ~30 (gdb: the test thread waiting
    // for the state's read lock in `MockServer::drop`, on a current-thread and on a
    // multi-threaded runtime alike). The server is left to the end of the test process.
    std::mem::forget(server);
}

#[tokio::test]
async fn no_deletion_when_the_run_had_a_server_error() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/3")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/4")))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut c = config(&base, "FLAKY");
    c.existing_bug_urls = vec![link(&base, 3), link(&base, 4)];
    let r = run_with(&c, false).await;
    assert!(r.links(|b| b.deleted).is_empty());
    assert_eq!(r.stats.deletions_withheld, 1);
    assert_eq!(r.stats.errors.len(), 1);
}

#[tokio::test]
async fn after_a_complete_listing_unlisted_held_bugs_are_asked_for_alone() {
    let server = MockServer::start().await;
    let base = server.uri();
    let mut body: Value = serde_json::from_slice(&fixture_on("issues-page-2.json", &base)).unwrap();
    body["pagination"]["next"] = Value::Null;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(serde_json::to_vec(&body).unwrap()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/77")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&base, "FULL");
    c.existing_bug_urls = vec![link(&base, 27), link(&base, 77)];
    let r = run(&c).await;
    assert_eq!(r.stats.deleted, 1);
    assert_eq!(r.full(), vec![link(&base, 26), link(&base, 27)]);
    assert_eq!(
        requests(&server).await.len(),
        2,
        "the listing, then #77 alone"
    );
}

#[tokio::test]
async fn the_token_goes_to_the_instance_only() {
    let instance = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let secrets = FixedSecrets::from([("PG_TEST_ORIGIN_TOKEN", "pagure-origin")]);
    let empty = br#"{"issues": [], "pagination": {"next": null}, "total_issues": 0}"#.to_vec();
    Mock::given(method("GET"))
        .respond_with(json_body(empty.clone()))
        .mount(&elsewhere)
        .await;
    Mock::given(method("GET"))
        .and(header_exists("authorization"))
        .respond_with(json_body(empty))
        .mount(&instance)
        .await;
    let mut c = config(&instance.uri(), "ORIGIN");
    c.queries = vec![
        Query::new(format!("{}{ISSUES}", instance.uri())),
        Query::new(format!("{}{ISSUES}", elsewhere.uri())),
    ];
    let r = run_with_secrets(&c, true, secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(requests(&instance).await.len(), 1);
    let other = requests(&elsewhere).await;
    assert_eq!(other.len(), 1);
    assert!(other[0].headers.get("authorization").is_none());
}

#[test]
fn the_documented_examples_build() {
    let p = format!(
        "{}/../../../docs/trackers/pagure.md",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = std::fs::read_to_string(&p).unwrap();
    let yaml: String = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    let records =
        bugimporters_core::load_config_str(&yaml, bugimporters_core::ConfigFormat::Yaml).unwrap();
    assert!(records.len() >= 2, "{p}: {} examples", records.len());
    let mut registry = Registry::new();
    bugimporters_pagure::register(&mut registry);
    for r in records {
        let config = r.unwrap();
        let built = registry.build(&config).unwrap();
        assert!(
            built.unknown_keys.is_empty(),
            "{}: {:?}",
            config.tracker_name,
            built.unknown_keys
        );
    }
}

/// A 403 that is not Pagure's own `EISSUENOTALLOWED` (a bot wall, a proxy, a bare refusal)
/// deletes nothing; a rate-limited 403 is temporary and withholds the deletion of a 404.
#[tokio::test]
async fn a_refusal_that_is_not_pagures_own_private_error_never_deletes() {
    let server = MockServer::start().await;
    let base = server.uri();
    let challenge = ResponseTemplate::new(403)
        .set_body_raw("<html><title>Just a moment...</title></html>", "text/html");
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/1")))
        .respond_with(challenge)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/2")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": "Forbidden"})))
        .mount(&server)
        .await;
    let mut c = config(&base, "REFUSED");
    c.existing_bug_urls = vec![link(&base, 1), link(&base, 2)];
    let r = run_with(&c, false).await;
    assert!(r.links(|b| b.deleted).is_empty(), "{:?}", r.bugs);
    assert_eq!(r.stats.errors.len(), 2, "{:?}", r.stats.errors);

    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/3")))
        .respond_with(ResponseTemplate::new(403).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUE}/4")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    c.existing_bug_urls = vec![link(&base, 3), link(&base, 4)];
    let r = run_with(&c, false).await;
    assert!(r.links(|b| b.deleted).is_empty(), "{:?}", r.bugs);
    assert_eq!(r.stats.deletions_withheld, 1);
}
