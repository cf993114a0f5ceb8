//! Signed webhooks: `POST /hooks/github`, `POST /hooks/gitlab`, `POST /hooks/gitea` (Gitea
//! and Forgejo).
//!
//! A delivery is checked in this order, and nothing is stored unless it passes all:
//!
//! 1. `Content-Type` is JSON (`application/json`, any parameters), else **415**: a GitHub hook
//!    set to `application/x-www-form-urlencoded` is refused;
//! 2. the body is at most [`crate::ServiceConfig::webhook_max_body`] bytes, else **413**;
//! 3. the signature ([`verify`]) is made, over the raw body, with a secret of a tracker of the
//!    forge's type — [`DEFAULT_SECRET_ENV`] for trackers without `webhook_secret_env`, else
//!    the variable that key names — else **401**;
//! 4. it has a delivery id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`,
//!    `X-Forgejo-Delivery`/`X-Gitea-Delivery`) and a readable JSON payload, else **400**.
//!
//! Then the payload is read as a hint ([`payload::Hint`]): an issue event names a repository
//! and an issue; the trackers it may touch are those of the forge's type **whose secret made
//! the signature**, which read that repository (their keys) on that host (their link scope
//! owns the issue's link). None: **202**, counted, nothing stored. Else the delivery id and
//! a refresh of the issue for each of those trackers are stored in one transaction (**202**;
//! a delivery id stored before: **200**, nothing queued again), and this process's
//! refresher is woken ([`refresh`]). Pull requests and other events: **202**, counted,
//! nothing stored.

mod gitea;
mod github;
mod gitlab;
mod payload;
mod refresh;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bugimporters_hostdb::webhooks::{secret_env, Delivery, HookTracker, Recorded, DELIVERY_ID_MAX};
pub use bugimporters_hostdb::webhooks::{DEFAULT_SECRET_ENV, WEBHOOK_SECRET_ENV};

use crate::Service;
use payload::{Hint, IssueHint};
use verify::Scheme;

/// The default of [`crate::ServiceConfig::webhook_max_body`]: 1 MiB (an issue event is a
/// few kilobytes; GitHub caps its payloads at 25 MB).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// How long delivery ids are kept for de-duplication: 30 days (GitHub redelivers on request
/// for 3 days; a replay of an older delivery only re-reads the issue).
pub const DELIVERY_RETENTION_DAYS: i64 = 30;

/// Where the service reads webhook secrets: the service's [`crate::ServiceConfig::secrets`]
/// (the environment, `--secrets-file`, or a fixed map in tests and embedding). Asked at each
/// delivery; every value read is registered with [`bugimporters_core::redact`].
pub use bugimporters_core::secrets::SecretSource as WebhookSecrets;
pub use bugimporters_core::secrets::{EnvSecrets, FixedSecrets};

/// The webhook state of a service: where secrets come from, and the refresher's bell.
#[derive(Debug)]
pub(crate) struct HookState {
    secrets: RwLock<Arc<dyn WebhookSecrets>>,
    /// Rung when a delivery queued refreshes.
    pub(crate) wake: tokio::sync::Notify,
}

impl HookState {
    /// Secrets from `secrets`, the bell not rung.
    pub(crate) fn new(secrets: Arc<dyn WebhookSecrets>) -> HookState {
        HookState {
            secrets: RwLock::new(secrets),
            wake: tokio::sync::Notify::new(),
        }
    }
}

