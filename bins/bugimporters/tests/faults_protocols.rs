//! The fault suite for every tracker protocol (`faults.rs` covers the GitHub protocol in more
//! depth). For each protocol, ONE `bugimporters crawl` runs over a healthy tracker, trackers
//! that recover from 503s and 429s, and one tracker per fault: 500/502/503 bursts, 429 with and
//! without `Retry-After`, timeouts, bodies over the size limit, redirect loops and redirects to
//! another host and to private addresses, a wrong content type, invalid UTF-8, an empty 200,
//! connection resets, cut bodies and bodies that trickle past the timeout (a raw TCP server,
//! and the synthetic server where it speaks the protocol), the protocol's own malformed bodies
//! (CSV, HTML, XML with entity bombs and external entities, JSON of the wrong shape) and one
//! failing bug page beside healthy ones.
//!
//! For each fault: no panic, the failure is reported with tracker, URL and reason, every bug of
//! the healthy trackers and of the healthy pages is written, and the exit status is 1. All
//! traffic goes to 127.0.0.1; redirects to other addresses are refused before connecting.
//!
//! Each protocol is a [`Protocol`] value: its tracker record, its healthy responses (from
//! `fixtures/<tracker>/`), the links a healthy tracker writes, its malformed bodies and its
//! failing bug page. The faults common to all protocols are in [`common_faults`].

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bugimporters_testkit::synthetic::{Faults, SyntheticConfig, SyntheticServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fixture(name: &str) -> String {
    let p = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn body(content_type: &str, body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), content_type)
}

fn json(b: impl Into<Vec<u8>>) -> ResponseTemplate {
    body("application/json", b)
}

/// One response of a tracker's server: for requests whose path (after the tracker's prefix)
/// matches the regex `path` and, when `query` is set, whose `?QUERY#` contains it (so `?` and
/// `#` anchor a pattern at the start or end of the query).
struct Route {
    path: String,
    query: Option<String>,
    template: ResponseTemplate,
}

fn route(path: &str, template: ResponseTemplate) -> Route {
    Route {
        path: path.to_owned(),
        query: None,
        template,
    }
}

fn route_q(path: &str, query: &str, template: ResponseTemplate) -> Route {
    Route {
        query: Some(query.to_owned()),
        ..route(path, template)
    }
}

/// A fault of one tracker: its answer to the requests of `route` (`.*`: every request; the
/// other requests get the healthy answers).
struct Fault {
    name: String,
    route: Route,
    /// The first `n` requests only (the tracker must recover).
    times: Option<u64>,
}

fn fault(name: &str, template: ResponseTemplate) -> Fault {
    Fault {
        name: name.to_owned(),
        route: route(".*", template),
        times: None,
    }
}

fn fault_on(name: &str, path: &str, query: Option<&str>, template: ResponseTemplate) -> Fault {
    let route = Route {
        path: path.to_owned(),
        query: query.map(str::to_owned),
        template,
    };
    Fault {
        name: name.to_owned(),
        route,
        times: None,
    }
}

/// A tracker protocol. `{root}` in its templates is where one tracker's server lives
/// (`http://127.0.0.1:P/<tracker name>`), `{host}` that server's root; routes are relative to
/// `{root}`.
struct Protocol {
    kind: &'static str,
    /// The keys of a tracker record besides `tracker_name` and `bugimporter`.
    record: &'static str,
    /// Keys added for the tracker whose one bug page fails.
    page_record: &'static str,
    /// The healthy answers under `root`.
    healthy: fn(root: &str) -> Vec<Route>,
    /// The bug links a healthy tracker writes.
    links: Vec<String>,
    /// Protocol-specific malformed bodies.
    malformed: Vec<Fault>,
    /// The one failing bug page (its route answers 500), a piece of the URL the report must
    /// name, and the end of the healthy link it costs (`None`: a held bug no query lists).
    page: (Route, &'static str, Option<&'static str>),
    /// The root of this protocol on the synthetic server, when it speaks it.
    synthetic: Option<fn(&SyntheticServer) -> String>,
}

