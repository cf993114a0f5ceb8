//! Signed webhooks end to end: `bugimporters serve` (the in-process [`Service::serve`], with
//! its HTTP server and refresher) in front of a synthetic GitHub-protocol tracker. An issue
//! changed on the tracker and a signed hook: the host database has the new title; a forged
//! hook, a replayed delivery, an oversize body, a wrong content type, a hook for a repository
//! no tracker reads, and a hook signed with another tracker's secret change nothing. On
//! SQLite always, on PostgreSQL when `BUGIMPORTERS_TEST_POSTGRES_URL` is set (under `CI` it
//! must be), where a second process shares the queue and each refresh runs once. GitLab and
//! Gitea/Forgejo signatures end to end against mock APIs (wiremock).

mod common;
#[path = "support/http.rs"]
mod http_client;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_hostdb::{tracker_from_args, HostDb};
use bugimporters_service::{
    github_signature, hex_hmac, FixedSecrets, Service, ServiceConfig, Shutdown, DEFAULT_SECRET_ENV,
};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};
use common::fetch;
use http_client::http;

const SECRET: &str = "default-hook-secret-1";
const OTHER_SECRET: &str = "other-hook-secret-22";
const OTHER_ENV: &str = "HOOKS_TEST_OTHER_SECRET";
const POSTGRES_ENV: &str = "BUGIMPORTERS_TEST_POSTGRES_URL";

fn start() -> chrono::NaiveDateTime {
    bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap()
}

/// A free port on 127.0.0.1 (bound, then released for the service to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A service on `db` listening on a free loopback port, with the test's secrets.
fn service(db: &HostDb, spool: &std::path::Path, clock: &ManualClock, worker: &str) -> Service {
    let mut config = ServiceConfig::default();
    config.workers = 4;
    config.spool_dir = spool.to_owned();
    config.fetch = fetch();
    config.worker_id = worker.into();
    config.listen = ([127, 0, 0, 1], free_port()).into();
    config.poll = Duration::from_millis(200);
    config.webhook_max_body = 64 * 1024;
    let svc = Service::with_clock(
        db.clone(),
        Arc::new(bugimporters_all::default_registry()),
        config,
        Arc::new(clock.clone()),
    )
    .unwrap();
    svc.set_webhook_secrets(Arc::new(
        FixedSecrets::new()
            .with(DEFAULT_SECRET_ENV, SECRET)
            .with(OTHER_ENV, OTHER_SECRET),
    ));
    svc
}

