//! The web pages' read-only queries (`dashboard.rs`): the dashboard's rows per tracker with
//! their counts, schedule and queued webhook refreshes; filters and orders; totals per
//! project; the bug finder's filter choices. On SQLite always and on PostgreSQL / MariaDB when
//! `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL` are set.

mod common;

use std::sync::Arc;

use bugimporters_core::time::parse_datetime;
use bugimporters_core::ConfigFormat;
use bugimporters_hostdb::webhooks::Delivery;
use bugimporters_hostdb::{
    HostDb, ImportOptions, ImportSource, Outcome, RunResult, TrackerFilter, TrackerSort,
};
use chrono::{NaiveDateTime, TimeDelta};
use common::{bug_line, registry, TestDb, CONFIG};

fn t0() -> NaiveDateTime {
    parse_datetime("2026-12-01T00:00:00").unwrap()
}

/// A bug line of `tracker` with the given classification.
fn line(link: &str, tracker: &str, closed: bool, easy: bool, docs: bool) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&bug_line(link, tracker, "t", "2026-11-30T00:00:00")).unwrap();
    v["looks_closed"] = closed.into();
    v["good_for_newcomers"] = easy.into();
    v["concerns_just_documentation"] = docs.into();
    v.to_string()
}

/// The configuration of `common::CONFIG` (Twisted on Trac, openhatch on GitHub), four
/// Twisted bugs (one closed) and one openhatch bug.
async fn setup(db: &HostDb) {
    let reg = registry();
    db.load_config_text(&reg, CONFIG, ConfigFormat::Yaml)
        .await
        .unwrap();
    let trac = "https://twistedmatrix.com/trac/ticket/";
    let lines = [
        line(&format!("{trac}1"), "Twisted", false, true, false),
        line(&format!("{trac}2"), "Twisted", false, true, true),
        line(&format!("{trac}3"), "Twisted", false, false, true),
        line(&format!("{trac}4"), "Twisted", true, true, true),
        line(
            "https://github.com/openhatch/oh-bugimporters/issues/9",
            "openhatch",
            false,
            false,
            false,
        ),
    ];
    let summary = db
        .import(
            vec![ImportSource::text("b.jsonl", lines.join("\n"))],
            &ImportOptions::new(Arc::new(reg)),
        )
        .await
        .unwrap();
    assert_eq!(summary.inserted, 5, "{summary:?}");
}

