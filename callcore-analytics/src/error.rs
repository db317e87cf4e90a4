//! The crate's error type.

/// Everything that can go wrong in analytics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyticsError {
    /// A configuration value is out of range (names the field).
    #[error("invalid {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Business hours that cannot be read (names the field,
    /// `hours.weekly[0].open`).
    #[error("invalid {field}: {reason}")]
    Hours {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A `queue_log` line could not be parsed.
    #[error("queue_log line {line}: {reason}")]
    QueueLogParse {
        /// 1-based line number (0 when parsing a single line).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Writing an export or the `queue_log` failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Writing a CSV export failed.
    #[error("csv export: {0}")]
    Export(String),
    /// JSON export failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}
