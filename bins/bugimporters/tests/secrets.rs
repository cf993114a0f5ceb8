//! Untrusted trackers against the secrets and the logs (issue 13, points 4, 5 and 10), through
//! the real binary.
//!
//! * Every token-using tracker type reads its secret from the environment; its server answers
//!   every request with a redirect whose `Location` echoes the secret (in the path and in an
//!   `access_token=` parameter), and then a body echoing it. One `bugimporters crawl
//!   --record DIR` at debug level runs them all: the secrets are found 0 times in standard
//!   error, in the run report and in every file of the recording.
//! * A token given to `token_env` (instead of a variable name) and a GitHub query carrying
//!   `access_token=` are refused by `check` without echoing the value.
//! * A tracker name holding a newline, a carriage return and an ESC sequence cannot forge a
//!   log line; no ANSI colour is written when standard error is not a terminal.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One token-using tracker: its type, its record (`{root}` is its server root, `{env}` the
/// variable holding its secret) and, for Basic credentials, the user-name variable.
struct Case {
    name: &'static str,
    kind: &'static str,
    record: &'static str,
    user_env: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        name: "github",
        kind: "github",
        record: "github_name: o\n  github_repo: r\n  api_url: {root}\n  token_env: {env}\n  queries: ['{root}/repos/o/r/issues?state=all']",
        user_env: None,
    },
    Case {
        name: "gitlab",
        kind: "gitlab",
        record: "base_url: {root}\n  project: a/b\n  token_env: {env}\n  queries: ['{root}/api/v4/projects/a%2Fb/issues?state=all']",
        user_env: None,
    },
    Case {
        name: "gitea",
        kind: "gitea",
        record: "base_url: {root}\n  project: a/b\n  token_env: {env}\n  queries: ['{root}/api/v1/repos/a/b/issues?state=open']",
        user_env: None,
    },
    Case {
        name: "pagure",
        kind: "pagure",
        record: "base_url: {root}\n  project: rota\n  token_env: {env}\n  queries: ['{root}/api/0/rota/issues?status=Open']",
        user_env: None,
    },
    Case {
        name: "jira-bearer",
        kind: "jira",
        record: "base_url: {root}/\n  token_env: {env}\n  queries: ['{root}/rest/api/2/search?jql=project%20%3D%20HELLO']",
        user_env: None,
    },
    Case {
        name: "jira-basic",
        kind: "jira",
        record: "base_url: {root}/\n  email_env: {env}_USER\n  api_token_env: {env}\n  queries: ['{root}/rest/api/2/search?jql=project%20%3D%20HELLO']",
        user_env: Some("_USER"),
    },
    Case {
        name: "bugzilla",
        kind: "bugzilla",
        record: "base_url: {root}/\n  bugzilla_api: rest\n  api_key_env: {env}\n  queries: ['{root}/rest/bug?product=Hello']",
        user_env: None,
    },
    Case {
        name: "redmine",
        kind: "redmine",
        record: "base_url: {root}/\n  api_key_env: {env}\n  queries: ['{root}/issues.json?tracker_id=1']",
        user_env: None,
    },
    Case {
        name: "roundup",
        kind: "roundup",
        record: "base_url: {root}/\n  roundup_api: rest\n  closed_status: resolved\n  roundup_username_env: {env}_USER\n  roundup_password_env: {env}\n  queries: ['{root}/issue?@action=export_csv&@columns=id,title']",
        user_env: Some("_USER"),
    },
];

fn env_name(case: &Case) -> String {
    format!("LEAKTEST_{}", case.name.replace('-', "_").to_uppercase())
}

fn secret_of(case: &Case) -> String {
    format!("S3cr3tZq9{}Xv7", case.name.replace('-', ""))
}

fn user_of(case: &Case) -> String {
    format!("us3r{}", case.name.replace('-', ""))
}

/// The places a secret could hide: as is and percent-encoded.
fn occurrences(text: &str, secret: &str) -> usize {
    text.matches(secret).count()
}