impl Protocol {
    fn tracker(&self, name: &str, root: &str, page_fault: bool) -> String {
        let extra = if page_fault { self.page_record } else { "" };
        let record = format!("{}{extra}", self.record).replace("{root}", root);
        format!(
            "- tracker_name: {name}\n  bugimporter: {}\n  {record}\n",
            self.kind
        )
    }

    fn links(&self, root: &str) -> Vec<String> {
        let host = root.rsplit_once('/').map_or(root, |(h, _)| h);
        self.links
            .iter()
            .map(|l| l.replace("{root}", root).replace("{host}", host))
            .collect()
    }
}

/// `template` with `{}` replaced by each of `ids`.
fn each(template: &str, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|i| template.replace("{}", &i.to_string()))
        .collect()
}

fn error_500(path: &str) -> Route {
    route(path, ResponseTemplate::new(500))
}

// ---------------------------------------------------------------------------------------------
// The protocols.

fn trac_healthy(_: &str) -> Vec<Route> {
    let query = "\u{feff}id,summary,status\r\n1,one,new\r\n2,two,new\r\n3,three,new\r\n";
    let csv = body("text/csv", fixture("trac/trac16-ticket-4.csv"));
    vec![
        route("query", body("text/csv;charset=utf-8", query)),
        route_q(r"ticket/\d+", "format=csv", csv),
        route(
            r"ticket/\d+",
            body("text/html", fixture("trac/trac16-ticket-4.html")),
        ),
    ]
}

fn trac() -> Protocol {
    let csv = "text/csv";
    let garbage = body("text/html", "<<<\u{0}garbage </div></table> <p class=date>");
    Protocol {
        kind: "trac",
        record: "base_url: {root}/\n  bitesized_type: keywords\n  bitesized_text: easy\n  queries: ['{root}/query?format=csv&status=!closed']",
        page_record: "",
        healthy: trac_healthy,
        links: each("{root}/ticket/{}", &[1, 2, 3]),
        malformed: vec![
            fault("ragged-csv", body(csv, "id,summary\r\n1,a,b,c,d\r\n\"2,unterminated\r\nx")),
            fault("binary-csv", body(csv, vec![0, 1, 2, 0x80, 0xff, b',', 0, b'\n'])),
            fault_on("garbage-ticket-page", r"ticket/\d+", None, garbage),
        ],
        page: (error_500("ticket/2"), "/ticket/2", Some("/ticket/2")),
        synthetic: Some(|s| s.trac_url().trim_end_matches('/').to_owned()),
    }
}

/// `fixtures/bugzilla/show_bug-batch.xml` cut down to bug `id`.
fn bugzilla_bug(id: u32) -> String {
    let x = fixture("bugzilla/show_bug-batch.xml");
    let start = x.find("<bug>").expect("a <bug>");
    let block = x[start..]
        .split_inclusive("</bug>")
        .find(|b| b.contains(&format!("<bug_id>{id}</bug_id>")))
        .expect("bug in the fixture");
    format!("{}{block}\n</bugzilla>\n", &x[..start])
}

fn bugzilla_healthy(_: &str) -> Vec<Route> {
    let buglist = body("text/html", fixture("bugzilla/buglist.html"));
    let mut r = vec![route(r"buglist\.cgi", buglist)];
    for id in [1201, 1203, 1205] {
        let xml = body("text/xml", bugzilla_bug(id));
        r.push(route_q(r"show_bug\.cgi", &format!("&id={id}&#"), xml));
    }
    r
}

