//! The Redmine parsers on `fixtures/redmine/` (recorded from a real Redmine 5.0.4), and the
//! importer against wiremock.
//!
//! Every test that sets an API key names its own variable (`api_key_env`) so that tests
//! running in parallel never see each other's environment.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bugimporters_core::fetch::HttpClient;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{
    ImportOptions, ParseInput, ParseOutput, ParsedBug, Query, Registry, TrackerConfig,
};
use bugimporters_redmine::{parse_issue, parse_issue_list, ParseSettings, RedmineImporter, Rule};
use bugimporters_testkit::forge::{self, FixedSecrets, Run};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/redmine/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn now() -> NaiveDateTime {
    parse_datetime("2026-12-01T00:00:00").unwrap()
}

/// An ISO 8601 `Z` time as naive UTC, read with chrono (not with our date parser).
fn utc(text: &str) -> NaiveDateTime {
    text.parse::<DateTime<Utc>>().unwrap().naive_utc()
}

// ------------------------------------------------------------------ fixtures

fn fixture_settings() -> ParseSettings {
    let mut s = ParseSettings::new(Url::parse("http://127.0.0.1:20082/").unwrap(), "RT");
    s.bitesized = Rule::parse("bitesized_type", "custom_field:Keywords", "easy").unwrap();
    s.documentation = Rule::parse("documentation_type", "category", "Documentation").unwrap();
    s
}

#[test]
fn list_page_fixture_every_field() {
    let body = fixture("issues-page.json");
    let raw: Value = serde_json::from_slice(&body).unwrap();
    let page = parse_issue_list(&body, "issues-page.json", &fixture_settings(), now()).unwrap();
    assert!(page.errors.is_empty());
    assert_eq!(page.total_count, raw["total_count"].as_u64());
    let issues = raw["issues"].as_array().unwrap();
    assert_eq!(page.issues.len(), issues.len());
    for (parsed, raw) in page.issues.iter().zip(issues) {
        let b = &parsed.bug;
        let id = raw["id"].as_u64().unwrap();
        assert_eq!(parsed.id, id);
        assert_eq!(
            b.canonical_bug_link,
            format!("http://127.0.0.1:20082/issues/{id}")
        );
        assert_eq!(b.title.as_deref(), raw["subject"].as_str());
        let desc = raw["description"].as_str().unwrap();
        assert!(desc.contains("\r\n"), "Redmine sends CRLF");
        assert_eq!(b.description.as_deref(), Some(&*desc.replace("\r\n", "\n")));
        assert_eq!(b.status.as_deref(), raw["status"]["name"].as_str());
        assert_eq!(b.looks_closed, raw["status"]["is_closed"].as_bool());
        assert_eq!(b.importance.as_deref(), raw["priority"]["name"].as_str());
        assert_eq!(
            b.submitter_username.as_deref(),
            raw["author"]["name"].as_str()
        );
        assert_eq!(
            b.submitter_realname.clone().flatten().as_deref(),
            raw["author"]["name"].as_str()
        );
        assert_eq!(
            b.date_reported,
            Some(utc(raw["created_on"].as_str().unwrap()))
        );
        assert_eq!(
            b.last_touched,
            Some(utc(raw["updated_on"].as_str().unwrap()))
        );
        let people: HashSet<u64> = [&raw["author"], &raw["assigned_to"]]
            .iter()
            .filter_map(|p| p["id"].as_u64())
            .collect();
        assert_eq!(b.people_involved, Some(people.len() as u32));
        let keywords: Vec<&str> = raw["custom_fields"][0]["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(b.good_for_newcomers, Some(keywords.contains(&"easy")));
        assert_eq!(
            b.concerns_just_documentation,
            Some(raw["category"]["name"] == "documentation")
        );
        assert_eq!(b.project_name.as_deref(), Some("RT"));
        assert_eq!(b.last_polled, Some(now()));
    }
    // The page holds a Resolved issue, and it is not closed.
    assert!(page
        .issues
        .iter()
        .any(|i| i.bug.status.as_deref() == Some("Resolved") && i.bug.looks_closed == Some(false)));
}

#[test]
fn issue_with_journals_and_watchers_fixture() {
    let body = fixture("issue-5-journals.json");
    let raw: Value = serde_json::from_slice(&body).unwrap();
    let raw = &raw["issue"];
    let mut settings = fixture_settings();
    settings.project_format = "{product} / {component}".into();
    let issue = parse_issue(&body, "issue-5.json", &settings, now()).unwrap();
    let mut people: HashSet<u64> = HashSet::new();
    people.extend(raw["author"]["id"].as_u64());
    people.extend(raw["assigned_to"]["id"].as_u64());
    for w in raw["watchers"].as_array().unwrap() {
        people.extend(w["id"].as_u64());
    }
    for j in raw["journals"].as_array().unwrap() {
        people.extend(j["user"]["id"].as_u64());
    }
    assert!(people.len() > 2);
    assert_eq!(issue.bug.people_involved, Some(people.len() as u32));
    assert_eq!(
        issue.bug.project_name,
        Some(format!(
            "{} / {}",
            raw["project"]["name"].as_str().unwrap(),
            raw["category"]["name"].as_str().unwrap()
        ))
    );
    assert_eq!(issue.bug.title.as_deref(), raw["subject"].as_str());
}

#[test]
fn statuses_fixture_resolved_is_open() {
    let body = fixture("issue-statuses.json");
    let map = bugimporters_redmine::parse_statuses(&body, "s").unwrap();
    let raw: Value = serde_json::from_slice(&body).unwrap();
    for s in raw["issue_statuses"].as_array().unwrap() {
        assert_eq!(
            map.get(&s["id"].as_u64().unwrap()).copied(),
            s["is_closed"].as_bool()
        );
    }
    let resolved = raw["issue_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Resolved")
        .unwrap();
    assert!(!map[&resolved["id"].as_u64().unwrap()]);
}

#[test]
fn truncated_and_mangled_inputs_never_panic() {
    let s = fixture_settings();
    for name in [
        "issues-page.json",
        "issue-5-journals.json",
        "issue-statuses.json",
    ] {
        let body = fixture(name);
        for cut in (0..body.len()).step_by(11) {
            let part = &body[..cut];
            let _ = parse_issue_list(part, name, &s, now());
            let _ = parse_issue(part, name, &s, now());
            let _ = bugimporters_redmine::parse_statuses(part, name);
        }
        // Every scalar replaced by values of other types, one key at a time.
        let value: Value = serde_json::from_slice(&body).unwrap();
        let mut paths = Vec::new();
        fn walk(v: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            match v {
                Value::Object(m) => m.iter().for_each(|(k, x)| {
                    let mut p = path.clone();
                    p.push(k.clone());
                    walk(x, p, out);
                }),
                Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
                    let mut p = path.clone();
                    p.push(i.to_string());
                    walk(x, p, out);
                }),
                _ => out.push(path),
            }
        }
        walk(&value, Vec::new(), &mut paths);
        for path in paths.iter().step_by(3) {
            for replacement in [
                json!(null),
                json!(-1),
                json!("x"),
                json!([]),
                json!({}),
                json!(1e300),
            ] {
                let mut v = value.clone();
                let mut slot = &mut v;
                for key in path {
                    slot = match slot {
                        Value::Object(m) => m.get_mut(key).unwrap(),
                        Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
                        _ => unreachable!(),
                    };
                }
                *slot = replacement;
                let bytes = serde_json::to_vec(&v).unwrap();
                let _ = parse_issue_list(&bytes, name, &s, now());
                let _ = parse_issue(&bytes, name, &s, now());
                let _ = bugimporters_redmine::parse_statuses(&bytes, name);
            }
        }
    }
}

