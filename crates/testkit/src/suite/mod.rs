//! One conformance suite for every tracker type (issue 17, point 5).
//!
//! The behaviours every importer owes its host, checked the same way for every tracker:
//!
//! | case | what it proves |
//! | --- | --- |
//! | `pages_to_the_end` | a listing of 5 bugs over 3 pages gives the 5 bugs, no error |
//! | `since_is_honoured` | a query with `last_polled` asks the server for changes since then (and one without does not) |
//! | `a_429_with_retry_after_is_waited_out`, `a_429_without_retry_after_is_waited_out` | the rate-limited request is asked again and the listing (and a refresh of a held bug) completes |
//! | `a_5xx_never_deletes`, `a_401_never_deletes`, `a_403_never_deletes`, `a_challenge_page_never_deletes` | a refusal (every answer 500/502/503, 401, 403, or a bot wall's "checking your browser" page with 200, 403 or 503) deletes nothing, writes nothing and is reported, in a refresh of held bugs and in a whole run |
//! | `a_failure_after_the_first_answer_deletes_nothing` | a server answering 500 to everything after its first answer: nothing deleted (the host holds a listed bug and an unlisted one), the failure reported |
//! | `not_found_deletes` | a held bug the tracker says is gone (404, 410, or the API's own not-found) becomes a `_deleted` record |
//! | `credentials_go_to_the_tracker` | the secret of the configuration is sent to the tracker's origin (so that the next three are not vacuous) |
//! | `a_query_on_another_origin_gets_no_credentials`, `a_redirect_to_another_origin_gets_no_credentials`, `a_next_link_to_another_origin_gets_no_credentials` | no request to another origin carries a secret (raw, in a URL, a body or a header, or inside a `Basic` header) |
//! | `an_empty_first_answer_is_an_error` | a `200` with an empty body for the first request fails the run and writes nothing |
//! | `a_bug_named_twice_is_fetched_once` | a held link named twice costs the requests of one, and a bug named by the listing and the held list (or by two pages) is written once |
//! | `hostile_links_are_never_emitted` | a listed bug whose link is on another origin, or a `javascript:` URL, is never written |
//!
//! A tracker crate runs the suite from `tests/suite.rs`: it implements [`SuiteTracker`] (a
//! configuration against a [`wiremock::MockServer`], its listing and single-bug answers in its
//! own wire format, its links) and lists the cases with [`conformance_suite!`](crate::conformance_suite),
//! which writes one `#[test]` per case and a test that fails when a case of the suite is not
//! listed. A case that does not apply to a tracker (no incremental filter, no credentials, no
//! link in the answers) is declared by [`SuiteTracker::not_applicable`] with a reason, and the
//! test prints `skipped: <case> does not apply to <tracker> because <reason>`. The runs go
//! through the tracker's factory in a [`bugimporters_core::Registry`], with the link scope set
//! as the crawl sets it, a [`crate::forge::loopback_client`] (short back-offs) and the
//! harness's secrets in a [`FixedSecrets`].
//!
//! Harnesses mount their answers at wiremock's default priority (5) or lower; the suite mounts
//! its faults (429, refusals, redirects, empty bodies) at priority 1, in front of them.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use bugimporters_core::{Registry, TrackerConfig};
use chrono::NaiveDateTime;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::forge::{self, FixedSecrets, Run, RUN_CAPACITY};

pub mod cases;
pub mod link_paged;
pub mod wire;

/// The value of every secret a harness declares ([`SuiteTracker::secrets`]): a string no
/// answer contains, so that finding it in a request proves a leak.
pub const SECRET: &str = "suite-s3cr3t-T0ken-4f1c";

/// The `last_polled` of the queries in `since_is_honoured`: 2024-03-01 10:20:30 UTC.
pub fn since() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
        .and_then(|d| d.and_hms_opt(10, 20, 30))
        .expect("a date")
}

