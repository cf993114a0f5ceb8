//! Webhook received → host database updated: latency percentiles at a steady rate of signed
//! GitHub deliveries, with the tracker API (the synthetic GitHub server) answering each
//! request after a fixed latency. Prints its figures (recorded in docs/performance.md).
//!
//! ```text
//! cargo bench -p bugimporters-service --bench webhooks            # release
//! cargo test  -p bugimporters-service --bench webhooks --release  # the same
//! cargo test  -p bugimporters-service --bench webhooks            # debug build (slower)
//! ```
//!
//! Knobs (environment): `BENCH_RATE` deliveries/s (100), `BENCH_SECONDS` (60),
//! `BENCH_LATENCY_MS` tracker latency (20), `BENCH_ISSUES` issues on the tracker (1000),
//! `BENCH_DATABASE_URL` (a SQLite file in a temporary directory by default; a
//! `postgres://…/DB` database must exist and be empty).
//!
//! Each delivery `i` first changes issue `i mod ISSUES` on the tracker to the title
//! `rev <i>`, then posts a signed `issues/edited` hook for it. A poller reads the titles in
//! the host database every 50 ms (`BENCH_POLL_MS`), over connections of its own: delivery `i` is done when its issue's title is `rev <j>`
//! with `j ≥ i` (a later change of the same issue includes it). Lost: not done 30 s after the
//! last delivery.

#[path = "../tests/support/http.rs"]
mod http_client;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_hostdb::{tracker_from_args, HostDb};
use bugimporters_service::{
    github_signature, FixedSecrets, Service, ServiceConfig, Shutdown, DEFAULT_SECRET_ENV,
};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

use http_client::http;

const SECRET: &str = "bench-webhook-secret";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

struct Sent {
    at: Vec<Option<Instant>>,
    done: Vec<Option<Instant>>,
}

