//! `GET /dashboard`, `GET /api/trackers` and `GET /api/projects` (`docs/web.md`, "Dashboard"): one row per tracker
//! ([`TrackerRow`]), totals per project, filtered and sorted by query parameters. The page
//! draws each cell from the row's JSON value ([`cell_text`]), the same value
//! `/api/trackers` returns, and `static/app.js` redraws a row from that JSON when `/events`
//! names its tracker: the rows loaded with the page and those redrawn live have one shape.
//! Public: nothing here is secret (the last error was redacted when stored).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bugimporters_hostdb::{ProjectTotals, TrackerFilter, TrackerRow, TrackerSort};
use serde_json::Value;

use super::finder::{choices, Choice};
use super::session::MaybeUser;
use super::{render, render_with, Layout};
use crate::Service;

/// `GET /dashboard`, `GET /api/trackers`, `GET /api/projects`.
pub(super) fn routes() -> Router<Service> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/api/trackers", get(api_trackers))
        .route("/api/projects", get(api_projects))
}

/// The dashboard's columns: the [`TrackerRow`] field each shows, its heading, and the order
/// its heading sorts by (if any).
const COLUMNS: [(&str, &str, Option<TrackerSort>); 17] = [
    ("name", "Tracker", Some(TrackerSort::Name)),
    ("tracker_type", "Type", Some(TrackerSort::Type)),
    ("project", "Project", None),
    ("bugs", "Bugs held", Some(TrackerSort::Bugs)),
    (
        "bitesized",
        "Bite-sized (open)",
        Some(TrackerSort::Bitesized),
    ),
    (
        "documentation",
        "Documentation (open)",
        Some(TrackerSort::Documentation),
    ),
    ("refresh_interval", "Every", None),
    ("last_success", "Last success", None),
    ("last_finished", "Last run", Some(TrackerSort::LastFinished)),
    ("outcome", "Outcome", None),
    ("running", "Running now", None),
    (
        "consecutive_failures",
        "Failures in a row",
        Some(TrackerSort::Failures),
    ),
    ("next_due", "Next due", Some(TrackerSort::NextDue)),
    ("last_error", "Last error", None),
    ("webhook_deliveries", "Webhook deliveries", None),
    ("last_webhook", "Last webhook", None),
    ("webhook_refreshes", "Webhook refreshes queued", None),
];

/// The text of a cell for a row's JSON value: `—` for none, timestamps as
/// `YYYY-MM-DD HH:MM:SS` (UTC), yes or no for a flag. `static/app.js`' `cellText` is the
/// same rule.
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::String(s) if is_timestamp(s) => s.get(..19).unwrap_or(s).replacen('T', " ", 1),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `s` starts as `YYYY-MM-DDTHH:MM:SS`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b.iter().take(19).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// The dashboard's query: `tracker=NAME` (repeatable), `project=`, `tracker_type=`, `q=`
/// (name contains), `failing=true`, `sort=` ([`TrackerSort::ALL`]), `dir=asc|desc`. Read
/// from the raw query so that `tracker` may repeat; empty values are no values.
fn parse_filter(raw: Option<&str>) -> Result<TrackerFilter, String> {
    let mut f = TrackerFilter::default();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if v.is_empty() {
            continue;
        }
        match &*k {
            "tracker" => f.trackers.push(v.into_owned()),
            "project" => f.project = Some(v.into_owned()),
            "tracker_type" => f.tracker_type = Some(v.into_owned()),
            "q" => f.text = Some(v.into_owned()),
            "failing" => f.failing = v == "true",
            "sort" => f.sort = TrackerSort::parse(&v)?,
            "dir" => match &*v {
                "asc" => f.descending = false,
                "desc" => f.descending = true,
                other => return Err(format!("unknown dir {other:?}: use asc or desc")),
            },
            _ => {}
        }
    }
    Ok(f)
}

