//! Conditional-request validators of `bugimporters serve`, kept per tracker and URL
//! (`http_validators`, migration 20261206000004).
//!
//! The service loads a tracker's validators into its HTTP client before each run of that
//! tracker ([`HostDb::tracker_validators`]) and stores them back only after the run's records
//! were imported ([`HostDb::save_tracker_validators`]): a validator must never make a later
//! run skip ("`304`, unchanged") a page whose records were lost. Keyed by tracker id, so one
//! tracker's validators are never sent for another's requests, and removed with the tracker.

use std::collections::HashMap;

use bugimporters_core::fetch::Validators;
use sqlx::Row;

use crate::db::{begin_statement, with_pool};
use crate::{Error, HostDb, Result};

/// The longest URL kept (the MariaDB key's limit); a longer one is not stored, and its page
/// is fetched in full next time.
pub const VALIDATOR_URL_MAX: usize = 760;
/// The longest `ETag` kept.
const ETAG_MAX: usize = 1024;
/// The longest `Last-Modified` kept (an HTTP date is 29 characters).
const LAST_MODIFIED_MAX: usize = 255;
/// The longest `Link` header kept (GitHub's are two URLs).
const LINK_MAX: usize = 8192;
/// Rows inserted by one statement.
const ROWS_PER_STATEMENT: usize = 200;

/// Whether `v` fits the table (a hostile server can send any header).
fn storable(url: &str, v: &Validators) -> bool {
    let fits = |s: &Option<String>, max: usize| s.as_ref().is_none_or(|s| s.chars().count() <= max);
    url.chars().count() <= VALIDATOR_URL_MAX
        && (v.etag.is_some() || v.last_modified.is_some())
        && fits(&v.etag, ETAG_MAX)
        && fits(&v.last_modified, LAST_MODIFIED_MAX)
        && fits(&v.link, LINK_MAX)
}

impl HostDb {
    async fn validator_tracker_id(&self, tracker: &str) -> Result<i64> {
        let q = self.sql("SELECT id FROM trackers WHERE name = ?");
        let id: Option<i64> = with_pool!(&self.pool, |p| sqlx::query_scalar(&q)
            .bind(tracker)
            .fetch_optional(p)
            .await?);
        id.ok_or_else(|| Error::NoSuchTracker(tracker.to_owned()))
    }

    /// The validators stored for `tracker`'s URLs (empty when none); an unknown tracker is
    /// [`Error::NoSuchTracker`].
    pub async fn tracker_validators(&self, tracker: &str) -> Result<HashMap<String, Validators>> {
        let id = self.validator_tracker_id(tracker).await?;
        let q = self.sql(
            "SELECT TXT(url) AS url, TXT(etag) AS etag, last_modified, link FROM http_validators \
             WHERE tracker_id = ?",
        );
        Ok(with_pool!(&self.pool, |p| {
            let rows = sqlx::query(&q).bind(id).fetch_all(p).await?;
            let mut out = HashMap::with_capacity(rows.len());
            for row in rows {
                let v = Validators {
                    etag: row.try_get("etag")?,
                    last_modified: row.try_get("last_modified")?,
                    link: row.try_get("link")?,
                };
                out.insert(row.try_get::<String, _>("url")?, v);
            }
            out
        }))
    }

    /// Replaces every validator of `tracker` by `validators`, in one transaction. Entries
    /// too long for the table (a URL over [`VALIDATOR_URL_MAX`] characters, a huge `ETag`)
    /// are left out. Returns how many were stored.
    pub async fn save_tracker_validators(
        &self,
        tracker: &str,
        validators: &HashMap<String, Validators>,
    ) -> Result<usize> {
        let id = self.validator_tracker_id(tracker).await?;
        let mut rows: Vec<(&String, &Validators)> =
            validators.iter().filter(|(u, v)| storable(u, v)).collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let delete = self.sql("DELETE FROM http_validators WHERE tracker_id = ?");
        let inserts: Vec<(String, &[(&String, &Validators)])> = rows
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| {
                let marks = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                let text = format!(
                    "INSERT INTO http_validators (tracker_id, url, etag, last_modified, link) \
                     VALUES {marks}"
                );
                (self.sql(&text), chunk)
            })
            .collect();
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin_with(begin_statement(self.backend)).await?;
            sqlx::query(&delete).bind(id).execute(&mut *tx).await?;
            for (text, chunk) in &inserts {
                let mut q = sqlx::query(text);
                for (url, v) in chunk.iter() {
                    q = q
                        .bind(id)
                        .bind(url.as_str())
                        .bind(v.etag.as_deref())
                        .bind(v.last_modified.as_deref())
                        .bind(v.link.as_deref());
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(rows.len())
    }
}
