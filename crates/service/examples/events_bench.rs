//! Benchmark (printed figures, not a test): `GET /events` with many clients connected. Rounds
//! of imports change bugs; every client must receive every event; the latency of an event is
//! from its `at` (when the import transaction that wrote it began: an upper bound of the time
//! from its commit) to its receipt by a client (same machine, same clock).
//!
//! `cargo run --release -p bugimporters-service --example events_bench -- [DATABASE_URL]`
//! (default a SQLite file in a temporary directory; a server URL gets a fresh database,
//! dropped afterwards). `CLIENTS` (default 100), `ROUNDS` (default 40), `CHANGES` (bugs changed
//! per round, default 10).
//!
//! Two paths, measured apart: "service import" (the import then [`Service::events_changed`],
//! as a `serve` run does) and "import-results by hand" (another connection, nobody wakes the
//! reader: SQLite's 1 s poll, PostgreSQL's NOTIFY, MariaDB's 500 ms poll).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_hostdb::{tracker_from_args, HostDb, ImportOptions, ImportSource};
use bugimporters_service::{Service, ServiceConfig};
use tokio::sync::mpsc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One client: reads the stream, reports (event id, latency in ms) for every change event.
async fn client(addr: SocketAddr, tx: mpsc::UnboundedSender<(i64, f64)>) {
    let mut resp = loopback_client()
        .get(format!("http://{addr}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut buf = String::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let now = bugimporters_core::time::now_naive();
            // Only `id` and `at` (the first fields of the data): a whole JSON parse per
            // delivery would measure the benchmark's clients rather than the server.
            let field = |name: &str| {
                let from = data.find(&format!("\"{name}\":"))? + name.len() + 3;
                let rest = data[from..].trim_start_matches('"');
                let end = rest.find(['"', ','])?;
                Some(rest[..end].to_owned())
            };
            let (Some(id), Some(at)) = (field("id").and_then(|v| v.parse().ok()), field("at"))
            else {
                continue;
            };
            let at = bugimporters_core::time::parse_datetime(&at).unwrap();
            let ms = (now - at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            if tx.send((id, ms)).is_err() {
                return;
            }
        }
    }
}

fn line(i: usize, round: usize) -> String {
    serde_json::json!({
        "canonical_bug_link": format!("https://bench.example/trac/ticket/{i}"),
        "title": format!("bug {i}, version {round}"),
        "status": "new",
        "good_for_newcomers": true,
        "_tracker_name": "Bench",
        "_project_name": "Bench",
        "last_polled": format!("2030-01-01T00:00:{:02}.{:06}", round / 1_000_000 % 60, round % 1_000_000),
    })
    .to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    label: &str,
    service: &Service,
    importer: &HostDb,
    rx: &mut mpsc::UnboundedReceiver<(i64, f64)>,
    clients: usize,
    rounds: usize,
    changes: usize,
    first_round: usize,
    wake: bool,
) {
    let started = Instant::now();
    let mut expected = 0usize;
    for r in 0..rounds {
        let text: Vec<String> = (0..changes).map(|i| line(i, first_round + r)).collect();
        let s = importer
            .import(
                vec![ImportSource::text("bench.jsonl", text.join("\n"))],
                &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
            )
            .await
            .unwrap();
        assert_eq!(
            (s.rejected, (s.inserted + s.updated) as usize),
            (0, changes)
        );
        if wake {
            service.events_changed();
        }
        expected += changes * clients;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latencies = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while latencies.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((_, ms))) => latencies.push(ms),
            _ => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<32} {clients} clients, {} events × {clients} = {expected} deliveries expected, {} received in {secs:.1} s; latency ms p50 {:.1} p99 {:.1} max {:.1}",
        rounds * changes,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
}

#[tokio::main]
async fn main() {
    let clients = env("CLIENTS", 100);
    let rounds = env("ROUNDS", 40);
    let changes = env("CHANGES", 10);
    let dir = tempfile::tempdir().unwrap();
    let admin = std::env::args().nth(1);
    let (url, drop_name) = match &admin {
        None => (
            format!("sqlite://{}", dir.path().join("events.db").display()),
            None,
        ),
        Some(a) => {
            let name = format!("bi_events_bench_{:08x}", std::process::id());
            let db = HostDb::connect_unmigrated(a).await.unwrap();
            db.execute_raw(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            db.close().await;
            let (head, _) = a.rsplit_once('/').unwrap();
            (format!("{head}/{name}"), Some(name))
        }
    };
    let db = HostDb::connect(&url).await.unwrap();
    let registry = bugimporters_all::default_registry();
    let t = tracker_from_args(
        "trac",
        "Bench",
        Some("https://bench.example/trac/"),
        &[],
        &["https://bench.example/trac/query?format=csv".to_owned()],
    )
    .unwrap();
    db.add_tracker(&registry, &t, None).await.unwrap();
    let mut config = ServiceConfig::default();
    config.spool_dir = dir.path().join("spool");
    let service = Service::new(db.clone(), Arc::new(registry), config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (tx, mut rx) = mpsc::unbounded_channel();
    for _ in 0..clients {
        tokio::spawn(client(addr, tx.clone()));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "database {}, {clients} clients, {rounds} rounds of {changes} changed bugs, 50 ms apart",
        db.backend().name()
    );
    measure(
        "service import (woken)",
        &service,
        &db,
        &mut rx,
        clients,
        rounds,
        changes,
        1,
        true,
    )
    .await;
    let by_hand = HostDb::connect(&url).await.unwrap();
    measure(
        "import-results by hand",
        &service,
        &by_hand,
        &mut rx,
        clients,
        rounds,
        changes,
        1 + rounds,
        false,
    )
    .await;
    by_hand.close().await;
    db.close().await;
    if let (Some(a), Some(name)) = (&admin, drop_name) {
        let d = HostDb::connect_unmigrated(a).await.unwrap();
        let force = if a.starts_with("postgres") {
            " WITH (FORCE)"
        } else {
            ""
        };
        let _ = d
            .execute_raw(&format!("DROP DATABASE IF EXISTS {name}{force}"))
            .await;
        d.close().await;
    }
}

/// A plain HTTP client for the service's own loopback server (not a tracker: the fetch
/// layer's politeness and private-address guard are for trackers).
#[allow(clippy::disallowed_methods)]
fn loopback_client() -> reqwest::Client {
    reqwest::Client::new()
}