fn bugzilla() -> Protocol {
    let xml =
        |name: &str, path: &str, xml: String| fault_on(name, path, None, body("text/xml", xml));
    let cut = "<?xml version=\"1.0\"?><bugzilla><bug><bug_id>1201</bug_id><short_desc>x</bug>";
    let show_bug = r"show_bug\.cgi";
    Protocol {
        kind: "bugzilla",
        // One bug per request, so that one bug's page can fail alone.
        record: "base_url: {root}/\n  batch_size: 1\n  queries: ['{root}/buglist.cgi?product=Hello&bug_status=NEW']",
        page_record: "",
        healthy: bugzilla_healthy,
        links: each("{root}/show_bug.cgi?id={}", &[1201, 1203, 1205]),
        malformed: vec![
            xml("malformed-xml", show_bug, cut.to_owned()),
            xml("entity-bomb", show_bug, fixture("bugzilla/entity-bomb.xml")),
            xml("external-entity", show_bug, fixture("bugzilla/external-entity.xml")),
            // A tracking-bug query (XML) that is an external entity itself.
            xml("external-entity-query", r"buglist\.cgi", fixture("bugzilla/external-entity.xml")),
        ],
        page: (
            route_q(show_bug, "&id=1203&#", ResponseTemplate::new(500)),
            "id=1203",
            Some("id=1203"),
        ),
        synthetic: Some(|s| s.bugzilla_url().trim_end_matches('/').to_owned()),
    }
}

/// Malformed JSON bodies shared by the JSON protocols; `wrong_shape` is valid JSON that is not
/// what the protocol's list endpoint answers.
fn json_faults(wrong_shape: &str) -> Vec<Fault> {
    vec![
        fault("malformed-json", json("{\"issues\": [{\"id\": 1,")),
        fault("wrong-shape", json(wrong_shape)),
        fault("nested-json", json("[".repeat(100_000))),
    ]
}

const OBJECT_NOT_LIST: &str = r#"{"message": "Not Found", "issues": 3}"#;
const LIST_NOT_OBJECT: &str = r#"[1, "two", {"three": 3}]"#;

fn github() -> Protocol {
    Protocol {
        kind: "github",
        // `state=all` lists every issue, so a held bug it does not name is asked for alone.
        record: "github_name: octo-org\n  github_repo: hello-world\n  api_url: {root}\n  queries: ['{root}/repos/octo-org/hello-world/issues?state=all']",
        page_record: "\n  existing_bug_urls: ['https://github.com/octo-org/hello-world/issues/7']",
        // Issue pages live on the Enterprise web host of `api_url` (a tracker only writes
        // links it owns): the fixture's github.com links are moved there.
        healthy: |root| {
            let page = fixture("github/issues-page-1.json").replace("https://github.com", root);
            vec![route("repos/octo-org/hello-world/issues", json(page))]
        },
        links: each("{root}/octo-org/hello-world/issues/{}", &[1350, 1349, 1348]),
        malformed: json_faults(OBJECT_NOT_LIST),
        page: (error_500("repos/octo-org/hello-world/issues/7"), "/issues/7", None),
        synthetic: Some(SyntheticServer::github_api_url),
    }
}

fn jira() -> Protocol {
    Protocol {
        kind: "jira",
        record:
            "base_url: {root}/\n  queries: ['{root}/rest/api/2/search?jql=project%20%3D%20HELLO']",
        page_record: "\n  existing_bug_urls: ['{root}/browse/HELLO-9']",
        healthy: |_| {
            let search = "rest/api/2/search";
            let page = |n: u32| json(fixture(&format!("jira/search-page-{n}.json")));
            vec![
                route_q(search, "startAt=2", page(2)),
                route(search, page(1)),
            ]
        },
        // Links are `/browse/KEY` on the host root, as the original's.
        links: each("{host}/browse/HELLO-{}", &[1, 2, 3]),
        malformed: json_faults(LIST_NOT_OBJECT),
        // The held bug is not in the `key in (...)` search, so it is asked for alone.
        page: (error_500("rest/api/2/issue/HELLO-9"), "HELLO-9", None),
        synthetic: None,
    }
}

