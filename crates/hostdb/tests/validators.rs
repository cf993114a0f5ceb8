//! `http_validators` (migration 20261206000004): the service's conditional-request
//! validators, per tracker and URL. On SQLite always, on PostgreSQL / MariaDB when
//! `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL` are set.

mod common;

use std::collections::HashMap;

use bugimporters_core::fetch::Validators;
use bugimporters_core::{load_config_str, ConfigFormat};
use bugimporters_hostdb::{Error, HostDb, VALIDATOR_URL_MAX};
use common::{registry, TestDb, CONFIG};

async fn load(db: &HostDb) {
    let reg = registry();
    for c in load_config_str(CONFIG, ConfigFormat::Yaml).unwrap() {
        db.load_config(&reg, &c.unwrap()).await.unwrap();
    }
}

fn v(etag: Option<&str>, last_modified: Option<&str>) -> Validators {
    Validators {
        etag: etag.map(str::to_owned),
        last_modified: last_modified.map(str::to_owned),
        link: etag.map(|_| "<http://h/p?page=2>; rel=\"next\"".to_owned()),
    }
}

async fn kept_per_tracker_replaced_whole_and_removed_with_the_tracker(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db).await;
    let page = "https://api.github.com/repos/openhatch/oh-mainline/issues?state=open&per_page=100";
    let mut twisted: HashMap<String, Validators> = HashMap::new();
    twisted.insert(page.to_owned(), v(Some("W/\"abc\""), None));
    twisted.insert(
        "https://twistedmatrix.com/trac/query?format=csv".to_owned(),
        v(None, Some("Sat, 05 Dec 2026 23:00:00 GMT")),
    );
    // Too long for the key, and a header no real server sends: left out.
    twisted.insert(
        format!("https://t/{}", "x".repeat(VALIDATOR_URL_MAX)),
        v(Some("\"e\""), None),
    );
    twisted.insert(
        "https://t/huge".to_owned(),
        v(Some(&"e".repeat(5000)), None),
    );
    twisted.insert("https://t/none".to_owned(), v(None, None));
    assert_eq!(
        db.save_tracker_validators("Twisted", &twisted)
            .await
            .unwrap(),
        2
    );
    let back = db.tracker_validators("Twisted").await.unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[page], twisted[page]);

    // Another tracker sees none of them, even for the same URL.
    assert!(db.tracker_validators("openhatch").await.unwrap().is_empty());
    let mut other = HashMap::new();
    other.insert(page.to_owned(), v(Some("\"other\""), None));
    db.save_tracker_validators("openhatch", &other)
        .await
        .unwrap();
    assert_eq!(
        db.tracker_validators("Twisted").await.unwrap()[page]
            .etag
            .as_deref(),
        Some("W/\"abc\"")
    );

    // A save replaces the tracker's set whole (a URL no longer fetched is forgotten).
    let mut next = HashMap::new();
    next.insert(page.to_owned(), v(Some("W/\"def\""), None));
    db.save_tracker_validators("Twisted", &next).await.unwrap();
    assert_eq!(db.tracker_validators("Twisted").await.unwrap(), next);

    // Unknown trackers are named; removing a tracker removes its validators.
    match db.tracker_validators("nope").await {
        Err(Error::NoSuchTracker(n)) => assert_eq!(n, "nope"),
        other => panic!("{other:?}"),
    }
    // The foreign key cascades: without it every backend refuses to delete the tracker.
    db.remove_tracker("Twisted").await.unwrap();
    assert!(matches!(
        db.tracker_validators("Twisted").await,
        Err(Error::NoSuchTracker(_))
    ));
    assert_eq!(db.tracker_validators("openhatch").await.unwrap(), other);
    db.close().await;
}

on_all_backends!(kept_per_tracker_replaced_whole_and_removed_with_the_tracker);
