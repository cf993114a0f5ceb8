//! The binary as users run it: exit statuses, `check`, and that secrets never leak.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bugimporters"));
    c.env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_USERNAME")
        .env_remove("GITHUB_PERSONAL_ACCESS_TOKEN");
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_reports_every_tracker_of_the_sample_configuration() {
    let out = run(bin()
        .args(["check", "--json", "-i"])
        .arg(root().join("examples/sample_configuration.yaml")));
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(entries.len(), 6);
    let registered: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(
        &run(bin().args(["trackers", "--json"])).stdout,
    )
    .unwrap()
    .iter()
    .map(|t| t["kind"].as_str().unwrap().to_owned())
    .collect();
    for e in &entries {
        let name = e["tracker_name"].as_str().unwrap();
        match e["importer"].as_str() {
            Some(kind) => {
                assert_eq!(e["ok"], true, "{name}: {e}");
                assert!(registered.iter().any(|k| k == kind));
            }
            None => {
                assert_eq!(e["ok"], false);
                assert!(
                    e["error"]
                        .as_str()
                        .unwrap()
                        .contains("unknown tracker type"),
                    "{e}"
                );
            }
        }
    }
    let all_ok = entries.iter().all(|e| e["ok"] == true);
    assert_eq!(out.status.code(), Some(if all_ok { 0 } else { 1 }));
}

#[test]
fn unusable_configuration_exits_2_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(&cfg, "{ this is: [not valid").unwrap();
    let out = run(bin()
        .args(["crawl", "-i"])
        .arg(&cfg)
        .arg("-o")
        .arg(dir.path().join("out.jsonl")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.yaml"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("out.jsonl").exists());

    let missing = run(bin().args(["crawl", "-i", "/nonexistent/config.yaml", "-o", "-"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/config.yaml"));
}

fn github_config(dir: &Path, api_url: &str, existing: &[String]) -> PathBuf {
    let cfg = dir.join("config.yaml");
    let existing: String = existing.iter().map(|u| format!("\n    - {u}")).collect();
    std::fs::write(
        &cfg,
        format!(
            "- tracker_name: secretive\n  bugimporter: github\n  github_name: o\n  github_repo: r\n  api_url: {api_url}\n  queries: ['{api_url}/repos/o/r/issues?state=open']\n  existing_bug_urls:{}\n",
            if existing.is_empty() { " []".to_owned() } else { existing }
        ),
    )
    .unwrap();
    cfg
}

const TOKEN: &str = "ghp_TOPSECRET0123456789";

#[tokio::test]
async fn tokens_never_appear_in_logs_reports_errors_or_output() {
    token_is_used_and_never_shown(|cmd, _| {
        cmd.env("GITHUB_TOKEN", TOKEN);
    })
    .await;
}

#[tokio::test]
async fn a_secrets_file_gives_the_token_instead_of_the_environment() {
    token_is_used_and_never_shown(|cmd, dir| {
        let file = dir.join("secrets.env");
        std::fs::write(
            &file,
            format!("# for the crawl\nexport GITHUB_TOKEN='{TOKEN}'\n"),
        )
        .unwrap();
        cmd.arg("--secrets-file").arg(file);
    })
    .await;
}

#[test]
fn a_bad_secrets_file_exits_2_naming_the_line_not_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.env");
    std::fs::write(&file, "GITHUB_TOKEN=ok\nghp_pasted_without_a_name\n").unwrap();
    let cfg = github_config(dir.path(), "https://api.github.com", &[]);
    let out = run(bin()
        .args(["crawl", "--no-progress", "--secrets-file"])
        .arg(&file)
        .arg("-i")
        .arg(&cfg)
        .arg("-o")
        .arg(dir.path().join("out.jsonl")));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("secrets.env, line 2"), "{err}");
    assert!(!err.contains("ghp_pasted"), "{err}");
}

/// One crawl of a GitHub mock whose list answers only with [`TOKEN`], given by `give` (which
/// may write files in the test's directory): the token is sent, and shown nowhere.
async fn token_is_used_and_never_shown(give: impl FnOnce(&mut Command, &Path)) {
    let server = MockServer::start().await;
    let api = format!("{}/api/v3", server.uri());
    // The Enterprise web host of that API root, where its issue pages live.
    let web = server.uri();
    // The list works only with the token; a refresh hits a 500 and a malformed body.
    Mock::given(path("/api/v3/repos/o/r/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(
                r#"[{{"number": 1, "title": "t", "state": "open", "html_url": "{web}/o/r/issues/1",
                    "user": {{"login": "u"}}, "labels": [], "comments": 0, "assignee": null,
                    "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z",
                    "body": "mentions {api}"}}]"#
            ),
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/repos/o/r/issues/2"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/repos/o/r/issues/3"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{not json", "application/json"))
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = github_config(
        dir.path(),
        &api,
        &[
            "https://github.com/o/r/issues/2".to_owned(),
            "https://github.com/o/r/issues/3".to_owned(),
        ],
    );
    let out_file = dir.path().join("out.jsonl");
    let report = dir.path().join("report.json");
    let mut cmd = bin();
    cmd.env("RUST_LOG", "trace")
        .args([
            "crawl",
            "--no-progress",
            "--retries",
            "1",
            "--allow-network",
            "127.0.0.0/8",
            "-i",
        ])
        .arg(&cfg)
        .arg("-o")
        .arg(&out_file)
        .arg("--report")
        .arg(&report);
    give(&mut cmd, dir.path());
    let out = run(&mut cmd);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().any(|r| r
            .headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().contains(TOKEN))),
        "the token was used"
    );
    let everything = [
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(&report).unwrap_or_default(),
        std::fs::read_to_string(&out_file).unwrap_or_default(),
    ];
    assert!(!everything[1].is_empty(), "trace logging produced output");
    for (what, t) in ["stdout", "stderr", "report", "output"]
        .iter()
        .zip(&everything)
    {
        assert!(!t.contains(TOKEN), "{what} leaks the token");
        assert!(!t.contains("TOPSECRET"), "{what} leaks part of the token");
    }
    assert!(
        everything[3].contains(&format!("{web}/o/r/issues/1")),
        "the healthy bug is written"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the failed refreshes are reported"
    );
}

