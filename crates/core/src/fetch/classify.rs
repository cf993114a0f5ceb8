//! What an answer means: [`Outcome`], the default classification from the status and the
//! rate-limit signs, and the waits a server asks for.
//!
//! A tracker whose API answers errors with a `200` (Phabricator's Conduit: `{"error_code":
//! "ERR-CONDUIT-CORE", ...}`) or refuses for a while with a plain `403` gives its request a
//! classifier ([`super::Request::classify`]); the retry layer and [`crate::Error::is_temporary`]
//! follow the classifier's verdict, and fall back on [`default_outcome`] when it has none.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap};

use super::{RawAnswer, Request};
use crate::error::is_temporary_status;

/// What an answer means for the request that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A usable answer: handed to the caller as a [`super::Response`].
    Success,
    /// Worth trying again (retried when the request is idempotent; then an error for which
    /// [`crate::Error::is_temporary`] holds, so that the run withholds its deletions).
    Temporary,
    /// A refusal that trying again will not change.
    Permanent,
    /// The resource is gone ([`crate::Error::is_not_found`]: a held bug is deleted).
    NotFound,
}

/// What a classifier sees of an answer.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// The whole body (empty for a bodiless answer).
    pub body: &'a [u8],
}

impl Answer<'_> {
    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.body).ok()
    }
}

/// The function a [`Classifier`] holds.
type ClassifyFn = dyn Fn(&Answer<'_>) -> Option<Outcome> + Send + Sync;

/// A tracker's classification of answers: `None` leaves the answer to [`default_outcome`].
#[derive(Clone)]
pub struct Classifier(Arc<ClassifyFn>);

impl Classifier {
    /// A classifier from a function.
    pub fn new(f: impl Fn(&Answer<'_>) -> Option<Outcome> + Send + Sync + 'static) -> Self {
        Classifier(Arc::new(f))
    }

    /// The function's verdict on `answer`.
    pub fn classify(&self, answer: &Answer<'_>) -> Option<Outcome> {
        (self.0)(answer)
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Classifier(..)")
    }
}

/// The classification of an answer when the request's classifier has none: 2xx a success,
/// 404 and 410 not found, 408/425/429/5xx temporary, a 403 that is a rate limit (an
/// exhausted `X-RateLimit-Remaining`/`RateLimit-Remaining`, a `Retry-After`, or a body that
/// says "rate limit", as GitHub's primary and secondary limits do) temporary, anything else
/// permanent (a plain 403, a challenge page, a 401).
pub fn default_outcome(answer: &Answer<'_>) -> Outcome {
    match answer.status {
        200..=299 => Outcome::Success,
        404 | 410 => Outcome::NotFound,
        s if is_temporary_status(s) => Outcome::Temporary,
        403 if rate_limited(answer.headers) || says_rate_limit(answer.body) => Outcome::Temporary,
        _ => Outcome::Permanent,
    }
}

/// What `answer` means for `req`: its classifier's verdict, else [`default_outcome`]; also
/// says whether the verdict was the classifier's.
pub(super) fn outcome(req: &Request, answer: &RawAnswer) -> (Outcome, bool) {
    let seen = Answer {
        status: answer.status,
        headers: &answer.headers,
        body: &answer.body,
    };
    match req.classifier.as_ref().and_then(|c| c.classify(&seen)) {
        Some(verdict) => (verdict, true),
        None => (default_outcome(&seen), false),
    }
}

/// How long the server asks us to wait before trying again: `Retry-After`, a rate-limit
/// reset, or, for a 403 rate limit that names no time, [`RATE_LIMIT_PAUSE`].
pub(super) fn pause(answer: &RawAnswer) -> Option<Duration> {
    server_wait(&answer.headers).or_else(|| {
        (answer.status == 403 && (rate_limited(&answer.headers) || says_rate_limit(&answer.body)))
            .then_some(RATE_LIMIT_PAUSE)
    })
}

/// The wait a 403 rate limit without a reset time asks for (GitHub: "wait at least one
/// minute" after a secondary rate limit). It marks the 403 temporary ([`crate::Error::is_temporary`]).
pub(super) const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// Whether an error body says it is a rate limit (GitHub's primary "API rate limit exceeded"
/// and "secondary rate limit" messages): the first 4 KiB, case-insensitively.
fn says_rate_limit(body: &[u8]) -> bool {
    let head = &body[..body.len().min(4096)];
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("rate limit")
}

pub(super) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn rate_limited(headers: &HeaderMap) -> bool {
    header_u64(headers, "x-ratelimit-remaining") == Some(0)
        || header_u64(headers, "ratelimit-remaining") == Some(0)
        || headers.contains_key(header::RETRY_AFTER)
}

/// Whether `answer` is a 403 that only its body calls a rate limit (no rate-limit header).
pub(super) fn only_the_body_says_rate_limit(answer: &RawAnswer) -> bool {
    answer.status == 403 && !rate_limited(&answer.headers) && says_rate_limit(&answer.body)
}

/// How long the server asks us to wait: `Retry-After` first, then a rate-limit reset.
pub(super) fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    if let Some(v) = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v) {
            let at = SystemTime::from(t);
            return Some(at.duration_since(SystemTime::now()).unwrap_or_default());
        }
    }
    let remaining = header_u64(headers, "x-ratelimit-remaining")
        .or_else(|| header_u64(headers, "ratelimit-remaining"));
    if remaining == Some(0) {
        return rate_limit_reset(headers);
    }
    None
}

/// `X-RateLimit-Reset` (epoch seconds, GitHub) or `RateLimit-Reset` (epoch seconds on GitLab,
/// delta seconds in the IETF draft: values below 10^9 are read as a delta).
pub(super) fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let v = header_u64(headers, "x-ratelimit-reset")
        .or_else(|| header_u64(headers, "ratelimit-reset"))?;
    if v < 1_000_000_000 {
        return Some(Duration::from_secs(v));
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Some(Duration::from_secs(v.saturating_sub(now) + 1))
}
