//! Accounts of the web pages (`/customs/`, `docs/web.md`): users with argon2id password
//! hashes and a role, server-side sessions, the throttling of failed logins, the audit log of
//! tracker changes and the owner of each tracker. The `customs user …` commands and
//! `bugimporters serve` both go through this module.
//!
//! * Passwords are hashed with argon2id (the `argon2` crate's default parameters) and a random
//!   salt from the operating system; only the PHC string is stored.
//! * A session id is 32 random bytes (hex) that only the browser holds; the database keeps its
//!   SHA-256, so a copy of the `sessions` table logs nobody in. Each session has its own CSRF
//!   token.
//! * Failed logins are rows per throttle key (`name:NAME`, `addr:ADDRESS`); a key with
//!   [`LOGIN_MAX_FAILURES`] failures in the last [`LOGIN_LOCKOUT_MINUTES`] minutes is locked.
//! * The audit log keeps the tracker's values before and after a change as JSON, with every
//!   key that looks like a secret removed and every URL's secret parameters scrubbed
//!   ([`audit_value`]).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use chrono::{NaiveDateTime, TimeDelta};
use password_hash::rand_core::{OsRng, RngCore};
use password_hash::SaltString;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::with_pool;
use crate::{Error, HostDb, Result};

/// The shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// The longest password accepted, in bytes (hashing is costly; nobody types more).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// The longest user name, in characters.
pub const USER_NAME_MAX_CHARS: usize = 64;
/// How long a session lasts after login, in hours.
pub const SESSION_HOURS: i64 = 12;
/// Failed logins of one name or one address that lock it out.
pub const LOGIN_MAX_FAILURES: i64 = 5;
/// How long failures count, and so how long a lock-out lasts, in minutes.
pub const LOGIN_LOCKOUT_MINUTES: i64 = 15;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Everything, including the accounts.
    Admin,
    /// Adds trackers; changes and deletes only those they created.
    Maintainer,
}

impl Role {
    /// The name stored and shown (`admin`, `maintainer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "maintainer" => Ok(Role::Maintainer),
            other => Err(Error::Usage(format!(
                "unknown role {other:?}: use admin or maintainer"
            ))),
        }
    }
}

/// A user account (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// Row id.
    pub id: i64,
    /// The login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the account was made.
    pub created_at: NaiveDateTime,
}

/// A live session, as a request's cookie finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// Whose it is.
    pub user: User,
    /// The token every form of the session sends back.
    pub csrf: String,
    /// When it ends.
    pub expires_at: NaiveDateTime,
}

