//! The PostgreSQL backend, through `sqlx`.
//!
//! A pool of connections, optionally pinned to one schema (`search_path`), so
//! that several centers (or test runs) can share a database. Migrations run
//! when the store connects, in one transaction under an advisory lock. A batch
//! of events is one `INSERT ... SELECT FROM UNNEST(...)` statement: one round
//! trip and one commit per batch, in order.

mod merges;
mod stores;

use crate::StoreError;
use crate::schema::{self, Dialect, MIGRATIONS};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Executor, Row};
use std::path::PathBuf;
use std::str::FromStr;

/// How the connection to PostgreSQL is protected: TLS through rustls, the
/// server's certificate checked against a CA file or the system's roots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgTls {
    /// As the URL's `sslmode` (and `sslrootcert`) say; without them, TLS
    /// when the server offers it (`prefer`), unchecked.
    #[default]
    FromUrl,
    /// No TLS.
    Disable,
    /// TLS or no connection; the certificate is not checked (it keeps
    /// eavesdroppers out, not a man in the middle).
    Require,
    /// TLS with a certificate signed by a CA the system trusts or one in
    /// `root_cert` (a PEM file, trusted besides the system's roots) and
    /// issued for the host connected to: the choice for a database across a
    /// network. (There is no check of the CA without
    /// the name: with rustls, sqlx 0.8 checks the name anyway.)
    VerifyFull {
        /// The CA certificates to trust.
        root_cert: Option<PathBuf>,
    },
}

/// Options for [`PgStore::connect_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PgOptions {
    /// Every table in this schema (created if missing); `None`: the
    /// connection's default schema.
    pub schema: Option<String>,
    /// TLS to the server.
    pub tls: PgTls,
}

impl PgOptions {
    /// Options with `tls` (no schema of its own).
    #[must_use]
    pub fn with_tls(tls: PgTls) -> Self {
        Self { schema: None, tls }
    }

    /// These options with every table in `schema`.
    #[must_use]
    pub fn in_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// `url`'s connection options with the TLS settings applied.
    fn connect_options(&self, url: &str) -> Result<PgConnectOptions, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let (mode, root) = match &self.tls {
            PgTls::FromUrl => return Ok(options),
            PgTls::Disable => (PgSslMode::Disable, None),
            PgTls::Require => (PgSslMode::Require, None),
            PgTls::VerifyFull { root_cert } => (PgSslMode::VerifyFull, root_cert.as_ref()),
        };
        let options = options.ssl_mode(mode);
        Ok(match root {
            Some(path) => options.ssl_root_cert(path),
            None => options,
        })
    }
}

/// Every callcore store in one PostgreSQL database (or schema).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use callcore::Stores;
/// use callcore_store::PgStore;
/// use std::sync::Arc;
/// let store = PgStore::connect("postgres://postgres@127.0.0.1/callcore").await?;
/// let stores = Stores::all_in(Arc::new(store));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    schema: Option<String>,
}

const MIGRATION_LOCK: i64 = 0x6361_6c6c_636f_7265; // "callcore"

fn check_schema_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "schema",
            reason: format!("{name:?} must be 1-63 of [a-z0-9_], not starting with a digit"),
        })
    }
}

impl PgStore {
    /// Connects to `url` (tables in the connection's default schema) and runs
    /// the missing migrations.
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the server cannot be reached or the
    /// migration fails; [`StoreError::SchemaTooNew`] when a newer build wrote
    /// the database.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PgOptions::default()).await
    }

    /// Connects to `url` with `options` (a schema of its own, TLS).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use callcore_store::{PgOptions, PgStore, PgTls};
    /// let tls = PgTls::VerifyFull { root_cert: Some("/etc/callcore/db-ca.pem".into()) };
    /// let store = PgStore::connect_with("postgres://callcore@db.example.net/callcore",
    ///     &PgOptions::with_tls(tls)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`connect_in_schema`](Self::connect_in_schema); a TLS handshake
    /// or certificate check that fails is a [`StoreError::Postgres`].
    pub async fn connect_with(url: &str, options: &PgOptions) -> Result<Self, StoreError> {
        if let Some(schema) = &options.schema {
            check_schema_name(schema)?;
        }
        Self::open(options.connect_options(url)?, options.schema.clone()).await
    }

    /// Connects to `url` with every table in `schema` (created if missing).
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and [`StoreError::Invalid`] for a schema
    /// name outside `[a-z0-9_]`.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PgOptions::default().in_schema(schema)).await
    }

    async fn open(url: PgConnectOptions, schema: Option<String>) -> Result<Self, StoreError> {
        if let Some(s) = &schema {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(url.clone())
                .await?;
            // nodes starting together race on IF NOT EXISTS (one of them then
            // fails on pg_namespace's unique index): the schema exists either way
            match pool
                .execute(format!("CREATE SCHEMA IF NOT EXISTS {s}").as_str())
                .await
            {
                Ok(_) => {}
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("23505" | "42P06")) => {}
                Err(e) => return Err(e.into()),
            }
            pool.close().await;
        }
        let search_path = schema.clone();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    if let Some(s) = search_path {
                        conn.execute(format!("SET search_path TO {s}").as_str())
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(url)
            .await?;
        let store = Self { pool, schema };
        store.migrate().await?;
        store.recover_records().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        tx.execute(schema::VERSION_TABLE).await?;
        let found: Option<i64> = sqlx::query("SELECT MAX(version) FROM callcore_schema")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let found = found.unwrap_or(0);
        let supported = schema::latest_version();
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > found) {
            tracing::info!(
                version = m.version,
                what = m.description,
                "postgres migration"
            );
            for statement in m.statements(Dialect::Postgres) {
                tx.execute(statement.as_str()).await?;
            }
        }
        tx.execute("DELETE FROM callcore_schema").await?;
        sqlx::query("INSERT INTO callcore_schema (version) VALUES ($1)")
            .bind(supported)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(supported)
    }

    /// The connection pool, for queries of your own.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in, when one was given.
    #[must_use]
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drops the store's schema with everything in it and closes the pool
    /// (for tests and tear-down).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the store has no schema of its own;
    /// [`StoreError::Postgres`] when the drop fails.
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        let Some(schema) = self.schema.clone() else {
            return Err(StoreError::Invalid {
                field: "schema",
                reason: "this store uses the default schema; refusing to drop it".into(),
            });
        };
        self.pool
            .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
            .await?;
        self.pool.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        assert!(check_schema_name("cc_test_1").is_ok());
        for bad in ["", "1abc", "a;drop", "Upper", &"x".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }
}
