//! Sessions of the web pages: the session cookie, the extractors of the current user
//! ([`MaybeUser`], and [`RequireUser`] which sends anonymous visitors to the login page), the
//! client address of login throttling, and the `?next=` rule (no open redirect).
//!
//! The cookie holds a random session id; the host database holds its SHA-256, its user, its
//! CSRF token and its expiry ([`bugimporters_hostdb::accounts`]). The cookie is `HttpOnly`,
//! `SameSite=Lax`, `Path=/`, and `Secure` when the page was reached over HTTPS
//! (`--public-url https://…`, or `X-Forwarded-Proto: https` under `--trust-proxy`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use bugimporters_hostdb::accounts::Session;

use super::{message_page, Layout};
use crate::Service;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "bugimporters_session";

/// Where a login goes when `?next=` is missing or refused.
pub(crate) const DEFAULT_NEXT: &str = "/customs/";

/// The session of the request, if its cookie names a live one.
#[derive(Debug)]
pub(crate) struct MaybeUser(pub(crate) Option<Session>);

/// The session of the request; anonymous visitors are sent to `/login?next=<this page>`
/// (303; a `POST` to `/login`).
#[derive(Debug)]
pub(crate) struct RequireUser(pub(crate) Session);

/// The session id the request's cookie carries, if any.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    let jar = CookieJar::from_headers(headers);
    jar.get(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

impl FromRequestParts<Service> for MaybeUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &Service) -> Result<Self, Response> {
        let Some(token) = session_token(&parts.headers) else {
            return Ok(MaybeUser(None));
        };
        match service.db().session(&token, service.now()).await {
            Ok(session) => Ok(MaybeUser(session)),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

impl FromRequestParts<Service> for RequireUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &Service) -> Result<Self, Response> {
        match MaybeUser::from_request_parts(parts, service).await? {
            MaybeUser(Some(session)) => Ok(RequireUser(session)),
            // A page comes back after the login; a form posted anonymously does not (its
            // URL answers only POST): the login goes to the default page.
            MaybeUser(None) if parts.method == Method::GET || parts.method == Method::HEAD => {
                let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(Redirect::to(&login_url(here)).into_response())
            }
            MaybeUser(None) => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// `/login?next=PATH` (PATH percent-encoded).
pub(crate) fn login_url(next: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/login?next={encoded}")
}

/// A 503 page for a database that does not answer (the error is logged, never shown).
pub(crate) fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "web: the host database failed");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        Layout::new("Unavailable"),
        "The database does not answer; try again in a moment.",
    )
}

/// `next` when it is a path of this site (`/…`), else `None`: `//host`, `/\host`, a
/// backslash anywhere, a scheme (`https://…`, `javascript:`), control characters and spaces
/// are refused, so a login link can never send anyone elsewhere.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    let rest = next.strip_prefix('/')?;
    let ok = !rest.starts_with('/')
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2048;
    ok.then_some(next)
}

/// Whether the request reached this site over HTTPS, as far as the configuration lets it
/// tell.
pub(crate) fn is_https(service: &Service, headers: &HeaderMap) -> bool {
    let config = service.config();
    if config
        .public_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https")
    {
        return true;
    }
    config.trust_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The session cookie for `token`.
pub(crate) fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

/// A cookie that removes the session cookie.
pub(crate) fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie(String::new(), secure);
    c.make_removal();
    c
}

/// The client address of login throttling: the peer's address, or under `--trust-proxy` the
/// last `X-Forwarded-For` entry (the one the proxy added). `unknown` when neither is there.
pub(crate) fn client_address(service: &Service, parts: &Parts) -> String {
    if service.config().trust_proxy {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty());
        if let Some(addr) = forwarded {
            return addr.chars().take(64).collect();
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

impl Layout {
    /// The frame of a page titled `title` seen by the session's user: their name, and the
    /// CSRF token for the forms.
    pub(crate) fn signed_in(title: impl Into<String>, session: &Session) -> Layout {
        Layout {
            title: title.into(),
            user: Some(session.user.name.clone()),
            csrf: session.csrf.clone(),
        }
    }

    /// [`Layout::signed_in`] when there is a session, else [`Layout::new`].
    pub(crate) fn for_session(title: impl Into<String>, session: Option<&Session>) -> Layout {
        match session {
            Some(s) => Layout::signed_in(title, s),
            None => Layout::new(title),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_of_this_site_only() {
        for good in ["/", "/customs/", "/customs/t/a%20b?x=1", "/a//b"] {
            assert_eq!(safe_next(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/ok\\..",
            "/a\nLocation: x",
            "/\tevil",
            " /x",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn login_urls_encode_the_path() {
        assert_eq!(
            login_url("/customs/?type=trac&x=<b>"),
            "/login?next=%2Fcustoms%2F%3Ftype%3Dtrac%26x%3D%3Cb%3E"
        );
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_over_https() {
        let c = session_cookie("abc".into(), true).to_string();
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!session_cookie("abc".into(), false)
            .to_string()
            .contains("Secure"));
        assert!(removal_cookie(false).to_string().contains("Max-Age=0"));
    }
}
