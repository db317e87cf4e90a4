//! What can go wrong assembling or running a premise center.

/// The premise assembly's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PremiseError {
    /// The configuration file is not valid TOML or has a wrong field.
    #[error("config: {0}")]
    ConfigSyntax(String),
    /// A configuration value is wrong; `field` names it (`queues[1].skill`).
    #[error("config field `{field}`: {detail}")]
    Config {
        /// The field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A file or socket could not be opened.
    #[error("{what}: {source}")]
    Io {
        /// What was being opened.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store (SQLite or PostgreSQL) could not be opened.
    #[error("storage: {0}")]
    Store(String),
    /// The center refused something (a queue, an agent, the flow).
    #[error("center: {0}")]
    Center(#[from] callcore::CoreError),
}
