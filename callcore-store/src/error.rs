//! The crate's error type.

use callcore::CoreError;

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL (or the connection to it) reported an error.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// A stored row could not be encoded or decoded.
    #[error("bad stored {what}: {source}")]
    Codec {
        /// What was being encoded or decoded (`"event"`, `"interaction"`).
        what: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The database was written by a newer version of this crate.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// An argument was out of range or inconsistent (names the field).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The argument.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Something looked up does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// Something to be made exists already.
    #[error("{what} exists already: {id}")]
    Exists {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The blocking worker that runs SQLite died (a panic in SQLite glue).
    #[error("sqlite worker failed: {0}")]
    Worker(String),
}

impl StoreError {
    pub(crate) fn codec(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Self::Codec { what, source }
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => Self::NotFound { what, id },
            // the caller's argument, not the store's trouble
            StoreError::Invalid { field, reason } => Self::Invalid { field, reason },
            StoreError::Exists { what, id } => Self::AlreadyExists { what, id },
            other => Self::Store(other.to_string()),
        }
    }
}
