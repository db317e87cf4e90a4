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

/// A phone number or address shown in a log line or an error message: its
/// first characters (a `+` and the country code's first two digits, or a
/// scheme's first three letters) and its last two, the rest elided, so that an
/// operator can tell calls apart and nobody can read the number back.
///
/// ```
/// use callcore::Masked;
/// assert_eq!(Masked("+4930123456789").to_string(), "+49…89");
/// assert_eq!(Masked("sip:+4930123456789@192.0.2.1").to_string(), "sip….1");
/// assert_eq!(Masked("1001").to_string(), "…");
/// ```
#[derive(Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        let head = 3;
        if chars.len() <= head + 4 {
            return f.write_str("…");
        }
        let tail = &chars[chars.len() - 2..];
        for c in &chars[..head] {
            write!(f, "{c}")?;
        }
        f.write_str("…")?;
        for c in tail {
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Only the variant name of a value's `Debug` (`Transferred` for
/// `Transferred("+4930123456")`), for log lines about enums whose fields may
/// carry numbers or what a caller said.
///
/// ```
/// use callcore::VariantOf;
/// #[derive(Debug)]
/// enum End { Transferred(String) }
/// let end = End::Transferred("+4930123456".into());
/// assert_eq!(VariantOf(&end).to_string(), "Transferred");
/// ```
pub struct VariantOf<'a, T: ?Sized>(pub &'a T);

impl<T: fmt::Debug + ?Sized> fmt::Debug for VariantOf<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Display for VariantOf<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let debug = format!("{:?}", self.0);
        let name: String = debug
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        f.write_str(&name)
    }
}
