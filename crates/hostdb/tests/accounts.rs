//! Accounts (`hostdb::accounts`) on SQLite always and on PostgreSQL / MariaDB when
//! `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL` are set: users and
//! password checks, sessions stored hashed and expiring, login throttling, the audit log
//! without secrets, tracker owners.

mod common;

use bugimporters_core::time::parse_datetime;
use bugimporters_hostdb::accounts::{AuditChange, LOGIN_MAX_FAILURES};
use bugimporters_hostdb::{tracker_from_args, Role};
use chrono::{NaiveDateTime, TimeDelta};
use common::{registry, TestDb};

fn t0() -> NaiveDateTime {
    parse_datetime("2026-12-06T00:00:00").unwrap()
}

async fn users_and_passwords(t: &TestDb) {
    let db = t.connect().await;
    let alice = db
        .add_user("alice", Role::Admin, "a long password")
        .await
        .unwrap();
    assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Admin));
    db.add_user("Bob", Role::Maintainer, "bob's long password")
        .await
        .unwrap();
    // Names are exact: `ALICE` is another name; `alice` again is refused.
    let e = db
        .add_user("alice", Role::Maintainer, "another long one")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exists"), "{e}");
    assert!(db.user("ALICE").await.unwrap().is_none());
    let names: Vec<String> = db
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["Bob", "alice"]);
    // A short password is refused before anything is stored.
    assert!(db.add_user("carol", Role::Admin, "short").await.is_err());
    assert!(db.user("carol").await.unwrap().is_none());
    // Login: right password, wrong password, unknown name.
    let ok = db.authenticate("alice", "a long password").await.unwrap();
    assert_eq!(ok.map(|u| u.id), Some(alice.id));
    assert!(db
        .authenticate("alice", "a long passworD")
        .await
        .unwrap()
        .is_none());
    assert!(db
        .authenticate("nobody", "a long password")
        .await
        .unwrap()
        .is_none());
    // A new password works, the old one no longer does, and sessions end.
    let s = db.create_session(alice.id, t0()).await.unwrap();
    assert!(db
        .set_password("alice", "a new long password")
        .await
        .unwrap());
    assert!(db
        .authenticate("alice", "a long password")
        .await
        .unwrap()
        .is_none());
    assert!(db
        .authenticate("alice", "a new long password")
        .await
        .unwrap()
        .is_some());
    assert!(db.session(&s.token, t0()).await.unwrap().is_none());
    assert!(!db
        .set_password("nobody", "a new long password")
        .await
        .unwrap());
    // Removal.
    assert!(db.remove_user("Bob").await.unwrap());
    assert!(!db.remove_user("Bob").await.unwrap());
    db.close().await;
}

