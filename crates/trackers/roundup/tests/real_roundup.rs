//! Against a REAL Roundup 2.x (`../shared/servers/roundup`): crawl through REST and through
//! pages, and compare every emitted field with what Roundup itself reports through its REST
//! API as admin (read here with serde_json, not with our parser); re-crawl incrementally;
//! close an issue and see `looks_closed` flip; retire it and see `_deleted`.
//!
//! Set `BUGIMPORTERS_ROUNDUP_URL` (e.g. `http://127.0.0.1:20081/tracker/`) after
//! `../shared/servers/roundup/start && ../shared/servers/roundup/populate 200`. The admin
//! password is `admin` unless `BUGIMPORTERS_ROUNDUP_ADMIN_PASSWORD` says otherwise. Without
//! the URL the test is skipped, except under `CI`, where it fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bugimporters_core::fetch::{FetchConfig, HttpClient, Request};
use bugimporters_core::time::now_naive;
use bugimporters_core::{
    ImportContext, ImportOptions, ParsedBug, Query, Registry, TrackerConfig, TrackerStats,
};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

fn base_url() -> Option<String> {
    match std::env::var("BUGIMPORTERS_ROUNDUP_URL") {
        Ok(u) if !u.trim().is_empty() => {
            let mut u = u.trim().to_owned();
            if !u.ends_with('/') {
                u.push('/');
            }
            Some(u)
        }
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("BUGIMPORTERS_ROUNDUP_URL is not set under CI: start ../shared/servers/roundup/start && populate 200 and export it (see docs/trackers/roundup.md)");
            }
            println!("skipped: set BUGIMPORTERS_ROUNDUP_URL (see docs/trackers/roundup.md)");
            None
        }
    }
}

fn admin_password() -> String {
    std::env::var("BUGIMPORTERS_ROUNDUP_ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into())
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", admin_password()))
    )
}

fn client() -> Arc<HttpClient> {
    Arc::new(HttpClient::new(FetchConfig::for_loopback_tests()).unwrap())
}

/// GET as admin through the fetch layer, JSON.
async fn admin_get(client: &HttpClient, url: &str) -> Value {
    let req = Request::get(url)
        .unwrap()
        .with_secret_header(http::header::AUTHORIZATION, &basic())
        .unwrap();
    let resp = client
        .fetch(req)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    serde_json::from_slice(&resp.body).unwrap()
}

