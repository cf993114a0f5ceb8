//! The conformance suite (`bugimporters_testkit::suite`) on the GitLab/Forgejo importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request};

const ISSUES: &str = "/api/v4/projects/acme%2Fweb%2Ffrontend/issues";

struct GitLab;

fn issue(b: &SuiteBug) -> Value {
    json!({
        "iid": b.id, "web_url": b.link, "title": format!("Item {}", b.id), "description": "",
        "state": "opened", "labels": [], "assignees": [], "confidential": false,
        "author": {"username": "lvilla", "name": "Lucía Villa"}, "user_notes_count": 0,
        "created_at": "2023-11-20T09:15:02.417Z", "updated_at": "2024-03-01T17:40:11.000+01:00"
    })
}

#[async_trait]
impl SuiteTracker for GitLab {
    fn kind(&self) -> &'static str {
        "gitlab"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_gitlab::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-gitlab", "gitlab");
        c.base_url = base.to_owned();
        for (k, v) in [
            ("project", "acme/web/frontend"),
            ("token_env", "SUITE_GITLAB_TOKEN"),
        ] {
            c.extra.insert(k.to_owned(), json!(v));
        }
        c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_GITLAB_TOKEN"]
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/acme/web/frontend/-/issues/{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let bodies = pages
            .iter()
            .map(|p| Value::Array(p.iter().map(issue).collect()))
            .collect();
        wire::mount_link_pages(server, ISSUES, bodies).await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        // Held bugs are looked up in one listing by iid, then the unlisted ones alone.
        Mock::given(method("GET"))
            .and(path(ISSUES))
            .and(|r: &Request| r.url.query_pairs().any(|(k, _)| k == "iids[]"))
            .respond_with(wire::json(&json!([issue(bug)])))
            .with_priority(4)
            .mount(server)
            .await;
        wire::mount_json(server, &format!("{ISSUES}/{}", bug.id), issue(bug)).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        wire::query_value(request, "updated_after")
            == Some(since.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    async fn mount_listing_with_next(&self, server: &MockServer, bugs: &[SuiteBug], next: &str) {
        let body = Value::Array(bugs.iter().map(issue).collect());
        wire::mount_link_page(server, ISSUES, 1, body, Some(next)).await;
    }
}

bugimporters_testkit::conformance_suite!(GitLab);
