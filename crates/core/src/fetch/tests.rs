//! Fetch-layer behaviours, each against a real HTTP server on loopback (wiremock).
//! Every test sends traffic to 127.0.0.1 only; refusals are asserted to happen before any
//! connection (the server sees no request).

use std::time::{Duration, Instant, SystemTime};

use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

fn loopback_config() -> FetchConfig {
    FetchConfig {
        network: NetworkPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
        ..FetchConfig::default()
    }
}

fn client(cfg: FetchConfig) -> HttpClient {
    HttpClient::new(cfg).unwrap()
}

async fn get(c: &HttpClient, url: &str) -> Result<Response, Error> {
    c.fetch(Request::get(url).unwrap()).await
}

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let resp = get(&c, &format!("{}/x", server.uri())).await.unwrap();
    assert_eq!(&resp.body[..], b"ok");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(c.counters().retries, 2);
}

#[tokio::test]
async fn gives_up_after_the_retry_budget_with_a_temporary_error() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let mut cfg = loopback_config();
    cfg.retries = 2;
    let c = client(cfg);
    let e = get(&c, &format!("{}/x", server.uri())).await.unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert!(e.is_temporary());
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/gone"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let e = get(&c, &format!("{}/gone", server.uri()))
        .await
        .unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let start = Instant::now();
    get(&c, &format!("{}/x", server.uri())).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "waited only {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn retry_after_beyond_the_bound_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let start = Instant::now();
    let e = get(&c, &format!("{}/x", server.uri())).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(e.status(), Some(503));
    assert!(
        matches!(e, Error::Status { retry_after: Some(d), .. } if d == Duration::from_secs(3600))
    );
}

#[tokio::test]
async fn github_style_rate_limit_waits_for_the_reset() {
    let server = MockServer::start().await;
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    Mock::given(path("/x"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", reset.to_string().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let start = Instant::now();
    get(&c, &format!("{}/x", server.uri())).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn body_size_is_limited() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
        .mount(&server)
        .await;
    let mut cfg = loopback_config();
    cfg.max_body_bytes = 1024;
    let c = client(cfg);
    let e = get(&c, &format!("{}/big", server.uri())).await.unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { limit: 1024, .. }), "{e}");
    assert!(!e.is_temporary());
}

