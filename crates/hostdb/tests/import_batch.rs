//! One import batch that mixes every kind of record (issue 18: the fast import path keeps every
//! semantic): new, changed, unchanged, older, `_no_update`, `_deleted`, another tracker's
//! link, a duplicate link inside the batch and a bad line — with the summary, the stored bugs
//! and the change-capture events checked. On SQLite always, on PostgreSQL / MariaDB when their
//! test URLs are set.

mod common;

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::{EventKind, HostDb, ImportOptions, ImportSource, ImportSummary};
use common::{bug_line, registry, TestDb};
use serde_json::json;

const TRACKERS: &str = r#"
- {tracker_name: legit, bugimporter: trac, base_url: "http://legit.example/trac/"}
- {tracker_name: other, bugimporter: trac, base_url: "http://other.example/trac/"}
"#;

const L: &str = "http://legit.example/trac/ticket/";
const O: &str = "http://other.example/trac/ticket/";
const OLD: &str = "2013-01-01T00:00:00";
const NEW: &str = "2014-01-01T00:00:00";

fn line(link: &str, tracker: &str, title: &str, polled: &str, extra: serde_json::Value) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&bug_line(link, tracker, title, polled)).unwrap();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

async fn import(db: &HostDb, text: &str, batch_size: usize) -> ImportSummary {
    let mut options = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    options.batch_size = batch_size;
    db.import(
        vec![ImportSource::text("mixed.jsonl", text.to_owned())],
        &options,
    )
    .await
    .unwrap()
}

async fn mixed_batch(tdb: &TestDb) {
    let db = tdb.connect().await;
    let reg = registry();
    for c in load_config_str(TRACKERS, ConfigFormat::Yaml).unwrap() {
        db.load_config(&reg, &c.unwrap()).await.unwrap();
    }
    let first: Vec<String> = (1..=6)
        .map(|i| {
            line(
                &format!("{L}{i}"),
                "legit",
                &format!("t{i}"),
                OLD,
                json!({}),
            )
        })
        .chain([line(&format!("{O}1"), "other", "o1", OLD, json!({}))])
        .collect();
    let s = import(&db, &first.join("\n"), 5000).await;
    assert_eq!((s.inserted, s.rejected), (7, 0), "{:?}", s.rejections);
    let before = db.event_bounds().await.unwrap().last;
    let held_3 = db.bug(&format!("{L}3")).await.unwrap().unwrap();

    let text = [
        // 1: new bug
        line(&format!("{L}10"), "legit", "ten", NEW, json!({})),
        // 2: changed
        line(&format!("{L}1"), "legit", "one changed", NEW, json!({})),
        // 3: unchanged data, newer last_polled
        line(&format!("{L}2"), "legit", "t2", NEW, json!({})),
        // 4: unchanged data and last_polled
        line(&format!("{L}3"), "legit", "t3", OLD, json!({})),
        // 5: older than what is held: ignored
        line(
            &format!("{L}4"),
            "legit",
            "stale",
            "2012-01-01T00:00:00",
            json!({}),
        ),
        // 6: _no_update
        json!({"canonical_bug_link": format!("{L}5"), "_no_update": true,
               "last_polled": NEW})
        .to_string(),
        // 7: _deleted
        line(
            &format!("{L}6"),
            "legit",
            "t6",
            NEW,
            json!({"_deleted": true}),
        ),
        // 8: another tracker's bug: rejected, unchanged
        line(&format!("{O}1"), "legit", "taken", NEW, json!({})),
        // 9: not JSON: rejected with its line
        "{not json".to_owned(),
        // 10: the same new link twice in one batch: the later record wins
        line(&format!("{L}11"), "legit", "first", NEW, json!({})),
        line(
            &format!("{L}11"),
            "legit",
            "second",
            "2014-01-02T00:00:00",
            json!({}),
        ),
    ]
    .join("\n");
    let s = import(&db, &text, 5000).await;
    assert_eq!(
        (s.inserted, s.updated, s.unchanged, s.deleted, s.rejected),
        (2, 2, 4, 1, 2),
        "{s:?}"
    );
    // Unreadable lines are rejected as read, the others when their batch is applied.
    let mut rejections = s.rejections.clone();
    rejections.sort_by_key(|r| r.line);
    let lines: Vec<usize> = rejections.iter().map(|r| r.line).collect();
    assert_eq!(lines, [8, 9], "{rejections:?}");
    assert!(rejections[0].reason.contains("\"other\""), "{rejections:?}");
    assert!(
        rejections[1].reason.contains("invalid JSON"),
        "{rejections:?}"
    );

    let title = |b: Option<bugimporters_hostdb::StoredBug>| b.unwrap().bug.title.unwrap();
    assert_eq!(title(db.bug(&format!("{L}10")).await.unwrap()), "ten");
    assert_eq!(
        title(db.bug(&format!("{L}1")).await.unwrap()),
        "one changed"
    );
    assert_eq!(title(db.bug(&format!("{L}4")).await.unwrap()), "t4");
    assert_eq!(title(db.bug(&format!("{L}11")).await.unwrap()), "second");
    assert_eq!(title(db.bug(&format!("{O}1")).await.unwrap()), "o1");
    assert_eq!(db.bug(&format!("{L}6")).await.unwrap(), None);
    let polled = |b: Option<bugimporters_hostdb::StoredBug>| {
        b.unwrap().bug.last_polled.unwrap().format("%Y").to_string()
    };
    assert_eq!(polled(db.bug(&format!("{L}2")).await.unwrap()), "2014");
    assert_eq!(polled(db.bug(&format!("{L}5")).await.unwrap()), "2014");
    assert_eq!(db.bug(&format!("{L}3")).await.unwrap().unwrap(), held_3);

    // Events: created (10, 11), updated (1, 11), deleted (6); nothing for
    // the unchanged, stale, _no_update and rejected records.
    let events = db.events_after(before, 100).await.unwrap();
    let mut got: Vec<(EventKind, String)> = events
        .iter()
        .map(|e| (e.kind, e.link.rsplit('/').next().unwrap().to_owned()))
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.as_str().cmp(b.0.as_str())));
    assert!(
        got.iter()
            .all(|(_, l)| ["1", "6", "10", "11"].contains(&l.as_str())),
        "{got:?}"
    );
    assert!(got.contains(&(EventKind::Updated, "1".into())), "{got:?}");
    assert!(got.contains(&(EventKind::Deleted, "6".into())), "{got:?}");
    assert!(got.contains(&(EventKind::Created, "10".into())), "{got:?}");
    assert!(got.contains(&(EventKind::Created, "11".into())), "{got:?}");
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous: {ids:?}"
    );

    // Idempotent: the same file again changes nothing and writes no event.
    let last = db.event_bounds().await.unwrap().last;
    let s = import(&db, &text, 5000).await;
    assert_eq!((s.inserted, s.updated, s.deleted), (0, 0, 0), "{s:?}");
    assert_eq!(db.event_bounds().await.unwrap().last, last);
    db.close().await;
}

