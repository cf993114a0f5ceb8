//! The Jira importer against wiremock, and the parsers on `fixtures/jira/`.
//!
//! Every test that touches credentials names its own variables (`email_env`, `api_token_env`,
//! `token_env`) so that tests running in parallel never see each other's environment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::{format_naive, parse_datetime};
use bugimporters_core::{
    ImportOptions, ParseInput, ParseOutput, ParsedBug, Query, Registry, TrackerConfig,
};
use bugimporters_jira::{parse_issue, parse_search, BitesizedRule, JiraImporter, ParseSettings};
use bugimporters_testkit::forge::{self, FixedSecrets, Run};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SEARCH: &str = "/rest/api/2/search";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/jira/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

/// A config whose `base_url` is the mock server's `/browse/` (as the original's test data)
/// and whose credential variables are `tag`-specific.
fn config(server: &MockServer, tag: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("hello", "jira.JiraBugImporter");
    c.base_url = format!("{}/browse/", server.uri());
    c.bitesized_type = "label".into();
    c.bitesized_text = "newcomer,bitesize".into();
    c.documentation_text = "docs".into();
    for (k, v) in [
        ("email_env", format!("JIRA_TEST_{tag}_EMAIL")),
        ("api_token_env", format!("JIRA_TEST_{tag}_API_TOKEN")),
        ("token_env", format!("JIRA_TEST_{tag}_PAT")),
    ] {
        c.extra.insert(k.to_owned(), Value::String(v));
    }
    c
}

fn link(server: &MockServer, key: &str) -> String {
    format!("{}/browse/{key}", server.uri())
}

async fn run_with(config: &TrackerConfig, client: Arc<HttpClient>) -> Run {
    run_secrets(config, client, FixedSecrets::new()).await
}

async fn run_secrets(
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    secrets: FixedSecrets,
) -> Run {
    let importer = JiraImporter::new(config).unwrap();
    let options = forge::options(now()).with_secrets(Arc::new(secrets));
    forge::run_importer_with(&importer, config, client, options, true, 4096).await
}

async fn run(config: &TrackerConfig) -> Run {
    run_with(config, client()).await
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn json_response(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        serde_json::to_vec(&body).unwrap(),
        "application/json;charset=UTF-8",
    )
}

fn issue(key: &str, status: &str, labels: &[&str]) -> Value {
    json!({"id": "1", "self": format!("http://elsewhere/rest/api/2/issue/{key}"), "key": key,
        "fields": {"summary": format!("summary of {key}"), "description": "d",
        "status": {"name": status}, "labels": labels, "priority": {"name": "Major"},
        "created": "2024-01-01T10:00:00.000+1100", "updated": "2024-02-01T10:00:00.000+1100",
        "reporter": {"name": "ann", "displayName": "Ann"}}})
}

fn page(start: u64, max: u64, total: u64, keys: &[String]) -> Value {
    let issues: Vec<Value> = keys.iter().map(|k| issue(k, "Open", &[])).collect();
    json!({"startAt": start, "maxResults": max, "total": total, "issues": issues})
}

fn keys(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("MKY-{n}")).collect()
}

// ---------------------------------------------------------------------------------- parsers

fn settings() -> ParseSettings {
    ParseSettings::new(
        "hello",
        "https://jira.example.org/browse/",
        BitesizedRule::Label("newcomer".into()),
        "docs",
    )
    .unwrap()
}