/// The dashboard's address for `f` (the trackers list is left out: the page shows every
/// tracker the other filters keep).
fn dashboard_href(f: &TrackerFilter) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("project", &f.project),
        ("tracker_type", &f.tracker_type),
        ("q", &f.text),
    ] {
        if let Some(v) = v {
            out.append_pair(k, v);
        }
    }
    if f.failing {
        out.append_pair("failing", "true");
    }
    out.append_pair("sort", f.sort.name());
    out.append_pair("dir", if f.descending { "desc" } else { "asc" });
    format!("/dashboard?{}", out.finish())
}

/// A column heading: its label, the address that sorts by it, and its `aria-sort`.
#[derive(Debug)]
struct Heading {
    field: &'static str,
    label: &'static str,
    href: Option<String>,
    aria_sort: &'static str,
}

fn headings(f: &TrackerFilter) -> Vec<Heading> {
    COLUMNS
        .iter()
        .map(|(field, label, sort)| {
            let current = *sort == Some(f.sort);
            let href = sort.map(|s| {
                let mut g = f.clone();
                g.sort = s;
                g.descending = current && !f.descending;
                dashboard_href(&g)
            });
            let aria_sort = match (current, f.descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            };
            Heading {
                field,
                label,
                href,
                aria_sort,
            }
        })
        .collect()
}

/// One cell: the field it shows, its text, and the raw value (for styling: `outcome`).
#[derive(Debug)]
struct Cell {
    field: &'static str,
    text: String,
    value: String,
}

#[derive(Debug)]
struct RowView {
    name: String,
    cells: Vec<Cell>,
}

fn row_view(row: &TrackerRow) -> RowView {
    let json = serde_json::to_value(row).unwrap_or(Value::Null);
    let cells = COLUMNS
        .iter()
        .map(|(field, _, _)| {
            let v = json.get(*field).unwrap_or(&Value::Null);
            Cell {
                field,
                text: cell_text(v),
                value: match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                },
            }
        })
        .collect();
    RowView {
        name: row.name.clone(),
        cells,
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    q: String,
    failing: bool,
    sort: &'static str,
    descending: bool,
    projects: Vec<Choice>,
    tracker_types: Vec<Choice>,
    headings: Vec<Heading>,
    rows: Vec<RowView>,
    totals: Vec<ProjectTotals>,
    /// The `project` filter, which the totals follow (for the script's redraws).
    project_filter: String,
    deliveries: i64,
    error: Option<String>,
}

/// Everything the page shows, read from the database.
async fn load(
    service: &Service,
    layout: Layout,
    f: &TrackerFilter,
) -> bugimporters_hostdb::Result<DashboardPage> {
    let db = service.db();
    let rows = db.tracker_rows(f, service.now()).await?;
    // The filters' choices come from every tracker (read again only when some are hidden).
    let mut unfiltered = TrackerFilter::default();
    unfiltered.sort = f.sort;
    unfiltered.descending = f.descending;
    let every = if *f == unfiltered {
        rows.clone()
    } else {
        db.tracker_rows(&TrackerFilter::default(), service.now())
            .await?
    };
    let mut projects: Vec<String> = every.iter().filter_map(|r| r.project.clone()).collect();
    projects.sort();
    projects.dedup();
    let mut types: Vec<String> = every.iter().map(|r| r.tracker_type.clone()).collect();
    types.sort();
    types.dedup();
    Ok(DashboardPage {
        layout,
        q: f.text.clone().unwrap_or_default(),
        failing: f.failing,
        sort: f.sort.name(),
        descending: f.descending,
        projects: choices(&projects, f.project.as_deref()),
        tracker_types: choices(&types, f.tracker_type.as_deref()),
        headings: headings(f),
        rows: rows.iter().map(row_view).collect(),
        totals: db.project_totals(f.project.as_deref()).await?,
        project_filter: f.project.clone().unwrap_or_default(),
        deliveries: db.webhook_delivery_count().await?,
        error: None,
    })
}