/// A Launchpad fixture with its API links pointing at `root`.
fn launchpad_doc(root: &str, name: &str) -> ResponseTemplate {
    json(fixture(&format!("launchpad/{name}.json")).replace("https://api.launchpad.net/1.0", root))
}

fn launchpad_healthy(root: &str) -> Vec<Route> {
    let doc = |name: &str| launchpad_doc(root, name);
    let mut r = vec![
        route_q("hello", "ws.start=2", doc("search-tasks-page-2")),
        route("hello", doc("search-tasks-page-1")),
        route("~ann", doc("person-ann")),
        route("~bob", doc("person-bob")),
        route_q("bugs/103/subscriptions", "ws.show=total_size", json("2")),
    ];
    for id in 101..=103 {
        r.push(route(
            &format!("bugs/{id}/subscriptions"),
            doc(&format!("subscriptions-{id}")),
        ));
        r.push(route(&format!("bugs/{id}"), doc(&format!("bug-{id}"))));
    }
    r
}

fn launchpad() -> Protocol {
    Protocol {
        kind: "launchpad",
        record: "launchpad_name: hello\n  api_url: {root}\n  queries: ['{root}/hello?ws.op=searchTasks']",
        page_record: "",
        healthy: launchpad_healthy,
        links: each("https://bugs.launchpad.net/hello/+bug/{}", &[101, 102, 103]),
        malformed: json_faults(LIST_NOT_OBJECT),
        page: (error_500("bugs/102"), "/bugs/102", Some("+bug/102")),
        synthetic: None,
    }
}

fn roundup_healthy(_: &str) -> Vec<Route> {
    let csv = "\"id\",\"title\"\r\n\"1\",\"one\"\r\n\"5\",\"five\"\r\n\"7\",\"seven\"\r\n";
    let mut r = vec![route("issue", body("text/csv", csv))];
    for id in [1, 5, 7] {
        let page = body(
            "text/html",
            fixture(&format!("roundup/roundup26-issue{id}.html")),
        );
        r.push(route(&format!("issue{id}"), page));
    }
    r
}

fn roundup() -> Protocol {
    let ragged = "\"id\",\"title\"\r\n\"1\",\"a\",\"b\"\r\n\"5\r\n\"x";
    let garbage = body("text/html", "<<<\u{0}garbage </table> <td");
    Protocol {
        kind: "roundup",
        record: "base_url: {root}/\n  roundup_api: html\n  closed_status: resolved\n  queries: ['{root}/issue?@action=export_csv&@columns=id,title']",
        page_record: "",
        healthy: roundup_healthy,
        links: each("{root}/issue{}", &[1, 5, 7]),
        malformed: vec![
            fault("ragged-csv", body("text/csv", ragged)),
            fault_on("garbage-issue-page", r"issue\d+", None, garbage),
        ],
        page: (error_500("issue5"), "/issue5", Some("/issue5")),
        synthetic: None,
    }
}

fn redmine_healthy(_: &str) -> Vec<Route> {
    // The fixture is the first page of 270 issues: make it the whole listing.
    let mut page: Value = serde_json::from_str(&fixture("redmine/issues-page.json")).unwrap();
    page["total_count"] = 5.into();
    let journal = fixture("redmine/issue-5-journals.json");
    let statuses = json(fixture("redmine/issue-statuses.json"));
    let mut r = vec![
        route(r"issues\.json", json(page.to_string())),
        route(r"issue_statuses\.json", statuses),
    ];
    for id in 1..=5 {
        let own = journal.replace("\"id\": 5,", &format!("\"id\": {id},"));
        r.push(route(&format!(r"issues/{id}\.json"), json(own)));
    }
    r
}

