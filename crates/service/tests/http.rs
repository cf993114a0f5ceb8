//! The HTTP server of `bugimporters serve` ([`Service::router`]) on a loopback socket:
//! `/healthz` follows the database and the scheduler's passes (on the service's own clock,
//! a [`ManualClock`] here: no sleeps), `/metrics` is Prometheus text whose counters follow a
//! `serve --once` pass over a synthetic Trac tracker on SQLite.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_service::Service;
use chrono::TimeDelta;
use common::{add_trackers, servers, service, sqlite};

/// Serves `service.router()` on 127.0.0.1 (a free port); the server lives as long as the
/// test's runtime.
async fn listen(service: &Service) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// `GET path` over a plain HTTP/1.1 connection (the service's own server, not a tracker):
/// status, content type and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut ctype = String::new();
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => ctype = value.trim().to_owned(),
            "content-length" => length = Some(value.trim().parse::<usize>().unwrap()),
            _ => {}
        }
    }
    assert_eq!(length, Some(body.len()), "{head}");
    (status, ctype, body.to_owned())
}

async fn healthz(addr: SocketAddr) -> (u16, serde_json::Value) {
    let (status, ctype, body) = get(addr, "/healthz").await;
    assert!(ctype.starts_with("application/json"), "{ctype}");
    (status, serde_json::from_str(&body).unwrap())
}

fn start() -> chrono::NaiveDateTime {
    bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_scheduler_and_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = sqlite(dir.path(), "host.db").await;
    let trackers = servers(1, 5).await;
    add_trackers(&db, &trackers, &[]).await;
    let clock = ManualClock::new(start());
    let svc = service(&db, &dir.path().join("spool"), &clock, 1);
    let addr = listen(&svc).await;

    // No scheduler pass yet: the database answers, the loop is not alive.
    let (status, body) = healthz(addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["scheduler"], "stalled");
    // (The schedule learns of the tracker at the first pass.)
    assert!(body["trackers"].is_number(), "{body}");

    // A pass: healthy, with the queue figures.
    assert_eq!(svc.run_once().await.unwrap().ok, 1);
    let (status, body) = healthz(addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "status": "ok", "database": "ok", "scheduler": "ok", "worker": "test:1",
            "trackers": 1, "due": 0, "running": 0,
        })
    );

    // 30 s on the service's clock (3 × the 5 s poll would be less) is still alive; past it,
    // the loop has stalled.
    clock.set(start() + TimeDelta::seconds(30));
    assert_eq!(healthz(addr).await.0, 200);
    clock.set(start() + TimeDelta::seconds(31));
    let (status, body) = healthz(addr).await;
    assert_eq!((status, &body["scheduler"]), (503, &"stalled".into()));
    assert_eq!(body["database"], "ok");

    // A new pass makes it alive again; a closed database makes it unavailable, without
    // saying why.
    svc.run_once().await.unwrap();
    assert_eq!(healthz(addr).await.0, 200);
    db.close().await;
    let (status, body) = healthz(addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "unreachable");
    assert_eq!(body["scheduler"], "ok");
    assert_eq!(body["trackers"], serde_json::Value::Null);
    assert!(!body.to_string().to_lowercase().contains("pool"), "{body}");
}

/// The samples of an exposition, checked line by line against the text format: `# HELP`,
/// `# TYPE`, `# UNIT` comments naming a declared family, samples `NAME{LABELS} VALUE`,
/// and `# EOF` last.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT"), "{line}");
            assert!(name.starts_with("bugimporters_"), "{line}");
            if kind == "TYPE" {
                types.insert(name.to_owned(), parts.next().unwrap().to_owned());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        let family = ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| types.contains_key(*f))
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample of no family: {line}");
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_and_count_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = sqlite(dir.path(), "host.db").await;
    let trackers = servers(1, 12).await;
    add_trackers(&db, &trackers, &[]).await;
    let open = trackers[0].bugs().iter().filter(|b| !b.is_closed()).count() as f64;
    let clock = ManualClock::new(start());
    let svc = service(&db, &dir.path().join("spool"), &clock, 1);
    let addr = listen(&svc).await;

    let (status, ctype, before) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        ctype.starts_with("application/openmetrics-text; version=1.0.0")
            || ctype.starts_with("text/plain; version=0.0.4"),
        "{ctype}"
    );
    let before = parse_exposition(&before);
    for name in [
        "bugimporters_runs_started_total",
        "bugimporters_requests_total",
        "bugimporters_lease_takeovers_total",
        "bugimporters_queue_lag_seconds",
        "bugimporters_run_duration_seconds_count",
        "bugimporters_run_duration_seconds_sum",
        "bugimporters_trackers{state=\"due\"}",
        "bugimporters_trackers{state=\"idle\"}",
    ] {
        assert!(before.contains_key(name), "{name} missing: {before:?}");
    }
    assert_eq!(before["bugimporters_runs_started_total"], 0.0);
    assert_eq!(before["bugimporters_run_duration_seconds_count"], 0.0);

    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.ok), (1, 1), "{summary:?}");
    let (_, _, after) = get(addr, "/metrics").await;
    let after = parse_exposition(&after);
    assert_eq!(after["bugimporters_runs_started_total"], 1.0);
    assert_eq!(
        after["bugimporters_runs_finished_total{outcome=\"ok\"}"],
        1.0
    );
    assert_eq!(after["bugimporters_run_duration_seconds_count"], 1.0);
    assert_eq!(after["bugimporters_bugs_total{change=\"inserted\"}"], open);
    assert_eq!(after["bugimporters_bugs_total{change=\"updated\"}"], 0.0);
    assert_eq!(after["bugimporters_bugs_total{change=\"rejected\"}"], 0.0);
    assert!(after["bugimporters_requests_total"] >= 1.0, "{after:?}");
    assert_eq!(after["bugimporters_lease_takeovers_total"], 0.0);
    assert_eq!(after["bugimporters_trackers{state=\"due\"}"], 0.0);
    assert_eq!(after["bugimporters_trackers{state=\"idle\"}"], 1.0);
    assert_eq!(after["bugimporters_queue_lag_seconds"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_assets_and_pages_carry_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = sqlite(dir.path(), "web.db").await;
    let svc = service(&db, dir.path(), &ManualClock::new(start()), 1);
    let addr = listen(&svc).await;
    #[allow(
        clippy::disallowed_methods,
        reason = "the service's own loopback server, not a tracker"
    )]
    let client = reqwest::Client::new();

    let css = client
        .get(format!("http://{addr}/static/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains("main {"));

    let missing = client
        .get(format!("http://{addr}/no/such/page?x=<b>"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let headers = missing.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let body = missing.text().await.unwrap();
    assert!(
        body.contains("<title>Not found · bugimporters</title>"),
        "{body}"
    );
    assert!(
        body.contains(r#"href="/login""#),
        "anonymous users see the login link: {body}"
    );
}
