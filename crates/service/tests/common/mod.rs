//! Helpers of the service tests: synthetic Trac trackers, host databases, the batch pipeline.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::{load_config_str, ConfigFormat, ParsedBug};
use bugimporters_crawl::{run_crawl, CrawlOptions, JsonLinesWriter};
use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_hostdb::{
    render_export, tracker_from_args, ExportFormat, HostDb, ImportOptions, ImportSource,
};
use bugimporters_service::{Service, ServiceConfig};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};
use chrono::NaiveDateTime;

/// `n` synthetic Trac servers of `bugs` bugs each (different seeds).
pub async fn servers(n: usize, bugs: usize) -> Vec<SyntheticServer> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            SyntheticServer::start(SyntheticConfig {
                bugs,
                seed: 7 + i as u64,
                latency: Duration::from_millis(0),
                ..SyntheticConfig::default()
            })
            .await
            .unwrap(),
        );
    }
    out
}

/// What `customs add-tracker trac NAME --base-url URL -o … -q QUERY` does, for each server.
pub async fn add_trackers(db: &HostDb, servers: &[SyntheticServer], options: &[String]) {
    let registry = bugimporters_all::default_registry();
    for (i, s) in servers.iter().enumerate() {
        let t = s.trac_url();
        let mut opts = vec![
            "bitesized_type=keywords".to_owned(),
            "bitesized_text=easy".to_owned(),
        ];
        opts.extend(options.iter().cloned());
        let query = format!("{t}query?format=csv&status=!closed&col=id&order=id&max=50&page=1");
        let c = tracker_from_args("trac", &name(i), Some(&t), &opts, &[query]).unwrap();
        db.add_tracker(&registry, &c, None).await.unwrap();
    }
}

/// The name of the `i`-th tracker.
pub fn name(i: usize) -> String {
    format!("Synthetic {i:02}")
}

/// The fetch settings of tests: loopback allowed, short back-offs.
pub fn fetch() -> FetchConfig {
    let mut f = FetchConfig::for_loopback_tests();
    f.retries = 1;
    f
}

/// A service on `db` with a manual clock, spooling into `spool`.
pub fn service(db: &HostDb, spool: &Path, clock: &ManualClock, workers: usize) -> Service {
    let mut config = ServiceConfig::default();
    config.workers = workers;
    config.spool_dir = spool.to_owned();
    config.fetch = fetch();
    config.worker_id = "test:1".into();
    Service::with_clock(
        db.clone(),
        Arc::new(bugimporters_all::default_registry()),
        config,
        Arc::new(clock.clone()),
    )
    .unwrap()
}

/// export-config → crawl → import-results, as the three binaries do, at `now`.
pub async fn batch_cycle(db: &HostDb, dir: &Path, round: u32, now: NaiveDateTime) {
    let yaml = render_export(&db.export_configs(None).await.unwrap(), ExportFormat::Yaml).unwrap();
    let configs = load_config_str(&yaml, ConfigFormat::Yaml).unwrap();
    let out = dir.join(format!("batch-{round}.jsonl"));
    let mut options = CrawlOptions::default();
    options.fetch = fetch();
    options.now = Some(now);
    let registry = bugimporters_all::default_registry();
    let writer = JsonLinesWriter::create(&out).unwrap();
    let report = run_crawl(&registry, configs, options, writer)
        .await
        .unwrap();
    assert!(!report.has_failures(), "{report:?}");
    let summary = db
        .import(
            vec![ImportSource::path(&out)],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(summary.exit_code(), 0, "{summary:?}");
}

/// The host database's content that both pipelines must agree on: every bug record (with
/// project and tracker) and the exported configuration (queries' `last_polled`, held links).
pub async fn content(db: &HostDb) -> (Vec<ParsedBug>, String) {
    let bugs = db
        .bugs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.bug)
        .collect();
    let export =
        render_export(&db.export_configs(None).await.unwrap(), ExportFormat::Json).unwrap();
    (bugs, export)
}

/// A SQLite host database in `dir`.
pub async fn sqlite(dir: &Path, name: &str) -> (String, HostDb) {
    let url = format!("sqlite://{}", dir.join(name).display());
    let db = HostDb::connect(&url).await.unwrap();
    (url, db)
}
