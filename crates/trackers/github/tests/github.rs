//! The GitHub importer against wiremock, and the parsers on `fixtures/github/`.
//!
//! Every test names its own credential variables (`token_env`, `username_env`,
//! `personal_access_token_env`) so that tests running in parallel never see each other's
//! environment; only `basic_auth_with_the_originals_variables` uses the original names.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{
    ImportOptions, ParseInput, ParseOutput, ParsedBug, Query, Registry, TrackerConfig,
};
use bugimporters_github::{
    parse_issue, parse_issue_list, GitHubImporter, IssueItem, ParseSettings,
};
use bugimporters_testkit::forge::{self, FixedSecrets, Run, RUN_CAPACITY};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO_PATH: &str = "/repos/octo-org/hello-world/issues";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn link(n: u32) -> String {
    format!("https://github.com/octo-org/hello-world/issues/{n}")
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

/// A config for the wiremock API root whose credential variables are `tag`-specific (and
/// unset unless the test sets them).
fn config(api: &str, tag: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("hello", "github.GitHubBugImporter");
    for (k, v) in [
        ("github_name", "octo-org".to_owned()),
        ("github_repo", "hello-world".to_owned()),
        ("bitesized_tag", "good first issue".to_owned()),
        ("documentation_tag", "documentation".to_owned()),
        ("api_url", api.to_owned()),
        ("token_env", format!("GH_TEST_{tag}_TOKEN")),
        ("username_env", format!("GH_TEST_{tag}_USER")),
        ("personal_access_token_env", format!("GH_TEST_{tag}_PAT")),
    ] {
        c.extra.insert(k.to_owned(), Value::String(v));
    }
    c
}

fn query(url: String) -> Query {
    Query::new(url)
}

async fn run_with(config: &TrackerConfig, client: Arc<HttpClient>) -> Run {
    run_secrets(config, client, FixedSecrets::new()).await
}

async fn run_secrets(
    config: &TrackerConfig,
    client: Arc<HttpClient>,
    secrets: FixedSecrets,
) -> Run {
    let importer = GitHubImporter::new(config).unwrap();
    let options = forge::options(now()).with_secrets(Arc::new(secrets));
    forge::run_importer_with(&importer, config, client, options, true, RUN_CAPACITY).await
}

async fn run(config: &TrackerConfig) -> Run {
    run_with(config, client()).await
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

fn path_and_query(r: &wiremock::Request) -> String {
    match r.url.query() {
        Some(q) => format!("{}?{q}", r.url.path()),
        None => r.url.path().to_owned(),
    }
}

fn json_response(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json; charset=utf-8")
}

fn issue_json(n: u32, state: &str, html_url: &str) -> Value {
    json!({
        "number": n, "html_url": html_url, "title": format!("issue {n}"), "body": "b",
        "state": state, "user": {"login": "mona"}, "assignee": null, "comments": 0,
        "labels": [], "created_at": "2023-01-01T00:00:00Z", "updated_at": "2023-02-01T00:00:00Z"
    })
}

// ---------------------------------------------------------------------------------- parsers

#[test]
fn fixture_issue_parses_by_the_originals_rules() {
    let settings = ParseSettings::new("hello", "good first issue,easy", "documentation");
    let item = parse_issue(&fixture("issue.json"), "issue.json", &settings, now()).unwrap();
    let IssueItem::Issue(bug) = item else {
        panic!("{item:?}")
    };
    assert_eq!(bug.canonical_bug_link, link(1347));
    assert_eq!(bug.title.as_deref(), Some("Found a bug in the greeting"));
    assert_eq!(
        bug.description.as_deref(),
        Some("The greeting prints `Helo`.\r\n\r\nSteps: run `hello --loud`.")
    );
    assert_eq!(bug.status.as_deref(), Some("open"));
    assert_eq!(bug.looks_closed, Some(false));
    // reporter + a different assignee + comments
    assert_eq!(bug.people_involved, Some(3));
    assert_eq!(bug.submitter_username.as_deref(), Some("octocat"));
    assert_eq!(bug.submitter_realname, Some(Some(String::new())));
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));
    assert_eq!(bug.importance, None);
    let line: Value = serde_json::from_str(&bug.to_json_line()).unwrap();
    assert_eq!(line["date_reported"], "2023-09-14T08:15:02");
    assert_eq!(line["last_touched"], "2023-10-02T17:40:59");
    assert_eq!(line["last_polled"], "2024-05-01T12:00:00");
    assert_eq!(line["_project_name"], "hello");
    assert_eq!(line["_tracker_name"], "hello");
    assert!(line.get("importance").is_none());
}

