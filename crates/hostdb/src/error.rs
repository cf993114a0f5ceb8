//! The error type of the host database.

/// What can go wrong in the host database. Per-record problems of an import are not errors:
/// they are counted and listed in the [`crate::ImportSummary`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad argument or value from the user (names the value).
    #[error("{0}")]
    Usage(String),
    /// A tracker record failed the registry's checks (unknown type, unknown or missing key,
    /// bad URL, unknown custom parser).
    #[error("tracker {tracker:?}: {message}")]
    InvalidTracker {
        /// The tracker's name.
        tracker: String,
        /// What is wrong.
        message: String,
    },
    /// No tracker of that name.
    #[error("no tracker named {0:?}")]
    NoSuchTracker(String),
    /// A tracker of that name exists already.
    #[error("a tracker named {0:?} exists already")]
    TrackerExists(String),
    /// The database could not be reached or opened (the URL's password is not shown).
    #[error("cannot open database {url}: {message}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// Why.
        message: String,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// An input file is unusable as a whole (unreadable, not JSON/YAML at all).
    #[error("{file}: {message}")]
    Input {
        /// The file (`-` for standard input).
        file: String,
        /// Why.
        message: String,
    },
    /// Writing the output failed.
    #[error("{0}")]
    Output(String),
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
