//! The cases of the conformance suite, one function each (see [`super`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{
    bug, carries_secret, pages, requests, run, since, skipped, Case, SuiteBug, SuiteTracker,
    CHALLENGE,
};
use crate::forge::Run;

/// Every case, by the name of its function (what a harness lists).
pub const NAMES: &[&str] = &[
    "pages_to_the_end",
    "since_is_honoured",
    "a_429_with_retry_after_is_waited_out",
    "a_429_without_retry_after_is_waited_out",
    "a_5xx_never_deletes",
    "a_401_never_deletes",
    "a_403_never_deletes",
    "a_challenge_page_never_deletes",
    "a_failure_after_the_first_answer_deletes_nothing",
    "not_found_deletes",
    "credentials_go_to_the_tracker",
    "a_query_on_another_origin_gets_no_credentials",
    "a_redirect_to_another_origin_gets_no_credentials",
    "a_next_link_to_another_origin_gets_no_credentials",
    "an_empty_first_answer_is_an_error",
    "a_bug_named_twice_is_fetched_once",
    "hostile_links_are_never_emitted",
];

fn links(h: &dyn SuiteTracker, base: &str, ids: &[u64]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|id| h.link(base, *id)).collect();
    v.sort();
    v
}

fn errors(r: &Run) -> Vec<&str> {
    r.stats.errors.iter().map(|e| e.reason.as_str()).collect()
}

/// Mounts `template` in front of every answer of `server`, `times` times (`None`: always).
async fn fault(server: &MockServer, template: ResponseTemplate, times: Option<u64>) {
    let mock = Mock::given(any()).respond_with(template).with_priority(1);
    let mock = match times {
        Some(n) => mock.up_to_n_times(n),
        None => mock,
    };
    mock.mount(server).await;
}

/// A listing of 5 bugs over 3 pages (2, 2, 1) gives exactly the 5 bugs, without an error.
pub async fn pages_to_the_end(h: &dyn SuiteTracker) {
    if skipped(h, Case::PagesToTheEnd) {
        return;
    }
    let server = MockServer::start().await;
    let base = server.uri();
    h.mount_listing(&server, &pages(h, &base, &[&[1, 2], &[3, 4], &[5]]))
        .await;
    let r = run(h, &h.config(&base), true).await;
    let kind = h.kind();
    assert!(r.stats.errors.is_empty(), "{kind}: {:?}", errors(&r));
    assert_eq!(
        r.full(),
        links(h, &base, &[1, 2, 3, 4, 5]),
        "{kind}: every page, to the end"
    );
    assert_eq!(r.bugs.len(), 5, "{kind}: each bug once: {:?}", r.bugs);
}

/// A query polled before asks for the changes since then; the same query never polled does
/// not. The host holds a bug the listing does not name (some trackers, Trac, ask "changed
/// since" only of the held bugs).
pub async fn since_is_honoured(h: &dyn SuiteTracker) {
    if skipped(h, Case::SinceIsHonoured) {
        return;
    }
    let kind = h.kind();
    for polled in [true, false] {
        let server = MockServer::start().await;
        let base = server.uri();
        h.mount_listing(&server, &pages(h, &base, &[&[1, 2]])).await;
        h.mount_bug(&server, &bug(h, &base, 9)).await;
        let mut config = h.config(&base);
        config.existing_bug_urls = vec![h.link(&base, 9)];
        assert!(
            !config.queries.is_empty(),
            "{kind}: the suite needs a query"
        );
        for q in &mut config.queries {
            q.last_polled = polled.then(since);
        }
        let r = run(h, &config, true).await;
        assert!(r.stats.errors.is_empty(), "{kind}: {:?}", errors(&r));
        let reqs = requests(&server).await;
        let asked = reqs.iter().any(|req| h.asks_since(req, since()));
        assert_eq!(
            asked,
            polled,
            "{kind}: last_polled {}: requests {:?}",
            if polled { "set" } else { "unset" },
            reqs.iter().map(|r| r.url.as_str()).collect::<Vec<_>>()
        );
    }
}

