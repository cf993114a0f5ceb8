//! The schedule's statements.

use super::*;

/// A tracker whose schedule row is missing or older than the tracker.
struct Stale {
    id: i64,
    config: TrackerConfig,
    modified: NaiveDateTime,
    row: Option<(i64, NaiveDateTime, Option<NaiveDateTime>)>,
}

impl HostDb {
    /// Creates the schedule rows of new trackers (due at `now`) and brings the rows of
    /// trackers changed since their last sync up to date (interval, politeness host): a
    /// shorter interval takes effect at once, a longer one after the next run. Returns the
    /// rows written. Safe to run from several processes at once.
    pub async fn sync_schedule(&self, now: NaiveDateTime) -> Result<usize> {
        let stale = self.stale_schedule_rows().await?;
        if stale.is_empty() {
            return Ok(0);
        }
        let insert = self.sql(&insert_ignore(
            self.backend,
            "tracker_schedule (tracker_id, host_key, interval_secs, tracker_modified_at, \
             next_due, consecutive_failures) VALUES (?, ?, ?, ?, ?, 0)",
            "tracker_id",
        ));
        let update = self.sql(
            "UPDATE tracker_schedule SET host_key = ?, interval_secs = ?, \
             tracker_modified_at = ?, next_due = ? WHERE tracker_id = ?",
        );
        let host = self.sql(&insert_ignore(
            self.backend,
            "schedule_hosts (host_key) VALUES (?)",
            "host_key",
        ));
        let n = stale.len();
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            for s in &stale {
                let interval = refresh_interval(&s.config).unwrap_or_else(|e| {
                    tracing::warn!(tracker = %s.config.tracker_name, error = %e, "bad refresh_interval; using 1d");
                    DEFAULT_REFRESH_SECS
                });
                let key = host_key(&s.config);
                sqlx::query(&host).bind(&key).execute(&mut *tx).await?;
                match s.row {
                    None => {
                        sqlx::query(&insert)
                            .bind(s.id)
                            .bind(&key)
                            .bind(interval)
                            .bind(s.modified)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some((_, next_due, last_finished)) => {
                        let sooner = last_finished.map(|f| f + TimeDelta::seconds(interval));
                        let next = sooner.map_or(next_due, |s| s.min(next_due));
                        sqlx::query(&update)
                            .bind(&key)
                            .bind(interval)
                            .bind(s.modified)
                            .bind(next)
                            .bind(s.id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
        });
        Ok(n)
    }

    async fn stale_schedule_rows(&self) -> Result<Vec<Stale>> {
        let text = self.sql(
            "SELECT t.id, TXT(t.name) AS name, t.kind, t.base_url, t.options, t.modified_at, \
             s.interval_secs, s.next_due, s.last_finished, \
             (SELECT MIN(q.url) FROM tracker_queries q WHERE q.tracker_id = t.id) AS query \
             FROM trackers t LEFT JOIN tracker_schedule s ON s.tracker_id = t.id \
             WHERE s.tracker_id IS NULL OR s.tracker_modified_at <> t.modified_at",
        );
        let stale = with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&text).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut config: TrackerConfig = TrackerConfig::new(
                    row.try_get::<String, _>("name")?,
                    row.try_get::<String, _>("kind")?,
                );
                config.base_url = row.try_get("base_url")?;
                config.extra = crate::admin::extra_options(&row.try_get::<String, _>("options")?);
                if let Some(q) = row.try_get::<Option<String>, _>("query")? {
                    config.queries.push(bugimporters_core::Query::new(q));
                }
                let interval: Option<i64> = row.try_get("interval_secs")?;
                let next_due: Option<NaiveDateTime> = row.try_get("next_due")?;
                out.push(Stale {
                    id: row.try_get("id")?,
                    config,
                    modified: row.try_get("modified_at")?,
                    row: interval
                        .zip(next_due)
                        .map(|(i, n)| Ok::<_, sqlx::Error>((i, n, row.try_get("last_finished")?)))
                        .transpose()?,
                });
            }
            out
        });
        Ok(stale)
    }

    /// Takes leases on up to `max` due trackers for `worker` (an id of the process, such as
    /// `host:pid`), each valid until `now + lease_for`, oldest due first, never more than
    /// `host_budget` live leases per politeness host over all processes. A lease that expired
    /// is taken over ([`Lease::taken_over_from`] names its old holder). Returns the leases.
    pub async fn lease_due(
        &self,
        worker: &str,
        now: NaiveDateTime,
        max: usize,
        lease_for: TimeDelta,
        host_budget: usize,
    ) -> Result<Vec<Lease>> {
        self.lease_due_by(worker, now, now, max, lease_for, host_budget)
            .await
    }

    /// [`HostDb::lease_due`] for the trackers due at `due_by` or before (`serve --once`
    /// passes its start time, so that a tracker it ran is not run again in the same pass).
    pub async fn lease_due_by(
        &self,
        worker: &str,
        now: NaiveDateTime,
        due_by: NaiveDateTime,
        max: usize,
        lease_for: TimeDelta,
        host_budget: usize,
    ) -> Result<Vec<Lease>> {
        let due_by = due_by.min(now);
        if max == 0 {
            return Ok(Vec::new());
        }
        let hosts = self.sql(
            "SELECT TXT(host_key) AS host_key, MIN(next_due) AS due FROM tracker_schedule \
             WHERE next_due <= ? AND (lease_expires IS NULL OR lease_expires < ?) \
             GROUP BY host_key ORDER BY due LIMIT 500",
        );
        let hosts: Vec<String> = with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&hosts)
                .bind(due_by)
                .bind(now)
                .fetch_all(p)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(row.try_get::<String, _>("host_key")?);
            }
            out
        });
        let mut leases = Vec::new();
        for host in hosts {
            let room = max - leases.len();
            if room == 0 {
                break;
            }
            let window = (now, due_by, lease_for);
            let taken = self
                .lease_host(worker, &host, window, room, host_budget)
                .await?;
            leases.extend(taken);
        }
        Ok(leases)
    }

    /// One host's share of a lease pass, in one transaction holding the host's row.
    async fn lease_host(
        &self,
        worker: &str,
        host: &str,
        (now, due_by, lease_for): (NaiveDateTime, NaiveDateTime, TimeDelta),
        room: usize,
        host_budget: usize,
    ) -> Result<Vec<Lease>> {
        // The host's row is waited for, not skipped: its transactions last milliseconds,
        // and a process that skipped it would find nothing to do while trackers are due.
        let lock_host = self.sql(&format!(
            "SELECT TXT(host_key) FROM schedule_hosts WHERE host_key = ?{}",
            if self.backend == Backend::Sqlite {
                ""
            } else {
                " FOR UPDATE"
            }
        ));
        let live = self
            .sql("SELECT COUNT(*) FROM tracker_schedule WHERE host_key = ? AND lease_expires >= ?");
        let pick = self.sql(&format!(
            "SELECT tracker_id, next_due, lease_owner, lease_expires, interval_secs, \
             consecutive_failures FROM tracker_schedule WHERE host_key = ? AND next_due <= ? \
             AND (lease_expires IS NULL OR lease_expires < ?) ORDER BY next_due, tracker_id \
             LIMIT ?{}",
            skip_locked(self.backend)
        ));
        let take = self.sql(
            "UPDATE tracker_schedule SET lease_owner = ?, lease_run = ?, lease_expires = ?, \
             last_started = ?, last_worker = ? WHERE tracker_id = ?",
        );
        let name = self.sql("SELECT TXT(name) FROM trackers WHERE id = ?");
        let expires = now + lease_for;
        let leases = with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            let locked: Option<String> = sqlx::query_scalar(&lock_host)
                .bind(host)
                .fetch_optional(&mut *tx)
                .await?;
            let mut leases = Vec::new();
            if locked.is_some() {
                let live: i64 = sqlx::query_scalar(&live)
                    .bind(host)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let budget = i64::try_from(host_budget.max(1)).unwrap_or(i64::MAX);
                let n = usize::try_from((budget - live).max(0))
                    .unwrap_or(0)
                    .min(room);
                if n > 0 {
                    let rows = sqlx::query(&pick)
                        .bind(host)
                        .bind(due_by)
                        .bind(now)
                        .bind(i64::try_from(n).unwrap_or(i64::MAX))
                        .fetch_all(&mut *tx)
                        .await?;
                    for row in rows {
                        let tracker_id: i64 = row.try_get("tracker_id")?;
                        let old_owner: Option<String> = row.try_get("lease_owner")?;
                        let old_expiry: Option<NaiveDateTime> = row.try_get("lease_expires")?;
                        let lease = Lease {
                            tracker_id,
                            tracker: String::new(),
                            run_id: run_id(),
                            worker: worker.to_owned(),
                            due: row.try_get("next_due")?,
                            expires,
                            taken_over_from: old_owner.filter(|_| old_expiry.is_some()),
                            interval_secs: row.try_get("interval_secs")?,
                            consecutive_failures: row.try_get("consecutive_failures")?,
                            host_key: host.to_owned(),
                        };
                        sqlx::query(&take)
                            .bind(worker)
                            .bind(&lease.run_id)
                            .bind(expires)
                            .bind(now)
                            .bind(worker)
                            .bind(tracker_id)
                            .execute(&mut *tx)
                            .await?;
                        leases.push(lease);
                    }
                }
            }
            tx.commit().await?;
            for lease in &mut leases {
                lease.tracker = sqlx::query_scalar(&name)
                    .bind(lease.tracker_id)
                    .fetch_one(p)
                    .await?;
            }
            leases
        });
        Ok(leases)
    }

    /// Pushes a held lease's expiry to `now + lease_for` (the heartbeat). `false`: the lease
    /// is lost (taken over after it expired, or released), and the run must not import.
    pub async fn renew_lease(
        &self,
        lease: &mut Lease,
        now: NaiveDateTime,
        lease_for: TimeDelta,
    ) -> Result<bool> {
        let text = self.sql(
            "UPDATE tracker_schedule SET lease_expires = ? WHERE tracker_id = ? AND lease_run = ?",
        );
        let expires = now + lease_for;
        let n = with_pool!(&self.pool, |p| sqlx::query(&text)
            .bind(expires)
            .bind(lease.tracker_id)
            .bind(&lease.run_id)
            .execute(p)
            .await?
            .rows_affected());
        if n == 1 {
            lease.expires = expires;
        }
        Ok(n == 1)
    }

    /// Records the end of a run and releases its lease: outcome, error, bugs, finish time (and
    /// `last_success` when it succeeded, kept through later failures),
    /// failures in a row and the next due time (after a success the next slot of the
    /// interval, see [`next_due_after`]; after a failure `now +`
    /// [`retry_delay_secs`]; a `refresh` asked for during the run is kept). `false`: the lease
    /// was lost and nothing was written.
    pub async fn finish_run(
        &self,
        lease: &Lease,
        now: NaiveDateTime,
        result: &RunResult,
    ) -> Result<bool> {
        let failures = match result.outcome {
            Outcome::Ok => 0,
            _ => lease.consecutive_failures + 1,
        };
        let next = match result.outcome {
            Outcome::Ok => next_due_after(lease.due, lease.interval_secs, now),
            _ => now + TimeDelta::seconds(retry_delay_secs(lease.interval_secs, failures)),
        };
        let text = self.sql(
            "UPDATE tracker_schedule SET lease_owner = NULL, lease_run = NULL, \
             lease_expires = NULL, last_finished = ?, \
             last_success = CASE WHEN ? THEN ? ELSE last_success END, \
             outcome = ?, consecutive_failures = ?, last_error = ?, last_bugs = ?, \
             next_due = CASE WHEN next_due <> ? THEN next_due ELSE ? END \
             WHERE tracker_id = ? AND lease_run = ?",
        );
        let error = result.error.as_deref().map(bounded_error);
        let n = with_pool!(&self.pool, |p| sqlx::query(&text)
            .bind(now)
            .bind(matches!(result.outcome, Outcome::Ok))
            .bind(now)
            .bind(result.outcome.as_str())
            .bind(failures)
            .bind(error)
            .bind(result.bugs)
            .bind(lease.due)
            .bind(next)
            .bind(lease.tracker_id)
            .bind(&lease.run_id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Gives a lease back without a result (shutdown, or a run abandoned before import): the
    /// tracker stays due and the next lease pass of any process runs it. `false`: it was not
    /// held any more.
    pub async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        let text = self.sql(
            "UPDATE tracker_schedule SET lease_owner = NULL, lease_run = NULL, \
             lease_expires = NULL WHERE tracker_id = ? AND lease_run = ?",
        );
        let n = with_pool!(&self.pool, |p| sqlx::query(&text)
            .bind(lease.tracker_id)
            .bind(&lease.run_id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// `customs refresh`: makes the tracker `name` (every tracker with `None`) due at `now`.
    /// A tracker running now runs again once its run ends. Returns the trackers marked.
    pub async fn mark_due(&self, name: Option<&str>, now: NaiveDateTime) -> Result<u64> {
        if let Some(n) = name {
            if self.tracker(n).await?.is_none() {
                return Err(Error::NoSuchTracker(n.to_owned()));
            }
        }
        self.sync_schedule(now).await?;
        let text = match name {
            Some(_) => self.sql(
                "UPDATE tracker_schedule SET next_due = ? WHERE tracker_id = \
                 (SELECT id FROM trackers WHERE name = ?)",
            ),
            None => self.sql("UPDATE tracker_schedule SET next_due = ?"),
        };
        let n = with_pool!(&self.pool, |p| {
            let mut q = sqlx::query(&text).bind(now);
            if let Some(n) = name {
                q = q.bind(n);
            }
            q.execute(p).await?.rows_affected()
        });
        Ok(n)
    }
}

pub(crate) mod read;