/// The same file in batches of one, two and three records gives the same database.
async fn batch_size_does_not_matter(tdb: &TestDb) {
    let mut dumps = Vec::new();
    let db = tdb.connect().await;
    let reg = registry();
    for c in load_config_str(TRACKERS, ConfigFormat::Yaml).unwrap() {
        db.load_config(&reg, &c.unwrap()).await.unwrap();
    }
    for size in [1usize, 2, 3, 5000] {
        let text: Vec<String> = (0..7)
            .map(|i| {
                let extra = match i % 3 {
                    0 => json!({}),
                    1 => json!({"title": null, "raw_data": {"k": [i]}}),
                    _ => json!({"description": "d"}),
                };
                line(
                    &format!("{L}{}", i % 5),
                    "legit",
                    &format!("b{i}"),
                    NEW,
                    extra,
                )
            })
            .collect();
        let s = import(&db, &text.join("\n"), size).await;
        assert_eq!(s.rejected, 0, "{:?}", s.rejections);
        let mut bugs: Vec<_> = db
            .bugs(None)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.bug)
            .collect();
        bugs.sort_by(|a, b| a.canonical_bug_link.cmp(&b.canonical_bug_link));
        dumps.push((size, bugs));
        db.execute_raw("DELETE FROM bugs").await.unwrap();
    }
    db.close().await;
    for d in &dumps[1..] {
        assert_eq!(d.1, dumps[0].1, "batch size {} differs from 1", d.0);
    }
}

on_all_backends!(mixed_batch, batch_size_does_not_matter);
