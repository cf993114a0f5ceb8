//! Integration test against a REAL Redmine (`../shared/servers/redmine`): crawl a populated
//! project and compare every emitted field with what Redmine itself reports through its REST
//! API (read here with a raw HTTP/1.1 client and `serde_json`, not with our parser); crawl
//! again incrementally (a few requests, `_no_update` for everything); create an issue, mark
//! it Resolved (still open), close it, and delete it, seeing each change in a crawl.
//!
//! Needs `BUGIMPORTERS_REDMINE_URL` (e.g. `http://127.0.0.1:20082/`) and the admin API key,
//! read from the file `BUGIMPORTERS_REDMINE_API_KEY_FILE` (default
//! `/tmp/realtrackers/redmine/instance/api-key`). Without the URL the test is skipped with a
//! message, or fails when `CI` is set. See `docs/trackers/redmine.md`.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bugimporters_core::fetch::{FetchConfig, HttpClient};
use bugimporters_core::{ParsedBug, Query, TrackerConfig, TrackerStats};
use bugimporters_redmine::RedmineImporter;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};
use url::Url;

const KEY_ENV: &str = "BUGIMPORTERS_TEST_REDMINE_API_KEY";
const PROJECT: &str = "realtrackers";

struct Server {
    base: Url,
    key: String,
}

fn server() -> Option<Server> {
    let Some(url) = std::env::var("BUGIMPORTERS_REDMINE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var_os("CI").is_some() {
            panic!("BUGIMPORTERS_REDMINE_URL is not set in CI: start ../shared/servers/redmine/start, populate it, and export it (see docs/trackers/redmine.md)");
        }
        println!("skipped: set BUGIMPORTERS_REDMINE_URL (see docs/trackers/redmine.md)");
        return None;
    };
    let mut base = Url::parse(&url).expect("BUGIMPORTERS_REDMINE_URL is a URL");
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let key_file = std::env::var("BUGIMPORTERS_REDMINE_API_KEY_FILE")
        .unwrap_or_else(|_| "/tmp/realtrackers/redmine/instance/api-key".to_owned());
    let key = std::fs::read_to_string(&key_file)
        .unwrap_or_else(|e| {
            panic!(
                "the Redmine API key file {key_file}: {e} (set BUGIMPORTERS_REDMINE_API_KEY_FILE)"
            )
        })
        .trim()
        .to_owned();
    Some(Server { base, key })
}

// ------------------------------------------------------------------ an independent client

/// One HTTP/1.1 exchange on a fresh connection: (status, body).
fn http(srv: &Server, method: &str, path_and_query: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
    let host = srv.base.host_str().expect("host");
    let port = srv.base.port_or_known_default().expect("port");
    let path = format!(
        "{}{}",
        srv.base.path().trim_end_matches('/'),
        path_and_query
    );
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect((host, port)).expect("connect to Redmine");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Redmine-API-Key: {}\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{payload}",
        srv.key,
        payload.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..line_end])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    (status, body)
}

fn get_json(srv: &Server, path_and_query: &str) -> Value {
    let (status, body) = http(srv, "GET", path_and_query, None);
    assert_eq!(status, 200, "GET {path_and_query}");
    serde_json::from_slice(&body).unwrap()
}

/// Every issue of the project as Redmine reports it, newest first (its default order, on
/// purpose not the importer's).
fn redmine_issues(srv: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = get_json(
            srv,
            &format!(
                "/issues.json?project_id={PROJECT}&status_id=*&limit=100&offset={}",
                all.len()
            ),
        );
        let items = page["issues"].as_array().unwrap().clone();
        let total = page["total_count"].as_u64().unwrap() as usize;
        all.extend(items);
        if all.len() >= total {
            return all;
        }
    }
}

fn utc(text: &str) -> NaiveDateTime {
    text.parse::<DateTime<Utc>>().unwrap().naive_utc()
}

fn now() -> NaiveDateTime {
    // Whole seconds: Redmine's times have no fraction.
    let t = Utc::now().naive_utc();
    t - Duration::from_nanos(u64::from(t.and_utc().timestamp_subsec_nanos()))
}

