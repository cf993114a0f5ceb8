//! `fake-tracker`: serve N synthetic bugs on 127.0.0.1 through the Trac, Bugzilla (XML) and
//! GitHub protocols, with optional latency, concurrency limit and injected faults, until
//! interrupted (or for `--seconds`).

use std::time::Duration;

use bugimporters_testkit::synthetic::{Faults, SyntheticConfig, SyntheticServer};
use clap::Parser;

/// Serve a synthetic bug tracker on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Number of bugs.
    #[arg(long, default_value_t = 1000)]
    bugs: usize,
    /// Generator seed (same seed, same bugs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Requests answered at once (others wait); 0 = unlimited.
    #[arg(long, default_value_t = 0)]
    concurrency: usize,
    /// Share of requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered 429 with Retry-After: 1.
    #[arg(long, default_value_t = 0.0)]
    rate_limit_rate: f64,
    /// Stop after this many seconds (0 = run until interrupted).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cfg = SyntheticConfig {
        bugs: a.bugs,
        seed: a.seed,
        latency: Duration::from_millis(a.latency_ms),
        concurrency: (a.concurrency > 0).then_some(a.concurrency),
        faults: Faults {
            error_500: a.error_rate,
            rate_limit_429: a.rate_limit_rate,
            ..Faults::default()
        },
        ..SyntheticConfig::default()
    };
    let server = SyntheticServer::start_on(cfg, a.port).await?;
    println!("trac     {}", server.trac_url());
    println!("bugzilla {}", server.bugzilla_url());
    println!(
        "github   {} (repos/synthetic/repo)",
        server.github_api_url()
    );
    if a.seconds > 0 {
        tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    } else {
        tokio::signal::ctrl_c().await?;
    }
    eprintln!("{} requests served", server.requests());
    Ok(())
}
