//! The service's Prometheus metrics (`GET /metrics`), with the `prometheus-client` crate.

use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use bugimporters_hostdb::QueueStats;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The labels of one series: fixed names, values from a closed list (outcomes, changes,
/// states, forges), so that a family's series are few and known.
type Labels = Vec<(&'static str, &'static str)>;

/// A family of series told apart by [`Labels`].
type ByLabels<M> = Family<Labels, M>;

/// The series of `family` with `labels`, created on first use, handed to `f`.
fn series<M, R>(
    family: &ByLabels<M>,
    labels: &[(&'static str, &'static str)],
    f: impl FnOnce(&M) -> R,
) -> R {
    f(&family.get_or_create(&labels.to_vec()))
}

/// Counters and gauges of one process. Names start with `bugimporters_`; counters end in
/// `_total` (see `docs/operations.md` for the list).
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    runs_started: Counter,
    runs_finished: ByLabels<Counter>,
    bugs: ByLabels<Counter>,
    requests: Counter,
    run_duration: Histogram,
    lease_takeovers: Counter,
    queue_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    trackers: ByLabels<Gauge<i64, AtomicI64>>,
    hook_deliveries: ByLabels<Counter>,
    hook_refreshes: ByLabels<Counter>,
    hook_refresh_wait: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("bugimporters");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            runs_started: Counter::default(),
            runs_finished: Family::default(),
            bugs: Family::default(),
            requests: Counter::default(),
            run_duration: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            lease_takeovers: Counter::default(),
            queue_lag: Gauge::default(),
            trackers: Family::default(),
            hook_deliveries: Family::default(),
            hook_refreshes: Family::default(),
            hook_refresh_wait: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
        };
        r.register(
            "runs_started",
            "Tracker runs started",
            m.runs_started.clone(),
        );
        r.register(
            "runs_finished",
            "Tracker runs finished, by outcome (ok, failed, lost: the lease was lost and nothing was imported, released: stopped at shutdown)",
            m.runs_finished.clone(),
        );
        r.register(
            "bugs",
            "Bug records imported, by change (inserted, updated, unchanged, deleted, rejected)",
            m.bugs.clone(),
        );
        r.register("requests", "HTTP requests made by runs", m.requests.clone());
        r.register(
            "run_duration_seconds",
            "Duration of a tracker run (crawl and import)",
            m.run_duration.clone(),
        );
        r.register(
            "lease_takeovers",
            "Leases taken over from a process whose lease expired",
            m.lease_takeovers.clone(),
        );
        r.register(
            "queue_lag_seconds",
            "Now minus the oldest due time of a tracker waiting for a lease (0: none waiting)",
            m.queue_lag.clone(),
        );
        r.register(
            "trackers",
            "Trackers by state (due, running, failing: backing off, idle), over all processes",
            m.trackers.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook deliveries, by forge and outcome (queued, duplicate, ignored: not an issue event, unknown_repository, unauthorized, bad_request, too_large, unsupported_media_type, error)",
            m.hook_deliveries.clone(),
        );
        r.register(
            "webhook_refreshes",
            "Issue refreshes queued by webhooks and run by this process, by outcome (ok, failed, lost: the lease was taken by another process)",
            m.hook_refreshes.clone(),
        );
        r.register(
            "webhook_refresh_wait_seconds",
            "From a webhook's delivery (the oldest one a refresh serves) to the refresh's import",
            m.hook_refresh_wait.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = r;
        m
    }

    pub(crate) fn run_started(&self, takeover: bool) {
        self.runs_started.inc();
        if takeover {
            self.lease_takeovers.inc();
        }
    }

    pub(crate) fn run_finished(&self, outcome: &'static str, seconds: f64, requests: u64) {
        series(&self.runs_finished, &[("outcome", outcome)], Counter::inc);
        self.run_duration.observe(seconds);
        self.requests.inc_by(requests);
    }

    pub(crate) fn imported(&self, summary: &bugimporters_hostdb::ImportSummary) {
        for (change, n) in [
            ("inserted", summary.inserted),
            ("updated", summary.updated),
            ("unchanged", summary.unchanged),
            ("deleted", summary.deleted),
            ("rejected", summary.rejected),
        ] {
            series(&self.bugs, &[("change", change)], |c| c.inc_by(n));
        }
    }

    pub(crate) fn queue(&self, stats: &QueueStats, now: chrono::NaiveDateTime) {
        let lag = stats
            .oldest_due
            .map_or(0.0, |d| (now - d).num_milliseconds().max(0) as f64 / 1000.0);
        self.queue_lag.set(lag);
        let idle = stats.trackers - stats.due - stats.running - stats.failing;
        for (state, n) in [
            ("due", stats.due),
            ("running", stats.running),
            ("failing", stats.failing),
            ("idle", idle.max(0)),
        ] {
            series(&self.trackers, &[("state", state)], |g| g.set(n));
        }
    }

    pub(crate) fn hook(&self, forge: &'static str, outcome: &'static str) {
        series(
            &self.hook_deliveries,
            &[("forge", forge), ("outcome", outcome)],
            Counter::inc,
        );
    }

    pub(crate) fn hook_refresh(&self, outcome: &'static str, waited_seconds: f64) {
        series(&self.hook_refreshes, &[("outcome", outcome)], Counter::inc);
        self.hook_refresh_wait.observe(waited_seconds);
    }

    /// The metrics in the Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }
}
