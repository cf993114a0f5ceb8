//! The conformance suite (`bugimporters_testkit::suite`) on the Redmine importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Redmine;

fn issue(id: u64) -> Value {
    json!({
        "id": id, "project": {"id": 1, "name": "Suite"}, "tracker": {"id": 1, "name": "Bug"},
        "status": {"id": 1, "name": "New", "is_closed": false},
        "priority": {"id": 2, "name": "Normal"}, "author": {"id": 100, "name": "User"},
        "subject": format!("Issue {id}"), "description": "d",
        "created_on": "2024-01-01T00:00:00Z", "updated_on": "2024-04-01T00:00:00Z",
        "closed_on": null,
    })
}

/// `/issues.json` over `issues`: `issue_id` filters, `offset` and `limit` page (the limit
/// capped at `per_page`, as an instance's setting caps it), `total_count` counts.
struct Listing {
    issues: Vec<u64>,
    per_page: usize,
}

impl Respond for Listing {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let asked = wire::numbers(req, "issue_id");
        let matching: Vec<u64> = self
            .issues
            .iter()
            .copied()
            .filter(|i| asked.as_ref().is_none_or(|s| s.contains(i)))
            .collect();
        let (offset, limit, page) =
            wire::window(req, &matching, ("offset", "limit"), self.per_page);
        let page: Vec<Value> = page.into_iter().map(issue).collect();
        wire::json(&json!({
            "issues": page, "total_count": matching.len(), "offset": offset, "limit": limit,
        }))
    }
}

async fn mount_statuses(server: &MockServer) {
    let statuses = json!({"issue_statuses": [
        {"id": 1, "name": "New", "is_closed": false},
        {"id": 5, "name": "Closed", "is_closed": true},
    ]});
    wire::mount_json(server, "/issue_statuses.json", statuses).await;
}

/// The listing of the held bugs (`issue_id=...`) over `issues`, in front of the query's.
async fn mount_held(server: &MockServer, issues: Vec<u64>) {
    let by_id = |r: &Request| wire::query_value(r, "issue_id").is_some();
    let answer = Listing {
        issues,
        per_page: 100,
    };
    wire::mount_in_front(server, "/issues.json", by_id, answer).await;
}

#[async_trait]
impl SuiteTracker for Redmine {
    fn kind(&self) -> &'static str {
        "redmine"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_redmine::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-redmine", "redmine");
        c.base_url = format!("{base}/");
        c.extra
            .insert("api_key_env".into(), json!("SUITE_REDMINE_KEY"));
        c.queries = vec![Query::new(format!("{base}/issues.json?tracker_id=1"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_REDMINE_KEY"]
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/issues/{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        mount_statuses(server).await;
        let mut issues: Vec<u64> = pages.iter().flatten().map(|b| b.id).collect();
        issues.dedup();
        let per_page = pages.first().map_or(1, Vec::len).max(1);
        Mock::given(method("GET"))
            .and(path("/issues.json"))
            .respond_with(Listing { issues, per_page })
            .mount(server)
            .await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        mount_statuses(server).await;
        mount_held(server, vec![bug.id]).await;
        let one = json!({ "issue": issue(bug.id) });
        wire::mount_json(server, &format!("/issues/{}.json", bug.id), one).await;
    }

    /// Redmine's refresh first looks the held bugs up in one listing (`issue_id=`): gone is
    /// a listing without it, then a 404/410 of `/issues/N.json`.
    async fn mount_gone(&self, server: &MockServer, _id: u64, status: u16) {
        mount_statuses(server).await;
        mount_held(server, Vec::new()).await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/issues/\d+\.json$"))
            .respond_with(ResponseTemplate::new(status))
            .mount(server)
            .await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let want = format!(">={}", since.format("%Y-%m-%dT%H:%M:%SZ"));
        wire::query_value(request, "updated_on") == Some(want)
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        match case {
            Case::NextLinkToAnotherOrigin => {
                Some("Redmine pages by offset up to total_count: its answers name no next page")
            }
            Case::HostileLinks => Some(
                "Redmine's answers carry no link: it is built from the issue id under base_url",
            ),
            _ => None,
        }
    }
}

bugimporters_testkit::conformance_suite!(Redmine);
