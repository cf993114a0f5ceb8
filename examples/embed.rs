//! Embedding the crawler in another tokio service: build the registry once, crawl a
//! configuration held in memory, and consume the bugs as they arrive through your own sink
//! (here: count them per project), with the run report as the result.
//!
//! ```sh
//! cargo run -p bugimporters-crawl --example embed
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bugimporters_core::{ConfigFormat, Error, ParsedBug};
use bugimporters_crawl::{run_crawl, BugSink, CrawlOptions};

/// A sink that keeps counts instead of writing a file.
#[derive(Clone, Default)]
struct CountPerProject(Arc<Mutex<BTreeMap<String, u64>>>);

impl BugSink for CountPerProject {
    fn write_bug(&mut self, bug: &ParsedBug) -> Result<(), Error> {
        let project = bug.project_name.clone().unwrap_or_default();
        *self.0.lock().expect("lock").entry(project).or_default() += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = bugimporters_all::default_registry();
    // Replay the hand-made fixture of the test-only tracker so the example runs offline.
    let mut registry = registry;
    bugimporters_testkit::register(&mut registry);
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/testkit/replay");
    let config = std::fs::read_to_string(fixtures.join("config.yaml"))?;
    let configs = bugimporters_core::load_config_str(&config, ConfigFormat::Yaml)?;

    let mut options = CrawlOptions::default();
    options.fetch.replay_dir = Some(fixtures);
    let sink = CountPerProject::default();
    let report = run_crawl(&registry, configs, options, sink.clone()).await?;

    for (project, n) in sink.0.lock().expect("lock").iter() {
        println!("{project}: {n} records");
    }
    println!(
        "{} trackers, {} failed, {} errors",
        report.totals.trackers, report.totals.trackers_failed, report.totals.errors
    );
    Ok(())
}