/// The clock of every suite run: 2024-05-01 12:00:00 UTC.
pub fn now() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2024, 5, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("a date")
}

/// A bot wall's challenge page, answered where JSON, XML, CSV or a tracker page was expected.
pub const CHALLENGE: &str = "<!DOCTYPE html><html><head><title>Just a moment...</title></head>\
    <body><div id=\"challenge-form\">Checking your browser before accessing the site.</div>\
    <noscript>Enable JavaScript and cookies to continue</noscript></body></html>";

/// The cases of the suite, as [`SuiteTracker::not_applicable`] names them. Each has a function
/// of the same name (in snake case) in [`cases`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// [`cases::pages_to_the_end`]
    PagesToTheEnd,
    /// [`cases::since_is_honoured`]
    SinceIsHonoured,
    /// [`cases::a_429_with_retry_after_is_waited_out`]
    A429WithRetryAfter,
    /// [`cases::a_429_without_retry_after_is_waited_out`]
    A429WithoutRetryAfter,
    /// [`cases::a_5xx_never_deletes`]
    A5xxNeverDeletes,
    /// [`cases::a_401_never_deletes`]
    A401NeverDeletes,
    /// [`cases::a_403_never_deletes`]
    A403NeverDeletes,
    /// [`cases::a_challenge_page_never_deletes`]
    ChallengePageNeverDeletes,
    /// [`cases::a_failure_after_the_first_answer_deletes_nothing`]
    FailureAfterTheFirstAnswer,
    /// [`cases::not_found_deletes`]
    NotFoundDeletes,
    /// [`cases::credentials_go_to_the_tracker`]
    CredentialsGoToTheTracker,
    /// [`cases::a_query_on_another_origin_gets_no_credentials`]
    QueryOnAnotherOrigin,
    /// [`cases::a_redirect_to_another_origin_gets_no_credentials`]
    RedirectToAnotherOrigin,
    /// [`cases::a_next_link_to_another_origin_gets_no_credentials`]
    NextLinkToAnotherOrigin,
    /// [`cases::an_empty_first_answer_is_an_error`]
    EmptyFirstAnswer,
    /// [`cases::a_bug_named_twice_is_fetched_once`]
    BugNamedTwice,
    /// [`cases::hostile_links_are_never_emitted`]
    HostileLinks,
}

impl Case {
    /// Whether the case is about credentials (the tracker's secret reaching its origin and no
    /// other): none of them applies to a tracker without credentials.
    pub fn about_credentials(self) -> bool {
        matches!(
            self,
            Case::CredentialsGoToTheTracker
                | Case::QueryOnAnotherOrigin
                | Case::RedirectToAnotherOrigin
                | Case::NextLinkToAnotherOrigin
        )
    }
}

/// One bug of a listing the suite asks a harness to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteBug {
    /// Its number on the tracker.
    pub id: u64,
    /// The link the server's answer gives for it (where the wire format carries one): the
    /// tracker's own link ([`SuiteTracker::link`]) except in `hostile_links_are_never_emitted`.
    pub link: String,
}

/// What a tracker crate writes to run the suite (in its `tests/suite.rs`). Only public APIs:
/// its factory (through [`SuiteTracker::register`]), its configuration keys and its wire
/// format.
#[async_trait]
pub trait SuiteTracker: Send + Sync {
    /// The tracker type, for messages (`"gitea"`).
    fn kind(&self) -> &'static str;

    /// Registers the tracker's factory (its crate's `register`).
    fn register(&self, registry: &mut Registry);

    /// A configuration against the mock server `base` (`http://127.0.0.1:PORT`, no trailing
    /// slash) with the query (or queries) [`SuiteTracker::mount_listing`] answers, reading its
    /// credentials from the names of [`SuiteTracker::secrets`]. No held bugs: the suite sets
    /// `existing_bug_urls` and `last_polled`.
    fn config(&self, base: &str) -> TrackerConfig;

