//! The conformance suite (`bugimporters_testkit::suite`) on the Phabricator/Phorge importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Phabricator;

fn task(id: u64) -> Value {
    json!({
        "id": id, "type": "TASK", "phid": format!("PHID-TASK-{id}"),
        "fields": {
            "name": format!("Task {id}"), "description": {"raw": "Steps"},
            "authorPHID": "PHID-USER-ann", "ownerPHID": null,
            "status": {"value": "open", "name": "Open", "color": null},
            "priority": {"value": 50, "name": "Medium", "color": "orange"},
            "dateCreated": 1_600_000_000 + id, "dateModified": 1_700_000_000 + id,
            "dateClosed": null,
        },
        "attachments": {
            "projects": {"projectPHIDs": []},
            "subscribers": {"subscriberPHIDs": [], "subscriberCount": 0},
        }
    })
}

fn envelope(result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"result": result, "error_code": null, "error_info": null}))
}

fn field(r: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(&r.body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn asks_ids(r: &Request) -> Vec<u64> {
    url::form_urlencoded::parse(&r.body)
        .filter(|(k, _)| k.starts_with("constraints[ids]"))
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// `maniphest.search` of a listing: page `after` (absent = 0) of `pages`, the next page's
/// index as the cursor.
struct Listing(Vec<Vec<u64>>);

impl Respond for Listing {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let page: usize = field(r, "after").and_then(|a| a.parse().ok()).unwrap_or(0);
        let data: Vec<Value> = self
            .0
            .get(page)
            .into_iter()
            .flatten()
            .map(|i| task(*i))
            .collect();
        let after = (page + 1 < self.0.len()).then(|| (page + 1).to_string());
        envelope(json!({"data": data, "maps": {}, "cursor": {"limit": 100, "after": after}}))
    }
}

/// `maniphest.search` by `constraints[ids]`: the asked ids among `known`.
struct ById(Vec<u64>);

impl Respond for ById {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let data: Vec<Value> = asks_ids(r)
            .into_iter()
            .filter(|i| self.0.contains(i))
            .map(task)
            .collect();
        envelope(json!({"data": data, "maps": {}, "cursor": {"limit": 100, "after": null}}))
    }
}

/// The lookups every run makes first: statuses, projects, users.
async fn mount_lookups(server: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(|r: &Request| match r.url.path() {
            "/api/maniphest.status.search" => envelope(json!({"data": [
                {"name": "Open", "value": "open", "closed": false},
                {"name": "Resolved", "value": "resolved", "closed": true}]})),
            "/api/user.search" => envelope(json!({"data": [
                {"phid": "PHID-USER-ann", "fields": {"username": "ann", "realName": "Ann"}}]})),
            _ => envelope(json!({"data": []})),
        })
        .with_priority(6)
        .mount(server)
        .await;
}

async fn mount_search<R: Respond + 'static>(server: &MockServer, by_id: bool, answer: R) {
    mount_lookups(server).await;
    Mock::given(method("POST"))
        .and(path("/api/maniphest.search"))
        .and(move |r: &Request| asks_ids(r).is_empty() != by_id)
        .respond_with(answer)
        .mount(server)
        .await;
}

#[async_trait]
impl SuiteTracker for Phabricator {
    fn kind(&self) -> &'static str {
        "phabricator"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_phabricator::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-phabricator", "phorge");
        c.base_url = format!("{base}/");
        c.extra
            .insert("token_env".into(), json!("SUITE_PHABRICATOR_TOKEN"));
        c.queries = vec![Query::new(format!("{base}/maniphest/query/open/"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_PHABRICATOR_TOKEN"]
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/T{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let ids = pages
            .iter()
            .map(|p| p.iter().map(|b| b.id).collect())
            .collect();
        mount_search(server, false, Listing(ids)).await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        mount_search(server, true, ById(vec![bug.id])).await;
    }

    /// Held tasks are refreshed in one search by id: gone is a search that answers without
    /// the task.
    async fn mount_gone(&self, server: &MockServer, _id: u64, _status: u16) {
        mount_search(server, true, ById(Vec::new())).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        field(request, "constraints[modifiedStart]")
            == Some(since.and_utc().timestamp().to_string())
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        match case {
            Case::QueryOnAnotherOrigin => Some(
                "a phabricator query is a query key of base_url's instance ({base_url}/maniphest/query/KEY/, any other URL is refused at build): every call goes to {base_url}/api/",
            ),
            Case::NextLinkToAnotherOrigin => {
                Some("Conduit pages by an opaque cursor (`after`), never by a URL")
            }
            Case::HostileLinks => {
                Some("Conduit's answers carry no link: T<id> is built under base_url")
            }
            _ => None,
        }
    }
}

bugimporters_testkit::conformance_suite!(Phabricator);
