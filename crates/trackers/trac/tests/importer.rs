//! Importer tests against wiremock: paging, deletions, retries, de-duplication, the
//! incremental `_no_update` path and per-ticket errors.

use std::sync::Arc;

use bugimporters_core::fetch::{FetchConfig, HttpClient};
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{
    ImportContext, ImportOptions, Importer, ParsedBug, Query, TrackerConfig, TrackerStats,
};
use bugimporters_trac::TracImporter;
use chrono::NaiveDateTime;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn now() -> NaiveDateTime {
    parse_datetime("2026-11-22T09:00:00").unwrap()
}

fn ticket_csv(id: u64) -> String {
    format!(
        "\u{feff}id,summary,reporter,owner,description,type,status,priority,component,keywords,cc\r\n\
         {id},Ticket {id} <b>,alice,bob,\"Line one\nline & two\",defect,new,major,core,easy,carol\r\n"
    )
}

fn ticket_html(id: u64) -> String {
    format!(
        r#"<!DOCTYPE html><html><body><div id="ticket">
<div class="date"><p>Opened <a class="timeline" href="/timeline?from=x" title="See timeline at 11/0{d}/26 10:00:00">x</a></p>
<p>Last modified <a class="timeline" href="/timeline?from=y" title="See timeline at 11/1{d}/26 12:30:00">y</a></p></div>
<table class="properties"><tr><th id="h_reporter">Reported by:</th><td><a class="trac-author" href="/query?reporter=alice">Alice A</a></td>
<th id="h_owner">Owned by:</th><td>bob</td></tr><tr><th id="h_cc">Cc:</th><td>carol</td></tr></table></div>
<div id="changelog"><div class="change"><h3 class="change">comment:1 by <span class="trac-author">dave</span>, <a class="timeline" title="See timeline at 11/15/26 10:00:00">z</a></h3></div></div>
</body></html>"#,
        d = id % 10
    )
}

fn query_csv(ids: &[u64]) -> String {
    let mut s = String::from("\u{feff}id,Summary,Status\r\n");
    for id in ids {
        s.push_str(&format!("{id},\"Ticket {id}, really\",new\r\n"));
    }
    s
}

fn csv_response(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/csv;charset=utf-8")
        .set_body_string(body)
}

/// Serves ticket CSV and page for every id in `ids`.
async fn mount_tickets(server: &MockServer, ids: &[u64]) {
    for &id in ids {
        Mock::given(method("GET"))
            .and(path(format!("/trac/ticket/{id}")))
            .and(query_param("format", "csv"))
            .respond_with(csv_response(ticket_csv(id)))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/trac/ticket/{id}")))
            .and(query_param_is_missing("format"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html;charset=utf-8")
                    .set_body_string(ticket_html(id)),
            )
            .mount(server)
            .await;
    }
}

fn config(server: &MockServer, queries: &[&str], existing: &[u64]) -> TrackerConfig {
    let mut c = TrackerConfig::new("Mock Trac", "trac");
    c.base_url = format!("{}/trac", server.uri());
    c.bitesized_type = "keywords".into();
    c.bitesized_text = "easy".into();
    c.queries = queries
        .iter()
        .map(|q| Query::new(format!("{}/trac/{q}", server.uri())))
        .collect();
    c.existing_bug_urls = existing
        .iter()
        .map(|id| format!("{}/trac/ticket/{id}", server.uri()))
        .collect();
    c
}

async fn run(config: &TrackerConfig) -> (Vec<ParsedBug>, TrackerStats) {
    let client = Arc::new(HttpClient::new(FetchConfig::for_loopback_tests()).unwrap());
    let (tx, mut rx) = mpsc::channel(4096);
    let ctx = ImportContext::new(
        &config.tracker_name,
        client,
        4,
        tx,
        ImportOptions::new(now()),
        &config.existing_bug_urls,
    );
    let importer = TracImporter::new(config).unwrap();
    let mut ok = importer.process_queries(&ctx).await.is_ok();
    if !config.existing_bug_urls.is_empty() {
        ok &= importer
            .process_existing_bugs(&ctx, &config.existing_bug_urls)
            .await
            .is_ok();
    }
    let stats = ctx.finish(ok).await;
    drop(ctx);
    let mut bugs = Vec::new();
    while let Some(b) = rx.recv().await {
        bugs.push(b);
    }
    bugs.sort_by(|a, b| a.canonical_bug_link.cmp(&b.canonical_bug_link));
    (bugs, stats)
}

async fn requests_to(server: &MockServer, p: &str, pred: impl Fn(&Request) -> bool) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == p && pred(r))
        .count()
}

fn has_param(r: &Request, k: &str, v: &str) -> bool {
    r.url.query_pairs().any(|(a, b)| a == k && b == v)
}