#[test]
fn registry_and_parse_formats() {
    let mut registry = Registry::new();
    bugimporters_redmine::register(&mut registry);
    let factory = registry.factory("redmine.RedmineBugImporter").unwrap();
    assert_eq!(factory.kind(), "redmine");
    let mut config = TrackerConfig::new("RT", "redmine");
    config.bitesized_type = "custom_field:1".into();
    config.bitesized_text = "easy".into();
    // Keys only the crawl needs are not checked by `parse` (the fuzzers' shared record has
    // a GitLab-style `project`).
    config.extra.insert("project".into(), "g/p".into());
    let cx = registry.build_context(&config).unwrap();
    let input = ParseInput::new(
        vec![("p.json".into(), fixture("issues-page.json").into())],
        Some("http://127.0.0.1:20082/issues.json?status_id=*".into()),
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "redmine-issues-json", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs.len(), 5);
    assert_eq!(
        bugs[0].canonical_bug_link,
        "http://127.0.0.1:20082/issues/1"
    );
    let one = ParseInput::new(
        vec![("i.json".into(), fixture("issue-5-journals.json").into())],
        Some("http://127.0.0.1:20082/issues/5.json".into()),
        ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "redmine-issue-json", &one).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs[0].good_for_newcomers, Some(true));
    assert!(factory.parse(&cx, "nope", &one).is_err());
    let bad = ParseInput::new(
        vec![("x".into(), b"<html>".to_vec().into())],
        None,
        ImportOptions::new(now()),
    );
    assert!(factory.parse(&cx, "redmine-issue-json", &bad).is_err());
}

