//! The conformance suite (`bugimporters_testkit::suite`) on the Pagure importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request};

const ISSUES: &str = "/api/0/fedora-infra/rota/issues";
const ISSUE: &str = "/api/0/fedora-infra/rota/issue";

struct Pagure;

fn issue(b: &SuiteBug) -> Value {
    json!({
        "id": b.id, "full_url": b.link, "title": format!("Ticket {}", b.id), "content": "",
        "status": "Open", "private": false, "tags": [], "comments": [], "assignee": null,
        "priority": null, "date_created": "1706659200", "last_updated": "1706670000",
        "user": {"name": "jdoe", "fullname": "Jane Doe"}
    })
}

/// One listing page: `{"issues": [...], "pagination": {"next": ...}}`.
async fn mount_page(server: &MockServer, page: u64, bugs: &[SuiteBug], next: Option<String>) {
    let body = json!({
        "issues": bugs.iter().map(issue).collect::<Vec<_>>(),
        "pagination": {"page": page, "next": next},
        "total_issues": bugs.len(),
    });
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(move |r: &Request| wire::page_of(r, "page") == page)
        .respond_with(wire::json(&body))
        .mount(server)
        .await;
}

#[async_trait]
impl SuiteTracker for Pagure {
    fn kind(&self) -> &'static str {
        "pagure"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_pagure::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-pagure", "pagure");
        c.base_url = base.to_owned();
        for (k, v) in [
            ("project", "fedora-infra/rota"),
            ("token_env", "SUITE_PAGURE_TOKEN"),
        ] {
            c.extra.insert(k.to_owned(), json!(v));
        }
        c.queries = vec![Query::new(format!("{base}{ISSUES}?status=Open"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_PAGURE_TOKEN"]
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/fedora-infra/rota/issue/{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        for (i, bugs) in pages.iter().enumerate() {
            let page = i as u64 + 1;
            let next = (i + 1 < pages.len())
                .then(|| format!("{}{ISSUES}?status=Open&page={}", server.uri(), page + 1));
            mount_page(server, page, bugs, next).await;
        }
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        wire::mount_json(server, &format!("{ISSUE}/{}", bug.id), issue(bug)).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        wire::query_value(request, "since") == Some(since.and_utc().timestamp().to_string())
    }

    async fn mount_listing_with_next(&self, server: &MockServer, bugs: &[SuiteBug], next: &str) {
        mount_page(server, 1, bugs, Some(next.to_owned())).await;
    }
}

bugimporters_testkit::conformance_suite!(Pagure);
