//! Change capture (`bug_events`): every change an import makes is an event, in the same
//! transaction, with contiguous ids; records that change nothing make none. On SQLite always,
//! on PostgreSQL / MariaDB when `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL`
//! are set (a database of its own per test).

mod common;

use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::{BugEvent, EventKind, HostDb, ImportOptions, ImportSource};
use common::{bug_line, registry, TestDb, CONFIG};

async fn load(db: &HostDb) {
    let reg = registry();
    for c in load_config_str(CONFIG, ConfigFormat::Yaml).unwrap() {
        db.load_config(&reg, &c.unwrap()).await.unwrap();
    }
}

async fn import(db: &HostDb, name: &str, text: &str) -> bugimporters_hostdb::ImportSummary {
    let s = db
        .import(
            vec![ImportSource::text(name, text.to_owned())],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(s.rejected, 0, "{:?}", s.rejections);
    s
}

async fn all_events(db: &HostDb) -> Vec<BugEvent> {
    db.events_after(0, 10_000).await.unwrap()
}

fn kinds(events: &[BugEvent]) -> Vec<(EventKind, String)> {
    events
        .iter()
        .map(|e| (e.kind, e.link.rsplit('/').next().unwrap().to_owned()))
        .collect()
}

const T: &str = "https://twistedmatrix.com/trac/ticket/";

async fn created_updated_deleted(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    assert_eq!(db.event_bounds().await.unwrap().last, 0);
    let text = [
        bug_line(&format!("{T}1"), "Twisted", "one", "2013-01-01T00:00:00"),
        bug_line(&format!("{T}2"), "Twisted", "two", "2013-01-01T00:00:00"),
    ]
    .join("\n");
    import(&db, "a.jsonl", &text).await;
    let events = all_events(&db).await;
    assert_eq!(
        kinds(&events),
        [
            (EventKind::Created, "1".into()),
            (EventKind::Created, "2".into())
        ]
    );
    assert_eq!(events[0].id, 1);
    assert_eq!(events[1].id, 2);
    let bug = events[0].bug.as_ref().unwrap();
    assert_eq!(
        (bug.title.as_str(), bug.project.as_str()),
        ("one", "Twisted")
    );
    assert_eq!(
        (bug.tracker.as_str(), bug.tracker_type.as_str()),
        ("Twisted", "trac")
    );
    assert!(bug.good_for_newcomers && !bug.looks_closed);
    assert_eq!(events[0].tracker, "Twisted");
    assert_eq!(events[0].project, "Twisted");
    assert_eq!(events[0].link, format!("{T}1"));
    // The event shows the bug exactly as the read API does.
    assert_eq!(
        db.bug_view(&format!("{T}1")).await.unwrap().as_ref(),
        Some(bug)
    );

    // The same file again, a _no_update record and an older record: no event.
    import(&db, "a.jsonl", &text).await;
    let nu = serde_json::json!({"canonical_bug_link": format!("{T}1"), "_no_update": true,
        "_tracker_name": "Twisted", "_project_name": "Twisted", "last_polled": "2013-03-01T00:00:00"});
    let older = bug_line(&format!("{T}2"), "Twisted", "stale", "2012-01-01T00:00:00");
    let s = import(&db, "nu.jsonl", &format!("{nu}\n{older}")).await;
    assert_eq!(s.unchanged, 2);
    assert_eq!(all_events(&db).await.len(), 2);

    // A record that sets only the title gives the whole bug, as stored.
    let partial = serde_json::json!({"canonical_bug_link": format!("{T}1"), "title": "one, renamed",
        "_tracker_name": "Twisted", "_project_name": "Twisted", "last_polled": "2013-04-01T00:00:00"});
    let del = serde_json::json!({"canonical_bug_link": format!("{T}2"), "_deleted": true,
        "_tracker_name": "Twisted", "_project_name": "Twisted", "last_polled": "2013-04-01T00:00:00"});
    let s = import(&db, "c.jsonl", &format!("{partial}\n{del}")).await;
    assert_eq!((s.updated, s.deleted), (1, 1));
    let events = all_events(&db).await;
    assert_eq!(
        kinds(&events[2..]),
        [
            (EventKind::Updated, "1".into()),
            (EventKind::Deleted, "2".into())
        ]
    );
    let updated = events[2].bug.as_ref().unwrap();
    assert_eq!(updated.title, "one, renamed");
    assert_eq!(updated.status.as_deref(), Some("new"), "kept from before");
    // A deleted event carries the bug as it was.
    assert_eq!(events[3].bug.as_ref().unwrap().title, "two");
    assert_eq!(
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "contiguous ids"
    );
    assert_eq!(db.event_bounds().await.unwrap().last, 4);
    assert_eq!(db.events_after(2, 1).await.unwrap()[0].id, 3);
    db.close().await;
}

async fn rejected_records_make_no_event(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    // A link that Twisted does not own, and one that is not http(s).
    let foreign = bug_line(
        "https://example.org/trac/ticket/1",
        "Twisted",
        "x",
        "2013-01-01T00:00:00",
    );
    let script = bug_line("javascript:alert(1)", "Twisted", "x", "2013-01-01T00:00:00");
    let s = db
        .import(
            vec![ImportSource::text(
                "r.jsonl",
                format!("{foreign}\n{script}"),
            )],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(s.rejected, 2);
    assert!(all_events(&db).await.is_empty());
    db.close().await;
}

async fn history_is_pruned_and_batches_are_one_transaction(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    let lines: Vec<String> = (0..1200)
        .map(|i| bug_line(&format!("{T}{i}"), "Twisted", "t", "2013-01-01T00:00:00"))
        .collect();
    let mut opts = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    opts.batch_size = 500;
    let s = db
        .import(
            vec![ImportSource::text("big.jsonl", lines.join("\n"))],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(s.inserted, 1200);
    let b = db.event_bounds().await.unwrap();
    assert_eq!((b.oldest, b.last), (Some(1), 1200));
    assert_eq!(db.prune_events(100).await.unwrap(), 1100);
    let b = db.event_bounds().await.unwrap();
    assert_eq!((b.oldest, b.last), (Some(1101), 1200));
    // Capture off (benchmarks only): the change is made, no event.
    let mut off = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    off.capture_events = false;
    let one = bug_line(&format!("{T}5000"), "Twisted", "t", "2013-01-01T00:00:00");
    let s = db
        .import(vec![ImportSource::text("off.jsonl", one)], &off)
        .await
        .unwrap();
    assert_eq!(s.inserted, 1);
    assert_eq!(db.event_bounds().await.unwrap().last, 1200);
    db.close().await;
}

/// Two imports at once (two pools): every change has its event, ids stay contiguous.
async fn concurrent_imports_give_contiguous_ids(tdb: &TestDb) {
    let a = tdb.connect().await;
    load(&a).await;
    let b = HostDb::connect(&tdb.url).await.unwrap();
    let file = |from: u32, to: u32| -> String {
        (from..to)
            .map(|i| bug_line(&format!("{T}{i}"), "Twisted", "t", "2013-01-01T00:00:00"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut opts = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    opts.batch_size = 50;
    let (ra, rb) = tokio::join!(
        a.import(vec![ImportSource::text("a.jsonl", file(0, 600))], &opts),
        b.import(vec![ImportSource::text("b.jsonl", file(600, 1200))], &opts),
    );
    assert_eq!(ra.unwrap().inserted + rb.unwrap().inserted, 1200);
    let events = all_events(&a).await;
    assert_eq!(events.len(), 1200);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, i as i64 + 1);
        assert_eq!(e.kind, EventKind::Created);
    }
    let mut links: Vec<&str> = events.iter().map(|e| e.link.as_str()).collect();
    links.sort_unstable();
    links.dedup();
    assert_eq!(links.len(), 1200);
    a.close().await;
    b.close().await;
}

/// The bug finder's read (`GET /api/bugs`): filters, newest activity first, cursor pages.
async fn bug_views_filter_and_page(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    let lines: Vec<String> = (0..7)
        .map(|i| {
            let mut v: serde_json::Value = serde_json::from_str(&bug_line(
                &format!("{T}{i}"),
                "Twisted",
                &format!("Bug {i}: 100% broken_thing"),
                "2013-01-01T00:00:00",
            ))
            .unwrap();
            v["last_touched"] = format!("2012-07-0{}T10:00:00", i + 1).into();
            v["good_for_newcomers"] = (i % 2 == 0).into();
            v["looks_closed"] = (i == 6).into();
            v.to_string()
        })
        .collect();
    import(&db, "v.jsonl", &lines.join("\n")).await;
    let mut q = bugimporters_hostdb::BugQuery::default();
    q.limit = 2;
    let mut seen = Vec::new();
    loop {
        let page = db.bug_views(&q).await.unwrap();
        seen.extend(page.bugs.iter().map(|b| b.title.clone()));
        match page.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    // Open bugs only by default, newest activity first, each once.
    let want: Vec<String> = (0..6)
        .rev()
        .map(|i| format!("Bug {i}: 100% broken_thing"))
        .collect();
    assert_eq!(seen, want);
    let mut q = bugimporters_hostdb::BugQuery::default();
    q.bitesized = true;
    q.include_closed = true;
    q.text = Some("100% BROKEN_".into());
    q.tracker_type = Some("trac".into());
    let page = db.bug_views(&q).await.unwrap();
    let titles: Vec<&str> = page.bugs.iter().map(|b| &b.title[..5]).collect();
    assert_eq!(titles, ["Bug 6", "Bug 4", "Bug 2", "Bug 0"]);
    q.text = Some("0%_".into());
    assert!(
        db.bug_views(&q).await.unwrap().bugs.is_empty(),
        "% and _ are literal"
    );
    q.text = None;
    q.project = Some("nope".into());
    assert!(db.bug_views(&q).await.unwrap().bugs.is_empty());
    q.project = None;
    q.cursor = Some("garbage".into());
    let e = db.bug_views(&q).await.unwrap_err().to_string();
    assert!(e.contains("bad cursor"), "{e}");
    db.close().await;
}

/// `customs remove` of a tracker deletes its bugs outside any import: each is a `deleted`
/// event all the same, showing the bug as it was, in the same transaction.
async fn removing_a_tracker_is_a_deleted_event_per_bug(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    let text = [
        bug_line(&format!("{T}1"), "Twisted", "one", "2013-01-01T00:00:00"),
        bug_line(&format!("{T}2"), "Twisted", "two", "2013-01-01T00:00:00"),
    ]
    .join("\n");
    import(&db, "a.jsonl", &text).await;
    assert_eq!(db.remove_tracker("Twisted").await.unwrap().1, 2);
    let events = all_events(&db).await;
    let mut gone = kinds(&events[2..]);
    gone.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        gone,
        [
            (EventKind::Deleted, "1".to_owned()),
            (EventKind::Deleted, "2".to_owned())
        ]
    );
    assert_eq!((events[2].id, events[3].id), (3, 4), "contiguous ids");
    let mut titles: Vec<_> = events[2..]
        .iter()
        .map(|e| (e.tracker.as_str(), e.bug.as_ref().unwrap().title.as_str()))
        .collect();
    titles.sort();
    assert_eq!(titles, [("Twisted", "one"), ("Twisted", "two")]);
    db.close().await;
}

on_all_backends!(
    removing_a_tracker_is_a_deleted_event_per_bug,
    created_updated_deleted,
    rejected_records_make_no_event,
    history_is_pruned_and_batches_are_one_transaction,
    concurrent_imports_give_contiguous_ids,
    bug_views_filter_and_page,
);
