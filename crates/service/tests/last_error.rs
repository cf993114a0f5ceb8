//! A failing run's `last_error` (what `customs status [--json]` shows) goes through the
//! central redaction and is bounded: a registered secret that the failing tracker's error
//! echoes (here in the URL the error names) never reaches the schedule.

mod common;

use bugimporters_hostdb::schedule::{render_status, ManualClock, ERROR_MAX_CHARS};
use common::{service, sqlite};

const SECRET: &str = "Zq9svcSecret7731";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_error_holds_no_secret_and_is_bounded() {
    bugimporters_core::redact::register(SECRET);
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = sqlite(dir.path(), "host.db").await;
    // A tracker whose server is gone (a closed loopback port), with the secret and a long
    // tail in its path, so that the crawl's error quotes both.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}/t-{SECRET}-{}/", "x".repeat(3000));
    let query = format!("{base}query?format=csv&status=!closed&col=id&order=id");
    let config =
        bugimporters_hostdb::tracker_from_args("trac", "Leaky", Some(&base), &[], &[query])
            .unwrap();
    let registry = bugimporters_all::default_registry();
    db.add_tracker(&registry, &config, None).await.unwrap();

    let now = bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap();
    let clock = ManualClock::new(now);
    let svc = service(&db, &dir.path().join("spool"), &clock, 1);
    let summary = svc.run_once().await.unwrap();
    assert_eq!((summary.runs, summary.failed), (1, 1), "{summary:?}");

    let status = db.schedule_status(now).await.unwrap();
    let error = status[0].last_error.as_deref().unwrap();
    assert!(
        error.contains("127.0.0.1"),
        "names the failing server: {error}"
    );
    assert!(
        error.contains("[REDACTED]"),
        "the secret was in the error: {error}"
    );
    assert!(!error.contains(SECRET), "{error}");
    assert!(error.chars().count() <= ERROR_MAX_CHARS, "{error}");
    assert!(
        error.len() < 400,
        "a bounded excerpt: {} bytes",
        error.len()
    );
    // What `customs status --json` and `customs status` print.
    let json = serde_json::to_string_pretty(&status).unwrap();
    assert!(!json.contains(SECRET), "{json}");
    assert!(!render_status(&status).contains(SECRET));
}
