//! `GET /events` over a loopback socket: a client sees the changes of a service run and of a
//! separate `import-results`-style import; reconnecting with `Last-Event-ID` gives exactly
//! what it missed; filters; `reset`; on PostgreSQL two service instances on one database both
//! deliver a change imported by one of them (through `NOTIFY`: their polls are an hour);
//! `/api/bugs` returns the bugs in the events' shape.
//! SQLite always; PostgreSQL and MariaDB when `BUGIMPORTERS_TEST_POSTGRES_URL` /
//! `BUGIMPORTERS_TEST_MYSQL_URL` are set (skipped with a message otherwise, failing under CI).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_hostdb::{HostDb, ImportOptions, ImportSource};
use bugimporters_service::Service;
use common::{add_trackers, servers, service};

/// Serves `service.router()` on 127.0.0.1 (a free port) for the rest of the test.
async fn listen(service: &Service) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// One parsed server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<i64>,
    data: serde_json::Value,
}

/// A `GET /events` client that parses the stream as a browser's `EventSource` does.
struct Client {
    resp: reqwest::Response,
    buf: String,
}

impl Client {
    async fn connect(addr: SocketAddr, query: &str, last_event_id: Option<i64>) -> Client {
        let mut req = loopback_client().get(format!("http://{addr}/events{query}"));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ctype.starts_with("text/event-stream"), "{ctype}");
        Client {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the server ended the stream. Fails
    /// the test after 30 s without one (heartbeats do not count).
    async fn next(&mut self) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut sse = Sse {
                    event: "message".into(),
                    id: None,
                    data: serde_json::Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        sse.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        sse.id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (heartbeat)
                }
                sse.data = serde_json::from_str(&data).unwrap();
                return Some(sse);
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .expect("no event within 30 s");
            match chunk {
                Ok(Some(bytes)) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next `n` events.
    async fn take(&mut self, n: usize) -> Vec<Sse> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await.expect("the stream ended"));
        }
        out
    }
}

fn start() -> chrono::NaiveDateTime {
    bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap()
}

/// What `import-results FILE` does, from a connection of its own: the title of `link` (a bug
/// of tracker `tracker`) becomes `title`, at `polled`.
async fn retitle(url: &str, tracker: &str, link: &str, title: &str, polled: &str) {
    let line = serde_json::json!({"canonical_bug_link": link, "title": title,
        "_tracker_name": tracker, "_project_name": tracker, "last_polled": polled});
    import_by_hand(url, line).await;
}

/// Imports one record from a connection of its own; it must update one bug.
async fn import_by_hand(url: &str, line: serde_json::Value) {
    let db = HostDb::connect(url).await.unwrap();
    let s = db
        .import(
            vec![ImportSource::text("by-hand.jsonl", line.to_string())],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!((s.updated, s.rejected), (1, 0), "{:?}", s.rejections);
    db.close().await;
}

/// A fresh database on the server of `env` (a new database dropped by the caller's
/// [`drop_db`]); `None` when unset outside CI (fails under CI).
async fn server_db(env: &str) -> Option<(String, String, String)> {
    let Ok(admin_url) = std::env::var(env) else {
        if std::env::var_os("CI").is_some() {
            panic!("{env} is not set, and CI is: these tests must run on this server");
        }
        println!("skipped: set {env} (see docs/host-database.md)");
        return None;
    };
    let name = format!("bi_events_{:016x}", fastrand_u64());
    let admin = HostDb::connect_unmigrated(&admin_url).await.unwrap();
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await;
    let (head, _) = admin_url.rsplit_once('/').expect("URL ends with /DATABASE");
    Some((format!("{head}/{name}"), admin_url, name))
}

async fn drop_db(admin_url: &str, name: &str) {
    let admin = HostDb::connect_unmigrated(admin_url).await.unwrap();
    let force = if admin_url.starts_with("postgres") {
        " WITH (FORCE)"
    } else {
        ""
    };
    admin
        .execute_raw(&format!("DROP DATABASE IF EXISTS {name}{force}"))
        .await
        .unwrap();
    admin.close().await;
}

fn fastrand_u64() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
}