    /// The names of the secrets the configuration reads (token, user, ...); the suite gives
    /// each the value [`SECRET`]. Empty for a tracker without credentials.
    fn secrets(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether `request` to the tracker must carry the credentials: every request unless a
    /// tracker sends them only to its API (Roundup's REST URLs, not its CSV export).
    fn sends_credentials(&self, request: &Request) -> bool {
        let _ = request;
        true
    }

    /// The canonical link of bug `id` of the tracker configured against `base`.
    fn link(&self, base: &str, id: u64) -> String;

    /// Mounts the answers of the configuration's listing: `pages[i]` are the bugs of page
    /// `i + 1`, the last page names no next one. Mount too whatever the importer fetches per
    /// listed bug (a ticket's details, say).
    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]);

    /// Mounts the answers of the refresh of held bug `bug` (a single-bug GET, or the search
    /// the tracker refreshes held bugs with).
    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug);

    /// Mounts the answers that say held bug `id` is gone, for `status` 404 or 410. The default
    /// answers `status` to every request; a tracker whose refresh is a search answers the
    /// API's own not-found instead (then both statuses mount the same answer).
    async fn mount_gone(&self, server: &MockServer, id: u64, status: u16) {
        let _ = id;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(status))
            .with_priority(3)
            .mount(server)
            .await;
    }

    /// Whether `request` asks for the changes since `since` (a `since=`, an `updated>=`, ...).
    /// Needed unless [`Case::SinceIsHonoured`] does not apply.
    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let _ = (request, since);
        false
    }

    /// Mounts a one-page listing of `bugs` whose answer names `next` (on another origin) as
    /// its next page. Needed unless [`Case::NextLinkToAnotherOrigin`] does not apply.
    async fn mount_listing_with_next(&self, server: &MockServer, bugs: &[SuiteBug], next: &str) {
        let _ = (server, bugs, next);
    }

    /// Moves the configuration's queries from origin `from` to origin `to` (both
    /// `http://127.0.0.1:PORT`). The default rewrites every query URL that starts with `from`.
    fn move_queries(&self, config: &mut TrackerConfig, from: &str, to: &str) {
        for q in &mut config.queries {
            if let Some(rest) = q.url.strip_prefix(from) {
                q.url = format!("{to}{rest}");
            }
        }
    }

    /// Why `case` does not apply to this tracker, if it does not (printed as
    /// `skipped: <case> does not apply to <tracker> because <reason>`).
    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        let _ = case;
        None
    }
}

/// The bug `id` with the tracker's own link.
pub fn bug(h: &dyn SuiteTracker, base: &str, id: u64) -> SuiteBug {
    SuiteBug {
        id,
        link: h.link(base, id),
    }
}

/// Pages of bugs with the tracker's own links: `pages(h, base, &[&[1, 2], &[3]])`.
pub fn pages(h: &dyn SuiteTracker, base: &str, ids: &[&[u64]]) -> Vec<Vec<SuiteBug>> {
    ids.iter()
        .map(|p| p.iter().map(|id| bug(h, base, *id)).collect())
        .collect()
}

/// Builds the importer of `config` through a registry holding only the harness's factory,
/// and runs it as the crawl would: link scope set, secrets from the harness (each
/// [`SECRET`]), queries when `queries`, then the refresh of the held bugs.
pub async fn run(h: &dyn SuiteTracker, config: &TrackerConfig, queries: bool) -> Run {
    let mut registry = Registry::new();
    h.register(&mut registry);
    let built = registry.build(config).unwrap_or_else(|e| {
        panic!(
            "{}: the suite's configuration does not build: {e}",
            h.kind()
        )
    });
    let scope = registry
        .link_scope(config)
        .unwrap_or_else(|e| panic!("{}: no link scope: {e}", h.kind()));
    let mut secrets = FixedSecrets::new();
    for name in h.secrets() {
        secrets = secrets.with(name, SECRET);
    }
    let options = forge::options(now()).with_secrets(Arc::new(secrets));
    forge::run_importer_scoped(
        &*built.importer,
        config,
        forge::loopback_client(),
        options,
        queries,
        RUN_CAPACITY,
        Some(scope),
    )
    .await
}

