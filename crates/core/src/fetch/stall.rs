//! Stall protection of the fetch layer: the low-speed limit of one attempt and the per-host
//! circuit breaker. See `docs/security.md`, "Untrusted trackers: stalls, parse cost and output
//! size".

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// The low-speed limit of one attempt, like curl's `--speed-limit`/`--speed-time`: an attempt
/// that receives fewer than `limit` bytes per second on average over a window of `window` is
/// aborted. The first window starts when the response head has arrived (the head itself has
/// its own bound, see `HttpClient::send_head`), each next one when the previous ends.
#[derive(Debug)]
pub(super) struct SpeedGuard {
    limit: u64,
    window: Duration,
    window_end: Instant,
    in_window: u64,
}

impl SpeedGuard {
    /// A guard starting now; `limit == 0` or a zero `window` disables it.
    pub(super) fn start(limit: u64, window: Duration) -> Self {
        SpeedGuard {
            limit,
            window,
            window_end: Instant::now() + window,
            in_window: 0,
        }
    }

    /// Whether the guard is on.
    pub(super) fn enabled(&self) -> bool {
        self.limit > 0 && !self.window.is_zero()
    }

    /// When the current window ends (far in the future when the guard is off).
    pub(super) fn deadline(&self) -> Instant {
        if self.enabled() {
            self.window_end
        } else {
            Instant::now() + Duration::from_secs(86_400 * 365)
        }
    }

    /// Counts `n` received bytes, then checks every window that has ended.
    pub(super) fn received(&mut self, n: usize, url: &url::Url) -> Result<(), Error> {
        self.in_window = self.in_window.saturating_add(n as u64);
        self.check(url)
    }

    /// Checks the windows that have ended: an error when one received too little.
    pub(super) fn check(&mut self, url: &url::Url) -> Result<(), Error> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        while now >= self.window_end {
            let needed = self.limit.saturating_mul(self.window.as_secs().max(1));
            if self.in_window < needed {
                return Err(self.error(url));
            }
            self.window_end += self.window;
            self.in_window = 0;
        }
        Ok(())
    }

    /// The error of an aborted attempt: a temporary network failure.
    fn error(&self, url: &url::Url) -> Error {
        Error::Network {
            url: url.to_string(),
            message: format!(
                "low-speed limit: less than {} bytes/s for {} s; attempt aborted",
                self.limit,
                self.window.as_secs()
            ),
            timeout: true,
        }
    }
}

/// A per-host circuit breaker: after `threshold` consecutive failed attempts to one host
/// (network errors, timeouts, the low-speed limit, 5xx, bodies over the size limit) the host is
/// *open*: its remaining requests of this run fail at once with
/// [`Error::HostUnavailable`]. A successful attempt before the threshold resets the count. The
/// breaker never closes again within a run: the next run tries the host afresh.
#[derive(Debug, Default)]
pub(super) struct Breaker {
    consecutive: AtomicU32,
    open: AtomicBool,
}

impl Breaker {
    /// Whether the host's requests fail fast.
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Notes a successful attempt.
    pub(super) fn success(&self) {
        if !self.is_open() {
            self.consecutive.store(0, Ordering::Release);
        }
    }

    /// Notes a failed attempt; returns `true` when this failure opened the breaker (the caller
    /// logs it, once per host). `threshold == 0` disables the breaker.
    pub(super) fn failure(&self, threshold: u32) -> bool {
        if threshold == 0 {
            return false;
        }
        let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        n >= threshold && !self.open.swap(true, Ordering::AcqRel)
    }
}

/// Whether a failed attempt counts against the host's breaker: the host did not deliver a
/// usable answer (network errors, 5xx, an oversize body). Refusals, 4xx, 429 (the server is
/// up and asks us to slow down) and redirect trouble do not count.
pub(super) fn counts_as_failure(outcome: &Result<u16, &Error>) -> bool {
    match outcome {
        Ok(status) => (500..600).contains(status),
        Err(e) => matches!(
            e.inner(),
            Error::Network { .. } | Error::BodyTooLarge { .. }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_once_at_the_threshold_and_success_resets() {
        let b = Breaker::default();
        assert!(!b.failure(3));
        assert!(!b.failure(3));
        b.success();
        assert!(!b.failure(3));
        assert!(!b.failure(3));
        assert!(
            !b.is_open(),
            "a success before the threshold reset the count"
        );
        assert!(b.failure(3), "the third consecutive failure opens it");
        assert!(b.is_open());
        assert!(!b.failure(3), "reported once");
        b.success();
        assert!(b.is_open(), "stays open for the run");
        let off = Breaker::default();
        for _ in 0..100 {
            assert!(!off.failure(0));
        }
        assert!(!off.is_open());
    }
}