/// A write to the REST API as admin (the fetch layer only GETs): plain HTTP/1.0 on loopback.
async fn admin_write(
    base: &Url,
    method: &str,
    path: &str,
    etag: Option<&str>,
    body: &Value,
) -> Value {
    let host = base.host_str().unwrap();
    let port = base.port_or_known_default().unwrap();
    let body = body.to_string();
    let origin = format!("{}://{}:{}", base.scheme(), host, port);
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nOrigin: {origin}\r\nReferer: {base}\r\nX-Requested-With: rest\r\nContent-Length: {}\r\n",
        basic(),
        body.len()
    );
    if let Some(e) = etag {
        head.push_str(&format!("If-Match: {e}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect((host, port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let (status_head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        status_head.starts_with("HTTP/1.0 20") || status_head.starts_with("HTTP/1.1 20"),
        "{method} {path}: {status_head}\n{payload}"
    );
    serde_json::from_str(payload).unwrap_or(Value::Null)
}

/// What Roundup reports about an issue, read from its REST API.
#[derive(Debug, Clone)]
struct Truth {
    title: String,
    status: String,
    priority: String,
    creator: String,
    creator_realname: Option<String>,
    creation: NaiveDateTime,
    activity: NaiveDateTime,
    keywords: Vec<String>,
    authors: HashSet<String>,
    first_message: String,
}

fn name(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn rdate(v: &Value) -> NaiveDateTime {
    let s = v.as_str().unwrap();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d.%H:%M:%S").unwrap()
}

async fn truth(client: &HttpClient, base: &str) -> BTreeMap<u64, Truth> {
    let users = admin_get(
        client,
        &format!("{base}rest/data/user?@verbose=2&@fields=username,realname&@page_size=10000"),
    )
    .await;
    let realnames: HashMap<String, String> = users["data"]["collection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (name(u, "username"), name(u, "realname")))
        .collect();
    let msgs = admin_get(
        client,
        &format!("{base}rest/data/msg?@verbose=3&@fields=author,content&@page_size=100000"),
    )
    .await;
    let msgs: HashMap<u64, (String, String)> = msgs["data"]["collection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                name(m, "id").parse().unwrap(),
                (name(&m["author"], "username"), name(m, "content")),
            )
        })
        .collect();
    let issues = admin_get(
        client,
        &format!("{base}rest/data/issue?@verbose=2&@fields=title,status,priority,creator,creation,activity,keyword,messages&@page_size=100000&@sort=id"),
    )
    .await;
    let mut out = BTreeMap::new();
    for i in issues["data"]["collection"].as_array().unwrap() {
        let id: u64 = name(i, "id").parse().unwrap();
        let mut mids: Vec<u64> = i["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| name(m, "id").parse().unwrap())
            .collect();
        mids.sort_unstable();
        let creator = name(&i["creator"], "username");
        out.insert(
            id,
            Truth {
                title: name(i, "title"),
                status: name(&i["status"], "name"),
                priority: name(&i["priority"], "name"),
                creator_realname: realnames.get(&creator).filter(|r| !r.is_empty()).cloned(),
                creator,
                creation: rdate(&i["creation"]),
                activity: rdate(&i["activity"]),
                keywords: i["keyword"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| name(k, "name"))
                    .collect(),
                authors: mids
                    .iter()
                    .filter_map(|m| msgs.get(m))
                    .map(|m| m.0.clone())
                    .collect(),
                first_message: mids
                    .first()
                    .and_then(|m| msgs.get(m))
                    .map(|m| m.1.trim().to_owned())
                    .unwrap_or_default(),
            },
        );
    }
    out
}

const USER_ENV: &str = "RT_REAL_ROUNDUP_USER";
const PW_ENV: &str = "RT_REAL_ROUNDUP_PW";

fn config(base: &str, api: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Real Roundup", "roundup");
    c.base_url = base.to_owned();
    c.bitesized_text = "easy".into();
    c.documentation_text = "documentation".into();
    if let Value::Object(m) = json!({
        "closed_status": "resolved",
        "bitesized_field": "Keywords",
        "documentation_field": "Keywords",
        "roundup_api": api,
        "roundup_username_env": USER_ENV,
        "roundup_password_env": PW_ENV,
    }) {
        c.extra.extend(m);
    }
    c
}

struct Run {
    bugs: Vec<ParsedBug>,
    stats: TrackerStats,
}

/// A crawl of `config` at `now`, logged in as the server's admin through the variables its
/// `roundup_*_env` keys name.
async fn crawl(config: &TrackerConfig, now: NaiveDateTime) -> Run {
    let secrets = bugimporters_core::secrets::FixedSecrets::new()
        .with(USER_ENV, "admin")
        .with(PW_ENV, &admin_password());
    let mut registry = Registry::new();
    bugimporters_roundup::register(&mut registry);
    let built = registry.build(config).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(100_000);
    let ctx = ImportContext::new(
        &config.tracker_name,
        client(),
        4,
        tx,
        ImportOptions::new(now).with_secrets(Arc::new(secrets)),
        &config.existing_bug_urls,
    );
    built.importer.process_queries(&ctx).await.unwrap();
    built
        .importer
        .process_existing_bugs(&ctx, &config.existing_bug_urls)
        .await
        .unwrap();
    let stats = ctx.finish(true).await;
    drop(ctx);
    let mut bugs = Vec::new();
    while let Some(b) = rx.recv().await {
        bugs.push(b);
    }
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    Run { bugs, stats }
}

fn issue_number(base: &str, link: &str) -> u64 {
    link.strip_prefix(base)
        .and_then(|r| r.strip_prefix("issue"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected link {link}"))
}

/// Every field of `bug` against Roundup's own account of the issue.
fn check(base: &str, bug: &ParsedBug, t: &Truth, rest_mode: bool, now: NaiveDateTime) {
    let id = issue_number(base, &bug.canonical_bug_link);
    let ctx = format!("issue{id} ({})", if rest_mode { "rest" } else { "pages" });
    assert!(!bug.deleted && !bug.no_update, "{ctx}");
    assert_eq!(bug.title.as_deref(), Some(t.title.as_str()), "{ctx} title");
    assert_eq!(
        bug.status.as_deref(),
        Some(t.status.as_str()),
        "{ctx} status"
    );
    assert_eq!(
        bug.looks_closed,
        Some(t.status == "resolved"),
        "{ctx} looks_closed"
    );
    assert_eq!(
        bug.importance.as_deref(),
        Some(t.priority.as_str()),
        "{ctx} importance"
    );
    assert_eq!(
        bug.submitter_username.as_deref(),
        Some(t.creator.as_str()),
        "{ctx} submitter"
    );
    let want_realname = if rest_mode {
        t.creator_realname.clone()
    } else {
        // the classic template shows "Author: username": no real name on the page
        None
    };
    assert_eq!(
        bug.submitter_realname,
        Some(want_realname),
        "{ctx} realname"
    );
    assert_eq!(
        bug.people_involved,
        Some(t.authors.len() as u32),
        "{ctx} people"
    );
    assert_eq!(bug.date_reported, Some(t.creation), "{ctx} date_reported");
    assert_eq!(bug.last_touched, Some(t.activity), "{ctx} last_touched");
    assert_eq!(
        bug.description.as_deref(),
        Some(t.first_message.as_str()),
        "{ctx} description"
    );
    let kw = t.keywords.join(", ");
    assert_eq!(
        bug.good_for_newcomers,
        Some(kw.contains("easy")),
        "{ctx} bite-sized"
    );
    assert_eq!(
        bug.concerns_just_documentation,
        Some(kw.contains("documentation")),
        "{ctx} docs"
    );
    assert_eq!(bug.as_appears_in_distribution.as_deref(), Some(""), "{ctx}");
    assert_eq!(bug.raw_data, Some(json!({})), "{ctx}");
    assert_eq!(bug.project_name.as_deref(), Some("Real Roundup"), "{ctx}");
    assert_eq!(bug.tracker_name.as_deref(), Some("Real Roundup"), "{ctx}");
    assert_eq!(bug.last_polled, Some(now), "{ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_roundup_crawl_incremental_close_retire() {
    let Some(base) = base_url() else { return };
    let base_parsed = Url::parse(&base).unwrap();
    let http = client();
    let t0 = Instant::now();

    // A fresh issue of our own, for the close and retire steps (the test can run again).
    let created = admin_write(
        &base_parsed,
        "POST",
        &format!("{}rest/data/issue", base_parsed.path()),
        None,
        &json!({"title": "Integration test issue — ünïcødé", "priority": "bug", "status": "chatting", "keyword": ["easy"]}),
    )
    .await;
    let own: u64 = name(&created["data"], "id").parse().unwrap();
    let own_link = format!("{base}issue{own}");

    let truth1 = truth(&http, &base).await;
    assert!(
        truth1.len() >= 50,
        "populate the server first (populate 200)"
    );
    let all_ids: Vec<u64> = truth1.keys().copied().collect();

    // 1. Full crawl through REST: every live issue, via a query naming them all.
    let query_all = format!("{base}issue?@action=export_csv&@columns=id,title&@filter=status&status=-1,1,2,3,4,5,6,7,8&@sort=id");
    let mut rest_cfg = config(&base, "rest");
    rest_cfg.queries = vec![Query::new(query_all.clone())];
    let now1 = now_naive();
    let full = crawl(&rest_cfg, now1).await;
    assert_eq!(full.bugs.len(), truth1.len(), "one record per live issue");
    for bug in &full.bugs {
        let id = issue_number(&base, &bug.canonical_bug_link);
        check(&base, bug, &truth1[&id], true, now1);
    }
    let full_requests = full.stats.requests;
    assert!(
        full_requests <= 2 + 6 * (truth1.len() as u64).div_ceil(100),
        "REST reads ~5 requests per 100 issues, made {full_requests}"
    );

    println!("{:?}: step 2 (pages)", t0.elapsed());
    // 2. The same through pages, for a slice of issues (one page each).
    // BUGIMPORTERS_ROUNDUP_PAGE_SAMPLE: how many issues to read through pages (default 40,
    // `all` for every one).
    let sample = match std::env::var("BUGIMPORTERS_ROUNDUP_PAGE_SAMPLE").as_deref() {
        Ok("all") => usize::MAX,
        Ok(n) => n.parse().unwrap_or(40),
        Err(_) => 40,
    };
    let slice: Vec<u64> = all_ids
        .iter()
        .copied()
        .filter(|i| *i != own)
        .take(sample)
        .chain([own])
        .collect();
    let mut html_cfg = config(&base, "html");
    html_cfg.queries = vec![Query::new(format!(
        "{base}issue?@action=export_csv&@columns=id&@filter=id&id={}&@sort=id",
        slice
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    ))];
    let pages = crawl(&html_cfg, now1).await;
    assert_eq!(pages.bugs.len(), slice.len());
    for bug in &pages.bugs {
        let id = issue_number(&base, &bug.canonical_bug_link);
        check(&base, bug, &truth1[&id], false, now1);
    }
    let own_bug = pages
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link == own_link)
        .unwrap();
    assert_eq!(own_bug.looks_closed, Some(false));
    assert_eq!(own_bug.good_for_newcomers, Some(true));

    println!("{:?}: step 3 (incremental)", t0.elapsed());
    // 3. Incremental re-crawl: the query polled at now1, every issue known to the host.
    let mut inc_cfg = config(&base, "rest");
    let mut q = Query::new(query_all.clone());
    q.last_polled = Some(now1);
    inc_cfg.queries = vec![q];
    inc_cfg.existing_bug_urls = all_ids.iter().map(|i| format!("{base}issue{i}")).collect();
    let now2 = now_naive();
    let inc = crawl(&inc_cfg, now2).await;
    assert_eq!(inc.bugs.len(), truth1.len());
    // changed within the window (now1 minus the one-hour overlap): re-read; the rest unchanged
    let window =
        now1 - chrono::Duration::minutes(bugimporters_roundup::client::SINCE_OVERLAP_MINUTES);
    let changed: HashSet<u64> = truth1
        .iter()
        .filter(|(_, t)| t.activity >= window)
        .map(|(i, _)| *i)
        .collect();
    for bug in &inc.bugs {
        let id = issue_number(&base, &bug.canonical_bug_link);
        if changed.contains(&id) {
            check(&base, bug, &truth1[&id], true, now2);
        } else {
            assert!(bug.no_update, "issue{id} unchanged: {bug:?}");
            assert_eq!(bug.last_polled, Some(now2));
        }
    }
    assert_eq!(inc.stats.no_update as usize, truth1.len() - changed.len());
    println!(
        "incremental: {} requests ({} changed, {} _no_update) vs {} for the full crawl",
        inc.stats.requests,
        changed.len(),
        inc.stats.no_update,
        full_requests
    );
    // two id lists per 100 known issues, plus the details of the changed ones only
    let chunks = (truth1.len() as u64).div_ceil(100);
    assert!(
        inc.stats.requests <= 1 + 2 * chunks + 3 * changed.len().div_ceil(100).max(1) as u64 + 2
    );
    assert!(inc.stats.requests < full_requests);

    println!("{:?}: step 4 (close)", t0.elapsed());
    // 4. Close our issue on the server: the refresh sees it changed, looks_closed flips.
    let item = admin_get(&http, &format!("{base}rest/data/issue/{own}")).await;
    let etag = name(&item["data"], "@etag");
    admin_write(
        &base_parsed,
        "PATCH",
        &format!("{}rest/data/issue/{own}", base_parsed.path()),
        Some(&etag),
        &json!({"@op": "replace", "status": "resolved"}),
    )
    .await;
    let mut refresh_cfg = config(&base, "rest");
    let mut q = Query::new(format!(
        "{base}issue?@action=export_csv&@columns=id&@filter=id&id={own}"
    ));
    q.last_polled = Some(now2);
    refresh_cfg.queries = vec![q];
    refresh_cfg.existing_bug_urls = vec![own_link.clone(), format!("{base}issue{}", all_ids[0])];
    let now3 = now_naive();
    let after_close = crawl(&refresh_cfg, now3).await;
    let closed = after_close
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link == own_link)
        .unwrap();
    assert_eq!(closed.status.as_deref(), Some("resolved"));
    assert_eq!(closed.looks_closed, Some(true), "looks_closed flipped");
    let mut html_refresh = refresh_cfg.clone();
    html_refresh
        .extra
        .insert("roundup_api".into(), json!("html"));
    let closed_page = crawl(&html_refresh, now3).await;
    let closed = closed_page
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link == own_link)
        .unwrap();
    assert_eq!(
        closed.looks_closed,
        Some(true),
        "pages: looks_closed flipped"
    );

    println!("{:?}: step 5 (retire)", t0.elapsed());
    // 5. Retire it: both sources turn it into a deletion record.
    let item = admin_get(&http, &format!("{base}rest/data/issue/{own}")).await;
    let etag = name(&item["data"], "@etag");
    admin_write(
        &base_parsed,
        "DELETE",
        &format!("{}rest/data/issue/{own}", base_parsed.path()),
        Some(&etag),
        &json!({}),
    )
    .await;
    for api in ["rest", "html"] {
        let mut cfg = refresh_cfg.clone();
        cfg.extra.insert("roundup_api".into(), json!(api));
        let gone = crawl(&cfg, now_naive()).await;
        let rec = gone
            .bugs
            .iter()
            .find(|b| b.canonical_bug_link == own_link)
            .unwrap_or_else(|| panic!("{api}: no record for the retired issue"));
        assert!(rec.deleted, "{api}: {rec:?}");
        assert_eq!(rec.tracker_name.as_deref(), Some("Real Roundup"));
        assert_eq!(gone.stats.deleted, 1, "{api}");
    }
    println!("real Roundup test took {:?}", t0.elapsed());
}
