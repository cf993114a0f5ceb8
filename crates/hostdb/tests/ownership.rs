//! `import-results` enforces link ownership (issue 13, points 1 and 2): a record never
//! creates, updates or deletes a bug whose link its tracker does not own, never changes a bug
//! of another tracker, and only absolute http(s) links are stored. On SQLite always, and on
//! PostgreSQL / MariaDB when their test URLs are set.

mod common;

use bugimporters_core::{load_config_str, ConfigFormat, Query};
use bugimporters_hostdb::{
    tracker_from_args, HostDb, ImportOptions, ImportSource, ImportSummary, TrackerEdit,
};
use common::{bug_line, registry, TestDb};
use serde_json::json;

/// A Trac tracker, a second Trac tracker on the same server (a mirror whose scope overlaps)
/// and a GitHub tracker, as site users may add them.
const TRACKERS: &str = r#"
- {tracker_name: legit, bugimporter: trac, base_url: "http://legit.example/trac/"}
- {tracker_name: mirror, bugimporter: trac, base_url: "http://legit.example/trac/"}
- {tracker_name: attacker, bugimporter: github, github_name: o, github_repo: r}
"#;

const LEGIT: &str = "http://legit.example/trac/ticket/7";

async fn setup(tdb: &TestDb) -> HostDb {
    let db = tdb.connect().await;
    let reg = registry();
    for c in load_config_str(TRACKERS, ConfigFormat::Yaml).unwrap() {
        db.load_config(&reg, &c.unwrap()).await.unwrap();
    }
    let s = import(
        &db,
        &bug_line(LEGIT, "legit", "legit title", "2013-01-01T00:00:00"),
    )
    .await;
    assert_eq!(s.inserted, 1, "{:?}", s.rejections);
    db
}

async fn import(db: &HostDb, text: &str) -> ImportSummary {
    let options = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    db.import(vec![ImportSource::text("results.jsonl", text)], &options)
        .await
        .unwrap()
}

fn record(link: &str, tracker: &str, extra: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&bug_line(
        link,
        tracker,
        "attacker title",
        "2014-01-01T00:00:00",
    ))
    .unwrap();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

async fn take_over_is_rejected_and_the_bug_is_unchanged(tdb: &TestDb) {
    let db = setup(tdb).await;
    let before = db.bug(LEGIT).await.unwrap().unwrap();
    let text = [
        // The GitHub tracker claims the Trac bug: update, no-update and deletion.
        record(LEGIT, "attacker", json!({})),
        record(LEGIT, "attacker", json!({"_no_update": true})),
        record(LEGIT, "attacker", json!({"_deleted": true})),
        // ... and a bug of the Trac server the host does not hold yet.
        record("http://legit.example/trac/ticket/8", "attacker", json!({})),
        // The mirror owns the link by its base_url, but the bug is legit's: the owner wins.
        record(LEGIT, "mirror", json!({})),
        record(LEGIT, "mirror", json!({"_deleted": true})),
        // The GitHub tracker's own bug goes in.
        record("https://github.com/o/r/issues/1", "attacker", json!({})),
    ]
    .join("\n");
    let s = import(&db, &text).await;
    assert_eq!(
        (s.inserted, s.updated, s.deleted),
        (1, 0, 0),
        "{:?}",
        s.rejections
    );
    assert_eq!(s.rejected, 6, "{:?}", s.rejections);
    let reasons: Vec<&str> = s.rejections.iter().map(|r| r.reason.as_str()).collect();
    for r in &reasons[..3] {
        assert!(
            r.contains("\"legit\"") && r.contains("\"attacker\""),
            "names both trackers: {r}"
        );
    }
    assert!(
        reasons[3].contains("\"attacker\"") && reasons[3].contains("github.com/o/r/"),
        "names the tracker and what it owns: {}",
        reasons[3]
    );
    for r in &reasons[4..6] {
        assert!(r.contains("\"legit\"") && r.contains("\"mirror\""), "{r}");
    }
    assert_eq!(db.bug(LEGIT).await.unwrap().unwrap(), before, "unchanged");
    assert_eq!(
        db.bug("http://legit.example/trac/ticket/8").await.unwrap(),
        None
    );
    assert!(db
        .bug("https://github.com/o/r/issues/1")
        .await
        .unwrap()
        .is_some());

    // The owner itself still updates and deletes its bug.
    let s = import(&db, &record(LEGIT, "legit", json!({"title": "new"}))).await;
    assert_eq!((s.updated, s.rejected), (1, 0), "{:?}", s.rejections);
    db.close().await;
}

