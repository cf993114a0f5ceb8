//! The `import-results` binary: summary, file:line reports, stdin, exit statuses.

use std::io::Write;
use std::process::{Command, Stdio};

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::HostDb;

const CONFIG: &str = "- {tracker_name: openhatch, bugimporter: github, github_name: openhatch, github_repo: oh-bugimporters}";

fn line(n: u32) -> String {
    format!(
        r#"{{"canonical_bug_link": "https://github.com/openhatch/oh-bugimporters/issues/{n}", "title": "bug {n}", "_tracker_name": "openhatch", "_project_name": "openhatch", "last_polled": "2026-01-01T00:00:00"}}"#
    )
}

async fn setup(dir: &tempfile::TempDir) -> String {
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    let db = HostDb::connect(&url).await.unwrap();
    let registry = bugimporters_all::default_registry();
    for c in load_config_str(CONFIG, ConfigFormat::Yaml).unwrap() {
        db.load_config(&registry, &c.unwrap()).await.unwrap();
    }
    db.close().await;
    url
}

fn run(url: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_import-results"))
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

#[tokio::test]
async fn rejected_lines_are_named_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let url = setup(&dir).await;
    let file = dir.path().join("bugs.jsonl");
    std::fs::write(&file, format!("{}\n{{oops\n{}\n", line(1), line(2))).unwrap();
    let (code, out, err) = run(&url, &[file.to_str().unwrap()], "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("3 records: 2 inserted, 0 updated, 0 unchanged, 0 deleted, 1 rejected"),
        "{out}"
    );
    assert!(err.contains("bugs.jsonl:2: invalid JSON"), "{err}");
    // The same file again: nothing changes.
    let (code, out, _) = run(&url, &["--json", file.to_str().unwrap()], "");
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["inserted"].as_u64(), v["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
}

#[tokio::test]
async fn stdin_and_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let url = setup(&dir).await;
    let (code, out, err) = run(&url, &["-"], &format!("{}\n{}\n", line(1), line(2)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 inserted"), "{out}");
}

#[tokio::test]
async fn unusable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = setup(&dir).await;
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"canonical_bug_link\": ").unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, line(3)).unwrap();
    let missing = dir.path().join("missing.jsonl");
    let (code, out, err) = run(
        &url,
        &[
            broken.to_str().unwrap(),
            good.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("1 inserted"),
        "the usable file still goes in: {out}"
    );
    assert!(
        err.contains("broken.json") && err.contains("missing.jsonl"),
        "{err}"
    );
    let (code, _, err) = run("oracle://nowhere/db", &[good.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[tokio::test]
async fn a_killed_import_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let url = setup(&dir).await;
    let file = dir.path().join("big.jsonl");
    let text: Vec<String> = (0..60_000).map(line).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_import-results"))
        .args(["--db", &url, "--batch-size", "1000", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = child.kill(); // SIGKILL: no chance to finish the batch in flight
    let _ = child.wait();
    let db = HostDb::connect(&url).await.unwrap();
    let n = db.bug_count().await.unwrap();
    db.close().await;
    println!("killed after {n} bugs");
    assert_eq!(n % 1000, 0, "{n} bugs: not a whole number of batches");
    // Running it again completes the import.
    let (code, out, err) = run(&url, &[file.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{} inserted", 60_000 - n)), "{out}");
}

/// Two `import-results` processes at once against one PostgreSQL / MariaDB server (a database
/// of its own, dropped afterwards): every bug ends with its newest record.
async fn two_processes(env: &str) {
    let Ok(admin_url) = std::env::var(env) else {
        if std::env::var_os("CI").is_some() {
            panic!("{env} is not set, and CI is (see docs/host-database.md)");
        }
        println!("skipped: set {env} (see docs/host-database.md)");
        return;
    };
    let name = format!(
        "bi_cli_{:016x}",
        std::process::id() as u64 * 7919 + env.len() as u64
    );
    let admin = HostDb::connect_unmigrated(&admin_url).await.unwrap();
    admin
        .execute_raw(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let db = HostDb::connect(&url).await.unwrap();
    let registry = bugimporters_all::default_registry();
    for c in load_config_str(CONFIG, ConfigFormat::Yaml).unwrap() {
        db.load_config(&registry, &c.unwrap()).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = |tag: &str, polled: &str, reverse: bool| {
        let mut ids: Vec<u32> = (0..3000).collect();
        if reverse {
            ids.reverse();
        }
        let text: Vec<String> = ids
            .into_iter()
            .map(|n| {
                format!(
                    r#"{{"canonical_bug_link": "https://github.com/openhatch/oh-bugimporters/issues/{n}", "title": "{tag} {n}", "_tracker_name": "openhatch", "_project_name": "openhatch", "last_polled": "{polled}"}}"#
                )
            })
            .collect();
        let path = dir.path().join(format!("{tag}.jsonl"));
        std::fs::write(&path, text.join("\n")).unwrap();
        path
    };
    let old = file("old", "2026-01-01T00:00:00", false);
    let new = file("new", "2026-01-02T00:00:00", true);
    let spawn = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_import-results"))
            .args(["--db", &url, "--batch-size", "200", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&new), spawn(&old));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let bugs = db.bugs(None).await.unwrap();
    assert_eq!(bugs.len(), 3000);
    for bug in bugs {
        let n = bug.bug.canonical_bug_link.rsplit('/').next().unwrap();
        assert_eq!(bug.bug.title, Some(format!("new {n}")));
    }
    assert_eq!(db.import_runs().await.unwrap().len(), 2);
    db.close().await;
    let force = if admin_url.starts_with("postgres") {
        " WITH (FORCE)"
    } else {
        ""
    };
    admin
        .execute_raw(&format!("DROP DATABASE {name}{force}"))
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::test]
async fn two_processes_on_postgres() {
    two_processes("BUGIMPORTERS_TEST_POSTGRES_URL").await;
}

#[tokio::test]
async fn two_processes_on_mariadb() {
    two_processes("BUGIMPORTERS_TEST_MYSQL_URL").await;
}
