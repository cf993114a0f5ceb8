//! The `assigned` column (migration 20261206000002): imported from `ParsedBug.assigned`,
//! kept when a later record does not say, shown in `BugView`, and hidden from the bug finder
//! by default. On SQLite always, on PostgreSQL / MariaDB when
//! `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL` are set.

mod common;

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::{BugQuery, HostDb, ImportOptions, ImportSource};
use common::{bug_line, registry, TestDb, CONFIG};

const T: &str = "https://twistedmatrix.com/trac/ticket/";

async fn load(db: &HostDb) {
    let reg = registry();
    for c in load_config_str(CONFIG, ConfigFormat::Yaml).unwrap() {
        db.load_config(&reg, &c.unwrap()).await.unwrap();
    }
}

async fn import(db: &HostDb, lines: &[String]) -> bugimporters_hostdb::ImportSummary {
    let s = db
        .import(
            vec![ImportSource::text("a.jsonl", lines.join("\n"))],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(s.rejected, 0, "{:?}", s.rejections);
    s
}

/// Bug `i` with `assigned` set to `value` (`None`: the key is left out).
fn line(i: u32, value: Option<serde_json::Value>, polled: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&bug_line(
        &format!("{T}{i}"),
        "Twisted",
        &format!("Bug {i}"),
        polled,
    ))
    .unwrap();
    if let Some(a) = value {
        v["assigned"] = a;
    }
    v.to_string()
}

async fn titles(db: &HostDb, include_assigned: bool) -> Vec<String> {
    let mut q = BugQuery::default();
    q.include_assigned = include_assigned;
    let mut t: Vec<String> = db
        .bug_views(&q)
        .await
        .unwrap()
        .bugs
        .into_iter()
        .map(|b| b.title)
        .collect();
    t.sort();
    t
}

async fn assigned_is_stored_shown_and_filtered(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    let first = "2013-01-01T00:00:00";
    import(
        &db,
        &[
            line(1, Some(true.into()), first),
            line(2, Some(false.into()), first),
            line(3, None, first),
            line(4, Some(serde_json::Value::Null), first),
        ],
    )
    .await;
    let stored = |i: u32| {
        let db = &db;
        async move {
            db.bug(&format!("{T}{i}"))
                .await
                .unwrap()
                .unwrap()
                .bug
                .assigned
        }
    };
    assert_eq!(stored(1).await, Some(true));
    assert_eq!(stored(2).await, Some(false));
    assert_eq!(stored(3).await, None);
    assert_eq!(stored(4).await, None);
    let view = db.bug_view(&format!("{T}1")).await.unwrap().unwrap();
    assert_eq!(view.assigned, Some(true));
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["assigned"], true, "BugView serialises the field");

    // Hidden by default; unknown counts as not assigned.
    assert_eq!(titles(&db, false).await, ["Bug 2", "Bug 3", "Bug 4"]);
    assert_eq!(
        titles(&db, true).await,
        ["Bug 1", "Bug 2", "Bug 3", "Bug 4"]
    );

    // A later record that does not say leaves the stored value; one that says changes it.
    let later = "2013-02-01T00:00:00";
    let s = import(
        &db,
        &[line(1, None, later), line(2, Some(true.into()), later)],
    )
    .await;
    assert_eq!(s.updated, 2, "{s:?}");
    assert_eq!(stored(1).await, Some(true), "an absent key keeps the value");
    assert_eq!(stored(2).await, Some(true));
    assert_eq!(titles(&db, false).await, ["Bug 3", "Bug 4"]);

    // The same record again is unchanged (the flag is part of the content hash)...
    let again = "2013-03-01T00:00:00";
    let s = import(&db, &[line(2, Some(true.into()), again)]).await;
    assert_eq!((s.updated, s.unchanged), (0, 1), "{s:?}");
    // ... and a flip alone is a change.
    let s = import(&db, &[line(2, Some(false.into()), again)]).await;
    assert_eq!(s.updated, 1, "{s:?}");
    assert_eq!(stored(2).await, Some(false));
    db.close().await;
}

on_all_backends!(assigned_is_stored_shown_and_filtered);
