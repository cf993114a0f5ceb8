//! The `customs` binary: load, add, list, show, edit, remove (never prompting in a script),
//! typos caught by the registry, and the accounts of the web pages (`customs user`).

use std::process::{Command, Stdio};

fn customs(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_customs"))
        .arg("--db")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn db_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}",
        dir.path().join("sub").join("host.db").display()
    )
}

#[test]
fn load_the_sample_configuration_then_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let url = db_url(&dir);
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/sample_configuration.yaml"
    );
    let (code, out, err) = customs(&url, &["load", sample]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 failed"), "{out}");
    // Loading again updates, creates nothing.
    let (code, out, _) = customs(&url, &["load", sample]);
    assert_eq!(code, 0);
    assert!(out.starts_with("0 trackers created"), "{out}");
    let (code, out, _) = customs(&url, &["list", "--json"]);
    assert_eq!(code, 0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(list
        .iter()
        .any(|t| t["tracker_name"] == "Twisted" && t["bugimporter"] == "trac"));
    let (code, out, _) = customs(&url, &["list"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.contains("openhatch") && out.contains("openhatch/oh-bugimporters"),
        "{out}"
    );
}

#[test]
fn add_edit_show_remove() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let url = db_url(&dir);
    let add = [
        "add-tracker",
        "github",
        "oh",
        "-o",
        "github_name=openhatch",
        "-o",
        "github_repo=oh-mainline",
        "--project",
        "OpenHatch",
    ];
    let (code, out, err) = customs(&url, &add);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = customs(&url, &add);
    assert_eq!(code, 2);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = customs(
        &url,
        &[
            "add-tracker",
            "githib",
            "x",
            "-o",
            "github_name=a",
            "-o",
            "github_repo=b",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("githib") && err.contains("github"), "{err}");
    let (code, _, err) = customs(
        &url,
        &[
            "add-tracker",
            "github",
            "y",
            "-o",
            "github_nam=a",
            "-o",
            "github_repo=b",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("github_nam"), "{err}");
    let (code, _, err) = customs(
        &url,
        &[
            "add-query",
            "oh",
            "https://api.github.com/repos/openhatch/oh-mainline/issues?state=open",
            "--description",
            "open issues",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = customs(
        &url,
        &[
            "edit",
            "oh",
            "-o",
            "bitesized_tag=easy",
            "-o",
            "max_connections:=2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = customs(&url, &["show", "oh", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bitesized_tag"], "easy");
    assert_eq!(v["max_connections"], 2);
    assert_eq!(v["created_for_project"], "OpenHatch");
    assert_eq!(v["queries"][0]["description"], "open issues");
    let (code, out, _) = customs(&url, &["show", "oh"]);
    assert_eq!(code, 0);
    assert!(out.contains("github_repo: oh-mainline"), "{out}");

    // No terminal, no --yes: refused at once, nothing removed.
    let (code, _, err) = customs(&url, &["remove", "oh"]);
    assert_eq!(code, 2);
    assert!(err.contains("--yes"), "{err}");
    let (code, out, _) = customs(&url, &["remove", "oh", "--yes"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("removed tracker \"oh\" (1 queries, 0 bugs)"),
        "{out}"
    );
    let (code, _, _) = customs(&url, &["show", "oh"]);
    assert_eq!(code, 2);
}

#[test]
fn migrate_prints_versions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let (code, out, err) = customs(&db_url(&dir), &["migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("initial"), "{out}");
}

#[test]
fn refresh_and_status() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let url = db_url(&dir);
    let (code, out, err) = customs(
        &url,
        &[
            "add-tracker",
            "trac",
            "Fast",
            "--base-url",
            "https://fast.example/trac/",
            "-o",
            "refresh_interval=5m",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = customs(
        &url,
        &[
            "add-tracker",
            "trac",
            "Bad",
            "--base-url",
            "https://b.example/",
            "-o",
            "refresh_interval=10s",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("\"Bad\"") && err.contains("minimum"), "{err}");

    let (code, out, err) = customs(&url, &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let e = &v[0];
    for key in [
        "name",
        "refresh_interval",
        "next_due",
        "last_started",
        "last_finished",
        "outcome",
        "consecutive_failures",
        "bugs",
        "last_worker",
    ] {
        assert!(e.get(key).is_some(), "{key} missing in {e}");
    }
    assert_eq!(e["name"], "Fast");
    assert_eq!(e["refresh_interval"], "5m");
    assert_eq!(e["next_due"], serde_json::Value::Null);

    let (code, out, _) = customs(&url, &["refresh", "Fast"]);
    assert_eq!((code, out.trim()), (0, "1 tracker(s) due now"));
    let (code, out, _) = customs(&url, &["refresh", "--all"]);
    assert_eq!((code, out.trim()), (0, "1 tracker(s) due now"));
    let (code, _, err) = customs(&url, &["refresh", "Nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("Nope"), "{err}");
    let (code, out, _) = customs(&url, &["status"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("NAME"), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("Fast  5m"), "{out}");
    let (_, out, _) = customs(&url, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v[0]["next_due"].is_string(), "{v}");
}

/// `customs` with `stdin` as standard input (a pipe: not a terminal).
fn customs_with_input(url: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_customs"))
        .arg("--db")
        .arg(url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_add_list_passwd_remove() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let url = db_url(&dir);
    let add = ["user", "add", "root", "--role", "admin"];
    // Empty and short passwords are refused, without showing them.
    let (code, _, err) = customs_with_input(&url, &add, "\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("password is empty"), "{err}");
    let (code, _, err) = customs_with_input(&url, &add, "tiny9\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("too short") && err.contains("10") && !err.contains("tiny9"),
        "{err}"
    );
    // A bad role is a usage error.
    let (code, _, _) = customs_with_input(&url, &["user", "add", "x", "--role", "god"], "");
    assert_eq!(code, 2);
    let (code, out, err) = customs_with_input(&url, &add, "a long password\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added user \"root\" (admin)"), "{out}");
    let (code, _, err) = customs_with_input(&url, &add, "a long password\n");
    assert_eq!(code, 2);
    assert!(err.contains("exists"), "{err}");
    let maint = ["user", "add", "mia", "--role", "maintainer"];
    assert_eq!(customs_with_input(&url, &maint, "mia's password\n").0, 0);
    let (code, out, _) = customs(&url, &["user", "list"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].starts_with("mia\tmaintainer\t") && lines[2].starts_with("root\tadmin\t"));
    // The stored password logs in; `passwd` changes it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let login = |pw: &str| {
        rt.block_on(async {
            let db = bugimporters_hostdb::HostDb::connect(&url).await.unwrap();
            let ok = db.authenticate("root", pw).await.unwrap().is_some();
            db.close().await;
            ok
        })
    };
    assert!(login("a long password"));
    let (code, out, err) =
        customs_with_input(&url, &["user", "passwd", "root"], "another long one\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions ended"), "{out}");
    assert!(!login("a long password") && login("another long one"));
    assert_eq!(
        customs_with_input(&url, &["user", "passwd", "nobody"], "another long one\n").0,
        2
    );
    let (code, out, _) = customs(&url, &["user", "remove", "mia"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = customs(&url, &["user", "remove", "mia"]);
    assert_eq!(code, 2);
    assert!(err.contains("no user named \"mia\""), "{err}");
}