async fn script_and_password_links_are_never_stored(tdb: &TestDb) {
    let db = setup(tdb).await;
    let links = [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "JavaScript:alert(1)//github.com/o/r/issues/1",
        "https://bob:S3cret@github.com/o/r/issues/2",
        "/o/r/issues/3",
    ];
    let text: Vec<String> = links
        .iter()
        .map(|l| record(l, "attacker", json!({})))
        .collect();
    let s = import(&db, &text.join("\n")).await;
    assert_eq!((s.inserted, s.rejected), (0, 5), "{:?}", s.rejections);
    for r in &s.rejections {
        assert!(r.reason.contains("canonical_bug_link"), "{r}");
        assert!(!r.to_string().contains("S3cret"), "{r}");
    }
    for l in links {
        assert_eq!(db.bug(l).await.unwrap(), None, "{l}");
    }
    assert_eq!(db.bug_count().await.unwrap(), 1);
    db.close().await;
}

async fn a_moved_tracker_keeps_its_held_bugs(tdb: &TestDb) {
    let db = setup(tdb).await;
    // legit moves to https://new.example/trac/: its held bug under the old name stays its
    // own (refreshed, then deleted), a new bug under the old name is not its own any more.
    let mut edit = TrackerEdit::default();
    edit.set = vec![("base_url".into(), json!("https://new.example/trac/"))];
    db.edit_tracker(&registry(), "legit", &edit).await.unwrap();
    let text = [
        record(LEGIT, "legit", json!({"title": "refreshed"})),
        record("http://legit.example/trac/ticket/9", "legit", json!({})),
        record("https://new.example/trac/ticket/9", "legit", json!({})),
    ]
    .join("\n");
    let s = import(&db, &text).await;
    assert_eq!(
        (s.updated, s.inserted, s.rejected),
        (1, 1, 1),
        "{:?}",
        s.rejections
    );
    assert_eq!(s.rejections[0].line, 2);
    let del = record(
        LEGIT,
        "legit",
        json!({"_deleted": true, "last_polled": "2015-01-01T00:00:00"}),
    );
    assert_eq!(import(&db, &del).await.deleted, 1);
    db.close().await;
}

async fn customs_refuses_passwords_in_urls(tdb: &TestDb) {
    let db = setup(tdb).await;
    let reg = registry();
    let refused = |e: bugimporters_hostdb::Error| {
        let e = e.to_string();
        assert!(!e.contains("S3cret") && !e.contains("bob"), "{e}");
        assert!(e.contains("secrets") && e.contains("_env"), "{e}");
    };
    let config = tracker_from_args(
        "trac",
        "pw",
        Some("http://bob:S3cret@host.example/trac/"),
        &[],
        &[],
    )
    .unwrap();
    refused(db.add_tracker(&reg, &config, None).await.unwrap_err());
    let query = Query::new("http://bob:S3cret@legit.example/trac/query?format=csv");
    refused(db.add_query(&reg, "legit", &query).await.unwrap_err());
    let mut edit = TrackerEdit::default();
    edit.set = vec![(
        "api_url".into(),
        json!("https://bob:S3cret@ghe.example/api/v3"),
    )];
    refused(db.edit_tracker(&reg, "attacker", &edit).await.unwrap_err());
    let text = "- {tracker_name: pw2, bugimporter: trac, base_url: 'http://bob:S3cret@h.example/'}";
    let report = db
        .load_config_text(&reg, text, ConfigFormat::Yaml)
        .await
        .unwrap();
    assert_eq!(report.failures.len(), 1);
    assert!(
        !report.failures[0].contains("S3cret"),
        "{:?}",
        report.failures
    );
    assert!(db.tracker("pw").await.unwrap().is_none());
    assert!(db.tracker("pw2").await.unwrap().is_none());
    db.close().await;
}

on_all_backends!(
    customs_refuses_passwords_in_urls,
    take_over_is_rejected_and_the_bug_is_unchanged,
    script_and_password_links_are_never_stored,
    a_moved_tracker_keeps_its_held_bugs,
);
