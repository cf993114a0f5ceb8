//! Import throughput: 100 000 crawl records (JSON lines) into a fresh database, then the
//! same bugs with new titles (every record an update), then the same file again (unchanged),
//! printing records/s and the process's peak resident memory; each with change capture
//! (`bug_events`, as `import-results` always runs) and without it
//! (`ImportOptions::capture_events = false`), to show what capture costs.
//!
//! ```text
//! cargo bench -p bugimporters-hostdb --bench import               # SQLite
//! BUGIMPORTERS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! BUGIMPORTERS_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo bench -p bugimporters-hostdb --bench import             # + PostgreSQL, MariaDB
//! ```
//! `BENCH_RECORDS=N` changes the number of records; `BENCH_REPEAT=K` runs each mode K times,
//! alternating, and compares the best of each. Under `cargo test --all-targets` it runs
//! once with 1 000 records, as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::time::Instant;

use bugimporters_hostdb::{ImportOptions, ImportSource};
use common::{bug_line, registry, TestDb, CONFIG, MYSQL_ENV, POSTGRES_ENV};

/// Peak resident set size of this process, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn bench(
    label: &str,
    tdb: TestDb,
    paths: [&std::path::Path; 2],
    n: usize,
    capture: bool,
) -> [f64; 3] {
    let db = tdb.connect().await;
    let reg = registry();
    for c in bugimporters_core::load_config_str(CONFIG, bugimporters_core::ConfigFormat::Yaml)
        .unwrap()
        .into_iter()
        .flatten()
    {
        db.load_config(&reg, &c).await.unwrap();
    }
    let mut options = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    options.capture_events = capture;
    let mut rates = [0.0; 3];
    for (pass, what) in [
        (1, "insert"),
        (2, "update (new titles)"),
        (3, "same file again (unchanged)"),
    ] {
        let path = paths[usize::from(pass != 1)];
        let start = Instant::now();
        let s = db
            .import(vec![ImportSource::path(path)], &options)
            .await
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(s.rejected, 0);
        assert_eq!(s.records as usize, n);
        match pass {
            1 => assert_eq!(s.inserted as usize, n),
            2 => assert_eq!(s.updated as usize, n),
            _ => assert_eq!(s.unchanged as usize, n),
        }
        let events = db.event_bounds().await.unwrap().last;
        rates[pass - 1] = n as f64 / secs;
        println!(
            "{label:<14} {:<11} {what:<28} {n} records in {secs:6.2} s = {:>9.0} records/s, peak RSS {:.1} MiB, {events} events",
            if capture { "capture" } else { "no capture" },
            n as f64 / secs,
            peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
    db.close().await;
    tdb.cleanup().await;
    rates
}

/// Both runs of one database, and the ratio of their throughputs.
async fn compare(
    label: &str,
    make: impl AsyncFn() -> Option<TestDb>,
    paths: [&std::path::Path; 2],
    n: usize,
) {
    // Alternating, `BENCH_REPEAT` times each, the best of each kept: on a shared machine the
    // best run is the one least disturbed by others.
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut off, mut on) = ([0.0f64; 3], [0.0f64; 3]);
    for _ in 0..repeat.max(1) {
        for (capture, best) in [(false, &mut off), (true, &mut on)] {
            let Some(db) = make().await else { return };
            let rates = bench(label, db, paths, n, capture).await;
            for (b, r) in best.iter_mut().zip(rates) {
                *b = b.max(r);
            }
        }
    }
    println!(
        "{label:<14} capture / no capture throughput (best of {repeat}): insert {:.2}, update {:.2}, unchanged {:.2}",
        on[0] / off[0],
        on[1] / off[1],
        on[2] / off[2]
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: a quick smoke run.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 100_000 } else { 1_000 });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let path2 = dir.path().join("results2.jsonl");
    for (p, title, polled) in [
        (&path, "something is broken", "2013-01-01T00:00:00.123456"),
        (
            &path2,
            "something else is broken",
            "2013-01-02T00:00:00.123456",
        ),
    ] {
        let mut w = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
        for i in 0..n {
            let line = bug_line(
                &format!("https://twistedmatrix.com/trac/ticket/{i}"),
                "Twisted",
                &format!("bug number {i}: {title}"),
                polled,
            );
            writeln!(w, "{line}").unwrap();
        }
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "input: {n} records, {:.1} MiB of JSON lines; peak RSS before importing {:.1} MiB",
        size as f64 / (1 << 20) as f64,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    let paths = [path.as_path(), path2.as_path()];
    compare("SQLite", async || Some(TestDb::sqlite().await), paths, n).await;
    for (label, env) in [("PostgreSQL", POSTGRES_ENV), ("MariaDB", MYSQL_ENV)] {
        if std::env::var_os(env).is_none() {
            println!("{label:<14} skipped: set {env}");
            continue;
        }
        compare(label, async || TestDb::server(env).await, paths, n).await;
    }
}
