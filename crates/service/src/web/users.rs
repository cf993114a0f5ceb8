//! `/customs/users` (admins only): the accounts — list, add (name, role, password, checked as
//! `customs user add` checks them), remove. Others get 403.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use bugimporters_hostdb::accounts::{Role, Session, User};
use bugimporters_hostdb::Error;
use serde::Deserialize;

use super::csrf::{forbidden, Posted};
use super::session::{unavailable, RequireUser};
use super::{render_with, Layout};
use crate::Service;

#[derive(Template)]
#[template(path = "customs_users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<User>,
    me: i64,
    name: String,
    error: String,
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

pub(super) fn routes() -> Router<Service> {
    Router::new()
        .route("/customs/users", get(list))
        .route("/customs/users/add", post(add))
        .route("/customs/users/remove", post(remove))
}

/// The 403 page, unless the session is an admin's.
fn admin_only(session: &Session) -> Option<Response> {
    (session.user.role != Role::Admin).then(|| {
        forbidden(
            Layout::signed_in("Forbidden", session),
            "Only admins manage the accounts.",
        )
    })
}

async fn page(
    service: &Service,
    session: &Session,
    status: StatusCode,
    name: &str,
    error: String,
) -> Response {
    match service.db().users().await {
        Ok(users) => render_with(
            status,
            &UsersPage {
                layout: Layout::signed_in("Accounts", session),
                users,
                me: session.user.id,
                name: name.to_owned(),
                error,
            },
        ),
        Err(e) => unavailable(&e),
    }
}

async fn list(State(service): State<Service>, RequireUser(session): RequireUser) -> Response {
    if let Some(r) = admin_only(&session) {
        return r;
    }
    page(&service, &session, StatusCode::OK, "", String::new()).await
}

async fn add(State(service): State<Service>, posted: Posted<UserForm>) -> Response {
    let Posted { session, form } = posted;
    if let Some(r) = admin_only(&session) {
        return r;
    }
    let result = match form.role.parse::<Role>() {
        Ok(role) => {
            service
                .db()
                .add_user(&form.name, role, &form.password)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(user) => {
            tracing::info!(user = %user.name, by = %session.user.name, "web: account added");
            Redirect::to("/customs/users").into_response()
        }
        Err(e @ (Error::Db(_) | Error::Connect { .. })) => unavailable(&e),
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            page(&service, &session, status, &form.name, e.to_string()).await
        }
    }
}

async fn remove(State(service): State<Service>, posted: Posted<UserForm>) -> Response {
    let Posted { session, form } = posted;
    if let Some(r) = admin_only(&session) {
        return r;
    }
    if form.name == session.user.name {
        let why = "You cannot remove your own account here (use `customs user remove`).";
        return page(
            &service,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            why.into(),
        )
        .await;
    }
    match service.db().remove_user(&form.name).await {
        Ok(_) => Redirect::to("/customs/users").into_response(),
        Err(e) => unavailable(&e),
    }
}