/// Starts `serve` in the background; the sender stops it.
async fn serve(svc: &Service) -> tokio::sync::watch::Sender<bool> {
    let (stop, shutdown) = Shutdown::new();
    let s = svc.clone();
    tokio::spawn(async move { s.serve(shutdown).await });
    let url = format!("http://{}/healthz", svc.config().listen);
    for _ in 0..100 {
        if http(svc.config().listen, "GET", "/healthz", &[], b"")
            .await
            .is_ok()
        {
            return stop;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("serve did not start on {url}");
}

/// A GitHub `issues` event on issue `n` of `owner/repo` of the synthetic server.
fn github_event(server: &SyntheticServer, repo: &str, action: &str, n: u64) -> Vec<u8> {
    serde_json::json!({
        "action": action,
        "issue": {"number": n, "title": "whatever the payload says is not believed"},
        "repository": {
            "full_name": repo,
            "html_url": format!("{}github/{repo}", server.base_url()),
        },
        "sender": {"login": "someone"},
    })
    .to_string()
    .into_bytes()
}

/// POSTs `body` to `path` of the service with `headers`: status and JSON answer.
async fn post(
    svc: &Service,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let (status, text) = http(svc.config().listen, "POST", path, headers, &body)
        .await
        .unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn github_headers(secret: &str, body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-github-event", "issues".into()),
        ("x-github-delivery", delivery.into()),
        (
            "x-hub-signature-256",
            github_signature(secret.as_bytes(), body),
        ),
    ]
}

async fn title(db: &HostDb, link: &str) -> Option<String> {
    db.bug(link).await.unwrap().and_then(|b| b.bug.title)
}

/// Waits until the bug `link` has a title ending in `suffix`; returns how long it took.
async fn wait_for_title(db: &HostDb, link: &str, suffix: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if title(db, link).await.is_some_and(|t| t.ends_with(suffix)) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{link} never got the title ending in {suffix:?}");
}

/// Waits until no refresh is queued or running (the refresher ends its lease right after
/// the import that the title shows).
async fn wait_idle(db: &HostDb) {
    let started = Instant::now();
    while db.queued_refreshes().await.unwrap() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "refreshes still queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn issue_requests(server: &SyntheticServer) -> u64 {
    server
        .requests_by_kind()
        .get("github/issue")
        .copied()
        .unwrap_or(0)
}

/// Adds the GitHub tracker `name` reading `owner/repo` on the synthetic server.
async fn add_github(
    db: &HostDb,
    server: &SyntheticServer,
    name: &str,
    repo: &str,
    extra: &[String],
) {
    let (owner, repo) = repo.split_once('/').unwrap();
    let mut opts = vec![
        format!("github_name={owner}"),
        format!("github_repo={repo}"),
        format!("api_url={}", server.github_api_url()),
        "bitesized_tag=easy".to_owned(),
    ];
    opts.extend(extra.iter().cloned());
    let c = tracker_from_args("github", name, None, &opts, &[]).unwrap();
    db.add_tracker(&bugimporters_all::default_registry(), &c, None)
        .await
        .unwrap();
}

/// The whole GitHub scenario on `db` (SQLite or PostgreSQL).
async fn github_scenario(db: HostDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 12,
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    add_github(&db, &server, "Hooked", "synthetic/repo", &[]).await;
    add_github(
        &db,
        &server,
        "Other",
        "other/repo",
        &[format!("webhook_secret_env={OTHER_ENV}")],
    )
    .await;
    let clock = ManualClock::new(start());
    let svc = service(&db, &dir.path().join("spool"), &clock, "hooks:1");
    // The first scheduled runs import every issue; then the schedule waits a day.
    assert_eq!(svc.run_once().await.unwrap().ok, 2);
    let link = |repo: &str, n: u64| format!("{}github/{repo}/issues/{n}", server.base_url());
    let hooked = link("synthetic/repo", 5);
    let original = title(&db, &hooked).await.unwrap();
    let stop = serve(&svc).await;

    // An issue edited on the tracker, and a signed hook: the host has the new title.
    assert_eq!(server.touch(1, 5, start()), [5]);
    let body = github_event(&server, "synthetic/repo", "edited", 5);
    let sent = Instant::now();
    let (status, answer) = post(
        &svc,
        "/hooks/github",
        &github_headers(SECRET, &body, "d-1"),
        body.clone(),
    )
    .await;
    assert_eq!(
        (status, &answer["status"]),
        (202, &"queued".into()),
        "{answer}"
    );
    let took = wait_for_title(&db, &hooked, " (edited)").await;
    println!(
        "signed hook → new title in the host database: {:?} (answer after {:?})",
        took,
        sent.elapsed()
    );
    assert!(db.has_delivery("github", "d-1").await.unwrap());

    // A replay of that delivery: 200, nothing queued, the tracker not asked again.
    let asked = issue_requests(&server);
    let (status, answer) = post(
        &svc,
        "/hooks/github",
        &github_headers(SECRET, &body, "d-1"),
        body.clone(),
    )
    .await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &"duplicate".into()),
        "{answer}"
    );
    wait_idle(&db).await;
    assert_eq!(svc.run_queued_refreshes().await.unwrap(), 0);
    assert_eq!(issue_requests(&server), asked);

    // Changes on the tracker that no good hook announces stay out of the host.
    assert_eq!(server.touch(1, 6, start()), [6]);
    let six = link("synthetic/repo", 6);
    let six_title = title(&db, &six).await.unwrap();
    let body6 = github_event(&server, "synthetic/repo", "edited", 6);
    let refused = [
        // Forged: another secret, a signature of another body, a truncated one, none.
        (
            github_headers("not-the-secret", &body6, "f-1"),
            body6.clone(),
            401,
        ),
        (github_headers(SECRET, b"{}", "f-2"), body6.clone(), 401),
        (
            vec![
                ("content-type", "application/json".into()),
                ("x-github-event", "issues".into()),
                ("x-github-delivery", "f-3".into()),
                (
                    "x-hub-signature-256",
                    github_signature(SECRET.as_bytes(), &body6)[..40].to_owned(),
                ),
            ],
            body6.clone(),
            401,
        ),
        (
            github_headers(SECRET, &body6, "f-4")
                .into_iter()
                .filter(|(k, _)| *k != "x-hub-signature-256")
                .collect(),
            body6.clone(),
            401,
        ),
        // Form-encoded (GitHub's other content type): refused.
        (
            github_headers(SECRET, &body6, "f-5")
                .into_iter()
                .map(|(k, v)| {
                    if k == "content-type" {
                        (k, "application/x-www-form-urlencoded".into())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            body6.clone(),
            415,
        ),
    ];
    for (headers, body, expected) in refused {
        let (status, answer) = post(&svc, "/hooks/github", &headers, body).await;
        assert_eq!(status, expected, "{answer}");
    }
    // Over the body cap (64 KiB here), signed: 413.
    let mut big = serde_json::from_slice::<serde_json::Value>(&body6).unwrap();
    big["padding"] = "x".repeat(70 * 1024).into();
    let big = big.to_string().into_bytes();
    let (status, _) = post(
        &svc,
        "/hooks/github",
        &github_headers(SECRET, &big, "f-6"),
        big,
    )
    .await;
    assert_eq!(status, 413);
    // A repository no tracker reads; the other tracker's repository signed with the
    // default secret; this tracker's repository signed with the other tracker's secret.
    for (repo, secret, id) in [
        ("nobody/nothing", SECRET, "u-1"),
        ("other/repo", SECRET, "u-2"),
        ("synthetic/repo", OTHER_SECRET, "u-3"),
    ] {
        let body = github_event(&server, repo, "edited", 6);
        let (status, answer) = post(
            &svc,
            "/hooks/github",
            &github_headers(secret, &body, id),
            body,
        )
        .await;
        assert_eq!(
            (status, &answer["status"]),
            (202, &"unknown_repository".into()),
            "{repo}: {answer}"
        );
    }
    // A pull request event: ignored.
    let (status, answer) = post(
        &svc,
        "/hooks/github",
        &[
            ("content-type", "application/json".into()),
            ("x-github-event", "pull_request".into()),
            ("x-github-delivery", "p-1".into()),
            (
                "x-hub-signature-256",
                github_signature(SECRET.as_bytes(), &body6),
            ),
        ],
        body6.clone(),
    )
    .await;
    assert_eq!(
        (status, &answer["status"]),
        (202, &"ignored".into()),
        "{answer}"
    );
    // Nothing of that was stored or queued, and issue 6 is as it was.
    assert_eq!(svc.run_queued_refreshes().await.unwrap(), 0);
    for id in [
        "f-1", "f-2", "f-3", "f-4", "f-5", "f-6", "u-1", "u-2", "u-3", "p-1",
    ] {
        assert!(!db.has_delivery("github", id).await.unwrap(), "{id}");
    }
    assert_eq!(title(&db, &six).await.unwrap(), six_title);
    assert_ne!(title(&db, &hooked).await.unwrap(), original);

    // The other tracker's own secret reaches its own repository only.
    let other6 = link("other/repo", 6);
    let body = github_event(&server, "other/repo", "labeled", 6);
    let (status, _) = post(
        &svc,
        "/hooks/github",
        &github_headers(OTHER_SECRET, &body, "o-1"),
        body,
    )
    .await;
    assert_eq!(status, 202);
    wait_for_title(&db, &other6, " (edited)").await;
    assert_eq!(title(&db, &six).await.unwrap(), six_title);

    // Deleted on the tracker: the API's 404 deletes the bug.
    assert_eq!(server.delete(1, 7), [7]);
    let seven = link("synthetic/repo", 7);
    assert!(title(&db, &seven).await.is_some());
    let body = github_event(&server, "synthetic/repo", "deleted", 7);
    let (status, _) = post(
        &svc,
        "/hooks/github",
        &github_headers(SECRET, &body, "x-1"),
        body,
    )
    .await;
    assert_eq!(status, 202);
    let started = Instant::now();
    while db.bug(&seven).await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{seven} was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The metrics count every outcome (the refresher counts right after its import).
    wait_idle(&db).await;
    let expected = [
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"queued\"} 3",
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"duplicate\"} 1",
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"unauthorized\"} 4",
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"unsupported_media_type\"} 1",
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"too_large\"} 1",
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"unknown_repository\"} 3",
        "bugimporters_webhook_deliveries_total{forge=\"github\",outcome=\"ignored\"} 1",
        "bugimporters_webhook_refreshes_total{outcome=\"ok\"} 3",
    ];
    let started = Instant::now();
    let metrics = loop {
        let (_, metrics) = http(svc.config().listen, "GET", "/metrics", &[], b"")
            .await
            .unwrap();
        let missing: Vec<&str> = expected
            .iter()
            .filter(|line| !metrics.lines().any(|l| l == **line))
            .copied()
            .collect();
        if missing.is_empty() {
            break metrics;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{missing:?} not in\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!metrics.contains(SECRET) && !metrics.contains(OTHER_SECRET));
    let _ = stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_hooks_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = common::sqlite(dir.path(), "host.db").await;
    github_scenario(db).await;
}

/// A fresh PostgreSQL database (dropped by [`drop_pg`]); `None` when the variable is unset
/// outside CI (the test is skipped with a message), a failure under CI.
async fn postgres() -> Option<(String, String, String)> {
    let Ok(admin) = std::env::var(POSTGRES_ENV) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{POSTGRES_ENV} is not set, and CI is: the webhook tests must run on PostgreSQL"
            );
        }
        println!("skipped: set {POSTGRES_ENV} (see docs/host-database.md)");
        return None;
    };
    let name = format!("bi_hooks_{:016x}", fastrand::u64(..));
    let a = HostDb::connect_unmigrated(&admin).await.unwrap();
    a.execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    a.close().await;
    let (head, _) = admin.rsplit_once('/').unwrap();
    Some((format!("{head}/{name}"), admin, name))
}

async fn drop_pg(admin: &str, name: &str) {
    let a = HostDb::connect_unmigrated(admin).await.unwrap();
    a.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_hooks_on_postgres() {
    let Some((url, admin, name)) = postgres().await else {
        return;
    };
    let db = HostDb::connect(&url).await.unwrap();
    github_scenario(db.clone()).await;
    db.close().await;
    drop_pg(&admin, &name).await;
}

/// Two processes on one PostgreSQL database: hooks sent to either are refreshed once each,
/// by whichever process leases them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_each_issue_once() {
    let Some((url, admin, name)) = postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 30,
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    let db_a = HostDb::connect(&url).await.unwrap();
    let db_b = HostDb::connect(&url).await.unwrap();
    add_github(&db_a, &server, "Hooked", "synthetic/repo", &[]).await;
    let clock = ManualClock::new(start());
    let a = service(&db_a, &dir.path().join("spool-a"), &clock, "hooks:a");
    let b = service(&db_b, &dir.path().join("spool-b"), &clock, "hooks:b");
    assert_eq!(a.run_once().await.unwrap().ok, 1);
    let (stop_a, stop_b) = (serve(&a).await, serve(&b).await);
    let before = issue_requests(&server);
    let touched = server.touch(20, 1, start());
    for (i, n) in touched.iter().enumerate() {
        let body = github_event(&server, "synthetic/repo", "edited", *n);
        let to = if i % 2 == 0 { &a } else { &b };
        let (status, _) = post(
            to,
            "/hooks/github",
            &github_headers(SECRET, &body, &format!("m-{n}")),
            body,
        )
        .await;
        assert_eq!(status, 202);
    }
    for n in &touched {
        let link = format!("{}github/synthetic/repo/issues/{n}", server.base_url());
        wait_for_title(&db_a, &link, " (edited)").await;
    }
    wait_idle(&db_a).await;
    assert_eq!(
        issue_requests(&server) - before,
        touched.len() as u64,
        "each issue asked for once"
    );
    let (_, _) = (stop_a.send(true), stop_b.send(true));
    db_a.close().await;
    db_b.close().await;
    drop_pg(&admin, &name).await;
}

/// GitLab (`X-Gitlab-Token`) and Gitea/Forgejo (`X-Gitea-Signature`, `X-Forgejo-Signature`)
/// end to end: the hook queues a refresh, the importer reads the issue from the (mock) API,
/// the host database has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_and_gitea_hooks() {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let dir = tempfile::tempdir().unwrap();
    let (_, db) = common::sqlite(dir.path(), "host.db").await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
    let registry = bugimporters_all::default_registry();

    let gitlab = MockServer::start().await;
    let gl_issue = std::fs::read_to_string(format!("{fixtures}/gitlab/issue.json"))
        .unwrap()
        .replace("https://gitlab.example.org", &gitlab.uri());
    let gl_issue: serde_json::Value = serde_json::from_str(&gl_issue).unwrap();
    Mock::given(method("GET"))
        .and(path_regex("^/api/v4/projects/.*/issues$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([gl_issue])))
        .mount(&gitlab)
        .await;
    let c = tracker_from_args(
        "gitlab",
        "Lab",
        Some(&gitlab.uri()),
        &["project=acme/web/frontend".to_owned()],
        &[],
    )
    .unwrap();
    db.add_tracker(&registry, &c, None).await.unwrap();

    let gitea = MockServer::start().await;
    let gt_issue = std::fs::read_to_string(format!("{fixtures}/gitea/issue.json"))
        .unwrap()
        .replace("https://codeberg.example", &gitea.uri());
    Mock::given(method("GET"))
        .and(path("/api/v1/repos/tinyorg/notes-app/issues/17"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(gt_issue, "application/json"))
        .mount(&gitea)
        .await;
    let c = tracker_from_args(
        "gitea",
        "Tea",
        Some(&gitea.uri()),
        &["project=tinyorg/notes-app".to_owned()],
        &[],
    )
    .unwrap();
    db.add_tracker(&registry, &c, None).await.unwrap();

    let clock = ManualClock::new(start());
    let svc = service(&db, &dir.path().join("spool"), &clock, "hooks:1");
    let stop = serve(&svc).await;

    // GitLab: the token is the secret; a wrong one is refused.
    let body = serde_json::json!({
        "object_kind": "issue",
        "project": {"id": 4711, "path_with_namespace": "acme/web/frontend", "web_url": format!("{}/acme/web/frontend", gitlab.uri())},
        "object_attributes": {"iid": 42, "action": "open"},
    })
    .to_string()
    .into_bytes();
    let headers = |token: &str, id: &str| {
        vec![
            ("content-type", "application/json".to_owned()),
            ("x-gitlab-event", "Issue Hook".to_owned()),
            ("x-gitlab-event-uuid", id.to_owned()),
            ("x-gitlab-token", token.to_owned()),
        ]
    };
    let (status, _) = post(
        &svc,
        "/hooks/gitlab",
        &headers("wrong-token", "g-0"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, answer) = post(&svc, "/hooks/gitlab", &headers(SECRET, "g-1"), body).await;
    assert_eq!(status, 202, "{answer}");
    let link = format!("{}/acme/web/frontend/-/issues/42", gitlab.uri());
    wait_for_title(&db, &link, "when the locale is empty").await;
    assert!(!db.has_delivery("gitlab", "g-0").await.unwrap());

    // Gitea and Forgejo: bare hex HMACs under their own headers.
    let body = serde_json::json!({
        "action": "edited",
        "number": 17,
        "issue": {"number": 17, "pull_request": null},
        "repository": {"full_name": "tinyorg/notes-app", "html_url": format!("{}/tinyorg/notes-app", gitea.uri())},
    })
    .to_string()
    .into_bytes();
    for (sig_header, event_header, delivery_header, id) in [
        (
            "x-forgejo-signature",
            "x-forgejo-event",
            "x-forgejo-delivery",
            "t-1",
        ),
        (
            "x-gitea-signature",
            "x-gitea-event",
            "x-gitea-delivery",
            "t-2",
        ),
    ] {
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            (event_header, "issues".to_owned()),
            (delivery_header, id.to_owned()),
            (sig_header, hex_hmac(b"forged", &body)),
        ];
        let (status, _) = post(&svc, "/hooks/gitea", &headers, body.clone()).await;
        assert_eq!(status, 401);
        headers[3].1 = hex_hmac(SECRET.as_bytes(), &body);
        let (status, answer) = post(&svc, "/hooks/gitea", &headers, body.clone()).await;
        assert_eq!(status, 202, "{answer}");
        assert!(db.has_delivery("gitea", id).await.unwrap());
    }
    let link = format!("{}/tinyorg/notes-app/issues/17", gitea.uri());
    wait_for_title(&db, &link, "Item 17").await;
    let _ = stop.send(true);
}

/// `serve --once` (cron) runs the refreshes that hooks queued before it started: here a hook
/// received by the HTTP routes alone (no refresher running), then one `run_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_the_queued_refreshes_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = common::sqlite(dir.path(), "host.db").await;
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 4,
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    add_github(&db, &server, "Hooked", "synthetic/repo", &[]).await;
    let clock = ManualClock::new(start());
    let svc = service(&db, &dir.path().join("spool"), &clock, "once:1");
    let first = svc.run_once().await.unwrap();
    assert_eq!((first.ok, first.refreshed), (1, 0));
    let link = format!("{}github/synthetic/repo/issues/3", server.base_url());
    assert!(!title(&db, &link).await.unwrap().ends_with(" (edited)"));

    // Only the routes: the delivery is stored and queued, nothing refreshes it yet.
    let listener = tokio::net::TcpListener::bind(svc.config().listen)
        .await
        .unwrap();
    let router = svc.router();
    let routes = tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(server.touch(1, 3, start()), [3]);
    let body = github_event(&server, "synthetic/repo", "edited", 3);
    let (status, answer) = post(
        &svc,
        "/hooks/github",
        &github_headers(SECRET, &body, "once-1"),
        body,
    )
    .await;
    assert_eq!((status, &answer["status"]), (202, &"queued".into()));
    routes.abort();
    assert_eq!(db.queued_refreshes().await.unwrap(), 1);
    assert!(!title(&db, &link).await.unwrap().ends_with(" (edited)"));

    // Nothing is due for a day, but the queued refresh runs.
    let once = svc.run_once().await.unwrap();
    assert_eq!((once.runs, once.refreshed), (0, 1), "{once:?}");
    assert!(title(&db, &link).await.unwrap().ends_with(" (edited)"));
    assert_eq!(db.queued_refreshes().await.unwrap(), 0);
}
