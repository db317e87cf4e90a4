//! The crate's error type.

use crate::message::ParseError;

/// Everything that can go wrong in callcore-sip.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message did not parse or failed validation.
    #[error("SIP message rejected: {0}")]
    Parse(#[from] ParseError),
    /// An SDP body did not parse; names the line.
    #[error("bad SDP: {0}")]
    Sdp(String),
    /// A call-control operation is not possible in the current state.
    #[error("invalid state: {0}")]
    State(&'static str),
    /// A fixed contact URI cannot be rung; says why.
    #[error("contact: {0}")]
    Contact(&'static str),
    /// Socket or file I/O failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
