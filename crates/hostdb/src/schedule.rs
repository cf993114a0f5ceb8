//! The service's schedule and leases (`bugimporters serve`, `customs refresh`, `customs status`).
//!
//! Every tracker has a row in `tracker_schedule`, created and kept in step with `trackers` by
//! [`HostDb::sync_schedule`]: its `refresh_interval` (a tracker key, see [`parse_interval`]),
//! when it is next due, when its last run started and finished, the outcome, the number of
//! consecutive failures, the last error (bounded and redacted), the bugs of the last run and
//! the process that ran it.
//!
//! A process runs a tracker only while it holds its lease ([`HostDb::lease_due`]): the row's
//! `lease_run` is a random id of that run, `lease_expires` a time the process pushes forward
//! by heartbeats ([`HostDb::renew_lease`]). On PostgreSQL and MariaDB the due rows are taken
//! with `SELECT … FOR UPDATE SKIP LOCKED`, so any number of processes share the work; a lease
//! that expired (its process crashed) is taken over by the next lease pass. Every write of a
//! run's end names its `lease_run`: a run that lost its lease changes nothing
//! ([`HostDb::finish_run`] returns `false`) and must not import.
//!
//! Politeness across processes: at most `host_budget` runs of trackers of one host (see
//! [`host_key`]) hold a lease at once, over all processes. Leasing a host's trackers locks the
//! host's `schedule_hosts` row (`FOR UPDATE`, a few milliseconds), so the budget holds however
//! many processes lease at the same moment; the trackers' rows are then taken with
//! `SKIP LOCKED`.
//!
//! Times are passed in by the caller (see [`Clock`]), so the schedule can be tested with an
//! injected clock.

use std::fmt;
use std::sync::{Arc, Mutex};

use bugimporters_core::TrackerConfig;
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::Value;
use sqlx::Row;

use crate::db::{begin_statement, with_pool};
use crate::{Backend, Error, HostDb, Result};

/// The tracker key of the refresh interval (`5m`, `1h`, `1d`...). It is for the service, not
/// the crawler: `export-config` leaves it out.
pub const REFRESH_INTERVAL: &str = "refresh_interval";
/// Tracker keys that only the service reads; accepted by `customs`, never exported.
pub const SERVICE_KEYS: &[&str] = &[REFRESH_INTERVAL, crate::webhooks::WEBHOOK_SECRET_ENV];
/// The refresh interval of a tracker without the key: one day.
pub const DEFAULT_REFRESH_SECS: i64 = 86_400;
/// The shortest refresh interval accepted: one minute.
pub const MIN_REFRESH_SECS: i64 = 60;
/// The longest wait between two attempts of a failing tracker whose interval is shorter:
/// one day (a tracker with a longer interval is retried at its interval).
pub const BACKOFF_CAP_SECS: i64 = 86_400;
/// Longest `last_error` kept, in characters.
pub const ERROR_MAX_CHARS: usize = 1000;

/// Where the service reads the time: the system clock, or a [`ManualClock`] in tests.
pub trait Clock: fmt::Debug + Send + Sync {
    /// The current time, naive UTC.
    fn now(&self) -> NaiveDateTime;
}

