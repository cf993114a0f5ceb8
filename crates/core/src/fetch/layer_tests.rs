//! The layers over a scripted [`Transport`]: retries, waits, politeness, classification and
//! error excerpts, asserted without a socket. Time is paused (tokio's test clock), so every
//! wait is exact and no test sleeps for real.

use std::sync::Mutex as StdMutex;

use tokio::time::Instant;

use super::*;

/// One scripted answer.
type Scripted = Box<dyn Fn(&Request) -> Result<RawAnswer, Error> + Send + Sync>;

/// Answers from a script, in order (the last answer repeats), noting when each request came.
struct Script {
    answers: Vec<Scripted>,
    calls: StdMutex<Vec<Instant>>,
}

impl Script {
    fn new() -> Self {
        Script {
            answers: Vec::new(),
            calls: StdMutex::new(Vec::new()),
        }
    }

    fn then(mut self, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        let (headers, body): (Vec<(String, String)>, String) = (
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body.to_owned(),
        );
        self.answers.push(Box::new(move |req: &Request| {
            let mut a = RawAnswer::new(req.url.clone(), status).with_body(body.clone());
            for (k, v) in &headers {
                a = a.with_header(k, v);
            }
            Ok(a)
        }));
        self
    }

    fn answering(
        mut self,
        f: impl Fn(&Request) -> Result<RawAnswer, Error> + Send + Sync + 'static,
    ) -> Self {
        self.answers.push(Box::new(f));
        self
    }

    /// The waits between consecutive requests.
    fn gaps(&self) -> Vec<Duration> {
        let calls = self.calls.lock().unwrap();
        calls.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl Transport for Script {
    async fn send(&self, req: &Request, _headers: &HeaderMap) -> Result<RawAnswer, Error> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Instant::now());
            calls.len() - 1
        };
        let answer = &self.answers[n.min(self.answers.len() - 1)];
        answer(req)
    }
}

/// Back-off steps of 100 ms, 200 ms, 400 ms…; waits bounded to a minute.
fn config(jitter: Jitter) -> FetchConfig {
    FetchConfig {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(10),
        max_wait: Duration::from_secs(60),
        jitter,
        ..FetchConfig::default()
    }
}

fn plugged(cfg: FetchConfig, script: &Arc<Script>) -> HttpClient {
    HttpClient::with_transport(cfg, script.clone()).unwrap()
}

const URL: &str = "https://tracker.example/api/issues";

