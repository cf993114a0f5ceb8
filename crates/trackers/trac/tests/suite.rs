//! The conformance suite (`bugimporters_testkit::suite`) on the Trac importer.

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The page size of the suite's query (`max=2`): a shorter page ends the listing.
const MAX: usize = 2;

struct Trac;

fn csv(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/csv;charset=utf-8")
        .set_body_string(body)
}

fn query_csv(ids: &[u64]) -> String {
    let mut s = String::from("\u{feff}id,Summary,Status\r\n");
    for id in ids {
        s.push_str(&format!("{id},Ticket {id},new\r\n"));
    }
    s
}

/// The ticket's CSV and its page (dates and people).
async fn mount_ticket(server: &MockServer, id: u64) {
    let row = format!(
        "\u{feff}id,summary,reporter,owner,description,type,status,priority,component,keywords,cc\r\n\
         {id},Ticket {id},alice,bob,Steps,defect,new,major,core,,\r\n"
    );
    Mock::given(method("GET"))
        .and(path(format!("/trac/ticket/{id}")))
        .and(query_param("format", "csv"))
        .respond_with(csv(row))
        .mount(server)
        .await;
    let page = r#"<!DOCTYPE html><html><body><div id="ticket">
<div class="date"><p>Opened <a class="timeline" title="See timeline at 11/01/26 10:00:00">x</a></p>
<p>Last modified <a class="timeline" title="See timeline at 11/11/26 12:30:00">y</a></p></div>
<table class="properties"><tr><th id="h_reporter">Reported by:</th><td>alice</td></tr></table>
</div></body></html>"#;
    Mock::given(method("GET"))
        .and(path(format!("/trac/ticket/{id}")))
        .and(query_param_is_missing("format"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html;charset=utf-8"))
        .mount(server)
        .await;
}

#[async_trait]
impl SuiteTracker for Trac {
    fn kind(&self) -> &'static str {
        "trac"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_trac::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-trac", "trac");
        c.base_url = format!("{base}/trac");
        c.queries = vec![Query::new(format!(
            "{base}/trac/query?format=csv&status=new&order=id&max={MAX}"
        ))];
        c
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/trac/ticket/{id}")
    }

    /// Pages by `page=N`; Trac answers a page past the end with 200 and an empty body.
    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        for (i, bugs) in pages.iter().enumerate() {
            let page = i as u64 + 1;
            let ids: Vec<u64> = bugs.iter().map(|b| b.id).collect();
            Mock::given(method("GET"))
                .and(path("/trac/query"))
                .and(|r: &Request| wire::query_value(r, "changetime").is_none())
                .and(move |r: &Request| wire::page_of(r, "page") == page)
                .respond_with(csv(query_csv(&ids)))
                .mount(server)
                .await;
            for b in bugs {
                mount_ticket(server, b.id).await;
            }
        }
        Mock::given(method("GET"))
            .and(path("/trac/query"))
            .respond_with(ResponseTemplate::new(200).set_body_string(""))
            .with_priority(7)
            .mount(server)
            .await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        mount_ticket(server, bug.id).await;
        // The held tickets changed since the cut-off: all of them (they are fetched).
        let id = bug.id;
        Mock::given(method("GET"))
            .and(path("/trac/query"))
            .and(|r: &Request| wire::query_value(r, "changetime").is_some())
            .respond_with(csv(query_csv(&[id])))
            .with_priority(4)
            .mount(server)
            .await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let want = format!("{}..", since.format("%Y-%m-%dT%H:%M:%SZ"));
        wire::query_value(request, "changetime") == Some(want)
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        match case {
            c if c.about_credentials() => {
                Some("the Trac importer reads public pages: it has no credentials")
            }
            Case::HostileLinks => Some(
                "Trac's answers carry no link: ticket links are built from the id under base_url",
            ),
            _ => None,
        }
    }
}

bugimporters_testkit::conformance_suite!(Trac);