#[test]
fn build_checks_config() {
    let mut c = TrackerConfig::new("RT", "redmine");
    assert!(RedmineImporter::new(&c).is_err(), "base_url required");
    c.base_url = "https://rm.example".into();
    assert!(RedmineImporter::new(&c).is_ok());
    c.bitesized_type = "labels".into();
    assert!(RedmineImporter::new(&c).is_err());
    c.bitesized_type = String::new();
    c.bug_project_name_format = "{nope}".into();
    assert!(RedmineImporter::new(&c).is_err());
    c.bug_project_name_format = String::new();
    c.queries = vec![Query::new("https://rm.example/projects.json")];
    assert!(RedmineImporter::new(&c).is_err());
    // The refresh watermark: the oldest query poll, in whole seconds (Redmine's resolution).
    let mut q1 = Query::new("https://rm.example/issues.json");
    q1.last_polled = parse_datetime("2026-11-21T12:00:05.700000");
    let mut q2 = Query::new("https://rm.example/issues.json?tracker_id=2");
    q2.last_polled = parse_datetime("2026-11-22T00:00:00");
    c.queries = vec![q1.clone(), q2];
    assert_eq!(
        RedmineImporter::new(&c).unwrap().refresh_watermark(),
        parse_datetime("2026-11-21T12:00:05")
    );
    c.queries = vec![
        q1,
        Query::new("https://rm.example/issues.json?tracker_id=3"),
    ];
    assert_eq!(RedmineImporter::new(&c).unwrap().refresh_watermark(), None);
    c.get_older_bug_data =
        Some("https://rm.example/issues.json?updated_on=%3E%3D2026-11-20T00%3A00%3A00Z".into());
    assert_eq!(
        RedmineImporter::new(&c).unwrap().refresh_watermark(),
        parse_datetime("2026-11-20T00:00:00")
    );
    c.get_older_bug_data = None;
    // category_id is ignored by Redmine without a project: refused, or scoped by `project`.
    c.queries = vec![Query::new("https://rm.example/issues.json?category_id=3")];
    let e = RedmineImporter::new(&c).unwrap_err().to_string();
    assert!(e.contains("category_id"), "{e}");
    c.extra.insert("project".into(), "web".into());
    let urls = RedmineImporter::new(&c).unwrap().query_urls().unwrap();
    assert!(
        urls[0].contains("category_id=3") && urls[0].contains("project_id=web"),
        "{urls:?}"
    );
    c.queries = vec![Query::new(
        "https://rm.example/projects/api/issues.json?category_id=3",
    )];
    let urls = RedmineImporter::new(&c).unwrap().query_urls().unwrap();
    assert!(!urls[0].contains("project_id"), "{urls:?}");
}

// ------------------------------------------------------------------ a fake Redmine

const BASE_TIME: &str = "2026-11-01T00:00:00Z";

fn at_minutes(m: i64) -> String {
    (utc(BASE_TIME) + chrono::Duration::minutes(m))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Issue `i`: created at minute i, updated at minute 10_000 + `updated[i]`; every 4th is
/// Resolved (open), every 5th Closed.
fn issue(i: u64, updated: i64, with_is_closed: bool) -> Value {
    let (sid, sname, closed) = match i {
        _ if i % 5 == 0 => (5, "Closed", true),
        _ if i % 4 == 0 => (3, "Resolved", false),
        _ => (1, "New", false),
    };
    let mut status = json!({"id": sid, "name": sname});
    if with_is_closed {
        status["is_closed"] = json!(closed);
    }
    json!({
        "id": i,
        "project": {"id": 1, "name": "Fake"},
        "tracker": {"id": 1, "name": if i % 3 == 0 { "Feature" } else { "Bug" }},
        "status": status,
        "priority": {"id": 2, "name": "Normal"},
        "author": {"id": 100 + i % 7, "name": format!("User {}", i % 7)},
        "assigned_to": {"id": 200, "name": "Dev"},
        "subject": format!("Issue {i}"),
        "description": format!("line one of {i}\r\nline two"),
        "custom_fields": [{"id": 1, "name": "Keywords", "multiple": true,
                           "value": if i % 7 == 0 { vec!["easy"] } else { vec![] }}],
        "created_on": at_minutes(i as i64),
        "updated_on": at_minutes(10_000 + updated),
        "closed_on": if closed { Value::String(at_minutes(10_000 + updated)) } else { Value::Null },
    })
}

/// A Redmine-like `/issues.json`: `status_id` (only `*` lists closed ones), `issue_id`,
/// `updated_on=>=`, `sort=id`, `offset`, `limit` (capped at 100), `total_count`.
struct FakeRedmine {
    issues: Vec<Value>,
    /// Ignore `issue_id` (as `mock_trackers.py` does).
    ignore_issue_id: bool,
}

impl Respond for FakeRedmine {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let q: BTreeMap<String, String> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(25)
            .min(100);
        let ids: Option<HashSet<u64>> = q
            .get("issue_id")
            .filter(|_| !self.ignore_issue_id)
            .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect());
        let since = q
            .get("updated_on")
            .and_then(|v| v.strip_prefix(">="))
            .map(utc);
        let all_status = q.get("status_id").map(String::as_str) == Some("*");
        let mut matching: Vec<&Value> = self
            .issues
            .iter()
            .filter(|i| all_status || i["closed_on"].is_null())
            .filter(|i| {
                ids.as_ref()
                    .is_none_or(|s| s.contains(&i["id"].as_u64().unwrap()))
            })
            .filter(|i| since.is_none_or(|t| utc(i["updated_on"].as_str().unwrap()) >= t))
            .collect();
        if q.get("sort").map(String::as_str) != Some("id") {
            matching.reverse(); // Redmine's default: id descending
        }
        let page: Vec<&Value> = matching.iter().skip(offset).take(limit).copied().collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "issues": page, "total_count": matching.len(), "offset": offset, "limit": limit,
        }))
    }
}

