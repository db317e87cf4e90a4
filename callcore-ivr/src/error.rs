//! The crate's error type.

/// Everything that can go wrong loading models, knowledge bases and flows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IvrError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A JSON document did not parse or did not have the expected shape.
    #[error("{what}: invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// What was being loaded ("intents file", "knowledge base").
        what: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// A document parsed but a field has an unusable value.
    #[error("{what}: {field}: {message}")]
    Invalid {
        /// What was being loaded ("intents file", "knowledge base", "flow").
        what: &'static str,
        /// The offending field, e.g. `intents[2].name`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Audio could not be decoded (not a PCM WAV file, truncated data).
    #[error("audio: {message}")]
    Audio {
        /// What is wrong with it.
        message: String,
    },
    /// A speech provider (recognizer or synthesizer) failed or is not set up.
    #[error("{provider}: {message}")]
    Speech {
        /// The provider (`"whisper"`, `"espeak-ng"`).
        provider: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl From<IvrError> for callcore::CoreError {
    fn from(e: IvrError) -> Self {
        match e {
            IvrError::Audio { .. } => callcore::CoreError::Media(e.to_string()),
            other => callcore::CoreError::Provider(other.to_string()),
        }
    }
}

impl IvrError {
    pub(crate) fn json(what: &'static str, e: &serde_json::Error) -> Self {
        IvrError::Json {
            what,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        IvrError::Invalid {
            what,
            field: field.into(),
            message: message.into(),
        }
    }
}