/// The whole client story on one database at `url`.
async fn story(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = HostDb::connect(url).await.unwrap();
    let trackers = servers(2, 6).await;
    add_trackers(&db, &trackers, &[]).await;
    let clock = ManualClock::new(start());
    let svc = service(&db, &dir.path().join("spool"), &clock, 2);
    let addr = listen(&svc).await;

    let mut all = Client::connect(addr, "", None).await;
    let mut only1 = Client::connect(addr, "?tracker=Synthetic%2001", None).await;
    let mut proj0 = Client::connect(addr, "?project=Synthetic%2000", None).await;

    // A service run: every new bug is a `created` event, ids from 1 up, in order.
    let summary = svc.run_once().await.unwrap();
    assert_eq!(summary.ok, 2, "{summary:?}");
    let created = db.bug_count().await.unwrap() as usize;
    assert!(created > 2);
    let first = all.take(created).await;
    for (i, e) in first.iter().enumerate() {
        assert_eq!(e.event, "created");
        assert_eq!(e.id, Some(i as i64 + 1));
        assert_eq!(e.data["id"], i as i64 + 1);
        assert_eq!(e.data["type"], "created");
        let bug = &e.data["bug"];
        assert_eq!(bug["link"], e.data["link"]);
        assert_eq!(bug["tracker"], e.data["tracker"]);
        assert_eq!(bug["tracker_type"], "trac");
        assert!(bug["link"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"));
    }
    // The event shows the bug as the database's one read shape does.
    let link = first[0].data["link"].as_str().unwrap().to_owned();
    let view = db.bug_view(&link).await.unwrap().unwrap();
    assert_eq!(first[0].data["bug"], serde_json::to_value(&view).unwrap());
    // `/api/bugs` returns the same bug, in the same shape.
    let api = loopback_client()
        .get(format!(
            "http://{addr}/api/bugs?closed=true&assigned=true&limit=200"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let api: serde_json::Value = serde_json::from_str(&api.text().await.unwrap()).unwrap();
    let listed = api["bugs"].as_array().unwrap();
    assert_eq!(listed.len(), created);
    assert_eq!(
        listed.iter().find(|b| b["link"] == link.as_str()),
        Some(&first[0].data["bug"])
    );
    let bad = loopback_client()
        .get(format!("http://{addr}/api/bugs?cursor=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("bad cursor"));
    // Filters.
    let of1 = first
        .iter()
        .filter(|e| e.data["tracker"] == "Synthetic 01")
        .count();
    let got1 = only1.take(of1).await;
    assert!(got1.iter().all(|e| e.data["tracker"] == "Synthetic 01"));
    let got0 = proj0.take(created - of1).await;
    assert!(got0.iter().all(|e| e.data["project"] == "Synthetic 00"));

    // A separate import (as `import-results` run by hand, another connection): seen too.
    let last = created as i64;
    let link0 = first
        .iter()
        .find(|e| e.data["tracker"] == "Synthetic 00")
        .unwrap()
        .data["link"]
        .as_str()
        .unwrap()
        .to_owned();
    retitle(
        url,
        "Synthetic 00",
        &link0,
        "renamed once",
        "2031-01-01T00:00:00",
    )
    .await;
    let e = all.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), e.id, e.data["link"].as_str()),
        ("updated", Some(last + 1), Some(link0.as_str()))
    );
    assert_eq!(e.data["bug"]["title"], "renamed once");
    assert_eq!(proj0.next().await.unwrap().id, Some(last + 1));
    drop(all);

    // Two more changes while the client is away; it reconnects with Last-Event-ID and gets
    // exactly those two, then the live stream.
    retitle(
        url,
        "Synthetic 00",
        &link0,
        "renamed twice",
        "2031-01-02T00:00:00",
    )
    .await;
    retitle(
        url,
        "Synthetic 00",
        &link0,
        "renamed thrice",
        "2031-01-03T00:00:00",
    )
    .await;
    let mut back = Client::connect(addr, "", Some(last + 1)).await;
    let missed = back.take(2).await;
    assert_eq!(
        missed.iter().map(|e| e.id).collect::<Vec<_>>(),
        [Some(last + 2), Some(last + 3)]
    );
    assert_eq!(missed[0].data["bug"]["title"], "renamed twice");
    assert_eq!(missed[1].data["bug"]["title"], "renamed thrice");
    retitle(
        url,
        "Synthetic 00",
        &link0,
        "renamed 4",
        "2031-01-04T00:00:00",
    )
    .await;
    assert_eq!(
        back.next().await.unwrap().id,
        Some(last + 4),
        "no duplicate"
    );

    // An id this database never gave, and one older than the history: `reset`.
    let mut odd = Client::connect(addr, "", Some(999_999)).await;
    let r = odd.next().await.unwrap();
    assert_eq!((r.event.as_str(), r.id), ("reset", Some(last + 4)));
    db.prune_events(2).await.unwrap();
    let mut old = Client::connect(addr, "", Some(1)).await;
    let r = old.next().await.unwrap();
    assert_eq!((r.event.as_str(), r.id), ("reset", Some(last + 4)));
    assert_eq!(r.data["oldest_kept"], last + 3);
    assert_eq!(r.data["last_event_id"], 1);

    // A bad Last-Event-ID is refused, naming the header.
    let resp = loopback_client()
        .get(format!("http://{addr}/events"))
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Last-Event-ID"));

    // `/api/bugs` hides a bug its tracker says is taken, unless `assigned=true`.
    mark_assigned(url, "Synthetic 00", &link0, "2031-01-05T00:00:00").await;
    let listed = |query: &'static str| async move {
        let r = loopback_client()
            .get(format!(
                "http://{addr}/api/bugs?closed=true&limit=200{query}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        v["bugs"].as_array().unwrap().clone()
    };
    let all_bugs = listed("&assigned=true").await;
    assert_eq!(all_bugs.len(), created);
    let taken = all_bugs
        .iter()
        .find(|b| b["link"] == link0.as_str())
        .unwrap();
    assert_eq!(taken["assigned"], true);
    let free: Vec<&serde_json::Value> = all_bugs.iter().filter(|b| b["assigned"] != true).collect();
    assert!(!free.is_empty() && free.len() < created);
    let shown = listed("").await;
    assert_eq!(
        shown.iter().collect::<Vec<_>>(),
        free,
        "exactly the bugs nobody has"
    );
    db.close().await;
}

/// What `import-results` does with a record whose tracker says somebody has the bug.
async fn mark_assigned(url: &str, tracker: &str, link: &str, polled: &str) {
    let line = serde_json::json!({"canonical_bug_link": link, "assigned": true,
        "_tracker_name": tracker, "_project_name": tracker, "last_polled": polled});
    import_by_hand(url, line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_story() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    story(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_story() {
    let Some((url, admin, name)) = server_db("BUGIMPORTERS_TEST_POSTGRES_URL").await else {
        return;
    };
    story(&url).await;
    drop_db(&admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_story() {
    let Some((url, admin, name)) = server_db("BUGIMPORTERS_TEST_MYSQL_URL").await else {
        return;
    };
    story(&url).await;
    drop_db(&admin, &name).await;
}

/// Two service instances (two pools, two readers, as two processes) on one PostgreSQL, with
/// hour-long polls: a change imported by one of them reaches the clients of both, through
/// `NOTIFY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_both_deliver() {
    let Some((url, admin, name)) = server_db("BUGIMPORTERS_TEST_POSTGRES_URL").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trackers = servers(1, 6).await;
    let db_a = HostDb::connect(&url).await.unwrap();
    add_trackers(&db_a, &trackers, &[]).await;
    let db_b = HostDb::connect(&url).await.unwrap();
    let clock = ManualClock::new(start());
    let hour = |svc: Service| {
        let mut config = svc.config().clone();
        config.events.poll = Some(Duration::from_secs(3600));
        Service::with_clock(
            svc.db().clone(),
            std::sync::Arc::new(bugimporters_all::default_registry()),
            config,
            std::sync::Arc::new(clock.clone()),
        )
        .unwrap()
    };
    let a = hour(service(&db_a, &dir.path().join("a"), &clock, 1));
    let b = hour(service(&db_b, &dir.path().join("b"), &clock, 1));
    let (addr_a, addr_b) = (listen(&a).await, listen(&b).await);
    let mut on_a = Client::connect(addr_a, "", None).await;
    let mut on_b = Client::connect(addr_b, "", None).await;
    assert_eq!(a.run_once().await.unwrap().ok, 1);
    let n = db_a.bug_count().await.unwrap() as usize;
    let got_a = on_a.take(n).await;
    let got_b = on_b.take(n).await;
    let ids = |v: &[Sse]| v.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&got_a), (1..=n as i64).collect::<Vec<_>>());
    assert_eq!(ids(&got_a), ids(&got_b));

    // And a change imported by hand (a third connection) reaches both.
    let link = got_a[0].data["link"].as_str().unwrap().to_owned();
    retitle(
        &url,
        "Synthetic 00",
        &link,
        "by hand",
        "2031-01-01T00:00:00",
    )
    .await;
    assert_eq!(on_a.next().await.unwrap().data["bug"]["title"], "by hand");
    assert_eq!(on_b.next().await.unwrap().data["bug"]["title"], "by hand");
    drop((on_a, on_b));
    db_a.close().await;
    db_b.close().await;
    drop_db(&admin, &name).await;
}

/// A plain HTTP client for the service's own loopback server (not a tracker: the fetch
/// layer's politeness and private-address guard are for trackers).
#[allow(clippy::disallowed_methods)]
fn loopback_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A client that stops reading is dropped once it is more than the buffer behind: the server
/// does not queue for it (it ends its stream with `dropped`, whose id is where to resume).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    let db = HostDb::connect(&url).await.unwrap();
    let trackers = servers(1, 1).await;
    add_trackers(&db, &trackers, &[]).await;
    let clock = ManualClock::new(start());
    let mut config = service(&db, &dir.path().join("spool"), &clock, 1)
        .config()
        .clone();
    config.events.buffer = 16;
    let svc = Service::with_clock(
        db.clone(),
        std::sync::Arc::new(bugimporters_all::default_registry()),
        config,
        std::sync::Arc::new(clock.clone()),
    )
    .unwrap();
    let addr = listen(&svc).await;
    // A small receive buffer, and nothing read while ~10 MB of events go out.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = trackers[0].trac_url();
    let n = 8000;
    let long = "x".repeat(1200);
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({"canonical_bug_link": format!("{base}ticket/{}", 100_000 + i),
                "title": format!("{i} {long}"), "_tracker_name": "Synthetic 00",
                "_project_name": "Synthetic 00", "last_polled": "2031-01-01T00:00:00"})
            .to_string()
        })
        .collect();
    let s = db
        .import(
            vec![ImportSource::text("many.jsonl", lines.join("\n"))],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(s.inserted, n as u64, "{:?}", s.rejections);
    svc.events_changed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Now read everything the server kept for this client, to the end.
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("the server ended the stream")
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let created = text.matches("event: created\n").count();
    println!("{created} of {n} events reached the client before it was dropped");
    assert!(
        created < n,
        "{created} of {n} events were queued for a client that read nothing"
    );
    let at = text.find("event: dropped\n").expect("a dropped event");
    let tail = &text[at..];
    let id: i64 = tail["event: dropped\nid: ".len()..]
        .split('\n')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(id, created as i64, "resume from the last event it got");
    assert!(tail.contains("too slowly"), "{tail:.300}");
    db.close().await;
}
