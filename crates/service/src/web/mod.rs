//! The web side (`docs/web.md`): server-rendered HTML pages on the service's HTTP server.
//!
//! * Pages are [askama](https://askama.rs) templates under `crates/service/templates/`,
//!   compiled into the binary and checked at build time; HTML escaping is on for every `.html`
//!   template, so a tracker's title or a user's name is always text, never markup.
//! * The stylesheet and the script are served by the binary itself from `static/`
//!   ([`assets`]); nothing is fetched from elsewhere at run time.
//! * Every page is sent with security headers ([`security_headers`]): a Content-Security-Policy
//!   that allows only this origin's script and style, no framing, no MIME sniffing.
//!
//! A page is a struct deriving [`askama::Template`] with a [`Layout`] field, rendered with
//! [`render`]; its routes are merged in [`Service::web_routes`].
//!
//! Accounts ([`session`], [`csrf`], [`auth`]): server-side sessions in the host database, the
//! current user's extractors, CSRF checks on every form, `/login` and `/logout`; [`customs`]:
//! tracker management at `/customs/`.

mod assets;
mod auth;
mod csrf;
mod customs;
mod customs_form;
mod dashboard;
mod finder;
mod session;
mod trial;
mod users;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;

use crate::Service;

/// What every page's frame (`base.html`) shows: the page title and who is logged in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    /// The `<title>` and the page's heading.
    pub(crate) title: String,
    /// The logged-in user's name, if any.
    pub(crate) user: Option<String>,
    /// The session's CSRF token, sent back by every form (empty when nobody is logged in).
    pub(crate) csrf: String,
}

impl Layout {
    /// The frame of a page titled `title`, seen by nobody logged in.
    pub(crate) fn new(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            user: None,
            csrf: String::new(),
        }
    }
}

/// A page not found.
#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFound {
    layout: Layout,
}

/// A page saying one thing (a refusal, an error).
#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    layout: Layout,
    message: &'a str,
}

/// A page saying `message`, with `status`.
pub(crate) fn message_page(status: StatusCode, layout: Layout, message: &str) -> Response {
    render_with(status, &Message { layout, message })
}

/// Renders a page as a 200 HTML response; a template that fails to render (a bug, not an
/// input) is a 500 with a short text, logged.
pub(crate) fn render<T: Template>(page: &T) -> Response {
    render_with(StatusCode::OK, page)
}

/// [`render`] with another status code (a form with errors is a 422, a missing page a 404).
pub(crate) fn render_with<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "web: a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

impl Service {
    /// The web pages' routes: the static assets, `/login` and `/logout`, `/customs/`, the bug
    /// finder (`/`), the dashboard (`/dashboard`, `/api/trackers`, `/api/projects`), and a
    /// 404 page for any other path.
    pub(crate) fn web_routes(&self) -> Router {
        Router::new()
            .merge(assets::routes())
            .merge(auth::routes())
            .merge(customs::routes())
            .merge(finder::routes())
            .merge(dashboard::routes())
            .fallback(not_found)
            .layer(map_response(security_headers))
            .with_state(self.clone())
    }
}

async fn not_found(session::MaybeUser(session): session::MaybeUser) -> Response {
    render_with(
        StatusCode::NOT_FOUND,
        &NotFound {
            layout: Layout::for_session("Not found", session.as_ref()),
        },
    )
}

/// Adds the headers every web response carries; a handler's own header of the same name wins.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed: [(header::HeaderName, &'static str); 4] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
