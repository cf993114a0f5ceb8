//! `kill -9` of a crawl at 20 moments: the output never holds a partial record, and
//! `crawl --resume` completes it into exactly the output of an uninterrupted run, without
//! fetching again what a half-done tracker had already written.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

const NOW: &str = "2026-01-02T03:04:05";

fn config(server: &SyntheticServer) -> String {
    let t = server.trac_url();
    let g = server.github_api_url();
    format!(
        "- tracker_name: all tickets\n  bugimporter: trac\n  base_url: {t}\n  queries: ['{t}query?format=csv&id=!0&col=id&order=id&max=40&page=1']\n\
         - tracker_name: easy tickets\n  bugimporter: trac\n  base_url: {t}\n  bitesized_type: keywords\n  bitesized_text: easy\n  queries: ['{t}query?format=csv&keywords=~easy&col=id&order=id&max=40&page=1']\n\
         - tracker_name: issues\n  bugimporter: github\n  github_name: synthetic\n  github_repo: repo\n  api_url: {g}\n  queries: ['{g}/repos/synthetic/repo/issues?state=all&per_page=20']\n"
    )
}

fn crawl(cfg: &Path, out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bugimporters"));
    c.args([
        "crawl",
        "--no-progress",
        "--allow-network",
        "127.0.0.0/8",
        "--now",
        NOW,
        "--per-host",
        "2",
        "-i",
    ])
    .arg(cfg)
    .arg("-o")
    .arg(out)
    .env("RUST_LOG", "error")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if resume {
        c.arg("--resume");
    }
    c
}

/// The records of an output, sorted (a duplicate shows as a difference).
fn lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn partial(out: &Path) -> PathBuf {
    out.with_file_name(format!(
        "{}.partial",
        out.file_name().unwrap().to_string_lossy()
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_crawls_never_leave_half_records_and_resume_completes_them() {
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 120,
        latency: Duration::from_millis(3),
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, config(&server)).unwrap();

    let base = dir.path().join("base.jsonl");
    let started = Instant::now();
    let status = tokio::task::spawn_blocking({
        let (cfg, base) = (cfg.clone(), base.clone());
        move || crawl(&cfg, &base, false).status().unwrap()
    })
    .await
    .unwrap();
    let full_run = started.elapsed();
    assert!(status.success());
    let want = lines(&base);
    assert!(want.len() > 150, "{} records", want.len());

    // A fixed LCG: the same 20 kill moments on every run of the test.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    // Records that resumed runs kept from half-done trackers instead of fetching them again.
    let mut kept_mid_tracker = 0;
    for trial in 0..20 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = full_run.mul_f64((seed >> 11) as f64 / (1u64 << 53) as f64);
        let out = dir.path().join(format!("trial-{trial}.jsonl"));
        let mut child = crawl(&cfg, &out, false).spawn().unwrap();
        tokio::time::sleep(at).await;
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        if out.exists() {
            assert_eq!(
                lines(&out),
                want,
                "trial {trial}: a finished output is complete"
            );
        } else {
            // OUT.partial: every complete line is a whole record.
            if let Ok(bytes) = std::fs::read(partial(&out)) {
                let text = String::from_utf8_lossy(&bytes);
                for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                    serde_json::from_str::<serde_json::Value>(line.trim_end())
                        .unwrap_or_else(|e| panic!("trial {trial}: cut record {line:?}: {e}"));
                }
            }
        }
        let report = dir.path().join(format!("trial-{trial}.report.json"));
        let status = tokio::task::spawn_blocking({
            let (cfg, out, report) = (cfg.clone(), out.clone(), report.clone());
            move || {
                crawl(&cfg, &out, true)
                    .arg("--report")
                    .arg(&report)
                    .status()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        assert!(status.success(), "trial {trial}: resume failed");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        kept_mid_tracker += report["trackers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["resumed"].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(
            lines(&out),
            want,
            "trial {trial} (killed after {at:?}): resumed output differs"
        );
        assert!(!partial(&out).exists());
    }
    assert!(
        kept_mid_tracker > 0,
        "no trial was killed in the middle of a tracker; the test proves nothing of --resume"
    );
}
