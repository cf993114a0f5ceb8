//! The GitLab importer against wiremock, and the parsers on `fixtures/gitlab/`.
//!
//! Every test names its own token variable (`token_env`) so that tests running in parallel
//! never see each other's environment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{
    ImportContext, ImportOptions, Importer, ParseInput, ParseOutput, Query, Registry, TrackerConfig,
};
use bugimporters_gitlab::{
    parse_issue, parse_issue_list, GitLabImporter, IssueItem, ParseSettings,
};
use bugimporters_testkit::forge::{self, FixedSecrets, Run, RUN_CAPACITY};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ISSUES: &str = "/api/v4/projects/acme%2Fweb%2Ffrontend/issues";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/gitlab/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A fixture with its `https://gitlab.example.org` links moved onto the mock server.
fn fixture_on(name: &str, base: &str) -> Vec<u8> {
    String::from_utf8(fixture(name))
        .unwrap()
        .replace("https://gitlab.example.org", base)
        .into_bytes()
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

fn config(base: &str, tag: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Frontend", "gitlab");
    c.base_url = base.to_owned();
    for (k, v) in [
        ("project", "acme/web/frontend".to_owned()),
        ("bitesized_tag", "good first issue".to_owned()),
        ("documentation_tag", "documentation".to_owned()),
        ("token_env", format!("GL_TEST_{tag}_TOKEN")),
    ] {
        c.extra.insert(k.to_owned(), Value::String(v));
    }
    c
}

fn link(base: &str, n: u32) -> String {
    format!("{base}/acme/web/frontend/-/issues/{n}")
}

async fn run_with(config: &TrackerConfig, client: Arc<HttpClient>) -> Run {
    run_with_secrets(config, client, &FixedSecrets::new()).await
}

async fn run_with_secrets(
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    secrets: &FixedSecrets,
) -> Run {
    let importer = GitLabImporter::new(config).unwrap();
    forge::run_importer_with(
        &importer,
        config,
        client,
        forge::options(now()).with_secrets(Arc::new(secrets.clone())),
        !config.queries.is_empty() || config.existing_bug_urls.is_empty(),
        RUN_CAPACITY,
    )
    .await
}

async fn run(config: &TrackerConfig) -> Run {
    run_with(config, client()).await
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn json_body(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

#[test]
fn fixture_issue_parses_to_every_field() {
    let settings = ParseSettings::new("Frontend", "Frontend", "good first issue", "documentation");
    let IssueItem::Issue(bug) =
        parse_issue(&fixture("issue.json"), "issue.json", &settings, now()).unwrap()
    else {
        panic!("confidential?")
    };
    assert_eq!(
        bug.title.as_deref(),
        Some("Settings page crashes when the locale is empty")
    );
    assert!(bug
        .description
        .as_deref()
        .unwrap()
        .starts_with("Steps to reproduce"));
    assert_eq!(bug.status.as_deref(), Some("opened"));
    assert_eq!(bug.looks_closed, Some(false));
    assert_eq!(bug.importance.as_deref(), Some("medium"));
    // author lvilla + assignees mjansen, okafor
    assert_eq!(bug.people_involved, Some(3));
    assert_eq!(bug.date_reported, parse_datetime("2023-11-20T09:15:02.417"));
    // +01:00 converted to UTC
    assert_eq!(bug.last_touched, parse_datetime("2024-03-01T16:40:11"));
    assert_eq!(bug.submitter_username.as_deref(), Some("lvilla"));
    assert_eq!(bug.submitter_realname, Some(Some("Lucía Villa".to_owned())));
    assert_eq!(
        bug.canonical_bug_link,
        "https://gitlab.example.org/acme/web/frontend/-/issues/42"
    );
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));
    assert_eq!(bug.last_polled, Some(now()));

    let page = parse_issue_list(&fixture("issues-page-1.json"), "p1", &settings, now()).unwrap();
    assert_eq!(page.items, 4);
    assert_eq!(page.bugs.len(), 3, "the confidential #7 is skipped");
    assert_eq!(
        page.skipped,
        vec!["https://gitlab.example.org/acme/web/frontend/-/issues/7".to_owned()]
    );
    let six = &page.bugs[2];
    assert_eq!(
        six.importance.as_deref(),
        Some("high"),
        "priority:: wins over severity::"
    );
    assert_eq!(
        six.people_involved,
        Some(2),
        "the author assigned to herself counts once"
    );
}

#[test]
fn parse_formats_through_the_registry() {
    let mut registry = Registry::new();
    bugimporters_gitlab::register(&mut registry);
    let (factory, _) = registry.parse_format("gitlab-issues-json").unwrap();
    let mut c = TrackerConfig::new("Frontend", "gitlab");
    c.extra
        .insert("bitesized_tag".into(), "good first issue".into());
    let cx = registry.build_context(&c).unwrap();
    let input = ParseInput::new(
        vec![("p2".into(), fixture("issues-page-2.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "gitlab-issues-json", &input).unwrap() else {
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
    let ParseOutput::Bugs(one) = factory.parse(&cx, "gitlab-issue-json", &input).unwrap() else {
        panic!()
    };
    assert_eq!(one.len(), 1);
    let keys: Vec<&str> = registry
        .factory("gitlab")
        .unwrap()
        .config_keys()
        .iter()
        .map(|k| k.name)
        .collect();
    assert!(keys.contains(&"project") && keys.contains(&"include_confidential"));
}

#[tokio::test]
async fn pages_to_the_end_by_link_header_with_the_token() {
    let server = MockServer::start().await;
    let base = server.uri();
    let secrets = FixedSecrets::from([("GL_TEST_PAGING_TOKEN", "glpat-s3cr3t-value")]);
    let next = format!("<{base}{ISSUES}?state=all&per_page=100&page=2>; rel=\"next\", <{base}{ISSUES}?state=all&per_page=100&page=2>; rel=\"last\"");
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .and(query_param("per_page", "100"))
        .respond_with(
            json_body(fixture_on("issues-page-1.json", &base)).insert_header("link", next.as_str()),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    let r = run_with_secrets(&config(&base, "PAGING"), client(), &secrets).await;
    assert_eq!(
        r.full(),
        [4, 5, 6, 8, 9]
            .iter()
            .map(|n| link(&base, *n))
            .collect::<Vec<_>>()
    );
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "one request per page, none per issue");
    for req in &reqs {
        assert_eq!(
            req.headers
                .get("private-token")
                .and_then(|v| v.to_str().ok()),
            Some("glpat-s3cr3t-value")
        );
    }
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    for b in &r.bugs {
        assert!(!b.to_json_line().contains("s3cr3t"));
        assert_eq!(b.project_name.as_deref(), Some("Frontend"));
        assert_eq!(b.tracker_name.as_deref(), Some("Frontend"));
    }
}

#[tokio::test]
async fn pages_by_x_next_page_when_there_is_no_link_header() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(
            json_body(fixture_on("issues-page-2.json", &base)).insert_header("x-next-page", ""),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(
            json_body(fixture_on("issues-page-1.json", &base)).insert_header("x-next-page", "2"),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    let mut c = config(&base, "XNEXT");
    c.queries = vec![Query::new(format!("{base}{ISSUES}?labels=bug"))];
    let r = run(&c).await;
    assert_eq!(r.full().len(), 5);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].url.query(), Some("labels=bug&page=2"));
    assert!(
        reqs[0].headers.get("private-token").is_none(),
        "no token set, none sent"
    );
}

#[tokio::test]
async fn incremental_query_asks_for_updated_after_last_polled() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("updated_after", "2024-04-30T06:00:00Z"))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    let mut c = config(&base, "INCR");
    let mut q = Query::new(format!("{base}{ISSUES}?state=opened"));
    q.last_polled = parse_datetime("2024-04-30T06:00:00");
    let mut explicit = Query::new(format!(
        "{base}{ISSUES}?state=closed&updated_after=2024-04-30T06:00:00Z"
    ));
    explicit.last_polled = parse_datetime("2020-01-01T00:00:00");
    c.queries = vec![q, explicit];
    let r = run(&c).await;
    assert_eq!(
        r.full().len(),
        2,
        "the same two issues from both queries, emitted once"
    );
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    for req in reqs {
        let since: Vec<String> = req
            .url
            .query_pairs()
            .filter(|(k, _)| k == "updated_after")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(
            since,
            vec!["2024-04-30T06:00:00Z".to_owned()],
            "{:?}",
            req.url.query()
        );
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("ratelimit-remaining", "0"),
        )
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
async fn held_bugs_are_refreshed_by_iid_and_a_404_is_a_deletion() {
    let server = MockServer::start().await;
    let base = server.uri();
    let secrets = FixedSecrets::from([("GL_TEST_REFRESH_TOKEN", "glpat-refresh")]);
    // The iid listing names 9 and 4 (and the confidential 7), not 3 and 2.
    let listed: Vec<Value> =
        serde_json::from_slice::<Vec<Value>>(&fixture_on("issues-page-1.json", &base))
            .unwrap()
            .into_iter()
            .chain(
                serde_json::from_slice::<Vec<Value>>(&fixture_on("issues-page-2.json", &base))
                    .unwrap(),
            )
            .filter(|i| [9, 7, 4].contains(&i["iid"].as_u64().unwrap()))
            .collect();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .and(header("private-token", "glpat-refresh"))
        .respond_with(json_body(serde_json::to_vec(&listed).unwrap()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/3")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not found"})))
        .mount(&server)
        .await;
    let mut moved = listed[0].clone();
    moved["iid"] = json!(2);
    moved["web_url"] = json!(link(&base, 2));
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/2")))
        .respond_with(ResponseTemplate::new(200).set_body_json(moved))
        .mount(&server)
        .await;
    let mut c = config(&base, "REFRESH");
    c.existing_bug_urls = vec![
        link(&base, 9),
        link(&base, 3),
        link(&base, 7),
        link(&base, 4),
        format!("{base}/acme/web/frontend/issues/2"),
    ];
    let r = run_with_secrets(&c, client(), &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.full(),
        vec![link(&base, 2), link(&base, 4), link(&base, 9)]
    );
    assert_eq!(
        r.links(|b| b.deleted),
        vec![
            link(&base, 3),
            link(&base, 7),
            format!("{base}/acme/web/frontend/issues/2")
        ],
        "404, the old link form of #2, and the now-confidential #7"
    );
    for d in r.bugs.iter().filter(|b| b.deleted) {
        assert!(d.tracker_name.is_some() && d.project_name.is_some() && d.last_polled.is_some());
    }
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 3, "one iid listing, then #3 and #2 alone");
    let q = reqs
        .iter()
        .find(|r| r.url.path() == ISSUES)
        .unwrap()
        .url
        .query()
        .unwrap()
        .to_owned();
    for n in [9, 3, 7, 4, 2] {
        assert!(q.contains(&format!("iids%5B%5D={n}")), "{q}");
    }
}

