//! Accounts on the web pages: `/login`, `/logout`, the session cookie, no session fixation,
//! no open redirect after login, throttling of failed logins, CSRF refusal, anonymous
//! visitors sent to the login page.

mod common;
#[path = "support/web.rs"]
mod web;

use bugimporters_hostdb::schedule::{Clock, ManualClock};
use bugimporters_hostdb::{HostDb, Role};
use bugimporters_service::Service;
use chrono::TimeDelta;
use common::{service, sqlite};
use web::Browser;

fn start() -> chrono::NaiveDateTime {
    bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap()
}

/// A service on a fresh SQLite file with users `root` (admin) and `mia` (maintainer).
async fn setup(dir: &tempfile::TempDir) -> (Service, HostDb, ManualClock) {
    let (_, db) = sqlite(dir.path(), "web.db").await;
    db.add_user("root", Role::Admin, "root's long password")
        .await
        .unwrap();
    db.add_user("mia", Role::Maintainer, "mia's long password")
        .await
        .unwrap();
    let clock = ManualClock::new(start());
    let svc = service(&db, dir.path(), &clock, 1);
    (svc, db, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_safe_cookie_and_logout_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db, clock) = setup(&dir).await;
    let mut b = Browser::new(&svc);
    let page = b.get("/login").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"name="password" type="password""#));
    let a = b.login("root", "root's long password").await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location(), "/customs/");
    let cookie = &a.set_cookies()[0];
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let token = b.cookie.clone().unwrap();
    // The database never holds the cookie's value.
    let s = db.session(&token, clock.now()).await.unwrap().unwrap();
    assert_eq!(s.user.name, "root");
    // Pages show who is logged in, and the logout form carries the CSRF token.
    let p = b.get("/no/such/page").await;
    assert!(
        p.body.contains(r#"<span class="user">root</span>"#),
        "{}",
        p.body
    );
    assert_eq!(p.csrf(), s.csrf);
    // Logout without the token: 403, still logged in.
    let refused = b.post("/logout", &[("csrf", "wrong")]).await;
    assert_eq!(refused.status, 403);
    assert!(db.session(&token, clock.now()).await.unwrap().is_some());
    let out = b.submit("/login", "/logout", &[]).await;
    assert_eq!((out.status, out.location()), (303, "/"));
    assert!(out.set_cookies()[0].contains("Max-Age=0"));
    assert!(db.session(&token, clock.now()).await.unwrap().is_none());
    // The old cookie no longer works.
    b.cookie = Some(token);
    let r = b.get("/customs/").await;
    assert_eq!(r.status, 303);
    // Sessions expire on the service's clock.
    let mut c = Browser::new(&svc);
    c.login("mia", "mia's long password").await;
    clock.advance(TimeDelta::hours(13));
    assert_eq!(c.get("/customs/").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_id_planted_before_login_is_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db, clock) = setup(&dir).await;
    // An attacker's own valid session, planted in the victim's browser.
    let mut attacker = Browser::new(&svc);
    attacker.login("mia", "mia's long password").await;
    let planted = attacker.cookie.clone().unwrap();
    let mut victim = Browser::new(&svc);
    victim.cookie = Some(planted.clone());
    let a = victim.login("root", "root's long password").await;
    assert_eq!(a.status, 303);
    let fresh = victim.cookie.clone().unwrap();
    assert_ne!(fresh, planted);
    assert_eq!(
        db.session(&fresh, clock.now())
            .await
            .unwrap()
            .unwrap()
            .user
            .name,
        "root"
    );
    // The planted id was ended, and never became root's.
    assert!(db.session(&planted, clock.now()).await.unwrap().is_none());
    // An id the server never issued gives nothing either.
    let mut forged = Browser::new(&svc);
    forged.cookie = Some("0".repeat(64));
    assert_eq!(forged.get("/customs/").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_only_leads_to_this_site() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _db, _) = setup(&dir).await;
    for (next, to) in [
        ("/customs/?type=trac", "/customs/?type=trac"),
        ("//evil.example/", "/customs/"),
        ("https://evil.example/", "/customs/"),
        ("/\\evil.example", "/customs/"),
        ("javascript:alert(1)", "/customs/"),
    ] {
        let mut b = Browser::new(&svc);
        let a = b
            .post(
                "/login",
                &[
                    ("name", "root"),
                    ("password", "root's long password"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!((a.status, a.location()), (303, to), "next={next:?}");
    }
    // The login page does not echo a refused next either.
    let mut b = Browser::new(&svc);
    let page = b.get("/login?next=%2F%2Fevil.example").await;
    assert!(!page.body.contains("evil.example"), "{}", page.body);
    assert!(page.body.contains(r#"name="next" value="/customs/""#));
    // Anonymous visitors of a page are sent to the login page, which brings them back.
    let r = b.get("/customs/?type=trac").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/login?next=%2Fcustoms%2F%3Ftype%3Dtrac");
    let page = b.get(r.location()).await;
    assert!(
        page.body
            .contains(r#"name="next" value="/customs/?type=trac""#),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_name_and_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _db, clock) = setup(&dir).await;
    let mut b = Browser::new(&svc);
    for _ in 0..5 {
        let a = b.login("root", "wrong password!").await;
        assert_eq!(a.status, 422);
        assert!(a.body.contains("Wrong name or password."), "{}", a.body);
        assert!(b.cookie.is_none());
    }
    // Locked: even the right password gets the same page with 429.
    let a = b.login("root", "root's long password").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.body.contains("Too many failed logins"));
    assert!(a.body.contains(r#"name="password""#));
    assert!(b.cookie.is_none());
    // The same name from another address is locked too (per name)...
    let mut elsewhere = Browser::new(&svc);
    elsewhere.addr = "198.51.100.7:5000".parse().unwrap();
    assert_eq!(
        elsewhere.login("root", "root's long password").await.status,
        429
    );
    // ...and another name from the first address (per address).
    assert_eq!(b.login("mia", "mia's long password").await.status, 429);
    // Unknown names count as failures as well, and look the same.
    let mut third = Browser::new(&svc);
    third.addr = "203.0.113.9:5000".parse().unwrap();
    let a = third.login("nobody", "whatever pass").await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("Wrong name or password."));
    // After 15 minutes the lock-out ends.
    clock.advance(TimeDelta::minutes(16));
    let a = b.login("root", "root's long password").await;
    assert_eq!(a.status, 303, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_and_bad_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db, clock) = setup(&dir).await;
    let mut b = Browser::new(&svc);
    b.login("root", "root's long password").await;
    let token = b.cookie.clone().unwrap();
    let csrf = b.get("/login").await.csrf();
    // A good token from another site's page (Origin): refused.
    b.headers = vec![("origin".into(), "https://evil.example".into())];
    assert_eq!(b.post("/logout", &[("csrf", &csrf)]).await.status, 403);
    // A login form posted from another site: refused before any check.
    assert_eq!(b.login("root", "root's long password").await.status, 403);
    b.headers.clear();
    // No token, an empty one, another session's token: refused.
    let mut other = Browser::new(&svc);
    other.login("mia", "mia's long password").await;
    let other_csrf = other.get("/login").await.csrf();
    for bad in [None, Some(""), Some(other_csrf.as_str())] {
        let fields: Vec<(&str, &str)> = bad.map(|t| ("csrf", t)).into_iter().collect();
        let a = b.post("/logout", &fields).await;
        assert_eq!(a.status, 403, "{bad:?}");
        assert!(a.body.contains("security token"), "{}", a.body);
    }
    assert!(db.session(&token, clock.now()).await.unwrap().is_some());
    // An anonymous POST goes to the login page and changes nothing.
    let mut anon = Browser::new(&svc);
    let a = anon.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((a.status, a.location()), (303, "/login"));
}

/// A service on `db` whose default configuration `change` adjusts.
fn configured(
    db: &HostDb,
    dir: &tempfile::TempDir,
    clock: &ManualClock,
    change: impl FnOnce(&mut bugimporters_service::ServiceConfig),
) -> Service {
    let mut config = bugimporters_service::ServiceConfig::default();
    config.spool_dir = dir.path().to_owned();
    change(&mut config);
    Service::with_clock(
        db.clone(),
        std::sync::Arc::new(bugimporters_all::default_registry()),
        config,
        std::sync::Arc::new(clock.clone()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_https() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = sqlite(dir.path(), "web.db").await;
    db.add_user("root", Role::Admin, "root's long password")
        .await
        .unwrap();
    let clock = ManualClock::new(start());
    let svc = configured(&db, &dir, &clock, |c| {
        c.public_url = Some("https://bugs.example.org/".parse().unwrap())
    });
    let mut b = Browser::new(&svc);
    let a = b.login("root", "root's long password").await;
    assert!(
        a.set_cookies()[0].contains("Secure"),
        "{:?}",
        a.set_cookies()
    );
    // Without --public-url, X-Forwarded-Proto counts only under --trust-proxy.
    let plain = service(&db, dir.path(), &clock, 1);
    let mut b = Browser::new(&plain);
    b.headers = vec![("x-forwarded-proto".into(), "https".into())];
    let a = b.login("root", "root's long password").await;
    assert!(!a.set_cookies()[0].contains("Secure"));
    // Under --trust-proxy: the proxy's X-Forwarded-Proto makes it Secure, and the throttle's
    // address is the last X-Forwarded-For entry (the one the proxy added), not the peer's.
    let proxied = configured(&db, &dir, &clock, |c| c.trust_proxy = true);
    let mut b = Browser::new(&proxied);
    b.headers = vec![("x-forwarded-proto".into(), "https".into())];
    let a = b.login("root", "root's long password").await;
    assert!(
        a.set_cookies()[0].contains("Secure"),
        "{:?}",
        a.set_cookies()
    );
    let mut guesser = Browser::new(&proxied);
    guesser.headers = vec![("x-forwarded-for".into(), "6.6.6.6, 203.0.113.5".into())];
    for name in ["a", "b", "c", "d", "e"] {
        assert_eq!(guesser.login(name, "wrong password!").await.status, 422);
    }
    assert_eq!(
        guesser.login("root", "root's long password").await.status,
        429
    );
    // Another client behind the same proxy (same peer address) is not locked out.
    let mut other = Browser::new(&proxied);
    other.headers = vec![("x-forwarded-for".into(), "198.51.100.1".into())];
    assert_eq!(
        other.login("root", "root's long password").await.status,
        303
    );
}