/// The first request answers `template` (a 429): in a listing, then in a refresh of a held
/// bug, the request is asked again and the run completes without an error.
async fn rate_limited(h: &dyn SuiteTracker, template: ResponseTemplate) {
    let kind = h.kind();
    for queries in [true, false] {
        let server = MockServer::start().await;
        let base = server.uri();
        fault(&server, template.clone(), Some(1)).await;
        let mut config = h.config(&base);
        let expected = if queries {
            h.mount_listing(&server, &pages(h, &base, &[&[1, 2]])).await;
            links(h, &base, &[1, 2])
        } else {
            h.mount_bug(&server, &bug(h, &base, 1)).await;
            config.existing_bug_urls = vec![h.link(&base, 1)];
            vec![h.link(&base, 1)]
        };
        let r = run(h, &config, queries).await;
        let what = if queries { "listing" } else { "refresh" };
        assert!(
            r.stats.errors.is_empty(),
            "{kind} ({what}): {:?}",
            errors(&r)
        );
        assert_eq!(r.full(), expected, "{kind} ({what})");
        let reqs = requests(&server).await;
        assert!(
            reqs.len() >= 2 && reqs[0].url == reqs[1].url && reqs[0].body == reqs[1].body,
            "{kind} ({what}): the rate-limited request is asked again: {:?}",
            reqs.iter().map(|r| r.url.as_str()).collect::<Vec<_>>()
        );
    }
}

/// A `429` with `Retry-After: 1` is waited out and the request asked again.
pub async fn a_429_with_retry_after_is_waited_out(h: &dyn SuiteTracker) {
    if !skipped(h, Case::A429WithRetryAfter) {
        rate_limited(
            h,
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
        )
        .await;
    }
}

/// A bare `429` is waited out (back-off) and the request asked again.
pub async fn a_429_without_retry_after_is_waited_out(h: &dyn SuiteTracker) {
    if !skipped(h, Case::A429WithoutRetryAfter) {
        rate_limited(h, ResponseTemplate::new(429)).await;
    }
}

/// Every answer is `template`: the refresh of two held bugs, then a whole run with them held,
/// write nothing, delete nothing (not even a deletion held back) and report the refusal.
async fn refused(h: &dyn SuiteTracker, name: &str, template: ResponseTemplate) {
    let kind = h.kind();
    for queries in [false, true] {
        let server = MockServer::start().await;
        let base = server.uri();
        fault(&server, template.clone(), None).await;
        let mut config = h.config(&base);
        config.existing_bug_urls = links(h, &base, &[1, 2]);
        let r = run(h, &config, queries).await;
        let what = if queries { "whole run" } else { "refresh" };
        assert!(
            r.links(|b| b.deleted).is_empty()
                && r.stats.deleted == 0
                && r.stats.deletions_withheld == 0,
            "{kind}/{name} ({what}): deleted {:?}, withheld {}",
            r.links(|b| b.deleted),
            r.stats.deletions_withheld
        );
        assert!(
            r.bugs.is_empty(),
            "{kind}/{name} ({what}): records written: {:?}",
            r.bugs
        );
        assert!(
            !r.stats.errors.is_empty(),
            "{kind}/{name} ({what}): the refusal was not reported"
        );
    }
}

/// 500, 502 and 503 to everything never delete.
pub async fn a_5xx_never_deletes(h: &dyn SuiteTracker) {
    if skipped(h, Case::A5xxNeverDeletes) {
        return;
    }
    for status in [500, 502, 503] {
        refused(h, &status.to_string(), ResponseTemplate::new(status)).await;
    }
}

/// A `401` to everything never deletes.
pub async fn a_401_never_deletes(h: &dyn SuiteTracker) {
    if !skipped(h, Case::A401NeverDeletes) {
        refused(h, "401", ResponseTemplate::new(401)).await;
    }
}