/// One issue by id (`/issues/N.json`), 404 when unknown.
struct FakeIssue {
    issues: Vec<Value>,
    hits: Arc<AtomicUsize>,
}

impl Respond for FakeIssue {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let id: Option<u64> = req
            .url
            .path()
            .strip_prefix("/issues/")
            .and_then(|p| p.strip_suffix(".json"))
            .and_then(|p| p.parse().ok());
        match self.issues.iter().find(|i| i["id"].as_u64() == id) {
            Some(i) => {
                let mut i = i.clone();
                if req.url.query().unwrap_or("").contains("journals") {
                    i["journals"] =
                        json!([{"id": 1, "user": {"id": 300, "name": "Commenter"}, "notes": "hi"}]);
                    i["watchers"] =
                        json!([{"id": 301, "name": "Watcher"}, {"id": 200, "name": "Dev"}]);
                }
                ResponseTemplate::new(200).set_body_json(json!({ "issue": i }))
            }
            None => ResponseTemplate::new(404),
        }
    }
}

fn statuses() -> Value {
    json!({"issue_statuses": [
        {"id": 1, "name": "New", "is_closed": false},
        {"id": 3, "name": "Resolved", "is_closed": false},
        {"id": 5, "name": "Closed", "is_closed": true},
    ]})
}

async fn fake(issues: Vec<Value>, ignore_issue_id: bool) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let hits = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/issue_statuses.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(statuses()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/issues.json"))
        .respond_with(FakeRedmine {
            issues: issues.clone(),
            ignore_issue_id,
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(r"^/issues/\d+\.json$"))
        .respond_with(FakeIssue {
            issues,
            hits: hits.clone(),
        })
        .mount(&server)
        .await;
    (server, hits)
}

fn client() -> Arc<HttpClient> {
    forge::loopback_client()
}

fn config(base: &str, tag: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Fake RM", "redmine");
    c.base_url = base.to_owned();
    c.bitesized_type = "custom_field:Keywords".into();
    c.bitesized_text = "easy".into();
    c.documentation_type = "tracker".into();
    c.documentation_text = "feature".into();
    c.extra.insert(
        "api_key_env".into(),
        Value::String(format!("RM_TEST_{tag}_KEY")),
    );
    c
}

async fn run(config: &TrackerConfig) -> Run {
    run_secrets(config, FixedSecrets::new()).await
}

async fn run_secrets(config: &TrackerConfig, secrets: FixedSecrets) -> Run {
    let importer = RedmineImporter::new(config).unwrap();
    let options = forge::options(now()).with_secrets(Arc::new(secrets));
    forge::run_importer_with(&importer, config, client(), options, true, 4096).await
}

async fn listing_requests(server: &MockServer) -> Vec<Url> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/issues.json")
        .map(|r| r.url)
        .collect()
}

