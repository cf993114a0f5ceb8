//! `fake-tracker`: serve N synthetic bugs on 127.0.0.1 through the Trac, Bugzilla (XML) and
//! GitHub protocols, with optional latency, concurrency limit and injected faults, until
//! interrupted (or for `--seconds`). `--trackers N` starts N such servers (seeds SEED ..
//! SEED+N-1, each on its own port) and writes their Trac URLs to `--urls FILE`, one a line:
//! the many small trackers of the service benchmark (`bench/serve_bench.py`).

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
    /// Start this many servers (each with --bugs bugs, seeds SEED, SEED+1, ...).
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
    let servers = if a.trackers > 1 || a.urls.is_some() {
        many(&a, cfg).await?
    } else {
        let server = SyntheticServer::start_on(cfg, a.port).await?;
        println!("trac     {}", server.trac_url());
        println!("bugzilla {}", server.bugzilla_url());
        println!(
            "github   {} (repos/synthetic/repo)",
            server.github_api_url()
        );
        vec![server]
    };
    if a.seconds > 0 {
        tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    } else {
        tokio::signal::ctrl_c().await?;
    }
    let requests: u64 = servers.iter().map(SyntheticServer::requests).sum();
    eprintln!("{requests} requests served");
    Ok(())
}

/// `--trackers N`: N servers on ephemeral ports, their Trac URLs written to `--urls`
/// (standard output without it).
async fn many(a: &Args, cfg: SyntheticConfig) -> anyhow::Result<Vec<SyntheticServer>> {
    use anyhow::Context;
    if a.port != 0 {
        anyhow::bail!("--port cannot be used with --trackers (each server takes a free port)");
    }
    let mut servers = Vec::with_capacity(a.trackers);
    let mut list = String::new();
    for i in 0..a.trackers {
        let mut c = cfg.clone();
        c.seed = a.seed.wrapping_add(i as u64);
        let server = SyntheticServer::start(c)
            .await
            .with_context(|| format!("starting server {} of {}", i + 1, a.trackers))?;
        list.push_str(&server.trac_url());
        list.push('\n');
        servers.push(server);
    }
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
    eprintln!("{} servers listening", servers.len());
    Ok(servers)
}