/// A session just made by [`HostDb::create_session`]: the id for the cookie (stored nowhere
/// else) and the session's CSRF token.
#[derive(Clone)]
#[non_exhaustive]
pub struct NewSession {
    /// The session id, for the cookie; the database holds only its SHA-256.
    pub token: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it ends.
    pub expires_at: NaiveDateTime,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One change of a tracker, for [`HostDb::record_audit`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditChange {
    /// Who made it (a user name).
    pub actor: String,
    /// The tracker's row id (`None` when it no longer exists).
    pub tracker_id: Option<i64>,
    /// The tracker's name after the change (before, for a deletion).
    pub tracker_name: String,
    /// What was done: `add`, `edit`, `rename`, `delete`, `add-query`, `delete-query`, ...
    pub action: String,
    /// The values before (see [`audit_value`]).
    pub old: Option<Value>,
    /// The values after.
    pub new: Option<Value>,
}

impl AuditChange {
    /// A change of `tracker_name` by `actor`; the values are passed through [`audit_value`].
    pub fn new(
        actor: &str,
        tracker_id: Option<i64>,
        tracker_name: &str,
        action: &str,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> AuditChange {
        AuditChange {
            actor: actor.to_owned(),
            tracker_id,
            tracker_name: tracker_name.to_owned(),
            action: action.to_owned(),
            old: old.map(audit_value),
            new: new.map(audit_value),
        }
    }
}

/// A row of the audit log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Row id (increasing).
    pub id: i64,
    /// When.
    pub at: NaiveDateTime,
    /// Who.
    pub actor: String,
    /// The tracker's name at the time.
    pub tracker_name: String,
    /// What was done.
    pub action: String,
    /// The values before, if any.
    pub old: Option<Value>,
    /// The values after, if any.
    pub new: Option<Value>,
}

/// A tracker's values as the audit log keeps them: every key that looks like a secret
/// (`token`, `password`, … — see [`bugimporters_core::redact::is_secret_param`]) dropped at
/// any depth, and every string passed through [`bugimporters_core::redact::scrub`] (registered
/// secrets and secret URL parameters become `[REDACTED]`).
pub fn audit_value(value: &Value) -> Value {
    use bugimporters_core::redact::{is_secret_param, scrub};
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !is_secret_param(k) || k.ends_with("_env"))
                .map(|(k, v)| (k.clone(), audit_value(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(audit_value).collect()),
        Value::String(s) => Value::String(scrub(s).into_owned()),
        other => other.clone(),
    }
}

/// Checks a new user name: not empty, no spaces at either end, no control characters, at
/// most [`USER_NAME_MAX_CHARS`] characters.
pub fn check_user_name(name: &str) -> Result<()> {
    if name.is_empty() || name.trim() != name {
        return Err(Error::Usage(
            "a user name must not be empty or start or end with spaces".into(),
        ));
    }
    if name.chars().count() > USER_NAME_MAX_CHARS {
        return Err(Error::Usage(format!(
            "a user name has at most {USER_NAME_MAX_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Usage(
            "a user name must not hold control characters".into(),
        ));
    }
    Ok(())
}

/// Checks a new password: at least [`PASSWORD_MIN_CHARS`] characters, at most
/// [`PASSWORD_MAX_BYTES`] bytes. The message never shows the password.
pub fn check_password(password: &str) -> Result<()> {
    if password.trim().is_empty() {
        return Err(Error::Usage("the password is empty".into()));
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(Error::Usage(format!(
            "the password is too short: at least {PASSWORD_MIN_CHARS} characters"
        )));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(Error::Usage(format!(
            "the password is too long: at most {PASSWORD_MAX_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The argon2id hash (PHC string) of `password`, with a random salt from the operating
/// system. Costly on purpose (tens of milliseconds): call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Usage(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (false for an unreadable hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash that no password given at login matches, verified for unknown names so that they
/// cost as much time as known ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// 32 random bytes from the operating system, as 64 hex digits.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The SHA-256 (hex) of a session id: what the `sessions` table holds.
fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Runs a password hash or check on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Usage(format!("password hashing failed: {e}")))
}

macro_rules! user_from_row {
    ($row:expr) => {{
        let row = $row;
        let role: String = row.try_get("role")?;
        User {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role.parse()?,
            created_at: row.try_get("created_at")?,
        }
    }};
}

const SELECT_USERS: &str = "SELECT id, TXT(name) AS name, role, created_at FROM users";

impl HostDb {
    /// Adds a user after checking the name and the password ([`check_user_name`],
    /// [`check_password`]); the password is stored as its argon2id hash. An existing name is
    /// an error.
    pub async fn add_user(&self, name: &str, role: Role, password: &str) -> Result<User> {
        check_user_name(name)?;
        check_password(password)?;
        if self.user(name).await?.is_some() {
            return Err(Error::Usage(format!(
                "a user named {name:?} exists already"
            )));
        }
        let pw = password.to_owned();
        let hash = blocking(move || hash_password(&pw)).await??;
        let insert = self
            .sql("INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?)");
        let now = crate::now();
        with_pool!(&self.pool, |p| {
            sqlx::query(&insert)
                .bind(name)
                .bind(&hash)
                .bind(role.as_str())
                .bind(now)
                .execute(p)
                .await?;
        });
        self.user(name)
            .await?
            .ok_or_else(|| Error::Usage(format!("user {name:?} vanished")))
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let text = self.sql(&format!("{SELECT_USERS} ORDER BY name"));
        let mut users = with_pool!(&self.pool, |p| {
            let mut out = Vec::new();
            for row in sqlx::query(&text).fetch_all(p).await? {
                out.push(user_from_row!(&row));
            }
            out
        });
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    /// The user `name`, if there is one.
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let text = self.sql(&format!("{SELECT_USERS} WHERE name = ?"));
        Ok(with_pool!(&self.pool, |p| {
            match sqlx::query(&text).bind(name).fetch_optional(p).await? {
                Some(row) => Some(user_from_row!(&row)),
                None => None,
            }
        }))
    }

    /// Removes the user `name` with their sessions (their trackers stay, without an owner:
    /// only admins change them then). Returns whether there was such a user.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let del = self.sql("DELETE FROM users WHERE name = ?");
        let n = with_pool!(&self.pool, |p| sqlx::query(&del)
            .bind(name)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n > 0)
    }

    /// Sets the password of `name` (checked by [`check_password`]) and ends every session
    /// of that user. Returns whether there was such a user.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<bool> {
        check_password(password)?;
        let Some(user) = self.user(name).await? else {
            return Ok(false);
        };
        let pw = password.to_owned();
        let hash = blocking(move || hash_password(&pw)).await??;
        let update = self.sql("UPDATE users SET password_hash = ? WHERE id = ?");
        let end = self.sql("DELETE FROM sessions WHERE user_id = ?");
        with_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(&update)
                .bind(&hash)
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&end).bind(user.id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// The user whose name and password these are, if any. An unknown name costs a password
    /// check as a known one does (a dummy hash), so that timing does not tell which names
    /// exist. Throttling is the caller's ([`HostDb::login_locked`]).
    pub async fn authenticate(&self, name: &str, password: &str) -> Result<Option<User>> {
        let text = self.sql(
            "SELECT id, TXT(name) AS name, role, created_at, password_hash FROM users WHERE name = ?",
        );
        let found = with_pool!(&self.pool, |p| {
            match sqlx::query(&text).bind(name).fetch_optional(p).await? {
                Some(row) => {
                    let hash: String = row.try_get("password_hash")?;
                    Some((user_from_row!(&row), hash))
                }
                None => None,
            }
        });
        let pw = password.to_owned();
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, dummy_hash().to_owned()),
        };
        let ok = blocking(move || verify_password(&hash, &pw)).await?;
        Ok(user.filter(|_| ok))
    }

    /// Starts a session of `user_id` lasting [`SESSION_HOURS`] from `now`: a new random id
    /// (never one the browser sent: no fixation) and a new CSRF token.
    pub async fn create_session(&self, user_id: i64, now: NaiveDateTime) -> Result<NewSession> {
        let new = NewSession {
            token: random_token(),
            csrf: random_token(),
            expires_at: now + TimeDelta::hours(SESSION_HOURS),
        };
        let insert = self.sql(
            "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        );
        let prune = self.sql("DELETE FROM sessions WHERE expires_at <= ?");
        with_pool!(&self.pool, |p| {
            sqlx::query(&prune).bind(now).execute(p).await?;
            sqlx::query(&insert)
                .bind(token_hash(&new.token))
                .bind(user_id)
                .bind(&new.csrf)
                .bind(now)
                .bind(new.expires_at)
                .execute(p)
                .await?;
        });
        Ok(new)
    }

    /// The live session whose id is `token` at `now`, with its user.
    pub async fn session(&self, token: &str, now: NaiveDateTime) -> Result<Option<Session>> {
        let text = self.sql(
            "SELECT u.id, TXT(u.name) AS name, u.role, u.created_at, TXT(s.csrf) AS csrf, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = ? AND s.expires_at > ?",
        );
        let hash = token_hash(token);
        Ok(with_pool!(&self.pool, |p| {
            match sqlx::query(&text)
                .bind(&hash)
                .bind(now)
                .fetch_optional(p)
                .await?
            {
                Some(row) => Some(Session {
                    user: user_from_row!(&row),
                    csrf: row.try_get("csrf")?,
                    expires_at: row.try_get("expires_at")?,
                }),
                None => None,
            }
        }))
    }

    /// Ends the session whose id is `token` (logout). Returns whether there was one.
    pub async fn end_session(&self, token: &str) -> Result<bool> {
        let del = self.sql("DELETE FROM sessions WHERE id_hash = ?");
        let n = with_pool!(&self.pool, |p| sqlx::query(&del)
            .bind(token_hash(token))
            .execute(p)
            .await?
            .rows_affected());
        Ok(n > 0)
    }

    /// Whether any of `keys` (`name:NAME`, `addr:ADDRESS`) had [`LOGIN_MAX_FAILURES`] failed
    /// logins in the [`LOGIN_LOCKOUT_MINUTES`] minutes before `now`.
    pub async fn login_locked(&self, keys: &[String], now: NaiveDateTime) -> Result<bool> {
        let since = now - TimeDelta::minutes(LOGIN_LOCKOUT_MINUTES);
        let text = self
            .sql("SELECT COUNT(*) FROM login_failures WHERE throttle_key = ? AND failed_at > ?");
        for key in keys {
            let n: i64 = with_pool!(&self.pool, |p| sqlx::query_scalar(&text)
                .bind(key)
                .bind(since)
                .fetch_one(p)
                .await?);
            if n >= LOGIN_MAX_FAILURES {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Notes a failed login under each of `keys` at `now` (and forgets failures older than
    /// the lock-out window).
    pub async fn record_login_failure(&self, keys: &[String], now: NaiveDateTime) -> Result<()> {
        let insert = self.sql("INSERT INTO login_failures (throttle_key, failed_at) VALUES (?, ?)");
        let prune = self.sql("DELETE FROM login_failures WHERE failed_at <= ?");
        let old = now - TimeDelta::minutes(LOGIN_LOCKOUT_MINUTES);
        with_pool!(&self.pool, |p| {
            sqlx::query(&prune).bind(old).execute(p).await?;
            for key in keys {
                sqlx::query(&insert).bind(key).bind(now).execute(p).await?;
            }
        });
        Ok(())
    }

    /// Forgets the failed logins of `key` (after a successful login of that name).
    pub async fn clear_login_failures(&self, key: &str) -> Result<()> {
        let del = self.sql("DELETE FROM login_failures WHERE throttle_key = ?");
        with_pool!(&self.pool, |p| {
            sqlx::query(&del).bind(key).execute(p).await?;
        });
        Ok(())
    }

    /// Writes one row of the audit log at `now`.
    pub async fn record_audit(&self, change: &AuditChange, now: NaiveDateTime) -> Result<()> {
        let insert = self.sql(
            "INSERT INTO audit_log (created_at, actor, tracker_id, tracker_name, action, \
             old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        let (old, new) = (text(&change.old), text(&change.new));
        with_pool!(&self.pool, |p| {
            sqlx::query(&insert)
                .bind(now)
                .bind(&change.actor)
                .bind(change.tracker_id)
                .bind(&change.tracker_name)
                .bind(&change.action)
                .bind(&old)
                .bind(&new)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The newest `limit` rows of the audit log, newest first: of the tracker with row id
    /// `tracker_id`, or of every tracker (deleted ones too) with `None`.
    pub async fn audit_log(&self, tracker_id: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let filter = if tracker_id.is_some() {
            "WHERE tracker_id = ?"
        } else {
            ""
        };
        let text = self.sql(&format!(
            "SELECT id, created_at, actor, tracker_name, action, old_value, new_value \
             FROM audit_log {filter} ORDER BY id DESC LIMIT ?"
        ));
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Ok(with_pool!(&self.pool, |p| {
            let mut q = sqlx::query(&text);
            if let Some(id) = tracker_id {
                q = q.bind(id);
            }
            let mut out = Vec::new();
            for row in q.bind(limit).fetch_all(p).await? {
                out.push(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("created_at")?,
                    actor: row.try_get("actor")?,
                    tracker_name: row.try_get("tracker_name")?,
                    action: row.try_get("action")?,
                    old: json(row.try_get("old_value")?),
                    new: json(row.try_get("new_value")?),
                });
            }
            out
        }))
    }

    /// Sets the user who owns (created) the tracker with row id `tracker_id`.
    pub async fn set_tracker_owner(&self, tracker_id: i64, user_id: Option<i64>) -> Result<()> {
        let update = self.sql("UPDATE trackers SET created_by = ? WHERE id = ?");
        with_pool!(&self.pool, |p| {
            sqlx::query(&update)
                .bind(user_id)
                .bind(tracker_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The id of the user who owns the tracker with row id `tracker_id` (`None`: nobody, or
    /// no such tracker).
    pub async fn tracker_owner(&self, tracker_id: i64) -> Result<Option<i64>> {
        let text = self.sql("SELECT created_by FROM trackers WHERE id = ?");
        Ok(with_pool!(&self.pool, |p| sqlx::query_scalar::<
            _,
            Option<i64>,
        >(&text)
        .bind(tracker_id)
        .fetch_optional(p)
        .await?
        .flatten()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterY"));
        assert!(!verify_password("not a hash", "x"));
        // A random salt each time.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn weak_passwords_and_bad_names_are_refused() {
        assert!(check_password("")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let e = check_password("short").unwrap_err().to_string();
        assert!(e.contains("too short") && !e.contains("short\""), "{e}");
        assert!(check_password("long enough pass").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
        assert!(check_user_name(" alice").is_err());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("a\u{7}b").is_err());
        assert!(check_user_name(&"a".repeat(65)).is_err());
        assert!(check_user_name("alice").is_ok());
    }

    #[test]
    fn audit_values_hold_no_secret() {
        let v = serde_json::json!({
            "tracker_name": "t",
            "api_token": "ghp_x",
            "token_env": "GH_TOKEN",
            "queries": [{"url": "https://h/q?private_token=abc&x=1"}],
        });
        let a = audit_value(&v).to_string();
        assert!(!a.contains("ghp_x") && !a.contains("abc"), "{a}");
        assert!(a.contains("GH_TOKEN") && a.contains("x=1"), "{a}");
    }

    #[test]
    fn session_ids_are_random_and_stored_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
