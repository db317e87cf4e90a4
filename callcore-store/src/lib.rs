//! # callcore-store
//!
//! SQLite and PostgreSQL implementations of every callcore store: the event
//! journal (append-only, batched, ordered), call detail records, customer
//! profiles with several identities and identity merge, the recordings index,
//! campaigns with leads and dial attempts, and per-tenant usage for billing.
//!
//! The drivers are cargo features: `sqlite` (on by default) and `postgres`; a
//! build that needs only one compiles only its driver.
//!
//! - [`SqliteStore`] (feature `sqlite`): the embedded default, one file in WAL mode with
//!   `synchronous=FULL`, driven by `rusqlite` (see the README for why not sqlx).
//! - [`PgStore`] (feature `postgres`): PostgreSQL through `sqlx`, for shared and cloud centers,
//!   over TLS (rustls; [`PgTls`]: the server's certificate checked against a
//!   CA file or the system's roots).
//!
//! Both run their migrations when opened and refuse a database written by a
//! newer build ([`StoreError::SchemaTooNew`]). Every query is scoped by tenant.
//! Both pass the same test suite (`tests/backends.rs`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use callcore::{Stores};
//! use callcore_runtime::Center;
//! use callcore_store::{SqliteStore, StoreExt};
//! use std::sync::Arc;
//! let dir = std::env::temp_dir().join(format!("callcore-lib-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let store = Arc::new(SqliteStore::open(dir.join("center.db"))?);
//! assert_eq!(store.schema_version().await?, callcore_store::schema::latest_version());
//! // A center that journals to SQLite.
//! let center = Center::builder().stores(Stores::all_in(store.clone())).build()?;
//! # drop(center); drop(store); std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
mod error;
pub mod event_codec;
mod ext;
#[cfg(feature = "postgres")]
mod postgres;
mod recovery;
pub mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod synthetic;

pub use error::StoreError;
pub use ext::{StoreExt, TenantUsage, merge_profiles};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PgOptions, PgStore, PgTls};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};
