//! The politeness layer: per host, at most [`FetchConfig::per_host_limit`] attempts in
//! flight, [`FetchConfig::delay`] between the starts of two attempts, a pause while a rate
//! limit is exhausted, and the circuit breaker ([`FetchConfig::breaker_threshold`]). It wraps
//! any [`Transport`] and counts per attempt: a request waiting out a back-off above it holds
//! no slot of its host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::header::HeaderMap;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use super::classify::{header_u64, rate_limit_reset};
use super::{stall, FetchConfig, RawAnswer, Request, Transport};
use crate::Error;

#[derive(Debug, Default)]
struct HostState {
    next_start: Option<Instant>,
    blocked_until: Option<Instant>,
}

/// Per-host state: the in-flight limit, the pacing/rate-limit clock and the circuit breaker.
#[derive(Clone)]
struct HostSlot {
    key: String,
    permits: Arc<Semaphore>,
    state: Arc<tokio::sync::Mutex<HostState>>,
    breaker: Arc<stall::Breaker>,
}

/// [`Transport`] with politeness per host around `inner`.
pub(super) struct Polite {
    inner: Arc<dyn Transport>,
    config: FetchConfig,
    hosts: Mutex<HashMap<String, HostSlot>>,
}

impl Polite {
    pub(super) fn new(inner: Arc<dyn Transport>, config: &FetchConfig) -> Self {
        Polite {
            inner,
            config: config.clone(),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn host_slot(&self, url: &Url) -> HostSlot {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock().expect("hosts lock");
        hosts
            .entry(key.clone())
            .or_insert_with(|| HostSlot {
                key,
                permits: Arc::new(Semaphore::new(self.config.per_host_limit.max(1))),
                state: Arc::new(tokio::sync::Mutex::new(HostState::default())),
                breaker: Arc::new(stall::Breaker::default()),
            })
            .clone()
    }

    /// Feeds one attempt's outcome to the host's circuit breaker; logs once when it opens.
    fn note_breaker(&self, slot: &HostSlot, outcome: Result<u16, &Error>) {
        match stall::breaker_verdict(&outcome) {
            None => {}
            Some(false) => slot.breaker.success(),
            Some(true) if !slot.breaker.failure(self.config.breaker_threshold) => {}
            Some(true) => {
                tracing::warn!(
                    host = %slot.key,
                    failures = self.config.breaker_threshold,
                    "host failed too many consecutive attempts; its remaining requests in this run fail fast"
                );
            }
        }
    }

    async fn wait_for_host(&self, state: &tokio::sync::Mutex<HostState>) {
        let sleep_until = {
            let mut s = state.lock().await;
            let now = Instant::now();
            let at = [s.blocked_until, s.next_start]
                .into_iter()
                .flatten()
                .fold(now, Instant::max);
            if !self.config.delay.is_zero() {
                s.next_start = Some(at + self.config.delay);
            }
            at
        };
        tokio::time::sleep_until(sleep_until).await;
    }

    async fn note_rate_limit(&self, state: &tokio::sync::Mutex<HostState>, headers: &HeaderMap) {
        let remaining = header_u64(headers, "x-ratelimit-remaining")
            .or_else(|| header_u64(headers, "ratelimit-remaining"));
        if remaining != Some(0) {
            return;
        }
        let Some(wait) = rate_limit_reset(headers) else {
            return;
        };
        let wait = wait.min(self.config.max_wait);
        tracing::warn!(
            wait_s = wait.as_secs(),
            "rate limit exhausted; pausing this host until it resets"
        );
        let mut s = state.lock().await;
        let until = Instant::now() + wait;
        if s.blocked_until.is_none_or(|b| b < until) {
            s.blocked_until = Some(until);
        }
    }
}

#[async_trait]
impl Transport for Polite {
    async fn send(&self, req: &Request, headers: &HeaderMap) -> Result<RawAnswer, Error> {
        let slot = self.host_slot(&req.url);
        let _permit = slot
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        if slot.breaker.is_open(self.config.breaker_cool_down) {
            return Err(Error::HostUnavailable {
                url: req.url.to_string(),
                host: slot.key.clone(),
                failures: self.config.breaker_threshold,
            });
        }
        self.wait_for_host(&slot.state).await;
        let outcome = self.inner.send(req, headers).await;
        self.note_breaker(&slot, outcome.as_ref().map(|a| a.status));
        if let Ok(answer) = &outcome {
            self.note_rate_limit(&slot.state, &answer.headers).await;
        }
        outcome
    }
}