#[tokio::test]
async fn pages_until_an_empty_page() {
    let server = MockServer::start().await;
    let q = "query?format=csv&keywords=~easy&order=id&max=2";
    Mock::given(path("/trac/query"))
        .and(query_param_is_missing("page"))
        .respond_with(csv_response(query_csv(&[1, 2])))
        .mount(&server)
        .await;
    Mock::given(path("/trac/query"))
        .and(query_param("page", "2"))
        .respond_with(csv_response(query_csv(&[3, 4])))
        .mount(&server)
        .await;
    // Trac answers a page past the end with 200 and an empty body.
    Mock::given(path("/trac/query"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_string(""))
        .mount(&server)
        .await;
    mount_tickets(&server, &[1, 2, 3, 4]).await;
    let c = config(&server, &[q], &[]);
    let (bugs, stats) = run(&c).await;

    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let links: Vec<_> = bugs.iter().map(|b| b.canonical_bug_link.clone()).collect();
    let base = format!("{}/trac/ticket/", server.uri());
    assert_eq!(
        links,
        (1..=4).map(|i| format!("{base}{i}")).collect::<Vec<_>>()
    );
    let b = &bugs[0];
    assert_eq!(b.title.as_deref(), Some("Ticket 1 <b>"));
    assert_eq!(b.description.as_deref(), Some("Line one\nline &amp; two"));
    assert_eq!(b.submitter_username.as_deref(), Some("alice"));
    assert_eq!(b.submitter_realname, Some(Some("Alice A".into())));
    assert_eq!(b.people_involved, Some(4), "Alice A, bob, carol, dave");
    assert_eq!(b.date_reported, parse_datetime("2026-11-01T10:00:00"));
    assert_eq!(b.last_touched, parse_datetime("2026-11-11T12:30:00"));
    assert_eq!(b.good_for_newcomers, Some(true));
    assert_eq!(b.tracker_name.as_deref(), Some("Mock Trac"));
    assert_eq!(b.project_name.as_deref(), Some("Mock Trac"));
    assert_eq!(b.last_polled, Some(now()));

    assert_eq!(requests_to(&server, "/trac/query", |_| true).await, 3);
    let first = requests_to(&server, "/trac/query", |r| {
        r.url.query().is_some_and(|q| !q.contains("page="))
    })
    .await;
    assert_eq!(first, 1, "the configured URL is requested as is");
    for id in 1..=4 {
        let p = format!("/trac/ticket/{id}");
        assert_eq!(
            requests_to(&server, &p, |r| has_param(r, "format", "csv")).await,
            1
        );
        assert_eq!(
            requests_to(&server, &p, |r| r.url.query().is_none()).await,
            1
        );
    }
}

#[tokio::test]
async fn a_short_page_ends_paging_and_a_query_without_max_is_one_request() {
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .and(query_param("max", "5"))
        .respond_with(csv_response(query_csv(&[1, 2])))
        .mount(&server)
        .await;
    Mock::given(path("/trac/query"))
        .and(query_param("id", "3-5"))
        .respond_with(csv_response(query_csv(&[3, 4, 5])))
        .mount(&server)
        .await;
    mount_tickets(&server, &[1, 2, 3, 4, 5]).await;
    let c = config(
        &server,
        &[
            "query?format=csv&status=new&max=5",
            "query?format=csv&id=3-5",
        ],
        &[],
    );
    let (bugs, stats) = run(&c).await;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(bugs.len(), 5);
    assert_eq!(requests_to(&server, "/trac/query", |_| true).await, 2);
    assert_eq!(
        requests_to(&server, "/trac/query", |r| has_param(r, "page", "2")).await,
        0,
        "no page after a short page"
    );
}

#[tokio::test]
async fn a_404_is_a_deletion_only_for_a_bug_the_host_holds() {
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .respond_with(csv_response(query_csv(&[2, 3])))
        .mount(&server)
        .await;
    // Trac answers a missing ticket with an HTML 404, even for format=csv.
    for id in [1, 2] {
        Mock::given(path(format!("/trac/ticket/{id}")))
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_string("<!DOCTYPE html><html>Invalid ticket number</html>"),
            )
            .mount(&server)
            .await;
    }
    mount_tickets(&server, &[3]).await;
    let c = config(&server, &["query?format=csv&id=2-3"], &[1]);
    let (bugs, stats) = run(&c).await;

    let link1 = format!("{}/trac/ticket/1", server.uri());
    let deleted: Vec<_> = bugs.iter().filter(|b| b.deleted).collect();
    assert_eq!(deleted.len(), 1);
    let d = deleted[0];
    assert_eq!(d.canonical_bug_link, link1);
    assert_eq!(d.tracker_name.as_deref(), Some("Mock Trac"));
    assert_eq!(d.project_name.as_deref(), Some("Mock Trac"));
    assert_eq!(d.last_polled, Some(now()));
    assert_eq!(stats.deleted, 1);
    assert_eq!(
        stats.deletions_withheld, 1,
        "ticket 2 is not held by the host"
    );
    assert_eq!(bugs.iter().filter(|b| !b.deleted).count(), 1, "ticket 3");
    assert_eq!(
        requests_to(&server, "/trac/ticket/1", |_| true).await,
        1,
        "the page is not requested after a 404 on the CSV"
    );
}

