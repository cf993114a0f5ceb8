//! The conformance suite (`bugimporters_testkit::suite`) on the GitHub importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::{MockServer, Request};

const ISSUES: &str = "/repos/octo-org/hello-world/issues";

struct GitHub;

fn issue(b: &SuiteBug) -> Value {
    json!({
        "number": b.id, "html_url": b.link, "title": format!("issue {}", b.id), "body": "b",
        "state": "open", "user": {"login": "mona"}, "assignee": null, "comments": 0,
        "labels": [], "created_at": "2023-01-01T00:00:00Z", "updated_at": "2023-02-01T00:00:00Z"
    })
}

#[async_trait]
impl SuiteTracker for GitHub {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_github::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-github", "github");
        for (k, v) in [
            ("github_name", "octo-org"),
            ("github_repo", "hello-world"),
            ("api_url", base),
            ("token_env", "SUITE_GITHUB_TOKEN"),
        ] {
            c.extra.insert(k.to_owned(), json!(v));
        }
        c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_GITHUB_TOKEN"]
    }

    /// An `api_url` that is not api.github.com is a GitHub Enterprise root: its web links are
    /// on the same origin.
    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/octo-org/hello-world/issues/{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let bodies = pages
            .iter()
            .map(|p| Value::Array(p.iter().map(issue).collect()))
            .collect();
        wire::mount_link_pages(server, ISSUES, bodies).await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        wire::mount_json(server, &format!("{ISSUES}/{}", bug.id), issue(bug)).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        wire::query_value(request, "since") == Some(since.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    async fn mount_listing_with_next(&self, server: &MockServer, bugs: &[SuiteBug], next: &str) {
        let body = Value::Array(bugs.iter().map(issue).collect());
        wire::mount_link_page(server, ISSUES, 1, body, Some(next)).await;
    }
}

bugimporters_testkit::conformance_suite!(GitHub);