#[tokio::test]
async fn no_deletion_when_the_run_had_a_server_error() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(b"[]".to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/3")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/4")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let mut c = config(&base, "FLAKY");
    c.existing_bug_urls = vec![link(&base, 3), link(&base, 4)];
    let r = run(&c).await;
    assert!(
        r.links(|b| b.deleted).is_empty(),
        "a 503 elsewhere withholds deletions"
    );
    assert_eq!(r.stats.deletions_withheld, 1);
    assert_eq!(r.stats.errors.len(), 1);
}

#[tokio::test]
async fn unchanged_iid_listing_gives_no_update_records() {
    let server = MockServer::start().await;
    let base = server.uri();
    let body = fixture_on("issues-page-2.json", &base);
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(header("if-none-match", "W/\"abc\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(body).insert_header("etag", "W/\"abc\""))
        .with_priority(5)
        .mount(&server)
        .await;
    let mut c = config(&base, "ETAG");
    c.existing_bug_urls = vec![link(&base, 5), link(&base, 4)];
    let http = client();
    let first = run_with(&c, http.clone()).await;
    assert_eq!(first.full(), vec![link(&base, 4), link(&base, 5)]);
    let second = run_with(&c, http).await;
    assert_eq!(
        second.links(|b| b.no_update),
        vec![link(&base, 4), link(&base, 5)]
    );
    assert_eq!(second.stats.no_update, 2);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].headers.get("if-none-match").is_some());
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
    c.existing_bug_urls = vec![link(&base, 4), link(&base, 77)];
    // Queries first (the default: every issue), then the held bugs.
    let importer = GitLabImporter::new(&c).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let ctx = ImportContext::new(
        "Frontend",
        client(),
        4,
        tx,
        ImportOptions::new(now()),
        &c.existing_bug_urls,
    );
    importer.process_queries(&ctx).await.unwrap();
    importer
        .process_existing_bugs(&ctx, &c.existing_bug_urls)
        .await
        .unwrap();
    let stats = ctx.finish(true).await;
    drop(ctx);
    let mut bugs = Vec::new();
    while let Some(b) = rx.recv().await {
        bugs.push(b);
    }
    assert_eq!(stats.deleted, 1);
    assert_eq!(bugs.iter().filter(|b| !b.deleted).count(), 2);
    assert!(bugs
        .iter()
        .any(|b| b.deleted && b.canonical_bug_link == link(&base, 77)));
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "the listing, then #77 alone: no iid listing");
}

