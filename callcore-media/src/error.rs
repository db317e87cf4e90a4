//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in callcore-media.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A packet was shorter than its headers say it must be.
    #[error("{what}: truncated packet, need {needed} bytes, have {have}")]
    Truncated {
        /// Which structure was being parsed.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// A field held a value the format does not allow.
    #[error("{what}: invalid {field}: {detail}")]
    InvalidField {
        /// Which structure was being parsed.
        what: &'static str,
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        detail: String,
    },
    /// An output buffer or a value was too large for the wire format.
    #[error("{what}: too large ({detail})")]
    TooLarge {
        /// Which structure was being built.
        what: &'static str,
        /// Details.
        detail: String,
    },
    /// A configuration value was out of range.
    #[error("invalid configuration {field}: {detail}")]
    Config {
        /// The configuration field.
        field: &'static str,
        /// Why it is invalid.
        detail: String,
    },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    File {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A media file could not be decoded.
    #[error("{path}: cannot decode audio: {detail}")]
    Decode {
        /// The file involved.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },
    /// A codec could not be created or could not encode or decode.
    #[error("codec {codec}: {detail}")]
    Codec {
        /// The codec's SDP name.
        codec: String,
        /// What went wrong.
        detail: String,
    },
    /// A socket error in the UDP glue.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias for this crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
