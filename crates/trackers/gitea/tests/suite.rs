//! The conformance suite (`bugimporters_testkit::suite`) on the Gitea/Forgejo importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::{MockServer, Request};

const ISSUES: &str = "/api/v1/repos/tinyorg/notes-app/issues";

struct Gitea;

fn issue(b: &SuiteBug) -> Value {
    json!({
        "number": b.id, "html_url": b.link, "title": format!("Item {}", b.id), "body": "",
        "user": {"login": "anon42", "full_name": ""}, "labels": [], "assignees": null,
        "state": "open", "comments": 0, "pull_request": null,
        "created_at": "2024-03-09T09:00:00+01:00", "updated_at": "2024-04-09T18:30:00+02:00"
    })
}

#[async_trait]
impl SuiteTracker for Gitea {
    fn kind(&self) -> &'static str {
        "gitea"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_gitea::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-gitea", "forgejo");
        c.base_url = base.to_owned();
        for (k, v) in [
            ("project", "tinyorg/notes-app"),
            ("token_env", "SUITE_GITEA_TOKEN"),
        ] {
            c.extra.insert(k.to_owned(), json!(v));
        }
        c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_GITEA_TOKEN"]
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/tinyorg/notes-app/issues/{id}")
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

bugimporters_testkit::conformance_suite!(Gitea);
