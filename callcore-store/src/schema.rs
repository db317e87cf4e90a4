//! The schema and its migrations, shared by both databases.
//!
//! Each migration is written once with three placeholders, `{PK}` (an
//! auto-incrementing primary key), `{JSON}` (the type of a JSON payload) and
//! `{BLOB}` (bytes), which each dialect fills in. A table `callcore_schema` holds the version
//! reached; opening a store applies the missing migrations in order, each in
//! its own transaction, and refuses a database written by a newer build.

/// The SQL dialect a migration is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL 13 or newer.
    Postgres,
}

/// One schema migration.
#[derive(Debug)]
pub struct Migration {
    /// The version the database is at after it.
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// The statements, separated by `;`, with `{PK}`, `{JSON}` and `{BLOB}`
    /// placeholders.
    template: &'static str,
}

impl Migration {
    /// The statements rendered for `dialect`, one per element.
    #[must_use]
    pub fn statements(&self, dialect: Dialect) -> Vec<String> {
        let (pk, json, blob) = match dialect {
            Dialect::Sqlite => ("INTEGER PRIMARY KEY", "TEXT", "BLOB"),
            Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "JSONB", "BYTEA"),
        };
        self.template
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.replace("{PK}", pk)
                    .replace("{JSON}", json)
                    .replace("{BLOB}", blob)
            })
            .collect()
    }
}

/// The statement that creates the version table if it is missing.
pub const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS callcore_schema (version BIGINT NOT NULL)";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "journal, interactions, customers, recordings, campaigns",
        template: r"
CREATE TABLE events (
    id {PK},
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    interaction TEXT,
    agent TEXT,
    kind TEXT NOT NULL,
    payload {JSON} NOT NULL
);
CREATE INDEX events_by_interaction ON events (tenant, interaction, id) WHERE interaction IS NOT NULL;
CREATE INDEX events_by_time ON events (tenant, at_ms, id);
CREATE TABLE interactions (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    channel TEXT NOT NULL,
    customer TEXT,
    queue TEXT,
    agent TEXT,
    ended_at_ms BIGINT,
    payload {JSON} NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX interactions_by_time ON interactions (tenant, created_at_ms);
CREATE INDEX interactions_by_customer ON interactions (tenant, customer, created_at_ms) WHERE customer IS NOT NULL;
CREATE TABLE customers (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    payload {JSON} NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE customer_identities (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, value)
);
CREATE INDEX customer_identities_by_customer ON customer_identities (tenant, customer);
CREATE TABLE recordings (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    interaction TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    payload {JSON} NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX recordings_by_interaction ON recordings (tenant, interaction, started_at_ms);
CREATE TABLE campaigns (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    payload {JSON} NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE leads (
    tenant TEXT NOT NULL,
    campaign TEXT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at_ms BIGINT,
    payload {JSON} NOT NULL,
    PRIMARY KEY (tenant, campaign, id)
);
CREATE INDEX leads_due ON leads (tenant, campaign, status, next_attempt_at_ms);
CREATE TABLE dial_attempts (
    id {PK},
    tenant TEXT NOT NULL,
    campaign TEXT NOT NULL,
    lead TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    payload {JSON} NOT NULL
);
CREATE INDEX dial_attempts_by_campaign ON dial_attempts (tenant, campaign, id)
",
    },
    Migration {
        version: 2,
        description: "compact event bodies",
        // SQLite journals each event kind in a compact binary encoding
        // (`event_codec`) and leaves `payload` empty; rows written before keep
        // their JSON payload and no body. PostgreSQL keeps JSONB payloads
        // (queryable in SQL) and no body.
        template: "ALTER TABLE events ADD COLUMN body {BLOB}",
    },
    Migration {
        version: 3,
        description: "what each customer merge changed, to undo it",
        // the last merge of each pair: a `MergeUndo` (the kept profile before,
        // the absorbed profile, the interaction records that moved)
        template: r"
CREATE TABLE customer_merges (
    tenant TEXT NOT NULL,
    kept TEXT NOT NULL,
    absorbed TEXT NOT NULL,
    payload {JSON} NOT NULL,
    PRIMARY KEY (tenant, kept, absorbed)
)",
    },
];

/// The newest schema version this build knows.
#[must_use]
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_render_per_dialect() {
        for pair in MIGRATIONS.windows(2) {
            assert_eq!(pair[1].version, pair[0].version + 1);
        }
        let sqlite = MIGRATIONS[0].statements(Dialect::Sqlite);
        let pg = MIGRATIONS[0].statements(Dialect::Postgres);
        assert_eq!(sqlite.len(), pg.len());
        assert!(sqlite[0].contains("INTEGER PRIMARY KEY"));
        assert!(pg[0].contains("BIGSERIAL PRIMARY KEY") && pg[0].contains("JSONB"));
        assert!(sqlite.iter().all(|s| !s.contains('{')));
        assert_eq!(
            MIGRATIONS[1].statements(Dialect::Postgres),
            ["ALTER TABLE events ADD COLUMN body BYTEA"]
        );
    }
}
