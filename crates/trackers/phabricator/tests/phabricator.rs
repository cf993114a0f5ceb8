//! The Phabricator importer against a fake Conduit on loopback (wiremock): every call is a
//! `POST` of form fields, answered from a small in-memory instance of our own making.

use std::collections::HashMap;
use std::sync::Arc;

use bugimporters_core::time::parse_datetime;
use bugimporters_core::{ParsedBug, Query, TrackerConfig};
use bugimporters_phabricator::PhabricatorImporter;
use bugimporters_testkit::forge::{self, FixedSecrets, Run, RUN_CAPACITY};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "api-s3cr3tconduittoken";
const GFT: &str = "PHID-PROJ-goodfirsttask";
const DOC: &str = "PHID-PROJ-documentation";

fn now() -> NaiveDateTime {
    parse_datetime("2026-12-01T00:00:00").unwrap()
}

/// Task `id` of the fake instance: every third is resolved, every fourth a good first task,
/// every fifth documentation; modified at `1_700_000_000 + id`.
fn task(id: u64) -> Value {
    let mut projects = Vec::new();
    if id % 4 == 0 {
        projects.push(GFT);
    }
    if id % 5 == 0 {
        projects.push(DOC);
    }
    let (status, name) = if id % 3 == 0 {
        ("resolved", "Resolved")
    } else {
        ("open", "Open")
    };
    json!({
        "id": id, "type": "TASK", "phid": format!("PHID-TASK-{id}"),
        "fields": {
            "name": format!("Task <b>{id}</b>"),
            "description": {"raw": format!("Steps for {id}")},
            "authorPHID": "PHID-USER-ann",
            "ownerPHID": if id % 2 == 0 { json!("PHID-USER-bob") } else { Value::Null },
            "status": {"value": status, "name": name, "color": null},
            "priority": {"value": 50, "name": "Medium", "color": "orange"},
            "dateCreated": 1_600_000_000 + id, "dateModified": 1_700_000_000 + id,
            "dateClosed": if status == "resolved" { json!(1_700_000_000 + id) } else { Value::Null },
        },
        "attachments": {
            "projects": {"projectPHIDs": projects},
            "subscribers": {"subscriberPHIDs": ["PHID-USER-cyd"], "subscriberCount": 1},
        }
    })
}

fn envelope(result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"result": result, "error_code": null, "error_info": null}))
}

fn form(r: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

fn all(fields: &[(String, String)], prefix: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect()
}

fn one(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The fake instance's `maniphest.search`: tasks 1..=`count` (or `ids`), filtered by
/// `queryKey=open`, project PHIDs and `modifiedStart`, 100 a page, `after` = the last id.
fn search(fields: &[(String, String)], count: u64) -> Value {
    let ids: Vec<u64> = all(fields, "constraints[ids]")
        .iter()
        .map(|i| i.parse().unwrap())
        .collect();
    let projects = all(fields, "constraints[projects]");
    let since: u64 = one(fields, "constraints[modifiedStart]").map_or(0, |s| s.parse().unwrap());
    let after: u64 = one(fields, "after").map_or(0, |a| a.parse().unwrap());
    let open_only = one(fields, "queryKey").as_deref() == Some("open");
    let limit: usize = one(fields, "limit").map_or(100, |l| l.parse().unwrap());
    let matching: Vec<Value> = (1..=count)
        .filter(|id| ids.is_empty() || ids.contains(id))
        .map(task)
        .filter(|t| !open_only || t["fields"]["status"]["value"] == "open")
        .filter(|t| {
            projects.iter().all(|p| {
                t["attachments"]["projects"]["projectPHIDs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == p)
            })
        })
        .filter(|t| t["fields"]["dateModified"].as_u64().unwrap() >= since)
        .filter(|t| t["id"].as_u64().unwrap() > after)
        .collect();
    let page: Vec<Value> = matching.iter().take(limit).cloned().collect();
    let next = (matching.len() > limit).then(|| page.last().unwrap()["id"].to_string());
    json!({"data": page, "maps": {}, "query": {"queryKey": null},
           "cursor": {"limit": limit, "after": next, "before": null, "order": null}})
}

/// Serves a fake Conduit with `count` tasks; with `require_token`, a call without
/// [`TOKEN`] answers `ERR-INVALID-AUTH` (HTTP 200, as Conduit does).
async fn conduit(count: u64, require_token: bool) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(move |r: &Request| {
            let fields = form(r);
            if require_token && one(&fields, "api.token").as_deref() != Some(TOKEN) {
                return ResponseTemplate::new(200).set_body_json(json!({
                    "result": null, "error_code": "ERR-INVALID-AUTH",
                    "error_info": "API token is invalid."}));
            }
            match r.url.path() {
                "/api/maniphest.status.search" => envelope(json!({"data": [
                    {"name": "Open", "value": "open", "closed": false},
                    {"name": "Resolved", "value": "resolved", "closed": true},
                    {"name": "Declined", "value": "declined", "closed": true}]})),
                "/api/project.search" => {
                    let known: HashMap<&str, &str> =
                        HashMap::from([("good_first_task", GFT), ("documentation", DOC)]);
                    let data: Vec<Value> = all(&fields, "constraints[slugs]")
                        .iter()
                        .filter_map(|s| {
                            known
                                .get(s.as_str())
                                .map(|p| json!({"phid": p, "fields": {"slug": s}}))
                        })
                        .collect();
                    envelope(json!({"data": data}))
                }
                "/api/user.search" => {
                    let names = HashMap::from([
                        ("PHID-USER-ann", ("ann", "Ann Example")),
                        ("PHID-USER-bob", ("bob", "")),
                    ]);
                    let data: Vec<Value> = all(&fields, "constraints[phids]")
                        .iter()
                        .filter_map(|p| {
                            names.get(p.as_str()).map(|(u, n)| {
                            json!({"phid": p, "fields": {"username": u, "realName": n}})
                        })
                        })
                        .collect();
                    envelope(json!({"data": data}))
                }
                "/api/maniphest.search" => envelope(search(&fields, count)),
                other => ResponseTemplate::new(404).set_body_string(other.to_owned()),
            }
        })
        .mount(&server)
        .await;
    server
}

fn config(server: &MockServer) -> TrackerConfig {
    let mut c = TrackerConfig::new("Fake Phab", "phabricator");
    c.base_url = format!("{}/", server.uri());
    c.extra
        .insert("bitesized_tag".into(), "Good first task".into());
    c.extra.insert(
        "documentation_tag".into(),
        "#Documentation, Nonexistent".into(),
    );
    c.extra.insert("token_env".into(), "PHAB_TEST_TOKEN".into());
    c
}

async fn run(config: &TrackerConfig, token: Option<&str>) -> Run {
    let importer = PhabricatorImporter::new(config).unwrap();
    let secrets = match token {
        Some(t) => FixedSecrets::from([("PHAB_TEST_TOKEN", t)]),
        None => FixedSecrets::new(),
    };
    let options = forge::options(now()).with_secrets(Arc::new(secrets));
    let queries = config.existing_bug_urls.is_empty();
    forge::run_importer_with(
        &importer,
        config,
        forge::loopback_client(),
        options,
        queries,
        RUN_CAPACITY,
    )
    .await
}

async fn calls(server: &MockServer, api: &str) -> Vec<Vec<(String, String)>> {
    let path = format!("/api/{api}");
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == path)
        .map(form)
        .collect()
}

fn bug<'a>(run: &'a Run, server: &MockServer, id: u64) -> &'a ParsedBug {
    let link = format!("{}/T{id}", server.uri());
    run.bugs
        .iter()
        .find(|b| b.canonical_bug_link == link)
        .unwrap()
}

