//! The HTTP server: `/healthz`, `/metrics` and `/events` (in `events.rs`). Later features add their routes to
//! [`Service::router`].

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::Service;

impl Service {
    /// The service's routes (`GET /healthz`, `GET /metrics`, `GET /events`, `GET /api/bugs`,
    /// `POST /hooks/{github,gitlab,gitea}`) and the web pages (`docs/web.md`), with the
    /// service as state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .route("/events", get(crate::events::events))
            .route("/api/bugs", get(crate::api::bugs))
            .with_state(self.clone())
            .merge(self.hook_routes())
            .merge(self.web_routes())
    }

    /// Whether the scheduler made a pass recently: within three poll intervals (at least
    /// 30 s) of the service's clock. A pass of the loop or of [`Service::run_once`] counts.
    pub fn scheduler_alive(&self) -> bool {
        let last = self.inner.last_tick.load(Ordering::SeqCst);
        if last == 0 {
            return false;
        }
        let now = self.now().and_utc().timestamp_millis();
        let limit = (self.config().poll.as_millis() as i64 * 3).max(30_000);
        now - last <= limit
    }
}

/// 200 with a small JSON body when the database answers and the scheduler loop is alive,
/// else 503 (the body says which part is wrong, never why: no database error text).
async fn healthz(State(service): State<Service>) -> Response {
    let stats = service.db().queue_stats(service.now()).await;
    let alive = service.scheduler_alive();
    let body = serde_json::json!({
        "status": if stats.is_ok() && alive { "ok" } else { "unavailable" },
        "database": if stats.is_ok() { "ok" } else { "unreachable" },
        "scheduler": if alive { "ok" } else { "stalled" },
        "worker": service.config().worker_id,
        "trackers": stats.as_ref().ok().map(|s| s.trackers),
        "due": stats.as_ref().ok().map(|s| s.due),
        "running": stats.as_ref().ok().map(|s| s.running),
    });
    let status = if stats.is_ok() && alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The Prometheus text exposition (OpenMetrics); the tracker gauges are read from the
/// database at each scrape.
async fn metrics(State(service): State<Service>) -> Response {
    let now = service.now();
    match service.db().queue_stats(now).await {
        Ok(stats) => service.metrics().queue(&stats, now),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the schedule"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        service.metrics().encode(),
    )
        .into_response()
}
