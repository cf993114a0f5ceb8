//! `GET /login`, `POST /login`, `POST /logout`.
//!
//! A login checks the throttle first (5 failures of a name or of a client address within
//! 15 minutes: 429 with the same page, the password not even checked), then the password
//! (unknown names cost a hash check as known ones do). Success ends the session the browser
//! came with, if any, and starts a new one with a new id and CSRF token (no fixation), then
//! redirects (303) to `?next=` when it is a path of this site ([`safe_next`]), else to
//! `/customs/`.

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::csrf::{form_bytes, origin_refusal, Posted};
use super::session::{
    client_address, is_https, removal_cookie, safe_next, session_cookie, session_token,
    unavailable, MaybeUser, DEFAULT_NEXT,
};
use super::{render_with, Layout};
use crate::Service;

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    name: String,
    error: String,
}

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// An empty form (only its CSRF token counts).
#[derive(Deserialize)]
struct NoFields {}

pub(super) fn routes() -> Router<Service> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

fn page(status: StatusCode, layout: Layout, next: &str, name: &str, error: &str) -> Response {
    let next = safe_next(next).unwrap_or(DEFAULT_NEXT).to_owned();
    render_with(
        status,
        &LoginPage {
            layout,
            next,
            name: name.to_owned(),
            error: error.to_owned(),
        },
    )
}

async fn login_page(MaybeUser(session): MaybeUser, Query(q): Query<NextQuery>) -> Response {
    let layout = Layout::for_session("Log in", session.as_ref());
    page(StatusCode::OK, layout, &q.next, "", "")
}

async fn login(State(service): State<Service>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(refused) = origin_refusal(&parts.headers) {
        return refused;
    }
    let old = match MaybeUser::from_request_parts(&mut parts, &service).await {
        Ok(MaybeUser(s)) => s,
        Err(r) => return r,
    };
    let bytes = match form_bytes(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form: LoginForm = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let layout = Layout::for_session("Log in", old.as_ref());
    let keys = [
        format!("name:{}", form.name.chars().take(255).collect::<String>()),
        format!("addr:{}", client_address(&service, &parts)),
    ];
    let db = service.db();
    let now = service.now();
    let again = |status, error: &str| page(status, layout.clone(), &form.next, &form.name, error);
    match db.login_locked(&keys, now).await {
        Ok(true) => return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins for this name or from this address; try again in 15 minutes.",
        ),
        Ok(false) => {}
        Err(e) => return unavailable(&e),
    }
    let user = match db.authenticate(&form.name, &form.password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            if let Err(e) = db.record_login_failure(&keys, now).await {
                return unavailable(&e);
            }
            return again(StatusCode::UNPROCESSABLE_ENTITY, "Wrong name or password.");
        }
        Err(e) => return unavailable(&e),
    };
    // A new session id on every login; the one the browser came with ends.
    if let Some(token) = session_token(&parts.headers) {
        let _ = db.end_session(&token).await;
    }
    let _ = db.clear_login_failures(&keys[0]).await;
    let new = match db.create_session(user.id, now).await {
        Ok(s) => s,
        Err(e) => return unavailable(&e),
    };
    tracing::info!(user = %user.name, "web: logged in");
    let jar = CookieJar::new().add(session_cookie(
        new.token,
        is_https(&service, &parts.headers),
    ));
    let next = safe_next(&form.next).unwrap_or(DEFAULT_NEXT);
    (jar, Redirect::to(next)).into_response()
}

async fn logout(State(service): State<Service>, req: Request) -> Response {
    let secure = is_https(&service, req.headers());
    let token = session_token(req.headers());
    let Posted {
        session,
        form: NoFields {},
    } = match Posted::<NoFields>::from_request(req, &service).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(token) = token {
        if let Err(e) = service.db().end_session(&token).await {
            return unavailable(&e);
        }
    }
    tracing::info!(user = %session.user.name, "web: logged out");
    let jar = CookieJar::new().add(removal_cookie(secure));
    (jar, Redirect::to("/")).into_response()
}