async fn dashboard(
    State(service): State<Service>,
    MaybeUser(session): MaybeUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let layout = Layout::for_session("Dashboard", session.as_ref());
    let failed = |status, message: String| {
        let page = DashboardPage {
            layout: layout.clone(),
            q: String::new(),
            failing: false,
            sort: "name",
            descending: false,
            projects: Vec::new(),
            tracker_types: Vec::new(),
            headings: Vec::new(),
            rows: Vec::new(),
            totals: Vec::new(),
            project_filter: String::new(),
            deliveries: 0,
            error: Some(message),
        };
        render_with(status, &page)
    };
    let filter = match parse_filter(raw.as_deref()) {
        Ok(f) => f,
        Err(m) => return failed(StatusCode::BAD_REQUEST, m),
    };
    match load(&service, layout.clone(), &filter).await {
        Ok(page) => render(&page),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: cannot read the trackers");
            failed(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly.".into(),
            )
        }
    }
}

/// `GET /api/trackers?tracker=NAME&…`: `{"trackers": [TrackerRow...]}`, the dashboard's rows
/// with the same filters and order. A bad parameter is a 400 naming it; a database failure a
/// 503 without its text.
async fn api_trackers(State(service): State<Service>, RawQuery(raw): RawQuery) -> Response {
    let filter = match parse_filter(raw.as_deref()) {
        Ok(f) => f,
        Err(m) => return (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response(),
    };
    match service.db().tracker_rows(&filter, service.now()).await {
        Ok(rows) => Json(serde_json::json!({ "trackers": rows })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "api/trackers: cannot read the trackers");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// `GET /api/projects?project=NAME`: `{"projects": [ProjectTotals...]}`, the dashboard's totals
/// per project (of one project when given), by name. A database failure is a 503 without its
/// text.
async fn api_projects(State(service): State<Service>, RawQuery(raw): RawQuery) -> Response {
    let project = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, v)| k == "project" && !v.is_empty())
        .map(|(_, v)| v.into_owned());
    match service.db().project_totals(project.as_deref()).await {
        Ok(totals) => Json(serde_json::json!({ "projects": totals })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "api/projects: cannot read the totals");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_values_as_app_js_does() {
        assert_eq!(cell_text(&Value::Null), "—");
        assert_eq!(cell_text(&serde_json::json!(12)), "12");
        assert_eq!(cell_text(&serde_json::json!(false)), "no");
        assert_eq!(
            cell_text(&serde_json::json!("2026-12-01T00:01:00.123456")),
            "2026-12-01 00:01:00"
        );
        assert_eq!(cell_text(&serde_json::json!("<b>x</b>")), "<b>x</b>");
    }

    #[test]
    fn filters_parse_and_round_trip() {
        let f = parse_filter(Some("tracker=a&tracker=b%20c&sort=bugs&dir=desc&project=")).unwrap();
        assert_eq!(f.trackers, ["a", "b c"]);
        assert_eq!(
            (f.sort, f.descending, f.project.clone()),
            (TrackerSort::Bugs, true, None)
        );
        assert!(parse_filter(Some("sort=x")).unwrap_err().contains("\"x\""));
        assert!(parse_filter(Some("dir=up")).unwrap_err().contains("\"up\""));
        let g = parse_filter(Some(dashboard_href(&f).split_once('?').unwrap().1)).unwrap();
        assert_eq!((g.sort, g.descending), (f.sort, f.descending));
        // The current column's heading reverses the order; the others sort ascending.
        let h = headings(&f);
        let bugs = h.iter().find(|h| h.field == "bugs").unwrap();
        assert_eq!(bugs.aria_sort, "descending");
        assert!(bugs.href.as_deref().unwrap().ends_with("sort=bugs&dir=asc"));
        let name = h.iter().find(|h| h.field == "name").unwrap();
        assert!(name.href.as_deref().unwrap().ends_with("sort=name&dir=asc"));
    }
}
