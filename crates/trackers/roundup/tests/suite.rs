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

/// A query polled at `since` asks for the issues active from an hour before it.
fn asks_since(request: &Request, since: NaiveDateTime) -> bool {
    let hour_before = since - chrono::Duration::hours(1);
    let want = format!("{};", hour_before.format("%Y-%m-%d.%H:%M:%S"));
    wire::query_value(request, "activity") == Some(want)
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
        asks_since(request, since)
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

/// The same on the REST mode: the CSV export names the issues, `rest/data/issue` answers
/// them with Basic credentials (sent to REST URLs only); a held issue no list returns is
/// asked for alone, and its 404/410 deletes it.
mod rest {
    use async_trait::async_trait;
    use bugimporters_core::{Query, Registry, TrackerConfig};
    use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
    use chrono::NaiveDateTime;
    use serde_json::{json, Value};
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    struct RoundupRest;

    fn issue(id: u64) -> Value {
        json!({
            "id": id.to_string(), "title": format!("Issue {id}"),
            "status": {"id": "1", "name": "chatting"}, "priority": {"id": "3", "name": "bug"},
            "creation": "2026-11-18.04:48:00", "activity": "2026-11-20.14:47:36",
            "creator": {"id": "5", "username": "carol"}, "actor": {"id": "5", "username": "carol"},
            "messages": [],
        })
    }

    /// `rest/data/issue?id=…`: the asked issues among `known`; the reporters' names.
    async fn mount_rest(server: &MockServer, known: Vec<u64>) {
        Mock::given(method("GET"))
            .and(path("/tracker/rest/data/issue"))
            .respond_with(move |r: &Request| {
                let found: Vec<Value> = wire::numbers(r, "id")
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| known.contains(i))
                    .map(issue)
                    .collect();
                wire::json(&json!({"data": {"collection": found}}))
            })
            .mount(server)
            .await;
        let carol = json!({"data": {"collection": [
            {"id": "5", "username": "carol", "realname": "Carol Chen"}]}});
        wire::mount_json(server, "/tracker/rest/data/user", carol).await;
    }

    #[async_trait]
    impl SuiteTracker for RoundupRest {
        fn kind(&self) -> &'static str {
            "roundup"
        }

        fn register(&self, registry: &mut Registry) {
            bugimporters_roundup::register(registry);
        }

        fn config(&self, base: &str) -> TrackerConfig {
            let mut c = TrackerConfig::new("suite-roundup-rest", "roundup");
            c.base_url = format!("{base}/tracker");
            for (k, v) in [
                ("roundup_api", "rest"),
                ("closed_status", "resolved"),
                ("roundup_username_env", "SUITE_ROUNDUP_USER"),
                ("roundup_password_env", "SUITE_ROUNDUP_PW"),
            ] {
                c.extra.insert(k.into(), json!(v));
            }
            c.queries = vec![Query::new(format!(
                "{base}/tracker/issue?@action=export_csv&@columns=id&@filter=status&status=1"
            ))];
            c
        }

        fn secrets(&self) -> &'static [&'static str] {
            &["SUITE_ROUNDUP_USER", "SUITE_ROUNDUP_PW"]
        }

        /// The CSV export is the web interface's: no credentials go there.
        fn sends_credentials(&self, request: &Request) -> bool {
            request.url.path().contains("/rest/")
        }

        fn link(&self, base: &str, id: u64) -> String {
            format!("{base}/tracker/issue{id}")
        }

        async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
            let ids: Vec<u64> = pages.iter().flatten().map(|b| b.id).collect();
            let mut csv = String::from("\"id\"\r\n");
            for id in &ids {
                csv.push_str(&format!("\"{id}\"\r\n"));
            }
            Mock::given(method("GET"))
                .and(path("/tracker/issue"))
                .respond_with(ResponseTemplate::new(200).set_body_raw(csv, "text/csv"))
                .mount(server)
                .await;
            mount_rest(server, ids).await;
        }

        async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
            mount_rest(server, vec![bug.id]).await;
        }

        async fn mount_gone(&self, server: &MockServer, _id: u64, status: u16) {
            mount_rest(server, Vec::new()).await;
            Mock::given(method("GET"))
                .and(path_regex(r"^/tracker/rest/data/issue/\d+$"))
                .respond_with(ResponseTemplate::new(status))
                .mount(server)
                .await;
        }

        fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
            super::asks_since(request, since)
        }

        fn not_applicable(&self, case: Case) -> Option<&'static str> {
            match case {
                Case::NextLinkToAnotherOrigin => Some(
                    "Roundup's CSV export is one answer and its REST lists are asked by id: no answer names a next page",
                ),
                Case::HostileLinks => Some(
                    "Roundup's answers carry no link: issue links are built from the id under base_url",
                ),
                _ => None,
            }
        }
    }

    bugimporters_testkit::conformance_suite!(RoundupRest);
}
