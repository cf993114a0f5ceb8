//! Webhook deliveries and the issue refreshes they queue (`bugimporters serve`,
//! `POST /hooks/FORGE`).
//!
//! A signed delivery that names issues of configured trackers is stored with
//! [`HostDb::record_delivery`] in one transaction with the refreshes it asks for:
//!
//! * `webhook_deliveries` holds one row per delivery id (per forge): a redelivery or a
//!   replay of the same id finds its row and queues nothing ([`Recorded::Duplicate`]). Rows
//!   older than the retention are removed by [`HostDb::prune_deliveries`].
//! * `webhook_refreshes` is the queue: one row per (tracker, issue link) while a refresh is
//!   pending or running. Requests for an issue already queued coalesce into its row (its
//!   `generation` counts them). A process takes rows with [`HostDb::lease_refreshes`]
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB, as the schedule's leases), so a
//!   refresh runs on one process whichever received the hook; [`HostDb::finish_refresh`]
//!   removes the row unless a request came in while it ran, which leaves it queued again.
//!
//! The payload of a hook is never stored: it is a hint, and the refresh reads the issue from
//! the tracker's API.

use bugimporters_core::TrackerConfig;
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::Value;
use sqlx::Row;

use crate::db::{begin_statement, is_retryable, with_pool};
use crate::{Backend, Error, HostDb, Result};

/// The tracker key naming the environment variable that holds the tracker's webhook secret
/// (default: [`DEFAULT_SECRET_ENV`]). A key of the service, never exported to crawlers.
pub const WEBHOOK_SECRET_ENV: &str = "webhook_secret_env";

/// The environment variable holding the webhook secret of every tracker without
/// [`WEBHOOK_SECRET_ENV`].
pub const DEFAULT_SECRET_ENV: &str = "BUGIMPORTERS_WEBHOOK_SECRET";

/// The longest issue link queued (the MariaDB key's limit); longer ones are refused.
pub const LINK_MAX: usize = 760;

/// Rows named in one statement by [`HostDb::lease_refreshes`] and
/// [`HostDb::finish_refreshes`].
const KEYS_PER_STATEMENT: usize = 64;

/// `(tracker_id = ? AND link = ?) OR …`, `n` times.
fn key_filter(n: usize) -> String {
    vec!["(tracker_id = ? AND link = ?)"; n].join(" OR ")
}

/// The longest delivery id accepted, in bytes.
pub const DELIVERY_ID_MAX: usize = 200;

/// Checks a tracker's `webhook_secret_env` key: absent, or the name of an environment
/// variable (never a secret itself; the error does not show the value).
pub fn check_secret_env(config: &TrackerConfig) -> Result<()> {
    let invalid = |message: String| Error::InvalidTracker {
        tracker: config.tracker_name.clone(),
        message,
    };
    match config.extra.get(WEBHOOK_SECRET_ENV) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => bugimporters_core::redact::check_env_name(WEBHOOK_SECRET_ENV, s)
            .map_err(|e| invalid(e.to_string())),
        Some(_) => Err(invalid(format!(
            "{WEBHOOK_SECRET_ENV} must be the name of an environment variable"
        ))),
    }
}

/// The environment variable holding the webhook secret of `config`: its
/// [`WEBHOOK_SECRET_ENV`], else [`DEFAULT_SECRET_ENV`].
pub fn secret_env(config: &TrackerConfig) -> &str {
    config
        .extra
        .get(WEBHOOK_SECRET_ENV)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SECRET_ENV)
}

/// One verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// `github`, `gitlab` or `gitea`.
    pub forge: String,
    /// The forge's delivery id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`,
    /// `X-Gitea-Delivery`), at most [`DELIVERY_ID_MAX`] bytes.
    pub id: String,
    /// What it was about (`issues/edited`), for people reading the table.
    pub event: String,
}

impl Delivery {
    /// A delivery.
    pub fn new(
        forge: impl Into<String>,
        id: impl Into<String>,
        event: impl Into<String>,
    ) -> Delivery {
        Delivery {
            forge: forge.into(),
            id: id.into(),
            event: event.into(),
        }
    }
}

/// What [`HostDb::record_delivery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// Stored, its refreshes queued.
    New,
    /// The delivery id was stored before: nothing done.
    Duplicate,
}