// ------------------------------------------------------------------ running the importer

struct Run {
    bugs: Vec<ParsedBug>,
    stats: TrackerStats,
}

impl Run {
    fn full(&self) -> Vec<&ParsedBug> {
        self.bugs
            .iter()
            .filter(|b| !b.no_update && !b.deleted)
            .collect()
    }
    fn find(&self, link: &str) -> Option<&ParsedBug> {
        self.bugs.iter().find(|b| b.canonical_bug_link == link)
    }
}

fn config(srv: &Server) -> TrackerConfig {
    let mut c = TrackerConfig::new("Real Redmine", "redmine");
    c.base_url = srv.base.to_string();
    c.bug_project_name_format = "{tracker_name}: {product}/{component}".into();
    c.bitesized_type = "custom_field:Keywords".into();
    c.bitesized_text = "easy".into();
    c.documentation_type = "category".into();
    c.documentation_text = "documentation".into();
    c.extra.insert("project".into(), PROJECT.into());
    c.extra.insert("api_key_env".into(), KEY_ENV.into());
    c
}

/// A run of `config` with the server's API key as the secret its `api_key_env` names.
async fn run(srv: &Server, config: &TrackerConfig) -> Run {
    let importer = RedmineImporter::new(config).unwrap();
    let client = Arc::new(HttpClient::new(FetchConfig::for_loopback_tests()).unwrap());
    let secrets = bugimporters_core::secrets::FixedSecrets::from([(KEY_ENV, srv.key.as_str())]);
    let r = bugimporters_testkit::forge::run_importer_with(
        &importer,
        config,
        client,
        bugimporters_testkit::forge::options(now()).with_secrets(Arc::new(secrets)),
        true,
        100_000,
    )
    .await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    Run {
        bugs: r.bugs,
        stats: r.stats,
    }
}

/// Every field of `bug` against Redmine's own issue JSON `raw` and its status list.
fn assert_matches(srv: &Server, bug: &ParsedBug, raw: &Value, closed: &BTreeMap<u64, bool>) {
    let id = raw["id"].as_u64().unwrap();
    let link = format!("{}issues/{id}", srv.base);
    let what = format!("issue {id}");
    assert_eq!(bug.canonical_bug_link, link, "{what}");
    assert_eq!(bug.title.as_deref(), raw["subject"].as_str(), "{what}");
    assert_eq!(
        bug.description.as_deref(),
        Some(
            &*raw["description"]
                .as_str()
                .unwrap_or("")
                .replace("\r\n", "\n")
        ),
        "{what}"
    );
    assert_eq!(
        bug.status.as_deref(),
        raw["status"]["name"].as_str(),
        "{what}"
    );
    let status_id = raw["status"]["id"].as_u64().unwrap();
    assert_eq!(bug.looks_closed, Some(closed[&status_id]), "{what}");
    assert_eq!(
        bug.importance.as_deref(),
        raw["priority"]["name"].as_str(),
        "{what}"
    );
    let people: HashSet<u64> = [&raw["author"], &raw["assigned_to"]]
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .collect();
    assert_eq!(bug.people_involved, Some(people.len() as u32), "{what}");
    assert_eq!(
        bug.date_reported,
        Some(utc(raw["created_on"].as_str().unwrap())),
        "{what}"
    );
    assert_eq!(
        bug.last_touched,
        Some(utc(raw["updated_on"].as_str().unwrap())),
        "{what}"
    );
    assert!(bug.last_polled.is_some());
    assert_eq!(
        bug.submitter_username.as_deref(),
        raw["author"]["name"].as_str(),
        "{what}"
    );
    assert_eq!(
        bug.submitter_realname.clone().flatten().as_deref(),
        raw["author"]["name"].as_str(),
        "{what}"
    );
    let easy = raw["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "Keywords")
        .any(|f| {
            f["value"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == "easy"))
        });
    assert_eq!(bug.good_for_newcomers, Some(easy), "{what}");
    assert_eq!(
        bug.concerns_just_documentation,
        Some(raw["category"]["name"] == "documentation"),
        "{what}"
    );
    assert_eq!(
        bug.project_name,
        Some(format!(
            "Real Redmine: {}/{}",
            raw["project"]["name"].as_str().unwrap(),
            raw["category"]["name"].as_str().unwrap_or("")
        )),
        "{what}"
    );
    assert_eq!(bug.tracker_name.as_deref(), Some("Real Redmine"));
    assert!(bug.as_appears_in_distribution.is_none() && bug.raw_data.is_none());
    assert!(!bug.no_update && !bug.deleted);
}

