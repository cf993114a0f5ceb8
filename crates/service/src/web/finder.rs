//! `GET /`: the bug finder (`docs/web.md`, "Bug finder"). Public, server-rendered, a plain
//! GET form (works without JavaScript). Its query is `GET /api/bugs`' ([`BugsParams`]), read
//! by the same [`bugimporters_hostdb::HostDb::bug_views`], so the page and the JSON always
//! agree; "next page" carries the same cursor.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bugimporters_hostdb::{BugFacets, BugView};

use super::session::MaybeUser;
use super::{render, render_with, Layout};
use crate::api::BugsParams;
use crate::Service;

/// `GET /`.
pub(super) fn routes() -> Router<Service> {
    Router::new().route("/", get(finder))
}

/// One choice of a `<select>`.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub(super) value: String,
    pub(super) selected: bool,
}

/// `values` as choices, `current` selected.
pub(super) fn choices(values: &[String], current: Option<&str>) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v.clone(),
            selected: Some(v.as_str()) == current,
        })
        .collect()
}

/// A bug as the finder lists it. Built only from a [`BugView`] whose link is http(s).
#[derive(Debug)]
struct BugItem {
    link: String,
    title: String,
    project: String,
    tracker: String,
    tracker_type: String,
    status: String,
    bitesized: bool,
    documentation: bool,
    activity: String,
}

impl BugItem {
    /// `None` unless the link is an absolute http(s) URL: checked again here, at render time,
    /// whatever the database layer already checked.
    fn from_view(b: BugView) -> Option<BugItem> {
        let scheme = url::Url::parse(&b.link).ok()?.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let activity = b.last_touched.unwrap_or(b.modified_at);
        Some(BugItem {
            title: if b.title.trim().is_empty() {
                "(no title)".to_owned()
            } else {
                b.title
            },
            link: b.link,
            project: b.project,
            tracker: b.tracker,
            tracker_type: b.tracker_type,
            status: b.status.unwrap_or_default(),
            bitesized: b.good_for_newcomers,
            documentation: b.concerns_just_documentation,
            activity: activity.format("%Y-%m-%d").to_string(),
        })
    }
}

/// The values the form shows back.
#[derive(Debug, Default)]
struct FinderForm {
    q: String,
    bitesized: bool,
    documentation: bool,
    assigned: bool,
    projects: Vec<Choice>,
    tracker_types: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "finder.html")]
struct FinderPage {
    layout: Layout,
    form: FinderForm,
    bugs: Vec<BugItem>,
    /// The next page's address (same filters, the cursor of this page).
    next: Option<String>,
    /// The first page's address, when this is not the first page.
    first: Option<String>,
    error: Option<String>,
}

/// `params` as a query string of `/`, with `cursor` instead of theirs.
fn page_href(params: &BugsParams, cursor: Option<&str>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(params) {
        for (k, v) in map.iter().filter(|(k, _)| *k != "cursor") {
            match v {
                serde_json::Value::String(s) => out.append_pair(k, s),
                other => out.append_pair(k, &other.to_string()),
            };
        }
    }
    if let Some(c) = cursor {
        out.append_pair("cursor", c);
    }
    let query = out.finish();
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    }
}

async fn finder(
    State(service): State<Service>,
    MaybeUser(session): MaybeUser,
    params: Result<Query<BugsParams>, QueryRejection>,
) -> Response {
    let mut page = FinderPage {
        layout: Layout::for_session("Find a bug to work on", session.as_ref()),
        form: FinderForm::default(),
        bugs: Vec::new(),
        next: None,
        first: None,
        error: None,
    };
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => {
            page.error = Some(format!("This search cannot be read: {}", e.body_text()));
            return render_with(StatusCode::BAD_REQUEST, &page);
        }
    };
    page.form.q = params.q.clone().unwrap_or_default();
    page.form.bitesized = params.bitesized.unwrap_or(false);
    page.form.documentation = params.documentation.unwrap_or(false);
    page.form.assigned = params.assigned.unwrap_or(false);
    let facets = service.db().bug_facets().await;
    let result = service.db().bug_views(&params.query()).await;
    let (facets, result) = match (facets, result) {
        (Ok(f), Ok(r)) => (f, r),
        (_, Err(bugimporters_hostdb::Error::Usage(m))) => {
            page.error = Some(m);
            return render_with(StatusCode::BAD_REQUEST, &page);
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "finder: cannot read the bugs");
            page.error = Some("The database is unavailable; try again shortly.".into());
            return render_with(StatusCode::SERVICE_UNAVAILABLE, &page);
        }
    };
    let BugFacets {
        projects,
        tracker_types,
        ..
    } = facets;
    page.form.projects = choices(&projects, params.project.as_deref());
    page.form.tracker_types = choices(&tracker_types, params.tracker_type.as_deref());
    page.bugs = result
        .bugs
        .into_iter()
        .filter_map(BugItem::from_view)
        .collect();
    page.next = result.next.as_deref().map(|c| page_href(&params, Some(c)));
    page.first = params.cursor.as_ref().map(|_| page_href(&params, None));
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(link: &str) -> BugView {
        serde_json::from_value(serde_json::json!({
            "link": link, "title": " ", "status": null, "importance": null, "project": "p",
            "tracker": "t", "tracker_type": "trac", "good_for_newcomers": true,
            "concerns_just_documentation": false, "looks_closed": false,
            "date_reported": null, "last_touched": null,
            "last_polled": "2026-12-01T00:00:00", "people_involved": null,
            "submitter_username": null, "modified_at": "2026-12-02T00:00:00"
        }))
        .unwrap()
    }

    #[test]
    fn only_http_links_are_listed_whatever_the_database_let_through() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/x",
            "ftp://x.example/1",
        ] {
            assert!(BugItem::from_view(view(bad)).is_none(), "{bad}");
        }
        for good in ["http://x.example/1", "HTTPS://x.example/ticket/2"] {
            let item = BugItem::from_view(view(good)).unwrap();
            assert_eq!(item.title, "(no title)");
            assert_eq!(item.activity, "2026-12-02");
        }
    }

    #[test]
    fn page_links_keep_the_filters_and_replace_the_cursor() {
        let mut p = BugsParams::default();
        assert_eq!(page_href(&p, None), "/");
        p.project = Some("a b&c".into());
        p.bitesized = Some(true);
        p.cursor = Some("1.2".into());
        assert_eq!(
            page_href(&p, Some("9.9")),
            "/?project=a+b%26c&bitesized=true&cursor=9.9"
        );
        assert_eq!(page_href(&p, None), "/?project=a+b%26c&bitesized=true");
    }
}