async fn sessions_are_hashed_and_expire(t: &TestDb) {
    let db = t.connect().await;
    let u = db
        .add_user("alice", Role::Admin, "a long password")
        .await
        .unwrap();
    let s = db.create_session(u.id, t0()).await.unwrap();
    let found = db.session(&s.token, t0()).await.unwrap().unwrap();
    assert_eq!(
        (found.user.id, found.csrf.as_str()),
        (u.id, s.csrf.as_str())
    );
    // The table holds the id's hash only: looking it up by that hash finds nothing.
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(s.token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(db.session(&hash, t0()).await.unwrap().is_none());
    // A second login is another session with another CSRF token.
    let s2 = db.create_session(u.id, t0()).await.unwrap();
    assert_ne!((&s.token, &s.csrf), (&s2.token, &s2.csrf));
    // Expiry.
    let late = s.expires_at + TimeDelta::seconds(1);
    assert!(db.session(&s.token, late).await.unwrap().is_none());
    // Logout ends one session only.
    assert!(db.end_session(&s2.token).await.unwrap());
    assert!(db.session(&s2.token, t0()).await.unwrap().is_none());
    assert!(db.session(&s.token, t0()).await.unwrap().is_some());
    // Removing the user ends the rest.
    db.remove_user("alice").await.unwrap();
    assert!(db.session(&s.token, t0()).await.unwrap().is_none());
    db.close().await;
}

async fn failed_logins_lock_out(t: &TestDb) {
    let db = t.connect().await;
    let keys = ["name:alice".to_owned(), "addr:192.0.2.1".to_owned()];
    let other = ["name:bob".to_owned(), "addr:192.0.2.2".to_owned()];
    for i in 0..LOGIN_MAX_FAILURES {
        assert!(!db.login_locked(&keys, t0()).await.unwrap());
        db.record_login_failure(&keys, t0() + TimeDelta::seconds(i))
            .await
            .unwrap();
    }
    let now = t0() + TimeDelta::minutes(1);
    assert!(db.login_locked(&keys, now).await.unwrap());
    // Either key locks: the same address with another name, the same name elsewhere.
    assert!(db
        .login_locked(&["name:bob".to_owned(), keys[1].clone()], now)
        .await
        .unwrap());
    assert!(!db.login_locked(&other, now).await.unwrap());
    // The lock-out ends after the window.
    let later = t0() + TimeDelta::minutes(16);
    assert!(!db.login_locked(&keys, later).await.unwrap());
    // Clearing a key forgets its failures.
    db.clear_login_failures("name:alice").await.unwrap();
    assert!(!db.login_locked(&keys[..1], now).await.unwrap());
    db.close().await;
}

async fn audit_log_and_owners(t: &TestDb) {
    let db = t.connect().await;
    let u = db
        .add_user("alice", Role::Maintainer, "a long password")
        .await
        .unwrap();
    let c = tracker_from_args(
        "github",
        "Hooked",
        None,
        &["github_name=o".to_owned(), "github_repo=r".to_owned()],
        &[],
    )
    .unwrap();
    let r = db.add_tracker(&registry(), &c, None).await.unwrap();
    assert_eq!(db.tracker_owner(r.id).await.unwrap(), None);
    db.set_tracker_owner(r.id, Some(u.id)).await.unwrap();
    assert_eq!(db.tracker_owner(r.id).await.unwrap(), Some(u.id));
    // Added from the web: the owner is written with the tracker, in one transaction.
    let mut c2 = c.clone();
    c2.tracker_name = "Owned".into();
    let owned = db
        .add_tracker_owned(&registry(), &c2, None, Some(u.id))
        .await
        .unwrap();
    assert_eq!(db.tracker_owner(owned.id).await.unwrap(), Some(u.id));
    let old = r.to_json();
    let mut new = old.clone();
    new["bitesized_tag"] = "easy".into();
    new["queries"] =
        serde_json::json!(["https://api.github.com/repos/o/r/issues?access_token=sekrit"]);
    let change = AuditChange::new(
        "alice",
        Some(r.id),
        "Hooked",
        "edit",
        Some(&old),
        Some(&new),
    );
    db.record_audit(&change, t0()).await.unwrap();
    let add = AuditChange::new("alice", Some(r.id), "Hooked", "add", None, Some(&old));
    db.record_audit(&add, t0() + TimeDelta::seconds(1))
        .await
        .unwrap();
    let log = db.audit_log(Some(r.id), 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].action.as_str(), log[1].action.as_str()),
        ("add", "edit")
    );
    assert_eq!(log[1].actor, "alice");
    assert_eq!(log[1].at, t0());
    assert_eq!(log[1].new.as_ref().unwrap()["bitesized_tag"], "easy");
    assert!(log[1].old.is_some() && log[0].old.is_none());
    let all = serde_json::to_string(&log[1].new).unwrap();
    assert!(!all.contains("sekrit"), "{all}");
    // Every tracker's log (deleted ones too), newest first.
    let other = AuditChange::new("bob", None, "Gone", "delete", Some(&old), None);
    db.record_audit(&other, t0() + TimeDelta::seconds(2))
        .await
        .unwrap();
    let all = db.audit_log(None, 10).await.unwrap();
    let names: Vec<&str> = all.iter().map(|e| e.tracker_name.as_str()).collect();
    assert_eq!(names, ["Gone", "Hooked", "Hooked"]);
    assert_eq!(db.audit_log(Some(r.id), 10).await.unwrap().len(), 2);
    // Removing the user leaves the tracker without an owner; the log keeps the name.
    db.remove_user("alice").await.unwrap();
    assert_eq!(db.tracker_owner(r.id).await.unwrap(), None);
    assert_eq!(db.audit_log(Some(r.id), 1).await.unwrap()[0].actor, "alice");
    db.close().await;
}

on_all_backends!(
    users_and_passwords,
    sessions_are_hashed_and_expire,
    failed_logins_lock_out,
    audit_log_and_owners,
);
