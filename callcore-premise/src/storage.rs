//! Where the premise keeps its journal, records, customers, recordings index
//! and campaigns: SQLite (`center.db` in the data folder, the default) or
//! PostgreSQL.
//!
//! ```toml
//! [storage]
//! database = "postgres"          # reads DATABASE_URL from the environment
//! # database_url = "postgres://callcore@db.example.net/callcore"   # or say it here
//! # database_schema = "center_a" # tables in a schema of their own
//! ```
//!
//! `database_url` alone implies PostgreSQL. Recordings stay files in the
//! data folder whichever database indexes them. Either way the store runs
//! its migrations when opened, and the center closes at start the calls an
//! earlier run left in progress (`EndReason::Interrupted`).

use std::sync::Arc;

use callcore::Stores;
use callcore_store::{PgOptions, PgStore, SqliteStore};

use crate::PremiseError;
use crate::config::{PremiseConfig, StorageSection};

/// The environment variable a PostgreSQL center without `database_url` reads.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// Which database the `[storage]` section chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// SQLite in the data folder.
    Sqlite,
    /// PostgreSQL at this URL, in this schema (or the connection's default).
    Postgres {
        /// The server's URL.
        url: String,
        /// The schema of the center's tables.
        schema: Option<String>,
    },
}

impl Database {
    /// The choice of `storage`; `env` answers for `DATABASE_URL`.
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming `storage.database` (an unknown
    /// database) or `storage.database_url` (PostgreSQL without a URL).
    pub fn of(
        storage: &StorageSection,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Database, PremiseError> {
        let config = |field: &str, detail: &str| PremiseError::Config {
            field: format!("storage.{field}"),
            detail: detail.to_owned(),
        };
        let postgres = match storage.database.as_str() {
            "sqlite" => storage.database_url.is_some(),
            "postgres" | "postgresql" => true,
            _ => return Err(config("database", "must be \"sqlite\" or \"postgres\"")),
        };
        if !postgres {
            if storage.database_schema.is_some() {
                return Err(config("database_schema", "only for PostgreSQL"));
            }
            return Ok(Database::Sqlite);
        }
        let url = match &storage.database_url {
            Some(url) => url.clone(),
            None => env(DATABASE_URL_ENV)
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| {
                    config(
                        "database_url",
                        "PostgreSQL needs database_url or the DATABASE_URL environment variable",
                    )
                })?,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(config("database_url", "must start with postgres://"));
        }
        Ok(Database::Postgres {
            url,
            schema: storage.database_schema.clone(),
        })
    }

    /// Where the records go, without the URL's credentials (for the banner).
    #[must_use]
    pub fn describe(&self, config: &PremiseConfig) -> String {
        match self {
            Database::Sqlite => format!("SQLite {}", config.database_path().display()),
            Database::Postgres { url, schema } => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                let host = host.split_once('?').map_or(host, |(h, _)| h);
                match schema {
                    Some(s) => format!("PostgreSQL {host} (schema {s})"),
                    None => format!("PostgreSQL {host}"),
                }
            }
        }
    }
}

/// Opens the database `config` chooses (migrations run, records a crash
/// left unsaved rebuilt) and returns every store in it.
///
/// # Errors
/// [`PremiseError::Config`] for a wrong `[storage]`; [`PremiseError::Store`]
/// when the database cannot be opened or reached.
pub async fn open(config: &PremiseConfig) -> Result<(Stores, Database), PremiseError> {
    let database = Database::of(&config.storage, |k| std::env::var(k).ok())?;
    let stores = match &database {
        Database::Sqlite => Stores::all_in(Arc::new(
            SqliteStore::open(config.database_path())
                .map_err(|e| PremiseError::Store(e.to_string()))?,
        )),
        Database::Postgres { url, schema } => {
            let mut options = PgOptions::default();
            if let Some(s) = schema {
                options = options.in_schema(s.as_str());
            }
            let store = PgStore::connect_with(url, &options)
                .await
                .map_err(|e| PremiseError::Store(format!("{}: {e}", database.describe(config))))?;
            Stores::all_in(Arc::new(store))
        }
    };
    Ok((stores, database))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn storage(database: &str, url: Option<&str>) -> StorageSection {
        StorageSection {
            database: database.into(),
            database_url: url.map(str::to_owned),
            ..StorageSection::default()
        }
    }

    #[test]
    fn the_storage_section_chooses_the_database() {
        let none = |_: &str| None;
        assert_eq!(
            Database::of(&storage("sqlite", None), none).unwrap(),
            Database::Sqlite
        );
        let url = "postgres://u:secret@db:5432/cc";
        let pg = Database::of(&storage("sqlite", Some(url)), none).unwrap();
        assert!(matches!(pg, Database::Postgres { .. }));
        let from_env = Database::of(&storage("postgres", None), |_| Some(url.to_owned())).unwrap();
        assert_eq!(from_env, pg);
        let config = PremiseConfig::defaults();
        let shown = pg.describe(&config);
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(shown, "PostgreSQL db:5432/cc");
    }

    #[test]
    fn a_wrong_storage_section_names_its_field() {
        let none = |_: &str| None;
        let err = |s: StorageSection| match Database::of(&s, none) {
            Err(PremiseError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(err(storage("postgres", None)), "storage.database_url");
        assert_eq!(err(storage("mysql", None)), "storage.database");
        assert_eq!(
            err(storage("postgres", Some("mysql://x"))),
            "storage.database_url"
        );
    }
}
