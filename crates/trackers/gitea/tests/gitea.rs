//! The Gitea/Forgejo importer against wiremock, and the parsers on `fixtures/gitea/`.
//!
//! Every test names its own token variable (`token_env`) so that tests running in parallel
//! never see each other's environment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{ImportOptions, ParseInput, ParseOutput, Query, Registry, TrackerConfig};
use bugimporters_gitea::{parse_issue, parse_issue_list, GiteaImporter, IssueItem, ParseSettings};
use bugimporters_testkit::forge::{self, FixedSecrets, Run, RUN_CAPACITY};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ISSUES: &str = "/api/v1/repos/tinyorg/notes-app/issues";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/gitea/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A fixture with its `https://codeberg.example` links moved onto the mock server.
fn fixture_on(name: &str, base: &str) -> Vec<u8> {
    String::from_utf8(fixture(name))
        .unwrap()
        .replace("https://codeberg.example", base)
        .into_bytes()
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

fn config(base: &str, tag: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Notes", "forgejo");
    c.base_url = base.to_owned();
    for (k, v) in [
        ("project", "tinyorg/notes-app".to_owned()),
        ("bitesized_tag", "good first issue".to_owned()),
        ("documentation_tag", "Kind/Documentation".to_owned()),
        ("token_env", format!("GT_TEST_{tag}_TOKEN")),
    ] {
        c.extra.insert(k.to_owned(), Value::String(v));
    }
    c
}

fn link(base: &str, n: u32) -> String {
    format!("{base}/tinyorg/notes-app/issues/{n}")
}

async fn run_with(config: &TrackerConfig, client: Arc<HttpClient>, queries: bool) -> Run {
    run_with_secrets(config, client, queries, &FixedSecrets::new()).await
}

async fn run_with_secrets(
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    queries: bool,
    secrets: &FixedSecrets,
) -> Run {
    let importer = GiteaImporter::new(config).unwrap();
    let options = forge::options(now()).with_secrets(Arc::new(secrets.clone()));
    forge::run_importer_with(&importer, config, client, options, queries, RUN_CAPACITY).await
}

async fn run(config: &TrackerConfig) -> Run {
    run_with(config, client(), true).await
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn json_body(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json;charset=utf-8")
}

#[test]
fn fixture_issue_parses_to_every_field() {
    let settings = ParseSettings::new("Notes", "Notes", "good first issue", "Kind/Documentation");
    let IssueItem::Issue(bug) =
        parse_issue(&fixture("issue.json"), "issue.json", &settings, now()).unwrap()
    else {
        panic!("pull request?")
    };
    assert_eq!(bug.title.as_deref(), Some("Item 17"));
    assert!(bug
        .description
        .as_deref()
        .unwrap()
        .contains("invalid byte sequence"));
    assert_eq!(bug.status.as_deref(), Some("open"));
    assert_eq!(bug.looks_closed, Some(false));
    assert_eq!(bug.importance.as_deref(), Some("High"));
    assert_eq!(bug.people_involved, Some(2));
    assert_eq!(bug.date_reported, parse_datetime("2024-03-17T08:00:00"));
    assert_eq!(bug.last_touched, parse_datetime("2024-04-17T16:30:00"));
    assert_eq!(bug.submitter_username.as_deref(), Some("kaiw"));
    assert_eq!(bug.submitter_realname, Some(Some("Kai Weber".to_owned())));
    assert_eq!(
        bug.canonical_bug_link,
        "https://codeberg.example/tinyorg/notes-app/issues/17"
    );
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));

    let page = parse_issue_list(&fixture("issues-page-1.json"), "p1", &settings, now()).unwrap();
    assert_eq!((page.items, page.bugs.len(), page.pull_requests), (3, 2, 1));
    let ten = &page.bugs[1];
    assert_eq!(ten.looks_closed, Some(true));
    assert_eq!(ten.concerns_just_documentation, Some(true));
    assert_eq!(ten.importance.as_deref(), Some("Low"));
    assert_eq!(
        ten.people_involved,
        Some(2),
        "the author assigned to himself counts once"
    );
}

