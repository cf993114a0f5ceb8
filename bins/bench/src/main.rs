//! `bench`: benchmarks that print their figures (never timed unit tests). Run in release mode:
//!
//! ```sh
//! cargo build --release --bin bugimporters --bin bench
//! target/release/bench crawl            # synthetic server: 10 000 bugs, 0/20 ms, server concurrency 1/4/16
//! target/release/bench parse            # parse throughput per format
//! target/release/bench html-cost        # hostile HTML pages up to the cap: time, peak RSS
//! target/release/bench json-cost        # JSON bodies up to the body limit: time, peak RSS
//! target/release/bench hostile          # the hostile crawl's wall time, default settings
//! target/release/bench github-cost      # GitHub points: 10 000 repositories, first crawl and refresh
//! ```
//!
//! Results and the machine they were measured on go into `docs/performance.md`.

mod crawl;
mod github_cost;
mod hostile;
mod parse;

use clap::{Parser, Subcommand};

/// bugimporters benchmarks.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Crawl N synthetic bugs through a protocol, across latencies and server concurrency limits.
    Crawl(crawl::Args),
    /// Parse throughput (MB/s, bugs/s) of each tracker's parser on synthetic responses.
    Parse(parse::Args),
    /// Time and peak RSS of hostile HTML pages up to the HTML cap (Trac ticket parser).
    HtmlCost(hostile::HtmlArgs),
    /// Time and peak RSS of JSON bodies up to the body limit (GitHub issue-list parser).
    JsonCost(hostile::HtmlArgs),
    /// Wall time of the hostile crawl (tests/hostile.rs) with default settings.
    Hostile(hostile::CrawlArgs),
    /// GitHub rate-limit points of a first crawl and a refresh of many small repositories.
    GithubCost(github_cost::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crawl(a) => crawl::run(a).await,
        Command::Parse(a) => parse::run(a).await,
        Command::HtmlCost(a) => hostile::html(a),
        Command::JsonCost(a) => hostile::json(a),
        Command::Hostile(a) => hostile::crawl(a).await,
        Command::GithubCost(a) => github_cost::run(a).await,
    }
}