#[tokio::test(start_paused = true)]
async fn a_429_then_200_is_retried_after_the_exact_back_off() {
    let script = Arc::new(
        Script::new()
            .then(429, &[], "slow down")
            .then(200, &[], "[]"),
    );
    // Jitter 0: the wait is half the first step.
    let c = plugged(config(Jitter::fixed(0.0)), &script);
    let resp = c.fetch(Request::get(URL).unwrap()).await.unwrap();
    assert_eq!((resp.status, &resp.body[..]), (200, &b"[]"[..]));
    assert_eq!(script.calls(), 2);
    assert_eq!(script.gaps(), [Duration::from_millis(50)]);
    assert_eq!(c.counters().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn back_offs_double_and_follow_the_jitter_source() {
    let draws = StdMutex::new(vec![1.0, 0.5, 0.0].into_iter());
    let jitter = Jitter::from_fn(move || draws.lock().unwrap().next().unwrap_or(0.0));
    let script = Arc::new(
        Script::new()
            .then(503, &[], "")
            .then(502, &[], "")
            .then(500, &[], "")
            .then(200, &[], "ok"),
    );
    let c = plugged(config(jitter), &script);
    c.fetch(Request::get(URL).unwrap()).await.unwrap();
    // Steps 100, 200, 400 ms with equal jitter: step/2 + step × draw/2.
    assert_eq!(
        script.gaps(),
        [
            Duration::from_millis(100),
            Duration::from_millis(150),
            Duration::from_millis(200)
        ]
    );
    assert_eq!(c.counters().retries, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_the_wait_and_the_budget_ends_in_a_temporary_error() {
    let script = Arc::new(Script::new().then(429, &[("retry-after", "7")], "busy"));
    let mut cfg = config(Jitter::fixed(0.0));
    cfg.retries = 2;
    let c = plugged(cfg, &script);
    let e = c.fetch(Request::get(URL).unwrap()).await.unwrap_err();
    assert_eq!(script.gaps(), [Duration::from_secs(7); 2]);
    assert!(e.is_temporary(), "{e}");
    assert!(
        matches!(&e, Error::Status { status: 429, retry_after: Some(w), excerpt: Some(x), .. }
            if *w == Duration::from_secs(7) && &**x == "\"busy\""),
        "{e:?}"
    );
    assert_eq!(e.to_string(), format!("{URL}: HTTP 429, body \"busy\""));
}

#[tokio::test(start_paused = true)]
async fn politeness_paces_any_transport() {
    let script = Arc::new(Script::new().then(200, &[], "ok"));
    let mut cfg = config(Jitter::fixed(0.0));
    cfg.delay = Duration::from_millis(300);
    let c = plugged(cfg, &script);
    for _ in 0..3 {
        c.fetch(Request::get(URL).unwrap()).await.unwrap();
    }
    assert_eq!(script.gaps(), [Duration::from_millis(300); 2]);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_of_the_politeness_layer_opens_over_a_plugged_transport() {
    let script = Arc::new(Script::new().then(502, &[], "down"));
    let mut cfg = config(Jitter::fixed(0.0));
    cfg.retries = 0;
    cfg.breaker_threshold = 2;
    let c = plugged(cfg, &script);
    for _ in 0..2 {
        let e = c.fetch(Request::get(URL).unwrap()).await.unwrap_err();
        assert_eq!(e.status(), Some(502));
    }
    let e = c.fetch(Request::get(URL).unwrap()).await.unwrap_err();
    assert!(matches!(e, Error::HostUnavailable { .. }), "{e}");
    assert_eq!(script.calls(), 2, "the open breaker sends nothing");
}

/// Conduit's way of failing: a `200` whose JSON names an error.
fn conduit(a: &Answer<'_>) -> Option<Outcome> {
    let json = a.json()?;
    Some(match json.get("error_code")?.as_str()? {
        "ERR-CONDUIT-CORE" => Outcome::Temporary,
        "ERR-NOT-FOUND" => Outcome::NotFound,
        _ => Outcome::Permanent,
    })
}

const CONDUIT_CORE: &str =
    r#"{"result": null, "error_code": "ERR-CONDUIT-CORE", "error_info": "database busy"}"#;

#[tokio::test(start_paused = true)]
async fn a_classifier_turns_a_200_error_into_a_retried_temporary_error() {
    let script = Arc::new(Script::new().then(200, &[], CONDUIT_CORE));
    let mut cfg = config(Jitter::fixed(1.0));
    cfg.retries = 2;
    let c = plugged(cfg, &script);
    let req = Request::post_form(URL, &[("constraints[ids][0]", "1")])
        .unwrap()
        .idempotent()
        .classify(conduit);
    let e = c.fetch(req).await.unwrap_err();
    assert_eq!(
        script.gaps(),
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
    assert!(e.is_temporary() && !e.is_not_found(), "{e:?}");
    assert_eq!(e.status(), Some(200));
    assert!(e.to_string().contains("ERR-CONDUIT-CORE"), "{e}");
    // Without the classifier the same answer is a success.
    let resp = c.fetch(Request::get(URL).unwrap()).await.unwrap();
    assert_eq!(&resp.body[..], CONDUIT_CORE.as_bytes());
}

#[tokio::test(start_paused = true)]
async fn a_classified_temporary_post_that_is_not_idempotent_is_not_retried() {
    let script = Arc::new(Script::new().then(200, &[], CONDUIT_CORE));
    let c = plugged(config(Jitter::fixed(0.0)), &script);
    let req = Request::post_form(URL, &[("a", "b")])
        .unwrap()
        .classify(conduit);
    let e = c.fetch(req).await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert_eq!(script.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_classifier_can_say_not_found_success_or_leave_it_to_the_status() {
    let gone = r#"{"error_code": "ERR-NOT-FOUND"}"#;
    let script = Arc::new(Script::new().then(200, &[], gone));
    let c = plugged(config(Jitter::fixed(0.0)), &script);
    let e = c
        .fetch(Request::get(URL).unwrap().classify(conduit))
        .await
        .unwrap_err();
    assert!(e.is_not_found() && !e.is_temporary(), "{e:?}");

    let script = Arc::new(Script::new().then(500, &[], "not JSON"));
    let c = plugged(config(Jitter::fixed(0.0)), &script);
    // `conduit` has no verdict on a body that is not JSON: the default (temporary) stands.
    let e = c
        .fetch(Request::get(URL).unwrap().classify(conduit))
        .await
        .unwrap_err();
    assert!(e.is_temporary(), "{e}");
    let ok = c
        .fetch(
            Request::get(URL)
                .unwrap()
                .classify(|_| Some(Outcome::Success)),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 500);
}

#[tokio::test(start_paused = true)]
async fn a_classifier_makes_a_403_with_a_given_body_temporary() {
    let body = "<h1>Too many requests from your network, try again later</h1>";
    let script = Arc::new(Script::new().then(403, &[], body));
    let mut cfg = config(Jitter::fixed(0.0));
    cfg.retries = 1;
    let c = plugged(cfg, &script);
    let e = c.fetch(Request::get(URL).unwrap()).await.unwrap_err();
    assert!(
        !e.is_temporary(),
        "a plain 403 is permanent by default: {e}"
    );
    assert_eq!(script.calls(), 1, "and not retried");
    let slow_down = |a: &Answer<'_>| {
        (a.status == 403 && String::from_utf8_lossy(a.body).contains("try again later"))
            .then_some(Outcome::Temporary)
    };
    let e = c
        .fetch(Request::get(URL).unwrap().classify(slow_down))
        .await
        .unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert_eq!(script.calls(), 3, "retried once");
}

/// GitHub's rate-limited 403s are the default classification: no tracker needs to say so.
#[test]
fn the_default_classification_knows_rate_limited_403s() {
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    };
    let outcome = |status, h: &HeaderMap, body: &str| {
        default_outcome(&Answer {
            status,
            headers: h,
            body: body.as_bytes(),
        })
    };
    let none = headers(&[]);
    let exhausted = headers(&[("x-ratelimit-remaining", "0")]);
    assert_eq!(outcome(403, &exhausted, ""), Outcome::Temporary);
    assert_eq!(
        outcome(
            403,
            &none,
            r#"{"message": "You have exceeded a secondary rate limit"}"#
        ),
        Outcome::Temporary
    );
    assert_eq!(
        outcome(403, &none, "<html>Just a moment...</html>"),
        Outcome::Permanent
    );
    assert_eq!(outcome(410, &none, ""), Outcome::NotFound);
    assert_eq!(outcome(204, &none, ""), Outcome::Success);
    assert_eq!(outcome(429, &none, ""), Outcome::Temporary);
    assert_eq!(outcome(401, &none, ""), Outcome::Permanent);
}

#[tokio::test(start_paused = true)]
async fn a_body_echoing_the_request_secrets_is_redacted_in_the_excerpt() {
    // The server echoes everything it got, as a debugging proxy might.
    let script = Arc::new(Script::new().answering(|req| {
        let token = req.headers.get("authorization").unwrap().to_str().unwrap();
        let field = match &req.body {
            Some(Body::Form(fields)) => fields.iter().find(|f| f.secret).unwrap().value.clone(),
            _ => String::new(),
        };
        let body = format!(
            "{{\"error\": \"bad request\", \"got\": \"{token}\", \"api.token\": \"{field}\"}}"
        );
        Ok(RawAnswer::new(req.url.clone(), 400).with_body(body))
    }));
    let c = plugged(config(Jitter::fixed(0.0)), &script);
    let req = Request::post_form(URL, &[("queryKey", "open")])
        .unwrap()
        .with_secret_field("api.token", "api-FIELDSECRET-9f8e7d")
        .with_secret_header(header::AUTHORIZATION, "token HEADERSECRET-1a2b3c")
        .unwrap();
    let e = c.fetch(req).await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains("FIELDSECRET") && !shown.contains("HEADERSECRET"),
        "{shown}"
    );
    assert!(
        shown.contains("[REDACTED]") && shown.contains("bad request"),
        "{shown}"
    );
}

#[test]
fn the_excerpt_redacts_the_request_secrets_even_unregistered() {
    let body = b"echo: unregistered-secret-42 and ?access_token=abc";
    let x = crate::error::body_excerpt(body, &["unregistered-secret-42"]).unwrap();
    assert_eq!(&*x, "\"echo: [REDACTED] and ?access_token=[REDACTED]\"");
}

#[tokio::test(start_paused = true)]
async fn a_huge_error_page_gives_a_bounded_single_line_excerpt() {
    let page = format!(
        "<html>\n<body>\n{}\n</body>",
        "<p>\tbroken\r\n</p>\n".repeat(100_000)
    );
    let script = Arc::new(Script::new().then(404, &[], &page));
    let c = plugged(config(Jitter::fixed(0.0)), &script);
    let e = c.fetch(Request::get(URL).unwrap()).await.unwrap_err();
    let shown = e.to_string();
    assert!(e.is_not_found());
    assert!(
        shown.len() < URL.len() + crate::BODY_EXCERPT_MAX + 60,
        "{} bytes",
        shown.len()
    );
    assert!(!shown.contains(['\n', '\r', '\t']), "{shown}");
    assert!(
        shown.starts_with(&format!(
            "{URL}: HTTP 404, body \"<html> <body> <p> broken </p>"
        )),
        "{shown}"
    );
    assert!(
        shown.ends_with(&format!("… ({} bytes)", page.len())),
        "{shown}"
    );
}

#[tokio::test]
async fn a_network_error_keeps_its_source() {
    // A port nobody listens on: bind one, learn its number, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = FetchConfig::for_loopback_tests();
    cfg.retries = 0;
    let c = HttpClient::new(cfg).unwrap();
    let e = c
        .fetch(Request::get(&format!("http://127.0.0.1:{port}/")).unwrap())
        .await
        .unwrap_err();
    assert!(e.is_temporary(), "{e}");
    let source = std::error::Error::source(&e).expect("the reqwest error is kept");
    assert!(
        source.downcast_ref::<reqwest::Error>().is_some(),
        "{source:?}"
    );
}

/// GitHub's secondary limit (a 403 whose body alone says so) asks for a minute at least: it is
/// not retried within the request, and fails as temporary with that minute.
#[tokio::test(start_paused = true)]
async fn a_403_only_its_body_calls_a_rate_limit_is_not_retried() {
    let body = r#"{"message": "You have exceeded a secondary rate limit."}"#;
    let script = Arc::new(Script::new().then(403, &[], body));
    let mut cfg = config(Jitter::fixed(0.0));
    cfg.max_wait = Duration::from_secs(300);
    let c = plugged(cfg, &script);
    let e = c.fetch(Request::get(URL).unwrap()).await.unwrap_err();
    assert_eq!(script.calls(), 1);
    assert!(e.is_temporary(), "{e}");
    assert!(
        matches!(e, Error::Status { retry_after: Some(w), .. } if w == Duration::from_secs(60)),
        "{e:?}"
    );
}