#[test]
fn broken_pipe_is_not_an_error() {
    // As `bugimporters trackers | head -0`: the reader is gone before the first write.
    let mut child = bin()
        .args(["trackers"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// The README's first command, on a fresh directory: the whole pipeline on SQLite, and a
/// second round that sees the tracker's edits, closes and deletions.
#[test]
fn demo_runs_the_whole_pipeline_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let out = run(bin()
        .args([
            "demo",
            "--bugs",
            "120",
            "--db",
            &db,
            "--port",
            &port.to_string(),
        ])
        .arg("--dir")
        .arg(dir.path().join("files"))
        .env("RUST_LOG", "error"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let round = |n: u32| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("round {n}:")))
            .unwrap_or_else(|| panic!("no round {n} in {stdout}"))
            .to_owned()
    };
    assert!(round(1).contains("0 rejected"), "{}", round(1));
    let second = round(2);
    let updated: u32 = second
        .split(", ")
        .find_map(|part| part.strip_suffix(" updated")?.parse().ok())
        .unwrap_or_else(|| panic!("{second}"));
    assert!(
        updated > 0,
        "round 2 must see the tracker's changes: {second}"
    );
    assert!(second.contains("0 rejected"), "{second}");
    assert!(dir.path().join("files/bugs-2.jsonl").exists());
}

#[test]
fn trackers_prints_each_types_capabilities() {
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&run(bin().args(["trackers", "--json"])).stdout).unwrap();
    let caps = |kind: &str| {
        list.iter()
            .find(|t| t["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} not listed"))["capabilities"]
            .clone()
    };
    for t in &list {
        let c = &t["capabilities"];
        for key in [
            "incremental",
            "conditional_requests",
            "deletion_detection",
            "custom_parsers",
            "webhooks",
        ] {
            assert!(c[key].is_boolean(), "{}: {key} in {c}", t["kind"]);
        }
        assert!(c["auth"].as_array().is_some_and(|a| !a.is_empty()), "{c}");
    }
    assert_eq!(caps("github")["webhooks"], true);
    assert_eq!(caps("trac")["conditional_requests"], false);
    assert_eq!(caps("bugzilla")["custom_parsers"], true);
    assert_eq!(
        caps("redmine")["auth"],
        serde_json::json!(["anonymous", "api_key"])
    );

    let human = text(&run(bin().arg("trackers")).stdout);
    assert!(
        human.contains(
            "  capabilities: incremental, conditional_requests, deletion_detection, webhooks; \
             auth: anonymous, token, basic"
        ),
        "{human}"
    );
}

#[tokio::test]
async fn assigned_is_written_only_with_extended_fields() {
    let server = MockServer::start().await;
    let api = format!("{}/api/v3", server.uri());
    let web = server.uri();
    Mock::given(path("/api/v3/repos/o/r/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(
                r#"[{{"number": 1, "title": "t", "state": "open", "html_url": "{web}/o/r/issues/1",
                    "user": {{"login": "u"}}, "labels": [], "comments": 0,
                    "assignee": {{"login": "a"}}, "assignees": [{{"login": "a"}}],
                    "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z",
                    "body": ""}}]"#
            ),
            "application/json",
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = github_config(dir.path(), &api, &[]);
    let crawl = |extended: bool| {
        let out_file = dir.path().join(format!("out-{extended}.jsonl"));
        let mut cmd = bin();
        cmd.args([
            "crawl",
            "--no-progress",
            "--allow-network",
            "127.0.0.0/8",
            "-i",
        ])
        .arg(&cfg)
        .arg("-o")
        .arg(&out_file);
        if extended {
            cmd.arg("--extended-fields");
        }
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        std::fs::read_to_string(out_file).unwrap()
    };
    let original = crawl(false);
    assert!(
        original.contains("/o/r/issues/1") && !original.contains("assigned"),
        "{original}"
    );
    let extended = crawl(true);
    assert!(extended.contains(r#""assigned":true"#), "{extended}");
}