/// The system clock (microseconds, as stored).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        crate::now()
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<NaiveDateTime>>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: NaiveDateTime) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: TimeDelta) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += d;
    }

    /// Sets the clock to `t`.
    pub fn set(&self, t: NaiveDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Parses a refresh interval: a whole number and a unit, `s`, `m`, `h`, `d` or `w` (`90s`,
/// `5m`, `1h`, `1d`). At least one minute. Returns seconds.
pub fn parse_interval(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        format!("{REFRESH_INTERVAL} {text:?}: expected a number and a unit (s, m, h, d, w), e.g. 5m, 1h, 1d")
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs < MIN_REFRESH_SECS {
        return Err(format!(
            "{REFRESH_INTERVAL} {text:?} is shorter than the minimum, 1m"
        ));
    }
    if secs > 365 * 86_400 {
        return Err(format!(
            "{REFRESH_INTERVAL} {text:?} is longer than the maximum, 365d"
        ));
    }
    Ok(secs)
}

/// Seconds as the shortest interval text that reads back the same (`300` → `5m`).
pub fn format_interval(secs: i64) -> String {
    for (unit, m) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs % m == 0 {
            return format!("{}{unit}", secs / m);
        }
    }
    format!("{secs}s")
}

/// The refresh interval of a tracker record in seconds: its `refresh_interval` key, else the
/// default (one day). A bad value is an error naming the tracker.
pub fn refresh_interval(config: &TrackerConfig) -> Result<i64> {
    match config.extra.get(REFRESH_INTERVAL) {
        None | Some(Value::Null) => Ok(DEFAULT_REFRESH_SECS),
        Some(Value::String(s)) => parse_interval(s).map_err(|message| Error::InvalidTracker {
            tracker: config.tracker_name.clone(),
            message,
        }),
        Some(other) => Err(Error::InvalidTracker {
            tracker: config.tracker_name.clone(),
            message: format!("{REFRESH_INTERVAL} must be a text such as \"5m\", not {other}"),
        }),
    }
}

/// How long a tracker waits after its `failures`-th consecutive failure:
/// `interval × 2^(failures−1)`, at most `max(interval, BACKOFF_CAP_SECS)` — a failing tracker
/// is retried at that cap for as long as it fails, never dropped.
pub fn retry_delay_secs(interval: i64, failures: i64) -> i64 {
    let cap = interval.max(BACKOFF_CAP_SECS);
    let shift = u32::try_from(failures.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    interval.saturating_mul(1i64 << shift).min(cap)
}

/// When a tracker that was due at `due` and succeeded at `now` is next due: the first
/// `due + k × interval` (k ≥ 1) after `now`, so that runs keep their rhythm and a slow run
/// skips the slots it missed instead of running twice.
pub fn next_due_after(due: NaiveDateTime, interval: i64, now: NaiveDateTime) -> NaiveDateTime {
    let step = TimeDelta::seconds(interval.max(1));
    let late = (now - due).num_seconds().max(0);
    let k = late / interval.max(1) + 1;
    let next = due + step * i32::try_from(k).unwrap_or(i32::MAX);
    if next > now {
        next
    } else {
        next + step
    }
}

/// The host whose politeness budget a tracker's runs count against: the host of its
/// `base_url`, else of its first query, else its type (`github`: one API host for all).
pub fn host_key(config: &TrackerConfig) -> String {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
    };
    host(&config.base_url)
        .or_else(|| config.queries.first().and_then(|q| host(&q.url)))
        .unwrap_or_else(|| config.bugimporter.clone())
}

/// An error text fit to store and show, through the central redaction: URL userinfo
/// replaced by `***@` ([`bugimporters_core::redact_userinfo`]), registered secrets and
/// secret query parameter values replaced by `[REDACTED]` ([`bugimporters_core::redact::scrub`],
/// over the whole text), then quoted as [`bugimporters_core::excerpt_plain`] does: control
/// characters escaped, cut after [`bugimporters_core::EXCERPT_MAX`] bytes and followed by
/// `…` and the full length. The result never exceeds [`ERROR_MAX_CHARS`] characters.
pub fn bounded_error(text: &str) -> String {
    let userinfo = bugimporters_core::redact_userinfo(text);
    let scrubbed = bugimporters_core::redact::scrub(&userinfo);
    let out = bugimporters_core::excerpt_plain(&scrubbed);
    if out.chars().count() <= ERROR_MAX_CHARS {
        return out;
    }
    let mut cut: String = out.chars().take(ERROR_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A lease on one tracker, held by one run of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The tracker's row id.
    pub tracker_id: i64,
    /// The tracker's name.
    pub tracker: String,
    /// The id of this run (random, unique), written in the row while the lease is held.
    pub run_id: String,
    /// The process holding it (see [`HostDb::lease_due`]'s `worker`).
    pub worker: String,
    /// The due time this run serves.
    pub due: NaiveDateTime,
    /// When the lease expires unless renewed.
    pub expires: NaiveDateTime,
    /// The process whose expired lease this one took over, if any.
    pub taken_over_from: Option<String>,
    /// The tracker's refresh interval, seconds.
    pub interval_secs: i64,
    /// Its consecutive failures before this run.
    pub consecutive_failures: i64,
    /// Its politeness host (see [`host_key`]).
    pub host_key: String,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Crawled and imported without an error.
    Ok,
    /// Some requests or records failed (the rest was imported), or the run could not start.
    Failed,
}

impl Outcome {
    /// The name stored and shown: `ok`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        }
    }
}

/// What [`HostDb::finish_run`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunResult {
    /// The outcome.
    pub outcome: Outcome,
    /// The first error, if any (stored through [`bounded_error`]).
    pub error: Option<String>,
    /// Records the run imported.
    pub bugs: i64,
}

impl RunResult {
    /// A result.
    pub fn new(outcome: Outcome, error: Option<String>, bugs: i64) -> RunResult {
        RunResult {
            outcome,
            error,
            bugs,
        }
    }
}