#[test]
fn fixture_issue_parses_by_the_originals_rules() {
    let bug = parse_issue(&fixture("issue.json"), "issue.json", &settings(), now()).unwrap();
    assert_eq!(
        bug.canonical_bug_link,
        "https://jira.example.org/browse/HELLO-17"
    );
    assert_eq!(
        bug.title.as_deref(),
        Some("Greeting is printed twice when --loud is given")
    );
    assert_eq!(
        bug.description.as_deref(),
        Some("Run hello --loud.\r\nThe greeting appears twice.")
    );
    assert_eq!(bug.status.as_deref(), Some("open"));
    assert_eq!(bug.looks_closed, Some(false));
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(true));
    assert_eq!(bug.submitter_username.as_deref(), Some("jdoe"));
    assert_eq!(bug.submitter_realname, Some(Some("Jane Doe".into())));
    let line: Value = serde_json::from_str(&bug.to_json_line()).unwrap();
    // +1100 → UTC, milliseconds kept as microseconds.
    assert_eq!(line["date_reported"], "2023-03-01T22:15:30.120000");
    assert_eq!(line["last_touched"], "2023-03-05T07:00:00");
    assert_eq!(line["last_polled"], "2024-05-01T12:00:00");
    for absent in ["importance", "people_involved"] {
        assert!(line.get(absent).is_none(), "{absent}");
    }

    // Priority rule: the whole text must equal the priority name.
    let prio = ParseSettings::new(
        "hello",
        "https://jira.example.org/x/y/",
        BitesizedRule::Priority("Trivial".into()),
        "",
    )
    .unwrap();
    let bug = parse_issue(&fixture("issue.json"), "issue.json", &prio, now()).unwrap();
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));
    assert_eq!(
        bug.canonical_bug_link, "https://jira.example.org/browse/HELLO-17",
        "host root, whatever base_url's path"
    );
}

#[test]
fn fixture_pages() {
    let s = settings();
    let p1 = parse_search(&fixture("search-page-1.json"), "p1", &s, now()).unwrap();
    let p2 = parse_search(&fixture("search-page-2.json"), "p2", &s, now()).unwrap();
    assert_eq!(
        (p1.start_at, p1.max_results, p1.total),
        (Some(0), Some(2), Some(3))
    );
    assert_eq!((p1.issue_count, p2.issue_count), (2, 1));
    let closed: Vec<bool> = p1
        .bugs
        .iter()
        .chain(&p2.bugs)
        .map(|b| b.looks_closed.unwrap())
        .collect();
    assert_eq!(closed, [false, true, false], "Resolved is not Closed");
    let b2 = &p1.bugs[1];
    assert_eq!(b2.description.as_deref(), Some(""), "null description");
    assert_eq!(
        format_naive(&b2.date_reported.unwrap()),
        "2023-01-12T13:30:00"
    );
    assert_eq!(
        format_naive(&p2.bugs[0].date_reported.unwrap()),
        "2023-01-15T22:59:59.999000"
    );

    let c1 = parse_search(&fixture("cloud-search-jql-page-1.json"), "c1", &s, now()).unwrap();
    let c2 = parse_search(&fixture("cloud-search-jql-page-2.json"), "c2", &s, now()).unwrap();
    assert_eq!(c1.next_page_token.as_deref(), Some("CAEaAggD"));
    assert_eq!((c1.is_last, c2.is_last), (Some(false), Some(true)));
    assert_eq!(c1.total, None);
    let b = &c1.bugs[0];
    assert_eq!(
        b.description.as_deref(),
        Some("Steps to reproduce.\nSecond paragraph.")
    );
    assert_eq!(
        b.submitter_username.as_deref(),
        Some("5b10ac8d82e05b22cc7d4ef1")
    );
    assert_eq!(b.status.as_deref(), Some("to do"));
}