async fn bench() {
    let rate = knob("BENCH_RATE", 100).max(1);
    let seconds = knob("BENCH_SECONDS", 60).max(1);
    let latency = knob("BENCH_LATENCY_MS", 20);
    let issues = knob("BENCH_ISSUES", 1000).max(1);
    let total = (rate * seconds) as usize;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("host.db").display()));
    let db = HostDb::connect(&url).await.expect("the database");
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: issues as usize,
        latency: Duration::from_millis(latency),
        ..SyntheticConfig::default()
    })
    .await
    .expect("the synthetic tracker");
    let opts = vec![
        "github_name=synthetic".to_owned(),
        "github_repo=repo".to_owned(),
        format!("api_url={}", server.github_api_url()),
    ];
    let c = tracker_from_args("github", "Bench", None, &opts, &[]).expect("a tracker");
    let registry = Arc::new(bugimporters_all::default_registry());
    db.add_tracker(&registry, &c, None).await.expect("added");

    let mut config = ServiceConfig::default();
    config.spool_dir = dir.path().join("spool");
    config.fetch = bugimporters_core::fetch::FetchConfig::for_loopback_tests();
    config.worker_id = "bench:1".into();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    config.listen = ([127, 0, 0, 1], port).into();
    let start = bugimporters_core::time::now_naive();
    let clock = ManualClock::new(start);
    let svc = Service::with_clock(db.clone(), registry, config, Arc::new(clock.clone()))
        .expect("a service");
    svc.set_webhook_secrets(Arc::new(
        FixedSecrets::new().with(DEFAULT_SECRET_ENV, SECRET),
    ));
    let first = svc.run_once().await.expect("the first run");
    assert_eq!(first.ok, 1, "{first:?}");
    let (stop, shutdown) = Shutdown::new();
    let serving = {
        let s = svc.clone();
        tokio::spawn(async move { s.serve(shutdown).await })
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..200 {
        if http(addr, "GET", "/healthz", &[], b"").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "webhooks: {rate} deliveries/s for {seconds} s ({total}), tracker latency {latency} ms, {issues} issues, database {}",
        db.backend().name()
    );

    let sent = Arc::new(Mutex::new(Sent {
        at: vec![None; total],
        done: vec![None; total],
    }));
    let statuses: Arc<Mutex<HashMap<u16, u64>>> = Arc::default();
    let poll_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The poller has its own connections: it must not take the service's.
    let observer = HostDb::connect(&url).await.expect("the database, again");
    let poller = tokio::spawn(poll_titles(
        observer,
        sent.clone(),
        issues,
        poll_stop.clone(),
    ));

    let base = server.base_url();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut posts = tokio::task::JoinSet::new();
    let began = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let n = (i as u64 % issues) + 1;
        sent.lock().unwrap_or_else(|e| e.into_inner()).at[i] = Some(Instant::now());
        server.set_title(n, &format!("rev {i}"), start);
        let body = serde_json::json!({
            "action": "edited",
            "issue": {"number": n},
            "repository": {"full_name": "synthetic/repo", "html_url": format!("{base}github/synthetic/repo")},
        })
        .to_string();
        let sig = github_signature(SECRET.as_bytes(), body.as_bytes());
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-github-event", "issues".to_owned()),
            ("x-github-delivery", format!("bench-{i}")),
            ("x-hub-signature-256", sig),
        ];
        let statuses = statuses.clone();
        posts.spawn(async move {
            let status = http(addr, "POST", "/hooks/github", &headers, body.as_bytes())
                .await
                .map_or(0, |(s, _)| s);
            *statuses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(status)
                .or_default() += 1;
        });
    }
    let sending = began.elapsed();
    while posts.join_next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .done
            .iter()
            .filter(|d| d.is_none())
            .count();
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    poll_stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = poller.await;
    let mut latencies: Vec<f64> = {
        let s = sent.lock().unwrap_or_else(|e| e.into_inner());
        s.at.iter()
            .zip(&s.done)
            .filter_map(|(a, d)| {
                Some(
                    d.as_ref()?
                        .saturating_duration_since(*a.as_ref()?)
                        .as_secs_f64(),
                )
            })
            .collect()
    };
    latencies.sort_by(f64::total_cmp);
    let lost = total - latencies.len();
    let statuses = statuses.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "  sent in {:.1} s; answers by status: {statuses:?}",
        sending.as_secs_f64()
    );
    println!(
        "  received → host DB updated: p50 {:.3} s, p90 {:.3} s, p99 {:.3} s, max {:.3} s; {} done, {lost} lost",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        latencies.len(),
    );
    println!(
        "  tracker requests: {:?}; target p99 < 2 s: {}",
        server.requests_by_kind(),
        if percentile(&latencies, 0.99) < 2.0 && lost == 0 {
            "met"
        } else {
            "NOT met"
        }
    );
    let _ = stop.send(true);
    let _ = serving.await;
}

/// Marks deliveries done as their titles reach the host database.
async fn poll_titles(
    db: HostDb,
    sent: Arc<Mutex<Sent>>,
    issues: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    // Per issue (delivery index mod issues): the next delivery index not seen done.
    let mut next: HashMap<usize, usize> = HashMap::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let bugs = db.bugs(Some("Bench")).await.unwrap_or_default();
        let now = Instant::now();
        mark_done(&sent, &bugs, &mut next, issues as usize, now);
        tokio::time::sleep(Duration::from_millis(poll_ms())).await;
    }
}

/// Marks the deliveries whose change `bugs` show (see [`poll_titles`]).
fn mark_done(
    sent: &Mutex<Sent>,
    bugs: &[bugimporters_hostdb::StoredBug],
    next: &mut HashMap<usize, usize>,
    issues: usize,
    now: Instant,
) {
    let mut s = sent.lock().unwrap_or_else(|e| e.into_inner());
    {
        for b in bugs {
            let Some(rev) = b
                .bug
                .title
                .as_deref()
                .and_then(|t| t.strip_prefix("rev "))
                .and_then(|r| r.parse::<usize>().ok())
            else {
                continue;
            };
            // Deliveries i ≡ rev (mod issues) up to rev changed this issue: all are in.
            let key = rev % issues;
            let mut i = next.get(&key).copied().unwrap_or(key);
            while i <= rev && i < s.done.len() {
                if s.done[i].is_none() {
                    s.done[i] = Some(now);
                }
                i += issues;
            }
            next.insert(key, i);
        }
    }
}

/// How often the poller reads the titles (`BENCH_POLL_MS`, 50 ms): the figures' resolution.
fn poll_ms() -> u64 {
    knob("BENCH_POLL_MS", 50).max(1)
}