/// A `403` to everything (bare, and with a JSON message) never deletes.
pub async fn a_403_never_deletes(h: &dyn SuiteTracker) {
    if skipped(h, Case::A403NeverDeletes) {
        return;
    }
    refused(h, "403", ResponseTemplate::new(403)).await;
    let json =
        ResponseTemplate::new(403).set_body_raw(r#"{"message":"Forbidden"}"#, "application/json");
    refused(h, "403-json", json).await;
}

/// A bot wall's "checking your browser" page, with `200`, `403` and `503`, never deletes.
pub async fn a_challenge_page_never_deletes(h: &dyn SuiteTracker) {
    if skipped(h, Case::ChallengePageNeverDeletes) {
        return;
    }
    for status in [200, 403, 503] {
        let page = ResponseTemplate::new(status).set_body_raw(CHALLENGE, "text/html");
        refused(h, &format!("{status}-challenge"), page).await;
    }
}

/// Every answer after the first is a 500 (a server that falls over in the middle of a run):
/// whatever the first answer let through is written, but nothing is deleted, not even a
/// deletion held back, and the failure is reported. The host holds a listed bug and one the
/// listing does not name.
pub async fn a_failure_after_the_first_answer_deletes_nothing(h: &dyn SuiteTracker) {
    if skipped(h, Case::FailureAfterTheFirstAnswer) {
        return;
    }
    let server = MockServer::start().await;
    let base = server.uri();
    let answered = Arc::new(AtomicUsize::new(0));
    let after_first = move |_: &wiremock::Request| answered.fetch_add(1, Ordering::SeqCst) >= 1;
    Mock::given(after_first)
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&server)
        .await;
    h.mount_listing(&server, &pages(h, &base, &[&[1, 2], &[3, 4]]))
        .await;
    h.mount_bug(&server, &bug(h, &base, 9)).await;
    let mut config = h.config(&base);
    config.existing_bug_urls = links(h, &base, &[3, 9]);
    let r = run(h, &config, true).await;
    let kind = h.kind();
    assert!(
        r.links(|b| b.deleted).is_empty() && r.stats.deletions_withheld == 0,
        "{kind}: deleted {:?}, withheld {}",
        r.links(|b| b.deleted),
        r.stats.deletions_withheld
    );
    assert!(
        !r.stats.errors.is_empty(),
        "{kind}: the failure was not reported"
    );
}

/// A held bug the tracker says is gone (404, 410) is deleted; the other held bug stays.
pub async fn not_found_deletes(h: &dyn SuiteTracker) {
    if skipped(h, Case::NotFoundDeletes) {
        return;
    }
    let kind = h.kind();
    for status in [404, 410] {
        let server = MockServer::start().await;
        let base = server.uri();
        h.mount_gone(&server, 1, status).await;
        let mut config = h.config(&base);
        config.existing_bug_urls = vec![h.link(&base, 1)];
        let r = run(h, &config, false).await;
        assert_eq!(
            r.links(|b| b.deleted),
            vec![h.link(&base, 1)],
            "{kind}/{status}: the gone bug is deleted: {:?}, errors {:?}",
            r.stats,
            errors(&r)
        );
        assert_eq!(r.bugs.len(), 1, "{kind}/{status}: {:?}", r.bugs);
    }
}

/// The harness's secrets reach the tracker: every request [`SuiteTracker::sends_credentials`]
/// names carries them (the three cases after this one would prove nothing otherwise).
pub async fn credentials_go_to_the_tracker(h: &dyn SuiteTracker) {
    if skipped(h, Case::CredentialsGoToTheTracker) || no_credentials(h) {
        return;
    }
    let server = MockServer::start().await;
    let base = server.uri();
    h.mount_listing(&server, &pages(h, &base, &[&[1], &[2]]))
        .await;
    let r = run(h, &h.config(&base), true).await;
    let kind = h.kind();
    assert!(r.stats.errors.is_empty(), "{kind}: {:?}", errors(&r));
    let reqs: Vec<_> = requests(&server)
        .await
        .into_iter()
        .filter(|r| h.sends_credentials(r))
        .collect();
    let bare: Vec<&str> = reqs
        .iter()
        .filter(|r| !carries_secret(r))
        .map(|r| r.url.as_str())
        .collect();
    assert!(
        !reqs.is_empty() && bare.is_empty(),
        "{kind}: every request to the tracker's API carries its credentials: without: {bare:?}"
    );
    let mut out = format!("{:?}", r.stats);
    for b in &r.bugs {
        out.push_str(&b.to_json_line());
    }
    assert!(!out.contains(super::SECRET), "{kind}: the secret is output");
}