fn redmine() -> Protocol {
    Protocol {
        kind: "redmine",
        record: "base_url: {root}/\n  queries: ['{root}/issues.json?tracker_id=1']",
        // One request per issue for its journals; issue 3's fails (the issue is still written).
        page_record: "\n  people_from_journals: true",
        healthy: redmine_healthy,
        links: each("{root}/issues/{}", &[1, 2, 3, 4, 5]),
        malformed: json_faults(LIST_NOT_OBJECT),
        page: (error_500(r"issues/3\.json"), "/issues/3", None),
        synthetic: None,
    }
}

fn gitlab() -> Protocol {
    Protocol {
        kind: "gitlab",
        record: "base_url: {root}\n  project: acme/web/frontend\n  queries: ['{root}/api/v4/projects/acme%2Fweb%2Ffrontend/issues?state=all']",
        page_record: "\n  existing_bug_urls: ['{root}/acme/web/frontend/-/issues/42']",
        // The fixture's links are moved under `base_url` (a tracker only writes links it owns).
        healthy: |root| {
            let page = fixture("gitlab/issues-page-1.json").replace("https://gitlab.example.org", root);
            vec![route("api/v4/projects/[^/]+/issues", json(page))]
        },
        // Issue 7 of the fixture is confidential: not written.
        links: each("{root}/acme/web/frontend/-/issues/{}", &[9, 8, 6]),
        malformed: json_faults(OBJECT_NOT_LIST),
        page: (error_500("api/v4/projects/[^/]+/issues/42"), "/issues/42", None),
        synthetic: None,
    }
}

fn gitea() -> Protocol {
    Protocol {
        kind: "gitea",
        record: "base_url: {root}\n  project: tinyorg/notes-app\n  queries: ['{root}/api/v1/repos/tinyorg/notes-app/issues?state=open']",
        page_record: "\n  existing_bug_urls: ['{root}/tinyorg/notes-app/issues/42']",
        // The fixture's links are moved under `base_url` (a tracker only writes links it owns).
        healthy: |root| {
            let page = fixture("gitea/issues-page-1.json").replace("https://codeberg.example", root);
            vec![route("api/v1/repos/tinyorg/notes-app/issues", json(page))]
        },
        // Number 11 of the fixture is a pull request: not written.
        links: each("{root}/tinyorg/notes-app/issues/{}", &[12, 10]),
        malformed: json_faults(OBJECT_NOT_LIST),
        page: (error_500("api/v1/repos/tinyorg/notes-app/issues/42"), "/issues/42", None),
        synthetic: None,
    }
}

