//! # bugimporters-crawl
//!
//! The engine behind `bugimporters crawl`: it reads the configuration (the original host's
//! YAML or JSON), keeps this shard's trackers, runs one importer per tracker concurrently
//! within the fetch layer's politeness, writes one [`ParsedBug`](bugimporters_core::ParsedBug)
//! JSON object per line, and returns a [`RunReport`].
//!
//! The output is written to `OUT.partial` beside `OUT` and renamed into place when the run
//! ends, so `OUT` never holds half a record, even if the process is killed (see
//! [`JsonLinesWriter`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), bugimporters_core::Error> {
//! use bugimporters_core::Registry;
//! use bugimporters_crawl::{load_config_file, CrawlOptions, JsonLinesWriter, run_crawl};
//!
//! let registry = Registry::new(); // register tracker crates here
//! let configs = load_config_file("config.yaml".as_ref())?;
//! let writer = JsonLinesWriter::create("bugs.jsonl".as_ref())?;
//! let report = run_crawl(&registry, configs, CrawlOptions::default(), writer).await?;
//! println!("{} bugs, {} errors", report.totals.bugs_emitted, report.totals.errors);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod commands;
mod engine;
mod report;
mod shard;
mod writer;

pub use commands::{check, parse_files, parse_options, tracker_list, CheckEntry, TrackerInfo};
pub use engine::{
    load_config_file, run_crawl, run_crawl_with_client, CrawlOptions, DEFAULT_TRACKER_TIMEOUT,
};
pub use report::{RunReport, TrackerReport};
pub use shard::Shard;
pub use writer::{BugSink, JsonLinesWriter, Resume, VecSink};