#[tokio::test]
async fn open_tasks_page_to_the_end_by_cursor_with_every_field() {
    let server = conduit(250, true).await;
    let r = run(&config(&server), Some(TOKEN)).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let open: Vec<u64> = (1..=250).filter(|i| i % 3 != 0).collect();
    assert_eq!(r.full().len(), open.len());
    let searches = calls(&server, "maniphest.search").await;
    assert_eq!(searches.len(), 2, "167 open tasks: two pages of 100");
    assert_eq!(
        one(&searches[1], "after").as_deref(),
        Some("149"),
        "the 100th open task"
    );
    assert!(searches
        .iter()
        .all(|f| one(f, "queryKey").as_deref() == Some("open")));
    assert_eq!(
        calls(&server, "user.search").await.len(),
        1,
        "users resolved once"
    );
    assert_eq!(
        r.stats
            .warnings
            .iter()
            .filter(|w| w.contains("nonexistent"))
            .count(),
        1,
        "{:?}",
        r.stats.warnings
    );

    let b = bug(&r, &server, 20);
    assert_eq!(b.title.as_deref(), Some("Task <b>20</b>"));
    assert_eq!(b.description.as_deref(), Some("Steps for 20"));
    assert_eq!(b.status.as_deref(), Some("Open"));
    assert_eq!(b.importance.as_deref(), Some("Medium"));
    assert_eq!(b.looks_closed, Some(false));
    assert_eq!(b.good_for_newcomers, Some(true));
    assert_eq!(b.concerns_just_documentation, Some(true));
    assert_eq!(b.submitter_username.as_deref(), Some("ann"));
    assert_eq!(b.submitter_realname, Some(Some("Ann Example".to_owned())));
    assert_eq!(b.people_involved, Some(3), "author, owner, subscriber");
    assert_eq!(b.assigned, Some(true), "task 20 has an owner");
    assert_eq!(
        b.date_reported,
        parse_datetime("2020-09-13T12:27:00"),
        "1_600_000_020"
    );
    assert_eq!(b.last_touched.unwrap().and_utc().timestamp(), 1_700_000_020);
    let b7 = bug(&r, &server, 7);
    assert_eq!(
        (b7.good_for_newcomers, b7.concerns_just_documentation),
        (Some(false), Some(false))
    );
    assert_eq!(b7.people_involved, Some(2));
    assert_eq!(b7.assigned, Some(false), "task 7 has none");
}