#[tokio::test]
async fn confidential_issues_are_imported_only_when_configured() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(fixture_on("issues-page-1.json", &base)))
        .mount(&server)
        .await;
    let mut c = config(&base, "CONF");
    assert!(!run(&c).await.full().contains(&link(&base, 7)));
    c.extra
        .insert("include_confidential".into(), Value::Bool(true));
    assert!(run(&c).await.full().contains(&link(&base, 7)));
}

#[tokio::test]
async fn the_token_goes_to_the_instance_only() {
    let instance = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let secrets = FixedSecrets::from([("GL_TEST_ORIGIN_TOKEN", "glpat-origin")]);
    Mock::given(method("GET"))
        .respond_with(json_body(b"[]".to_vec()))
        .mount(&elsewhere)
        .await;
    Mock::given(method("GET"))
        .and(header_exists("private-token"))
        .respond_with(json_body(b"[]".to_vec()))
        .mount(&instance)
        .await;
    let mut c = config(&instance.uri(), "ORIGIN");
    c.queries = vec![
        Query::new(format!("{}{ISSUES}", instance.uri())),
        Query::new(format!("{}{ISSUES}", elsewhere.uri())),
    ];
    let r = run_with_secrets(&c, client(), &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(requests(&instance).await.len(), 1);
    let other = requests(&elsewhere).await;
    assert_eq!(other.len(), 1);
    assert!(other[0].headers.get("private-token").is_none());
}

#[tokio::test]
async fn works_against_the_benchmark_mock_shape() {
    // As ../shared/bench/mock_trackers.py serves: path-encoded project, Link with rel=next,
    // first and last, 100 per page, RateLimit headers with plenty left.
    let server = MockServer::start().await;
    let base = server.uri();
    let mock_path = "/api/v4/projects/mock%2Frepo/issues";
    let issue = |i: u32| {
        json!({"id": 500000 + i, "iid": i, "title": format!("Synthetic issue {i}"), "description": format!("Body {i}"),
               "state": if i % 5 == 0 {"closed"} else {"opened"}, "labels": if i % 7 == 0 {vec!["easy"]} else {vec![]},
               "author": {"id": 1, "username": "user1"}, "assignees": [], "assignee": null,
               "created_at": "2020-01-01T00:01:00.000Z", "updated_at": "2020-01-31T00:01:00.000Z",
               "web_url": format!("{base}/mock/repo/-/issues/{i}")})
    };
    for page in 1..=3u32 {
        let items: Vec<Value> = (1..=100)
            .map(|k| (page - 1) * 100 + k)
            .filter(|i| *i <= 250)
            .map(issue)
            .collect();
        let u = |p: u32| format!("<{base}{mock_path}?state=all&page={p}&per_page=100>");
        let mut l = Vec::new();
        if page < 3 {
            l.push(format!("{}; rel=\"next\"", u(page + 1)));
        }
        l.push(format!("{}; rel=\"first\"", u(1)));
        l.push(format!("{}; rel=\"last\"", u(3)));
        let m = Mock::given(method("GET")).and(path(mock_path));
        let m = if page == 1 {
            m
        } else {
            m.and(query_param("page", page.to_string()))
        };
        m.respond_with(
            json_body(serde_json::to_vec(&items).unwrap())
                .insert_header("link", l.join(", ").as_str())
                .insert_header("ratelimit-remaining", "1999"),
        )
        .with_priority(if page == 1 { 10 } else { 1 })
        .mount(&server)
        .await;
    }
    let mut c = TrackerConfig::new("mock", "gitlab");
    c.base_url = base.clone();
    c.extra.insert("project".into(), "mock/repo".into());
    c.extra.insert("bitesized_tag".into(), "easy".into());
    c.extra
        .insert("token_env".into(), "GL_TEST_BENCH_TOKEN".into());
    let r = run(&c).await;
    assert_eq!(r.full().len(), 250);
    assert_eq!(requests(&server).await.len(), 3, "0.012 requests per issue");
    assert_eq!(
        r.bugs
            .iter()
            .filter(|b| b.good_for_newcomers == Some(true))
            .count(),
        35
    );
    assert_eq!(
        r.bugs
            .iter()
            .filter(|b| b.looks_closed == Some(true))
            .count(),
        50
    );
}

#[tokio::test]
async fn only_listings_without_a_time_filter_are_conditional() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(
            json_body(fixture_on("issues-page-2.json", &base)).insert_header("etag", "W/\"p\""),
        )
        .mount(&server)
        .await;
    let mut c = config(&base, "VALID");
    let mut q = Query::new(format!("{base}{ISSUES}?state=opened"));
    q.last_polled = parse_datetime("2024-04-30T06:00:00");
    c.queries = vec![q, Query::new(format!("{base}{ISSUES}?state=closed"))];
    let http = client();
    let r = run_with(&c, http.clone()).await;
    assert_eq!(r.full().len(), 2);
    assert_eq!(requests(&server).await.len(), 2);
    let opened = format!("{base}{ISSUES}?state=opened&updated_after=2024-04-30T06%3A00%3A00Z");
    let closed = format!("{base}{ISSUES}?state=closed");
    assert!(
        http.validators("Frontend", &opened).is_none(),
        "updated_after URLs change every run"
    );
    assert!(http.validators("Frontend", &closed).is_some());
}

