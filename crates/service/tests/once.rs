//! `serve --once` against synthetic Trac trackers on SQLite: the host database ends as the
//! batch pipeline (export-config → crawl → import-results) leaves it, over two rounds with
//! changes on the trackers in between.

mod common;

use bugimporters_hostdb::schedule::ManualClock;
use chrono::TimeDelta;
use common::{add_trackers, batch_cycle, content, servers, service, sqlite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_once_equals_the_batch_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let servers = servers(3, 40).await;
    let (_, served) = sqlite(dir.path(), "served.db").await;
    let (_, batch) = sqlite(dir.path(), "batch.db").await;
    add_trackers(&served, &servers, &[]).await;
    add_trackers(&batch, &servers, &[]).await;
    let spool = dir.path().join("spool");

    let last_change = servers
        .iter()
        .flat_map(|s| s.bugs())
        .map(|b| b.modified)
        .max()
        .unwrap();
    let now1 = last_change + TimeDelta::hours(1);
    let clock = ManualClock::new(now1);
    let svc = service(&served, &spool, &clock, 2);
    let summary = svc.run_once().await.unwrap();
    assert_eq!(
        (summary.runs, summary.ok, summary.exit_code()),
        (3, 3, 0),
        "{summary:?}"
    );
    batch_cycle(&batch, dir.path(), 1, now1).await;
    let first = content(&served).await;
    assert!(!first.0.is_empty());
    assert_eq!(first, content(&batch).await, "round 1");
    // Every run's JSON lines are in the spool, ready for import-results.
    let spooled: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    assert_eq!(spooled.len(), 3, "{spooled:?}");

    // Nothing is due any more: a second pass runs nothing.
    assert_eq!(svc.run_once().await.unwrap().runs, 0);

    // The trackers move on; `customs refresh --all` makes them due again.
    let at = now1 + TimeDelta::hours(1);
    for s in &servers {
        s.touch(3, 3, at);
        s.close(2, 5, at);
        s.delete(2, 7);
    }
    let now2 = at + TimeDelta::hours(1);
    clock.set(now2);
    assert_eq!(served.mark_due(None, now2).await.unwrap(), 3);
    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.ok), (3, 3), "{summary:?}");
    batch_cycle(&batch, dir.path(), 2, now2).await;
    let second = content(&served).await;
    assert_ne!(second, first, "round 2 changed something");
    assert_eq!(second, content(&batch).await, "round 2");

    let status = served.schedule_status(now2).await.unwrap();
    for e in &status {
        assert_eq!(e.outcome.as_deref(), Some("ok"), "{e:?}");
        assert_eq!(e.last_worker.as_deref(), Some("test:1"));
        assert_eq!(e.next_due, Some(now2 + TimeDelta::days(1)));
        assert_eq!(e.last_finished, Some(now2));
        assert!(e.bugs > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tracker_backs_off_and_the_pass_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = sqlite(dir.path(), "host.db").await;
    let good = servers(1, 5).await;
    add_trackers(&db, &good, &["refresh_interval=5m".to_owned()]).await;
    // A tracker whose server is gone (a closed port on loopback).
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let registry = bugimporters_all::default_registry();
    let t = format!("http://127.0.0.1:{gone}/trac/");
    let q = format!("{t}query?format=csv&status=!closed&col=id&order=id");
    let c = bugimporters_hostdb::tracker_from_args(
        "trac",
        "Gone",
        Some(&t),
        &["refresh_interval=5m".to_owned()],
        &[q],
    )
    .unwrap();
    db.add_tracker(&registry, &c, None).await.unwrap();
    let now = bugimporters_core::time::parse_datetime("2026-12-01T00:00:00").unwrap();
    let clock = ManualClock::new(now);
    let svc = service(&db, &dir.path().join("spool"), &clock, 4);
    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.ok, summary.failed), (2, 1, 1));
    assert_eq!(summary.exit_code(), 1);
    let status = db.schedule_status(now).await.unwrap();
    let gone = status.iter().find(|e| e.name == "Gone").unwrap();
    assert_eq!(gone.outcome.as_deref(), Some("failed"));
    assert_eq!(gone.consecutive_failures, 1);
    assert_eq!(gone.next_due, Some(now + TimeDelta::minutes(5)));
    let err = gone.last_error.as_deref().unwrap();
    assert!(err.contains("127.0.0.1"), "{err}");
    // Second failure: twice the wait.
    clock.set(now + TimeDelta::minutes(5));
    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.failed), (2, 1));
    let gone = db.schedule_status(now).await.unwrap().remove(0);
    assert_eq!(gone.consecutive_failures, 2);
    assert_eq!(gone.next_due, Some(now + TimeDelta::minutes(15)));
    // The metrics count it.
    let text = svc.metrics().encode();
    assert!(
        text.contains("bugimporters_runs_finished_total{outcome=\"failed\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("bugimporters_runs_finished_total{outcome=\"ok\"} 2"),
        "{text}"
    );
}
