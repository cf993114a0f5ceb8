//! What the crawl suites share: running `bugimporters crawl` on a configuration (loopback
//! allowed, no progress bar, `RUST_LOG=warn`) and reading back its exit status, stderr,
//! report and output.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// What one `bugimporters crawl` run left behind.
#[derive(Debug)]
pub struct CrawlRun {
    /// The exit status.
    pub code: Option<i32>,
    /// Everything written to stderr.
    pub stderr: String,
    /// The run report (`--report`).
    pub report: serde_json::Value,
    /// The output file (`-o`), JSON lines.
    pub output: String,
    /// Wall time of the process.
    pub elapsed: Duration,
}

impl CrawlRun {
    /// The report entry of tracker `name` (panics when it is missing).
    pub fn tracker(&self, name: &str) -> &serde_json::Value {
        self.report["trackers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tracker_name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from the report"))
    }
}

/// Runs `bugimporters crawl` on the YAML `config` with the extra flags `args`, allowing
/// 127.0.0.0/8 only, off the test's runtime.
pub async fn crawl(config: &str, args: &[&str]) -> CrawlRun {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || {
            Command::new(env!("CARGO_BIN_EXE_bugimporters"))
                .args(["crawl", "--no-progress"])
                .args(&args)
                .args(["--allow-network", "127.0.0.0/8", "-i"])
                .arg(dir.join("config.yaml"))
                .arg("-o")
                .arg(dir.join("out.jsonl"))
                .arg("--report")
                .arg(dir.join("report.json"))
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = std::fs::read_to_string(dir.path().join("report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    let output = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    CrawlRun {
        code: out.status.code(),
        report: serde_json::from_str(&report).unwrap(),
        stderr,
        output,
        elapsed,
    }
}
