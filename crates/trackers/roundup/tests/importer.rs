//! The importer against wiremock: pages and REST, incremental refresh, deletions, auth.

use std::path::PathBuf;
use std::sync::Arc;

use bugimporters_core::fetch::{FetchConfig, HttpClient};
use bugimporters_core::secrets::FixedSecrets;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{
    ImportContext, ImportOptions, ParsedBug, Query, Registry, TrackerConfig, TrackerStats,
};
use serde_json::json;
use wiremock::matchers::{header_exists, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../fixtures/roundup")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(server: &MockServer, extra: serde_json::Value) -> TrackerConfig {
    let mut c = TrackerConfig::new("Local", "roundup.RoundupBugImporter");
    c.base_url = format!("{}/tracker", server.uri());
    c.bitesized_text = "easy".into();
    c.documentation_text = "documentation".into();
    let mut map = json!({
        "closed_status": "resolved",
        "bitesized_field": "Keywords",
        "documentation_field": "Keywords",
    });
    if let (Some(m), serde_json::Value::Object(e)) = (map.as_object_mut(), extra) {
        m.extend(e);
    }
    if let serde_json::Value::Object(m) = map {
        c.extra.extend(m);
    }
    c
}

struct Run {
    bugs: Vec<ParsedBug>,
    stats: TrackerStats,
    queries: Result<(), String>,
    existing: Result<(), String>,
}

impl Run {
    fn get(&self, suffix: &str) -> &ParsedBug {
        self.bugs
            .iter()
            .find(|b| b.canonical_bug_link.ends_with(suffix))
            .unwrap_or_else(|| panic!("no record for {suffix}: {:?}", self.links()))
    }
    fn links(&self) -> Vec<String> {
        let mut l: Vec<String> = self
            .bugs
            .iter()
            .map(|b| b.canonical_bug_link.clone())
            .collect();
        l.sort();
        l
    }
}

async fn run(config: TrackerConfig) -> Run {
    run_secrets(config, &FixedSecrets::new()).await
}