fn param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn pages_to_total_count_with_every_status() {
    let issues: Vec<Value> = (1..=250).map(|i| issue(i, i as i64, true)).collect();
    let (server, hits) = fake(issues.clone(), false).await;
    let mut c = config(&server.uri(), "PAGES");
    c.extra.insert("project".into(), "fake".into());
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 250, "every issue, closed ones included, once");
    let links: HashSet<&str> = r
        .bugs
        .iter()
        .map(|b| b.canonical_bug_link.as_str())
        .collect();
    assert_eq!(links.len(), 250);
    // 1 status list + 3 pages (100, 100, 50); no per-issue request.
    let pages = listing_requests(&server).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(r.stats.requests, 4);
    let mut offsets: Vec<String> = pages.iter().filter_map(|u| param(u, "offset")).collect();
    offsets.sort();
    assert_eq!(offsets, ["0", "100", "200"]);
    for u in &pages {
        assert_eq!(param(u, "status_id").as_deref(), Some("*"));
        assert_eq!(param(u, "sort").as_deref(), Some("id"));
        assert_eq!(param(u, "limit").as_deref(), Some("100"));
        assert_eq!(param(u, "project_id").as_deref(), Some("fake"));
        assert_eq!(param(u, "updated_on"), None, "no last_polled, no filter");
    }
    // Field values against the fake's data.
    for b in &r.bugs {
        let id: u64 = b
            .canonical_bug_link
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let raw = &issues[id as usize - 1];
        assert_eq!(
            b.canonical_bug_link,
            format!("{}/issues/{id}", server.uri())
        );
        assert_eq!(b.looks_closed, raw["status"]["is_closed"].as_bool());
        assert_eq!(b.good_for_newcomers, Some(id % 7 == 0));
        assert_eq!(b.concerns_just_documentation, Some(id % 3 == 0));
        assert_eq!(
            b.description.as_deref(),
            Some(&*format!("line one of {id}\nline two"))
        );
        assert_eq!(
            b.last_touched,
            Some(utc(raw["updated_on"].as_str().unwrap()))
        );
        assert_eq!(b.tracker_name.as_deref(), Some("Fake RM"));
        assert_eq!(b.project_name.as_deref(), Some("Fake RM"));
    }
}

