//! The service imports with its own tracker registry, as `import-results` does: a tracker of
//! a type the built-in registry does not know (the testkit JSON type, registered by the
//! host) has its links owned and imported, not rejected as of an unknown type.

mod common;

use std::sync::Arc;

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_service::{Service, ServiceConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_types_links_are_owned_in_a_service_run() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/tk/", listener.local_addr().unwrap());
    let page = serde_json::json!({ "bugs": [
        { "canonical_bug_link": format!("{base}bug/1"), "title": "one" },
        { "canonical_bug_link": format!("{base}bug/2"), "title": "two" },
    ]});
    let router = axum::Router::new().route(
        "/tk/query",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::Json(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut registry = bugimporters_all::default_registry();
    bugimporters_testkit::json_tracker::register(&mut registry);
    let registry = Arc::new(registry);
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = common::sqlite(dir.path(), "host.db").await;
    let query = format!("{base}query");
    let config =
        bugimporters_hostdb::tracker_from_args("testkit", "Plugin", Some(&base), &[], &[query])
            .unwrap();
    db.add_tracker(&registry, &config, None).await.unwrap();

    let now = bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap();
    let mut c = ServiceConfig::default();
    c.workers = 1;
    c.spool_dir = dir.path().join("spool");
    c.fetch = common::fetch();
    c.worker_id = "test:1".into();
    let svc =
        Service::with_clock(db.clone(), registry, c, Arc::new(ManualClock::new(now))).unwrap();
    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.ok), (1, 1), "{summary:?}");
    let status = db.schedule_status(now).await.unwrap();
    assert_eq!(status[0].last_error, None, "{status:?}");
    let links: Vec<String> = db
        .bugs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.bug.canonical_bug_link)
        .collect();
    assert_eq!(links, [format!("{base}bug/1"), format!("{base}bug/2")]);
}