async fn run_secrets(config: TrackerConfig, secrets: &FixedSecrets) -> Run {
    let mut registry = Registry::new();
    bugimporters_roundup::register(&mut registry);
    let built = registry.build(&config).expect("importer builds");
    let client = Arc::new(HttpClient::new(FetchConfig::for_loopback_tests()).unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let now = parse_datetime("2026-11-22T10:00:00").unwrap();
    let ctx = ImportContext::new(
        &config.tracker_name,
        client,
        4,
        tx,
        ImportOptions::new(now).with_secrets(Arc::new(secrets.clone())),
        &config.existing_bug_urls,
    );
    let queries = built.importer.process_queries(&ctx).await;
    let existing = built
        .importer
        .process_existing_bugs(&ctx, &config.existing_bug_urls)
        .await;
    let stats = ctx.finish(queries.is_ok() && existing.is_ok()).await;
    drop(ctx);
    let mut bugs = Vec::new();
    while let Some(b) = rx.recv().await {
        bugs.push(b);
    }
    Run {
        bugs,
        stats,
        queries: queries.map_err(|e| e.to_string()),
        existing: existing.map_err(|e| e.to_string()),
    }
}

async fn serve_page(server: &MockServer, n: u32, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(format!("/tracker/issue{n}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/html; charset=utf-8"))
        .mount(server)
        .await;
}

async fn serve_csv(server: &MockServer, columns: &str, activity: Option<&str>, body: &str) {
    let mut m = Mock::given(method("GET"))
        .and(path("/tracker/issue"))
        .and(query_param("@action", "export_csv"))
        .and(query_param("@columns", columns));
    if let Some(a) = activity {
        m = m.and(query_param("activity", a));
    }
    m.respond_with(ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/csv"))
        .mount(server)
        .await;
}

fn requests_to(reqs: &[Request], p: &str) -> usize {
    reqs.iter().filter(|r| r.url.path() == p).count()
}

#[tokio::test]
async fn pages_mode_query_existing_deleted_and_retired() {
    let server = MockServer::start().await;
    serve_csv(
        &server,
        "id,title,status",
        None,
        "\"id\",\"title\",\"status\"\r\n\"5\",\"a\",\"resolved\"\r\n\"7\",\"b\",\"chatting\"\r\n\n",
    )
    .await;
    serve_page(&server, 5, fixture("roundup26-issue5.html")).await;
    serve_page(&server, 7, fixture("roundup26-issue7.html")).await;
    serve_page(&server, 201, fixture("roundup26-issue201-retired.html")).await;
    Mock::given(method("GET"))
        .and(path("/tracker/issue9"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&server, json!({"roundup_api": "html"}));
    c.queries = vec![Query::new(format!(
        "{}/tracker/issue?@action=export_csv&@columns=id,title,status&@filter=status&status=1,2",
        server.uri()
    ))];
    let base = format!("{}/tracker/", server.uri());
    c.existing_bug_urls = vec![
        format!("{base}issue5"),
        format!("{base}issue9"),
        format!("{base}issue201"),
    ];
    let r = run(c).await;
    assert_eq!(r.queries, Ok(()));
    assert_eq!(r.existing, Ok(()));
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 4, "{:?}", r.links());
    let b5 = r.get("/issue5");
    assert_eq!(
        b5.title.as_deref(),
        Some("Stale search index when on Windows — Ærøskøbing Łódź Ĳssel [5]")
    );
    assert_eq!(b5.looks_closed, Some(true));
    assert_eq!(b5.good_for_newcomers, Some(true));
    assert!(!b5.deleted && !b5.no_update);
    assert!(r.get("/issue9").deleted, "404 -> _deleted");
    assert!(r.get("/issue201").deleted, "retired -> _deleted");
    assert_eq!(r.stats.deleted, 2);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        requests_to(&reqs, "/tracker/issue5"),
        1,
        "query and refresh name it: one fetch"
    );
    assert_eq!(reqs.len(), 5);
    assert!(reqs
        .iter()
        .all(|r| !r.headers.contains_key("authorization")));
}

#[tokio::test]
async fn pages_mode_incremental_refresh() {
    let server = MockServer::start().await;
    let base = format!("{}/tracker/", server.uri());
    // the query, restricted to changes since last_polled minus an hour
    serve_csv(
        &server,
        "id,title",
        Some("2026-11-20.11:00:00;"),
        "\"id\",\"title\"\r\n\"5\",\"a\"\r\n",
    )
    .await;
    // known issues 5, 7, 9: the query already fetched 5; 7 lives and did not change; 9 gone
    Mock::given(method("GET"))
        .and(path("/tracker/issue"))
        .and(query_param("@columns", "id"))
        .and(query_param("@filter", "id"))
        .and(query_param("id", "7,9"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"id\"\r\n\"7\"\r\n\n"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/issue"))
        .and(query_param("@columns", "id"))
        .and(query_param("@filter", "id,activity"))
        .and(query_param("id", "7,9"))
        .and(query_param("activity", "2026-11-20.11:00:00;"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"id\"\r\n\n"))
        .expect(1)
        .mount(&server)
        .await;
    serve_page(&server, 5, fixture("roundup26-issue5.html")).await;
    Mock::given(method("GET"))
        .and(path("/tracker/issue9"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&server, json!({}));
    let mut q = Query::new(format!(
        "{base}issue?@action=export_csv&@columns=id,title&@filter=status&status=1,2"
    ));
    q.last_polled = parse_datetime("2026-11-20T12:00:00");
    c.queries = vec![q];
    c.existing_bug_urls = vec![
        format!("{base}issue5"),
        format!("{base}issue7"),
        format!("{base}issue9"),
    ];
    let r = run(c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 3, "{:?}", r.links());
    assert!(r.get("/issue5").title.is_some());
    let b7 = r.get("/issue7");
    assert!(
        b7.no_update && b7.title.is_none(),
        "{b7:?} {:?}",
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(b7.tracker_name.as_deref(), Some("Local"));
    assert!(r.get("/issue9").deleted);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        requests_to(&reqs, "/tracker/issue7"),
        0,
        "unchanged: not downloaded"
    );
    assert_eq!(requests_to(&reqs, "/tracker/issue5"), 1);
}

async fn serve_rest(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue"))
        .and(query_param("@verbose", "2"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("rest-issues-1-5-7.json"), "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/msg"))
        .and(query_param("@verbose", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("rest-msgs-authors.json"), "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/msg"))
        .and(query_param("@verbose", "3"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("rest-msgs-content.json"), "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/user"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("rest-users.json"), "application/json"),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn rest_mode_bulk_with_basic_auth() {
    let secrets = FixedSecrets::from([("RT_TEST_USER_A", "admin"), ("RT_TEST_PW_A", "s3cret-pw")]);
    let server = MockServer::start().await;
    serve_csv(
        &server,
        "id",
        None,
        "\"id\"\r\n\"1\"\r\n\"5\"\r\n\"7\"\r\n\n",
    )
    .await;
    serve_rest(&server).await;
    let mut c = config(
        &server,
        json!({"roundup_username_env": "RT_TEST_USER_A", "roundup_password_env": "RT_TEST_PW_A"}),
    );
    c.queries = vec![Query::new(format!(
        "{}/tracker/issue?@action=export_csv&@columns=id&@filter=status&status=1",
        server.uri()
    ))];
    let r = run_secrets(c, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 3);
    let b5 = r.get("/issue5");
    assert_eq!(b5.status.as_deref(), Some("resolved"));
    assert_eq!(b5.submitter_username.as_deref(), Some("jmuller"));
    assert_eq!(b5.submitter_realname, Some(Some("Jürgen Müller".into())));
    assert_eq!(b5.people_involved, Some(1));
    assert!(b5
        .description
        .as_deref()
        .unwrap()
        .starts_with("Reported by Jürgen Müller."));
    assert_eq!(b5.last_touched, parse_datetime("2026-11-22T00:50:10"));
    let reqs = server.received_requests().await.unwrap();
    // 1 CSV + 1 issue list + 1 message authors + 1 first messages + 1 users
    assert_eq!(
        reqs.len(),
        5,
        "{:?}",
        reqs.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
    let expected = format!("Basic {}", "YWRtaW46czNjcmV0LXB3");
    for req in &reqs {
        let auth = req
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        if req.url.path().contains("/rest/") {
            assert_eq!(auth.as_deref(), Some(expected.as_str()));
        } else {
            assert_eq!(auth, None, "no credentials on the CSV export");
        }
    }
    // the password is in no record
    for b in &r.bugs {
        assert!(!b.to_json_line().contains("s3cret"));
    }
}

#[tokio::test]
async fn auto_mode_falls_back_to_pages_when_rest_is_refused() {
    let secrets = FixedSecrets::from([("RT_TEST_USER_B", "someone"), ("RT_TEST_PW_B", "wrong")]);
    let server = MockServer::start().await;
    serve_csv(&server, "id", None, "\"id\"\r\n\"5\"\r\n\"7\"\r\n").await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string(r#"{ "error": { "status": 403, "msg": "Forbidden." } }"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    serve_page(&server, 5, fixture("roundup26-issue5.html")).await;
    serve_page(&server, 7, fixture("roundup26-issue7.html")).await;
    let mut c = config(
        &server,
        json!({"roundup_api": "auto", "roundup_username_env": "RT_TEST_USER_B", "roundup_password_env": "RT_TEST_PW_B"}),
    );
    c.queries = vec![Query::new(format!(
        "{}/tracker/issue?@action=export_csv&@columns=id",
        server.uri()
    ))];
    c.existing_bug_urls = vec![format!("{}/tracker/issue7", server.uri())];
    let r = run_secrets(c, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.links().len(), 2);
    assert!(r.bugs.iter().all(|b| b.title.is_some()));
}

#[tokio::test]
async fn rest_mode_refused_fails_the_tracker() {
    let server = MockServer::start().await;
    serve_csv(&server, "id", None, "\"id\"\r\n\"5\"\r\n").await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = config(
        &server,
        json!({"roundup_api": "rest", "roundup_username_env": "RT_TEST_UNSET_U"}),
    );
    c.queries = vec![Query::new(format!(
        "{}/tracker/issue?@action=export_csv&@columns=id",
        server.uri()
    ))];
    let r = run(c).await;
    let e = r.queries.unwrap_err();
    assert!(e.contains("401"), "{e}");
    assert!(r.bugs.is_empty());
}

#[tokio::test]
async fn rest_mode_incremental_refresh() {
    let secrets = FixedSecrets::from([("RT_TEST_USER_C", "admin"), ("RT_TEST_PW_C", "admin")]);
    let server = MockServer::start().await;
    let base = format!("{}/tracker/", server.uri());
    serve_csv(&server, "id", Some("2026-11-20.11:00:00;"), "\"id\"\r\n").await;
    // live ids among 1, 5, 7, 8, 9: all but 8 and 9 (9 retired, 8 destroyed)
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue"))
        .and(|r: &Request| !r.url.query().unwrap_or("").contains("@verbose"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"collection": [
            {"id": "1", "link": "x"}, {"id": "5", "link": "x"}, {"id": "7", "link": "x"}], "@total_size": 3}})))
        .expect(1)
        .mount(&server)
        .await;
    // changed since the window: the fixture's 1, 5 and 7 answer for "changed"; make only 5 changed
    let body: serde_json::Value =
        serde_json::from_slice(&fixture("rest-issues-1-5-7.json")).unwrap();
    let mut only5 = body.clone();
    let coll = only5["data"]["collection"].as_array_mut().unwrap();
    coll.retain(|i| i["id"] == "5");
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue"))
        .and(query_param("@verbose", "2"))
        .and(query_param("activity", "2026-11-20.11:00:00;"))
        .respond_with(ResponseTemplate::new(200).set_body_json(only5))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue/9"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("rest-issue5-item.json"), "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/issue/8"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    serve_rest(&server).await;
    let mut c = config(
        &server,
        json!({"roundup_api": "rest", "roundup_username_env": "RT_TEST_USER_C", "roundup_password_env": "RT_TEST_PW_C"}),
    );
    let mut q = Query::new(format!("{base}issue?@action=export_csv&@columns=id"));
    q.last_polled = parse_datetime("2026-11-20T12:00:00");
    c.queries = vec![q];
    c.existing_bug_urls = [1, 5, 7, 8, 9]
        .iter()
        .map(|n| format!("{base}issue{n}"))
        .collect();
    let r = run_secrets(c, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 5, "{:?}", r.links());
    assert!(r.get("/issue1").no_update);
    assert!(r.get("/issue7").no_update);
    let b5 = r.get("/issue5");
    assert!(!b5.no_update && b5.title.is_some());
    assert!(r.get("/issue8").deleted, "404");
    assert!(r.get("/issue9").deleted, "served but not listed: retired");
    assert_eq!(r.stats.no_update, 2);
}

#[tokio::test]
async fn a_failing_page_is_reported_and_withholds_deletions() {
    let server = MockServer::start().await;
    let base = format!("{}/tracker/", server.uri());
    Mock::given(method("GET"))
        .and(path("/tracker/issue3"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/issue4"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    serve_page(
        &server,
        5,
        b"<html><body>not an issue</body></html>".to_vec(),
    )
    .await;
    let mut c = config(&server, json!({"roundup_api": "html"}));
    c.existing_bug_urls = vec![
        format!("{base}issue3"),
        format!("{base}issue4"),
        format!("{base}issue5"),
    ];
    let r = run(c).await;
    assert_eq!(r.stats.errors.len(), 2, "{:?}", r.stats.errors);
    assert!(
        r.bugs.is_empty(),
        "a 503 elsewhere withholds the deletion of issue4"
    );
    assert_eq!(r.stats.deletions_withheld, 1);
}

#[tokio::test]
async fn bugs_last_polled_opens_the_window_and_the_epoch_placeholder_does_not() {
    let server = MockServer::start().await;
    let base = format!("{}/tracker/", server.uri());
    // the never-polled query (1970) is sent as configured, without an activity filter
    Mock::given(method("GET"))
        .and(path("/tracker/issue"))
        .and(query_param("@columns", "id,title"))
        .and(query_param_is_missing("activity"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"id\",\"title\"\r\n"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/issue"))
        .and(query_param("@filter", "id"))
        .and(query_param("id", "5,7"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"id\"\r\n\"5\"\r\n\"7\"\r\n"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracker/issue"))
        .and(query_param("@filter", "id,activity"))
        .and(query_param("activity", "2026-11-18.07:00:00;"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"id\"\r\n\"5\"\r\n"))
        .expect(1)
        .mount(&server)
        .await;
    serve_page(&server, 5, fixture("roundup26-issue5.html")).await;
    let mut c = config(
        &server,
        json!({"roundup_api": "html", "bugs_last_polled": "2026-11-18T08:00:00"}),
    );
    let mut q = Query::new(format!("{base}issue?@action=export_csv&@columns=id,title"));
    q.last_polled = parse_datetime("1970-01-01T00:00:00");
    c.queries = vec![q];
    c.existing_bug_urls = vec![format!("{base}issue5"), format!("{base}issue7")];
    let r = run(c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert!(r.get("/issue7").no_update);
    assert_eq!(r.get("/issue5").status.as_deref(), Some("resolved"));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&reqs, "/tracker/issue7"), 0);
}

#[tokio::test]
async fn unreadable_users_only_cost_the_real_names() {
    let secrets = FixedSecrets::from([("RT_TEST_USER_D", "alice"), ("RT_TEST_PW_D", "alice")]);
    let server = MockServer::start().await;
    serve_csv(&server, "id", None, "\"id\"\r\n\"1\"\r\n\"5\"\r\n\"7\"\r\n").await;
    Mock::given(method("GET"))
        .and(path("/tracker/rest/data/user"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string(r#"{"error": {"status": 403, "msg": "Forbidden."}}"#),
        )
        .mount(&server)
        .await;
    serve_rest(&server).await;
    let mut c = config(
        &server,
        json!({"roundup_api": "rest", "roundup_username_env": "RT_TEST_USER_D", "roundup_password_env": "RT_TEST_PW_D"}),
    );
    c.queries = vec![Query::new(format!(
        "{}/tracker/issue?@action=export_csv&@columns=id",
        server.uri()
    ))];
    let r = run_secrets(c, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 3);
    let b5 = r.get("/issue5");
    assert_eq!(b5.submitter_username.as_deref(), Some("jmuller"));
    assert_eq!(b5.submitter_realname, Some(None));
}

#[tokio::test]
async fn an_issue_the_rest_list_leaves_out_is_read_from_its_page() {
    let secrets = FixedSecrets::from([("RT_TEST_USER_E", "admin"), ("RT_TEST_PW_E", "admin")]);
    let server = MockServer::start().await;
    serve_csv(
        &server,
        "id",
        None,
        "\"id\"\r\n\"1\"\r\n\"5\"\r\n\"7\"\r\n\"201\"\r\n",
    )
    .await;
    serve_rest(&server).await;
    serve_page(&server, 201, fixture("roundup26-issue201-retired.html")).await;
    let mut c = config(
        &server,
        json!({"roundup_username_env": "RT_TEST_USER_E", "roundup_password_env": "RT_TEST_PW_E"}),
    );
    c.queries = vec![Query::new(format!(
        "{}/tracker/issue?@action=export_csv&@columns=id",
        server.uri()
    ))];
    c.existing_bug_urls = vec![format!("{}/tracker/issue201", server.uri())];
    let r = run_secrets(c, &secrets).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 4, "{:?}", r.links());
    assert!(r.get("/issue201").deleted, "the page says retired");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&reqs, "/tracker/issue201"), 1);
    let issue_lists: Vec<String> = reqs
        .iter()
        .filter(|r| r.url.path() == "/tracker/rest/data/issue")
        .map(|r| r.url.query().unwrap_or("").to_owned())
        .collect();
    assert_eq!(issue_lists.len(), 1, "one list request for the four issues");
    assert!(
        issue_lists[0].contains("id=1&id=5&id=7&id=201"),
        "{}",
        issue_lists[0]
    );
}

/// `bitesized_field` may name the property (`keyword`, as Roundup's schema and REST API
/// call it) or the page label in any case; a rule field no issue has is a warning in the run
/// report naming the fields the issues do have.
#[tokio::test]
async fn rule_fields_by_property_or_label_and_a_warning_for_a_field_no_issue_has() {
    let server = MockServer::start().await;
    serve_csv(
        &server,
        "id,title,status",
        None,
        "\"id\",\"title\",\"status\"\r\n\"5\",\"a\",\"resolved\"\r\n",
    )
    .await;
    serve_page(&server, 5, fixture("roundup26-issue5.html")).await;
    let query = format!(
        "{}/tracker/issue?@action=export_csv&@columns=id,title,status",
        server.uri()
    );
    for field in ["keyword", "KEYWORDS", "Keywords"] {
        let extra =
            json!({"roundup_api": "html", "bitesized_field": field, "documentation_field": "Nope"});
        let mut c = config(&server, extra);
        c.queries = vec![Query::new(query.clone())];
        let r = run(c).await;
        assert!(r.stats.errors.is_empty(), "{field}: {:?}", r.stats.errors);
        assert_eq!(r.get("/issue5").good_for_newcomers, Some(true), "{field}");
        assert_eq!(r.stats.warnings.len(), 1, "{field}: {:?}", r.stats.warnings);
        let w = &r.stats.warnings[0];
        assert!(
            w.contains("documentation_field \"Nope\"") && w.contains("Keywords"),
            "{w}"
        );
    }
}
