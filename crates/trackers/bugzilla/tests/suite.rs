//! The conformance suite (`bugimporters_testkit::suite`) on the Bugzilla importer (its REST
//! mode: searches paged by offset, the key in a header, held bugs by id).

use async_trait::async_trait;
use bugimporters_core::{Query, Registry, TrackerConfig};
use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// `rest_page_size` of the suite's configuration.
const PAGE: usize = 2;

struct Bugzilla;

fn rest_bug(id: u64) -> Value {
    json!({
        "id": id, "summary": format!("REST bug {id}"), "status": "NEW", "resolution": "",
        "severity": "normal", "priority": "P3", "product": "Mock", "component": "Core",
        "keywords": [], "whiteboard": "", "creator": format!("user{id}@example.org"),
        "creation_time": "2020-01-01T00:00:00Z", "last_change_time": "2020-01-31T00:00:00Z"
    })
}

/// `/rest/bug` searches (no `id`): `offset`/`limit` over `ids`.
struct Search(Vec<u64>);

impl Respond for Search {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let (_, _, page) = wire::window(r, &self.0, ("offset", "limit"), PAGE);
        let bugs: Vec<Value> = page.into_iter().map(rest_bug).collect();
        wire::json(&json!({ "bugs": bugs }))
    }
}

/// `/rest/bug?id=…&permissive=1`: the asked ids among `known`, a fault 101 ("does not exist")
/// for the others.
struct ById(Vec<u64>);

impl Respond for ById {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let (bugs, gone): (Vec<u64>, Vec<u64>) = wire::numbers(r, "id")
            .unwrap_or_default()
            .into_iter()
            .partition(|i| self.0.contains(i));
        let faults: Vec<Value> = gone
            .iter()
            .map(|i| json!({"id": i, "faultCode": 101, "faultString": format!("Bug #{i} does not exist.")}))
            .collect();
        let bugs: Vec<Value> = bugs.into_iter().map(rest_bug).collect();
        wire::json(&json!({ "bugs": bugs, "faults": faults }))
    }
}

/// `/rest/bug/N/comment?ids=…`: a description for each asked bug.
async fn mount_comments(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/rest/bug/\d+/comment$"))
        .respond_with(|r: &Request| {
            let mut bugs = serde_json::Map::new();
            for id in wire::numbers(r, "ids").unwrap_or_default() {
                let c =
                    json!({"comments": [{"count": 0, "creator": "u@example.org", "text": "D"}]});
                bugs.insert(id.to_string(), c);
            }
            wire::json(&json!({"bugs": bugs, "comments": {}}))
        })
        .mount(server)
        .await;
}

async fn mount_by_id(server: &MockServer, known: Vec<u64>) {
    mount_comments(server).await;
    let by_id = |r: &Request| wire::query_value(r, "id").is_some();
    wire::mount_in_front(server, "/rest/bug", by_id, ById(known)).await;
}