fn no_credentials(h: &dyn SuiteTracker) -> bool {
    if h.secrets().is_empty() {
        println!(
            "skipped: credentials do not apply to {} because it declares no secret",
            h.kind()
        );
        return true;
    }
    false
}

/// Fails if a request to `other` carried a secret.
async fn assert_no_secret(kind: &str, what: &str, other: &MockServer) {
    let reqs = requests(other).await;
    println!(
        "{kind}: {what}: the other origin was asked {} times",
        reqs.len()
    );
    let leaked: Vec<String> = reqs
        .iter()
        .filter(|r| carries_secret(r))
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    assert!(
        leaked.is_empty(),
        "{kind}: {what}: credentials sent to another origin: {leaked:?}"
    );
}

/// A query moved to another origin is asked there (or refused) without the credentials.
pub async fn a_query_on_another_origin_gets_no_credentials(h: &dyn SuiteTracker) {
    if skipped(h, Case::QueryOnAnotherOrigin) || no_credentials(h) {
        return;
    }
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    let base = server.uri();
    h.mount_listing(&server, &pages(h, &base, &[&[1]])).await;
    h.mount_listing(&other, &pages(h, &base, &[&[2]])).await;
    let mut config = h.config(&base);
    h.move_queries(&mut config, &base, &other.uri());
    run(h, &config, true).await;
    assert_no_secret(h.kind(), "a query on another origin", &other).await;
}

/// Every answer of the tracker is a redirect (302 and 307) to another origin: whatever is
/// followed, no secret goes there.
pub async fn a_redirect_to_another_origin_gets_no_credentials(h: &dyn SuiteTracker) {
    if skipped(h, Case::RedirectToAnotherOrigin) || no_credentials(h) {
        return;
    }
    for status in [302, 307] {
        let server = MockServer::start().await;
        let other = MockServer::start().await;
        let base = server.uri();
        let to = format!("{}/elsewhere", other.uri());
        fault(
            &server,
            ResponseTemplate::new(status).insert_header("location", to.as_str()),
            None,
        )
        .await;
        let mut config = h.config(&base);
        config.existing_bug_urls = links(h, &base, &[1]);
        run(h, &config, true).await;
        let what = format!("a {status} redirect");
        assert_no_secret(h.kind(), &what, &other).await;
    }
}

/// The first page names its next page on another origin: it is asked without the
/// credentials, or not at all.
pub async fn a_next_link_to_another_origin_gets_no_credentials(h: &dyn SuiteTracker) {
    if skipped(h, Case::NextLinkToAnotherOrigin) || no_credentials(h) {
        return;
    }
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    let base = server.uri();
    // The other origin answers the `page=2` the next link names.
    h.mount_listing(&other, &pages(h, &base, &[&[], &[2]]))
        .await;
    let config = h.config(&base);
    let next = next_on(&config, &base, &other.uri());
    h.mount_listing_with_next(&server, &[bug(h, &base, 1)], &next)
        .await;
    let r = run(h, &config, true).await;
    assert!(
        r.full().contains(&h.link(&base, 1)),
        "{}: the first page is read: {:?}",
        h.kind(),
        errors(&r)
    );
    assert_no_secret(h.kind(), "a next link on another origin", &other).await;
}

/// The configuration's first query moved to `to`, with `page=2` (the next-page URL a hostile
/// server would name).
fn next_on(config: &bugimporters_core::TrackerConfig, from: &str, to: &str) -> String {
    let first = config
        .queries
        .first()
        .map(|q| q.url.clone())
        .unwrap_or_else(|| format!("{from}/"));
    let moved = match first.strip_prefix(from) {
        Some(rest) => format!("{to}{rest}"),
        None => format!("{to}/"),
    };
    let sep = if moved.contains('?') { '&' } else { '?' };
    format!("{moved}{sep}page=2")
}