#[test]
fn parse_formats_through_the_registry() {
    let mut registry = Registry::new();
    bugimporters_gitea::register(&mut registry);
    assert_eq!(registry.canonical_kind("forgejo").unwrap(), "gitea");
    let (factory, _) = registry.parse_format("gitea-issues-json").unwrap();
    let mut c = TrackerConfig::new("Notes", "gitea");
    c.bitesized_type = "label".into();
    c.bitesized_text = "good first issue".into();
    let cx = registry.build_context(&c).unwrap();
    let input = ParseInput::new(
        vec![("p2".into(), fixture("issues-page-2.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "gitea-issues-json", &input).unwrap() else {
        panic!()
    };
    assert_eq!(bugs.len(), 2);
    assert_eq!(bugs[0].submitter_realname, Some(Some(String::new())));
    assert_eq!(
        bugs[1].good_for_newcomers,
        Some(false),
        "label names are exact"
    );
    let input = ParseInput::new(
        vec![("i".into(), fixture("issue.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(one) = factory.parse(&cx, "gitea-issue-json", &input).unwrap() else {
        panic!()
    };
    assert_eq!(
        one[0].good_for_newcomers,
        Some(true),
        "the common label keys work"
    );
}

#[tokio::test]
async fn pages_to_the_end_by_link_header_skipping_pull_requests() {
    let server = MockServer::start().await;
    let base = server.uri();
    let secrets = FixedSecrets::from([("GT_TEST_PAGING_TOKEN", "gitea-s3cr3t-value")]);
    let next = format!(
        "<{base}{ISSUES}?limit=50&page=2&state=all&type=issues>; rel=\"next\",<{base}{ISSUES}?limit=50&page=2&state=all&type=issues>; rel=\"last\""
    );
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(
            json_body(fixture_on("issues-page-2.json", &base)).insert_header("x-total-count", "5"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .and(query_param("type", "issues"))
        .and(query_param("limit", "50"))
        .respond_with(
            json_body(fixture_on("issues-page-1.json", &base))
                .insert_header("link", next.as_str())
                .insert_header("x-total-count", "5"),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    let r = run_with_secrets(&config(&base, "PAGING"), client(), true, &secrets).await;
    assert_eq!(
        r.full(),
        [10, 12, 8, 9]
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
            Some("token gitea-s3cr3t-value")
        );
    }
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert!(r.bugs.iter().all(|b| !b.to_json_line().contains("s3cr3t")));
}

#[tokio::test]
async fn pages_by_total_count_when_there_is_no_link_header() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(
            json_body(fixture_on("issues-page-2.json", &base)).insert_header("x-total-count", "5"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(
            json_body(fixture_on("issues-page-1.json", &base)).insert_header("x-total-count", "5"),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    let mut c = config(&base, "TOTAL");
    c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open&limit=3"))];
    let r = run(&c).await;
    assert_eq!(r.full().len(), 4);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "3 + 2 = 5 elements: two pages");
    assert_eq!(reqs[0].url.query(), Some("state=open&limit=3&type=issues"));
    assert_eq!(
        reqs[1].url.query(),
        Some("state=open&limit=3&type=issues&page=2")
    );
    assert!(
        reqs[0].headers.get("authorization").is_none(),
        "no token set, none sent"
    );
}

#[tokio::test]
async fn incremental_query_asks_for_since_last_polled() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("since", "2024-04-30T06:00:00Z"))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    let mut c = config(&base, "INCR");
    let mut q = Query::new(format!("{base}{ISSUES}?state=all&type=pulls"));
    q.last_polled = parse_datetime("2024-04-30T06:00:00");
    c.queries = vec![q];
    let r = run(&c).await;
    assert_eq!(r.full().len(), 2);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].url.query(),
        Some("state=all&type=pulls&since=2024-04-30T06%3A00%3A00Z"),
        "a type the user chose is kept"
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
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
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
async fn few_held_bugs_are_asked_for_alone() {
    let server = MockServer::start().await;
    let base = server.uri();
    let secrets = FixedSecrets::from([("GT_TEST_HELD_TOKEN", "gitea-held")]);
    let single: Value = serde_json::from_slice(&fixture_on("issue.json", &base)).unwrap();
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/17")))
        .and(header("authorization", "token gitea-held"))
        .respond_with(
            json_body(serde_json::to_vec(&single).unwrap()).insert_header("etag", "\"e17\""),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/3")))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "issue does not exist"})),
        )
        .mount(&server)
        .await;
    let pr: Vec<Value> = serde_json::from_slice(&fixture_on("issues-page-1.json", &base)).unwrap();
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/11")))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr[1].clone()))
        .mount(&server)
        .await;
    let mut c = config(&base, "HELD");
    c.existing_bug_urls = vec![
        link(&base, 17),
        link(&base, 3),
        format!("{base}/tinyorg/notes-app/pulls/11"),
    ];
    let http = client();
    let r = run_with_secrets(&c, http.clone(), false, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full(), vec![link(&base, 17)]);
    assert_eq!(
        r.links(|b| b.deleted),
        vec![link(&base, 3), format!("{base}/tinyorg/notes-app/pulls/11")],
        "a 404 and a pull request"
    );
    assert_eq!(requests(&server).await.len(), 3);

    // The second time, the issue answers 304: nothing changed.
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/17")))
        .and(header("if-none-match", "\"e17\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    c.existing_bug_urls = vec![link(&base, 17)];
    let again = run_with_secrets(&c, http, false, &secrets).await;
    assert_eq!(again.links(|b| b.no_update), vec![link(&base, 17)]);
}

#[tokio::test]
async fn many_held_bugs_are_refreshed_from_one_listing() {
    let server = MockServer::start().await;
    let base = server.uri();
    // 60 held bugs; the listing (two pages) names 1..=58; 59 and 60 are asked for alone.
    let template: Value = serde_json::from_slice(&fixture_on("issue.json", &base)).unwrap();
    let issue = |n: u32| {
        let mut v = template.clone();
        v["number"] = json!(n);
        v["html_url"] = json!(link(&base, n));
        v
    };
    let page1: Vec<Value> = (1..=50).map(issue).collect();
    let page2: Vec<Value> = (51..=58).map(issue).collect();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(json_body(serde_json::to_vec(&page2).unwrap()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .respond_with(
            json_body(serde_json::to_vec(&page1).unwrap()).insert_header(
                "link",
                format!("<{base}{ISSUES}?state=all&type=issues&limit=50&page=2>; rel=\"next\"")
                    .as_str(),
            ),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/59")))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(59)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/60")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&base, "MANY");
    // The host spells the owner differently: matched case-insensitively, emitted as listed.
    c.existing_bug_urls = (1..=60)
        .map(|n| {
            if n == 1 {
                format!("{base}/TinyOrg/notes-app/issues/1")
            } else {
                link(&base, n)
            }
        })
        .collect();
    let r = run_with(&c, client(), false).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full().len(), 59);
    assert_eq!(
        r.links(|b| b.deleted),
        vec![
            format!("{base}/TinyOrg/notes-app/issues/1"),
            link(&base, 60)
        ]
    );
    assert_eq!(
        requests(&server).await.len(),
        4,
        "two pages, then #59 and #60"
    );
}

#[tokio::test]
async fn no_deletion_when_the_run_had_a_server_error() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/3")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/4")))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let mut c = config(&base, "FLAKY");
    c.existing_bug_urls = vec![link(&base, 3), link(&base, 4)];
    let r = run_with(&c, client(), false).await;
    assert!(r.links(|b| b.deleted).is_empty());
    assert_eq!(r.stats.deletions_withheld, 1);
    assert_eq!(r.stats.errors.len(), 1);
}

#[tokio::test]
async fn after_a_complete_listing_unlisted_held_bugs_are_asked_for_alone() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/77")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&base, "FULL");
    c.existing_bug_urls = vec![link(&base, 9), link(&base, 77)];
    let r = run(&c).await;
    assert_eq!(r.stats.deleted, 1);
    assert_eq!(r.full(), vec![link(&base, 8), link(&base, 9)]);
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
    let secrets = FixedSecrets::from([("GT_TEST_ORIGIN_TOKEN", "gitea-origin")]);
    Mock::given(method("GET"))
        .respond_with(json_body(b"[]".to_vec()))
        .mount(&elsewhere)
        .await;
    Mock::given(method("GET"))
        .and(header_exists("authorization"))
        .respond_with(json_body(b"[]".to_vec()))
        .mount(&instance)
        .await;
    let mut c = config(&instance.uri(), "ORIGIN");
    c.queries = vec![
        Query::new(format!("{}{ISSUES}", instance.uri())),
        Query::new(format!("{}{ISSUES}", elsewhere.uri())),
    ];
    let r = run_with_secrets(&c, client(), true, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(requests(&instance).await.len(), 1);
    let other = requests(&elsewhere).await;
    assert_eq!(other.len(), 1);
    assert!(other[0].headers.get("authorization").is_none());
}

#[test]
fn the_documented_examples_build() {
    let p = format!(
        "{}/../../../docs/trackers/gitea.md",
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
    bugimporters_gitea::register(&mut registry);
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