#[async_trait]
impl SuiteTracker for Bugzilla {
    fn kind(&self) -> &'static str {
        "bugzilla"
    }

    fn register(&self, registry: &mut Registry) {
        bugimporters_bugzilla::register(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-bugzilla", "bugzilla");
        c.base_url = format!("{base}/");
        c.extra.insert("bugzilla_api".into(), json!("rest"));
        c.extra
            .insert("api_key_env".into(), json!("SUITE_BUGZILLA_KEY"));
        c.extra.insert("rest_page_size".into(), json!(PAGE));
        c.queries = vec![Query::new(format!(
            "{base}/buglist.cgi?keywords=easy&ctype=html"
        ))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        &["SUITE_BUGZILLA_KEY"]
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/show_bug.cgi?id={id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        mount_comments(server).await;
        let ids = pages.iter().flatten().map(|b| b.id).collect();
        Mock::given(method("GET"))
            .and(path("/rest/bug"))
            .respond_with(Search(ids))
            .mount(server)
            .await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        mount_by_id(server, vec![bug.id]).await;
    }

    /// Bugzilla's own not-found: fault 101 for the asked id (held bugs are asked in batches,
    /// so a 404 of the batch is not a 404 of one bug).
    async fn mount_gone(&self, server: &MockServer, _id: u64, _status: u16) {
        mount_by_id(server, Vec::new()).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let want = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        wire::query_value(request, "last_change_time") == Some(want)
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        match case {
            Case::NextLinkToAnotherOrigin => {
                Some("Bugzilla's REST searches page by offset: its answers name no next page")
            }
            Case::HostileLinks => {
                Some("Bugzilla's answers carry no link: show_bug.cgi?id=N is built under base_url")
            }
            _ => None,
        }
    }
}

bugimporters_testkit::conformance_suite!(Bugzilla);

/// The same on the default mode, XML: `buglist.cgi` names the bugs, `show_bug.cgi?ctype=xml`
/// answers them in batches; `<bug error="NotFound">` is its not-found.
mod xml {
    use async_trait::async_trait;
    use bugimporters_core::{Query, Registry, TrackerConfig};
    use bugimporters_testkit::suite::{wire, Case, SuiteBug, SuiteTracker};
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    struct BugzillaXml;

    fn xml(body: String) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/xml; charset=UTF-8")
    }

    /// `show_bug.cgi?ctype=xml&id=…`: the asked bugs among `known`, `NotFound` for the others.
    async fn mount_show_bug(server: &MockServer, known: Vec<u64>) {
        Mock::given(method("GET"))
            .and(path("/show_bug.cgi"))
            .respond_with(move |r: &Request| {
                let mut doc = String::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" ?>\n<bugzilla version=\"5.0.4\">\n",
                );
                for id in wire::numbers(r, "id").unwrap_or_default() {
                    doc.push_str(&if known.contains(&id) {
                        format!(
                            "<bug><bug_id>{id}</bug_id><creation_ts>2020-01-01 10:00:00 -0500</creation_ts>\
                             <short_desc>Bug {id}</short_desc><delta_ts>2020-02-01 10:00:00 -0500</delta_ts>\
                             <product>P</product><component>C</component><bug_status>NEW</bug_status>\
                             <reporter name=\"R\">r@example.org</reporter></bug>\n"
                        )
                    } else {
                        format!("<bug error=\"NotFound\"><bug_id>{id}</bug_id></bug>\n")
                    });
                }
                doc.push_str("</bugzilla>\n");
                xml(doc)
            })
            .mount(server)
            .await;
    }

    #[async_trait]
    impl SuiteTracker for BugzillaXml {
        fn kind(&self) -> &'static str {
            "bugzilla"
        }

        fn register(&self, registry: &mut Registry) {
            bugimporters_bugzilla::register(registry);
        }

        /// Batches of 2: a listing of 5 is read in 3 `show_bug.cgi` requests.
        fn config(&self, base: &str) -> TrackerConfig {
            let mut c = TrackerConfig::new("suite-bugzilla-xml", "bugzilla");
            c.base_url = format!("{base}/");
            c.extra.insert("batch_size".into(), json!(2));
            c.queries = vec![Query::new(format!("{base}/buglist.cgi?keywords=easy"))];
            c
        }

        fn link(&self, base: &str, id: u64) -> String {
            format!("{base}/show_bug.cgi?id={id}")
        }

        async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
            let ids: Vec<u64> = pages.iter().flatten().map(|b| b.id).collect();
            let mut html = String::from(
                "<!DOCTYPE html><html><body><form method=\"post\" action=\"show_bug.cgi\">\n<input type=\"hidden\" name=\"ctype\" value=\"xml\">\n",
            );
            for id in &ids {
                html.push_str(&format!(
                    "<input type=\"hidden\" name=\"id\" value=\"{id}\">\n"
                ));
            }
            html.push_str("<input type=\"submit\" value=\"XML\" id=\"xml\"></form></body></html>");
            Mock::given(method("GET"))
                .and(path("/buglist.cgi"))
                .respond_with(ResponseTemplate::new(200).set_body_raw(html, "text/html"))
                .mount(server)
                .await;
            mount_show_bug(server, ids).await;
        }

        async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
            mount_show_bug(server, vec![bug.id]).await;
        }

        async fn mount_gone(&self, server: &MockServer, _id: u64, _status: u16) {
            mount_show_bug(server, Vec::new()).await;
        }

        fn not_applicable(&self, case: Case) -> Option<&'static str> {
            match case {
                Case::SinceIsHonoured => Some(
                    "the XML mode reads buglist.cgi as configured: only REST searches filter by last_change_time",
                ),
                Case::HostileLinks => Some(
                    "Bugzilla's answers carry no link: show_bug.cgi?id=N is built under base_url",
                ),
                c if c.about_credentials() => {
                    Some("the XML mode reads public pages: the API key goes to REST URLs only")
                }
                _ => None,
            }
        }
    }

    bugimporters_testkit::conformance_suite!(BugzillaXml);
}
