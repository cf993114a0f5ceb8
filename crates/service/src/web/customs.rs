//! `/customs/`: tracker management, login required (`docs/web.md`).
//!
//! * `GET /customs/?type=KIND`: the type drop-down (from the registry; a plain `GET` form,
//!   auto-submitted by `app.js`), the trackers of that type, and the type's add form.
//! * `POST /customs/add`; `GET /customs/tracker?name=NAME` (its form, queries and audit log);
//!   `POST /customs/tracker/edit`, `/customs/tracker/delete`; `POST /customs/query/add`,
//!   `/customs/query/edit`, `/customs/query/delete`.
//!
//! Every change goes through the host database's checks (the `customs` CLI's), errors are
//! shown beside their field with a 422, and is written to the audit log. Admins change every
//! tracker; maintainers add trackers and change only those they created (else 403).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use bugimporters_hostdb::accounts::{AuditChange, AuditEntry, Role, Session};
use bugimporters_hostdb::{Error, TrackerRecord};
use serde::Deserialize;
use serde_json::Value;

use super::csrf::{forbidden, Posted};
use super::customs_form::{shown, TrackerForm};
use super::session::{unavailable, RequireUser};
use super::{message_page, render_with, Layout};
use crate::Service;

/// Rows of a tracker's audit log shown on its page.
const AUDIT_SHOWN: i64 = 50;

pub(super) fn routes() -> Router<Service> {
    Router::new()
        .route("/customs/", get(index))
        .route("/customs/add", post(add))
        .route("/customs/tracker", get(tracker_page))
        .route("/customs/tracker/edit", post(edit))
        .route("/customs/tracker/delete", post(delete))
        .route("/customs/query/add", post(query_add))
        .route("/customs/query/edit", post(query_edit))
        .route("/customs/query/delete", post(query_delete))
        .route("/customs/log", get(log_page))
        .merge(super::users::routes())
        .merge(super::trial::routes())
}

/// A tracker type of the drop-down.
pub(crate) struct TypeRow {
    kind: String,
    description: String,
    aliases: String,
    count: usize,
    selected: bool,
}

/// A tracker of the list.
pub(crate) struct TrackerRow {
    name: String,
    queries: usize,
    bugs: i64,
}

#[derive(Template)]
#[template(path = "customs.html")]
struct IndexPage {
    layout: Layout,
    types: Vec<TypeRow>,
    kind: String,
    trackers: Vec<TrackerRow>,
    form: Option<TrackerForm>,
    trial: Option<super::trial::TrialResult>,
}

/// A row of the audit log, with the keys that changed: key, old, new.
pub(crate) struct AuditRow {
    tracker: String,
    at: String,
    actor: String,
    action: String,
    changes: Vec<(String, String, String)>,
}

/// A query of the tracker page.
pub(crate) struct QueryRow {
    url: String,
    kind: String,
    description: String,
    last_polled: String,
}

#[derive(Template)]
#[template(path = "customs_tracker.html")]
pub(crate) struct TrackerPage {
    pub(crate) layout: Layout,
    pub(crate) original: String,
    pub(crate) may_change: bool,
    pub(crate) owner: String,
    pub(crate) bugs: i64,
    pub(crate) form: TrackerForm,
    pub(crate) queries: Vec<QueryRow>,
    pub(crate) query_error: String,
    pub(crate) audit: Vec<AuditRow>,
    /// Whether the audit rows name their tracker (not on the tracker's own page).
    pub(crate) show_tracker: bool,
    pub(crate) trial: Option<super::trial::TrialResult>,
}

#[derive(Deserialize, Default)]
struct TypeQuery {
    #[serde(default, rename = "type")]
    kind: String,
}

#[derive(Deserialize, Default)]
struct NameQuery {
    #[serde(default)]
    name: String,
}

/// A query form.
#[derive(Deserialize)]
struct QueryForm {
    tracker: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    old_url: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
}

/// Whether the session's user may change a tracker owned by `owner`.
pub(crate) fn may_change(session: &Session, owner: Option<i64>) -> bool {
    session.user.role == Role::Admin || owner == Some(session.user.id)
}

/// A database failure is a 503; any other error of a change is a refusal shown to the user.
fn is_db(e: &Error) -> bool {
    matches!(e, Error::Db(_) | Error::Connect { .. } | Error::Migrate(_))
}

pub(crate) fn registry(service: &Service) -> &bugimporters_core::Registry {
    &service.inner.registry
}

