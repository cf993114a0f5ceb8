//! The Launchpad importer against wiremock, and the parsers on `fixtures/launchpad/`.
//!
//! The fixtures carry the real web-service root (`https://api.launchpad.net/1.0`); the mock
//! serves them with that root rewritten to its own address.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::{format_naive, parse_datetime};
use bugimporters_core::{
    ImportOptions, ParseInput, ParseOutput, ParsedBug, Query, Registry, TrackerConfig,
};
use bugimporters_launchpad::parser::{
    assemble, parse_bug, parse_collection, parse_collection_size, parse_person, parse_task_value,
    CollectionSize, ParseSettings,
};
use bugimporters_launchpad::LaunchpadImporter;
use bugimporters_testkit::forge::{self, Run};
use chrono::NaiveDateTime;
use serde_json::Value;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API: &str = "https://api.launchpad.net/1.0";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/launchpad/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A fixture with the API root moved onto the mock server.
fn served(server: &MockServer, name: &str) -> ResponseTemplate {
    let text = String::from_utf8(fixture(name)).unwrap();
    let body = text.replace(API, &format!("{}/1.0", server.uri()));
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

fn config(server: &MockServer) -> TrackerConfig {
    let mut c = TrackerConfig::new("Hello", "launchpad.LaunchpadBugImporter");
    for (k, v) in [
        ("launchpad_name", "hello".to_owned()),
        ("bitesized_tag", "easy".to_owned()),
        ("documentation_tag", "doc".to_owned()),
        ("api_url", format!("{}/1.0", server.uri())),
    ] {
        c.extra.insert(k.to_owned(), Value::String(v));
    }
    c
}

fn search_url(server: &MockServer) -> String {
    format!(
        "{}/1.0/hello?ws.op=searchTasks&created_since=1970-01-01T00%3A00%3A00",
        server.uri()
    )
}

fn web(n: u32) -> String {
    format!("https://bugs.launchpad.net/hello/+bug/{n}")
}

/// The full records of `run` by link.
fn by_link(run: &Run) -> HashMap<String, &ParsedBug> {
    run.full_bugs()
        .into_iter()
        .map(|b| (b.canonical_bug_link.clone(), b))
        .collect()
}

async fn run_with(config: &TrackerConfig, client: Arc<HttpClient>) -> Run {
    let importer = LaunchpadImporter::new(config).unwrap();
    forge::run_importer(&importer, config, client, now(), true).await
}

async fn run(config: &TrackerConfig) -> Run {
    run_with(config, client()).await
}

async fn count(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

/// Mounts the bug, subscription and person documents of bugs 101–103.
async fn mount_documents(server: &MockServer) {
    for n in [101, 102, 103] {
        Mock::given(method("GET"))
            .and(path(format!("/1.0/bugs/{n}")))
            .respond_with(served(server, &format!("bug-{n}.json")))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/1.0/bugs/{n}/subscriptions")))
            .and(query_param_is_missing("ws.show"))
            .respond_with(served(server, &format!("subscriptions-{n}.json")))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/1.0/bugs/103/subscriptions"))
        .and(query_param("ws.show", "total_size"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("42", "application/json"))
        .mount(server)
        .await;
    for p in ["ann", "bob"] {
        Mock::given(method("GET"))
            .and(path(format!("/1.0/~{p}")))
            .respond_with(served(server, &format!("person-{p}.json")))
            .mount(server)
            .await;
    }
}

async fn mount_search(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/1.0/hello"))
        .and(query_param("ws.op", "searchTasks"))
        .and(query_param_is_missing("ws.start"))
        .respond_with(served(server, "search-tasks-page-1.json"))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/hello"))
        .and(query_param("ws.start", "2"))
        .respond_with(served(server, "search-tasks-page-2.json"))
        .expect(1)
        .mount(server)
        .await;
}

// ---------------------------------------------------------------------------------- parsers

#[test]
fn fixtures_parse_by_the_originals_rules() {
    let page = parse_collection(&fixture("search-tasks-page-1.json"), "p1").unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(
        page.next_collection_link.as_deref(),
        Some("https://api.launchpad.net/1.0/hello?ws.op=searchTasks&ws.start=2&ws.size=2")
    );
    let t101 = parse_task_value(&page.entries[0], "p1").unwrap().unwrap();
    let t102 = parse_task_value(&page.entries[1], "p1").unwrap().unwrap();
    assert!(!t101.closed && t102.closed, "date_closed decides");
    let bug = parse_bug(&fixture("bug-101.json"), "b").unwrap();
    let subs = parse_collection_size(&fixture("subscriptions-101.json"), "s").unwrap();
    assert_eq!(subs, CollectionSize::Known(3));
    assert_eq!(
        parse_collection_size(&fixture("subscriptions-103.json"), "s").unwrap(),
        CollectionSize::Link(
            "https://api.launchpad.net/1.0/bugs/103/subscriptions?ws.show=total_size".into()
        )
    );
    let ann = parse_person(&fixture("person-ann.json"), "p").unwrap();
    let settings = ParseSettings::new("Hello", "easy", "doc");
    let b = assemble(&t101, Some(&bug), Some(3), Some(&ann), &settings, now());
    assert_eq!(b.canonical_bug_link, web(101));
    assert_eq!(
        b.title.as_deref(),
        Some("Bug #101 in Hello: \"Summary of bug 101\"")
    );
    assert_eq!(b.status.as_deref(), Some("Triaged"));
    assert_eq!(b.importance.as_deref(), Some("Low"));
    assert_eq!(
        format_naive(&b.date_reported.unwrap()),
        "2023-06-01T09:00:00.250000"
    );
    assert_eq!(
        format_naive(&b.last_touched.unwrap()),
        "2023-08-01T12:00:00.123456"
    );
    assert_eq!(b.good_for_newcomers, Some(true));
    assert_eq!(b.concerns_just_documentation, Some(false));
    assert_eq!(b.people_involved, Some(3));
    assert_eq!(b.submitter_username.as_deref(), Some("ann"));
    assert_eq!(b.submitter_realname, Some(Some("Ann Example".into())));
    assert_eq!(b.project_name.as_deref(), Some("Hello"));
}

#[test]
fn parse_formats_through_the_registry() {
    let mut registry = Registry::new();
    bugimporters_launchpad::register(&mut registry);
    let mut c = TrackerConfig::new("Hello", "launchpad");
    c.extra.insert("bitesized_tag".into(), "easy".into());
    let cx = registry.build_context(&c).unwrap();
    let (factory, _) = registry.parse_format("launchpad-collection-json").unwrap();
    let input = ParseInput::new(
        vec![("p1".into(), fixture("search-tasks-page-1.json").into())],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::BugUrls(urls) = factory
        .parse(&cx, "launchpad-collection-json", &input)
        .unwrap()
    else {
        panic!("bug urls expected")
    };
    assert_eq!(urls, vec![web(101), web(102)]);

    let page = parse_collection(&fixture("search-tasks-page-1.json"), "p1").unwrap();
    let task = serde_json::to_vec(&page.entries[0]).unwrap();
    let input = ParseInput::new(
        vec![
            ("task.json".into(), task.into()),
            ("bug.json".into(), fixture("bug-101.json").into()),
            ("subs.json".into(), fixture("subscriptions-101.json").into()),
            ("ann.json".into(), fixture("person-ann.json").into()),
        ],
        None,
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "launchpad-task-json", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs[0].people_involved, Some(3));
    assert_eq!(bugs[0].good_for_newcomers, Some(true));

    let bad = ParseInput::new(
        vec![("x.json".into(), b"{\"entries\": [".to_vec().into())],
        Some("https://api.launchpad.net/1.0/hello?ws.op=searchTasks".into()),
        ImportOptions::new(now()),
    );
    let e = factory
        .parse(&cx, "launchpad-collection-json", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("https://api.launchpad.net/1.0/hello?ws.op=searchTasks"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------- crawls

#[tokio::test]
async fn pages_to_the_end_and_fetches_each_shared_document_once() {
    let server = MockServer::start().await;
    mount_search(&server).await;
    mount_documents(&server).await;
    let mut c = config(&server);
    c.queries = vec![Query::new(search_url(&server))];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let bugs = by_link(&r);
    assert_eq!(bugs.len(), 3);
    // 101 and 102 share their owner: both bugs are there, ~ann was asked for once.
    assert_eq!(count(&server, "/1.0/~ann").await, 1);
    assert_eq!(count(&server, "/1.0/~bob").await, 1);
    for n in [101, 102, 103] {
        assert_eq!(count(&server, &format!("/1.0/bugs/{n}")).await, 1);
    }
    let b102 = bugs[&web(102)];
    assert_eq!(b102.looks_closed, Some(true));
    assert_eq!(b102.concerns_just_documentation, Some(true));
    assert_eq!(b102.submitter_username.as_deref(), Some("ann"));
    let b103 = bugs[&web(103)];
    assert_eq!(b103.people_involved, Some(42), "total_size_link followed");
    assert_eq!(b103.submitter_realname, Some(Some("Bob Example".into())));
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("accept").unwrap() == "application/json"));
    assert!(reqs
        .iter()
        .all(|r| !r.headers.contains_key("authorization")));
    assert_eq!(
        (reqs[0].url.path(), reqs[0].url.query()),
        (
            "/1.0/hello",
            Some("ws.op=searchTasks&created_since=1970-01-01T00%3A00%3A00")
        ),
        "the first request is the configured URL"
    );
}

#[tokio::test]
async fn incremental_query_uses_modified_since() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/hello"))
        .and(query_param("modified_since", "2024-04-30T06:00:00+00:00"))
        .and(query_param_is_missing("created_since"))
        .respond_with(served(&server, "search-tasks-page-2.json"))
        .expect(1)
        .mount(&server)
        .await;
    mount_documents(&server).await;
    let mut c = config(&server);
    // The host's shape: created_since = the query's last_polled.
    let mut q = Query::new(format!(
        "{}/1.0/hello?ws.op=searchTasks&created_since=2024-04-30T06%3A00%3A00",
        server.uri()
    ));
    q.last_polled = parse_datetime("2024-04-30T06:00:00");
    c.queries = vec![q];
    let r = run(&c).await;
    assert_eq!(r.links(|_| true), vec![web(103)], "{:?}", r.stats.errors);
}

#[tokio::test]
async fn rate_limited_document_is_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/bugs/101"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_search(&server).await;
    mount_documents(&server).await;
    let mut c = config(&server);
    c.queries = vec![Query::new(search_url(&server))];
    let started = Instant::now();
    let r = run(&c).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(by_link(&r).len(), 3, "{:?}", r.stats.errors);
    assert_eq!(count(&server, "/1.0/bugs/101").await, 2);
}

#[tokio::test]
async fn a_failing_owner_loses_only_its_bugs_and_is_asked_for_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/~ann"))
        .respond_with(ResponseTemplate::new(403))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_search(&server).await;
    mount_documents(&server).await;
    let mut c = config(&server);
    c.queries = vec![Query::new(search_url(&server))];
    let r = run(&c).await;
    assert_eq!(r.links(|_| true), vec![web(103)]);
    assert_eq!(r.stats.errors.len(), 2, "one per bug: {:?}", r.stats.errors);
    assert_eq!(count(&server, "/1.0/~ann").await, 1);
}

#[tokio::test]
async fn malformed_collection_names_its_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/hello"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"entries\": [", "application/json"),
        )
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.queries = vec![Query::new(search_url(&server))];
    let r = run(&c).await;
    assert!(r.bugs.is_empty());
    assert_eq!(r.stats.errors.len(), 1);
    let e = &r.stats.errors[0];
    assert!(
        e.url
            .as_deref()
            .unwrap()
            .contains("/1.0/hello?ws.op=searchTasks"),
        "{e:?}"
    );
    assert!(e.reason.contains("invalid JSON"), "{e:?}");
}