#[tokio::test]
async fn the_token_is_a_secret_form_field_and_never_shown() {
    let server = conduit(5, true).await;
    let r = run(&config(&server), Some(TOKEN)).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    for f in calls(&server, "maniphest.search").await {
        assert_eq!(one(&f, "api.token").as_deref(), Some(TOKEN));
    }
    let out: String = r.bugs.iter().map(ParsedBug::to_json_line).collect();
    assert!(!out.contains(TOKEN) && !format!("{:?}", r.stats).contains(TOKEN));

    // Without the token, the instance's refusal is an error naming the URL and the code.
    let anonymous = run(&config(&server), None).await;
    assert!(anonymous.bugs.is_empty());
    let e = format!("{:?}", anonymous.stats.errors);
    assert!(
        e.contains("ERR-INVALID-AUTH") && e.contains("/api/maniphest.status.search"),
        "{e}"
    );
}

#[tokio::test]
async fn projects_constrain_the_search_and_an_unknown_tag_never_widens_it() {
    let server = conduit(40, false).await;
    let mut c = config(&server);
    c.extra.insert("projects".into(), "Good first task".into());
    let r = run(&c, None).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let ids: Vec<u64> = (1..=40).filter(|i| i % 4 == 0 && i % 3 != 0).collect();
    assert_eq!(r.full().len(), ids.len());
    assert!(r
        .full_bugs()
        .iter()
        .all(|b| b.good_for_newcomers == Some(true)));
    let search = &calls(&server, "maniphest.search").await[0];
    assert_eq!(all(search, "constraints[projects]"), [GFT]);

    let mut wrong = config(&server);
    wrong
        .extra
        .insert("projects".into(), "Good first tsak".into());
    let before = calls(&server, "maniphest.search").await.len();
    let r = run(&wrong, None).await;
    assert!(r.bugs.is_empty());
    assert!(
        format!("{:?}", r.stats.errors).contains("good_first_tsak"),
        "{:?}",
        r.stats.errors
    );
    assert_eq!(
        calls(&server, "maniphest.search").await.len(),
        before,
        "no search at all"
    );
}

#[tokio::test]
async fn an_incremental_query_sends_modified_start_and_saved_queries_their_key() {
    let server = conduit(30, false).await;
    let mut c = config(&server);
    let mut q = Query::new(format!("{}/maniphest/query/all/", server.uri()));
    q.last_polled = Some(parse_datetime("2023-11-14T22:13:40").unwrap()); // 1_700_000_020
    c.queries = vec![q];
    let r = run(&c, None).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let search = &calls(&server, "maniphest.search").await[0];
    assert_eq!(one(search, "queryKey").as_deref(), Some("all"));
    assert_eq!(
        one(search, "constraints[modifiedStart]").as_deref(),
        Some("1700000020")
    );
    assert_eq!(r.full().len(), 11, "tasks 20..=30, closed ones included");
    assert_eq!(bug(&r, &server, 21).looks_closed, Some(true));
}

#[tokio::test]
async fn held_tasks_are_refreshed_by_id_and_missing_ones_deleted() {
    let server = conduit(120, false).await;
    let mut c = config(&server);
    c.existing_bug_urls = [3, 64, 119, 500, 501]
        .iter()
        .map(|i| format!("{}/T{i}", server.uri()))
        .collect();
    let r = run(&c, None).await;
    assert!(r.stats.errors.is_empty(), "{:?}", r.stats.errors);
    let link = |i: u64| format!("{}/T{i}", server.uri());
    assert_eq!(r.full(), [link(119), link(3), link(64)], "sorted as text");
    assert_eq!(r.links(|b| b.deleted), [link(500), link(501)]);
    let searches = calls(&server, "maniphest.search").await;
    assert_eq!(searches.len(), 1, "one search for five ids");
    assert_eq!(one(&searches[0], "queryKey").as_deref(), Some("all"));
    assert_eq!(
        all(&searches[0], "constraints[ids]"),
        ["3", "64", "119", "500", "501"]
    );
}

#[tokio::test]
async fn a_cursor_that_comes_back_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|r: &Request| match r.url.path() {
            "/api/maniphest.search" => {
                envelope(json!({"data": [task(1)], "cursor": {"after": "1"}}))
            }
            _ => envelope(json!({"data": []})),
        })
        .mount(&server)
        .await;
    let r = run(&config(&server), None).await;
    assert_eq!(r.full().len(), 1);
    let e = format!("{:?}", r.stats.errors);
    assert!(e.contains("came back twice"), "{e}");
    assert_eq!(calls(&server, "maniphest.search").await.len(), 2);
}

#[test]
fn bad_configurations_are_refused_naming_what() {
    let mut c = TrackerConfig::new("t", "phorge");
    let e = PhabricatorImporter::new(&c).unwrap_err().to_string();
    assert!(e.contains("base_url"), "{e}");
    c.base_url = "https://phab.example.org".into();
    c.queries = vec![Query::new("https://phab.example.org/T12")];
    let e = PhabricatorImporter::new(&c).unwrap_err().to_string();
    assert!(
        e.contains("https://phab.example.org/T12") && e.contains("maniphest/query/KEY"),
        "{e}"
    );
}
