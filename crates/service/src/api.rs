//! `GET /api/bugs`: the bug finder's data as JSON, in the same shape as the bugs of
//! `GET /events` ([`bugimporters_hostdb::BugView`]; `docs/events.md`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bugimporters_hostdb::BugQuery;
use serde::{Deserialize, Deserializer, Serialize};

use crate::Service;

/// The query of `GET /api/bugs`, and of the bug finder's form (`GET /`): one query shape for
/// both. An empty value is no value (a form's "any" choice sends `project=`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct BugsParams {
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) project: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) tracker: Option<String>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) tracker_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bitesized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) documentation: Option<bool>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) closed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) assigned: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<usize>,
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) cursor: Option<String>,
}

/// `Some(text)` unless the value is absent or empty.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

impl BugsParams {
    /// The database's query for these parameters.
    pub(crate) fn query(&self) -> BugQuery {
        let mut q = BugQuery::default();
        q.project = self.project.clone();
        q.tracker = self.tracker.clone();
        q.tracker_type = self.tracker_type.clone();
        q.bitesized = self.bitesized.unwrap_or(false);
        q.documentation = self.documentation.unwrap_or(false);
        q.text = self.q.clone();
        q.include_closed = self.closed.unwrap_or(false);
        q.include_assigned = self.assigned.unwrap_or(false);
        q.limit = self.limit.unwrap_or(0);
        q.cursor = self.cursor.clone();
        q
    }
}

/// `GET /api/bugs?project=&tracker=&tracker_type=&bitesized=true&documentation=true&q=&closed=true&assigned=true&limit=&cursor=`:
/// `{"bugs": [BugView...], "next": CURSOR|null}`, newest activity first. A bad cursor is a
/// 400 naming it; a database failure a 503 without its text.
pub(crate) async fn bugs(State(service): State<Service>, Query(p): Query<BugsParams>) -> Response {
    match service.db().bug_views(&p.query()).await {
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
