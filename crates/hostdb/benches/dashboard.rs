//! The web pages' read queries at size: `BENCH_TRACKERS` Trac trackers (default 200) of
//! `BENCH_BUGS` bugs each (default 500: 100 000 bugs), then the time of the dashboard's full
//! read (`tracker_rows` of every tracker), of one row (what the live dashboard asks for when
//! `/events` names a tracker), of the totals per project and of the finder's filter choices,
//! best of `BENCH_REPEAT` (default 5).
//!
//! ```text
//! cargo bench -p bugimporters-hostdb --bench dashboard               # SQLite
//! BUGIMPORTERS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! BUGIMPORTERS_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo bench -p bugimporters-hostdb --bench dashboard             # + PostgreSQL, MariaDB
//! ```
//! Under `cargo test --all-targets` it runs once with 5 × 20 bugs, as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use bugimporters_hostdb::{HostDb, ImportOptions, ImportSource, TrackerFilter};
use common::{registry, TestDb, MYSQL_ENV, POSTGRES_ENV};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `trackers` Trac trackers `t0000`… on hosts `t0000.example`…, `bugs` bugs each (a quarter
/// closed, a third bite-sized, a fifth documentation).
async fn fill(db: &HostDb, trackers: usize, bugs: usize) {
    let reg = registry();
    let mut lines = Vec::with_capacity(trackers * bugs);
    for t in 0..trackers {
        let name = format!("t{t:04}");
        let base = format!("https://{name}.example/trac/");
        let c =
            bugimporters_hostdb::tracker_from_args("trac", &name, Some(&base), &[], &[]).unwrap();
        db.add_tracker(&reg, &c, None).await.unwrap();
        for b in 0..bugs {
            lines.push(
                serde_json::json!({
                    "canonical_bug_link": format!("{base}ticket/{b}"),
                    "title": format!("bug {b} of {name}"),
                    "last_polled": "2026-12-01T00:00:00",
                    "looks_closed": b % 4 == 0,
                    "good_for_newcomers": b % 3 == 0,
                    "concerns_just_documentation": b % 5 == 0,
                    "_tracker_name": name,
                    "_project_name": format!("p{}", t % 20),
                })
                .to_string(),
            );
        }
    }
    let mut options = ImportOptions::new(Arc::new(reg));
    options.capture_events = false;
    let s = db
        .import(
            vec![ImportSource::text("bench.jsonl", lines.join("\n"))],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(s.inserted as usize, trackers * bugs, "{s:?}");
    db.sync_schedule(bugimporters_core::time::now_naive())
        .await
        .unwrap();
}

/// The best time of `repeat` runs of `f`, in milliseconds.
async fn best<T>(repeat: usize, mut f: impl AsyncFnMut() -> T) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        std::hint::black_box(f().await);
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    best
}

async fn bench(label: &str, tdb: TestDb, trackers: usize, bugs: usize, repeat: usize) {
    let db = tdb.connect().await;
    fill(&db, trackers, bugs).await;
    let now = bugimporters_core::time::now_naive();
    let all = TrackerFilter::default();
    let rows = db.tracker_rows(&all, now).await.unwrap();
    assert_eq!(rows.len(), trackers);
    assert_eq!(rows[0].bugs as usize, bugs);
    let mut one = TrackerFilter::default();
    one.trackers = vec![format!("t{:04}", trackers / 2)];
    let full = best(repeat, async || db.tracker_rows(&all, now).await.unwrap()).await;
    let row = best(repeat, async || db.tracker_rows(&one, now).await.unwrap()).await;
    let totals = best(repeat, async || db.project_totals(None).await.unwrap()).await;
    let facets = best(repeat, async || db.bug_facets().await.unwrap()).await;
    println!(
        "{label:<10} {trackers} trackers × {bugs} bugs: every row {full:8.1} ms, one row {row:7.2} ms, \
         totals per project {totals:7.1} ms, finder choices {facets:7.1} ms (best of {repeat})"
    );
    db.close().await;
    tdb.cleanup().await;
}

#[tokio::main]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let trackers = env("BENCH_TRACKERS", if benching { 200 } else { 5 });
    let bugs = env("BENCH_BUGS", if benching { 500 } else { 20 });
    let repeat = env("BENCH_REPEAT", if benching { 5 } else { 1 });
    bench("sqlite", TestDb::sqlite().await, trackers, bugs, repeat).await;
    if let Some(db) = TestDb::server(POSTGRES_ENV).await {
        bench("postgres", db, trackers, bugs, repeat).await;
    }
    if let Some(db) = TestDb::server(MYSQL_ENV).await {
        bench("mariadb", db, trackers, bugs, repeat).await;
    }
}
