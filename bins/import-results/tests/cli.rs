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

/// The records of the kill test: inserts, then updates, deletions and `_no_update`s of some of
/// them, so that a batch applied twice or half would show.
fn kill_test_lines() -> Vec<String> {
    let link = |n: u32| format!("https://github.com/openhatch/oh-bugimporters/issues/{n}");
    let mut lines: Vec<String> = (0..12_000).map(line).collect();
    for n in 0..2_000 {
        lines.push(format!(
            r#"{{"canonical_bug_link": "{}", "title": "bug {n} v2", "_tracker_name": "openhatch", "_project_name": "openhatch", "last_polled": "2026-01-02T00:00:00"}}"#,
            link(n)
        ));
    }
    for n in 2_000..2_500 {
        lines.push(format!(
            r#"{{"canonical_bug_link": "{}", "_deleted": true, "_tracker_name": "openhatch", "_project_name": "openhatch", "last_polled": "2026-01-02T00:00:00"}}"#,
            link(n)
        ));
    }
    for n in 2_500..3_000 {
        lines.push(format!(
            r#"{{"canonical_bug_link": "{}", "_no_update": true, "_tracker_name": "openhatch", "_project_name": "openhatch", "last_polled": "2026-01-03T00:00:00"}}"#,
            link(n)
        ));
    }
    lines
}

/// What the database shows of its bugs: (link, title, last_polled), sorted.
async fn bug_dump(url: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let db = HostDb::connect(url).await.unwrap();
    let mut rows: Vec<_> = db
        .bugs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            (
                b.bug.canonical_bug_link,
                b.bug.title,
                b.bug.last_polled.map(|t| t.to_string()),
            )
        })
        .collect();
    db.close().await;
    rows.sort();
    rows
}

/// `kill -9` of `import-results` at 6 moments: the database is always as after a whole number
/// of batches, and importing the file again gives exactly the database of an uninterrupted run.
#[tokio::test]
async fn killed_imports_leave_whole_batches_and_rerun_to_the_same_database() {
    const BATCH: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.jsonl");
    let lines = kill_test_lines();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let import = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_import-results"))
            .args(["--db", url, "--batch-size", &BATCH.to_string()])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    // The database after each whole number of batches, by applying the records to a model.
    let mut states = Vec::new();
    let mut model: std::collections::BTreeMap<String, (Option<String>, Option<String>)> =
        std::collections::BTreeMap::new();
    let dump_of = |m: &std::collections::BTreeMap<String, (Option<String>, Option<String>)>| {
        m.iter()
            .map(|(k, (t, p))| (k.clone(), t.clone(), p.clone()))
            .collect::<Vec<_>>()
    };
    states.push(dump_of(&model));
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let link = v["canonical_bug_link"].as_str().unwrap().to_owned();
        let polled = v["last_polled"].as_str().map(|t| {
            bugimporters_core::time::parse_datetime(t)
                .unwrap()
                .to_string()
        });
        if v["_deleted"] == true {
            model.remove(&link);
        } else if v["_no_update"] == true {
            if let Some(entry) = model.get_mut(&link) {
                entry.1 = polled;
            }
        } else {
            model.insert(link, (v["title"].as_str().map(str::to_owned), polled));
        }
        if (i + 1) % BATCH == 0 || i + 1 == lines.len() {
            states.push(dump_of(&model));
        }
    }

    let base = tempfile::tempdir().unwrap();
    let base_url = setup(&base).await;
    let started = std::time::Instant::now();
    assert!(import(&base_url).wait().unwrap().success());
    let full = started.elapsed();
    let want = bug_dump(&base_url).await;
    assert_eq!(
        &want,
        states.last().unwrap(),
        "the model agrees with the importer"
    );

    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut partial_seen = 0;
    for trial in 0..6 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = full.mul_f64((seed >> 11) as f64 / (1u64 << 53) as f64);
        let tdir = tempfile::tempdir().unwrap();
        let url = setup(&tdir).await;
        let mut child = import(&url);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL: no chance to finish the batch in flight
        let _ = child.wait();
        let got = bug_dump(&url).await;
        let k = states
            .iter()
            .position(|s| *s == got)
            .unwrap_or_else(|| panic!("trial {trial} (killed after {at:?}): {} bugs, not the state after a whole number of batches", got.len()));
        if k > 0 && k + 1 < states.len() {
            partial_seen += 1;
        }
        assert!(
            import(&url).wait().unwrap().success(),
            "trial {trial}: rerun"
        );
        assert_eq!(
            bug_dump(&url).await,
            want,
            "trial {trial}: the rerun differs from an uninterrupted import"
        );
    }
    println!("{partial_seen} of 6 kills landed between batches");
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
