//! Personal data that must stay out of logs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Personal data (caller numbers, transcripts, card digits) whose `Debug` and
/// `Display` are redacted, so that a stray `tracing::info!(?interaction)` does not
/// leak it. Serialization keeps the value: stores need it.
///
/// ```
/// use callcore::Pii;
/// let number = Pii::new("+4930123456".to_owned());
/// assert_eq!(format!("{number:?}"), "Pii(<redacted>)");
/// assert_eq!(number.expose(), "+4930123456");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    /// Wraps a personal value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself; call sites that expose it are easy to audit.
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pii(<redacted>)")
    }
}

impl<T> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Pii<String> {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for Pii<String> {
    fn from(s: String) -> Self {
        Self(s)
    }
}
