//! `serve --tracker-timeout`: a service run of a tracker that stalls is abandoned at the
//! deadline; what it crawled so far is imported, none of its deletions is, the schedule says
//! why and backs the tracker off.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_service::{Service, ServiceConfig};
use chrono::TimeDelta;

/// A testkit tracker on loopback: its query first answers bugs 1 and 2 in one page; once
/// `stall` is set it answers bug 1 (retitled), bug 3 and bug 2 deleted, then a second page
/// that never comes. Held bugs' own pages say the same: 1 retitled, 2 gone (404).
async fn stalling_tracker(stall: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/tk/", listener.local_addr().unwrap());
    let b = base.clone();
    let query = move || {
        let base = b.clone();
        let stalling = stall.load(Ordering::SeqCst);
        async move {
            let bug = |n: u32, title: &str| serde_json::json!({ "canonical_bug_link": format!("{base}bug/{n}"), "title": title });
            let page = if stalling {
                let mut gone = bug(2, "two");
                gone["_deleted"] = serde_json::Value::Bool(true);
                serde_json::json!({
                    "bugs": [bug(1, "one, retitled"), bug(3, "three"), gone],
                    "next": format!("{base}stall"),
                })
            } else {
                serde_json::json!({ "bugs": [bug(1, "one"), bug(2, "two")] })
            };
            axum::Json(page)
        }
    };
    // A held bug's own page (the refresh of held bugs): bug 1 retitled, bug 2 gone.
    let b = base.clone();
    let one = move |axum::extract::Path(n): axum::extract::Path<u32>| {
        let base = b.clone();
        async move {
            if n == 1 {
                let bug = serde_json::json!({ "canonical_bug_link": format!("{base}bug/1"), "title": "one, retitled" });
                Ok(axum::Json(bug))
            } else {
                Err(axum::http::StatusCode::NOT_FOUND)
            }
        }
    };
    let router = axum::Router::new()
        .route("/tk/query", axum::routing::get(query))
        .route("/tk/bug/{n}", axum::routing::get(one))
        .route(
            "/tk/stall",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                axum::Json(serde_json::json!({ "bugs": [] }))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_tracker_is_abandoned_at_the_deadline_imported_so_far_and_backed_off() {
    let stall = Arc::new(AtomicBool::new(false));
    let base = stalling_tracker(stall.clone()).await;
    let mut registry = bugimporters_all::default_registry();
    bugimporters_testkit::json_tracker::register(&mut registry);
    let registry = Arc::new(registry);
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = common::sqlite(dir.path(), "host.db").await;
    let config = bugimporters_hostdb::tracker_from_args(
        "testkit",
        "Stalling",
        Some(&base),
        &["refresh_interval=5m".to_owned()],
        &[format!("{base}query")],
    )
    .unwrap();
    db.add_tracker(&registry, &config, None).await.unwrap();

    let now = bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap();
    let clock = ManualClock::new(now);
    let mut c = ServiceConfig::default();
    c.workers = 1;
    c.spool_dir = dir.path().join("spool");
    c.fetch = common::fetch();
    c.worker_id = "test:1".into();
    c.tracker_timeout = Duration::from_secs(1);
    let svc = Service::with_clock(db.clone(), registry, c, Arc::new(clock.clone())).unwrap();
    let titles = || async {
        db.bugs(None)
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.bug.canonical_bug_link, b.bug.title.unwrap_or_default()))
            .collect::<Vec<_>>()
    };

    // Round 1: the tracker answers at once; bugs 1 and 2 are held.
    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.ok), (1, 1), "{summary:?}");
    let link = |n: u32| format!("{base}bug/{n}");
    assert_eq!(
        titles().await,
        [(link(1), "one".to_owned()), (link(2), "two".to_owned())]
    );

    // Rounds 2 and 3: the second page stalls; each run is abandoned after one second.
    stall.store(true, Ordering::SeqCst);
    let mut at = now + TimeDelta::minutes(5);
    for failures in 1..=2 {
        clock.set(at);
        let started = std::time::Instant::now();
        let summary = svc.run_once().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run waited for the stalled page instead of its deadline"
        );
        assert_eq!((summary.runs, summary.failed), (1, 1), "{summary:?}");
        assert_eq!(summary.exit_code(), 1);

        // What came before the stall is imported; the deletion on the abandoned run is not.
        assert_eq!(
            titles().await,
            [
                (link(1), "one, retitled".to_owned()),
                (link(2), "two".to_owned()),
                (link(3), "three".to_owned()),
            ],
            "round {}",
            failures + 1
        );

        let status = db.schedule_status(at).await.unwrap().remove(0);
        assert_eq!(status.outcome.as_deref(), Some("failed"), "{status:?}");
        assert_eq!(status.consecutive_failures, failures);
        let why = status.last_error.as_deref().unwrap_or_default();
        assert!(
            why.contains("abandoned") && why.contains("--tracker-timeout"),
            "{why}"
        );
        // Back-off: 5 min after the first failure, 10 after the second.
        let wait = TimeDelta::minutes(5 * (1 << (failures - 1)));
        assert_eq!(status.next_due, Some(at + wait), "{status:?}");
        at += wait;
    }
}
