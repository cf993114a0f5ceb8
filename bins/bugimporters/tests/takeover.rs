//! Issue 13, points 1 and 2, end to end through the real binaries (`export-config` →
//! `bugimporters crawl` → `import-results`): a GitHub tracker whose `api_url` is the
//! attacker's server answers with another tracker's bug link and with `javascript:`/`data:`
//! links. The other tracker's bug is unchanged, and no script link is stored; a results file
//! written by hand (the crawl bypassed) is refused by `import-results` too.
//!
//! The binaries of the other packages are found beside this package's `bugimporters`: run
//! `cargo test --workspace` (which builds them all) rather than `-p bugimporters`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::{HostDb, ImportOptions, ImportSource};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LEGIT: &str = "http://legit.example/trac/ticket/7";

fn exe(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_bugimporters")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (it builds every binary)",
        path.display()
    );
    path
}

fn output(cmd: &mut Command) -> (Option<i32>, String) {
    let out: Output = cmd.env("RUST_LOG", "warn").output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// One issue of a GitHub issue list whose page is `html_url`.
fn issue(n: u32, html_url: &str, title: &str) -> serde_json::Value {
    serde_json::json!({
        "number": n, "title": title, "state": "open", "html_url": html_url,
        "user": {"login": "mallory"}, "labels": [], "comments": 0, "assignee": null,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z", "body": "b"
    })
}

/// The host: a Trac tracker holding one bug, and a GitHub tracker on the attacker's API.
async fn host(db: &str, api: &str) {
    let config = format!(
        "- {{tracker_name: legit, bugimporter: trac, base_url: 'http://legit.example/trac/'}}\n\
         - {{tracker_name: attacker, bugimporter: github, github_name: o, github_repo: r, \
         api_url: '{api}', queries: ['{api}/repos/o/r/issues?state=all']}}\n"
    );
    let registry = bugimporters_all::default_registry();
    let host = HostDb::connect(db).await.unwrap();
    for c in load_config_str(&config, ConfigFormat::Yaml).unwrap() {
        host.load_config(&registry, &c.unwrap()).await.unwrap();
    }
    let line = serde_json::json!({
        "canonical_bug_link": LEGIT, "title": "legit title", "_tracker_name": "legit",
        "_project_name": "legit", "last_polled": "2020-01-01T00:00:00"
    });
    let s = host
        .import(
            vec![ImportSource::text("seed.jsonl", line.to_string())],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(s.inserted, 1, "{:?}", s.rejections);
    host.close().await;
}

async fn stored(db: &str) -> Vec<bugimporters_hostdb::StoredBug> {
    let host = HostDb::connect(db).await.unwrap();
    let bugs = host.bugs(None).await.unwrap();
    host.close().await;
    bugs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_github_server_cannot_take_over_another_trackers_bug() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("host.db").display());
    let server = MockServer::start().await;
    let api = server.uri();
    let own = format!("{api}/o/r/issues/3");
    let body = serde_json::json!([
        issue(1, LEGIT, "pwned"),
        issue(2, "javascript:alert(document.cookie)", "script"),
        issue(4, "data:text/html,<script>alert(1)</script>", "data"),
        issue(3, &own, "the attacker's own issue"),
    ]);
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    host(&db, &api).await;
    let before = stored(&db).await;

    let config = dir.path().join("config.yaml");
    let (code, text) = output(
        Command::new(exe("export-config"))
            .args(["--db", &db, "-o"])
            .arg(&config),
    );
    assert_eq!(code, Some(0), "{text}");
    let out = dir.path().join("bugs.jsonl");
    let report = dir.path().join("report.json");
    let (code, text) = output(
        Command::new(exe("bugimporters"))
            .args(["crawl", "--no-progress", "--allow-network", "127.0.0.0/8"])
            .arg("-i")
            .arg(&config)
            .arg("-o")
            .arg(&out)
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(
        code,
        Some(1),
        "dropped records are errors of the run: {text}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains(&own), "{written}");
    for bad in [LEGIT, "javascript:", "data:"] {
        assert!(
            !written.contains(bad),
            "{bad} in the crawl output: {written}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let attacker = report["trackers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tracker_name"] == "attacker")
        .unwrap()
        .clone();
    let errors = attacker["errors"].to_string();
    assert_eq!(attacker["errors"].as_array().unwrap().len(), 3, "{errors}");
    assert!(
        errors.contains(LEGIT) && errors.contains("javascript:alert"),
        "{errors}"
    );

    let (code, text) = output(
        Command::new(exe("import-results"))
            .args(["--db", &db])
            .arg(&out),
    );
    assert_eq!(code, Some(0), "{text}");
    let after = stored(&db).await;
    let legit_before = before.iter().find(|b| b.bug.canonical_bug_link == LEGIT);
    let legit_after = after.iter().find(|b| b.bug.canonical_bug_link == LEGIT);
    assert_eq!(legit_after, legit_before, "the Trac bug is unchanged");
    assert_eq!(after.len(), 2, "the attacker's own issue went in");

    // The crawl bypassed: a results file claiming the bug, deleting it and adding scripts.
    let forged = [
        serde_json::json!({"canonical_bug_link": LEGIT, "title": "pwned",
            "_tracker_name": "attacker", "_project_name": "attacker",
            "last_polled": "2030-01-01T00:00:00"}),
        serde_json::json!({"canonical_bug_link": LEGIT, "_deleted": true,
            "_tracker_name": "attacker", "_project_name": "attacker",
            "last_polled": "2030-01-01T00:00:00"}),
        serde_json::json!({"canonical_bug_link": "javascript:alert(1)", "title": "x",
            "_tracker_name": "attacker", "_project_name": "attacker",
            "last_polled": "2030-01-01T00:00:00"}),
    ]
    .map(|v| v.to_string())
    .join("\n");
    let file = dir.path().join("forged.jsonl");
    std::fs::write(&file, forged).unwrap();
    let (code, text) = output(
        Command::new(exe("import-results"))
            .args(["--db", &db])
            .arg(&file),
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("\"legit\"") && text.contains("\"attacker\""),
        "the rejection names both trackers: {text}"
    );
    let last = stored(&db).await;
    assert_eq!(
        last.iter().find(|b| b.bug.canonical_bug_link == LEGIT),
        legit_before,
        "still unchanged"
    );
    assert!(last
        .iter()
        .all(|b| b.bug.canonical_bug_link.starts_with("http")));
}