#[test]
fn fixture_pages_skip_pull_requests() {
    let settings = ParseSettings::new("hello", "good first issue", "documentation");
    let p1 = parse_issue_list(&fixture("issues-page-1.json"), "p1", &settings, now()).unwrap();
    let p2 = parse_issue_list(&fixture("issues-page-2.json"), "p2", &settings, now()).unwrap();
    assert_eq!((p1.items, p1.bugs.len(), p1.pull_requests), (3, 3, 0));
    assert_eq!((p2.items, p2.bugs.len(), p2.pull_requests), (3, 2, 1));
    assert!(p1.errors.is_empty() && p2.errors.is_empty());
    let all: Vec<&ParsedBug> = p1.bugs.iter().chain(&p2.bugs).collect();
    assert!(all.iter().all(|b| !b.canonical_bug_link.contains("/pull/")));
    let by = |n: u32| {
        all.iter()
            .find(|b| b.canonical_bug_link == link(n))
            .unwrap()
    };
    assert_eq!(by(1350).concerns_just_documentation, Some(true));
    assert_eq!(by(1349).looks_closed, Some(true));
    assert_eq!(
        by(1349).people_involved,
        Some(2),
        "assignee is the reporter"
    );
    assert_eq!(by(1348).description.as_deref(), Some(""), "null body");
    assert_eq!(by(1348).good_for_newcomers, Some(true));
    assert_eq!(by(1348).people_involved, Some(3));
}