fn files_text(dir: &Path) -> String {
    let mut all = String::new();
    for entry in walk(dir) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
        all.push('\n');
    }
    all
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Mounts, under `/{name}/`, a redirect echoing `secret` for every request, and under
/// `/{name}/leak/` a JSON body echoing it.
async fn mount_echo(server: &MockServer, name: &str, secret: &str) {
    let echo = serde_json::json!({
        "message": format!("unauthorised: {secret}"),
        "error": secret,
        "errorMessages": [secret],
    });
    Mock::given(path_regex(format!("^/{name}/leak/")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(echo.to_string().into_bytes(), "application/json")
                .insert_header("x-echo", secret),
        )
        .with_priority(1)
        .mount(server)
        .await;
    let location = format!(
        "{}/{name}/leak/{secret}?access_token={secret}&page=1",
        server.uri()
    );
    Mock::given(path_regex(format!("^/{name}/")))
        .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
        .with_priority(2)
        .mount(server)
        .await;
}

/// One `bugimporters crawl --record` of `config` in `d` with `--log-format format`: the
/// process output, the report text and the text of every recorded file.
async fn crawl(
    d: &Path,
    config: &str,
    envs: &[(String, String)],
    format: &str,
) -> (Output, String, String) {
    std::fs::write(d.join("config.yaml"), config).unwrap();
    let path = |n: &str| d.join(n).to_str().unwrap().to_owned();
    let args: Vec<String> = [
        "crawl",
        "--no-progress",
        "--retries",
        "0",
        "--timeout",
        "5",
        "--allow-network",
        "127.0.0.0/8",
        "--log-format",
        format,
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([
        "-i".into(),
        path("config.yaml"),
        "-o".into(),
        path("out.jsonl"),
    ])
    .chain(["--report".into(), path("report.json")])
    .chain(["--record".into(), path("rec")])
    .collect();
    let envs = envs.to_vec();
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bin(&args, &envs)
    })
    .await
    .unwrap();
    let report = std::fs::read_to_string(d.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report, files_text(&d.join("rec")))
}

