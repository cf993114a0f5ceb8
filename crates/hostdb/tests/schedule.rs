//! The service's schedule and leases, with an injected clock, on SQLite always and on
//! PostgreSQL / MariaDB when `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL`
//! are set.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bugimporters_core::time::parse_datetime;
use bugimporters_hostdb::schedule::{Clock, ManualClock};
use bugimporters_hostdb::{tracker_from_args, HostDb, Lease, Outcome, RunResult, TrackerEdit};
use chrono::{NaiveDateTime, TimeDelta};
use common::{registry, TestDb};

fn t0() -> NaiveDateTime {
    parse_datetime("2026-12-01T00:00:00").unwrap()
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// Adds a Trac tracker `name` on host `host` with the given `refresh_interval` (if any).
async fn add(db: &HostDb, name: &str, host: &str, interval: Option<&str>) {
    let options: Vec<String> = interval
        .map(|i| format!("refresh_interval={i}"))
        .into_iter()
        .collect();
    let base = format!("https://{host}/trac/");
    let c = tracker_from_args("trac", name, Some(&base), &options, &[]).unwrap();
    db.add_tracker(&registry(), &c, None).await.unwrap();
}

fn ok() -> RunResult {
    RunResult::new(Outcome::Ok, None, 3)
}

fn failed(msg: &str) -> RunResult {
    RunResult::new(Outcome::Failed, Some(msg.to_owned()), 0)
}

async fn refresh_interval_is_a_tracker_key(db: &TestDb) {
    let db = db.connect().await;
    add(&db, "five", "a.example", Some("5m")).await;
    add(&db, "daily", "a.example", None).await;
    let reg = registry();
    for (bad, why) in [("30s", "minimum"), ("5x", "unit"), ("", "unit")] {
        let c = tracker_from_args(
            "trac",
            "bad",
            Some("https://a.example/"),
            &[format!("refresh_interval={bad}")],
            &[],
        )
        .unwrap();
        let e = db
            .add_tracker(&reg, &c, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"bad\"") && e.contains(why), "{bad}: {e}");
    }
    // The crawler does not need it: export-config leaves it out.
    let export = db.export_configs(None).await.unwrap();
    assert!(export.iter().all(|m| !m.contains_key("refresh_interval")));
    assert_eq!(export.len(), 2);

    // Loading that export back keeps the stored interval.
    let text = bugimporters_hostdb::render_export(&export, bugimporters_hostdb::ExportFormat::Yaml)
        .unwrap();
    let report = db
        .load_config_text(&reg, &text, bugimporters_core::ConfigFormat::Yaml)
        .await
        .unwrap();
    assert_eq!(report.updated, 2, "{report:?}");
    db.sync_schedule(t0()).await.unwrap();
    let status = db.schedule_status(t0()).await.unwrap();
    let intervals: Vec<(&str, &str)> = status
        .iter()
        .map(|e| (e.name.as_str(), e.refresh_interval.as_str()))
        .collect();
    assert_eq!(intervals, [("daily", "1d"), ("five", "5m")]);
    assert!(status.iter().all(|e| e.next_due == Some(t0())));

    // `customs edit` changes it; a shorter interval applies at once after the last run.
    let mut lease = db.lease_due("w", t0(), 10, minutes(5), 8).await.unwrap();
    lease.sort_by(|a, b| a.tracker.cmp(&b.tracker));
    for l in &lease {
        assert!(db.finish_run(l, t0(), &ok()).await.unwrap());
    }
    let mut edit = TrackerEdit::default();
    edit.set
        .push(("refresh_interval".into(), serde_json::json!("1h")));
    db.edit_tracker(&reg, "daily", &edit).await.unwrap();
    db.sync_schedule(t0()).await.unwrap();
    let daily = db.schedule_status(t0()).await.unwrap().remove(0);
    assert_eq!(daily.refresh_interval, "1h");
    assert_eq!(daily.next_due, Some(t0() + TimeDelta::hours(1)));
    assert_eq!(daily.bugs, 0);
    assert_eq!(daily.outcome.as_deref(), Some("ok"));
    assert_eq!(daily.last_worker.as_deref(), Some("w"));
}

