//! Crawl throughput against the synthetic server, compared with the lower bound
//! `requests × latency / server concurrency`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

/// `bench crawl` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Protocols to crawl: trac, bugzilla, github.
    #[arg(long, value_delimiter = ',', default_value = "trac,bugzilla,github")]
    kinds: Vec<String>,
    /// Number of bugs.
    #[arg(long, default_value_t = 10_000)]
    bugs: usize,
    /// Latencies to test, in milliseconds.
    #[arg(long, value_delimiter = ',', default_value = "0,20")]
    latency_ms: Vec<u64>,
    /// Server concurrency limits to test.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    server_concurrency: Vec<usize>,
    /// The crawler binary.
    #[arg(long, default_value = "target/release/bugimporters")]
    crawler: PathBuf,
    /// Extra arguments for `crawl` (e.g. `--per-host 16`).
    #[arg(long, allow_hyphen_values = true)]
    crawl_args: Vec<String>,
}

fn config(kind: &str, server: &SyntheticServer) -> String {
    match kind {
        "trac" => format!(
            "- tracker_name: bench-trac\n  bugimporter: trac\n  base_url: {}\n  max_connections: 16\n  queries: ['{}query?format=csv&id=!0&col=id&order=id&max=500&page=1']\n",
            server.trac_url(),
            server.trac_url()
        ),
        "bugzilla" => format!(
            "- tracker_name: bench-bugzilla\n  bugimporter: bugzilla\n  base_url: {}\n  bug_project_name_format: '{{product}}'\n  max_connections: 16\n  queries: ['{}buglist.cgi?product=Synthetic']\n",
            server.bugzilla_url(),
            server.bugzilla_url()
        ),
        "github" => format!(
            "- tracker_name: bench-github\n  bugimporter: github\n  github_name: synthetic\n  github_repo: repo\n  api_url: {}\n  queries: ['{}/repos/synthetic/repo/issues?state=all&per_page=100']\n",
            server.github_api_url(),
            server.github_api_url()
        ),
        other => panic!("unknown kind {other}"),
    }
}

/// Runs `cmd` under `/usr/bin/time -f %M` when available; returns (status, peak RSS in KiB).
pub fn run_measured(mut cmd: Command) -> anyhow::Result<(std::process::ExitStatus, Option<u64>)> {
    let time = std::path::Path::new("/usr/bin/time");
    if time.exists() {
        let mut wrapped = Command::new(time);
        wrapped
            .arg("-f")
            .arg("%M")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        let out = wrapped.output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss = stderr.lines().last().and_then(|l| l.trim().parse().ok());
        Ok((out.status, rss))
    } else {
        let out = cmd.output()?;
        Ok((out.status, None))
    }
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    println!(
        "{:9} {:>6} {:>4} {:>5} | {:>8} {:>8} {:>8} {:>9} {:>8} {:>7}",
        "protocol",
        "bugs",
        "ms",
        "srvC",
        "wall s",
        "bugs/s",
        "requests",
        "bound s",
        "wall/bnd",
        "rss MB"
    );
    for kind in &a.kinds {
        for &latency in &a.latency_ms {
            for &conc in &a.server_concurrency {
                let server = SyntheticServer::start(SyntheticConfig {
                    bugs: a.bugs,
                    latency: Duration::from_millis(latency),
                    concurrency: Some(conc),
                    ..SyntheticConfig::default()
                })
                .await?;
                let dir = tempfile_dir()?;
                let cfg = dir.join("config.yaml");
                std::fs::write(&cfg, config(kind, &server))?;
                let out = dir.join("out.jsonl");
                let mut cmd = Command::new(&a.crawler);
                cmd.args([
                    "crawl",
                    "--no-progress",
                    "--allow-network",
                    "127.0.0.0/8",
                    "-i",
                ])
                .arg(&cfg)
                .arg("-o")
                .arg(&out)
                .args(&a.crawl_args)
                .env("RUST_LOG", "error");
                let start = Instant::now();
                let (status, rss) =
                    tokio::task::spawn_blocking(move || run_measured(cmd)).await??;
                let wall = start.elapsed().as_secs_f64();
                let lines = std::fs::read_to_string(&out)
                    .map(|t| t.lines().count())
                    .unwrap_or(0);
                let requests = server.requests();
                let bound = requests as f64 * latency as f64 / 1000.0 / conc as f64;
                println!(
                    "{:9} {:>6} {:>4} {:>5} | {:>8.2} {:>8.0} {:>8} {:>9.2} {:>8} {:>7}{}",
                    kind,
                    lines,
                    latency,
                    conc,
                    wall,
                    lines as f64 / wall,
                    requests,
                    bound,
                    if bound > 0.0 {
                        format!("{:.2}", wall / bound)
                    } else {
                        "-".to_owned()
                    },
                    rss.map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
                    if status.success() {
                        String::new()
                    } else {
                        format!("  (exit {status})")
                    }
                );
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "bugimporters-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
