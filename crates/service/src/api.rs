//! `GET /api/bugs`: the bug finder's data as JSON, in the same shape as the bugs of
//! `GET /events` ([`bugimporters_hostdb::BugView`]; `docs/events.md`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bugimporters_hostdb::BugQuery;
use serde::Deserialize;

use crate::Service;

/// The query of `GET /api/bugs`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BugsParams {
    project: Option<String>,
    tracker: Option<String>,
    tracker_type: Option<String>,
    bitesized: Option<bool>,
    documentation: Option<bool>,
    q: Option<String>,
    closed: Option<bool>,
    assigned: Option<bool>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/bugs?project=&tracker=&tracker_type=&bitesized=true&documentation=true&q=&closed=true&assigned=true&limit=&cursor=`:
/// `{"bugs": [BugView...], "next": CURSOR|null}`, newest activity first. A bad cursor is a
/// 400 naming it; a database failure a 503 without its text.
pub(crate) async fn bugs(State(service): State<Service>, Query(p): Query<BugsParams>) -> Response {
    let mut q = BugQuery::default();
    q.project = p.project;
    q.tracker = p.tracker;
    q.tracker_type = p.tracker_type;
    q.bitesized = p.bitesized.unwrap_or(false);
    q.documentation = p.documentation.unwrap_or(false);
    q.text = p.q;
    q.include_closed = p.closed.unwrap_or(false);
    q.include_assigned = p.assigned.unwrap_or(false);
    q.limit = p.limit.unwrap_or(0);
    q.cursor = p.cursor;
    match service.db().bug_views(&q).await {
        Ok(page) => Json(page).into_response(),
        Err(bugimporters_hostdb::Error::Usage(m)) => {
            (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "api/bugs: cannot read the bugs");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}