/// Runs everything due at each minute of a day for 20 trackers at mixed intervals (two of
/// them always failing, one refreshed by hand) and checks every run's time.
async fn a_simulated_day(db: &TestDb) {
    let db = db.connect().await;
    let clock = ManualClock::new(t0());
    let plan: Vec<(String, Option<&str>)> = (0..20)
        .map(|i| {
            let interval = [Some("5m"), Some("1h"), Some("6h"), None, Some("90m")][i % 5];
            (format!("t{i:02}"), interval)
        })
        .collect();
    for (i, (name, interval)) in plan.iter().enumerate() {
        add(&db, name, &format!("h{}.example", i % 3), *interval).await;
    }
    let failing: BTreeSet<&str> = ["t00", "t03"].into();
    let mut runs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for minute in 0..24 * 60 {
        let now = clock.now();
        if minute == 600 {
            assert_eq!(db.mark_due(Some("t08"), now).await.unwrap(), 1);
        }
        db.sync_schedule(now).await.unwrap();
        let leases = db
            .lease_due("sim:1", now, 100, minutes(10), 100)
            .await
            .unwrap();
        for lease in leases {
            runs.entry(lease.tracker.clone()).or_default().push(minute);
            let r = if failing.contains(lease.tracker.as_str()) {
                failed("connection refused")
            } else {
                ok()
            };
            assert!(db.finish_run(&lease, now, &r).await.unwrap());
        }
        clock.advance(minutes(1));
    }
    let every = |step: i64| (0..24 * 60).step_by(step as usize).collect::<Vec<i64>>();
    // A 5-minute tracker failing: 5, 10, 20, 40... minutes apart, capped at one day.
    let backoff_5m = vec![0, 5, 15, 35, 75, 155, 315, 635, 1275];
    for (name, interval) in &plan {
        let expected = match (name.as_str(), *interval) {
            ("t00", _) => backoff_5m.clone(),
            // Daily and failing: retried daily (the cap is its own interval).
            ("t03", _) => vec![0],
            // Daily, refreshed by hand at 10:00.
            ("t08", _) => vec![0, 600],
            (_, Some("5m")) => every(5),
            (_, Some("1h")) => every(60),
            (_, Some("6h")) => every(360),
            (_, Some("90m")) => every(90),
            (_, None) => vec![0],
            other => panic!("{other:?}"),
        };
        assert_eq!(runs.get(name), Some(&expected), "{name} ({interval:?})");
    }
    let status = db.schedule_status(clock.now()).await.unwrap();
    let t00 = status.iter().find(|e| e.name == "t00").unwrap();
    assert_eq!(t00.consecutive_failures, 9);
    assert_eq!(t00.outcome.as_deref(), Some("failed"));
    assert_eq!(t00.last_error.as_deref(), Some("connection refused"));
    assert_eq!(t00.next_due, Some(t0() + minutes(1275 + 1280)));
    let t03 = status.iter().find(|e| e.name == "t03").unwrap();
    assert_eq!(t03.next_due, Some(t0() + TimeDelta::days(1)));
    let total: usize = runs.values().map(Vec::len).sum();
    assert_eq!(total, 3 * 288 + 4 * 24 + 4 * 4 + 4 * 16 + 2 + 9 + 1 + 2);
}

async fn an_expired_lease_is_taken_over_and_the_loser_writes_nothing(db: &TestDb) {
    let db = db.connect().await;
    add(&db, "one", "a.example", Some("1h")).await;
    db.sync_schedule(t0()).await.unwrap();
    let mut a = db.lease_due("a:1", t0(), 5, minutes(2), 8).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].taken_over_from, None);
    // Held: nobody else gets it, before or after a heartbeat.
    assert!(db
        .lease_due("b:2", t0() + minutes(1), 5, minutes(2), 8)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .renew_lease(&mut a[0], t0() + minutes(1), minutes(2))
        .await
        .unwrap());
    assert!(db
        .lease_due("b:2", t0() + minutes(2), 5, minutes(2), 8)
        .await
        .unwrap()
        .is_empty());
    // `a` stops heart-beating (crashed, or stuck): after expiry `b` takes over.
    let b = db
        .lease_due("b:2", t0() + minutes(4), 5, minutes(2), 8)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].taken_over_from.as_deref(), Some("a:1"));
    assert_eq!(b[0].due, t0());
    let status = db.schedule_status(t0() + minutes(4)).await.unwrap();
    assert_eq!(status[0].running_on.as_deref(), Some("b:2"));
    // The loser can neither renew nor record its run.
    assert!(!db
        .renew_lease(&mut a[0], t0() + minutes(4), minutes(2))
        .await
        .unwrap());
    assert!(!db
        .finish_run(&a[0], t0() + minutes(5), &ok())
        .await
        .unwrap());
    assert!(!db.release_lease(&a[0]).await.unwrap());
    assert!(db
        .finish_run(&b[0], t0() + minutes(5), &ok())
        .await
        .unwrap());
    let status = db.schedule_status(t0() + minutes(5)).await.unwrap();
    assert_eq!(status[0].last_worker.as_deref(), Some("b:2"));
    assert_eq!(status[0].next_due, Some(t0() + TimeDelta::hours(1)));
    assert_eq!(status[0].running_on, None);
}