fn pagure() -> Protocol {
    Protocol {
        kind: "pagure",
        record: "base_url: {root}\n  project: fedora-infra/rota\n  queries: ['{root}/api/0/fedora-infra/rota/issues?status=Open']",
        page_record: "\n  existing_bug_urls: ['{root}/fedora-infra/rota/issue/77']",
        healthy: |root| {
            let page = |n: u32| {
                let f = fixture(&format!("pagure/issues-page-{n}.json"));
                json(f.replace("https://pagure.example", root))
            };
            let list = "api/0/fedora-infra/rota/issues";
            vec![route_q(list, "page=2", page(2)), route(list, page(1))]
        },
        // Issue 28 of the fixture is private: not written.
        links: each("{root}/fedora-infra/rota/issue/{}", &[30, 29, 27, 26]),
        malformed: json_faults(LIST_NOT_OBJECT),
        page: (error_500("api/0/fedora-infra/rota/issue/77"), "/issue/77", None),
        synthetic: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The faults every protocol gets.

/// Faults answered by wiremock for every request of the tracker.
fn common_faults(port: u16) -> Vec<Fault> {
    let redirect =
        |code: u16, to: String| ResponseTemplate::new(code).insert_header("Location", to);
    vec![
        fault("burst-500", ResponseTemplate::new(500)),
        fault("burst-502", ResponseTemplate::new(502)),
        fault("burst-503", ResponseTemplate::new(503)),
        fault(
            "429-retry-after",
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        ),
        fault("429-no-retry-after", ResponseTemplate::new(429)),
        fault("timeout", json("{}").set_delay(Duration::from_secs(5))),
        fault("too-large", json(vec![b' '; 2 * 1024 * 1024])),
        fault(
            "redirect-loop",
            redirect(302, "/redirect-loop/again".into()),
        ),
        fault(
            "redirect-private",
            redirect(302, "http://10.20.30.40/x".into()),
        ),
        fault(
            "redirect-metadata",
            redirect(301, "http://169.254.169.254/latest/meta-data/".into()),
        ),
        // Another host name (localhost resolves to 127.0.0.1) that has no such page.
        fault(
            "redirect-other-host",
            redirect(307, format!("http://localhost:{port}/elsewhere/x")),
        ),
        fault(
            "wrong-type",
            body(
                "text/html",
                "<html><body>down for maintenance</body></html>",
            ),
        ),
        fault(
            "invalid-utf8",
            body("application/json", vec![0xff, 0xfe, b'[', 0xc3, b'"']),
        ),
        fault("empty-200", ResponseTemplate::new(200)),
    ]
}

/// Trackers that must recover: a 503 burst and a 429 with `Retry-After`, then healthy answers.
fn recoveries() -> Vec<Fault> {
    vec![
        Fault {
            times: Some(2),
            ..fault("recovers-503", ResponseTemplate::new(503))
        },
        Fault {
            times: Some(1),
            ..fault(
                "recovers-429",
                ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            )
        },
    ]
}

/// Faults below HTTP, served by [`raw_server`] under these path prefixes.
const RAW_FAULTS: [&str; 3] = ["reset", "truncated", "trickle"];

/// A raw TCP server for any protocol: `/reset/...` resets the connection after reading the
/// request, `/truncated/...` sends a 200 whose body stops half way, `/trickle/...` sends its
/// body one byte every 300 ms (past any 1 s timeout).
async fn raw_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(raw_answer(stream));
        }
    });
    addr
}

async fn raw_answer(mut s: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&request);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let headers =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n";
    if path.starts_with("/reset/") {
        s.set_zero_linger()?;
        return Ok(());
    }
    s.write_all(headers.as_bytes()).await?;
    if path.starts_with("/truncated/") {
        s.write_all(b"[{\"id\": 1, \"title\": \"cut her").await?;
        return s.shutdown().await;
    }
    for _ in 0..4096 {
        s.write_all(b" ").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One crawl per protocol.

fn mock_for(prefix: &str, r: Route, priority: u8) -> Mock {
    let query = r.query;
    Mock::given(path_regex(format!("^/{prefix}/{}$", r.path)))
        .and(move |req: &Request| {
            query
                .as_deref()
                .is_none_or(|q| format!("?{}#", req.url.query().unwrap_or("")).contains(q))
        })
        .respond_with(r.template)
        .with_priority(priority)
}

/// Mounts `routes` (the healthy answers) under `/prefix/`; routes with a query pattern win.
async fn mount_healthy(server: &MockServer, prefix: &str, routes: Vec<Route>) {
    for r in routes {
        let priority = if r.query.is_some() { 3 } else { 4 };
        mock_for(prefix, r, priority).mount(server).await;
    }
}

/// Mounts a fault above the healthy answers.
async fn mount_fault(server: &MockServer, f: Fault) {
    let m = mock_for(&f.name, f.route, 1);
    match f.times {
        Some(n) => m.up_to_n_times(n).mount(server).await,
        None => m.mount(server).await,
    }
}

/// What a crawl left behind.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    output: String,
    records: Vec<Value>,
    report: Value,
    report_text: String,
}