/// A refresh of one issue of one tracker, leased to one process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshLease {
    /// The tracker's row id.
    pub tracker_id: i64,
    /// The tracker's name.
    pub tracker: String,
    /// The link (as the hook named it).
    pub link: String,
    /// The requests this lease serves (the row's `generation` when it was taken).
    pub generation: i64,
    /// When it was asked for (the oldest request not served before).
    pub requested_at: NaiveDateTime,
    /// The lease's id.
    pub run_id: String,
}

/// A tracker a hook may concern: its row id and configuration (common keys, options; no
/// queries).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HookTracker {
    /// The tracker's row id.
    pub id: i64,
    /// Its configuration.
    pub config: TrackerConfig,
}

impl HostDb {
    /// The trackers of the canonical type `kind` (`github`, `gitlab`, `gitea`), read without
    /// their queries or bug counts (one cheap query per hook).
    pub async fn hook_trackers(&self, kind: &str) -> Result<Vec<HookTracker>> {
        let text = self.sql(
            "SELECT id, TXT(name) AS name, kind, base_url, options FROM trackers \
             WHERE kind = ? ORDER BY id",
        );
        let out = with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&text).bind(kind).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut config = TrackerConfig::new(
                    row.try_get::<String, _>("name")?,
                    row.try_get::<String, _>("kind")?,
                );
                config.base_url = row.try_get("base_url")?;
                config.extra = crate::admin::extra_options(&row.try_get::<String, _>("options")?);
                out.push(HookTracker {
                    id: row.try_get("id")?,
                    config,
                });
            }
            out
        });
        Ok(out)
    }

    /// Stores `delivery` and queues a refresh of each `(tracker id, issue link)` of
    /// `refreshes`, in one transaction. A delivery id stored before changes nothing
    /// ([`Recorded::Duplicate`]). Links longer than [`LINK_MAX`] and ids longer than
    /// [`DELIVERY_ID_MAX`] are usage errors.
    pub async fn record_delivery(
        &self,
        delivery: &Delivery,
        refreshes: &[(i64, String)],
        now: NaiveDateTime,
    ) -> Result<Recorded> {
        if delivery.id.is_empty() || delivery.id.len() > DELIVERY_ID_MAX {
            return Err(Error::Usage(format!(
                "a delivery id must have 1 to {DELIVERY_ID_MAX} bytes"
            )));
        }
        if let Some((_, l)) = refreshes.iter().find(|(_, l)| l.chars().count() > LINK_MAX) {
            return Err(Error::Usage(format!(
                "issue link longer than {LINK_MAX} characters: {}",
                bugimporters_core::excerpt_plain(l)
            )));
        }
        let mut attempt = 0;
        loop {
            match self.try_record(delivery, refreshes, now).await {
                Err(Error::Db(e)) if attempt < 4 && is_retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn try_record(
        &self,
        delivery: &Delivery,
        refreshes: &[(i64, String)],
        now: NaiveDateTime,
    ) -> Result<Recorded> {
        let insert = self.sql(&match self.backend {
            Backend::MySql => "INSERT IGNORE INTO webhook_deliveries (forge, delivery_id, \
                               received_at, event, refreshes) VALUES (?, ?, ?, ?, ?)"
                .to_owned(),
            _ => "INSERT INTO webhook_deliveries (forge, delivery_id, received_at, event, \
                  refreshes) VALUES (?, ?, ?, ?, ?) ON CONFLICT (forge, delivery_id) DO NOTHING"
                .to_owned(),
        });
        let queue = self.sql(match self.backend {
            Backend::MySql => {
                "INSERT INTO webhook_refreshes (tracker_id, link, requested_at, generation) \
                 VALUES (?, ?, ?, 1) ON DUPLICATE KEY UPDATE \
                 requested_at = IF(lease_run IS NULL, requested_at, VALUES(requested_at)), \
                 generation = generation + 1"
            }
            _ => {
                "INSERT INTO webhook_refreshes (tracker_id, link, requested_at, generation) \
                 VALUES (?, ?, ?, 1) ON CONFLICT (tracker_id, link) DO UPDATE SET \
                 requested_at = CASE WHEN webhook_refreshes.lease_run IS NULL \
                 THEN webhook_refreshes.requested_at ELSE excluded.requested_at END, \
                 generation = webhook_refreshes.generation + 1"
            }
        });
        let count = self.sql(match self.backend {
            Backend::MySql => {
                "INSERT INTO tracker_webhook_deliveries (tracker_id, deliveries, last_delivery) \
                 VALUES (?, 1, ?) ON DUPLICATE KEY UPDATE deliveries = deliveries + 1, \
                 last_delivery = VALUES(last_delivery)"
            }
            _ => {
                "INSERT INTO tracker_webhook_deliveries (tracker_id, deliveries, last_delivery) \
                 VALUES (?, 1, ?) ON CONFLICT (tracker_id) DO UPDATE SET \
                 deliveries = tracker_webhook_deliveries.deliveries + 1, \
                 last_delivery = excluded.last_delivery"
            }
        });
        // Each tracker the delivery concerns counts it once, whatever its issue links.
        let mut trackers: Vec<i64> = refreshes.iter().map(|(id, _)| *id).collect();
        trackers.sort_unstable();
        trackers.dedup();
        let event: String = delivery.event.chars().take(200).collect();
        let n = i64::try_from(refreshes.len()).unwrap_or(i64::MAX);
        let recorded = with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            let stored = sqlx::query(&insert)
                .bind(&delivery.forge)
                .bind(&delivery.id)
                .bind(now)
                .bind(&event)
                .bind(n)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if stored == 0 {
                tx.rollback().await?;
                Recorded::Duplicate
            } else {
                for (tracker_id, link) in refreshes {
                    sqlx::query(&queue)
                        .bind(tracker_id)
                        .bind(link)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                for tracker_id in &trackers {
                    sqlx::query(&count)
                        .bind(tracker_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Recorded::New
            }
        });
        Ok(recorded)
    }

    /// Takes leases on up to `max` queued refreshes for `worker`, oldest request first, each
    /// valid until `now + lease_for` (a refresh whose lease expired — its process died — is
    /// taken again). Rows other processes are leasing at the same moment are skipped. The
    /// leases of one call share one run id.
    pub async fn lease_refreshes(
        &self,
        worker: &str,
        now: NaiveDateTime,
        max: usize,
        lease_for: TimeDelta,
    ) -> Result<Vec<RefreshLease>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let pick = self.sql(&format!(
            "SELECT tracker_id, TXT(link) AS link, generation, requested_at \
             FROM webhook_refreshes WHERE lease_expires IS NULL OR lease_expires < ? \
             ORDER BY requested_at, tracker_id LIMIT ?{}",
            match self.backend {
                Backend::Sqlite => "",
                _ => " FOR UPDATE SKIP LOCKED",
            }
        ));
        let run_id = format!("{:016x}", fastrand::u64(..));
        let expires = now + lease_for;
        let mut leases = with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            let rows = sqlx::query(&pick)
                .bind(now)
                .bind(i64::try_from(max).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await?;
            let mut leases = Vec::with_capacity(rows.len());
            for row in rows {
                leases.push(RefreshLease {
                    tracker_id: row.try_get("tracker_id")?,
                    tracker: String::new(),
                    link: row.try_get("link")?,
                    generation: row.try_get("generation")?,
                    requested_at: row.try_get("requested_at")?,
                    run_id: run_id.clone(),
                });
            }
            // The rows picked (and locked), in statements of KEYS_PER_STATEMENT.
            for chunk in leases.chunks(KEYS_PER_STATEMENT) {
                let text = self.sql(&format!(
                    "UPDATE webhook_refreshes SET lease_owner = ?, lease_run = ?, \
                     lease_expires = ? WHERE {}",
                    key_filter(chunk.len())
                ));
                let mut q = sqlx::query(&text).bind(worker).bind(&run_id).bind(expires);
                for l in chunk {
                    q = q.bind(l.tracker_id).bind(&l.link);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            leases
        });
        self.name_trackers(&mut leases).await?;
        Ok(leases)
    }

    /// Fills in the trackers' names of `leases` (one query per tracker).
    async fn name_trackers(&self, leases: &mut [RefreshLease]) -> Result<()> {
        let text = self.sql("SELECT TXT(name) FROM trackers WHERE id = ?");
        let mut names: std::collections::BTreeMap<i64, String> = Default::default();
        for lease in leases.iter_mut() {
            if let Some(n) = names.get(&lease.tracker_id) {
                lease.tracker = n.clone();
                continue;
            }
            let name: String = with_pool!(&self.pool, |p| sqlx::query_scalar(&text)
                .bind(lease.tracker_id)
                .fetch_one(p)
                .await?);
            names.insert(lease.tracker_id, name.clone());
            lease.tracker = name;
        }
        Ok(())
    }

    /// Ends a leased refresh: its row goes, unless the issue was asked for again while it
    /// ran (then it is queued again, unleased). `false`: the lease was not held any more.
    pub async fn finish_refresh(&self, lease: &RefreshLease) -> Result<bool> {
        Ok(self.finish_refreshes(std::slice::from_ref(lease)).await? == 1)
    }

    /// [`HostDb::finish_refresh`] for several leases of one run id (one lease pass) in a few
    /// statements. Returns how many were still held.
    pub async fn finish_refreshes(&self, leases: &[RefreshLease]) -> Result<u64> {
        let mut held = 0;
        for chunk in leases.chunks(KEYS_PER_STATEMENT) {
            let Some(first) = chunk.first() else { continue };
            if chunk.iter().any(|l| l.run_id != first.run_id) {
                return Err(Error::Usage(
                    "finish_refreshes: leases of several lease passes".into(),
                ));
            }
            // Served: the row's generation is still the one leased.
            let served: Vec<String> = chunk
                .iter()
                .map(|_| "(tracker_id = ? AND link = ? AND generation = ?)".to_owned())
                .collect();
            let delete = self.sql(&format!(
                "DELETE FROM webhook_refreshes WHERE lease_run = ? AND ({})",
                served.join(" OR ")
            ));
            let release = self.sql(&format!(
                "UPDATE webhook_refreshes SET lease_owner = NULL, lease_run = NULL, \
                 lease_expires = NULL WHERE lease_run = ? AND ({})",
                key_filter(chunk.len())
            ));
            held += with_pool!(&self.pool, |p| {
                let mut tx = p.begin_with(begin_statement(self.backend)).await?;
                let mut q = sqlx::query(&delete).bind(&first.run_id);
                for l in chunk {
                    q = q.bind(l.tracker_id).bind(&l.link).bind(l.generation);
                }
                let deleted = q.execute(&mut *tx).await?.rows_affected();
                let mut q = sqlx::query(&release).bind(&first.run_id);
                for l in chunk {
                    q = q.bind(l.tracker_id).bind(&l.link);
                }
                let released = q.execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                deleted + released
            });
        }
        Ok(held)
    }

    /// Refreshes queued or running, over all processes.
    pub async fn queued_refreshes(&self) -> Result<i64> {
        let text = "SELECT COUNT(*) FROM webhook_refreshes";
        Ok(with_pool!(&self.pool, |p| sqlx::query_scalar(text)
            .fetch_one(p)
            .await?))
    }

    /// Removes the deliveries received before `before` (their ids are forgotten: a replay
    /// after that queues a refresh again, which only re-reads the issue). Returns how many.
    pub async fn prune_deliveries(&self, before: NaiveDateTime) -> Result<u64> {
        let text = self.sql("DELETE FROM webhook_deliveries WHERE received_at < ?");
        Ok(with_pool!(&self.pool, |p| sqlx::query(&text)
            .bind(before)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Whether a delivery of `forge` with the id `id` is stored.
    pub async fn has_delivery(&self, forge: &str, id: &str) -> Result<bool> {
        let text =
            self.sql("SELECT COUNT(*) FROM webhook_deliveries WHERE forge = ? AND delivery_id = ?");
        let n: i64 = with_pool!(&self.pool, |p| sqlx::query_scalar(&text)
            .bind(forge)
            .bind(id)
            .fetch_one(p)
            .await?);
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_env_keys() {
        let mut c = TrackerConfig::new("t", "github");
        assert_eq!(secret_env(&c), DEFAULT_SECRET_ENV);
        assert!(check_secret_env(&c).is_ok());
        c.extra
            .insert(WEBHOOK_SECRET_ENV.into(), Value::String("HOOK_T".into()));
        assert_eq!(secret_env(&c), "HOOK_T");
        assert!(check_secret_env(&c).is_ok());
        c.extra.insert(
            WEBHOOK_SECRET_ENV.into(),
            Value::String("ghp_0123456789abcdefABCDEF0123456789abcd".into()),
        );
        let e = check_secret_env(&c).unwrap_err().to_string();
        assert!(
            e.contains("webhook_secret_env") && !e.contains("ghp_"),
            "{e}"
        );
        c.extra
            .insert(WEBHOOK_SECRET_ENV.into(), Value::String("a b".into()));
        assert!(check_secret_env(&c).is_err());
        c.extra.insert(WEBHOOK_SECRET_ENV.into(), Value::from(3));
        assert!(check_secret_env(&c).is_err());
    }
}
