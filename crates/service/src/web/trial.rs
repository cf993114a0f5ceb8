//! "Test this tracker" (`POST /customs/tracker/test`, and `POST /customs/test` on the add
//! form): a dry run of the tracker as its form stands (saved or not) on one of its queries,
//! through the crawl engine with the service's HTTP client (its private-address guard,
//! per-host limits, body and time limits) and a deadline of [`TRIAL_TIMEOUT`]; the bugs
//! parsed are shown with their bite-sized and documentation classification and nothing is
//! written to the database. At most [`TRIALS_AT_ONCE`] run at once in a process.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bugimporters_core::ParsedBug;
use bugimporters_crawl::{run_crawl_with_client, CrawlOptions, VecSink};

use super::csrf::Posted;
use super::customs::{page_index, tracker_view};
use super::customs_form::TrackerForm;
use super::{message_page, render_with, Layout};
use crate::Service;

/// The dry run's deadline: the tracker is abandoned after it (what it parsed so far is shown).
pub(crate) const TRIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// Bugs shown.
pub(crate) const TRIAL_BUGS_SHOWN: usize = 20;
/// Dry runs at once in this process; more are refused with a message (each may hold a
/// connection to a tracker for [`TRIAL_TIMEOUT`]).
pub(crate) const TRIALS_AT_ONCE: usize = 2;

static TRIALS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(TRIALS_AT_ONCE);

/// What a dry run found.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrialResult {
    /// The query run.
    pub(crate) query: String,
    /// The first bugs parsed (at most [`TRIAL_BUGS_SHOWN`]).
    pub(crate) bugs: Vec<TrialBug>,
    /// How many records the run gave.
    pub(crate) total: u64,
    /// The run's errors (redacted by the crawl's report).
    pub(crate) errors: Vec<String>,
}

/// One bug of a dry run.
#[derive(Debug, Clone)]
pub(crate) struct TrialBug {
    pub(crate) link: String,
    pub(crate) title: String,
    pub(crate) bitesized: bool,
    pub(crate) documentation: bool,
    pub(crate) closed: bool,
}

impl TrialBug {
    fn of(bug: &ParsedBug) -> TrialBug {
        TrialBug {
            link: bug.canonical_bug_link.clone(),
            title: bug.title.clone().unwrap_or_default(),
            bitesized: bug.good_for_newcomers == Some(true),
            documentation: bug.concerns_just_documentation == Some(true),
            closed: bug.looks_closed == Some(true),
        }
    }

    /// Whether the link may be shown as a link (http or https only).
    pub(crate) fn linkable(&self) -> bool {
        self.link.starts_with("https://") || self.link.starts_with("http://")
    }
}

pub(super) fn routes() -> Router<Service> {
    Router::new()
        .route("/customs/tracker/test", post(test))
        .route("/customs/test", post(test_new))
}

/// "Test this tracker" on the add form: the tracker as typed, not yet saved, on its first
/// query.
async fn test_new(
    State(service): State<Service>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let Posted { session, form } = posted;
    let registry = super::customs::registry(&service);
    let kind = registry
        .canonical_kind(super::customs::pair(&form, "type"))
        .map(str::to_owned)
        .unwrap_or_default();
    let Some(empty) = TrackerForm::new(registry, &kind) else {
        return message_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Layout::signed_in("Trackers", &session),
            "Choose a tracker type first.",
        );
    };
    let mut tf = empty.posted(&form);
    let all = match service.db().trackers().await {
        Ok(all) => all,
        Err(e) => return super::session::unavailable(&e),
    };
    let mut config = match tf.config() {
        Ok(c) => c,
        Err(e) => {
            tf.place_error(&e);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page_index(&session, &service, &all, kind, Some(tf), status, None);
        }
    };
    let Some(query) = config.queries.first().map(|q| q.url.clone()) else {
        tf.queries_error = "Give a query URL to test.".into();
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page_index(&session, &service, &all, kind, Some(tf), status, None);
    };
    config.queries.truncate(1);
    let trial = dry_run(&service, config, query).await;
    page_index(
        &session,
        &service,
        &all,
        kind,
        Some(tf),
        StatusCode::OK,
        Some(trial),
    )
}

async fn test(State(service): State<Service>, posted: Posted<Vec<(String, String)>>) -> Response {
    let Posted { session, form } = posted;
    let field = |key: &str| {
        form.iter()
            .find(|(k, _)| k == key)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let original = field("tracker");
    let record = match service.db().tracker(&original).await {
        Ok(Some(r)) => r,
        Ok(None) => return super::customs::no_such_tracker(&session, &original),
        Err(e) => return super::session::unavailable(&e),
    };
    let owner = service.db().tracker_owner(record.id).await.ok().flatten();
    let may = super::customs::may_change(&session, owner);
    let mut page = match tracker_view(&service, &session, &record, may, owner).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.form = page.form.clone().posted(&form);
    let query = Some(field("query"))
        .filter(|q| !q.is_empty())
        .or_else(|| record.config.queries.first().map(|q| q.url.clone()))
        .unwrap_or_default();
    let mut config = match page.form.config() {
        Ok(c) => c,
        Err(e) => {
            page.form.place_error(&e);
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    config.queries = vec![bugimporters_core::Query::new(query.clone())];
    page.trial = Some(dry_run(&service, config, query).await);
    render_with(StatusCode::OK, &page)
}

/// Crawls `config` (one query, no held bugs) into memory under the service's guard and
/// limits, within [`TRIAL_TIMEOUT`].
async fn dry_run(
    service: &Service,
    mut config: bugimporters_core::TrackerConfig,
    query: String,
) -> TrialResult {
    let Ok(_permit) = TRIALS.try_acquire() else {
        return TrialResult {
            query,
            errors: vec![format!(
                "{TRIALS_AT_ONCE} test runs are going on already; try again in a moment."
            )],
            ..TrialResult::default()
        };
    };
    for key in bugimporters_hostdb::schedule::SERVICE_KEYS {
        config.extra.remove(*key);
    }
    let mut options = CrawlOptions::default();
    options.concurrency = 1;
    options.now = Some(service.now());
    options.fetch = service.config().fetch.clone();
    options.tracker_timeout = TRIAL_TIMEOUT;
    options.secrets = service.config().secrets.clone();
    let sink = VecSink::new();
    let run = run_crawl_with_client(
        &service.inner.registry,
        vec![Ok(config)],
        options,
        sink.clone(),
        service.inner.client.clone(),
    );
    let mut result = TrialResult {
        query,
        ..TrialResult::default()
    };
    match tokio::time::timeout(TRIAL_TIMEOUT + Duration::from_secs(5), run).await {
        Ok(Ok(report)) => {
            for t in &report.trackers {
                result.total += t.bugs_emitted;
                result.errors.extend(t.errors.iter().map(|e| match &e.url {
                    Some(url) => format!("{url}: {}", e.reason),
                    None => e.reason.clone(),
                }));
                if let Some(why) = &t.abandoned {
                    result.errors.push(format!("stopped: {why}"));
                }
            }
        }
        Ok(Err(e)) => result.errors.push(e.to_string()),
        Err(_) => result
            .errors
            .push(format!("no answer within {} s", TRIAL_TIMEOUT.as_secs())),
    }
    let bugs = sink.bugs();
    result.bugs = bugs
        .iter()
        .filter(|b| !b.deleted && !b.no_update)
        .take(TRIAL_BUGS_SHOWN)
        .map(TrialBug::of)
        .collect();
    result.errors = result
        .errors
        .iter()
        .map(|e| bugimporters_core::redact::scrub(e).into_owned())
        .collect();
    result
}