#[tokio::test]
async fn updated_on_from_last_polled() {
    let issues: Vec<Value> = (1..=120).map(|i| issue(i, i as i64, true)).collect();
    let (server, _) = fake(issues, false).await;
    let mut c = config(&server.uri(), "SINCE");
    let since = utc(&at_minutes(10_000 + 101));
    let mut q = Query::new(format!("{}/issues.json?tracker_id=1", server.uri()));
    q.last_polled = Some(since);
    c.queries = vec![q];
    let r = run(&c).await;
    let pages = listing_requests(&server).await;
    assert_eq!(pages.len(), 1, "20 changed issues fit one page");
    assert_eq!(
        param(&pages[0], "updated_on").as_deref(),
        Some(&*format!(">={}", at_minutes(10_000 + 101)))
    );
    assert_eq!(param(&pages[0], "tracker_id").as_deref(), Some("1"));
    let ids: Vec<u64> = r
        .bugs
        .iter()
        .map(|b| {
            b.canonical_bug_link
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 20);
    assert!(ids.iter().all(|i| *i >= 101));
}

#[tokio::test]
async fn refresh_no_update_and_deleted_for_held_bugs_only() {
    // Issues 1..=30; the host holds 3, 10, 25 and 999 (gone). The query's last_polled is
    // between the updates of 10 and 25.
    let issues: Vec<Value> = (1..=30).map(|i| issue(i, i as i64, true)).collect();
    let (server, hits) = fake(issues, false).await;
    let base = server.uri();
    let mut c = config(&base, "REFRESH");
    let mut q = Query::new(format!("{base}/issues.json?tracker_id=1"));
    q.last_polled = Some(utc(&at_minutes(10_000 + 20)));
    c.queries = vec![q];
    c.existing_bug_urls = [3, 10, 25, 999]
        .iter()
        .map(|i| format!("{base}/issues/{i}"))
        .collect();
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    // The query (updated since minute 20) named 20..=30 in full.
    let full = r.links(|b| !b.no_update && !b.deleted);
    assert_eq!(full.len(), 11);
    assert!(full.contains(&format!("{base}/issues/25")));
    // 3 and 10 are unchanged since the query's last poll: _no_update, from one listing.
    assert_eq!(
        r.links(|b| b.no_update),
        [format!("{base}/issues/10"), format!("{base}/issues/3")]
    );
    for b in r.bugs.iter().filter(|b| b.no_update) {
        assert!(b.title.is_none() && b.last_polled == Some(now()));
    }
    // 999 is not in the listing and answers 404: deleted, with what the host needs.
    assert_eq!(r.links(|b| b.deleted), [format!("{base}/issues/999")]);
    let d = r.bugs.iter().find(|b| b.deleted).unwrap();
    assert!(d.tracker_name.is_some() && d.project_name.is_some() && d.last_polled.is_some());
    assert_eq!(r.stats.deleted, 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "only 999 fetched alone");
    let pages = listing_requests(&server).await;
    let refresh: Vec<&Url> = pages
        .iter()
        .filter(|u| param(u, "issue_id").is_some())
        .collect();
    // The cheap pair (changed since the watermark + a limit=1 count) finds 2 of 3: one is
    // gone, so the chunk is read in full (every status, no date filter).
    assert_eq!(refresh.len(), 3);
    for u in &refresh {
        assert_eq!(param(u, "issue_id").as_deref(), Some("3,10,999"));
        assert_eq!(param(u, "status_id").as_deref(), Some("*"));
    }
    let full_reads: Vec<&&Url> = refresh
        .iter()
        .filter(|u| param(u, "updated_on").is_none() && param(u, "limit").as_deref() == Some("100"))
        .collect();
    assert_eq!(full_reads.len(), 1);
}

#[tokio::test]
async fn refresh_is_two_small_requests_per_chunk_when_nothing_is_gone() {
    // 250 held issues, 2 changed since the watermark: per chunk of 100, one listing of the
    // changed ones and one limit=1 count; the unchanged ones are _no_update.
    let mut issues: Vec<Value> = (1..=250).map(|i| issue(i, i as i64, true)).collect();
    issues[6] = issue(7, 50_000, true);
    issues[199] = issue(200, 50_000, true);
    let (server, hits) = fake(issues, false).await;
    let base = server.uri();
    let mut c = config(&base, "CHEAP");
    let mut q = Query::new(format!("{base}/issues.json?tracker_id=77"));
    q.last_polled = Some(utc(&at_minutes(10_000 + 40_000)));
    c.queries = vec![q];
    c.existing_bug_urls = (1..=250).map(|i| format!("{base}/issues/{i}")).collect();
    let r = run(&c).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    // The fake ignores tracker_id, so the query itself names 7 and 200 (changed since).
    assert_eq!(
        r.links(|b| !b.no_update && !b.deleted),
        [format!("{base}/issues/200"), format!("{base}/issues/7")]
    );
    assert_eq!(r.links(|b| b.no_update).len(), 248);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let refresh: Vec<Url> = listing_requests(&server)
        .await
        .into_iter()
        .filter(|u| param(u, "issue_id").is_some())
        .collect();
    assert_eq!(refresh.len(), 6, "3 chunks x (changed + count)");
    assert_eq!(
        refresh
            .iter()
            .filter(|u| param(u, "limit").as_deref() == Some("1"))
            .count(),
        3
    );
    // 1 status list + 1 query page + 6.
    assert_eq!(r.stats.requests, 8);
}

#[tokio::test]
async fn a_404_of_a_bug_the_host_does_not_hold_deletes_nothing() {
    // people_from_journals: an issue listed and then gone before its detail request is
    // skipped, never turned into a deletion record (the host does not hold it).
    let issues: Vec<Value> = (1..=3).map(|i| issue(i, i as i64, true)).collect();
    let server = MockServer::start().await;
    Mock::given(path("/issues.json"))
        .respond_with(FakeRedmine {
            issues,
            ignore_issue_id: false,
        })
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::path_regex(r"^/issues/\d+\.json$"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&server.uri(), "GONE");
    c.extra.insert("people_from_journals".into(), true.into());
    let r = run(&c).await;
    assert!(r.bugs.is_empty());
    assert_eq!(r.stats.deleted, 0);
}

#[tokio::test]
async fn a_server_ignoring_issue_id_still_refreshes_correctly() {
    // mock_trackers.py ignores issue_id: the listing names other issues; the held ones it
    // does not name are fetched alone.
    let issues: Vec<Value> = (1..=150).map(|i| issue(i, i as i64, true)).collect();
    let (server, hits) = fake(issues, true).await;
    let base = server.uri();
    let mut c = config(&base, "IGNORE");
    c.queries = vec![Query::new(format!("{base}/issues.json?tracker_id=9"))];
    c.existing_bug_urls = vec![format!("{base}/issues/5"), format!("{base}/issues/140")];
    let r = run(&c).await;
    // The tracker_id filter is ignored by the fake too: the query named all 150.
    assert_eq!(r.full().len(), 150);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "both held bugs were listed by the query"
    );

    let mut c2 = config(&base, "IGNORE2");
    c2.queries = vec![Query::new(format!("{base}/issues.json?status_id=open"))];
    c2.existing_bug_urls = vec![format!("{base}/issues/5"), format!("{base}/issues/145")];
    let r2 = run(&c2).await;
    // 5 and 145 are Closed (not listed by the open query). The id listing (filter ignored)
    // shows 1..=100 whatever ids it was asked for: 5 comes from it, 145 is fetched alone.
    for id in [5, 145] {
        let b = r2
            .bugs
            .iter()
            .find(|b| b.canonical_bug_link == format!("{base}/issues/{id}"))
            .unwrap();
        assert_eq!(b.looks_closed, Some(true));
        assert_eq!(b.title.as_deref(), Some(&*format!("Issue {id}")));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "only 145 fetched alone");
    assert!(r2.stats.errors.is_empty());
    // Not dropped: wiremock's `MockServer::drop` blocks on its state lock, and after this
    // test that wait never ended in 2 of 21 runs on a loaded machine (the server thread idle
    // in epoll, the lock not released; not understood yet). Leaking one test server is
    // harmless; a hung test binary stops CI.
    std::mem::forget(server);
}