async fn redirect_chain(server: &MockServer, hops: usize) {
    for i in 0..hops {
        Mock::given(path(format!("/r{i}")))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("Location", format!("/r{}", i + 1).as_str()),
            )
            .mount(server)
            .await;
    }
    Mock::given(path(format!("/r{hops}")))
        .respond_with(ResponseTemplate::new(200).set_body_string("end"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn at_most_five_redirects() {
    let server = MockServer::start().await;
    redirect_chain(&server, 6).await;
    let c = client(loopback_config());
    let ok = get(&c, &format!("{}/r1", server.uri())).await.unwrap();
    assert_eq!(&ok.body[..], b"end", "five hops are fine");
    assert!(ok.url.path().ends_with("/r6"));
    let e = get(&c, &format!("{}/r0", server.uri())).await.unwrap_err();
    assert!(matches!(e, Error::TooManyRedirects { limit: 5, .. }), "{e}");
}

#[tokio::test]
async fn redirect_loops_stop() {
    let server = MockServer::start().await;
    Mock::given(path("/a"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/b"))
        .mount(&server)
        .await;
    Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/a"))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let e = get(&c, &format!("{}/a", server.uri())).await.unwrap_err();
    assert!(matches!(e, Error::TooManyRedirects { .. }));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn private_addresses_are_refused_before_connecting() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let port = server.address().port();
    // Guard on (the default policy): a loopback literal and a name resolving to loopback.
    let guarded = client(FetchConfig::default());
    for url in [
        format!("http://127.0.0.1:{port}/x"),
        format!("http://localhost:{port}/x"),
        format!("http://[::1]:{port}/x"),
    ] {
        let e = get(&guarded, &url).await.unwrap_err();
        assert!(matches!(e, Error::Refused { .. }), "{url}: {e}");
        assert!(!e.is_temporary());
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn redirects_to_private_addresses_are_refused() {
    let server = MockServer::start().await;
    for (p, to) in [
        ("/to-private", "http://10.1.2.3/x"),
        ("/to-metadata", "http://169.254.169.254/latest/meta-data/"),
        ("/to-v6", "http://[fd00::1]/x"),
        ("/to-ftp", "ftp://127.0.0.1/x"),
    ] {
        Mock::given(path(p))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", to))
            .mount(&server)
            .await;
    }
    // Only 127.0.0.0/8 allowed: the first hop goes, the redirect target is refused.
    let c = client(loopback_config());
    for p in ["/to-private", "/to-metadata", "/to-v6", "/to-ftp"] {
        let e = get(&c, &format!("{}{p}", server.uri())).await.unwrap_err();
        assert!(matches!(e, Error::Refused { .. }), "{p}: {e}");
    }
}

#[tokio::test]
async fn credentials_are_not_sent_to_another_host_on_redirect() {
    let a = MockServer::start().await;
    let b = MockServer::start().await;
    Mock::given(path("/start"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/end", b.uri()).as_str()),
        )
        .mount(&a)
        .await;
    Mock::given(path("/end"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&b)
        .await;
    let c = client(loopback_config());
    let req = Request::get(&format!("{}/start", a.uri()))
        .unwrap()
        .with_secret_header(header::AUTHORIZATION, "Bearer s3cr3t")
        .unwrap();
    c.fetch(req).await.unwrap();
    let at_a = &a.received_requests().await.unwrap()[0];
    assert!(at_a.headers.get("authorization").is_some());
    let at_b = &b.received_requests().await.unwrap()[0];
    assert!(at_b.headers.get("authorization").is_none());
}

#[tokio::test]
async fn conditional_requests_send_validators_and_report_304() {
    let server = MockServer::start().await;
    Mock::given(path("/page"))
        .and(header("If-None-Match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    Mock::given(path("/page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"v1\"")
                .set_body_string("body"),
        )
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let url = format!("{}/page", server.uri());
    let first = c
        .fetch(Request::get(&url).unwrap().conditional())
        .await
        .unwrap();
    assert!(!first.not_modified());
    assert_eq!(
        c.validators("", &url).unwrap().etag.as_deref(),
        Some("\"v1\"")
    );
    let second = c
        .fetch(Request::get(&url).unwrap().conditional())
        .await
        .unwrap();
    assert!(second.not_modified());
    assert!(second.body.is_empty());

    // Validators survive a restart through the state file.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("validators.json");
    c.save_validators(&state).unwrap();
    let c2 = client(loopback_config());
    c2.load_validators(&state).unwrap();
    let third = c2
        .fetch(Request::get(&url).unwrap().conditional())
        .await
        .unwrap();
    assert!(third.not_modified());
}

#[tokio::test]
async fn validators_never_cross_scopes() {
    let server = MockServer::start().await;
    Mock::given(path("/page"))
        .and(header("If-None-Match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    Mock::given(path("/page"))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"v1\""))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let url = format!("{}/page", server.uri());
    let get = |scope: &str| c.fetch(Request::get(&url).unwrap().conditional().in_scope(scope));
    assert!(!get("A").await.unwrap().not_modified());
    assert!(get("A").await.unwrap().not_modified());
    // Tracker B asks for the same URL: A's validators are not B's.
    assert!(!get("B").await.unwrap().not_modified());
    assert!(c.validators("A", &url).is_some());
    assert!(c.validators("C", &url).is_none());

    // What the service does: B's validators out, into a new client, and back.
    let saved = c.take_scope_validators("B");
    assert_eq!(saved.len(), 1);
    assert!(c.validators("B", &url).is_none(), "taken out");
    let c2 = client(loopback_config());
    c2.set_scope_validators("B", saved);
    let again = c2
        .fetch(Request::get(&url).unwrap().conditional().in_scope("B"))
        .await
        .unwrap();
    assert!(again.not_modified());
}

#[tokio::test]
async fn a_304_gets_the_link_header_of_the_answer_it_stands_for() {
    let server = MockServer::start().await;
    Mock::given(path("/list"))
        .and(header("If-None-Match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    let next = format!("<{}/list?page=2>; rel=\"next\"", server.uri());
    Mock::given(path("/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"v1\"")
                .insert_header("Link", next.as_str()),
        )
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let url = format!("{}/list", server.uri());
    let get = || c.fetch(Request::get(&url).unwrap().conditional().in_scope("T"));
    assert!(!get().await.unwrap().not_modified());
    let again = get().await.unwrap();
    assert!(again.not_modified());
    assert_eq!(again.header("link"), Some(next.as_str()));
}

#[test]
fn state_file_errors_name_the_file_and_old_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(loopback_config());
    let state = dir.path().join("state.json");
    for bad in [
        "{\"version\": 2, \"validators\"",
        "[1, 2]",
        "{\"version\": 9, \"validators\": {}}",
    ] {
        std::fs::write(&state, bad).unwrap();
        let e = c.load_validators(&state).unwrap_err().to_string();
        assert!(
            e.contains("state.json") && e.contains("not a --state file"),
            "{e}"
        );
    }
    // The first format (URL -> validators, no tracker): ignored, nothing loaded.
    std::fs::write(&state, r#"{"http://h/p": {"etag": "\"x\""}}"#).unwrap();
    c.load_validators(&state).unwrap();
    assert!(c.validators("", "http://h/p").is_none());
    // Saved as version 2, read back.
    c.set_scope_validators(
        "T",
        [(
            "http://h/p".to_owned(),
            Validators {
                etag: Some("\"y\"".into()),
                last_modified: None,
                link: None,
            },
        )]
        .into(),
    );
    c.save_validators(&state).unwrap();
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.starts_with(r#"{"version":2,"#), "{text}");
    let c2 = client(loopback_config());
    c2.load_validators(&state).unwrap();
    assert_eq!(
        c2.validators("T", "http://h/p").unwrap().etag.as_deref(),
        Some("\"y\"")
    );
}

#[tokio::test]
async fn user_agent_names_the_project() {
    let server = MockServer::start().await;
    Mock::given(path("/ua"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    get(&c, &format!("{}/ua", server.uri())).await.unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    let ua = req.headers.get("user-agent").unwrap().to_str().unwrap();
    assert!(ua.starts_with("bugimporters/"), "{ua}");
}

#[tokio::test]
async fn timeouts_are_temporary_network_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let mut cfg = loopback_config();
    cfg.timeout = Duration::from_millis(300);
    cfg.retries = 1;
    let c = client(cfg);
    let e = get(&c, &format!("{}/slow", server.uri()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Network { timeout: true, .. }), "{e}");
    assert!(e.is_temporary());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn per_host_limit_bounds_requests_in_flight() {
    let server = MockServer::start().await;
    Mock::given(path("/w"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
        .mount(&server)
        .await;
    let mut cfg = loopback_config();
    cfg.per_host_limit = 2;
    let c = std::sync::Arc::new(client(cfg));
    let url = format!("{}/w", server.uri());
    let start = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            let url = url.clone();
            tokio::spawn(async move { get(&c, &url).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Six 200 ms requests, two at a time: at least three rounds.
    assert!(
        start.elapsed() >= Duration::from_millis(590),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn record_then_replay_without_network() {
    let server = MockServer::start().await;
    Mock::given(path("/q"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("id\r\n1\r\n", "text/csv"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = loopback_config();
    cfg.record_dir = Some(dir.path().to_owned());
    let recorder = client(cfg);
    let url = format!("{}/q?b=%7Ex&a=1", server.uri());
    get(&recorder, &url).await.unwrap();
    drop(recorder);
    drop(server); // no network from here on

    let replay = client(FetchConfig {
        replay_dir: Some(dir.path().to_owned()),
        ..FetchConfig::default()
    });
    assert!(replay.is_replay());
    // The same URL written differently (percent-encoding) matches after normalisation.
    let resp = get(&replay, &url.replace("%7E", "~")).await.unwrap();
    assert_eq!(&resp.body[..], b"id\r\n1\r\n");
    assert_eq!(resp.header("content-type"), Some("text/csv"));
    let e = get(&replay, "http://127.0.0.1:9/other").await.unwrap_err();
    assert!(matches!(e, Error::NotRecorded { .. }));
}

#[tokio::test]
async fn replay_serves_bodiless_statuses_and_relative_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "A").unwrap();
    std::fs::write(
        dir.path().join("index.jsonl"),
        "{\"url\": \"http://t.example/a\", \"status\": 200, \"file\": \"a.txt\"}\n\
         {\"url\": \"http://t.example/gone\", \"status\": 404}\n",
    )
    .unwrap();
    let replay = client(FetchConfig {
        replay_dir: Some(dir.path().to_owned()),
        ..FetchConfig::default()
    });
    assert_eq!(
        &get(&replay, "http://t.example/a").await.unwrap().body[..],
        b"A"
    );
    assert!(get(&replay, "http://t.example/gone")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn non_http_schemes_are_refused() {
    let c = client(loopback_config());
    for url in [
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ] {
        let e = get(&c, url).await.unwrap_err();
        assert!(matches!(e, Error::Refused { .. }), "{url}: {e}");
    }
}

/// A plain 403 (a refusal, a challenge page) is permanent; a 403 rate limit — an exhausted
/// `X-RateLimit-Remaining` without reset, GitHub's secondary-limit body, or a wait beyond
/// `--max-wait` — is temporary, so that the run withholds its deletions.
#[tokio::test]
async fn rate_limited_403s_are_temporary_and_plain_403s_are_not() {
    let server = MockServer::start().await;
    let far = (SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 7200)
        .to_string();
    let secondary = r#"{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
    let cases = [
        ("plain", ResponseTemplate::new(403), false),
        (
            "challenge",
            ResponseTemplate::new(403).set_body_raw("<html>Just a moment...</html>", "text/html"),
            false,
        ),
        (
            "remaining-0",
            ResponseTemplate::new(403).insert_header("X-RateLimit-Remaining", "0"),
            true,
        ),
        (
            "secondary",
            ResponseTemplate::new(403).set_body_raw(secondary, "application/json"),
            true,
        ),
        (
            "beyond-max-wait",
            ResponseTemplate::new(403)
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", far.as_str()),
            true,
        ),
    ];
    for (name, template, _) in &cases {
        Mock::given(path(format!("/{name}")))
            .respond_with(template.clone())
            .mount(&server)
            .await;
    }
    let mut cfg = loopback_config();
    cfg.retries = 1;
    cfg.max_wait = Duration::from_millis(100);
    let c = client(cfg);
    for (name, _, temporary) in cases {
        let e = get(&c, &format!("{}/{name}", server.uri()))
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(403), "{name}");
        assert_eq!(e.is_temporary(), temporary, "{name}: {e:?}");
    }
}

/// `accept_status` hands the refusal's body to the caller (to read the API's own error).
#[tokio::test]
async fn accepted_error_statuses_come_back_with_their_body() {
    let server = MockServer::start().await;
    Mock::given(path("/private"))
        .respond_with(ResponseTemplate::new(403).set_body_string("{\"error_code\": \"X\"}"))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let url = format!("{}/private", server.uri());
    let resp = c
        .fetch(Request::get(&url).unwrap().accept_status(403))
        .await
        .unwrap();
    assert_eq!(
        (resp.status, &resp.body[..]),
        (403, &b"{\"error_code\": \"X\"}"[..])
    );
    assert_eq!(get(&c, &url).await.unwrap_err().status(), Some(403));
}

/// A rate-limited 403 stays a temporary error even when 403 is accepted.
#[tokio::test]
async fn an_accepted_status_that_is_a_rate_limit_stays_an_error() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string("{\"message\": \"API rate limit exceeded\"}"),
        )
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let url = format!("{}/limited", server.uri());
    let e = c
        .fetch(Request::get(&url).unwrap().accept_status(403))
        .await
        .unwrap_err();
    assert!(e.is_temporary(), "{e:?}");
}

/// A server on loopback that answers every connection with a `200` head at once and then
/// `body_bytes` bytes, one every `gap` (a trickle); `head: false` sends nothing at all.
async fn trickling_server(head: bool, body_bytes: usize, gap: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                if !head {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {body_bytes}\r\n\r\n");
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..body_bytes {
                    tokio::time::sleep(gap).await;
                    if sock.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/t")
}

#[tokio::test]
async fn a_trickling_body_is_aborted_by_the_low_speed_limit() {
    let url = trickling_server(true, 1000, Duration::from_millis(100)).await;
    let mut cfg = loopback_config();
    cfg.timeout = Duration::from_secs(20);
    cfg.speed_limit = 100;
    cfg.speed_time = Duration::from_secs(1);
    cfg.retries = 1;
    let c = client(cfg);
    let started = Instant::now();
    let e = get(&c, &url).await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert!(e.to_string().contains("low-speed limit"), "{e}");
    assert_eq!(
        c.counters().retries,
        1,
        "retried like any temporary failure"
    );
    println!(
        "two trickling attempts aborted after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_aborted_by_the_low_speed_limit() {
    let url = trickling_server(false, 0, Duration::ZERO).await;
    let mut cfg = loopback_config();
    cfg.timeout = Duration::from_secs(20);
    cfg.speed_time = Duration::from_secs(1);
    cfg.retries = 0;
    let e = get(&client(cfg), &url).await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert!(e.to_string().contains("no response head"), "{e}");
}

#[tokio::test]
async fn a_slow_but_steady_body_passes_the_low_speed_limit() {
    // 20 bytes at 50 ms each: 20 bytes/s, over a limit of 5 bytes/s.
    let url = trickling_server(true, 20, Duration::from_millis(50)).await;
    let mut cfg = loopback_config();
    cfg.speed_limit = 5;
    cfg.speed_time = Duration::from_secs(1);
    let resp = get(&client(cfg), &url).await.unwrap();
    assert_eq!(resp.body.len(), 20);
}

#[tokio::test]
async fn the_circuit_breaker_fails_a_dead_host_fast_and_reports_it() {
    let server = MockServer::start().await;
    Mock::given(path("/down"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut cfg = loopback_config();
    cfg.retries = 1;
    cfg.breaker_threshold = 3;
    let c = client(cfg);
    let url = format!("{}/down", server.uri());
    // Request 1: two failed attempts. Request 2: the third opens the breaker, its retry fails
    // fast.
    assert_eq!(get(&c, &url).await.unwrap_err().status(), Some(500));
    let e = get(&c, &url).await.unwrap_err();
    assert!(matches!(e, Error::HostUnavailable { .. }), "{e}");
    for _ in 0..50 {
        let e = get(&c, &url).await.unwrap_err();
        assert!(
            matches!(e, Error::HostUnavailable { failures: 3, .. }),
            "{e}"
        );
        assert!(e.is_temporary());
        assert!(e.to_string().contains("circuit breaker"), "{e}");
    }
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "no request reaches the host once the breaker is open"
    );
}

#[tokio::test]
async fn a_success_before_the_threshold_resets_the_breaker() {
    let server = MockServer::start().await;
    Mock::given(path("/down"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(path("/up"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mut cfg = loopback_config();
    cfg.retries = 1;
    cfg.breaker_threshold = 3;
    let c = client(cfg);
    for _ in 0..5 {
        // Two failures, then a success: never three in a row.
        let e = get(&c, &format!("{}/down", server.uri()))
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(503), "{e}");
        get(&c, &format!("{}/up", server.uri())).await.unwrap();
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 15);
}

// ------------------------------------------------------------------------- request bodies

#[tokio::test]
async fn a_form_post_sends_its_fields_and_is_not_retried_unless_idempotent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/maniphest.search"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let url = format!("{}/api/maniphest.search", server.uri());
    let req = Request::post_form(&url, &[("constraints[statuses][0]", "open")])
        .unwrap()
        .with_secret_field("api.token", "api-s3cr3tvalue1");
    let e = c.fetch(req.clone()).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1, "a POST is sent once");
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert_eq!(
        body,
        "constraints%5Bstatuses%5D%5B0%5D=open&api.token=api-s3cr3tvalue1"
    );
    assert!(!format!("{req:?}").contains("s3cr3t"), "{req:?}");

    c.fetch(req.idempotent()).await.unwrap_err();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2 + c.counters().retries as usize,
        "an idempotent POST is retried like a GET"
    );
    assert!(c.counters().retries > 0);
}

#[tokio::test]
async fn a_303_after_a_post_is_followed_by_a_get_and_a_body_never_crosses_hosts() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/see-other"))
        .respond_with(ResponseTemplate::new(303).insert_header("location", "/result"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/result"))
        .respond_with(ResponseTemplate::new(200).set_body_string("done"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{}/x", other.uri())),
        )
        .mount(&server)
        .await;
    let c = client(loopback_config());
    let post = |p: &str| {
        Request::post_json(
            &format!("{}{p}", server.uri()),
            serde_json::json!({"query": "{ a }"}),
        )
        .unwrap()
    };
    let resp = c.fetch(post("/see-other")).await.unwrap();
    assert_eq!(&resp.body[..], b"done");
    let e = c.fetch(post("/elsewhere")).await.unwrap_err();
    assert!(e.to_string().contains("another host"), "{e}");
    assert!(other.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn posts_are_recorded_by_body_and_replayed_without_their_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(|r: &wiremock::Request| {
            let q: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            ResponseTemplate::new(200).set_body_string(format!("answer to {}", q["query"]))
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/conduit"))
        .respond_with(ResponseTemplate::new(200).set_body_string("tasks"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = loopback_config();
    cfg.record_dir = Some(dir.path().to_owned());
    let recorder = client(cfg);
    let graphql = format!("{}/graphql", server.uri());
    let conduit = format!("{}/conduit", server.uri());
    for q in ["{ a }", "{ b }"] {
        let req = Request::post_json(&graphql, serde_json::json!({ "query": q })).unwrap();
        recorder.fetch(req).await.unwrap();
    }
    let form = |token: &str| {
        Request::post_form(&conduit, &[("after", "7")])
            .unwrap()
            .with_secret_field("api.token", token)
    };
    recorder.fetch(form("cli-recordtoken1")).await.unwrap();
    drop(recorder);
    drop(server);
    let index = std::fs::read_to_string(dir.path().join("index.jsonl")).unwrap();
    assert!(!index.contains("cli-recordtoken1"), "{index}");

    let replay = client(FetchConfig {
        replay_dir: Some(dir.path().to_owned()),
        ..FetchConfig::default()
    });
    let answer = |q: &str| {
        let req = Request::post_json(&graphql, serde_json::json!({ "query": q })).unwrap();
        let replay = &replay;
        async move { replay.fetch(req).await }
    };
    assert_eq!(
        &answer("{ b }").await.unwrap().body[..],
        br#"answer to "{ b }""#
    );
    assert_eq!(
        &answer("{ a }").await.unwrap().body[..],
        br#"answer to "{ a }""#
    );
    assert!(matches!(
        answer("{ c }").await,
        Err(Error::NotRecorded { .. })
    ));
    // Another token (or none given at replay time) finds the same recording.
    assert_eq!(
        &replay.fetch(form("another-token9")).await.unwrap().body[..],
        b"tasks"
    );
    let get_instead = get(&replay, &graphql).await.unwrap_err();
    assert!(
        matches!(get_instead, Error::NotRecorded { .. }),
        "a GET is another request"
    );
}