async fn index(
    State(service): State<Service>,
    RequireUser(session): RequireUser,
    Query(q): Query<TypeQuery>,
) -> Response {
    let all = match service.db().trackers().await {
        Ok(all) => all,
        Err(e) => return unavailable(&e),
    };
    let registry = registry(&service);
    let kind = registry
        .canonical_kind(q.kind.trim())
        .map(str::to_owned)
        .unwrap_or_default();
    let form = TrackerForm::new(registry, &kind);
    page_index(&session, &service, &all, kind, form, StatusCode::OK, None)
}

/// The page of type `kind`: its trackers and `form`, and a test run's result if any.
pub(crate) fn page_index(
    session: &Session,
    service: &Service,
    all: &[TrackerRecord],
    kind: String,
    form: Option<TrackerForm>,
    status: StatusCode,
    trial: Option<super::trial::TrialResult>,
) -> Response {
    let mut types: Vec<TypeRow> = registry(service)
        .factories()
        .map(|f| TypeRow {
            kind: f.kind().to_owned(),
            description: f.description().to_owned(),
            aliases: f.aliases().join(", "),
            count: all
                .iter()
                .filter(|r| r.config.bugimporter == f.kind())
                .count(),
            selected: f.kind() == kind,
        })
        .collect();
    types.sort_by(|a, b| a.kind.cmp(&b.kind));
    let trackers = all
        .iter()
        .filter(|r| r.config.bugimporter == kind)
        .map(|r| TrackerRow {
            name: r.config.tracker_name.clone(),
            queries: r.config.queries.len(),
            bugs: r.bug_count,
        })
        .collect();
    let page = IndexPage {
        layout: Layout::signed_in("Trackers", session),
        types,
        kind,
        trackers,
        form,
        trial,
    };
    render_with(status, &page)
}

/// The value of `key` among posted pairs.
pub(crate) fn pair<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

async fn add(State(service): State<Service>, posted: Posted<Vec<(String, String)>>) -> Response {
    let Posted { session, form } = posted;
    let registry = registry(&service);
    let Some(empty) = registry
        .canonical_kind(pair(&form, "type"))
        .ok()
        .and_then(|k| TrackerForm::new(registry, k))
    else {
        return message_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Layout::signed_in("Trackers", &session),
            "Choose a tracker type first.",
        );
    };
    let mut tf = empty.posted(&form);
    let project = Some(tf.project.trim()).filter(|p| !p.is_empty());
    let result = match tf.config() {
        Ok(config) => {
            let owner = Some(session.user.id);
            (service.db())
                .add_tracker_owned(registry, &config, project, owner)
                .await
        }
        Err(e) => Err(e),
    };
    let record = match result {
        Ok(r) => r,
        Err(e) if is_db(&e) => return unavailable(&e),
        Err(e) => {
            tf.place_error(&e);
            let all = service.db().trackers().await.unwrap_or_default();
            let kind = tf.kind.clone();
            return page_index(
                &session,
                &service,
                &all,
                kind,
                Some(tf),
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
            );
        }
    };
    let db = service.db();
    let now = service.now();
    let new = record.to_json();
    let name = &record.config.tracker_name;
    let change = AuditChange::new(
        &session.user.name,
        Some(record.id),
        name,
        "add",
        None,
        Some(&new),
    );
    if let Err(e) = db.record_audit(&change, now).await {
        return unavailable(&e);
    }
    Redirect::to(&tracker_url(name)).into_response()
}

/// `/customs/tracker?name=NAME`.
pub(crate) fn tracker_url(name: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("/customs/tracker?name={encoded}")
}

/// The tracker `name` and whether the session may change it; `Err` is the answer to give
/// (404 for no such tracker, 503).
async fn load(
    service: &Service,
    session: &Session,
    name: &str,
) -> Result<(TrackerRecord, bool, Option<i64>), Response> {
    let db = service.db();
    let record = match db.tracker(name).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(no_such_tracker(session, name)),
        Err(e) => return Err(unavailable(&e)),
    };
    let owner = db
        .tracker_owner(record.id)
        .await
        .map_err(|e| unavailable(&e))?;
    let ok = may_change(session, owner);
    Ok((record, ok, owner))
}

/// The 404 page of a tracker name that is not there.
pub(crate) fn no_such_tracker(session: &Session, name: &str) -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        Layout::signed_in("Not found", session),
        &format!("There is no tracker named {name:?}."),
    )
}