#[tokio::test]
async fn existing_bugs_read_the_bug_tasks_collection() {
    let server = MockServer::start().await;
    mount_documents(&server).await;
    Mock::given(method("GET"))
        .and(path("/1.0/hello/+bug/101/bug_tasks"))
        .respond_with(served(&server, "bug-tasks-101.json"))
        .expect(1)
        .mount(&server)
        .await;
    // Gone.
    Mock::given(method("GET"))
        .and(path("/1.0/hello/+bug/104/bug_tasks"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    // Still there, but no longer a bug of this project (its task was retargeted).
    Mock::given(method("GET"))
        .and(path("/1.0/hello/+bug/102/bug_tasks"))
        .respond_with(served(&server, "bug-tasks-101.json"))
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.existing_bug_urls = vec![web(101), web(104), web(102)];
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let bugs = by_link(&r);
    assert_eq!(bugs.len(), 1);
    let b = bugs[&web(101)];
    assert_eq!(
        b.status.as_deref(),
        Some("Triaged"),
        "the hello task, not Ubuntu's"
    );
    assert_eq!(b.people_involved, Some(3));
    assert_eq!(b.submitter_username.as_deref(), Some("ann"));
    assert_eq!(r.links(|b| b.deleted), vec![web(102), web(104)]);
    assert_eq!(count(&server, "/1.0/bugs/101").await, 1);
}

#[tokio::test]
async fn unchanged_existing_bug_is_no_update() {
    let server = MockServer::start().await;
    for (p, etag) in [
        ("/1.0/hello/+bug/101/bug_tasks", "\"t1\""),
        ("/1.0/bugs/101", "\"b1\""),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("if-none-match", etag))
            .respond_with(ResponseTemplate::new(304))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/1.0/hello/+bug/101/bug_tasks"))
        .respond_with(served(&server, "bug-tasks-101.json").insert_header("ETag", "\"t1\""))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/bugs/101"))
        .respond_with(served(&server, "bug-101.json").insert_header("ETag", "\"b1\""))
        .with_priority(2)
        .mount(&server)
        .await;
    mount_documents(&server).await;
    let mut c = config(&server);
    c.existing_bug_urls = vec![web(101)];
    let http = client();
    let first = run_with(&c, http.clone()).await;
    assert_eq!(by_link(&first).len(), 1, "{:?}", first.stats.errors);
    let before = server.received_requests().await.unwrap().len();
    let second = run_with(&c, http).await;
    assert_eq!(second.links(|b| b.no_update), vec![web(101)]);
    assert_eq!(second.stats.no_update, 1);
    let after = server.received_requests().await.unwrap().len();
    assert_eq!(after - before, 2, "two conditional requests, nothing else");
}

/// A failed subscriptions document (it only feeds `people_involved`) keeps the bug: it is
/// written with the people known (its owner) and the failure is reported with its URL.
#[tokio::test]
async fn a_failing_subscriptions_document_keeps_the_bug_with_the_people_known() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/bugs/102/subscriptions"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_search(&server).await;
    mount_documents(&server).await;
    let mut c = config(&server);
    c.queries = vec![Query::new(search_url(&server))];
    let r = run(&c).await;
    let bugs = by_link(&r);
    assert_eq!(bugs.len(), 3, "{:?}", r.stats.errors);
    assert_eq!(bugs[&web(102)].people_involved, Some(1));
    assert!(bugs[&web(101)].people_involved.is_some_and(|n| n > 0));
    assert_eq!(r.stats.errors.len(), 1, "{:?}", r.stats.errors);
    assert!(r.stats.errors[0]
        .url
        .as_deref()
        .is_some_and(|u| u.contains("/bugs/102/subscriptions")));
}