async fn rows_count_schedule_and_webhooks(db: &TestDb) {
    let db = db.connect().await;
    setup(&db).await;
    // Before any service: no schedule, the configured interval.
    let rows = db
        .tracker_rows(&TrackerFilter::default(), t0())
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Twisted", "openhatch"]);
    let tw = &rows[0];
    assert_eq!(tw.tracker_type, "trac");
    assert_eq!(tw.project.as_deref(), Some("Twisted"));
    assert_eq!(
        (tw.bugs, tw.open, tw.bitesized, tw.documentation),
        (4, 3, 2, 2)
    );
    assert_eq!(tw.refresh_interval, "1d");
    assert_eq!((tw.next_due, tw.outcome.as_deref()), (None, None));
    assert_eq!(
        tw.last_import,
        Some(parse_datetime("2026-11-30T00:00:00").unwrap())
    );

    // A run of each: Twisted succeeds, openhatch fails with a secret in its error.
    db.sync_schedule(t0()).await.unwrap();
    let leases = db
        .lease_due("w:1", t0(), 10, TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(leases.len(), 2);
    let running = db
        .tracker_rows(&TrackerFilter::default(), t0())
        .await
        .unwrap();
    assert!(running.iter().all(|r| r.running), "{running:?}");
    let end = t0() + TimeDelta::minutes(1);
    for l in &leases {
        let result = if l.tracker == "Twisted" {
            RunResult::new(Outcome::Ok, None, 4)
        } else {
            RunResult::new(
                Outcome::Failed,
                Some("GET https://bob:hunter2@api.github.com/x?token=abc failed".into()),
                0,
            )
        };
        assert!(db.finish_run(l, end, &result).await.unwrap());
    }
    // A webhook delivery queues a refresh of an openhatch issue.
    let oh_id = leases.iter().find(|l| l.tracker == "openhatch").unwrap();
    db.record_delivery(
        &Delivery::new("github", "d-1", "issues"),
        &[(
            oh_id.tracker_id,
            "https://github.com/openhatch/oh-bugimporters/issues/9".into(),
        )],
        end,
    )
    .await
    .unwrap();

    let rows = db
        .tracker_rows(&TrackerFilter::default(), end)
        .await
        .unwrap();
    let (tw, oh) = (&rows[0], &rows[1]);
    assert_eq!(
        (tw.outcome.as_deref(), tw.last_success, tw.last_finished),
        (Some("ok"), Some(end), Some(end))
    );
    assert!(tw.next_due.is_some_and(|d| d > end));
    assert_eq!((tw.consecutive_failures, tw.webhook_refreshes), (0, 0));
    assert!(!tw.running && !oh.running);
    assert_eq!(
        (
            oh.outcome.as_deref(),
            oh.last_success,
            oh.consecutive_failures
        ),
        (Some("failed"), None, 1)
    );
    let err = oh.last_error.as_deref().unwrap();
    assert!(
        !err.contains("hunter2") && !err.contains("abc"),
        "not redacted: {err}"
    );
    assert_eq!(oh.webhook_refreshes, 1);
    assert_eq!(db.webhook_delivery_count().await.unwrap(), 1);
    assert_eq!((oh.webhook_deliveries, oh.last_webhook), (1, Some(end)));
    assert_eq!((tw.webhook_deliveries, tw.last_webhook), (0, None));
    // A second delivery naming two issues of openhatch counts once; a repeated delivery id
    // not at all.
    let later = end + TimeDelta::minutes(1);
    let two = [
        (
            oh_id.tracker_id,
            "https://github.com/openhatch/oh-bugimporters/issues/10".to_owned(),
        ),
        (
            oh_id.tracker_id,
            "https://github.com/openhatch/oh-bugimporters/issues/11".to_owned(),
        ),
    ];
    db.record_delivery(&Delivery::new("github", "d-2", "issues"), &two, later)
        .await
        .unwrap();
    db.record_delivery(&Delivery::new("github", "d-2", "issues"), &two, later)
        .await
        .unwrap();

    // Twisted fails next: its last success stays.
    db.mark_due(Some("Twisted"), later).await.unwrap();
    let again = db
        .lease_due("w:1", later, 10, TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    let l = again.iter().find(|l| l.tracker == "Twisted").unwrap();
    let failed = RunResult::new(Outcome::Failed, Some("boom".into()), 0);
    assert!(db.finish_run(l, later, &failed).await.unwrap());
    let rows = db
        .tracker_rows(&TrackerFilter::default(), later)
        .await
        .unwrap();
    let (tw2, oh2) = (&rows[0], &rows[1]);
    assert_eq!(
        (tw2.outcome.as_deref(), tw2.last_success, tw2.last_finished),
        (Some("failed"), Some(end), Some(later)),
        "the last success is kept through a failure"
    );
    assert_eq!((oh2.webhook_deliveries, oh2.last_webhook), (2, Some(later)));
    // The JSON shape (the one of GET /api/trackers).
    let json = serde_json::to_value(oh).unwrap();
    assert_eq!(json["last_finished"], "2026-12-01T00:01:00");
    assert_eq!(json["last_success"], serde_json::Value::Null);
    db.close().await;
}

async fn filters_and_orders(db: &TestDb) {
    let db = db.connect().await;
    setup(&db).await;
    let names = |rows: Vec<bugimporters_hostdb::TrackerRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.name).collect()
    };
    let mut f = TrackerFilter::default();
    f.trackers = vec!["Twisted".into(), "nope".into()];
    let rows = db.tracker_rows(&f, t0()).await.unwrap();
    // The counts of a few trackers are read for them alone: the same as in the full read.
    assert_eq!(
        (rows.len(), rows[0].bugs, rows[0].open, rows[0].bitesized),
        (1, 4, 3, 2)
    );
    assert_eq!(rows[0].project.as_deref(), Some("Twisted"));
    let mut f = TrackerFilter::default();
    f.tracker_type = Some("trac".into());
    assert_eq!(names(db.tracker_rows(&f, t0()).await.unwrap()), ["Twisted"]);
    let mut f = TrackerFilter::default();
    f.text = Some("HATCH".into());
    assert_eq!(
        names(db.tracker_rows(&f, t0()).await.unwrap()),
        ["openhatch"]
    );
    let mut f = TrackerFilter::default();
    f.text = Some("%".into()); // literal, not a wildcard
    assert!(db.tracker_rows(&f, t0()).await.unwrap().is_empty());
    let mut f = TrackerFilter::default();
    f.project = Some("openhatch".into());
    assert_eq!(
        names(db.tracker_rows(&f, t0()).await.unwrap()),
        ["openhatch"]
    );
    let mut f = TrackerFilter::default();
    f.failing = true;
    assert!(db.tracker_rows(&f, t0()).await.unwrap().is_empty());
    // Orders: by bite-sized bugs, both ways; unknown names are refused with the list.
    let mut f = TrackerFilter::default();
    f.sort = TrackerSort::parse("bitesized").unwrap();
    assert_eq!(
        names(db.tracker_rows(&f, t0()).await.unwrap()),
        ["openhatch", "Twisted"]
    );
    f.descending = true;
    assert_eq!(
        names(db.tracker_rows(&f, t0()).await.unwrap()),
        ["Twisted", "openhatch"]
    );
    let e = TrackerSort::parse("colour").unwrap_err();
    assert!(e.contains("\"colour\"") && e.contains("next_due"), "{e}");

    // Totals per project, and the finder's choices.
    let totals = db.project_totals(None).await.unwrap();
    let got: Vec<(&str, [i64; 5])> = totals
        .iter()
        .map(|t| {
            (
                t.project.as_str(),
                [t.trackers, t.bugs, t.open, t.bitesized, t.documentation],
            )
        })
        .collect();
    assert_eq!(
        got,
        [("Twisted", [1, 4, 3, 2, 2]), ("openhatch", [1, 1, 1, 0, 0])]
    );
    assert_eq!(db.project_totals(Some("openhatch")).await.unwrap().len(), 1);
    let facets = db.bug_facets().await.unwrap();
    assert_eq!(facets.projects, ["Twisted", "openhatch"]);
    assert_eq!(facets.tracker_types, ["github", "trac"]);
    db.close().await;
}

on_all_backends!(rows_count_schedule_and_webhooks, filters_and_orders);
