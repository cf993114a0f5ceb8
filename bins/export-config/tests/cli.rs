//! The `export-config` binary: YAML and JSON that load back, one tracker, unknown tracker.

use std::process::Command;

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::{HostDb, ImportOptions, ImportSource};

const CONFIG: &str = r#"
- {tracker_name: openhatch, bugimporter: github, github_name: openhatch, github_repo: oh-bugimporters,
   queries: ["https://api.github.com/repos/openhatch/oh-bugimporters/issues?state=open"]}
- {tracker_name: other, bugimporter: github.GitHubBugImporter, github_name: o, github_repo: r}
"#;

async fn setup(dir: &tempfile::TempDir) -> String {
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    let db = HostDb::connect(&url).await.unwrap();
    let registry = bugimporters_all::default_registry();
    for c in load_config_str(CONFIG, ConfigFormat::Yaml).unwrap() {
        db.load_config(&registry, &c.unwrap()).await.unwrap();
    }
    let bug = r#"{"canonical_bug_link": "https://github.com/openhatch/oh-bugimporters/issues/1", "_tracker_name": "openhatch", "_project_name": "openhatch", "last_polled": "2012-09-15T00:00:00"}"#;
    let s = db
        .import(
            vec![ImportSource::text("b.jsonl", bug)],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(s.inserted, 1);
    db.close().await;
    url
}

fn export(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_export-config"))
        .arg("--db")
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn yaml_and_json_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = setup(&dir).await;
    let (code, yaml, err) = export(&url, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, json, _) = export(&url, &["--format", "json"]);
    assert_eq!(code, 0);
    let a: Vec<_> = load_config_str(&yaml, ConfigFormat::Yaml).unwrap();
    let b: Vec<_> = load_config_str(&json, ConfigFormat::Json).unwrap();
    let a: Vec<_> = a.into_iter().map(Result::unwrap).collect();
    let b: Vec<_> = b.into_iter().map(Result::unwrap).collect();
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].tracker_name, "openhatch");
    assert_eq!(a[1].bugimporter, "github", "canonical type name");
    assert_eq!(
        a[0].existing_bug_urls,
        ["https://github.com/openhatch/oh-bugimporters/issues/1"]
    );
    assert_eq!(
        a[0].get_older_bug_data.as_deref(),
        Some("https://api.github.com/repos/openhatch/oh-bugimporters/issues?since=2012-09-15T00%3A00%3A00")
    );
    assert!(a[0].queries[0].last_polled.is_some());
}

#[tokio::test]
async fn one_tracker_to_a_file_and_unknown_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let url = setup(&dir).await;
    let out = dir.path().join("cfg.yaml");
    let (code, stdout, err) = export(&url, &["--tracker", "other", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    let records = load_config_str(&text, ConfigFormat::Yaml).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].as_ref().unwrap().tracker_name, "other");
    // The bug of "openhatch" was polled in 2012: stale. "other" has no bugs: always written.
    let (code, stdout, _) = export(&url, &["--stale-hours", "24", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        load_config_str(&stdout, ConfigFormat::Json).unwrap().len(),
        2
    );
    let (code, stdout, _) = export(&url, &["--stale-hours", "2000000"]);
    assert_eq!(code, 0);
    let fresh = load_config_str(&stdout, ConfigFormat::Yaml).unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].as_ref().unwrap().tracker_name, "other");
    let (code, stdout, _) = export(&url, &["--type", "github.GitHubBugImporter"]);
    assert_eq!(code, 0);
    assert_eq!(
        load_config_str(&stdout, ConfigFormat::Yaml).unwrap().len(),
        2
    );
    let (code, stdout, _) = export(&url, &["--type", "trac"]);
    assert_eq!((code, stdout.as_str()), (0, "[]\n"));
    let (code, _, err) = export(&url, &["--tracker", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no tracker named \"nope\""), "{err}");
}
