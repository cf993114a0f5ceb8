//! SQLite serves one process: a lock file beside the database.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use crate::{Error, Result};

/// The lock a `serve` process holds on a SQLite database for as long as it runs (released
/// by the operating system when the process ends, even by `kill -9`).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// For a SQLite database URL, locks `FILE.serve-lock` beside the database file; a second
/// `serve` on the same file gets a clear error. PostgreSQL and MySQL/MariaDB need no lock
/// (any number of processes share them through leases): `None`. So does an in-memory
/// SQLite database, which no other process can open.
pub fn instance_lock(database_url: &str) -> Result<Option<InstanceLock>> {
    let Some(rest) = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    else {
        return Ok(None);
    };
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" || database_url.contains("mode=memory") {
        return Ok(None);
    }
    let path = PathBuf::from(format!("{file}.serve-lock"));
    let handle = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            what: format!("opening the lock file {}", path.display()),
            source,
        })?;
    match handle.try_lock() {
        Ok(()) => Ok(Some(InstanceLock {
            _file: handle,
            path,
        })),
        Err(TryLockError::WouldBlock) => Err(Error::Locked(format!(
            "another `bugimporters serve` is running on the SQLite database {file} (it holds {}); \
             SQLite serves one process: stop the other one, or use PostgreSQL or MariaDB to run several",
            path.display()
        ))),
        Err(TryLockError::Error(source)) => Err(Error::Io {
            what: format!("locking {}", path.display()),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("host.db").display());
        let first = instance_lock(&url).unwrap().expect("a lock for a file");
        let e = instance_lock(&url).unwrap_err().to_string();
        assert!(e.contains("another `bugimporters serve`"), "{e}");
        drop(first);
        assert!(instance_lock(&url).unwrap().is_some());
        assert!(instance_lock("sqlite::memory:").unwrap().is_none());
        assert!(instance_lock("postgres://h/db").unwrap().is_none());
    }
}
