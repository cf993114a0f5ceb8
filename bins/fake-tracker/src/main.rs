//! `fake-tracker`: serve N synthetic bugs on 127.0.0.1 through the Trac, Bugzilla (XML) and
//! GitHub protocols, with optional latency, concurrency limit and injected faults, until
//! interrupted (or for `--seconds`). `--trackers N` serves N Trac trackers instead (seeds SEED
//! .. SEED+N-1) behind one port, tracker i under `/t{i}/`, and writes their Trac URLs to
//! `--urls FILE`, one a line: the many small trackers of the service benchmark
//! (`bench/serve_bench.py`).

use std::time::Duration;

use bugimporters_testkit::synthetic::{Faults, SyntheticConfig, SyntheticFleet, SyntheticServer};
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
    /// Serve this many Trac trackers behind the one port (each with --bugs bugs, seeds SEED,
    /// SEED+1, ...; tracker i under /t{i}/trac/).
    #[arg(long, default_value_t = 1)]
    trackers: usize,
    /// With --trackers: write the servers' Trac URLs here, one a line, once all listen
    /// (written to FILE.partial and renamed, so a reader never sees half the list).
    #[arg(long, value_name = "FILE")]
    urls: Option<std::path::PathBuf>,
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
    let requests: Box<dyn Fn() -> u64> = if a.trackers > 1 || a.urls.is_some() {
        let fleet = many(&a, cfg).await?;
        Box::new(move || fleet.requests())
    } else {
        let server = SyntheticServer::start_on(cfg, a.port).await?;
        println!("trac     {}", server.trac_url());
        println!("bugzilla {}", server.bugzilla_url());
        println!(
            "github   {} (repos/synthetic/repo)",
            server.github_api_url()
        );
        Box::new(move || server.requests())
    };
    if a.seconds > 0 {
        tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    } else {
        tokio::signal::ctrl_c().await?;
    }
    eprintln!("{} requests served", requests());
    Ok(())
}

/// `--trackers N`: N Trac trackers behind one port (tracker i under `/t{i}/`), their Trac
/// URLs written to `--urls` (standard output without it).
async fn many(a: &Args, cfg: SyntheticConfig) -> anyhow::Result<SyntheticFleet> {
    use anyhow::Context;
    let configs = (0..a.trackers)
        .map(|i| SyntheticConfig {
            seed: a.seed.wrapping_add(i as u64),
            ..cfg.clone()
        })
        .collect();
    let fleet = SyntheticFleet::start(configs, a.port)
        .await
        .with_context(|| format!("starting {} trackers", a.trackers))?;
    let list: String = (0..fleet.len())
        .map(|i| format!("{}\n", fleet.trac_url(i)))
        .collect();
    match &a.urls {
        Some(path) => {
            let partial = path.with_extension("partial");
            std::fs::write(&partial, &list)
                .with_context(|| format!("writing {}", partial.display()))?;
            std::fs::rename(&partial, path)
                .with_context(|| format!("renaming to {}", path.display()))?;
        }
        None => print!("{list}"),
    }
    eprintln!("{} trackers listening", fleet.len());
    Ok(fleet)
}