fn incremental(srv: &Server, since: NaiveDateTime, held: &[String]) -> TrackerConfig {
    let mut c = config(srv);
    let mut q = Query::new(format!("{}projects/{PROJECT}/issues.json", srv.base));
    q.last_polled = Some(since);
    c.queries = vec![q];
    c.existing_bug_urls = held.to_vec();
    c
}

fn set_status(srv: &Server, id: u64, status_id: u64) {
    let (status, _) = http(
        srv,
        "PUT",
        &format!("/issues/{id}.json"),
        Some(&json!({"issue": {"status_id": status_id, "notes": "bugimporters integration test"}})),
    );
    assert!(status == 204 || status == 200, "PUT status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_redmine_crawl_incremental_close_delete() {
    let Some(srv) = server() else { return };

    // What Redmine says, read independently.
    let statuses = get_json(&srv, "/issue_statuses.json");
    let closed: BTreeMap<u64, bool> = statuses["issue_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_u64().unwrap(), s["is_closed"].as_bool().unwrap()))
        .collect();
    let resolved = statuses["issue_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Resolved")
        .map(|s| s["id"].as_u64().unwrap())
        .expect("a Resolved status");
    assert!(!closed[&resolved], "Resolved is not closed in Redmine");
    let closed_id = statuses["issue_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Closed")
        .map(|s| s["id"].as_u64().unwrap())
        .expect("a Closed status");
    let t1 = now();
    let truth = redmine_issues(&srv);
    assert!(
        truth.len() >= 50,
        "populate the server first (populate 300)"
    );

    // 1. Full crawl of the project: every issue, every field as Redmine reports it.
    let r1 = run(&srv, &config(&srv)).await;
    assert_eq!(r1.bugs.len(), truth.len());
    let by_link: BTreeMap<&str, &ParsedBug> = r1
        .bugs
        .iter()
        .map(|b| (b.canonical_bug_link.as_str(), b))
        .collect();
    assert_eq!(by_link.len(), truth.len(), "each issue once");
    for raw in &truth {
        let link = format!("{}issues/{}", srv.base, raw["id"]);
        assert_matches(&srv, by_link[link.as_str()], raw, &closed);
    }
    let pages = truth.len().div_ceil(100) as u64;
    assert_eq!(
        r1.stats.requests,
        1 + pages,
        "status list + one request per 100"
    );
    assert!(r1
        .bugs
        .iter()
        .any(|b| b.status.as_deref() == Some("Resolved") && b.looks_closed == Some(false)));
    let held: Vec<String> = r1
        .bugs
        .iter()
        .map(|b| b.canonical_bug_link.clone())
        .collect();

    // 2. Incremental re-crawl: nothing changed since t1, so no issue is downloaded again;
    // the held ones are proved unchanged and present with two small listings per 100.
    let r2 = run(&srv, &incremental(&srv, t1, &held)).await;
    assert!(
        r2.full().is_empty(),
        "nothing changed: {:?}",
        r2.full().first()
    );
    assert_eq!(r2.stats.no_update as usize, held.len());
    assert_eq!(r2.stats.requests, 1 + 1 + 2 * pages);
    assert!(
        r2.stats.bytes * 5 < r1.stats.bytes,
        "incremental {} bytes vs full {} bytes",
        r2.stats.bytes,
        r1.stats.bytes
    );

    // 3. A new issue appears in the next incremental crawl.
    let t2 = now();
    let (status, body) = http(
        &srv,
        "POST",
        "/issues.json",
        Some(
            &json!({"issue": {"project_id": PROJECT, "subject": "bugimporters integration test — ünïcødé",
                                "description": "first line\nsecond line", "priority_id": 2}}),
        ),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    let new_id = created["issue"]["id"].as_u64().unwrap();
    let new_link = format!("{}issues/{new_id}", srv.base);
    let r3 = run(&srv, &incremental(&srv, t2, &held)).await;
    assert_eq!(r3.full().len(), 1);
    let fresh = r3.find(&new_link).unwrap();
    assert_matches(
        &srv,
        fresh,
        &get_json(&srv, &format!("/issues/{new_id}.json"))["issue"],
        &closed,
    );
    assert_eq!(fresh.looks_closed, Some(false));
    let mut held2 = held.clone();
    held2.push(new_link.clone());

    // 4. Resolved: a changed issue, still open. Then Closed: looks_closed flips.
    for (status_id, expect_closed) in [(resolved, false), (closed_id, true)] {
        let t = now();
        set_status(&srv, new_id, status_id);
        let r = run(&srv, &incremental(&srv, t, &held2)).await;
        assert_eq!(r.full().len(), 1, "only the changed issue in full");
        let bug = r.find(&new_link).unwrap();
        assert_eq!(bug.looks_closed, Some(expect_closed));
        assert_matches(
            &srv,
            bug,
            &get_json(&srv, &format!("/issues/{new_id}.json"))["issue"],
            &closed,
        );
        assert_eq!(r.stats.no_update as usize, held.len());
    }

    // 5. Deleted on the server: a _deleted record for it, _no_update for the others.
    let t5 = now();
    let (status, _) = http(&srv, "DELETE", &format!("/issues/{new_id}.json"), None);
    assert!(status == 204 || status == 200, "DELETE status {status}");
    let r5 = run(&srv, &incremental(&srv, t5, &held2)).await;
    let deleted: Vec<&str> = r5
        .bugs
        .iter()
        .filter(|b| b.deleted)
        .map(|b| b.canonical_bug_link.as_str())
        .collect();
    assert_eq!(deleted, [new_link.as_str()]);
    assert!(r5.full().is_empty());
    assert_eq!(r5.stats.no_update as usize, held.len());

    // 6. people_from_journals on a few issues: watchers and journal authors too, compared
    // with /issues/N.json?include=journals,watchers.
    let ids: Vec<u64> = truth
        .iter()
        .take(8)
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    let mut c6 = config(&srv);
    c6.extra.insert("people_from_journals".into(), true.into());
    c6.queries = vec![Query::new(format!(
        "{}issues.json?issue_id={}",
        srv.base,
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    ))];
    let r6 = run(&srv, &c6).await;
    assert_eq!(r6.bugs.len(), ids.len());
    let mut richer = 0;
    for id in ids {
        let raw = get_json(
            &srv,
            &format!("/issues/{id}.json?include=journals,watchers"),
        );
        let raw = &raw["issue"];
        let mut people: HashSet<u64> = HashSet::new();
        people.extend(raw["author"]["id"].as_u64());
        people.extend(raw["assigned_to"]["id"].as_u64());
        for w in raw["watchers"].as_array().unwrap() {
            people.extend(w["id"].as_u64());
        }
        for j in raw["journals"].as_array().unwrap() {
            people.extend(j["user"]["id"].as_u64());
        }
        let bug = r6.find(&format!("{}issues/{id}", srv.base)).unwrap();
        assert_eq!(bug.people_involved, Some(people.len() as u32), "issue {id}");
        if people.len() > 2 {
            richer += 1;
        }
    }
    assert!(richer > 0, "some issue has watchers or commenters");
    // No key anywhere in what we wrote.
    for r in [&r1, &r2, &r3, &r5, &r6] {
        for b in &r.bugs {
            assert!(!b.to_json_line().contains(&srv.key));
        }
    }
}
