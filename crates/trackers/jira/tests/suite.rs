//! The conformance suite (`bugimporters_testkit::suite`) on the Jira importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SEARCH: &str = "/rest/api/2/search";

/// The suite's Jira: its credential keys, each naming a secret of the same name.
struct Jira {
    credentials: &'static [(&'static str, &'static str)],
    secrets: &'static [&'static str],
}

/// A personal access token (`Bearer`).
const JIRA: Jira = Jira {
    credentials: &[("token_env", "SUITE_JIRA_PAT")],
    secrets: &["SUITE_JIRA_PAT"],
};

/// Jira Cloud's e-mail address and API token (`Basic`).
const JIRA_BASIC: Jira = Jira {
    credentials: &[
        ("email_env", "SUITE_JIRA_EMAIL"),
        ("api_token_env", "SUITE_JIRA_API_TOKEN"),
    ],
    secrets: &["SUITE_JIRA_EMAIL", "SUITE_JIRA_API_TOKEN"],
};

fn issue(id: u64) -> Value {
    let key = format!("MKY-{id}");
    json!({"id": id.to_string(), "key": key, "fields": {
        "summary": format!("summary of {key}"), "description": "d", "status": {"name": "Open"},
        "labels": [], "priority": {"name": "Major"},
        "created": "2024-01-01T10:00:00.000+1100", "updated": "2024-02-01T10:00:00.000+1100",
        "reporter": {"name": "ann", "displayName": "Ann"}}})
}

/// `/rest/api/2/search` over `issues`: a `key in (…)` JQL filters, `startAt` and
/// `maxResults` page (capped at `per_page`), `total` counts.
struct Search {
    issues: Vec<u64>,
    per_page: usize,
}

impl Respond for Search {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let jql = wire::query_value(req, "jql").unwrap_or_default();
        let keys: Option<Vec<String>> = jql
            .strip_prefix("key in (")
            .and_then(|k| k.strip_suffix(')'))
            .map(|k| k.split(',').map(|k| k.trim().to_owned()).collect());
        let matching: Vec<u64> = self
            .issues
            .iter()
            .copied()
            .filter(|i| {
                keys.as_ref()
                    .is_none_or(|k| k.contains(&format!("MKY-{i}")))
            })
            .collect();
        let (start, max, page) =
            wire::window(req, &matching, ("startAt", "maxResults"), self.per_page);
        let page: Vec<Value> = page.into_iter().map(issue).collect();
        wire::json(&json!({
            "startAt": start, "maxResults": max, "total": matching.len(), "issues": page,
        }))
    }
}

/// The `key in (…)` search of the held bugs over `issues`, in front of the query's.
async fn mount_held(server: &MockServer, issues: Vec<u64>) {
    let by_key =
        |r: &Request| wire::query_value(r, "jql").is_some_and(|j| j.starts_with("key in ("));
    let answer = Search {
        issues,
        per_page: 100,
    };
    wire::mount_in_front(server, SEARCH, by_key, answer).await;
}

#[async_trait]
impl SuiteTracker for Jira {
    fn kind(&self) -> &'static str {
        "jira"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_jira::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-jira", "jira");
        c.base_url = format!("{base}/browse/");
        for (key, secret) in self.credentials {
            c.extra.insert((*key).into(), json!(secret));
        }
        c.queries = vec![Query::new(format!(
            "{base}{SEARCH}?jql=status=open%20ORDER%20BY%20key"
        ))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        self.secrets
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/browse/MKY-{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let issues: Vec<u64> = pages.iter().flatten().map(|b| b.id).collect();
        let per_page = pages.first().map_or(1, Vec::len).max(1);
        Mock::given(method("GET"))
            .and(path(SEARCH))
            .respond_with(Search { issues, per_page })
            .mount(server)
            .await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        mount_held(server, vec![bug.id]).await;
        let at = format!("/rest/api/2/issue/MKY-{}", bug.id);
        wire::mount_json(server, &at, issue(bug.id)).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let want = format!("updated > {}", since.and_utc().timestamp_millis() - 1);
        wire::query_value(request, "jql").is_some_and(|j| j.contains(&want))
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        match case {
            Case::NextLinkToAnotherOrigin => Some(
                "Jira Server pages by startAt up to total (Cloud by a nextPageToken): its answers name no next URL",
            ),
            Case::HostileLinks => {
                Some("Jira's links are built from the issue key under base_url's /browse/")
            }
            _ => None,
        }
    }
}

bugimporters_testkit::conformance_suite!(JIRA);

/// The same with Jira Cloud's Basic credentials.
mod basic_auth {
    bugimporters_testkit::conformance_suite!(super::JIRA_BASIC);
}
