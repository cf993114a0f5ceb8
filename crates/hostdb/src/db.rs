//! Connecting, the three backends, and migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Executor;

use crate::Error;

/// The default database: a SQLite file in the current directory, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://bugimporters.db";

/// Which database server a [`crate::HostDb`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (a local file, or `sqlite::memory:`).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Backend {
    /// The backend a database URL names, from its scheme.
    pub fn from_url(url: &str) -> Result<Backend, Error> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            _ => Err(Error::Usage(format!(
                "unsupported database URL {:?}: use sqlite://FILE, postgres://... or mysql://...",
                redact_url(url)
            ))),
        }
    }

    /// The name shown to people.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL/MariaDB",
        }
    }
}

/// A database URL with its password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        // Not a URL the parser takes (a bad port...): cut `user:password@` by hand.
        Err(_) => {
            let Some(start) = url.find("://").map(|i| i + 3) else {
                return url.to_owned();
            };
            let rest = &url[start..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => match rest[..at].find(':') {
                    Some(colon) => {
                        format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..])
                    }
                    None => url.to_owned(),
                },
                None => url.to_owned(),
            }
        }
    }
}

/// The connection pool of one backend.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// Runs `$body` with `$p` bound to the concrete pool of each backend. The body is compiled
/// once per backend, so it may use any sqlx API that all three support.
macro_rules! with_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
            $crate::db::Pool::MySql($p) => $body,
        }
    };
}
pub(crate) use with_pool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

pub(crate) async fn connect(url: &str) -> Result<(Pool, Backend), Error> {
    let backend = Backend::from_url(url)?;
    let shown = redact_url(url);
    let wrap = |e: sqlx::Error| Error::Connect {
        url: shown.clone(),
        message: e.to_string(),
    };
    let pool = match backend {
        Backend::Sqlite => {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(wrap)?
                .create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(60));
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 4 })
                .connect_with(opts)
                .await
                .map_err(wrap)?;
            Pool::Sqlite(pool)
        }
        Backend::Postgres => {
            let opts = PgConnectOptions::from_str(url).map_err(wrap)?;
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(15))
                .connect_with(opts)
                .await
                .map_err(wrap)?;
            Pool::Postgres(pool)
        }
        Backend::MySql => {
            let normalised = url.replacen("mariadb:", "mysql:", 1);
            let opts = MySqlConnectOptions::from_str(&normalised)
                .map_err(wrap)?
                .charset("utf8mb4");
            let pool = MySqlPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(15))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // Read committed: every statement sees the latest committed rows, as
                        // on PostgreSQL, and InnoDB takes fewer gap locks (fewer deadlocks
                        // between concurrent imports).
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                        conn.execute("SET SESSION time_zone = '+00:00'").await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(wrap)?;
            Pool::MySql(pool)
        }
    };
    Ok((pool, backend))
}

pub(crate) async fn migrate(pool: &Pool) -> Result<(), Error> {
    let r = match pool {
        Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await,
        Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
        Pool::MySql(p) => MYSQL_MIGRATIONS.run(p).await,
    };
    r.map_err(|e| Error::Migrate(e.to_string()))
}

/// Versions of the migrations embedded in this build, for the backend.
pub(crate) fn known_migrations(backend: Backend) -> Vec<(i64, String)> {
    let m = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
        Backend::MySql => &MYSQL_MIGRATIONS,
    };
    m.iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// SQL written with `?` placeholders, turned into `$1, $2, ...` for PostgreSQL, and with
/// `TXT(column)` around the selected columns that have a binary collation on MySQL (names and
/// links, compared exactly): `CAST(column AS CHAR)` there, so that they read as text, and the
/// bare column elsewhere. The SQL of this crate never has a `?` inside a literal.
pub(crate) fn sql(backend: Backend, text: &str) -> String {
    let text = expand_txt(backend, text);
    if backend != Backend::Postgres {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn expand_txt(backend: Backend, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find("TXT(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let Some(close) = after.find(')') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let column = &after[..close];
        if backend == Backend::MySql {
            out.push_str("CAST(");
            out.push_str(column);
            out.push_str(" AS CHAR)");
        } else {
            out.push_str(column);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The statement that opens a write transaction: SQLite takes the write lock at once, so
/// that two writers wait for each other instead of failing on a lock upgrade.
pub(crate) fn begin_statement(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        _ => "BEGIN",
    }
}

/// Whether an error is worth retrying the whole transaction for: deadlocks, serialisation
/// failures, lock timeouts and a busy SQLite file.
pub(crate) fn is_retryable(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let msg = db.message().to_ascii_lowercase();
    matches!(
        code.as_str(),
        "40P01" | "40001" | "55P03" | "1213" | "1205" | "5" | "6" | "517"
    ) || msg.contains("deadlock")
        || msg.contains("database is locked")
        || msg.contains("lock wait timeout")
}

/// Whether an error means the connection or the server is gone (nothing per record).
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_for_postgres() {
        assert_eq!(
            sql(Backend::Postgres, "SELECT a FROM t WHERE b = ? AND c = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $2"
        );
        assert_eq!(sql(Backend::MySql, "x = ?"), "x = ?");
        assert_eq!(
            sql(
                Backend::MySql,
                "SELECT TXT(t.name) AS name, TXT(p.name) FROM t"
            ),
            "SELECT CAST(t.name AS CHAR) AS name, CAST(p.name AS CHAR) FROM t"
        );
        assert_eq!(
            sql(Backend::Sqlite, "SELECT TXT(name) FROM t"),
            "SELECT name FROM t"
        );
    }

    #[test]
    fn backends_from_urls() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(Backend::from_url("mariadb://h/db").unwrap(), Backend::MySql);
        let e = Backend::from_url("oracle://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("oracle") && !e.contains("pw@"), "{e}");
    }
}