/// One tracker's line of `customs status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ScheduleEntry {
    /// Tracker name.
    pub name: String,
    /// Its refresh interval (`5m`, `1d`...).
    pub refresh_interval: String,
    /// When it is next due (`None`: not scheduled yet, due as soon as a service runs).
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub next_due: Option<NaiveDateTime>,
    /// When its last run started.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub last_started: Option<NaiveDateTime>,
    /// When its last run finished.
    #[serde(with = "bugimporters_core::time::serde_opt")]
    pub last_finished: Option<NaiveDateTime>,
    /// `ok`, `failed`, or `None` before the first run.
    pub outcome: Option<String>,
    /// Failures in a row.
    pub consecutive_failures: i64,
    /// The last error (bounded, redacted).
    pub last_error: Option<String>,
    /// Bugs the database holds for it.
    pub bugs: i64,
    /// The process (`host:pid`) that ran it last.
    pub last_worker: Option<String>,
    /// The process running it now, if a live lease is held.
    pub running_on: Option<String>,
}

/// Counts for the service's metrics and health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Trackers with a schedule row.
    pub trackers: i64,
    /// Due now and not leased.
    pub due: i64,
    /// Holding a live lease.
    pub running: i64,
    /// Not due, with at least one failure in a row (backing off).
    pub failing: i64,
    /// The oldest due time of the trackers waiting for a lease.
    pub oldest_due: Option<NaiveDateTime>,
}

fn run_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// `FOR UPDATE SKIP LOCKED` where the server has it (SQLite has one writer at a time and no
/// row locks: `BEGIN IMMEDIATE` serialises the lease passes).
fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        _ => " FOR UPDATE SKIP LOCKED",
    }
}

fn insert_ignore(backend: Backend, table_cols: &str, conflict: &str) -> String {
    match backend {
        Backend::MySql => format!("INSERT IGNORE INTO {table_cols}"),
        _ => format!("INSERT INTO {table_cols} ON CONFLICT ({conflict}) DO NOTHING"),
    }
}

mod ops;

pub use ops::read::render_status;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_format() {
        assert_eq!(parse_interval("5m"), Ok(300));
        assert_eq!(parse_interval("1h"), Ok(3600));
        assert_eq!(parse_interval(" 1d "), Ok(86_400));
        assert_eq!(parse_interval("90s"), Ok(90));
        assert!(parse_interval("59s").unwrap_err().contains("minimum"));
        assert!(parse_interval("1y").unwrap_err().contains("unit"));
        assert!(parse_interval("m").is_err());
        assert!(parse_interval("99999999999999999d").is_err());
        assert_eq!(format_interval(300), "5m");
        assert_eq!(format_interval(5400), "90m");
        assert_eq!(format_interval(86_400), "1d");
        assert_eq!(format_interval(90), "90s");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let d: Vec<i64> = (1..=12).map(|n| retry_delay_secs(300, n) / 60).collect();
        assert_eq!(
            d,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440, 1440]
        );
        assert_eq!(retry_delay_secs(86_400, 5), 86_400);
        assert_eq!(retry_delay_secs(7 * 86_400, 3), 7 * 86_400);
        assert_eq!(retry_delay_secs(300, 1_000_000), 86_400);
    }

    #[test]
    fn next_due_keeps_the_rhythm() {
        let t = bugimporters_core::time::parse_datetime("2026-01-01T00:00:00").unwrap();
        let m = TimeDelta::minutes;
        assert_eq!(next_due_after(t, 300, t), t + m(5));
        assert_eq!(next_due_after(t, 300, t + m(2)), t + m(5));
        // A run that took 12 minutes skips the slots it missed.
        assert_eq!(next_due_after(t, 300, t + m(12)), t + m(15));
        assert_eq!(next_due_after(t, 300, t + m(15)), t + m(20));
    }

    #[test]
    fn errors_are_bounded_and_redacted() {
        bugimporters_core::redact::register("schedule-test-secret-0x5e");
        let e = bounded_error(
            "GET https://bob:hunter2@x.example/a?token=abc&page=2 failed\n\
             with /b?x=1&api_key=zzz and schedule-test-secret-0x5e",
        );
        assert_eq!(
            e,
            "GET https://***@x.example/a?token=[REDACTED]&page=2 failed\\n\
             with /b?x=1&api_key=[REDACTED] and [REDACTED]"
        );
        let long = bounded_error(&"x".repeat(5000));
        assert!(long.len() < 300, "{long}");
        assert!(long.ends_with("… (5000 bytes)"), "{long}");
        assert!(long.chars().count() <= ERROR_MAX_CHARS);
    }

    #[test]
    fn host_keys() {
        let mut c = TrackerConfig::new("t", "github");
        assert_eq!(host_key(&c), "github");
        c.queries.push(bugimporters_core::Query::new(
            "https://API.github.com/repos/a/b/issues",
        ));
        assert_eq!(host_key(&c), "api.github.com");
        c.base_url = "https://bugs.example.org/trac/".into();
        assert_eq!(host_key(&c), "bugs.example.org");
    }
}
