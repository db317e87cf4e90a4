//! Shared test helpers: the services to test against, unique names, and a
//! schema of its own per test.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use callcore_cluster::ClusterDb;
use sqlx::Executor;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "{var} is unset but CALLCORE_REQUIRE_PEERS=1 requires {what}"
            );
            eprintln!("SKIPPED: {var} is unset; {what} tests of callcore-cluster not run");
            None
        }
    }
}

/// `DATABASE_URL`, or `None` with a printed notice.
pub fn database_url() -> Option<String> {
    service("DATABASE_URL", "PostgreSQL")
}

/// `REDIS_URL`, or `None` with a printed notice.
pub fn redis_url() -> Option<String> {
    service("REDIS_URL", "Redis")
}

/// A database with its own schema, dropped by [`TestDb::drop_schema`].
pub struct TestDb {
    pub url: String,
    pub schema: String,
    pub db: ClusterDb,
}

impl TestDb {
    pub async fn open(url: &str) -> Self {
        let schema = unique("cc_cluster");
        let db = ClusterDb::connect(url, Some(&schema)).await.unwrap();
        Self {
            url: url.to_owned(),
            schema,
            db,
        }
    }

    /// Another connection to the same schema (another node).
    pub async fn another(&self) -> ClusterDb {
        ClusterDb::connect(&self.url, Some(&self.schema))
            .await
            .unwrap()
    }

    pub async fn drop_schema(self) {
        self.db.pool().close().await;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .unwrap();
        pool.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema).as_str())
            .await
            .unwrap();
        pool.close().await;
    }
}