async fn crawl(config: String) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), &config).unwrap();
    let d = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bugimporters"))
            .args(["crawl", "--no-progress", "--retries", "2", "--timeout", "1"])
            .args(["--max-body-mib", "1", "--allow-network", "127.0.0.0/8"])
            // Every tracker of one protocol shares one server: let them run side by side.
            .args(["--per-host", "64", "--concurrency", "64"])
            .arg("-i")
            .arg(d.join("config.yaml"))
            .arg("-o")
            .arg(d.join("out.jsonl"))
            .arg("--report")
            .arg(d.join("report.json"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report_text = std::fs::read_to_string(dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    let output = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap_or_default();
    let records = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a record ({e}): {l}")))
        .collect();
    Outcome {
        code: out.status.code(),
        report: serde_json::from_str(&report_text).unwrap(),
        stderr,
        output,
        records,
        report_text,
    }
}

/// A tracker of the crawl and what is expected of it.
struct Expect {
    name: String,
    /// Healthy (`ok`, no error), or failed with every error naming a URL and a reason.
    ok: bool,
    /// Bug links that must be written.
    links: Vec<String>,
    /// A piece of the URL some error must name.
    url_part: Option<&'static str>,
}

fn failed(name: &str) -> Expect {
    Expect {
        name: name.to_owned(),
        ok: false,
        links: Vec::new(),
        url_part: None,
    }
}

fn healthy(name: &str, links: Vec<String>) -> Expect {
    Expect {
        ok: true,
        links,
        ..failed(name)
    }
}

/// Synthetic servers with one fault on every request; `slow` stays within the timeout.
async fn synthetic_servers() -> Vec<(&'static str, SyntheticServer, bool)> {
    let mut servers = Vec::new();
    for (name, faults, ok) in [
        (
            "synthetic-truncated",
            Faults {
                truncated: 1.0,
                ..Faults::default()
            },
            false,
        ),
        (
            "synthetic-reset",
            Faults {
                reset: 1.0,
                ..Faults::default()
            },
            false,
        ),
        (
            "synthetic-slow",
            Faults {
                slow: 1.0,
                ..Faults::default()
            },
            true,
        ),
    ] {
        let cfg = SyntheticConfig {
            bugs: 3,
            faults,
            ..SyntheticConfig::default()
        };
        servers.push((name, SyntheticServer::start(cfg).await.unwrap(), ok));
    }
    servers
}

async fn run(mut p: Protocol) {
    let malformed = std::mem::take(&mut p.malformed);
    let page_route = std::mem::replace(&mut p.page.0, error_500(""));
    let (page_url, page_link) = (p.page.1, p.page.2);
    let server = MockServer::start().await;
    let raw = raw_server().await;
    let synthetic = match p.synthetic {
        Some(_) => synthetic_servers().await,
        None => Vec::new(),
    };
    let root = |prefix: &str| format!("{}/{prefix}", server.uri());
    let mut config = String::new();
    let mut expect = Vec::new();
    let mut add = |root: String, page_fault: bool, e: Expect| {
        config.push_str(&p.tracker(&e.name, &root, page_fault));
        expect.push(e);
    };

    mount_healthy(&server, "healthy", (p.healthy)(&root("healthy"))).await;
    add(
        root("healthy"),
        false,
        healthy("healthy", p.links(&root("healthy"))),
    );
    let page_prefix = "bug-page-500";
    let mut faults = recoveries();
    let recovering = faults.len();
    faults.extend(common_faults(server.address().port()));
    faults.extend(malformed);
    faults.push(Fault {
        name: page_prefix.to_owned(),
        route: page_route,
        times: None,
    });
    for (i, f) in faults.into_iter().enumerate() {
        let name = f.name.clone();
        let links = p.links(&root(&name));
        mount_healthy(&server, &name, (p.healthy)(&root(&name))).await;
        mount_fault(&server, f).await;
        let e = if i < recovering {
            healthy(&name, links)
        } else if name == page_prefix {
            // Every bug but the failing one is written.
            let lost = |l: &String| page_link.is_some_and(|part| l.ends_with(part));
            Expect {
                links: links.into_iter().filter(|l| !lost(l)).collect(),
                url_part: Some(page_url),
                ..failed(&name)
            }
        } else {
            failed(&name)
        };
        add(root(&name), name == page_prefix, e);
    }
    for kind in RAW_FAULTS {
        add(format!("http://{raw}/{kind}"), false, failed(kind));
    }
    if let Some(at) = p.synthetic {
        for (name, s, ok) in &synthetic {
            let e = Expect {
                ok: *ok,
                ..failed(name)
            };
            add(at(s), false, e);
        }
    }

    let o = crawl(config).await;
    check(p.kind, &o, &expect);
}

/// What is wrong with tracker `e` in the crawl `o`.
fn problems_of(o: &Outcome, e: &Expect) -> Vec<String> {
    let trackers = o.report["trackers"].as_array().expect("trackers");
    let Some(t) = trackers
        .iter()
        .find(|t| t["tracker_name"] == e.name.as_str())
    else {
        return vec!["missing from the report".into()];
    };
    let mut problems = Vec::new();
    let errors = t["errors"].as_array().cloned().unwrap_or_default();
    if e.ok && (t["ok"] != true || !errors.is_empty()) {
        problems.push(format!("should be ok: {t}"));
    }
    if !e.ok && (t["ok"] != false || errors.is_empty()) {
        problems.push(format!("fault not reported: {t}"));
    }
    for err in &errors {
        let url = err["url"].as_str().unwrap_or("");
        let reason = err["reason"].as_str().unwrap_or("");
        if !url.starts_with("http") || reason.is_empty() {
            problems.push(format!("error without URL or reason: {err}"));
        }
    }
    if let Some(part) = e.url_part {
        if !errors
            .iter()
            .any(|err| err["url"].as_str().is_some_and(|u| u.contains(part)))
        {
            problems.push(format!("no error names {part}: {errors:?}"));
        }
    }
    let written: Vec<&str> = o
        .records
        .iter()
        .filter(|r| r["_tracker_name"] == e.name.as_str())
        .filter_map(|r| r["canonical_bug_link"].as_str())
        .collect();
    if e.ok && written.is_empty() {
        problems.push("no bug written".into());
    }
    for l in e.links.iter().filter(|l| !written.contains(&l.as_str())) {
        problems.push(format!("{l} not written (got {written:?})"));
    }
    println!(
        "{}: ok={} written={} errors={errors:?}",
        e.name,
        t["ok"],
        written.len()
    );
    problems
}

fn check(kind: &str, o: &Outcome, expect: &[Expect]) {
    assert!(!o.stderr.contains("panicked"), "{kind}: {}", o.stderr);
    assert_eq!(o.code, Some(1), "{kind}: {}", o.stderr);
    // An external entity is never resolved.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if let Some(line) = passwd.lines().find(|l| l.len() > 8) {
        for (what, text) in [
            ("output", &o.output),
            ("report", &o.report_text),
            ("stderr", &o.stderr),
        ] {
            assert!(!text.contains(line), "{kind}: /etc/passwd in the {what}");
        }
    }
    let problems: Vec<String> = expect
        .iter()
        .flat_map(|e| {
            problems_of(o, e)
                .into_iter()
                .map(|p| format!("{}: {p}", e.name))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{kind}:\n{}\n\nstderr:\n{}",
        problems.join("\n"),
        o.stderr
    );
}

/// One test per protocol, so that they run side by side and fail by name.
macro_rules! protocol_tests {
    ($($test:ident: $protocol:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            run($protocol()).await;
        }
    )*};
}

protocol_tests! {
    trac_faults: trac,
    bugzilla_faults: bugzilla,
    github_faults: github,
    jira_faults: jira,
    launchpad_faults: launchpad,
    roundup_faults: roundup,
    redmine_faults: redmine,
    gitlab_faults: gitlab,
    gitea_faults: gitea,
    pagure_faults: pagure,
}
