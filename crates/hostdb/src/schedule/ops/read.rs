//! Reading the schedule: `customs status`, the service's metrics and health.

use super::*;

impl HostDb {
    /// Every tracker's schedule, by name (`customs status`). A tracker that no service has
    /// scheduled yet shows its configured interval and no due time.
    pub async fn schedule_status(&self, now: NaiveDateTime) -> Result<Vec<ScheduleEntry>> {
        let text = self.sql(
            "SELECT TXT(t.name) AS name, t.options, s.interval_secs, s.next_due, \
             s.last_started, s.last_finished, s.outcome, s.consecutive_failures, s.last_error, \
             s.last_worker, s.lease_owner, s.lease_expires, \
             (SELECT COUNT(*) FROM bugs b WHERE b.tracker_id = t.id) AS bugs \
             FROM trackers t LEFT JOIN tracker_schedule s ON s.tracker_id = t.id",
        );
        let mut entries = with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&text).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let name: String = row.try_get("name")?;
                let interval = match row.try_get::<Option<i64>, _>("interval_secs")? {
                    Some(i) => i,
                    None => {
                        let mut c = TrackerConfig::new(name.clone(), "");
                        c.extra =
                            crate::admin::extra_options(&row.try_get::<String, _>("options")?);
                        refresh_interval(&c).unwrap_or(DEFAULT_REFRESH_SECS)
                    }
                };
                let owner: Option<String> = row.try_get("lease_owner")?;
                let expires: Option<NaiveDateTime> = row.try_get("lease_expires")?;
                out.push(ScheduleEntry {
                    name,
                    refresh_interval: format_interval(interval),
                    next_due: row.try_get("next_due")?,
                    last_started: row.try_get("last_started")?,
                    last_finished: row.try_get("last_finished")?,
                    outcome: row.try_get("outcome")?,
                    consecutive_failures: row
                        .try_get::<Option<i64>, _>("consecutive_failures")?
                        .unwrap_or(0),
                    last_error: row.try_get("last_error")?,
                    bugs: row.try_get("bugs")?,
                    last_worker: row.try_get("last_worker")?,
                    running_on: owner.filter(|_| expires.is_some_and(|e| e >= now)),
                });
            }
            out
        });
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Counts of the schedule at `now`, for metrics and `/healthz`.
    pub async fn queue_stats(&self, now: NaiveDateTime) -> Result<QueueStats> {
        let int = match self.backend {
            Backend::MySql => "SIGNED",
            Backend::Postgres => "BIGINT",
            _ => "INTEGER",
        };
        let sum = |cond: &str| {
            format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS {int})")
        };
        let free = "(lease_expires IS NULL OR lease_expires < ?)";
        let text =
            self.sql(&format!(
            "SELECT CAST(COUNT(*) AS {int}) AS trackers, {} AS running, {} AS due, {} AS failing, \
             MIN(CASE WHEN {free} AND next_due <= ? THEN next_due END) AS oldest \
             FROM tracker_schedule",
            sum("lease_expires >= ?"),
            sum(&format!("{free} AND next_due <= ?")),
            sum(&format!("next_due > ? AND consecutive_failures > 0 AND {free}")),
        ));
        let stats = with_pool!(&self.pool, |p| {
            let row = sqlx::query(&text)
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(now)
                .fetch_one(p)
                .await?;
            let int = |name: &str| row.try_get::<i64, _>(name);
            QueueStats {
                trackers: int("trackers")?,
                running: int("running")?,
                due: int("due")?,
                failing: int("failing")?,
                oldest_due: row.try_get("oldest")?,
            }
        });
        Ok(stats)
    }
}

/// `customs status` as a table: one line per tracker.
pub fn render_status(entries: &[ScheduleEntry]) -> String {
    let t = |v: &Option<NaiveDateTime>| {
        v.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    let mut rows = vec![[
        "NAME".to_owned(),
        "EVERY".to_owned(),
        "NEXT DUE".to_owned(),
        "LAST FINISHED".to_owned(),
        "OUTCOME".to_owned(),
        "FAILS".to_owned(),
        "BUGS".to_owned(),
        "WORKER".to_owned(),
    ]];
    for e in entries {
        let worker = match (&e.running_on, &e.last_worker) {
            (Some(r), _) => format!("{r} (running)"),
            (None, Some(w)) => w.clone(),
            (None, None) => "-".to_owned(),
        };
        rows.push([
            e.name.clone(),
            e.refresh_interval.clone(),
            e.next_due
                .map_or_else(|| "now (not scheduled yet)".to_owned(), |d| t(&Some(d))),
            t(&e.last_finished),
            e.outcome.clone().unwrap_or_else(|| "-".to_owned()),
            e.consecutive_failures.to_string(),
            e.bugs.to_string(),
            worker,
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for e in entries.iter().filter(|e| e.last_error.is_some()) {
        out.push_str(&format!(
            "{}: last error: {}\n",
            e.name,
            e.last_error.as_deref().unwrap_or_default()
        ));
    }
    out
}
