//! Webhook deliveries and the single-issue refresh queue, on SQLite always and on
//! PostgreSQL / MariaDB when `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL`
//! are set: de-duplication by delivery id, coalescing, leases that two workers never share,
//! a request during a refresh that queues it again, expiry, pruning, the tracker key.

mod common;

use bugimporters_core::time::parse_datetime;
use bugimporters_hostdb::webhooks::{Delivery, Recorded, WEBHOOK_SECRET_ENV};
use bugimporters_hostdb::{render_export, tracker_from_args, ExportFormat, HostDb};
use chrono::{NaiveDateTime, TimeDelta};
use common::{registry, TestDb};

fn t0() -> NaiveDateTime {
    parse_datetime("2026-12-05T00:00:00").unwrap()
}

/// A GitHub tracker `name` of `owner/repo`; returns its row id.
async fn add(db: &HostDb, name: &str, repo: &str, extra: &[&str]) -> i64 {
    let (owner, repo) = repo.split_once('/').unwrap();
    let mut options = vec![
        format!("github_name={owner}"),
        format!("github_repo={repo}"),
    ];
    options.extend(extra.iter().map(|s| (*s).to_owned()));
    let c = tracker_from_args("github", name, None, &options, &[]).unwrap();
    db.add_tracker(&registry(), &c, None).await.unwrap().id
}

fn link(n: u64) -> String {
    format!("https://github.com/o/r/issues/{n}")
}

async fn deliveries_dedupe_and_coalesce(t: &TestDb) {
    let db = t.connect().await;
    let id = add(&db, "Hooked", "o/r", &[]).await;
    let d = Delivery::new("github", "d-1", "issues/edited");
    let one = [(id, link(1))];
    assert_eq!(
        db.record_delivery(&d, &one, t0()).await.unwrap(),
        Recorded::New
    );
    // The same id again (a redelivery, a replay): nothing.
    assert_eq!(
        db.record_delivery(&d, &one, t0()).await.unwrap(),
        Recorded::Duplicate
    );
    assert!(db.has_delivery("github", "d-1").await.unwrap());
    // The same id from another forge is another delivery.
    assert!(!db.has_delivery("gitlab", "d-1").await.unwrap());
    // Another delivery for the same issue coalesces into its row.
    let d2 = Delivery::new("github", "d-2", "issues/labeled");
    assert_eq!(
        db.record_delivery(&d2, &[(id, link(1)), (id, link(2))], t0())
            .await
            .unwrap(),
        Recorded::New
    );
    assert_eq!(db.queued_refreshes().await.unwrap(), 2);
    // Ids and links over the limits are refused, naming the limit.
    let long = Delivery::new("github", "x".repeat(201), "e");
    assert!(db.record_delivery(&long, &one, t0()).await.is_err());
    let e = db
        .record_delivery(
            &Delivery::new("github", "d-3", "e"),
            &[(id, "h".repeat(800))],
            t0(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("760"), "{e}");
    assert!(!db.has_delivery("github", "d-3").await.unwrap());
    // Pruning forgets old ids.
    assert_eq!(
        db.prune_deliveries(t0() + TimeDelta::seconds(1))
            .await
            .unwrap(),
        2
    );
    assert!(!db.has_delivery("github", "d-1").await.unwrap());
    db.close().await;
}

async fn leases_are_exclusive_and_requeue(t: &TestDb) {
    let db = t.connect().await;
    let id = add(&db, "Hooked", "o/r", &[]).await;
    for n in 1..=3 {
        let d = Delivery::new("github", format!("d-{n}"), "issues/edited");
        db.record_delivery(&d, &[(id, link(n))], t0() + TimeDelta::seconds(n as i64))
            .await
            .unwrap();
    }
    let lease_for = TimeDelta::minutes(5);
    let a = db.lease_refreshes("a", t0(), 2, lease_for).await.unwrap();
    let b = db.lease_refreshes("b", t0(), 10, lease_for).await.unwrap();
    // Oldest first; what a holds, b does not get.
    assert_eq!(
        a.iter().map(|l| l.link.as_str()).collect::<Vec<_>>(),
        [link(1), link(2)]
    );
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].link.as_str(), b[0].tracker.as_str()),
        (link(3).as_str(), "Hooked")
    );
    assert!(db
        .lease_refreshes("c", t0(), 10, lease_for)
        .await
        .unwrap()
        .is_empty());
    // Issue 1 asked for again while a refreshes it: the refresh ends, the row stays queued.
    let d = Delivery::new("github", "d-again", "issues/edited");
    db.record_delivery(&d, &[(id, link(1))], t0() + TimeDelta::seconds(9))
        .await
        .unwrap();
    assert_eq!(db.finish_refreshes(&a).await.unwrap(), 2);
    assert!(db.finish_refresh(&b[0]).await.unwrap());
    assert_eq!(db.queued_refreshes().await.unwrap(), 1);
    let again = db.lease_refreshes("b", t0(), 10, lease_for).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].link, link(1));
    assert_eq!(again[0].requested_at, t0() + TimeDelta::seconds(9));
    // An expired lease is taken over; the old holder's end then changes nothing.
    let later = t0() + TimeDelta::minutes(6);
    let taken = db.lease_refreshes("c", later, 10, lease_for).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(!db.finish_refresh(&again[0]).await.unwrap());
    assert!(db.finish_refresh(&taken[0]).await.unwrap());
    assert_eq!(db.queued_refreshes().await.unwrap(), 0);
    db.close().await;
}

async fn secret_env_is_a_service_key(t: &TestDb) {
    let db = t.connect().await;
    add(&db, "Hooked", "o/r", &["webhook_secret_env=HOOKED_SECRET"]).await;
    // Accepted and stored, never exported to the crawler.
    let trackers = db.hook_trackers("github").await.unwrap();
    assert_eq!(
        trackers[0].config.extra[WEBHOOK_SECRET_ENV],
        "HOOKED_SECRET"
    );
    let export =
        render_export(&db.export_configs(None).await.unwrap(), ExportFormat::Json).unwrap();
    assert!(!export.contains(WEBHOOK_SECRET_ENV), "{export}");
    assert!(db.hook_trackers("gitlab").await.unwrap().is_empty());
    // A value that is not a variable name (a pasted secret) is refused without showing it.
    let c = tracker_from_args(
        "github",
        "Bad",
        None,
        &[
            "github_name=o".to_owned(),
            "github_repo=r".to_owned(),
            "webhook_secret_env=ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
        ],
        &[],
    )
    .unwrap();
    let e = db
        .add_tracker(&registry(), &c, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("webhook_secret_env") && !e.contains("ghp_"),
        "{e}"
    );
    // The refresh record: no queries, no get_older_bug_data, just the links.
    let r = db.export_refresh("Hooked", &[link(4)]).await.unwrap();
    assert_eq!(r["queries"], serde_json::json!([]));
    assert_eq!(r["get_older_bug_data"], serde_json::Value::Null);
    assert_eq!(r["existing_bug_urls"], serde_json::json!([link(4)]));
    assert!(!r.contains_key(WEBHOOK_SECRET_ENV));
    db.close().await;
}

on_all_backends!(
    deliveries_dedupe_and_coalesce,
    leases_are_exclusive_and_requeue,
    secret_env_is_a_service_key,
);
