//! The SQLite backend: one file, WAL mode, `synchronous=FULL` by default.
//!
//! SQLite is driven with `rusqlite` (bundled SQLite): one writer connection
//! owned by a dedicated thread ([`writer`]), and one reader connection used on
//! tokio's blocking pool (WAL lets reads run beside a write). Every batch of
//! events is one transaction, so a batch is journaled whole or not at all, and
//! with `synchronous=FULL` a commit that returned is on disk. Events are
//! stored in a compact binary encoding ([`crate::event_codec`]).

mod journal;
mod merges;
mod stores;
mod writer;

use crate::StoreError;
use crate::schema::{self, Dialect, MIGRATIONS};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// No syncs: fast, a power loss may lose recent commits or corrupt.
    Off,
    /// In WAL mode, syncs at checkpoints only: a power loss may lose the last
    /// commits, never corrupts.
    Normal,
    /// Syncs the WAL at every commit: a commit that returned survives a power
    /// loss. The default.
    #[default]
    Full,
}

impl Synchronous {
    const fn pragma(self) -> &'static str {
        match self {
            Self::Off => "OFF",
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// Options for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// How long a connection waits for another process's lock.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
struct Inner {
    writer: writer::Writer,
    reader: Mutex<Connection>,
    path: PathBuf,
}

/// Every callcore store in one SQLite file.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use callcore::{EventJournal, Event, EventKind, Stores, Timestamp};
/// use callcore_store::SqliteStore;
/// use std::sync::Arc;
/// let dir = std::env::temp_dir().join(format!("callcore-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = Arc::new(SqliteStore::open(dir.join("center.db"))?);
/// let stores = Stores::all_in(store.clone());
/// stores.events.append(&[Event { seq: 1, at: Timestamp::from_secs(10), tenant: "default".into(),
///     kind: EventKind::QueueRemoved { queue: "support".into() } }]).await?;
/// let back = store.between(&"default".into(), Timestamp::from_secs(0), Timestamp::from_secs(60)).await?;
/// assert_eq!(back.len(), 1);
/// # drop(store); drop(stores); std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid {
            field: "path",
            reason: format!("{} cannot use WAL mode (got {mode})", path.display()),
        });
    }
    conn.pragma_update(None, "synchronous", options.synchronous.pragma())?;
    // Read pages through a memory map instead of a copy per page read (a
    // day's report reads the whole day); writes still go through the WAL.
    conn.pragma_update(None, "mmap_size", 256_i64 << 20)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates the database file, if it is missing, readable and writable by its
/// owner only (mode 0600 on Unix): SQLite gives its `-wal` and `-shm` files
/// the database file's mode. An existing file is left as it is, with a
/// warning when anyone may read it. URIs and `:memory:` are left to SQLite.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let name = path.to_string_lossy();
    if name.starts_with("file:") || name == ":memory:" {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
                if mode & 0o007 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the database is readable by every user of this machine"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(StoreError::Invalid {
            field: "path",
            reason: format!("{} cannot be created: {e}", path.display()),
        }),
    }
}

/// Brings the schema up to date; returns the version reached.
fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    conn.execute(schema::VERSION_TABLE, [])?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: Option<i64> =
        tx.query_row("SELECT MAX(version) FROM callcore_schema", [], |r| r.get(0))?;
    let found = found.unwrap_or(0);
    let supported = schema::latest_version();
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tracing::info!(
            version = m.version,
            what = m.description,
            "sqlite migration"
        );
        for statement in m.statements(Dialect::Sqlite) {
            tx.execute(&statement, [])?;
        }
    }
    tx.execute("DELETE FROM callcore_schema", [])?;
    tx.execute(
        "INSERT INTO callcore_schema (version) VALUES (?1)",
        [supported],
    )?;
    tx.commit()?;
    Ok(supported)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with the default
    /// options, and runs the missing migrations.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the file cannot be opened or migrated;
    /// [`StoreError::SchemaTooNew`] when a newer build wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &SqliteOptions::default())
    }

    /// Opens the database at `path` with `options`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: &SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)?;
        let mut writer = connect(&path, options)?;
        migrate(&mut writer)?;
        journal::recover_records(&writer)?;
        let reader = connect(&path, options)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer: writer::Writer::start(writer)?,
                reader: Mutex::new(reader),
                path,
            }),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer connection, on the writer thread.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.run(f).await
    }

    /// Runs `f` on the reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.reader.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test(flavor = "current_thread")]
    async fn the_database_and_its_wal_are_created_for_the_owner_only() {
        use callcore::{Event, EventJournal, EventKind, Timestamp};
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cc-store-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("center.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .append(&[Event {
                seq: 1,
                at: Timestamp::from_secs(1),
                tenant: "default".into(),
                kind: EventKind::QueueRemoved {
                    queue: "support".into(),
                },
            }])
            .await
            .unwrap();
        for name in ["center.db", "center.db-wal", "center.db-shm"] {
            let meta = std::fs::metadata(dir.join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_database_from_a_newer_build_and_reopens_an_up_to_date_one() {
        let dir = std::env::temp_dir().join(format!("cc-store-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.db");
        let _ = std::fs::remove_file(&path);
        drop(SqliteStore::open(&path).unwrap());
        drop(SqliteStore::open(&path).unwrap()); // idempotent
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE callcore_schema SET version = 999", [])
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
