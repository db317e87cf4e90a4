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

use crate::PremiseError;
use crate::config::{PremiseConfig, StorageSection};

/// The environment variable a PostgreSQL center without `database_url` reads.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// The database drivers compiled in (the `sqlite` and `postgres` features).
#[derive(Debug, Clone, Copy)]
struct Drivers {
    sqlite: bool,
    postgres: bool,
}

impl Drivers {
    const BUILT: Drivers = Drivers {
        sqlite: cfg!(feature = "sqlite"),
        postgres: cfg!(feature = "postgres"),
    };
}

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
        Self::of_in(storage, env, Drivers::BUILT)
    }

    /// [`Database::of`] in a build with `drivers`.
    fn of_in(
        storage: &StorageSection,
        env: impl Fn(&str) -> Option<String>,
        drivers: Drivers,
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
            if !drivers.sqlite {
                return Err(config(
                    "database",
                    "this build has no SQLite driver (build callcore-premise with the \
                     `sqlite` feature, or choose \"postgres\")",
                ));
            }
            return Ok(Database::Sqlite);
        }
        if !drivers.postgres {
            return Err(config(
                "database",
                "this build has no PostgreSQL driver (build callcore-premise with the \
                 `postgres` feature, or choose \"sqlite\")",
            ));
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
        Database::Sqlite => open_sqlite(config)?,
        Database::Postgres { url, schema } => {
            open_postgres(url, schema.as_deref(), &database.describe(config)).await?
        }
    };
    Ok((stores, database))
}

#[cfg(feature = "sqlite")]
fn open_sqlite(config: &PremiseConfig) -> Result<Stores, PremiseError> {
    let store = callcore_store::SqliteStore::open(config.database_path())
        .map_err(|e| PremiseError::Store(e.to_string()))?;
    Ok(Stores::all_in(Arc::new(store)))
}

/// Never called: [`Database::of`] refuses SQLite in a build without it.
#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &PremiseConfig) -> Result<Stores, PremiseError> {
    Err(PremiseError::Config {
        field: "storage.database".into(),
        detail: "this build has no SQLite driver".into(),
    })
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &str,
    schema: Option<&str>,
    shown: &str,
) -> Result<Stores, PremiseError> {
    let mut options = callcore_store::PgOptions::default();
    if let Some(s) = schema {
        options = options.in_schema(s);
    }
    let store = callcore_store::PgStore::connect_with(url, &options)
        .await
        .map_err(|e| PremiseError::Store(format!("{shown}: {e}")))?;
    Ok(Stores::all_in(Arc::new(store)))
}

/// Never called: [`Database::of`] refuses PostgreSQL in a build without it.
#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str, _: Option<&str>, _: &str) -> Result<Stores, PremiseError> {
    Err(PremiseError::Config {
        field: "storage.database".into(),
        detail: "this build has no PostgreSQL driver".into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BOTH: Drivers = Drivers {
        sqlite: true,
        postgres: true,
    };

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
            Database::of_in(&storage("sqlite", None), none, BOTH).unwrap(),
            Database::Sqlite
        );
        let url = "postgres://u:secret@db:5432/cc";
        let pg = Database::of_in(&storage("sqlite", Some(url)), none, BOTH).unwrap();
        assert!(matches!(pg, Database::Postgres { .. }));
        let from_env =
            Database::of_in(&storage("postgres", None), |_| Some(url.to_owned()), BOTH).unwrap();
        assert_eq!(from_env, pg);
        let config = PremiseConfig::defaults();
        let shown = pg.describe(&config);
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(shown, "PostgreSQL db:5432/cc");
    }

    #[test]
    fn a_wrong_storage_section_names_its_field() {
        let none = |_: &str| None;
        let err = |s: StorageSection| match Database::of_in(&s, none, BOTH) {
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

    #[test]
    fn a_database_the_build_lacks_is_a_config_error_naming_storage_database() {
        let sqlite_only = Drivers {
            sqlite: true,
            postgres: false,
        };
        let postgres_only = Drivers {
            sqlite: false,
            postgres: true,
        };
        let url = Some("postgres://db/cc");
        for (section, drivers, feature) in [
            (storage("postgres", url), sqlite_only, "`postgres` feature"),
            (storage("sqlite", url), sqlite_only, "`postgres` feature"),
            (storage("sqlite", None), postgres_only, "`sqlite` feature"),
        ] {
            match Database::of_in(&section, |_| None, drivers) {
                Err(PremiseError::Config { field, detail }) => {
                    assert_eq!(field, "storage.database");
                    assert!(detail.contains(feature), "{detail}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(Database::of_in(&storage("sqlite", None), |_| None, sqlite_only).is_ok());
    }
}