/// Serves the full list to the first request, then the list without issue 1 (deleted while
/// the importer pages): every later offset is shifted by one.
struct Shifting {
    all: FakeRedmine,
    after: FakeRedmine,
    calls: AtomicUsize,
}

impl Respond for Shifting {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.all.respond(req)
        } else {
            self.after.respond(req)
        }
    }
}

#[tokio::test]
async fn a_listing_that_changes_while_paging_is_read_again() {
    let issues: Vec<Value> = (1..=250).map(|i| issue(i, i as i64, true)).collect();
    let server = MockServer::start().await;
    Mock::given(path("/issues.json"))
        .respond_with(Shifting {
            all: FakeRedmine {
                issues: issues.clone(),
                ignore_issue_id: false,
            },
            after: FakeRedmine {
                issues: issues[1..].to_vec(),
                ignore_issue_id: false,
            },
            calls: AtomicUsize::new(0),
        })
        .mount(&server)
        .await;
    let r = run(&config(&server.uri(), "SHIFT")).await;
    // Without the second reading, issue 101 (now at offset 99) would be missed.
    let links: HashSet<String> = r
        .bugs
        .iter()
        .map(|b| b.canonical_bug_link.clone())
        .collect();
    assert_eq!(links.len(), r.bugs.len(), "no issue twice");
    assert_eq!(links.len(), 250);
    assert!(links.contains(&format!("{}/issues/101", server.uri())));
    assert_eq!(listing_requests(&server).await.len(), 3 + 3);
}

#[tokio::test]
async fn people_from_journals_on_many_pages_does_not_starve() {
    // 9 pages: more concurrent page fetches than connection permits (4), each page then
    // needing 100 more requests. A regression test for a deadlock.
    let issues: Vec<Value> = (1..=900).map(|i| issue(i, i as i64, true)).collect();
    let (server, hits) = fake(issues, false).await;
    let mut c = config(&server.uri(), "MANY");
    c.extra.insert("people_from_journals".into(), true.into());
    let r = tokio::time::timeout(Duration::from_secs(60), run(&c))
        .await
        .expect("the crawl finishes");
    assert_eq!(r.bugs.len(), 900);
    assert_eq!(hits.load(Ordering::SeqCst), 900);
    assert!(r.bugs.iter().all(|b| b.people_involved == Some(4)));
}

#[tokio::test]
async fn private_issues_are_skipped_and_held_ones_deleted() {
    let mut issues: Vec<Value> = (1..=10).map(|i| issue(i, i as i64, true)).collect();
    issues[2]["is_private"] = json!(true);
    issues[6]["is_private"] = json!(true);
    let (server, _) = fake(issues, false).await;
    let base = server.uri();
    let mut c = config(&base, "PRIVATE");
    c.existing_bug_urls = vec![format!("{base}/issues/3"), format!("{base}/issues/4")];
    let r = run(&c).await;
    assert_eq!(r.full().len(), 8);
    assert!(r
        .full_bugs()
        .iter()
        .all(|b| !b.canonical_bug_link.ends_with("/3") && !b.canonical_bug_link.ends_with("/7")));
    // 3 is held and private now: the host deletes it; 7 is not held: nothing.
    assert_eq!(r.links(|b| b.deleted), [format!("{base}/issues/3")]);

    c.extra.insert("include_private".into(), true.into());
    let r = run(&c).await;
    assert_eq!(r.full().len(), 10);
    assert!(r.links(|b| b.deleted).is_empty());
}

