//! Benchmark (printed figures, not a test): N synthetic Trac trackers of 10 bugs each at
//! 0 ms, all due; `serve --once` (one Service, or three sharing the database) against the
//! batch pipeline (export → one crawl → import) of the same trackers.
//!
//! `cargo run --release -p bugimporters-service --example serve_bench -- N [DATABASE_URL]`
//! (default 100 trackers, a SQLite file in a temporary directory). A server URL gets a fresh
//! database per measurement (`CREATE DATABASE`), dropped afterwards.

use std::sync::Arc;
use std::time::Instant;

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_crawl::{run_crawl, CrawlOptions, JsonLinesWriter};
use bugimporters_hostdb::{
    render_export, tracker_from_args, ExportFormat, HostDb, ImportOptions, ImportSource,
};
use bugimporters_service::{Service, ServiceConfig};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

fn fetch() -> FetchConfig {
    let mut f = FetchConfig::for_loopback_tests();
    f.per_host_limit = 64;
    f
}

async fn fresh(
    base: &Option<String>,
    dir: &std::path::Path,
    tag: &str,
) -> (HostDb, Option<String>) {
    match base {
        None => {
            let url = format!("sqlite://{}", dir.join(format!("{tag}.db")).display());
            (HostDb::connect(&url).await.unwrap(), None)
        }
        Some(admin) => {
            let name = format!("bi_bench_{tag}_{:08x}", std::process::id());
            let a = HostDb::connect_unmigrated(admin).await.unwrap();
            a.execute_raw(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let (head, _) = admin.rsplit_once('/').unwrap();
            let url = format!("{head}/{name}");
            (HostDb::connect(&url).await.unwrap(), Some(url))
        }
    }
}

async fn load(db: &HostDb, servers: &[SyntheticServer]) {
    let registry = bugimporters_all::default_registry();
    for (i, s) in servers.iter().enumerate() {
        let t = s.trac_url();
        let q = format!("{t}query?format=csv&status=!closed&col=id&order=id&max=50&page=1");
        let c = tracker_from_args("trac", &format!("T{i:05}"), Some(&t), &[], &[q]).unwrap();
        db.add_tracker(&registry, &c, None).await.unwrap();
    }
}

async fn serve_once(
    db: &HostDb,
    url: Option<&str>,
    processes: usize,
    dir: &std::path::Path,
) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..processes {
        let db = match url {
            Some(u) => HostDb::connect(u).await.unwrap(),
            None => db.clone(),
        };
        let mut c = ServiceConfig::default();
        c.workers = 16;
        c.host_budget = 10_000;
        c.fetch = fetch();
        c.spool_dir = dir.join(format!("spool{p}"));
        c.worker_id = format!("bench:{p}");
        let svc = Service::new(db, Arc::new(bugimporters_all::default_registry()), c).unwrap();
        tasks.push(tokio::spawn(async move { svc.run_once().await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed().as_secs_f64()
}

async fn batch(db: &HostDb, dir: &std::path::Path) -> f64 {
    let start = Instant::now();
    let yaml = render_export(&db.export_configs(None).await.unwrap(), ExportFormat::Yaml).unwrap();
    let configs = load_config_str(&yaml, ConfigFormat::Yaml).unwrap();
    let out = dir.join("batch.jsonl");
    let mut o = CrawlOptions::default();
    o.fetch = fetch();
    let registry = bugimporters_all::default_registry();
    run_crawl(
        &registry,
        configs,
        o,
        JsonLinesWriter::create(&out).unwrap(),
    )
    .await
    .unwrap();
    db.import(
        vec![ImportSource::path(&out)],
        &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
    )
    .await
    .unwrap();
    start.elapsed().as_secs_f64()
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let server = args.get(2).cloned();
    let mut servers = Vec::new();
    for i in 0..n {
        let cfg = SyntheticConfig {
            bugs: 10,
            seed: i as u64 + 1,
            ..SyntheticConfig::default()
        };
        servers.push(SyntheticServer::start(cfg).await.unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let bugs = |db: HostDb| async move { db.bug_count().await.unwrap() };
    let label = if server.is_some() { "server" } else { "SQLite" };
    let (db, _) = fresh(&server, dir.path(), "batch").await;
    load(&db, &servers).await;
    let secs = batch(&db, dir.path()).await;
    let b = bugs(db).await;
    println!("{label} batch crawl+import: {n} trackers, {b} bugs, {secs:.2} s, {:.1} trackers/s, {:.0} bugs/s", n as f64 / secs, b as f64 / secs);
    let procs: &[usize] = if server.is_some() { &[1, 3] } else { &[1] };
    for &p in procs {
        let (db, url) = fresh(&server, dir.path(), &format!("serve{p}")).await;
        load(&db, &servers).await;
        let secs = serve_once(&db, url.as_deref(), p, &dir.path().join(format!("s{p}"))).await;
        let b = bugs(db).await;
        println!("{label} serve --once x{p}: {n} runs, {b} bugs, {secs:.2} s, {:.1} runs/s, {:.0} bugs/s", n as f64 / secs, b as f64 / secs);
    }
    println!(
        "peak RSS of the whole benchmark process: {:.0} MB",
        peak_rss_mb()
    );
}
