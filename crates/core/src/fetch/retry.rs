//! The retry layer: a temporary failure of an idempotent request is tried again, up to
//! [`FetchConfig::retries`] times, after the wait the server asks for (bounded by
//! [`FetchConfig::max_wait`]; beyond it, or for a 403 whose body alone says "rate limit", the
//! answer is handed up at once) or an exponential back-off with equal jitter drawn from
//! [`FetchConfig::jitter`] — replaceable, so that a test can assert the exact waits.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::header::HeaderMap;

use super::classify::{self, Outcome};
use super::{count, Counters, FetchConfig, RawAnswer, Request, Transport};
use crate::Error;

/// The randomness of the back-off: a function giving numbers in `[0, 1]`. [`Jitter::random`]
/// (the default) draws them; a test fixes them ([`Jitter::fixed`], [`Jitter::from_fn`]).
#[derive(Clone)]
pub struct Jitter(Arc<dyn Fn() -> f64 + Send + Sync>);

impl Jitter {
    /// Uniform random numbers (the production source).
    pub fn random() -> Self {
        Jitter(Arc::new(fastrand::f64))
    }

    /// Always `x` (clamped to `[0, 1]`): `0.0` waits half of each step, `1.0` the whole step.
    pub fn fixed(x: f64) -> Self {
        Jitter(Arc::new(move || x))
    }

    /// Numbers from `f` (clamped to `[0, 1]`).
    pub fn from_fn(f: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        Jitter(Arc::new(f))
    }

    /// The next number, in `[0, 1]`.
    fn unit(&self) -> f64 {
        let x = (self.0)();
        if x.is_nan() {
            0.0
        } else {
            x.clamp(0.0, 1.0)
        }
    }

    /// The back-off before retry number `attempt + 1`: the step `base × 2^attempt` (at most
    /// `max`), with equal jitter: a wait in `[step/2, step]`, so that clients that failed
    /// together do not retry together, while each still waits at least half the step.
    pub fn backoff(&self, base: Duration, max: Duration, attempt: u32) -> Duration {
        let step = base.saturating_mul(1u32 << attempt.min(16)).min(max);
        step / 2 + step.mul_f64(self.unit() * 0.5)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::random()
    }
}

impl std::fmt::Debug for Jitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jitter(..)")
    }
}

/// [`Transport`] with retries around `inner`.
pub(super) struct Retry {
    inner: Arc<dyn Transport>,
    config: FetchConfig,
    counters: Counters,
}

impl Retry {
    pub(super) fn new(inner: Arc<dyn Transport>, config: &FetchConfig, counters: Counters) -> Self {
        Retry {
            inner,
            config: config.clone(),
            counters,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.config
            .jitter
            .backoff(self.config.backoff_base, self.config.backoff_max, attempt)
    }

    /// The wait before trying `answer` again, or `None` to hand it up as it is.
    fn answer_wait(&self, req: &Request, answer: &RawAnswer, attempt: u32) -> Option<Duration> {
        if !req.idempotent || attempt >= self.config.retries {
            return None;
        }
        let (outcome, by_classifier) = classify::outcome(req, answer);
        if outcome != Outcome::Temporary {
            return None;
        }
        let (url, status) = (req.url.as_str(), answer.status);
        match classify::server_wait(&answer.headers) {
            Some(w) if w > self.config.max_wait => {
                tracing::warn!(
                    url,
                    status,
                    wait_s = w.as_secs(),
                    "server asks to wait longer than --max-wait; giving up"
                );
                None
            }
            Some(w) => {
                tracing::warn!(
                    url,
                    status,
                    wait_s = w.as_secs_f64(),
                    "rate limited; waiting as the server asks"
                );
                Some(w)
            }
            // GitHub's secondary limit asks for a minute at least: not retried within the
            // request; the error carries the minute (temporary: deletions withheld).
            None if !by_classifier && classify::only_the_body_says_rate_limit(answer) => None,
            None => Some(self.backoff(attempt)),
        }
    }

    /// The wait before trying again after `error`, or `None` to give up. An open circuit
    /// breaker is temporary for the run's report but not worth a retry within it.
    fn error_wait(&self, req: &Request, error: &Error, attempt: u32) -> Option<Duration> {
        let retry = error.is_temporary()
            && !matches!(error, Error::HostUnavailable { .. })
            && req.idempotent
            && attempt < self.config.retries;
        if retry {
            tracing::debug!(url = %req.url, %error, attempt, "temporary failure; retrying");
        }
        retry.then(|| self.backoff(attempt))
    }
}

#[async_trait]
impl Transport for Retry {
    async fn send(&self, req: &Request, headers: &HeaderMap) -> Result<RawAnswer, Error> {
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.inner.send(req, headers).await;
            let wait = match &outcome {
                Ok(answer) => self.answer_wait(req, answer, attempt),
                Err(e) => self.error_wait(req, e, attempt),
            };
            let Some(wait) = wait else {
                return outcome;
            };
            attempt += 1;
            count(&self.counters, |c| c.retries += 1);
            tokio::time::sleep(wait).await;
        }
    }
}