/// A `200` with an empty body where the listing's first page was expected fails the run:
/// nothing written, an error reported. (Every request is answered so: the first request of
/// some trackers is not the listing — Redmine's status list, say — and an empty answer there
/// may have a documented fallback.)
pub async fn an_empty_first_answer_is_an_error(h: &dyn SuiteTracker) {
    if skipped(h, Case::EmptyFirstAnswer) {
        return;
    }
    let server = MockServer::start().await;
    let base = server.uri();
    fault(&server, ResponseTemplate::new(200), None).await;
    h.mount_listing(&server, &pages(h, &base, &[&[1, 2]])).await;
    let r = run(h, &h.config(&base), true).await;
    let kind = h.kind();
    assert!(
        !r.stats.errors.is_empty(),
        "{kind}: an empty first answer was taken for an empty listing"
    );
    assert!(r.bugs.is_empty(), "{kind}: records written: {:?}", r.bugs);
}

/// A held link named twice costs what one costs and gives one record; a bug named by the
/// listing and the held list, or by two pages, is written once.
pub async fn a_bug_named_twice_is_fetched_once(h: &dyn SuiteTracker) {
    if skipped(h, Case::BugNamedTwice) {
        return;
    }
    let kind = h.kind();
    let mut costs = Vec::new();
    for held in [1, 2] {
        let server = MockServer::start().await;
        let base = server.uri();
        h.mount_bug(&server, &bug(h, &base, 1)).await;
        let mut config = h.config(&base);
        config.existing_bug_urls = vec![h.link(&base, 1); held];
        let r = run(h, &config, false).await;
        assert!(r.stats.errors.is_empty(), "{kind}: {:?}", errors(&r));
        assert_eq!(
            r.full(),
            vec![h.link(&base, 1)],
            "{kind}: held {held} times"
        );
        costs.push(requests(&server).await.len());
    }
    assert_eq!(
        costs[0], costs[1],
        "{kind}: requests for a link held once, twice"
    );

    let server = MockServer::start().await;
    let base = server.uri();
    h.mount_listing(&server, &pages(h, &base, &[&[1, 2], &[2, 3]]))
        .await;
    h.mount_bug(&server, &bug(h, &base, 1)).await;
    let mut config = h.config(&base);
    config.existing_bug_urls = vec![h.link(&base, 1)];
    let r = run(h, &config, true).await;
    assert!(r.stats.errors.is_empty(), "{kind}: {:?}", errors(&r));
    let mut written: Vec<String> = r
        .bugs
        .iter()
        .map(|b| b.canonical_bug_link.clone())
        .collect();
    written.sort();
    assert_eq!(
        written,
        links(h, &base, &[1, 2, 3]),
        "{kind}: each bug once"
    );
}

/// A listed bug whose link is on another origin, or a `javascript:` URL, is not written; its
/// neighbour is.
pub async fn hostile_links_are_never_emitted(h: &dyn SuiteTracker) {
    if skipped(h, Case::HostileLinks) {
        return;
    }
    let server = MockServer::start().await;
    let base = server.uri();
    let own = h.link(&base, 2);
    let elsewhere = match url::Url::parse(&own) {
        Ok(mut u) => {
            let _ = u.set_host(Some("evil.example"));
            let _ = u.set_port(None);
            u.to_string()
        }
        Err(_) => "https://evil.example/issues/2".to_owned(),
    };
    let page = vec![
        bug(h, &base, 1),
        SuiteBug {
            id: 2,
            link: elsewhere.clone(),
        },
        SuiteBug {
            id: 3,
            link: "javascript:alert(document.domain)//3".to_owned(),
        },
    ];
    h.mount_listing(&server, &[page]).await;
    let r = run(h, &h.config(&base), true).await;
    let kind = h.kind();
    let written = r.links(|_| true);
    assert!(
        written.contains(&h.link(&base, 1)),
        "{kind}: the honest bug is written: {written:?} {:?}",
        errors(&r)
    );
    for link in &written {
        assert!(
            !link.contains("evil.example") && !link.starts_with("javascript:"),
            "{kind}: a hostile link was written: {link}"
        );
    }
}