#[tokio::test]
async fn held_links_of_a_former_instance_name_are_rekeyed() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("iids[]", "4"))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    let mut c = config(&base, "MOVED");
    let old = "https://old-gitlab.example/acme/web/frontend/-/issues/4".to_owned();
    c.existing_bug_urls = vec![old.clone()];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full(), vec![link(&base, 4)]);
    assert_eq!(r.links(|b| b.deleted), vec![old]);
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn participants_are_counted_only_when_asked_for() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/5/participants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "username": "ghostly", "name": ""},
            {"id": 2, "username": "mjansen", "name": "Marta Jansen"},
            {"id": 3, "username": "okafor", "name": "Chidi Okafor"}
        ])))
        .mount(&server)
        .await;
    let mut c = config(&base, "PART");
    let r = run(&c).await;
    assert!(r.bugs.iter().all(|b| b.people_involved == Some(1)));
    assert_eq!(
        requests(&server).await.len(),
        1,
        "no request per issue by default"
    );

    server.reset().await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/5/participants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "username": "ghostly"}, {"id": 2, "username": "mjansen"}, {"id": 3, "username": "okafor"}
        ])))
        .mount(&server)
        .await;
    c.extra
        .insert("fetch_participants".into(), Value::Bool(true));
    let r = run(&c).await;
    let five = r
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link == link(&base, 5))
        .unwrap();
    assert_eq!(five.people_involved, Some(3));
    let four = r
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link == link(&base, 4))
        .unwrap();
    assert_eq!(
        four.people_involved,
        Some(1),
        "a failed participants request keeps the count"
    );
    assert_eq!(r.stats.errors.len(), 1);
    assert_eq!(requests(&server).await.len(), 3);
}

#[test]
fn the_documented_examples_build() {
    let p = format!(
        "{}/../../../docs/trackers/gitlab.md",
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
    bugimporters_gitlab::register(&mut registry);
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

#[tokio::test]
async fn held_bugs_of_a_renamed_project_are_matched_by_iid() {
    let server = MockServer::start().await;
    let base = server.uri();
    // GitLab follows the old path to the renamed project; its issues carry the new path.
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/acme%2Fold-frontend/issues"))
        .respond_with(json_body(fixture_on("issues-page-2.json", &base)))
        .mount(&server)
        .await;
    let mut c = config(&base, "RENAMED");
    let old = format!("{base}/acme/old-frontend/-/issues/5");
    c.existing_bug_urls = vec![old.clone()];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full(), vec![link(&base, 5)]);
    assert_eq!(r.links(|b| b.deleted), vec![old]);
    assert_eq!(requests(&server).await.len(), 1, "no request per bug");
}
