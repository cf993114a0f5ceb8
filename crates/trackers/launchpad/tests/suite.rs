//! The conformance suite (`bugimporters_testkit::suite`) on the Launchpad importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request};

struct Launchpad;

/// The bug task of `b` on project `hello` of the API at `api`.
fn task(api: &str, b: &SuiteBug) -> Value {
    let id = b.id;
    json!({
        "self_link": format!("{api}/hello/+bug/{id}"), "web_link": b.link,
        "resource_type_link": format!("{api}/#bug_task"),
        "http_etag": format!("\"task-{id}\""), "title": format!("Bug #{id} in Hello: \"Bug {id}\""),
        "status": "Triaged", "importance": "Low", "bug_link": format!("{api}/bugs/{id}"),
        "bug_target_name": "hello", "target_link": format!("{api}/hello"),
        "owner_link": format!("{api}/~ann"), "assignee_link": null,
        "date_created": "2023-06-01T09:00:00+00:00", "date_closed": null, "is_complete": false
    })
}

/// The bug document, its (empty) subscriptions and its owner, for every bug of `bugs`.
async fn mount_documents(server: &MockServer, api: &str, bugs: &[&SuiteBug]) {
    for b in bugs {
        let id = b.id;
        let bug = json!({
            "self_link": format!("{api}/bugs/{id}"), "id": id, "title": format!("Bug {id}"),
            "description": "It crashes.", "tags": [], "owner_link": format!("{api}/~ann"),
            "date_created": "2023-06-01T09:00:00+00:00",
            "date_last_updated": "2023-08-01T12:00:00+00:00", "private": false,
            "subscriptions_collection_link": format!("{api}/bugs/{id}/subscriptions"),
        });
        wire::mount_json(server, &format!("/1.0/bugs/{id}"), bug).await;
        let subs = json!({"total_size": 0, "start": 0, "entries": []});
        wire::mount_json(server, &format!("/1.0/bugs/{id}/subscriptions"), subs).await;
    }
    let ann = json!({"self_link": format!("{api}/~ann"), "name": "ann", "display_name": "Ann"});
    wire::mount_json(server, "/1.0/~ann", ann).await;
}

/// One page of the task search, at `ws.start` = `start`, naming `next`.
async fn mount_page(
    server: &MockServer,
    start: usize,
    tasks: Vec<Value>,
    total: usize,
    next: Option<String>,
) {
    let mut body = json!({"total_size": total, "start": start, "entries": tasks});
    if let Some(next) = next {
        body["next_collection_link"] = json!(next);
    }
    Mock::given(method("GET"))
        .and(path("/1.0/hello"))
        .and(move |r: &Request| {
            wire::query_value(r, "ws.start").map_or(0, |s| s.parse().unwrap_or(usize::MAX)) == start
        })
        .respond_with(wire::json(&body))
        .mount(server)
        .await;
}

#[async_trait]
impl SuiteTracker for Launchpad {
    fn kind(&self) -> &'static str {
        "launchpad"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_launchpad::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-launchpad", "launchpad");
        c.extra.insert("launchpad_name".into(), json!("hello"));
        c.extra
            .insert("api_url".into(), json!(format!("{base}/1.0")));
        c.queries = vec![Query::new(format!("{base}/1.0/hello?ws.op=searchTasks"))];
        c
    }

    fn link(&self, _base: &str, id: u64) -> String {
        format!("https://bugs.launchpad.net/hello/+bug/{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let api = format!("{}/1.0", server.uri());
        mount_documents(server, &api, &pages.iter().flatten().collect::<Vec<_>>()).await;
        let total = pages.iter().map(Vec::len).sum();
        let mut start = 0;
        for (i, bugs) in pages.iter().enumerate() {
            let next_start = start + bugs.len();
            let next = (i + 1 < pages.len())
                .then(|| format!("{api}/hello?ws.op=searchTasks&ws.start={next_start}"));
            let tasks = bugs.iter().map(|b| task(&api, b)).collect();
            mount_page(server, start, tasks, total, next).await;
            start = next_start;
        }
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        let api = format!("{}/1.0", server.uri());
        mount_documents(server, &api, &[bug]).await;
        let tasks = json!({"total_size": 1, "start": 0, "entries": [task(&api, bug)]});
        wire::mount_json(
            server,
            &format!("/1.0/hello/+bug/{}/bug_tasks", bug.id),
            tasks,
        )
        .await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let want = since.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
        wire::query_value(request, "modified_since") == Some(want)
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        case.about_credentials()
            .then_some("Launchpad's API is read anonymously: the importer has no credentials")
    }
}

bugimporters_testkit::conformance_suite!(Launchpad);