fn run_bin(args: &[&str], envs: &[(String, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bugimporters"));
    cmd.args(args);
    for v in [
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "GITEA_TOKEN",
        "PAGURE_TOKEN",
        "JIRA_TOKEN",
        "BUGZILLA_API_KEY",
        "REDMINE_API_KEY",
        "NO_COLOR",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(envs.iter().map(|(k, v)| (k, v)));
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn echoed_secrets_reach_no_log_report_or_recording() {
    let server = MockServer::start().await;
    let mut config = String::new();
    let mut envs = Vec::new();
    // Roundup reads its query as a plain CSV export and sends its credentials with the REST
    // requests that follow: answer the export, echo on the REST requests.
    Mock::given(path_regex("^/roundup/issue$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(b"id,title\r\n1,one\r\n2,two\r\n".to_vec(), "text/csv"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    for case in CASES {
        let secret = secret_of(case);
        mount_echo(&server, case.name, &secret).await;
        let root = format!("{}/{}", server.uri(), case.name);
        let record = case
            .record
            .replace("{root}", &root)
            .replace("{env}", &env_name(case));
        config.push_str(&format!(
            "- tracker_name: {}\n  bugimporter: {}\n  {record}\n",
            case.name, case.kind
        ));
        envs.push((env_name(case), secret));
        if let Some(suffix) = case.user_env {
            envs.push((format!("{}{suffix}", env_name(case)), user_of(case)));
        }
    }
    envs.push(("RUST_LOG".into(), "debug".into()));
    let dir = tempfile::tempdir().unwrap();
    let (output, report_text, recording) = crawl(dir.path(), &config, &envs, "text").await;
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // The same crawl with JSON logs: scrubbed by the same writer.
    let json_dir = tempfile::tempdir().unwrap();
    let (json_out, json_report, json_recording) =
        crawl(json_dir.path(), &config, &envs, "json").await;
    let json_stderr = String::from_utf8_lossy(&json_out.stderr).into_owned();
    let json_lines = json_stderr
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(json_lines > 10, "JSON log lines: {json_stderr}");
    stderr.push_str(&json_stderr);
    let report_text = format!("{report_text}\n{json_report}");
    let recording = format!("{recording}\n{json_recording}");

    let requests = server.received_requests().await.unwrap();
    let mut problems = Vec::new();
    for case in CASES {
        let secret = secret_of(case);
        let mine: Vec<_> = requests
            .iter()
            .filter(|r| r.url.path().starts_with(&format!("/{}/", case.name)))
            .collect();
        // The test is only worth something if the secret was read and sent, and the echoing
        // redirect was followed (so the secret was in a URL the crawler handled).
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", user_of(case)));
        let sent = mine.iter().any(|r| {
            r.headers.values().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.contains(&secret) || v.contains(&basic))
            })
        });
        let followed = mine.iter().any(|r| r.url.path().contains("/leak/"));
        if !sent || !followed {
            problems.push(format!(
                "{}: secret sent {sent}, redirect followed {followed}",
                case.name
            ));
        }
        for (sink, text) in [
            ("stderr", &stderr),
            ("report", &report_text),
            ("recording", &recording),
        ] {
            let n = occurrences(text, &secret);
            if n > 0 {
                problems.push(format!("{}: secret {n} times in {sink}", case.name));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{problems:#?}\n--- stderr:\n{stderr}\n--- report:\n{report_text}"
    );
    assert!(stderr.contains("[REDACTED]"), "{stderr}");
    assert!(recording.contains("[REDACTED]"), "{recording}");
}

fn check(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.yaml");
    std::fs::write(&p, config).unwrap();
    let out = run_bin(&["check", "-i", p.to_str().unwrap()], &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_token_given_as_token_env_is_refused_without_echo() {
    let token = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    for (kind, extra) in [
        (
            "github",
            "github_name: o\n  github_repo: r\n  token_env: {t}",
        ),
        ("gitlab", "project: a/b\n  token_env: {t}"),
        (
            "bugzilla",
            "base_url: https://b.example/\n  api_key_env: {t}",
        ),
        (
            "redmine",
            "base_url: https://r.example/\n  api_key_env: {t}",
        ),
        ("jira", "base_url: https://j.example/\n  token_env: {t}"),
        (
            "roundup",
            "base_url: https://r.example/\n  roundup_password_env: {t}",
        ),
    ] {
        let config = format!(
            "- tracker_name: T\n  bugimporter: {kind}\n  {}\n",
            extra.replace("{t}", token)
        );
        let (code, text) = check(&config);
        assert_ne!(code, Some(0), "{kind}: {text}");
        assert!(text.contains("_env"), "{kind}: the key is named: {text}");
        assert!(
            !text.contains("AbCdEf"),
            "{kind}: the token is echoed: {text}"
        );
    }
}

#[test]
fn github_access_token_query_urls_are_refused() {
    let config = "- tracker_name: T\n  bugimporter: github\n  github_name: o\n  github_repo: r\n  \
                  queries: ['https://api.github.com/repos/o/r/issues?state=open&access_token=gho_SeCrEt1234']\n";
    let (code, text) = check(config);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("access_token=…"), "{text}");
    assert!(!text.contains("SeCrEt1234"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tracker_name_cannot_forge_log_lines_or_paint_the_terminal() {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/t/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let evil = "Evil\\nFORGED ERROR line\\r\\u001b[31mred";
    let config = format!(
        "- tracker_name: \"{evil}\"\n  bugimporter: trac\n  base_url: {0}/t/\n  queries: ['{0}/t/query?format=csv']\n",
        server.uri()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, config).unwrap();
    let out_path = dir.path().join("out.jsonl");
    let args: Vec<String> = [
        "crawl",
        "--no-progress",
        "--retries",
        "0",
        "--allow-network",
        "127.0.0.0/8",
        "-i",
        cfg.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bin(&args, &[("RUST_LOG".into(), "info".into())])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("Evil"), "the tracker is logged: {stderr}");
    for line in stderr.lines() {
        assert!(
            !line.starts_with("FORGED"),
            "a forged line: {line:?}\n{stderr}"
        );
    }
    assert!(!stderr.contains('\r'), "a raw CR: {stderr:?}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI sequences without a terminal: {stderr:?}"
    );
    assert!(stderr.contains("Evil\\nFORGED"), "escaped: {stderr}");
}