#[test]
fn parse_formats_through_the_registry() {
    let mut registry = Registry::new();
    bugimporters_jira::register(&mut registry);
    let mut c = TrackerConfig::new("hello", "jira");
    c.base_url = "https://jira.example.org/".into();
    let (factory, _) = registry.parse_format("jira-search-json").unwrap();
    let cx = registry.build_context(&c).unwrap();
    let input = ParseInput::new(
        vec![("p1".into(), fixture("search-page-1.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "jira-search-json", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs.len(), 2);
    assert!(
        bugs.iter().all(|b| b.good_for_newcomers.is_none()),
        "blank type"
    );
    let bad = ParseInput::new(
        vec![("broken.json".into(), b"{\"issues\": [".to_vec().into())],
        Some("https://jira.example.org/rest/api/2/search?jql=x".into()),
        ImportOptions::new(now()),
    );
    let e = factory
        .parse(&cx, "jira-issue-json", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("https://jira.example.org/rest/api/2/search?jql=x"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------- crawls

#[tokio::test]
async fn offset_paging_reads_to_the_end_and_first_request_is_as_configured() {
    let server = MockServer::start().await;
    let all = keys(1..8);
    // First page: the configured URL as is (no startAt).
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param_is_missing("startAt"))
        .respond_with(json_response(page(0, 3, 7, &all[0..3])))
        .expect(1)
        .mount(&server)
        .await;
    for start in [3usize, 6] {
        let end = (start + 3).min(7);
        Mock::given(method("GET"))
            .and(path(SEARCH))
            .and(query_param("startAt", start.to_string()))
            .and(query_param("maxResults", "3"))
            .and(query_param("jql", "project = MKY"))
            .respond_with(json_response(page(start as u64, 3, 7, &all[start..end])))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut c = config(&server, "PAGING");
    c.queries = vec![Query::new(format!(
        "{}{SEARCH}?jql=project%20=%20MKY&maxResults=3",
        server.uri()
    ))];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let expected: Vec<String> = {
        let mut v: Vec<String> = all.iter().map(|k| link(&server, k)).collect();
        v.sort();
        v
    };
    assert_eq!(r.full(), expected);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs[0].url.query(),
        Some("jql=project%20=%20MKY&maxResults=3"),
        "the first request is the configured URL"
    );
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("accept").unwrap() == "application/json"));
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("authorization").is_none()));
    let b = r
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("MKY-1"))
        .unwrap();
    assert_eq!(b.status.as_deref(), Some("open"));
    assert_eq!(b.project_name.as_deref(), Some("hello"));
}

#[tokio::test]
async fn short_pages_are_completed() {
    let server = MockServer::start().await;
    let all = keys(1..6);
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param_is_missing("startAt"))
        .respond_with(json_response(page(0, 2, 5, &all[0..2])))
        .mount(&server)
        .await;
    // The server gives one issue where two were asked for: the importer asks again at 3.
    let spec: &[(usize, usize)] = &[(2, 3), (3, 4), (4, 5)];
    for &(s, e) in spec {
        Mock::given(method("GET"))
            .and(path(SEARCH))
            .and(query_param("startAt", s.to_string()))
            .respond_with(json_response(page(s as u64, 2, 5, &all[s..e])))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut c = config(&server, "SHORT");
    c.queries = vec![Query::new(format!("{}{SEARCH}?jql=x", server.uri()))];
    let r = run(&c).await;
    assert_eq!(r.full().len(), 5, "{:?}", r.stats.errors);
    assert_eq!(requests(&server).await.len(), 4);
}

#[tokio::test]
async fn cloud_token_paging() {
    let server = MockServer::start().await;
    let path3 = "/rest/api/3/search/jql";
    Mock::given(method("GET"))
        .and(path(path3))
        .and(query_param_is_missing("nextPageToken"))
        .and(query_param("fields", "*navigable"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("cloud-search-jql-page-1.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(path3))
        .and(query_param("nextPageToken", "CAEaAggD"))
        .and(query_param("jql", "project = CLD"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("cloud-search-jql-page-2.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server, "CLOUD");
    c.bitesized_text = "good-first-issue".into();
    c.queries = vec![Query::new(format!(
        "{}{path3}?jql=project%20%3D%20CLD",
        server.uri()
    ))];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.full(),
        ["CLD-1", "CLD-2", "CLD-3"]
            .map(|k| link(&server, k))
            .to_vec()
    );
    let b1 = r
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("CLD-1"))
        .unwrap();
    assert_eq!(b1.good_for_newcomers, Some(true));
    assert_eq!(
        b1.description.as_deref(),
        Some("Steps to reproduce.\nSecond paragraph.")
    );
}

#[tokio::test]
async fn incremental_query_adds_updated_since() {
    let server = MockServer::start().await;
    // last_polled 2024-04-30T00:00:00Z = 1714435200000 ms.
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param(
            "jql",
            "(status=open) AND updated > 1714435199999 ORDER BY key",
        ))
        .respond_with(json_response(page(0, 50, 1, &keys(9..10))))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server, "INCR");
    let mut q = Query::new(format!(
        "{}{SEARCH}?maxResults=50&jql=status=open%20ORDER%20BY%20key",
        server.uri()
    ));
    q.last_polled = parse_datetime("2024-04-30T00:00:00");
    c.queries = vec![q];
    let r = run(&c).await;
    assert_eq!(
        r.full(),
        vec![link(&server, "MKY-9")],
        "{:?}",
        r.stats.errors
    );
}

#[tokio::test]
async fn rate_limit_429_waits_and_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(json_response(page(0, 50, 2, &keys(1..3))))
        .mount(&server)
        .await;
    let mut c = config(&server, "RATE");
    c.queries = vec![Query::new(format!("{}{SEARCH}?jql=x", server.uri()))];
    let started = Instant::now();
    let r = run(&c).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited as asked"
    );
    assert_eq!(r.full().len(), 2);
    assert!(r.stats.errors.is_empty());
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn malformed_page_is_reported_with_its_url_and_other_queries_go_on() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("jql", "broken"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{\"issues\": [", "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("jql", "fine"))
        .respond_with(json_response(page(0, 50, 1, &keys(1..2))))
        .mount(&server)
        .await;
    let mut c = config(&server, "BROKEN");
    c.queries = vec![
        Query::new(format!("{}{SEARCH}?jql=broken", server.uri())),
        Query::new(format!("{}{SEARCH}?jql=fine", server.uri())),
    ];
    let r = run(&c).await;
    assert_eq!(r.full(), vec![link(&server, "MKY-1")]);
    assert_eq!(r.stats.errors.len(), 1);
    let e = &r.stats.errors[0];
    assert!(e.url.as_deref().unwrap().contains("jql=broken"), "{e:?}");
    assert!(e.reason.contains("invalid JSON"), "{e:?}");
}

#[tokio::test]
async fn existing_bugs_listing_key_search_and_one_by_one() {
    let server = MockServer::start().await;
    // The host's refresh URL (created>= the oldest poll) is read as updated since then.
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("jql", "updated > 1347667199999"))
        .respond_with(json_response(
            json!({"startAt": 0, "maxResults": 1000, "total": 2,
            "issues": [issue("MKY-1", "Closed", &[]), issue("MKY-99", "Open", &[])]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // The rest in one `key in (...)` search; it returns MKY-2 only.
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("jql", "key in (MKY-2,MKY-3,MKY-4)"))
        .and(query_param("validateQuery", "false"))
        .respond_with(json_response(
            json!({"startAt": 0, "maxResults": 3, "total": 1,
            "issues": [issue("MKY-2", "Open", &["docs"])]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/MKY-3"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            r#"{"errorMessages":["Issue Does Not Exist"],"errors":{}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    // Moved to another project: Jira answers the old key with the issue under its new key.
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/MKY-4"))
        .respond_with(json_response(issue("NEW-4", "Open", &[])))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server, "EXISTING");
    c.existing_bug_urls = ["MKY-1", "MKY-2", "MKY-3", "MKY-4"]
        .map(|k| link(&server, k))
        .to_vec();
    c.get_older_bug_data = Some(format!(
        "{}{SEARCH}?maxResults=1000&jql=created>=2012-09-15T00:00:00",
        server.uri()
    ));
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.full(),
        vec![
            link(&server, "MKY-1"),
            link(&server, "MKY-2"),
            link(&server, "NEW-4")
        ],
        "MKY-99 is not held, so the listing does not import it"
    );
    assert_eq!(
        r.links(|b| b.deleted),
        vec![link(&server, "MKY-3"), link(&server, "MKY-4")]
    );
    let mky1 = r
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("MKY-1"))
        .unwrap();
    assert_eq!(mky1.looks_closed, Some(true));
    let mky2 = r
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("MKY-2"))
        .unwrap();
    assert_eq!(mky2.concerns_just_documentation, Some(true));
    assert_eq!(requests(&server).await.len(), 4);
}

#[tokio::test]
async fn deletions_are_withheld_when_the_run_is_not_healthy() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/MKY-3"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&server, "UNHEALTHY");
    c.queries = vec![Query::new(format!("{}{SEARCH}?jql=x", server.uri()))];
    c.existing_bug_urls = vec![link(&server, "MKY-3")];
    let r = run(&c).await;
    assert!(r.links(|b| b.deleted).is_empty());
    assert_eq!(r.stats.deletions_withheld, 1);
    assert!(r.stats.errors.iter().any(|e| e.temporary));
}

#[tokio::test]
async fn conditional_refresh_gives_no_update() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"errorMessages":["JQL not supported"]}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/MKY-5"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/MKY-5"))
        .respond_with(json_response(issue("MKY-5", "Open", &[])).insert_header("ETag", "\"v1\""))
        .mount(&server)
        .await;
    let mut c = config(&server, "COND");
    c.existing_bug_urls = vec![link(&server, "MKY-5")];
    let http = client();
    let first = run_with(&c, http.clone()).await;
    assert_eq!(first.full(), vec![link(&server, "MKY-5")]);
    let second = run_with(&c, http).await;
    assert_eq!(second.links(|b| b.no_update), vec![link(&server, "MKY-5")]);
    assert_eq!(second.stats.no_update, 1);
}

#[tokio::test]
async fn basic_auth_from_email_and_api_token_and_never_in_output() {
    let server = MockServer::start().await;
    // "ann@example.org:s3cret-api-token"
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header(
            "authorization",
            "Basic YW5uQGV4YW1wbGUub3JnOnMzY3JldC1hcGktdG9rZW4=",
        ))
        .respond_with(json_response(page(0, 50, 1, &keys(1..2))))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/MKY-2"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let secrets = FixedSecrets::from([
        ("JIRA_TEST_BASIC_EMAIL", "ann@example.org"),
        ("JIRA_TEST_BASIC_API_TOKEN", "s3cret-api-token"),
    ]);
    let mut c = config(&server, "BASIC");
    c.queries = vec![Query::new(format!("{}{SEARCH}?jql=x", server.uri()))];
    c.existing_bug_urls = vec![link(&server, "MKY-2")];
    let r = run_secrets(&c, client(), secrets).await;
    assert_eq!(r.full(), vec![link(&server, "MKY-1")]);
    let output: String = r.bugs.iter().map(ParsedBug::to_json_line).collect();
    let errors = format!("{:?}", r.stats.errors);
    assert!(!r.stats.errors.is_empty());
    for text in [&output, &errors] {
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            !text.contains("YW5uQGV4YW1wbGUub3JnOnMzY3JldC1hcGktdG9rZW4"),
            "{text}"
        );
    }
    let reqs = requests(&server).await;
    assert!(reqs.iter().all(|r| r.headers.contains_key("authorization")));
}

