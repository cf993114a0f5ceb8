//! The conformance suite on the test-only `testkit` tracker type, and the suite checked
//! against broken trackers: each mutant (a tracker that deletes on any error, one that sends
//! its token as a plain header everywhere, one that fetches a held link every time it is
//! named) must fail the cases that describe what it breaks.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Request;
use bugimporters_core::{
    BuildContext, Error, ImportContext, Importer, ImporterFactory, LinkScope, ParsedBug, Query,
    Registry, TrackerConfig,
};
use bugimporters_testkit::json_tracker::{parse_page, JsonTrackerFactory};
use bugimporters_testkit::suite::{self, cases, wire, Case, SuiteBug, SuiteTracker};
use serde_json::{json, Value};
use wiremock::http::{HeaderName, HeaderValue};
use wiremock::MockServer;

/// How a harness's tracker is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutant {
    /// The `testkit` type as it is.
    None,
    /// Any failed refresh of a held bug is a deletion.
    DeletesOnAnyError,
    /// The token goes as a plain header with every request, wherever it goes.
    LeaksToken,
    /// A held link named twice is fetched (and emitted) twice.
    FetchesTwice,
}

struct Testkit(Mutant);

const TOKEN_ENV: &str = "SUITE_TESTKIT_TOKEN";

fn bug_json(b: &SuiteBug) -> Value {
    json!({"canonical_bug_link": b.link, "title": format!("Bug {}", b.id)})
}

#[async_trait]
impl SuiteTracker for Testkit {
    fn kind(&self) -> &'static str {
        "testkit"
    }

    fn register(&self, registry: &mut Registry) {
        match self.0 {
            Mutant::None => bugimporters_testkit::register(registry),
            m => {
                registry.register(Arc::new(MutantFactory(m)));
            }
        }
    }

    fn config(&self, base: &str) -> TrackerConfig {
        let mut c = TrackerConfig::new("suite-testkit", "testkit");
        c.base_url = format!("{base}/");
        c.queries = vec![Query::new(format!("{base}/bugs"))];
        c
    }

    fn secrets(&self) -> &'static [&'static str] {
        match self.0 {
            Mutant::LeaksToken => &[TOKEN_ENV],
            _ => &[],
        }
    }

    fn link(&self, base: &str, id: u64) -> String {
        format!("{base}/bug/{id}")
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        for (i, bugs) in pages.iter().enumerate() {
            let page = i as u64 + 1;
            let next =
                (i + 1 < pages.len()).then(|| format!("{}/bugs?page={}", server.uri(), page + 1));
            let body = json!({"bugs": bugs.iter().map(bug_json).collect::<Vec<_>>(), "next": next});
            wire::mount_link_page(server, "/bugs", page, body, None).await;
        }
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        wire::mount_json(server, &format!("/bug/{}", bug.id), bug_json(bug)).await;
    }

    fn not_applicable(&self, case: Case) -> Option<&'static str> {
        (case == Case::SinceIsHonoured).then_some("the testkit type has no incremental filter")
    }
}

/// A `testkit` type with one of the faults of [`Mutant`].
#[derive(Debug)]
struct MutantFactory(Mutant);

impl ImporterFactory for MutantFactory {
    fn kind(&self) -> &'static str {
        "testkit"
    }

    fn description(&self) -> &'static str {
        "a broken testkit type"
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        Ok(Arc::new(MutantImporter {
            inner: JsonTrackerFactory.build(cx)?,
            queries: cx.config.queries.iter().map(|q| q.url.clone()).collect(),
            mutant: self.0,
        }))
    }

    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        JsonTrackerFactory.link_scope(config)
    }
}

#[derive(Debug)]
struct MutantImporter {
    inner: Arc<dyn Importer>,
    queries: Vec<String>,
    mutant: Mutant,
}

impl MutantImporter {
    /// GETs `url`, with the token as a plain header when leaking.
    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Vec<u8>, Error> {
        let mut req = Request::get(url)?;
        if let Some(token) = ctx.secret(TOKEN_ENV) {
            let value = HeaderValue::from_str(&token).map_err(|e| Error::config(e.to_string()))?;
            req = req.with_header(HeaderName::from_static("x-token"), value);
        }
        Ok(ctx.fetch(req).await?.body.to_vec())
    }
}

#[async_trait]
impl Importer for MutantImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        if self.mutant != Mutant::LeaksToken {
            return self.inner.process_queries(ctx).await;
        }
        for query in &self.queries {
            let mut next = Some(query.clone());
            while let Some(url) = next.take() {
                let page = parse_page(&url, &self.get(ctx, &url).await?)?;
                for bug in page.bugs {
                    if ctx.claim(&bug.canonical_bug_link) {
                        ctx.emit(bug).await?;
                    }
                }
                next = page.next;
            }
        }
        Ok(())
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        match self.mutant {
            Mutant::DeletesOnAnyError | Mutant::FetchesTwice => {}
            _ => return self.inner.process_existing_bugs(ctx, urls).await,
        }
        for url in urls {
            if self.mutant == Mutant::DeletesOnAnyError && !ctx.claim(url) {
                continue;
            }
            let bug = self.get(ctx, url).await.and_then(|body| {
                serde_json::from_slice::<ParsedBug>(&body).map_err(|e| Error::parse(url, e))
            });
            match bug {
                Ok(bug) => ctx.emit(bug).await?,
                Err(e) => {
                    ctx.report_error(e);
                    let name = ctx.tracker_name().to_owned();
                    ctx.emit(ParsedBug::deleted(url.as_str(), &name, &name, ctx.now()))
                        .await?;
                }
            }
        }
        Ok(())
    }
}

bugimporters_testkit::conformance_suite!(Testkit(Mutant::None));

/// Whether `case` fails (panics).
fn fails<F>(case: F) -> bool
where
    F: std::future::Future<Output = ()>,
{
    std::panic::catch_unwind(AssertUnwindSafe(|| suite::block_on(case))).is_err()
}

#[test]
fn a_tracker_that_deletes_on_any_error_fails_every_refusal_case() {
    let h = Testkit(Mutant::DeletesOnAnyError);
    assert!(fails(cases::a_401_never_deletes(&h)));
    assert!(fails(cases::a_403_never_deletes(&h)));
    assert!(fails(cases::a_5xx_never_deletes(&h)));
    assert!(fails(cases::a_challenge_page_never_deletes(&h)));
    assert!(!fails(cases::not_found_deletes(&h)), "a 404 does delete");
}

#[test]
fn a_tracker_that_sends_its_token_everywhere_fails_the_origin_cases() {
    let h = Testkit(Mutant::LeaksToken);
    assert!(!fails(cases::credentials_go_to_the_tracker(&h)));
    assert!(fails(cases::a_query_on_another_origin_gets_no_credentials(
        &h
    )));
    assert!(fails(
        cases::a_next_link_to_another_origin_gets_no_credentials(&h)
    ));
}

#[test]
fn a_tracker_that_fetches_a_link_each_time_it_is_named_fails_the_dedup_case() {
    let h = Testkit(Mutant::FetchesTwice);
    assert!(fails(cases::a_bug_named_twice_is_fetched_once(&h)));
    assert!(!fails(cases::pages_to_the_end(&h)));
}
