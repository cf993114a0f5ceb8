//! Stall protection of the fetch layer: the low-speed limit of one attempt and the per-host
//! circuit breaker. See `docs/security.md`, "Untrusted trackers: stalls, parse cost and output
//! size".

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
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
            source: None,
        }
    }
}

/// A per-host circuit breaker: after `threshold` consecutive failed attempts to one host
/// (network errors, timeouts, the low-speed limit, 5xx, bodies over the size limit) the host is
/// *open*: its requests fail at once with [`Error::HostUnavailable`]. A successful attempt
/// before the threshold resets the count. An open breaker stays open for its cool-down
/// ([`super::FetchConfig::breaker_cool_down`]), then lets requests through again *half-open*:
/// one more failure opens it again at once (and is reported again), a success closes it. A
/// long-running `serve` process shares one client for all its runs, so a host that was down
/// once is tried again after the cool-down, not shunned for the life of the process.
#[derive(Debug, Default)]
pub(super) struct Breaker {
    consecutive: AtomicU32,
    /// When the breaker last opened; `None` while closed or half-open.
    opened: Mutex<Option<Instant>>,
}

impl Breaker {
    /// Whether the host's requests fail fast: open and within `cool_down` of opening. Past
    /// the cool-down the breaker turns half-open (one failure re-opens it).
    pub(super) fn is_open(&self, cool_down: Duration) -> bool {
        let mut opened = self.opened.lock().expect("breaker lock");
        match *opened {
            Some(at) if at.elapsed() < cool_down => true,
            Some(_) => {
                *opened = None;
                rearm_half_open(&self.consecutive);
                false
            }
            None => false,
        }
    }

    /// Notes a successful attempt (closes a half-open breaker).
    pub(super) fn success(&self) {
        if self.opened.lock().expect("breaker lock").is_none() {
            self.consecutive.store(0, Ordering::Release);
        }
    }

    /// Notes a failed attempt; returns `true` when this failure opened the breaker (the caller
    /// logs it, once per opening). `threshold == 0` disables the breaker.
    pub(super) fn failure(&self, threshold: u32) -> bool {
        if threshold == 0 {
            return false;
        }
        let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
        if n < threshold {
            return false;
        }
        let mut opened = self.opened.lock().expect("breaker lock");
        if opened.is_some() {
            return false;
        }
        *opened = Some(Instant::now());
        true
    }
}

/// Half-open: the count stays at the threshold, so the next failure re-opens the breaker.
fn rearm_half_open(consecutive: &AtomicU32) {
    let n = consecutive.load(Ordering::Acquire);
    consecutive.store(n.saturating_sub(1), Ordering::Release);
}

/// What an attempt tells the host's breaker: `Some(true)` a failure (the host did not deliver
/// a usable answer: network errors, 5xx, an oversize body), `Some(false)` a success (any other
/// answer, 4xx and 429 included: the server is up), `None` nothing (a refusal before any
/// connection, redirect trouble), which neither counts nor resets.
pub(super) fn breaker_verdict(outcome: &Result<u16, &Error>) -> Option<bool> {
    match outcome {
        Ok(status) => Some((500..600).contains(status)),
        Err(e) => match e.inner() {
            Error::Network { .. } | Error::BodyTooLarge { .. } => Some(true),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_once_at_the_threshold_and_success_resets() {
        let b = Breaker::default();
        let hour = Duration::from_secs(3600);
        assert!(!b.failure(3));
        assert!(!b.failure(3));
        b.success();
        assert!(!b.failure(3));
        assert!(!b.failure(3));
        assert!(
            !b.is_open(hour),
            "a success before the threshold reset the count"
        );
        assert!(b.failure(3), "the third consecutive failure opens it");
        assert!(b.is_open(hour));
        assert!(!b.failure(3), "reported once");
        b.success();
        assert!(b.is_open(hour), "stays open for its cool-down");
        let off = Breaker::default();
        for _ in 0..100 {
            assert!(!off.failure(0));
        }
        assert!(!off.is_open(hour));
    }

    #[test]
    fn breaker_turns_half_open_after_its_cool_down() {
        let b = Breaker::default();
        let cool = Duration::from_millis(30);
        for _ in 0..2 {
            b.failure(3);
        }
        assert!(b.failure(3));
        assert!(b.is_open(cool));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!b.is_open(cool), "half-open after the cool-down");
        assert!(b.failure(3), "one failure re-opens it, reported again");
        assert!(b.is_open(cool));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!b.is_open(cool));
        b.success();
        assert!(!b.failure(3), "a success closed it: the count starts again");
        assert!(!b.failure(3));
        assert!(!b.is_open(cool));
        assert!(b.failure(3));
    }

    #[test]
    fn refusals_neither_count_nor_reset() {
        let refused = Error::Refused {
            url: "http://10.0.0.1/".into(),
            reason: "private".into(),
        };
        let reset = Error::Network {
            url: "u".into(),
            message: "reset".into(),
            timeout: false,
            source: None,
        };
        assert_eq!(breaker_verdict(&Err(&refused)), None);
        assert_eq!(breaker_verdict(&Err(&reset)), Some(true));
        assert_eq!(breaker_verdict(&Ok(503)), Some(true));
        assert_eq!(breaker_verdict(&Ok(429)), Some(false));
        assert_eq!(breaker_verdict(&Ok(404)), Some(false));
    }
}