/// [`load`], refusing (403) a user who may not change the tracker.
async fn load_for_change(
    service: &Service,
    session: &Session,
    name: &str,
) -> Result<TrackerRecord, Response> {
    let (record, ok, _) = load(service, session, name).await?;
    if !ok {
        return Err(forbidden(
            Layout::signed_in("Forbidden", session),
            "Maintainers change only the trackers they created; ask an admin.",
        ));
    }
    Ok(record)
}

async fn tracker_page(
    State(service): State<Service>,
    RequireUser(session): RequireUser,
    Query(q): Query<NameQuery>,
) -> Response {
    let (record, ok, owner) = match load(&service, &session, &q.name).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match tracker_view(&service, &session, &record, ok, owner).await {
        Ok(page) => render_with(StatusCode::OK, &page),
        Err(r) => r,
    }
}

/// The page of a tracker, its form filled with the stored values.
pub(crate) async fn tracker_view(
    service: &Service,
    session: &Session,
    record: &TrackerRecord,
    may_change: bool,
    owner: Option<i64>,
) -> Result<TrackerPage, Response> {
    let db = service.db();
    let json = record.to_json();
    let Some(form) = TrackerForm::new(registry(service), &record.config.bugimporter) else {
        return Err(message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Layout::signed_in("Unknown type", session),
            "This tracker's type is not compiled into this build.",
        ));
    };
    let audit = db
        .audit_log(Some(record.id), AUDIT_SHOWN)
        .await
        .map_err(|e| unavailable(&e))?;
    let users = db.users().await.map_err(|e| unavailable(&e))?;
    let owner = owner
        .and_then(|id| users.iter().find(|u| u.id == id))
        .map_or_else(String::new, |u| u.name.clone());
    let name = record.config.tracker_name.clone();
    Ok(TrackerPage {
        layout: Layout::signed_in(format!("Tracker {name}"), session),
        original: name,
        may_change,
        owner,
        bugs: record.bug_count,
        form: form.filled(&json),
        queries: record.config.queries.iter().map(query_row).collect(),
        query_error: String::new(),
        audit: audit.iter().map(audit_row).collect(),
        show_tracker: false,
        trial: None,
    })
}

#[derive(Template)]
#[template(path = "customs_log.html")]
struct LogPage {
    layout: Layout,
    audit: Vec<AuditRow>,
    show_tracker: bool,
}

/// `GET /customs/log`: the newest changes of every tracker, deleted ones included.
async fn log_page(State(service): State<Service>, RequireUser(session): RequireUser) -> Response {
    match service.db().audit_log(None, AUDIT_SHOWN * 4).await {
        Ok(rows) => render_with(
            StatusCode::OK,
            &LogPage {
                layout: Layout::signed_in("Recent changes", &session),
                audit: rows.iter().map(audit_row).collect(),
                show_tracker: true,
            },
        ),
        Err(e) => unavailable(&e),
    }
}

fn query_row(q: &bugimporters_core::Query) -> QueryRow {
    QueryRow {
        url: q.url.clone(),
        kind: q.kind.clone().unwrap_or_default(),
        description: q.description.clone().unwrap_or_default(),
        last_polled: q
            .last_polled
            .map(|t| bugimporters_core::time::format_naive(&t))
            .unwrap_or_default(),
    }
}

/// An audit row: the keys whose value changed, old → new.
fn audit_row(e: &AuditEntry) -> AuditRow {
    let empty = serde_json::Map::new();
    let old = e.old.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    let new = e.new.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let changes = keys
        .into_iter()
        .filter(|k| !matches!(k.as_str(), "bug_count" | "oldest_bug_poll"))
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| (k.clone(), shown(old.get(k)), shown(new.get(k))))
        .filter(|(_, o, n)| o != n)
        .collect();
    AuditRow {
        tracker: e.tracker_name.clone(),
        at: bugimporters_core::time::format_naive(&e.at),
        actor: e.actor.clone(),
        action: e.action.clone(),
        changes,
    }
}

/// Writes the audit row of a change from `old` to the tracker now named `name`, then
/// redirects to its page.
async fn audited(
    service: &Service,
    session: &Session,
    id: i64,
    name: &str,
    action: &str,
    old: &Value,
) -> Response {
    let db = service.db();
    let new = match db.tracker(name).await {
        Ok(r) => r.map(|r| r.to_json()),
        Err(e) => return unavailable(&e),
    };
    let change = AuditChange::new(
        &session.user.name,
        Some(id),
        name,
        action,
        Some(old),
        new.as_ref(),
    );
    if let Err(e) = db.record_audit(&change, service.now()).await {
        return unavailable(&e);
    }
    Redirect::to(&tracker_url(name)).into_response()
}