#[tokio::test]
async fn a_500_is_retried_and_a_ticket_named_twice_is_fetched_once() {
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .respond_with(csv_response(query_csv(&[7])))
        .mount(&server)
        .await;
    Mock::given(path("/trac/ticket/7"))
        .and(query_param("format", "csv"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_tickets(&server, &[7]).await;
    // Two queries and the existing list all name ticket 7.
    let c = config(
        &server,
        &["query?format=csv&id=7", "query?format=csv&status=new"],
        &[7],
    );
    let (bugs, stats) = run(&c).await;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(bugs.len(), 1);
    assert_eq!(bugs[0].title.as_deref(), Some("Ticket 7 <b>"));
    assert_eq!(
        requests_to(&server, "/trac/ticket/7", |r| has_param(r, "format", "csv")).await,
        2,
        "one 500, one retry"
    );
    assert_eq!(
        requests_to(&server, "/trac/ticket/7", |r| r.url.query().is_none()).await,
        1
    );
}

#[tokio::test]
async fn unchanged_existing_tickets_become_no_update_without_any_download() {
    let server = MockServer::start().await;
    // Changed since the cut-off: ticket 2 only.
    Mock::given(path("/trac/query"))
        .and(query_param("changetime", "2026-11-20T08:00:00Z.."))
        .respond_with(csv_response(query_csv(&[2, 40])))
        .mount(&server)
        .await;
    // Of the existing tickets 1-3, ticket 3 no longer exists.
    Mock::given(path("/trac/query"))
        .and(query_param("id", "1-3"))
        .and(query_param("col", "id"))
        .respond_with(csv_response(query_csv(&[1, 2])))
        .mount(&server)
        .await;
    Mock::given(path("/trac/ticket/3"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    mount_tickets(&server, &[1, 2]).await;
    let mut c = config(&server, &[], &[1, 2, 3]);
    c.extra.insert(
        "bugs_last_polled".into(),
        "2026-11-20T08:00:00.250000".into(),
    );
    let (bugs, stats) = run(&c).await;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);

    let base = format!("{}/trac/ticket/", server.uri());
    assert_eq!(bugs.len(), 3);
    assert!(bugs[0].no_update && bugs[0].canonical_bug_link == format!("{base}1"));
    assert_eq!(bugs[0].tracker_name.as_deref(), Some("Mock Trac"));
    assert!(bugs[0].title.is_none());
    assert!(!bugs[1].no_update && bugs[1].title.as_deref() == Some("Ticket 2 <b>"));
    assert!(bugs[2].deleted && bugs[2].canonical_bug_link == format!("{base}3"));
    assert_eq!(stats.no_update, 1);

    assert_eq!(
        requests_to(&server, "/trac/ticket/1", |_| true).await,
        0,
        "an unchanged ticket costs no request"
    );
    assert_eq!(requests_to(&server, "/trac/query", |_| true).await, 2);
}

#[tokio::test]
async fn without_a_cut_off_everything_is_fetched_and_a_failed_listing_means_fetch_all() {
    let server = MockServer::start().await;
    mount_tickets(&server, &[1, 2]).await;
    let c = config(&server, &[], &[1, 2]);
    let (bugs, _) = run(&c).await;
    assert_eq!(bugs.iter().filter(|b| b.title.is_some()).count(), 2);
    assert_eq!(requests_to(&server, "/trac/query", |_| true).await, 0);

    // With a cut-off but a server whose query answers HTML: fetch everything, no error.
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<!DOCTYPE html><p>login</p>"))
        .mount(&server)
        .await;
    mount_tickets(&server, &[1, 2]).await;
    let mut c = config(&server, &[], &[1, 2]);
    c.extra
        .insert("bugs_last_polled".into(), "2026-11-20T08:00:00".into());
    let (bugs, stats) = run(&c).await;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(bugs.iter().filter(|b| b.title.is_some()).count(), 2);
}

#[tokio::test]
async fn a_bad_ticket_is_reported_with_its_url_and_the_others_go_on() {
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .respond_with(csv_response(query_csv(&[1, 2, 3])))
        .mount(&server)
        .await;
    Mock::given(path("/trac/ticket/1"))
        .and(query_param("format", "csv"))
        .respond_with(csv_response("id,summary\r\n1,\"unterminated".into()))
        .mount(&server)
        .await;
    Mock::given(path("/trac/ticket/2"))
        .and(query_param("format", "csv"))
        .respond_with(csv_response(ticket_csv(2)))
        .mount(&server)
        .await;
    Mock::given(path("/trac/ticket/2"))
        .and(query_param_is_missing("format"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string("<html><body>Log in</body></html>"),
        )
        .mount(&server)
        .await;
    mount_tickets(&server, &[3]).await;
    let c = config(&server, &["query?format=csv&status=!closed"], &[]);
    let (bugs, stats) = run(&c).await;
    assert_eq!(bugs.len(), 1);
    assert_eq!(bugs[0].title.as_deref(), Some("Ticket 3 <b>"));
    assert_eq!(stats.errors.len(), 2, "{:?}", stats.errors);
    let urls: Vec<_> = stats.errors.iter().filter_map(|e| e.url.clone()).collect();
    assert!(
        urls.contains(&format!("{}/trac/ticket/1?format=csv", server.uri())),
        "{urls:?}"
    );
    assert!(
        urls.contains(&format!("{}/trac/ticket/2", server.uri())),
        "{urls:?}"
    );
    assert!(stats.errors.iter().all(|e| !e.temporary));
}

#[tokio::test]
async fn an_html_query_answer_is_reported_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string("<!DOCTYPE html><html>query page</html>"),
        )
        .mount(&server)
        .await;
    let c = config(&server, &["query?status=new"], &[]);
    let (bugs, stats) = run(&c).await;
    assert!(bugs.is_empty());
    assert_eq!(stats.errors.len(), 1);
    assert!(
        stats.errors[0].reason.contains("HTML"),
        "{:?}",
        stats.errors
    );
    assert_eq!(
        stats.errors[0].url.as_deref(),
        Some(format!("{}/trac/query?status=new", server.uri()).as_str())
    );
}

#[tokio::test]
async fn an_empty_first_query_answer_is_an_error_not_an_empty_result() {
    // Only a page past the end is empty; the first page has its header row even when no
    // ticket matches, so an empty 200 there is a broken server and must not read as "none".
    let server = MockServer::start().await;
    Mock::given(path("/trac/query"))
        .respond_with(ResponseTemplate::new(200).set_body_string(""))
        .mount(&server)
        .await;
    let c = config(&server, &["query?format=csv&status=new&max=2"], &[]);
    let (bugs, stats) = run(&c).await;
    assert!(bugs.is_empty());
    assert_eq!(stats.errors.len(), 1, "{:?}", stats.errors);
    assert!(
        stats.errors[0].reason.contains("empty"),
        "{:?}",
        stats.errors
    );
    assert_eq!(
        stats.errors[0].url.as_deref(),
        Some(format!("{}/trac/query?format=csv&status=new&max=2", server.uri()).as_str())
    );
}

#[tokio::test]
async fn the_queries_last_polled_is_the_fallback_cut_off_and_covers_query_tickets() {
    let server = MockServer::start().await;
    // The oldest query poll is the cut-off.
    Mock::given(path("/trac/query"))
        .and(query_param("changetime", "2026-11-18T06:30:00Z.."))
        .respond_with(csv_response(query_csv(&[])))
        .mount(&server)
        .await;
    Mock::given(path("/trac/query"))
        .and(query_param("id", "5-6"))
        .and(query_param("col", "id"))
        .respond_with(csv_response(query_csv(&[5, 6])))
        .mount(&server)
        .await;
    // The query names 5 (held, unchanged) and 8 (new to the host).
    Mock::given(path("/trac/query"))
        .and(query_param("status", "new"))
        .respond_with(csv_response(query_csv(&[5, 8])))
        .mount(&server)
        .await;
    mount_tickets(&server, &[8]).await;
    let mut c = config(&server, &["query?format=csv&status=new"], &[5, 6]);
    c.queries[0].last_polled = parse_datetime("2026-11-18T06:30:00");
    let mut q2 = Query::new(format!(
        "{}/trac/query?format=csv&status=new&x=1",
        server.uri()
    ));
    q2.last_polled = parse_datetime("2026-11-19T06:30:00");
    c.queries.push(q2);
    let (bugs, stats) = run(&c).await;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let base = format!("{}/trac/ticket/", server.uri());
    let summary: Vec<(String, bool)> = bugs
        .iter()
        .map(|b| (b.canonical_bug_link.replace(&base, ""), b.no_update))
        .collect();
    assert_eq!(
        summary,
        vec![("5".into(), true), ("6".into(), true), ("8".into(), false)]
    );
    assert_eq!(
        requests_to(&server, "/trac/query", |r| has_param(
            r,
            "changetime",
            "2026-11-18T06:30:00Z.."
        ))
        .await,
        1,
        "computed once for both entry points"
    );
    for id in [5, 6] {
        assert_eq!(
            requests_to(&server, &format!("/trac/ticket/{id}"), |_| true).await,
            0
        );
    }
}