async fn a_released_lease_leaves_the_tracker_due(db: &TestDb) {
    let db = db.connect().await;
    add(&db, "one", "a.example", None).await;
    db.sync_schedule(t0()).await.unwrap();
    let a = db.lease_due("a:1", t0(), 5, minutes(2), 8).await.unwrap();
    assert!(db.release_lease(&a[0]).await.unwrap());
    let b = db.lease_due("b:2", t0(), 5, minutes(2), 8).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].taken_over_from, None);
    // A refresh asked for during a run is kept: the tracker runs again at once.
    db.mark_due(Some("one"), t0() + minutes(1)).await.unwrap();
    assert!(db
        .finish_run(&b[0], t0() + minutes(2), &ok())
        .await
        .unwrap());
    let again = db
        .lease_due("b:2", t0() + minutes(2), 5, minutes(2), 8)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].due, t0() + minutes(1));
    let e = db
        .mark_due(Some("nope"), t0())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
}

async fn the_host_budget_holds_over_all_workers(db: &TestDb) {
    let db = db.connect().await;
    for i in 0..5 {
        add(&db, &format!("same{i}"), "busy.example", None).await;
    }
    add(&db, "other", "quiet.example", None).await;
    db.sync_schedule(t0()).await.unwrap();
    let a = db.lease_due("a:1", t0(), 10, minutes(5), 2).await.unwrap();
    let hosts: Vec<&str> = a.iter().map(|l| l.host_key.as_str()).collect();
    assert_eq!(
        hosts.iter().filter(|h| **h == "busy.example").count(),
        2,
        "{hosts:?}"
    );
    assert_eq!(a.len(), 3);
    assert!(db
        .lease_due("b:2", t0(), 10, minutes(5), 2)
        .await
        .unwrap()
        .is_empty());
    let busy: Vec<&Lease> = a.iter().filter(|l| l.host_key == "busy.example").collect();
    assert!(db.finish_run(busy[0], t0(), &ok()).await.unwrap());
    let b = db.lease_due("b:2", t0(), 10, minutes(5), 2).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].host_key, "busy.example");
}

/// Three pools lease concurrently: every due tracker goes to exactly one of them.
async fn concurrent_lease_passes_never_share_a_tracker(db: &TestDb) {
    let first = db.connect().await;
    for i in 0..50 {
        add(
            &first,
            &format!("c{i:02}"),
            &format!("h{}.example", i % 4),
            None,
        )
        .await;
    }
    first.sync_schedule(t0()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..3 {
        let db = HostDb::connect(&db.url).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = db
                    .lease_due(&format!("w:{w}"), t0(), 3, minutes(5), 100)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break;
                }
                for l in got {
                    assert!(db.finish_run(&l, t0(), &ok()).await.unwrap());
                    mine.push(l.tracker);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let expected: Vec<String> = (0..50).map(|i| format!("c{i:02}")).collect();
    assert_eq!(all, expected);
}

async fn queue_stats_count_states(db: &TestDb) {
    let db = db.connect().await;
    for name in ["a", "b", "c"] {
        add(&db, name, "x.example", Some("1h")).await;
    }
    db.sync_schedule(t0()).await.unwrap();
    let s = db.queue_stats(t0() + minutes(1)).await.unwrap();
    assert_eq!((s.trackers, s.due, s.running, s.failing), (3, 3, 0, 0));
    assert_eq!(s.oldest_due, Some(t0()));
    let leases = db
        .lease_due("w", t0() + minutes(1), 2, minutes(5), 8)
        .await
        .unwrap();
    assert!(db
        .finish_run(&leases[0], t0() + minutes(1), &failed("boom"))
        .await
        .unwrap());
    let s = db.queue_stats(t0() + minutes(2)).await.unwrap();
    assert_eq!((s.trackers, s.due, s.running, s.failing), (3, 1, 1, 1));
}

on_all_backends!(
    refresh_interval_is_a_tracker_key,
    a_simulated_day,
    an_expired_lease_is_taken_over_and_the_loser_writes_nothing,
    a_released_lease_leaves_the_tracker_due,
    the_host_budget_holds_over_all_workers,
    concurrent_lease_passes_never_share_a_tracker,
    queue_stats_count_states,
);
