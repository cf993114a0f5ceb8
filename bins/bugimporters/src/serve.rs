//! `bugimporters serve`: arguments → [`bugimporters_service::Service`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bugimporters_hostdb::{HostDb, DEFAULT_DATABASE_URL};
use bugimporters_service::{Service, ServiceConfig};
use clap::Args;

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The host database: sqlite://FILE, postgres://..., mysql://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub db: String,
    /// Address of the HTTP server (/healthz, /metrics).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Run the queued webhook refreshes and every due tracker once, then exit (for cron): 0 all
    /// well, 1 some failed, 2 unusable.
    #[arg(long)]
    pub once: bool,
    /// Runs at once in this process.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Where each run's JSON lines are written before import (default: DATA_DIR/spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// How long spooled runs are kept (e.g. 12h, 7d).
    #[arg(long, default_value = "7d", value_parser = interval)]
    pub spool_keep: Duration,
    /// Lease length: a crashed process's trackers are taken over after this (e.g. 5m).
    #[arg(long, default_value = "5m", value_parser = interval)]
    pub lease: Duration,
    /// Seconds between two looks for due trackers.
    #[arg(long, default_value_t = 5.0)]
    pub poll: f64,
    /// Runs of trackers of one host at once, over every process sharing the database.
    #[arg(long, default_value_t = 4)]
    pub host_budget: usize,
    /// Seconds running runs may go on after SIGTERM/SIGINT before they are stopped.
    #[arg(long, default_value_t = 30)]
    pub grace: u64,
    /// This process's name in leases and `customs status` (default HOST:PID).
    #[arg(long)]
    pub worker_id: Option<String>,
    /// The largest webhook body accepted (`POST /hooks/...`), in KiB; larger: 413.
    #[arg(long, default_value_t = 1024, value_name = "KIB")]
    pub webhook_max_body_kib: usize,
    /// The address people use to reach the web pages, e.g. `https://bugs.example.org/` (behind
    /// a TLS proxy): with https, session cookies are marked Secure.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<url::Url>,
    /// A reverse proxy in front sets X-Forwarded-For and X-Forwarded-Proto: trust them for the
    /// client address (login throttling) and for Secure cookies. Never set it without a proxy
    /// that overwrites those headers.
    #[arg(long)]
    pub trust_proxy: bool,
    /// The fetch layer's flags and the per-tracker deadline, as for `crawl` (limits are
    /// shared by every run of this process).
    #[command(flatten)]
    pub fetch: crate::cli::FetchArgs,
}

/// A duration: `0`, seconds (`30`), or a number and a unit (`90s`, `5m`, `1h`, `7d`, `1w`).
fn interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?}: expected a number and a unit (s, m, h, d, w), e.g. 30s, 5m")
    })?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (s, m, h, d, w)")),
    };
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

fn config(args: &ServeArgs) -> anyhow::Result<ServiceConfig> {
    if !(args.poll.is_finite() && args.poll > 0.0) {
        anyhow::bail!("--poll must be a positive number of seconds");
    }
    let fetch = args.fetch.fetch_config().map_err(anyhow::Error::msg)?;
    let mut c = ServiceConfig::default();
    c.workers = args.workers.max(1);
    if let Some(dir) = &args.spool {
        c.spool_dir = dir.clone();
    }
    c.spool_keep = args.spool_keep;
    c.lease = args.lease.max(Duration::from_secs(1));
    c.poll = Duration::from_secs_f64(args.poll);
    c.host_budget = args.host_budget.max(1);
    c.grace = Duration::from_secs(args.grace);
    c.listen = args.listen;
    c.fetch = fetch;
    c.tracker_timeout = args.fetch.tracker_timeout();
    c.secrets = args.fetch.secrets().map_err(anyhow::Error::msg)?;
    if let Some(id) = &args.worker_id {
        c.worker_id = id.clone();
    }
    if let Some(url) = &args.public_url {
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("--public-url must be an http:// or https:// URL, not {url}");
        }
        c.public_url = Some(url.clone());
    }
    c.trust_proxy = args.trust_proxy;
    c.webhook_max_body = args.webhook_max_body_kib.max(1).saturating_mul(1024);
    Ok(c)
}

pub async fn run(
    registry: bugimporters_core::Registry,
    args: ServeArgs,
) -> anyhow::Result<ExitCode> {
    let unusable = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        Ok(ExitCode::from(2))
    };
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return unusable(&e),
    };
    let _lock = match bugimporters_service::instance_lock(&args.db) {
        Ok(l) => l,
        Err(e) => return unusable(&e),
    };
    let db = match HostDb::connect(&args.db).await {
        Ok(db) => db,
        Err(e) => return unusable(&e),
    };
    let service = match Service::new(db, Arc::new(registry), config) {
        Ok(s) => s,
        Err(e) => return unusable(&e),
    };
    let result = if args.once {
        service.run_once().await
    } else {
        service
            .serve(bugimporters_service::shutdown_on_signals())
            .await
    };
    match result {
        Ok(summary) => {
            eprintln!(
                "{} runs: {} ok, {} failed, {} lost their lease, {} stopped at shutdown; {} issues refreshed for webhooks",
                summary.runs, summary.ok, summary.failed, summary.lost, summary.released, summary.refreshed
            );
            eprintln!("{}", service.phase_totals().line());
            Ok(ExitCode::from(summary.exit_code()))
        }
        Err(e) => unusable(&e),
    }
}