#[tokio::test]
async fn retries_429_and_503() {
    let issues: Vec<Value> = (1..=150).map(|i| issue(i, i as i64, true)).collect();
    let (server, _) = fake(issues, false).await;
    // Higher-priority one-shot failures in front of the fake.
    Mock::given(path("/issues.json"))
        .and(wiremock::matchers::query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/issues.json"))
        .and(wiremock::matchers::query_param("offset", "100"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let r = run(&config(&server.uri(), "RETRY")).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.bugs.len(), 150);
    assert_eq!(
        listing_requests(&server).await.len(),
        4,
        "2 pages + 2 retries"
    );
}

#[tokio::test]
async fn a_failed_listing_withholds_deletions() {
    let server = MockServer::start().await;
    Mock::given(path("/issues.json"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::path_regex(r"^/issues/\d+\.json$"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut c = config(&server.uri(), "FAILED");
    c.existing_bug_urls = vec![format!("{}/issues/1", server.uri())];
    let r = run(&c).await;
    assert!(!r.stats.errors.is_empty());
    assert!(
        r.bugs.iter().all(|b| !b.deleted),
        "no deletion after a failed run"
    );
}

#[tokio::test]
async fn api_key_header_on_every_request_and_never_in_output() {
    const SECRET: &str = "f00dfacef00dfacef00dface1234567890abcdef";
    let secrets = FixedSecrets::from([("RM_TEST_KEY_KEY", SECRET)]);
    let issues: Vec<Value> = (1..=120).map(|i| issue(i, i as i64, true)).collect();
    let (server, _) = fake(issues, false).await;
    let base = server.uri();
    let mut c = config(&base, "KEY");
    c.extra.insert("people_from_journals".into(), true.into());
    c.queries = vec![Query::new(format!("{base}/issues.json"))];
    c.existing_bug_urls = vec![format!("{base}/issues/4242")];
    let r = run_secrets(&c, secrets).await;
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.len() > 120,
        "lists, details, the refresh and the 404"
    );
    for req in &requests {
        assert_eq!(
            req.headers
                .get("x-redmine-api-key")
                .and_then(|v| v.to_str().ok()),
            Some(SECRET),
            "{}",
            req.url
        );
        assert!(!req.url.as_str().contains(SECRET));
    }
    let out: String = r.bugs.iter().map(ParsedBug::to_json_line).collect();
    assert!(!out.contains(SECRET));
    assert!(!format!("{:?}", r.stats).contains(SECRET));
    // With journals and watchers: author + assignee (Dev) + commenter + watcher = 4.
    assert_eq!(r.full().len(), 120);
    assert!(r.full_bugs().iter().all(|b| b.people_involved == Some(4)));
    assert_eq!(r.links(|b| b.deleted), [format!("{base}/issues/4242")]);
}

#[tokio::test]
async fn anonymous_without_key_and_closed_from_status_list_or_closed_on() {
    // Issues without is_closed (older Redmine): the status list decides (Resolved open).
    let issues: Vec<Value> = (1..=20).map(|i| issue(i, i as i64, false)).collect();
    let (server, _) = fake(issues.clone(), false).await;
    let r = run(&config(&server.uri(), "ANON")).await;
    for req in server.received_requests().await.unwrap() {
        assert!(req.headers.get("x-redmine-api-key").is_none());
    }
    for b in &r.bugs {
        let id: u64 = b
            .canonical_bug_link
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(b.looks_closed, Some(id % 5 == 0), "issue {id}");
        if id % 4 == 0 && id % 5 != 0 {
            assert_eq!(b.status.as_deref(), Some("Resolved"));
        }
    }
    // No status list at all (mock_trackers.py): closed_on decides.
    let server2 = MockServer::start().await;
    Mock::given(path("/issues.json"))
        .respond_with(FakeRedmine {
            issues,
            ignore_issue_id: false,
        })
        .mount(&server2)
        .await;
    let r2 = run(&config(&server2.uri(), "ANON2")).await;
    assert_eq!(r2.bugs.len(), 20);
    assert!(
        r2.stats.errors.is_empty(),
        "a missing status list is no error"
    );
    for b in &r2.bugs {
        let id: u64 = b
            .canonical_bug_link
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(b.looks_closed, Some(id % 5 == 0));
    }
}

/// Without a status list, a reopened issue (Redmine keeps `closed_on` on reopening) is open,
/// and the run report says that the fallback was used.
#[tokio::test]
async fn without_a_status_list_reopened_issues_are_open_and_the_fallback_is_reported() {
    let mut issues: Vec<Value> = (1..=10).map(|i| issue(i, i as i64, false)).collect();
    for i in [3usize, 7] {
        // Closed once, then reopened into a custom status: closed_on stays, updated_on moves.
        issues[i - 1]["status"] = json!({"id": 7, "name": "Reopened"});
        issues[i - 1]["closed_on"] = json!(at_minutes(5_000));
    }
    let server = MockServer::start().await;
    Mock::given(path("/issues.json"))
        .respond_with(FakeRedmine {
            issues,
            ignore_issue_id: false,
        })
        .mount(&server)
        .await;
    let r = run(&config(&server.uri(), "REOPENED")).await;
    assert_eq!(r.bugs.len(), 10);
    for b in &r.bugs {
        let id: u64 = b
            .canonical_bug_link
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(b.looks_closed, Some(id % 5 == 0), "issue {id}");
    }
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    assert_eq!(r.stats.warnings.len(), 1, "{:?}", r.stats.warnings);
    assert!(
        r.stats.warnings[0].contains("issue_statuses.json")
            && r.stats.warnings[0].contains("fallback"),
        "{:?}",
        r.stats.warnings
    );
}