async fn edit(State(service): State<Service>, posted: Posted<Vec<(String, String)>>) -> Response {
    let Posted { session, form } = posted;
    let original = pair(&form, "tracker").to_owned();
    let record = match load_for_change(&service, &session, &original).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let old = record.to_json();
    let (mut page, _) = match tracker_view(&service, &session, &record, true, None).await {
        Ok(p) => (p, ()),
        Err(r) => return r,
    };
    page.form = page.form.clone().posted(&form);
    let result = match page.form.edit(&old) {
        Ok(edit) => {
            service
                .db()
                .edit_tracker(registry(&service), &original, &edit)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => {
            let action = if r.config.tracker_name != original {
                "rename"
            } else {
                "edit"
            };
            audited(
                &service,
                &session,
                record.id,
                &r.config.tracker_name,
                action,
                &old,
            )
            .await
        }
        Err(e) if is_db(&e) => unavailable(&e),
        Err(e) => {
            page.form.place_error(&e);
            render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

async fn delete(State(service): State<Service>, posted: Posted<Vec<(String, String)>>) -> Response {
    let Posted { session, form } = posted;
    let name = pair(&form, "tracker").to_owned();
    let record = match load_for_change(&service, &session, &name).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let db = service.db();
    if let Err(e) = db.remove_tracker(&name).await {
        return unavailable(&e);
    }
    let old = record.to_json();
    let change = AuditChange::new(
        &session.user.name,
        Some(record.id),
        &name,
        "delete",
        Some(&old),
        None,
    );
    if let Err(e) = db.record_audit(&change, service.now()).await {
        return unavailable(&e);
    }
    let kind: String =
        url::form_urlencoded::byte_serialize(record.config.bugimporter.as_bytes()).collect();
    Redirect::to(&format!("/customs/?type={kind}")).into_response()
}

/// A query change: `apply` gets the stored record and the form and makes the change through
/// the host database's checks; an error is shown beside the queries with a 422.
async fn query_change<F, Fut>(
    service: Service,
    posted: Posted<QueryForm>,
    action: &str,
    apply: F,
) -> Response
where
    F: FnOnce(Service, TrackerRecord, QueryForm) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let Posted { session, form } = posted;
    let name = form.tracker.clone();
    let record = match load_for_change(&service, &session, &name).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let old = record.to_json();
    match apply(service.clone(), record.clone(), form).await {
        Ok(()) => audited(&service, &session, record.id, &name, action, &old).await,
        Err(e) if is_db(&e) => unavailable(&e),
        Err(e) => match tracker_view(&service, &session, &record, true, None).await {
            Ok(mut page) => {
                page.query_error = match &e {
                    Error::InvalidTracker { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            Err(r) => r,
        },
    }
}

fn no_query(url: &str) -> Error {
    Error::Usage(format!("the tracker has no query {url:?}"))
}

fn to_query(form: &QueryForm) -> bugimporters_core::Query {
    let mut q = bugimporters_core::Query::new(form.url.trim().to_owned());
    q.kind = Some(form.kind.trim().to_owned()).filter(|k| !k.is_empty());
    q.description = Some(form.description.trim().to_owned()).filter(|d| !d.is_empty());
    q
}

async fn query_add(State(service): State<Service>, posted: Posted<QueryForm>) -> Response {
    query_change(
        service,
        posted,
        "add-query",
        |service, record, form| async move {
            let r = registry(&service);
            service
                .db()
                .add_query(r, &record.config.tracker_name, &to_query(&form))
                .await
        },
    )
    .await
}

async fn query_edit(State(service): State<Service>, posted: Posted<QueryForm>) -> Response {
    query_change(
        service,
        posted,
        "edit-query",
        |service, record, form| async move {
            let mut config = record.config.clone();
            let Some(q) = config.queries.iter_mut().find(|q| q.url == form.old_url) else {
                return Err(no_query(&form.old_url));
            };
            let last = q.last_polled;
            *q = to_query(&form);
            if q.url == form.old_url {
                q.last_polled = last;
            }
            service
                .db()
                .load_config(registry(&service), &config)
                .await
                .map(|_| ())
        },
    )
    .await
}

async fn query_delete(State(service): State<Service>, posted: Posted<QueryForm>) -> Response {
    query_change(
        service,
        posted,
        "delete-query",
        |service, record, form| async move {
            let name = &record.config.tracker_name;
            match service.db().remove_query(name, &form.url).await? {
                true => Ok(()),
                false => Err(no_query(&form.url)),
            }
        },
    )
    .await
}
