//! `/customs/`: tracker management (login required).
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::session::RequireUser;
use super::{message_page, Layout};
use crate::Service;

pub(super) fn routes() -> Router<Service> {
    Router::new().route("/customs/", get(index))
}

async fn index(RequireUser(session): RequireUser) -> Response {
    message_page(
        StatusCode::OK,
        Layout::signed_in("Trackers", &session),
        "trackers",
    )
}
