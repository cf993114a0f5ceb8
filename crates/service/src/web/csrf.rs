//! CSRF protection of every state-changing request of the web pages.
//!
//! Every `POST` handler takes a [`Posted`] form: it requires a logged-in session (anonymous:
//! to the login page), refuses a cross-site `Origin` header, and compares the form's hidden
//! `csrf` field with the session's token in constant time (`subtle`). Any refusal is a 403
//! page, before the handler runs. `POST /login` (no session yet) has the `Origin` check
//! ([`origin_refusal`]).

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use bugimporters_hostdb::accounts::Session;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::session::RequireUser;
use super::{message_page, Layout};
use crate::Service;

/// The largest form body accepted, in bytes.
pub(crate) const FORM_MAX_BYTES: usize = 256 * 1024;

/// A form posted by a logged-in user whose CSRF token matched.
#[derive(Debug)]
pub(crate) struct Posted<T> {
    /// The poster's session.
    pub(crate) session: Session,
    /// The form's fields.
    pub(crate) form: T,
}

#[derive(Deserialize, Default)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Whether the form's token is the session's, in constant time (an empty token never is).
pub(crate) fn tokens_match(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A 403 page saying why.
pub(crate) fn forbidden(layout: Layout, why: &str) -> Response {
    message_page(StatusCode::FORBIDDEN, layout, why)
}

/// The refusal of a request whose `Origin` is another site (`null` included). A request
/// without `Origin` passes (older browsers, scripts); the token still guards it.
pub(crate) fn origin_refusal(headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let h = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h,
            })
        })
        .is_some_and(|o| host.is_some_and(|h| h.eq_ignore_ascii_case(&o)));
    (!same).then(|| {
        forbidden(
            Layout::new("Forbidden"),
            "This form was sent from another site; it was refused.",
        )
    })
}

/// Reads a form body (at most [`FORM_MAX_BYTES`]).
pub(crate) async fn form_bytes(body: Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, FORM_MAX_BYTES)
        .await
        .map_err(|_| {
            message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                Layout::new("Too large"),
                "The form is too large.",
            )
        })
}

impl<T: DeserializeOwned + Send> FromRequest<Service> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, service: &Service) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        if let Some(refused) = origin_refusal(&parts.headers) {
            return Err(refused);
        }
        let RequireUser(session) = RequireUser::from_request_parts(&mut parts, service).await?;
        let layout = Layout::signed_in("Forbidden", &session);
        let bytes = form_bytes(body).await?;
        let token: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        if !tokens_match(&session.csrf, &token.csrf) {
            return Err(forbidden(
                layout,
                "The form's security token is missing or stale; reload the page and try again.",
            ));
        }
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            message_page(
                StatusCode::BAD_REQUEST,
                Layout::signed_in("Bad request", &session),
                &format!("The form could not be read: {e}"),
            )
        })?;
        Ok(Posted { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn cross_site_origins_are_refused() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().unwrap());
            }
            h
        };
        assert!(origin_refusal(&headers(None)).is_none());
        assert!(origin_refusal(&headers(Some("http://127.0.0.1:8080"))).is_none());
        for bad in ["https://evil.example", "null", "http://127.0.0.1:9999"] {
            assert!(origin_refusal(&headers(Some(bad))).is_some(), "{bad}");
        }
    }
}