#[test]
fn parse_formats_through_the_registry() {
    let mut registry = Registry::new();
    bugimporters_github::register(&mut registry);
    let mut cfg = TrackerConfig::new("hello", "github");
    cfg.extra.insert(
        "bitesized_tag".into(),
        Value::String("good first issue".into()),
    );
    let cx = registry.build_context(&cfg).unwrap();
    let (factory, _) = registry.parse_format("github-issues-json").unwrap();
    let input = ParseInput::new(
        vec![("p2.json".into(), fixture("issues-page-2.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "github-issues-json", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs.len(), 2);
    let input = ParseInput::new(
        vec![("i.json".into(), fixture("issue.json").into())],
        Some("https://api.github.com/repos/octo-org/hello-world/issues/1347".into()),
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "github-issue-json", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs[0].good_for_newcomers, Some(true));
    // A list page given as a single issue is an error naming the file, not a panic.
    let input = ParseInput::new(
        vec![("p1.json".into(), fixture("issues-page-1.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let e = factory
        .parse(&cx, "github-issue-json", &input)
        .unwrap_err()
        .to_string();
    assert!(e.contains("p1.json"), "{e}");
}

// ---------------------------------------------------------------------------------- crawling

#[tokio::test]
async fn pages_to_the_end_by_link_and_skips_pull_requests() {
    let server = MockServer::start().await;
    let base = format!("{}{REPO_PATH}", server.uri());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param_is_missing("page"))
        .respond_with(json_response(fixture("issues-page-1.json")).insert_header(
            "Link",
            format!(
                r#"<{base}?state=open&per_page=3&page=2>; rel="next", <{base}?state=open&per_page=3&page=2>; rel="last""#
            )
            .as_str(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("page", "2"))
        .respond_with(json_response(fixture("issues-page-2.json")).insert_header(
            "Link",
            format!(r#"<{base}?state=open&per_page=3&page=1>; rel="prev", <{base}?state=open&per_page=3&page=1>; rel="first""#)
                .as_str(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "PAGING");
    cfg.queries = vec![query(format!("{base}?state=open&per_page=3"))];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.links(|_| true),
        [1345, 1347, 1348, 1349, 1350].map(link).to_vec(),
        "five issues, the pull request skipped"
    );
    let reqs = requests(&server).await;
    assert_eq!(
        reqs.iter().map(path_and_query).collect::<Vec<_>>(),
        vec![
            format!("{REPO_PATH}?state=open&per_page=3"),
            format!("{REPO_PATH}?state=open&per_page=3&page=2"),
        ],
        "the configured URL first, then the Link header's"
    );
    for r in &reqs {
        assert!(
            r.headers.get("authorization").is_none(),
            "no credentials set"
        );
        assert_eq!(r.headers["accept"], "application/vnd.github+json");
    }
}

#[tokio::test]
async fn a_query_without_page_size_continues_at_100_per_page_without_duplicates() {
    let server = MockServer::start().await;
    let base = format!("{}{REPO_PATH}", server.uri());
    let mut all: Vec<Value> = serde_json::from_slice(&fixture("issues-page-1.json")).unwrap();
    all.extend(serde_json::from_slice::<Vec<Value>>(&fixture("issues-page-2.json")).unwrap());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param_is_missing("per_page"))
        .respond_with(json_response(fixture("issues-page-1.json")).insert_header(
            "Link",
            format!(r#"<{base}?state=open&page=2>; rel="next""#).as_str(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("per_page", "100"))
        .respond_with(json_response(serde_json::to_vec(&all).unwrap()))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "UPSIZE");
    cfg.queries = vec![query(format!("{base}?state=open"))];
    let r = run(&cfg).await;
    assert_eq!(r.bugs.len(), 5, "each issue once");
    assert_eq!(
        requests(&server)
            .await
            .iter()
            .map(path_and_query)
            .collect::<Vec<_>>(),
        vec![
            format!("{REPO_PATH}?state=open"),
            format!("{REPO_PATH}?state=open&per_page=100"),
        ]
    );
}

/// A query with `last_polled` (or its own `since=`) is asked as its stable stand-in, sorted by
/// last update (a conditional request that an unchanged repository answers 304 for free), and
/// keeps the issues updated since that time: what the `since=` listing would have given.
#[tokio::test]
async fn since_comes_from_the_querys_last_polled() {
    let server = MockServer::start().await;
    let updated = |n: u32, state: &str, at: &str| {
        let mut v = issue_json(n, state, &link(n));
        v["updated_at"] = json!(at);
        v
    };
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "all"))
        .and(query_param("sort", "updated"))
        .and(query_param("direction", "desc"))
        .and(query_param("per_page", "100"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([
                updated(1, "closed", "2024-03-02T00:00:00Z"),
                updated(2, "open", "2024-03-01T10:20:29Z"),
            ]))
            .unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "SINCE");
    let mut q = query(format!("{}{REPO_PATH}?state=all", server.uri()));
    q.last_polled = parse_datetime("2024-03-01T10:20:30.123456");
    // A query that already says `since` keeps its own time (2020: both issues are newer).
    let own = query(format!(
        "{}{REPO_PATH}?state=open&since=2020-01-01T00:00:00Z",
        server.uri()
    ));
    let mut own_polled = own.clone();
    own_polled.last_polled = parse_datetime("2024-03-01T10:20:30");
    cfg.queries = vec![q, own_polled];
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "open"))
        .and(query_param("sort", "updated"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([updated(3, "open", "2021-01-01T00:00:00Z")])).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.links(|b| b.looks_closed == Some(true)), vec![link(1)]);
    // Issue 2 was last updated before the query's last_polled: not the query's.
    assert_eq!(r.links(|_| true), vec![link(1), link(3)]);
}

/// More than a page changed since: the stand-in's first page is all recent, so the `since=`
/// listing itself follows (issues seen twice are written once).
#[tokio::test]
async fn a_full_page_of_changes_falls_back_to_the_since_listing() {
    let server = MockServer::start().await;
    let recent: Vec<Value> = (1..=100)
        .map(|n| {
            let mut v = issue_json(n, "open", &link(n));
            v["updated_at"] = json!("2024-05-01T00:00:00Z");
            v
        })
        .collect();
    let next = format!("<{}{REPO_PATH}?page=2>; rel=\"next\"", server.uri());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("sort", "updated"))
        .respond_with(
            json_response(serde_json::to_vec(&recent).unwrap())
                .insert_header("link", next.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("since", "2024-03-01T00:00:00Z"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([
                issue_json(101, "open", &link(101)),
                recent[0].clone()
            ]))
            .unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "SINCEFULL");
    let mut q = query(format!("{}{REPO_PATH}?state=open", server.uri()));
    q.last_polled = parse_datetime("2024-03-01T00:00:00");
    cfg.queries = vec![q];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.bugs.len(),
        101,
        "100 from the stand-in, one more from since="
    );
}

#[tokio::test]
async fn etag_304_costs_nothing_and_unchanged_bugs_become_no_update() {
    let server = MockServer::start().await;
    let list = format!("{}{REPO_PATH}?state=open", server.uri());
    // Conditional answers first.
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(header("if-none-match", r#""list-v1""#))
        .respond_with(ResponseTemplate::new(304).insert_header("ETag", r#""list-v1""#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1345")))
        .and(header("if-none-match", r#""i1345""#))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    // Full answers.
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param_is_missing("page"))
        .respond_with(
            json_response(
                serde_json::to_vec(&json!([issue_json(1347, "open", &link(1347))])).unwrap(),
            )
            .insert_header("ETag", r#""list-v1""#),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("page", "2"))
        .respond_with(json_response(b"[]".to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1345")))
        .respond_with(
            json_response(serde_json::to_vec(&issue_json(1345, "open", &link(1345))).unwrap())
                .insert_header("ETag", r#""i1345""#),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1347")))
        .respond_with(json_response(
            serde_json::to_vec(&issue_json(1347, "closed", &link(1347))).unwrap(),
        ))
        .mount(&server)
        .await;

    let http = client();
    let mut cfg = config(&server.uri(), "ETAG");
    cfg.queries = vec![query(list.clone())];
    cfg.existing_bug_urls = vec![link(1345)];
    let first = run_with(&cfg, http.clone()).await;
    assert_eq!(first.full().len(), 2, "1347 from the query, 1345 refreshed");
    assert_eq!(first.stats.no_update, 0);

    cfg.existing_bug_urls = vec![link(1345), link(1347)];
    let seen_before = requests(&server).await.len();
    let second = run_with(&cfg, http.clone()).await;
    assert!(second.stats.errors.is_empty(), "{:?}", second.stats.errors);
    assert_eq!(second.links(|b| b.no_update), vec![link(1345)]);
    // The query page was 304, so nothing says whether 1347 changed: it is asked for.
    assert_eq!(second.links(|b| !b.no_update), vec![link(1347)]);
    assert_eq!(second.full_bugs()[0].looks_closed, Some(true));
    let reqs = requests(&server).await;
    let second_reqs = &reqs[seen_before..];
    let list_req = second_reqs
        .iter()
        .find(|r| path_and_query(r) == format!("{REPO_PATH}?state=open"))
        .unwrap();
    assert_eq!(list_req.headers["if-none-match"], r#""list-v1""#);
    // No page after the 304: the answer it stands for had no next page, and a page past the
    // end would cost a point to say `[]`.
    assert_eq!(second_reqs.len(), 3, "list (304), 1345 (304), 1347");
    assert!(second_reqs
        .iter()
        .all(|r| !path_and_query(r).contains("page=2")));
}

#[tokio::test]
async fn waits_out_an_exhausted_rate_limit_then_succeeds() {
    let server = MockServer::start().await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", reset.to_string().as_str())
                .set_body_string(r#"{"message": "API rate limit exceeded"}"#),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(
            json_response(serde_json::to_vec(&json!([issue_json(3, "open", &link(3))])).unwrap())
                .insert_header("X-RateLimit-Remaining", "4999"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "RATE");
    cfg.queries = vec![query(format!("{}{REPO_PATH}?state=open", server.uri()))];
    let started = Instant::now();
    let r = run(&cfg).await;
    let waited = started.elapsed();
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.links(|_| true), vec![link(3)]);
    assert_eq!(requests(&server).await.len(), 2, "one refusal, one retry");
    assert!(
        waited >= Duration::from_millis(900),
        "the retry waited for the reset ({waited:?})"
    );
}

#[tokio::test]
async fn honours_retry_after_on_a_secondary_rate_limit() {
    // GitHub's secondary limit answers 403 with Retry-After; others use 429.
    for status in [403u16, 429] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(REPO_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("Retry-After", "1")
                    .set_body_string(r#"{"message": "You have exceeded a secondary rate limit."}"#),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(REPO_PATH))
            .respond_with(json_response(
                serde_json::to_vec(&json!([issue_json(4, "open", &link(4))])).unwrap(),
            ))
            .mount(&server)
            .await;
        let mut cfg = config(&server.uri(), "RETRYAFTER");
        cfg.queries = vec![query(format!("{}{REPO_PATH}?state=open", server.uri()))];
        let started = Instant::now();
        let r = run(&cfg).await;
        assert!(started.elapsed() >= Duration::from_millis(900), "{status}");
        assert_eq!(r.links(|_| true), vec![link(4)], "{status}");
        assert!(r.stats.errors.is_empty(), "{status}: {:?}", r.stats.errors);
        assert_eq!(requests(&server).await.len(), 2, "{status}");
    }
}

#[tokio::test]
async fn gone_issues_of_held_bugs_become_deletions() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(json_response(b"[]".to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1347")))
        .respond_with(ResponseTemplate::new(404).set_body_string(r#"{"message":"Not Found"}"#))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1345")))
        .respond_with(
            ResponseTemplate::new(410).set_body_string(r#"{"message":"Issues are disabled"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1348")))
        .respond_with(json_response(
            serde_json::to_vec(&issue_json(1348, "open", &link(1348))).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "GONE");
    cfg.queries = vec![query(format!("{}{REPO_PATH}?state=open", server.uri()))];
    cfg.existing_bug_urls = vec![link(1347), link(1345), link(1348)];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.stats.deleted, 2);
    assert_eq!(r.links(|b| b.deleted), vec![link(1345), link(1347)]);
    for d in r.bugs.iter().filter(|b| b.deleted) {
        assert_eq!(d.tracker_name.as_deref(), Some("hello"));
        assert_eq!(d.project_name.as_deref(), Some("hello"));
        assert_eq!(d.last_polled, Some(now()));
    }
    assert_eq!(r.links(|b| !b.deleted), vec![link(1348)]);
}

#[tokio::test]
async fn a_transferred_issue_is_followed_and_the_old_link_deleted() {
    let server = MockServer::start().await;
    let moved_api = format!("{}/repositories/99/issues/5", server.uri());
    let new_link = "https://github.com/octo-org/other-repo/issues/5".to_owned();
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/12")))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", moved_api.as_str()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/99/issues/5"))
        .respond_with(json_response(
            serde_json::to_vec(&issue_json(5, "open", &new_link)).unwrap(),
        ))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "MOVED");
    cfg.queries = vec![query(format!(
        "{}{REPO_PATH}?state=open&labels=none",
        server.uri()
    ))];
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(json_response(b"[]".to_vec()))
        .mount(&server)
        .await;
    cfg.existing_bug_urls = vec![link(12)];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    // Issue 13: an issue transferred to another repository is gone from this tracker; the
    // other repository's link is not this tracker's to write.
    assert_eq!(r.links(|b| !b.deleted), Vec::<String>::new());
    assert_eq!(r.links(|b| b.deleted), vec![link(12)]);
    assert!(!r.bugs.iter().any(|b| b.canonical_bug_link == new_link));
}

#[tokio::test]
async fn older_bug_data_refreshes_in_bulk_with_both_states() {
    let server = MockServer::start().await;
    let older = format!("{}{REPO_PATH}?since=2023-09-01T00%3A00%3A00", server.uri());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param_is_missing("state"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([issue_json(1347, "open", &link(1347))])).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "closed"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([
                issue_json(1349, "closed", &link(1349)),
                issue_json(1340, "closed", &link(1340))
            ]))
            .unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let pr_link = "https://github.com/octo-org/hello-world/pull/1346".to_owned();
    let mut pr = issue_json(1346, "open", &pr_link);
    pr["pull_request"] =
        json!({"url": "https://api.github.com/repos/octo-org/hello-world/pulls/1346"});
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1346")))
        .respond_with(json_response(serde_json::to_vec(&pr).unwrap()))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "OLDER");
    // A configured query that names none of the held bugs.
    cfg.queries = vec![query(format!(
        "{}{REPO_PATH}?state=open&labels=x",
        server.uri()
    ))];
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("labels", "x"))
        .respond_with(json_response(b"[]".to_vec()))
        .with_priority(1)
        .mount(&server)
        .await;
    cfg.get_older_bug_data = Some(older.clone());
    cfg.existing_bug_urls = vec![
        link(1347),
        link(1340),
        link(1200),
        link(1201),
        pr_link.clone(),
    ];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.links(|b| !b.no_update && !b.deleted),
        vec![link(1340), link(1347)]
    );
    assert!(
        r.full_bugs()
            .iter()
            .all(|b| b.canonical_bug_link != link(1349)),
        "not held, not named by a query: not emitted"
    );
    assert_eq!(r.links(|b| b.no_update), vec![link(1200), link(1201)]);
    assert_eq!(r.links(|b| b.deleted), vec![pr_link]);
    let seen: Vec<String> = requests(&server).await.iter().map(path_and_query).collect();
    assert_eq!(
        seen.iter()
            .filter(|p| !p.contains("labels=x"))
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            format!("{REPO_PATH}?since=2023-09-01T00%3A00%3A00"),
            format!("{REPO_PATH}?since=2023-09-01T00%3A00%3A00&state=closed"),
            format!("{REPO_PATH}/1346"),
        ],
        "the host's URL verbatim first, then the closed half, then the pull request alone"
    );
}

#[tokio::test]
async fn without_queries_every_issue_is_listed_and_unlisted_held_bugs_checked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "all"))
        .and(query_param("per_page", "100"))
        .respond_with(json_response(fixture("issues-page-1.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/1000")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "DEFAULTQ");
    cfg.existing_bug_urls = vec![link(1350), link(1000)];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.full().len(), 3);
    assert_eq!(
        r.links(|b| b.deleted),
        vec![link(1000)],
        "a complete listing of every issue did not name it"
    );
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn no_queries_with_older_bug_data_only_refreshes_from_that_url() {
    let server = MockServer::start().await;
    let older = format!("{}{REPO_PATH}?since=2012-09-15T00%3A00%3A00", server.uri());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(json_response(fixture("issues-page-1.json")))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "REFRESHONLY");
    cfg.get_older_bug_data = Some(older);
    cfg.existing_bug_urls = vec![link(1349)];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.links(|_| true), vec![link(1349)], "only the held bug");
    assert_eq!(
        requests(&server)
            .await
            .iter()
            .map(path_and_query)
            .collect::<Vec<_>>(),
        vec![format!("{REPO_PATH}?since=2012-09-15T00%3A00%3A00")],
        "the host's URL verbatim, and nothing else once every held bug is found"
    );
}

#[tokio::test]
async fn github_enterprise_root_and_rebased_public_urls() {
    let server = MockServer::start().await;
    let api = format!("{}/api/v3", server.uri());
    let html = |n: u32| format!("{}/octo-org/hello-world/issues/{n}", server.uri());
    Mock::given(method("GET"))
        .and(path(format!("/api/v3{REPO_PATH}")))
        .and(query_param("state", "open"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([issue_json(1, "open", &html(1))])).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v3{REPO_PATH}/2")))
        .respond_with(json_response(
            serde_json::to_vec(&issue_json(2, "closed", &html(2))).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&api, "GHE");
    // The original host always exported api.github.com URLs.
    cfg.queries = vec![query(
        "https://api.github.com/repos/octo-org/hello-world/issues?state=open".into(),
    )];
    cfg.existing_bug_urls = vec![html(2)];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let mut links = r.links(|_| true);
    links.sort();
    assert_eq!(links, vec![html(1), html(2)]);
}

// ------------------------------------------------------------------------------ credentials

#[tokio::test]
async fn basic_auth_with_the_originals_variables() {
    // The only test that gives the original variable names; the others name their own.
    let secrets = FixedSecrets::from([
        ("GITHUB_USERNAME", "sample_username"),
        ("GITHUB_PERSONAL_ACCESS_TOKEN", "sample_token"),
    ]);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(json_response(b"[]".to_vec()))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "BASIC");
    cfg.extra.remove("username_env");
    cfg.extra.remove("personal_access_token_env");
    cfg.queries = vec![query(format!("{}{REPO_PATH}?state=open", server.uri()))];
    let r = run_secrets(&cfg, client(), secrets).await;
    assert!(r.stats.errors.is_empty());
    let reqs = requests(&server).await;
    assert!(!reqs.is_empty());
    for r in reqs {
        assert_eq!(
            r.headers["authorization"],
            "Basic c2FtcGxlX3VzZXJuYW1lOnNhbXBsZV90b2tlbg=="
        );
    }
}

#[tokio::test]
async fn bearer_tokens_rotate_when_one_runs_low() {
    let secrets = FixedSecrets::from([("GH_TEST_ROTATE_TOKEN", "tok-one, tok-two")]);
    let server = MockServer::start().await;
    let base = format!("{}{REPO_PATH}", server.uri());
    let far = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3000)
        .to_string();
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param_is_missing("page"))
        .respond_with(
            json_response(serde_json::to_vec(&json!([issue_json(1, "open", &link(1))])).unwrap())
                .insert_header("X-RateLimit-Remaining", "7")
                .insert_header("X-RateLimit-Reset", far.as_str())
                .insert_header(
                    "Link",
                    format!(r#"<{base}?per_page=1&page=2>; rel="next""#).as_str(),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("page", "2"))
        .respond_with(
            json_response(serde_json::to_vec(&json!([issue_json(2, "open", &link(2))])).unwrap())
                .insert_header("X-RateLimit-Remaining", "4999"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "ROTATE");
    cfg.queries = vec![query(format!("{base}?per_page=1"))];
    let r = run_secrets(&cfg, client(), secrets).await;
    assert_eq!(r.bugs.len(), 2);
    let auth: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(auth, vec!["Bearer tok-one", "Bearer tok-two"]);
}

#[tokio::test]
async fn the_token_never_leaves_for_other_hosts_or_into_output() {
    const SECRET: &str = "ghp_s3cr3tT0kenValue";
    let secrets = FixedSecrets::from([("GH_TEST_LEAK_TOKEN", SECRET)]);
    let api = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(json_response(
            serde_json::to_vec(&json!([issue_json(1, "open", &link(1))])).unwrap(),
        ))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/2")))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO_PATH}/3")))
        .respond_with(json_response(b"{not json".to_vec()))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([issue_json(9, "open", &link(9))])).unwrap(),
        ))
        .mount(&elsewhere)
        .await;
    let mut cfg = config(&api.uri(), "LEAK");
    cfg.queries = vec![
        query(format!("{}{REPO_PATH}?state=open", api.uri())),
        query(format!("{}/steal?state=open", elsewhere.uri())),
    ];
    cfg.existing_bug_urls = vec![link(2), link(3)];
    let importer = GitHubImporter::new(&cfg).unwrap();
    assert!(!format!("{importer:?}").contains(SECRET));
    let r = run_secrets(&cfg, client(), secrets).await;
    assert_eq!(r.links(|_| true), vec![link(1), link(9)]);
    assert_eq!(r.stats.errors.len(), 2, "{:?}", r.stats.errors);
    for r in requests(&api).await {
        assert_eq!(
            r.headers["authorization"],
            format!("Bearer {SECRET}").as_str()
        );
    }
    for r in requests(&elsewhere).await {
        assert!(
            r.headers.get("authorization").is_none(),
            "credentials go to the API origin only"
        );
    }
    let mut everything = format!("{:?}", r.stats);
    for b in &r.bugs {
        everything.push_str(&b.to_json_line());
    }
    assert!(!everything.contains(SECRET));
    assert!(!everything.contains("s3cr3t"));
}

#[tokio::test]
async fn numbered_pages_after_a_last_link_are_all_fetched_once_in_order() {
    let server = MockServer::start().await;
    let base = format!("{}{REPO_PATH}", server.uri());
    for page in 1..=6u32 {
        let mut links = Vec::new();
        if page < 6 {
            links.push(format!(
                r#"<{base}?state=all&per_page=1&page={}>; rel="next""#,
                page + 1
            ));
        }
        links.push(format!(
            r#"<{base}?state=all&per_page=1&page=6>; rel="last""#
        ));
        let matcher = if page == 1 {
            Mock::given(method("GET"))
                .and(path(REPO_PATH))
                .and(query_param_is_missing("page"))
        } else {
            Mock::given(method("GET"))
                .and(path(REPO_PATH))
                .and(query_param("page", page.to_string().as_str()))
        };
        matcher
            .respond_with(
                json_response(
                    serde_json::to_vec(&json!([issue_json(page, "open", &link(page))])).unwrap(),
                )
                .insert_header("Link", links.join(", ").as_str()),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut cfg = config(&server.uri(), "PARALLEL");
    cfg.queries = vec![query(format!("{base}?state=all&per_page=1"))];
    let r = run(&cfg).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(
        r.bugs
            .iter()
            .map(|b| b.canonical_bug_link.clone())
            .collect::<Vec<_>>(),
        (1..=6).map(link).collect::<Vec<_>>(),
        "emitted in page order"
    );
    assert_eq!(requests(&server).await.len(), 6);
}

#[tokio::test]
async fn a_looping_link_or_a_malformed_page_is_reported_and_the_rest_goes_on() {
    let server = MockServer::start().await;
    let looping = format!("{}{REPO_PATH}?state=open&per_page=1", server.uri());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "open"))
        .respond_with(
            json_response(serde_json::to_vec(&json!([issue_json(1, "open", &link(1))])).unwrap())
                .insert_header("Link", format!(r#"<{looping}>; rel="next""#).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "closed"))
        .respond_with(json_response(br#"{"message": "Bad credentials"}"#.to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .and(query_param("state", "all"))
        .respond_with(json_response(
            serde_json::to_vec(&json!([issue_json(2, "closed", &link(2))])).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "BROKEN");
    cfg.queries = vec![
        query(looping.clone()),
        query(format!("{}{REPO_PATH}?state=closed", server.uri())),
        query(format!("{}{REPO_PATH}?state=all&labels=x", server.uri())),
    ];
    let r = run(&cfg).await;
    assert_eq!(r.links(|_| true), vec![link(1), link(2)]);
    let reasons: Vec<String> = r.stats.errors.iter().map(|e| e.reason.clone()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|e| e.contains("loops")), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|e| e.contains("Bad credentials") && e.contains("state=closed")),
        "{reasons:?}"
    );
}

#[test]
fn bad_github_keys_fail_the_build_naming_key_and_tracker() {
    let mut registry = Registry::new();
    bugimporters_github::register(&mut registry);
    let mut cfg = TrackerConfig::new("broken one", "github");
    cfg.extra
        .insert("github_repo".into(), Value::String("x".into()));
    let e = registry.build(&cfg).unwrap_err().to_string();
    assert!(e.contains("github_name") && e.contains("broken one"), "{e}");
    cfg.extra
        .insert("github_name".into(), Value::String("o".into()));
    cfg.extra
        .insert("api_url".into(), Value::String("file:///etc".into()));
    let e = registry.build(&cfg).unwrap_err().to_string();
    assert!(e.contains("api_url"), "{e}");
    cfg.extra.remove("api_url");
    cfg.extra
        .insert("bitesized_tagg".into(), Value::String("easy".into()));
    let built = registry.build(&cfg).unwrap();
    assert_eq!(built.kind, "github");
    assert_eq!(built.unknown_keys, vec!["bitesized_tagg".to_owned()]);
}

/// A rate-limited 403 on a held bug — GitHub's secondary-limit body without any header, or an
/// exhausted `X-RateLimit-Remaining` — is temporary: the deletion of another held bug (410)
/// in the same run is withheld, and the rate-limited bug is not deleted.
#[tokio::test]
async fn a_rate_limited_403_withholds_deletions() {
    for (name, limited) in [
        (
            "secondary",
            ResponseTemplate::new(403).set_body_string(
                r#"{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#,
            ),
        ),
        (
            "primary",
            ResponseTemplate::new(403)
                .insert_header("X-RateLimit-Remaining", "0")
                .set_body_string(r#"{"message": "API rate limit exceeded for 1.2.3.4."}"#),
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{REPO_PATH}/5")))
            .respond_with(limited)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{REPO_PATH}/6")))
            .respond_with(ResponseTemplate::new(410))
            .mount(&server)
            .await;
        let mut cfg = config(&server.uri(), "RATELIMIT403");
        cfg.existing_bug_urls = vec![link(5), link(6)];
        let importer = GitHubImporter::new(&cfg).unwrap();
        let r = forge::run_importer(&importer, &cfg, client(), now(), false).await;
        assert!(r.links(|b| b.deleted).is_empty(), "{name}: {:?}", r.bugs);
        assert_eq!(r.stats.deletions_withheld, 1, "{name}");
        assert!(
            r.stats.errors.iter().any(|e| e.temporary),
            "{name}: {:?}",
            r.stats.errors
        );
    }
}

/// A held-bug refresh from complete `since=` listings (both states) that name none of 100 held
/// issues; `gone` maps issue numbers to the answer of their own GET. Returns the run and the
/// requests made.
async fn since_refresh(gone: &[(u32, ResponseTemplate)]) -> (Run, Vec<String>) {
    let server = MockServer::start().await;
    let older = format!("{}{REPO_PATH}?since=2024-04-01T00%3A00%3A00", server.uri());
    Mock::given(method("GET"))
        .and(path(REPO_PATH))
        .respond_with(json_response(b"[]".to_vec()))
        .mount(&server)
        .await;
    for (n, answer) in gone {
        Mock::given(method("GET"))
            .and(path(format!("{REPO_PATH}/{n}")))
            .respond_with(answer.clone())
            .with_priority(1)
            .mount(&server)
            .await;
    }
    let other = "https://github.com/someone-else/elsewhere/issues/1";
    Mock::given(method("GET"))
        .and(path("/repositories/99/issues/1"))
        .respond_with(json_response(
            serde_json::to_vec(&issue_json(1, "open", other)).unwrap(),
        ))
        .mount(&server)
        .await;
    // Unchanged issues: updated (2023-02-01) before the listing's `since`.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(format!(
            r"^{REPO_PATH}/\d+$"
        )))
        .respond_with(|req: &wiremock::Request| {
            let n: u32 = req.url.path().rsplit('/').next().unwrap().parse().unwrap();
            json_response(serde_json::to_vec(&issue_json(n, "open", &link(n))).unwrap())
        })
        .with_priority(5)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "SINCEVERIFY");
    cfg.get_older_bug_data = Some(older);
    cfg.existing_bug_urls = (1..=100).map(link).collect();
    let importer = GitHubImporter::new(&cfg).unwrap();
    let r = forge::run_importer(&importer, &cfg, client(), now(), false).await;
    let seen = requests(&server).await.iter().map(path_and_query).collect();
    (r, seen)
}

/// `since=` listings never name a deleted or transferred issue: each held issue they vouch for
/// is still asked for alone once a week (issue N on the days D with N % 7 == D % 7; `now()`
/// is day 19844, so 6, 13, …, 97 today). An unchanged repository stays all `_no_update`, with
/// 14 issue requests for 100 held issues.
#[tokio::test]
async fn since_listings_verify_held_issues_once_a_week() {
    let (r, seen) = since_refresh(&[]).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.stats.no_update, 100, "{:?}", r.stats);
    let checked: Vec<u32> = (1..=100).filter(|n| n % 7 == 6).collect();
    let issue_gets = seen
        .iter()
        .filter(|p| p.starts_with(&format!("{REPO_PATH}/")))
        .count();
    assert_eq!(issue_gets, checked.len(), "{seen:#?}");
    assert_eq!(
        seen.len(),
        2 + checked.len(),
        "two listings and the week's checks"
    );

    let moved = ResponseTemplate::new(301).insert_header("Location", "/repositories/99/issues/1");
    let (r, _) = since_refresh(&[(6, ResponseTemplate::new(404)), (13, moved)]).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.links(|b| b.deleted), vec![link(13), link(6)]);
    assert_eq!(r.stats.no_update, 98);
    assert_eq!(r.full(), Vec::<String>::new());
}