/// Whether `request` carries [`SECRET`]: in its URL, a header value, its body, or inside a
/// `Basic` authorization header.
pub fn carries_secret(request: &Request) -> bool {
    if request.url.as_str().contains(SECRET)
        || String::from_utf8_lossy(&request.body).contains(SECRET)
    {
        return true;
    }
    request.headers.iter().any(|(_, v)| {
        let v = String::from_utf8_lossy(v.as_bytes());
        if v.contains(SECRET) {
            return true;
        }
        let basic = v.trim().strip_prefix("Basic ").map(str::trim);
        basic
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|d| String::from_utf8_lossy(&d).contains(SECRET))
    })
}

/// The requests `server` received.
pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// `true` (after printing why) when `case` does not apply to the harness's tracker.
pub fn skipped(h: &dyn SuiteTracker, case: Case) -> bool {
    match h.not_applicable(case) {
        Some(reason) => {
            println!(
                "skipped: {case:?} does not apply to {} because {reason}",
                h.kind()
            );
            true
        }
        None => false,
    }
}

/// Runs one case on a runtime of its own (what each test of
/// [`conformance_suite!`](crate::conformance_suite) does).
pub fn block_on<F: std::future::Future<Output = ()>>(case: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(case);
}

/// Fails unless `listed` names every case of [`cases::NAMES`] (the completeness test of
/// [`conformance_suite!`](crate::conformance_suite)).
pub fn check_listed(kind: &str, listed: &[&str]) {
    let missing: Vec<&str> = cases::NAMES
        .iter()
        .copied()
        .filter(|n| !listed.contains(n))
        .collect();
    let unknown: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|n| !cases::NAMES.contains(n))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{kind}: the suite's cases not listed: {missing:?}; listed but unknown: {unknown:?}"
    );
}

/// Writes one test per case of the conformance suite for a harness, plus a test that fails
/// when a case of the suite is missing from the list. `conformance_suite!(Harness)` runs every
/// case; the long form lists them, so that a case may carry attributes (`#[ignore = "finding:
/// …"]` for a behaviour the tracker gets wrong).
///
/// ```ignore
/// bugimporters_testkit::conformance_suite!(Gitea);
/// // or
/// bugimporters_testkit::conformance_suite!(Gitea;
///     pages_to_the_end, since_is_honoured, /* … every case of suite::cases::NAMES … */
///     #[ignore = "finding: a 200 challenge page deletes"] a_challenge_page_never_deletes,
/// );
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!($harness;
            pages_to_the_end,
            since_is_honoured,
            a_429_with_retry_after_is_waited_out,
            a_429_without_retry_after_is_waited_out,
            a_5xx_never_deletes,
            a_401_never_deletes,
            a_403_never_deletes,
            a_challenge_page_never_deletes,
            a_failure_after_the_first_answer_deletes_nothing,
            not_found_deletes,
            credentials_go_to_the_tracker,
            a_query_on_another_origin_gets_no_credentials,
            a_redirect_to_another_origin_gets_no_credentials,
            a_next_link_to_another_origin_gets_no_credentials,
            an_empty_first_answer_is_an_error,
            a_bug_named_twice_is_fetched_once,
            hostile_links_are_never_emitted,
        );
    };
    ($harness:expr; $( $(#[$attr:meta])* $case:ident ),+ $(,)?) => {
        $(
            $(#[$attr])*
            #[test]
            fn $case() {
                $crate::suite::block_on($crate::suite::cases::$case(&$harness));
            }
        )+

        #[test]
        fn the_conformance_suite_is_listed_whole() {
            $crate::suite::check_listed(
                $crate::suite::SuiteTracker::kind(&$harness),
                &[$(stringify!($case)),+],
            );
        }
    };
}