#[tokio::test]
async fn bearer_personal_access_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", "Bearer pat-123"))
        .respond_with(json_response(page(0, 50, 1, &keys(1..2))))
        .expect(1)
        .mount(&server)
        .await;
    let secrets = FixedSecrets::from([("JIRA_TEST_BEARER_PAT", "pat-123")]);
    let mut c = config(&server, "BEARER");
    c.queries = vec![Query::new(format!("{}{SEARCH}?jql=x", server.uri()))];
    let r = run_secrets(&c, client(), secrets).await;
    assert_eq!(r.full().len(), 1, "{:?}", r.stats.errors);
}

#[tokio::test]
async fn a_bug_named_by_two_queries_and_the_held_list_is_emitted_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(json_response(page(0, 50, 2, &keys(1..3))))
        .mount(&server)
        .await;
    let mut c = config(&server, "ONCE");
    c.queries = vec![
        Query::new(format!("{}{SEARCH}?jql=a", server.uri())),
        Query::new(format!("{}{SEARCH}?jql=b", server.uri())),
    ];
    c.existing_bug_urls = vec![link(&server, "MKY-1")];
    let r = run(&c).await;
    assert_eq!(r.bugs.len(), 2);
    assert_eq!(
        requests(&server).await.len(),
        2,
        "no refresh request for MKY-1"
    );
}

#[tokio::test]
async fn cloud_site_without_the_old_search_falls_back_to_search_jql() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(410).set_body_raw(
            r#"{"errorMessages":["The requested API has been removed."]}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search/jql"))
        .and(query_param("jql", "status=open"))
        .and(query_param("fields", "*navigable"))
        .respond_with(json_response(
            json!({"issues": [issue("MKY-1", "Open", &[])], "isLast": true}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(&server, "GONE");
    // The original host's query shape.
    c.queries = vec![Query::new(format!(
        "{}{SEARCH}?maxResults=1000&jql=status=open",
        server.uri()
    ))];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full(), vec![link(&server, "MKY-1")]);
}
