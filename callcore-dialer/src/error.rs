//! The dialer's error type.

/// Everything that can go wrong in the dialer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialerError {
    /// A campaign setting is out of range; `field` names it.
    #[error("invalid campaign config: {field}: {reason}")]
    Config {
        /// The field (`"abandonment.cap"`, `"ring_timeout"`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A phone number could not be normalised to E.164.
    #[error("invalid phone number: {0}")]
    PhoneNumber(#[from] crate::rules::PhoneNumberError),
    /// An IANA time-zone name is unknown.
    #[error("unknown time zone {name:?}")]
    TimeZone {
        /// The name as given.
        name: String,
    },
    /// A calling window is malformed.
    #[error("invalid calling window: {0}")]
    Window(String),
    /// The CSV file itself (not one row) cannot be read: no header, no phone column.
    #[error("lead file: {0}")]
    LeadFile(String),
    /// A lead id is not in the campaign.
    #[error("unknown lead {0}")]
    UnknownLead(String),
    /// The store or transport failed (tokio glue).
    #[error(transparent)]
    Core(#[from] callcore::CoreError),
}