/// The forges with a hook route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    /// Every forge `serve` takes hooks from, one route each ([`Service::hook_routes`]).
    #[cfg(test)]
    pub(crate) const ALL: [Forge; 3] = [Forge::GitHub, Forge::GitLab, Forge::Gitea];

    /// The route's last segment, the tracker type and the metrics label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
            Forge::Gitea => "gitea",
        }
    }

    fn scheme(self) -> Scheme {
        match self {
            Forge::GitHub => Scheme::GitHub,
            Forge::GitLab => Scheme::GitLab,
            Forge::Gitea => Scheme::Gitea,
        }
    }

    fn header<'h>(headers: &'h HeaderMap, names: &[&str]) -> Option<&'h str> {
        names
            .iter()
            .find_map(|n| headers.get(*n))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    fn delivery_id(self, headers: &HeaderMap) -> Option<&str> {
        let names: &[&str] = match self {
            Forge::GitHub => &["x-github-delivery"],
            Forge::GitLab => &["x-gitlab-event-uuid"],
            Forge::Gitea => &[
                "x-forgejo-delivery",
                "x-gitea-delivery",
                "x-github-delivery",
            ],
        };
        Forge::header(headers, names).filter(|id| {
            !id.is_empty()
                && id.len() <= DELIVERY_ID_MAX
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
    }

    fn event(self, headers: &HeaderMap) -> &str {
        let names: &[&str] = match self {
            Forge::GitHub => &["x-github-event"],
            Forge::GitLab => &["x-gitlab-event"],
            Forge::Gitea => &["x-forgejo-event", "x-gitea-event", "x-github-event"],
        };
        Forge::header(headers, names).unwrap_or_default()
    }

    fn parse(self, event: &str, body: &[u8]) -> Result<Hint, payload::Unreadable> {
        match self {
            Forge::GitHub => github::parse(event, body),
            Forge::GitLab => gitlab::parse(event, body),
            Forge::Gitea => gitea::parse(event, body),
        }
    }

    fn is_repository(self, config: &bugimporters_core::TrackerConfig, hint: &IssueHint) -> bool {
        match self {
            Forge::GitHub => github::is_repository(config, hint),
            Forge::GitLab => gitlab::is_repository(config, hint),
            Forge::Gitea => gitea::is_repository(config, hint),
        }
    }
}

/// The answer to a delivery: status, the outcome counted, a short text for the sender.
struct Answer {
    status: StatusCode,
    outcome: &'static str,
    message: String,
}

impl Answer {
    fn new(status: StatusCode, outcome: &'static str, message: impl Into<String>) -> Answer {
        Answer {
            status,
            outcome,
            message: message.into(),
        }
    }
}

impl Service {
    /// The webhook routes, merged into [`Service::router`].
    pub(crate) fn hook_routes(&self) -> Router {
        Router::new()
            .route("/hooks/github", post(github_hook))
            .route("/hooks/gitlab", post(gitlab_hook))
            .route("/hooks/gitea", post(gitea_hook))
            .with_state(self.clone())
    }

    /// Reads webhook secrets from `secrets` from now on (the default is
    /// [`crate::ServiceConfig::secrets`]).
    pub fn set_webhook_secrets(&self, secrets: Arc<dyn WebhookSecrets>) {
        *self
            .inner
            .hooks
            .secrets
            .write()
            .unwrap_or_else(|e| e.into_inner()) = secrets;
    }

    fn webhook_secret(&self, name: &str) -> Option<String> {
        let source = self
            .inner
            .hooks
            .secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let value = source.get(name)?;
        bugimporters_core::redact::register(&value);
        Some(value)
    }

    async fn receive_hook(&self, forge: Forge, headers: HeaderMap, body: Body) -> Response {
        let answer = self.check_and_store(forge, &headers, body).await;
        self.metrics().hook(forge.name(), answer.outcome);
        if answer.status.is_client_error() {
            tracing::info!(forge = forge.name(), status = answer.status.as_u16(), outcome = answer.outcome, reason = %answer.message, "webhook refused");
        }
        let body = serde_json::json!({"status": answer.outcome, "message": answer.message});
        (answer.status, Json(body)).into_response()
    }

    async fn check_and_store(&self, forge: Forge, headers: &HeaderMap, body: Body) -> Answer {
        match self.try_store(forge, headers, body).await {
            Ok(answer) | Err(answer) => answer,
        }
    }

    /// The checks in order (see the module's documentation); `Err` ends the delivery early.
    async fn try_store(
        &self,
        forge: Forge,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Answer, Answer> {
        let body = self.read_body(headers, body).await?;
        let proof = verify::presented(forge.scheme(), headers).map_err(|why| {
            Answer::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                why.reason(forge.scheme()),
            )
        })?;
        let trackers = self.db().hook_trackers(forge.name()).await.map_err(|e| {
            tracing::error!(forge = forge.name(), error = %e, "webhook: cannot read the trackers");
            Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                "the database is unavailable; retry later",
            )
        })?;
        let secrets = self.secrets_of(&trackers);
        let verified = secrets
            .values()
            .flatten()
            .find(|secret| verify::matches(&proof, &body, secret.as_bytes()))
            .ok_or_else(|| {
                Answer::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the signature does not match",
                )
            })?;
        let id = forge.delivery_id(headers).ok_or_else(|| {
            Answer::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "missing or malformed delivery id header",
            )
        })?;
        let hint = match forge.parse(forge.event(headers), &body) {
            Ok(Hint::Issue(h)) => h,
            Ok(Hint::Ignored(what)) => {
                return Ok(Answer::new(
                    StatusCode::ACCEPTED,
                    "ignored",
                    format!("not an issue event bugimporters reads: {what}"),
                ))
            }
            Err(why) => return Err(Answer::new(StatusCode::BAD_REQUEST, "bad_request", why)),
        };
        // Only the trackers whose own secret made the signature may be touched.
        let registry = &self.inner.registry;
        let targets: Vec<(i64, String)> = trackers
            .iter()
            .filter(|t| {
                secrets
                    .get(secret_env(&t.config))
                    .is_some_and(|v| v.as_deref() == Some(verified.as_str()))
            })
            .filter(|t| forge.is_repository(&t.config, &hint))
            .filter(|t| {
                registry
                    .link_scope(&t.config)
                    .is_ok_and(|s| s.owns(&hint.link))
            })
            .map(|t| (t.id, hint.link.clone()))
            .collect();
        if targets.is_empty() {
            return Ok(Answer::new(
                StatusCode::ACCEPTED,
                "unknown_repository",
                "no tracker of this repository takes hooks signed with this secret",
            ));
        }
        Ok(self.store(forge, id, &hint, &targets).await)
    }

    /// The body, if its content type is JSON (else 415) and it is within the cap (else 413).
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Answer> {
        if !is_json(headers) {
            return Err(Answer::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the content type must be application/json (set the hook's content type to JSON)",
            ));
        }
        let limit = self.config().webhook_max_body;
        let too_large = || {
            Answer::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is over the limit of {limit} bytes"),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large())
    }

    /// The secret variable of each tracker (and the default, always tried: a hook signed
    /// with it for a repository no tracker reads is accepted and counted), with its value
    /// when set.
    fn secrets_of(&self, trackers: &[HookTracker]) -> BTreeMap<String, Option<String>> {
        let mut by_env = BTreeMap::new();
        by_env.insert(
            DEFAULT_SECRET_ENV.to_owned(),
            self.webhook_secret(DEFAULT_SECRET_ENV),
        );
        for t in trackers {
            let env = secret_env(&t.config);
            if !by_env.contains_key(env) {
                by_env.insert(env.to_owned(), self.webhook_secret(env));
            }
        }
        by_env
    }

    /// Stores the delivery and its refreshes, and wakes the refresher.
    async fn store(
        &self,
        forge: Forge,
        id: &str,
        hint: &IssueHint,
        targets: &[(i64, String)],
    ) -> Answer {
        let delivery = Delivery::new(forge.name(), id, &hint.event);
        match self
            .db()
            .record_delivery(&delivery, targets, self.now())
            .await
        {
            Ok(Recorded::Duplicate) => Answer::new(
                StatusCode::OK,
                "duplicate",
                "this delivery was received before; nothing done",
            ),
            Ok(_) => {
                tracing::info!(forge = forge.name(), delivery = id, event = %hint.event, link = %hint.link, trackers = targets.len(), "webhook: refresh queued");
                self.inner.hooks.wake.notify_one();
                Answer::new(
                    StatusCode::ACCEPTED,
                    "queued",
                    format!("refresh of {} queued", hint.link),
                )
            }
            Err(e) => {
                tracing::error!(forge = forge.name(), error = %e, "webhook: cannot store the delivery");
                Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error",
                    "the delivery could not be stored; retry later",
                )
            }
        }
    }
}

/// Whether the request's content type is JSON (`application/json`, or `application/…+json`),
/// whatever its parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn github_hook(State(s): State<Service>, headers: HeaderMap, body: Body) -> Response {
    s.receive_hook(Forge::GitHub, headers, body).await
}

async fn gitlab_hook(State(s): State<Service>, headers: HeaderMap, body: Body) -> Response {
    s.receive_hook(Forge::GitLab, headers, body).await
}

async fn gitea_hook(State(s): State<Service>, headers: HeaderMap, body: Body) -> Response {
    s.receive_hook(Forge::Gitea, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::Forge;

    /// `trackers` says which types take webhooks ([`bugimporters_core::Capabilities::webhooks`]):
    /// exactly the forges that have a route here.
    #[test]
    fn the_types_claiming_webhooks_are_the_forges_with_a_route() {
        let registry = bugimporters_all::default_registry();
        let mut claimed: Vec<&str> = registry
            .factories()
            .filter(|f| f.capabilities().webhooks)
            .map(|f| f.kind())
            .collect();
        let mut routed: Vec<&str> = Forge::ALL.iter().map(|f| f.name()).collect();
        claimed.sort_unstable();
        routed.sort_unstable();
        assert_eq!(claimed, routed);
    }
}
