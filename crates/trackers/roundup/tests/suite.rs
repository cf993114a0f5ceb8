//! The conformance suite (`bugimporters_testkit::suite`) on the Roundup importer (its page
//! mode: CSV export and issue pages).

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

struct Roundup;

fn csv_of(ids: &[u64]) -> ResponseTemplate {
    let mut body = String::from("\"id\",\"title\"\r\n");
    for id in ids {
        body.push_str(&format!("\"{id}\",\"Issue {id}\"\r\n"));
    }
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/csv")
}

/// Issue `id`'s page (a Roundup 2.x classic template, as `fixtures/roundup/` records).
async fn mount_page(server: &MockServer, id: u64) {
    let p = format!(
        "{}/../../../fixtures/roundup/roundup26-issue7.html",
        env!("CARGO_MANIFEST_DIR")
    );
    let page = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    Mock::given(method("GET"))
        .and(path(format!("/tracker/issue{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8"))
        .mount(server)
        .await;
}

/// The existence (and change) checks of held issues (`@columns=id&@filter=id…&id=…`): the
/// asked ids among `known`.
async fn mount_checks(server: &MockServer, known: Vec<u64>) {
    let checks = |r: &Request| wire::query_value(r, "@columns").as_deref() == Some("id");
    let answer = move |r: &Request| {
        let asked: Vec<u64> = wire::numbers(r, "id")
            .unwrap_or_default()
            .into_iter()
            .filter(|i| known.contains(i))
            .collect();
        let mut body = String::from("\"id\"\r\n");
        for id in asked {
            body.push_str(&format!("\"{id}\"\r\n"));
        }
        ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/csv")
    };
    wire::mount_in_front(server, "/tracker/issue", checks, answer).await;
}

#[async_trait]
impl SuiteTracker for Roundup {
    fn kind(&self) -> &'static str {
        "roundup"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_roundup::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-roundup", "roundup");
        c.base_url = format!("{base}/tracker");
        for (k, v) in [("roundup_api", "html"), ("closed_status", "resolved")] {
            c.extra.insert(k.into(), json!(v));
        }
        c.queries = vec![Query::new(format!(
            "{base}/tracker/issue?@action=export_csv&@columns=id,title&@filter=status&status=1,2"
        ))];
        c
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/tracker/issue{id}")
    }

    /// Roundup's CSV export is one answer: the pages are its rows, in order.
    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let ids: Vec<u64> = pages.iter().flatten().map(|b| b.id).collect();
        Mock::given(method("GET"))
            .and(path("/tracker/issue"))
            .and(|r: &Request| wire::query_value(r, "@action").as_deref() == Some("export_csv"))
            .respond_with(csv_of(&ids))
            .mount(server)
            .await;
        for id in ids {
            mount_page(server, id).await;
        }
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        mount_checks(server, vec![bug.id]).await;
        mount_page(server, bug.id).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let hour_before = since - chrono::Duration::hours(1);
        let want = format!("{};", hour_before.format("%Y-%m-%d.%H:%M:%S"));
        wire::query_value(request, "activity") == Some(want)
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        match case {
            c if c.about_credentials() => Some(
                "the page mode reads public pages without credentials (the REST mode's Basic credentials go to REST URLs only: tests/importer.rs)",
            ),
            Case::HostileLinks => {
                Some("Roundup's answers carry no link: issue links are built from the id under base_url")
            }
            _ => None,
        }
    }
}

bugimporters_testkit::conformance_suite!(Roundup);
