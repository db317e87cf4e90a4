//! The `[chat]` settings of a center.

use serde::Deserialize;

use super::Limits;
use crate::ChannelError;

/// The `[chat]` settings: where chats queue, how many an agent holds, the
/// limits of messages and files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// The queue chats wait in for an agent.
    pub queue: String,
    /// How many chats an agent holds at once (default 3); an agent's own
    /// `chat_capacity` overrides it.
    #[serde(default = "default_capacity")]
    pub agent_capacity: u32,
    /// Whether an agent on a voice call is offered no new chat (default
    /// true: a call is the agent's only work; false: chats go on beside a
    /// call, each channel within its own capacity).
    #[serde(default = "default_true")]
    pub voice_blocks_chats: bool,
    /// The largest file a visitor may send, in bytes (default 1 MiB).
    #[serde(default = "default_file")]
    pub max_attachment_bytes: usize,
    /// The longest message, in characters (default 4000).
    #[serde(default = "default_text")]
    pub max_text_chars: usize,
    /// The most sessions held at once (default 10000); beyond it the idlest
    /// session without an open chat or a page attached gives way, and a new
    /// visitor is refused only when none can.
    #[serde(default = "default_sessions")]
    pub max_sessions: usize,
    /// The bot answers first: the center's IVR menu runs on the chat (its
    /// choices as quick replies) and the choice picks the queue; off (the
    /// default), chats go straight to `queue`.
    #[serde(default)]
    pub ivr_menu: bool,
    /// A flow file (callcore-ivr's JSON or TOML) the center runs on each new
    /// chat before it reaches an agent (as `[sms] flow`): e.g. a `bot` node
    /// answering from `[ivr] knowledge_bases`; its prompts are the bot's
    /// messages, numbered menu choices become quick replies. It takes the
    /// place of `ivr_menu`.
    #[serde(default)]
    pub flow: Option<std::path::PathBuf>,
    /// The secret the website signs a logged-in visitor's identity with
    /// (HMAC-SHA256, see `callcore-web`'s chat widget): a visitor whose page
    /// passes a valid signature is filed under the customer known by that
    /// identity. Without it, visitors stay anonymous. Redacted in logs.
    #[serde(default)]
    pub identity_secret: Option<callcore::Pii<String>>,
}

const fn default_capacity() -> u32 {
    3
}
const fn default_true() -> bool {
    true
}
const fn default_file() -> usize {
    1024 * 1024
}
const fn default_text() -> usize {
    4000
}
const fn default_sessions() -> usize {
    10_000
}

impl ChatConfig {
    /// The settings for `queue` with every default.
    #[must_use]
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            agent_capacity: default_capacity(),
            voice_blocks_chats: true,
            max_attachment_bytes: default_file(),
            max_text_chars: default_text(),
            max_sessions: default_sessions(),
            ivr_menu: false,
            flow: None,
            identity_secret: None,
        }
    }

    /// The limits of a session's log.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            max_text_chars: self.max_text_chars,
            max_file_bytes: self.max_attachment_bytes,
            ..Limits::default()
        }
    }

    /// Checks the values; errors name the field under `prefix` (`chat`).
    ///
    /// # Errors
    /// [`ChannelError::Config`] naming the field.
    pub fn validate(&self, prefix: &str) -> Result<(), ChannelError> {
        let bad = |field: &str, detail: &str| ChannelError::Config {
            field: format!("{prefix}.{field}"),
            detail: detail.to_owned(),
        };
        if self.queue.trim().is_empty() {
            return Err(bad("queue", "a queue id is needed"));
        }
        if self.agent_capacity == 0 || self.agent_capacity > 50 {
            return Err(bad("agent_capacity", "1-50 chats"));
        }
        if self.max_attachment_bytes > 25 * 1024 * 1024 {
            return Err(bad("max_attachment_bytes", "at most 25 MiB"));
        }
        if self.max_text_chars == 0 || self.max_text_chars > 20_000 {
            return Err(bad("max_text_chars", "1-20000 characters"));
        }
        if self
            .identity_secret
            .as_ref()
            .is_some_and(|k| k.expose().len() < 16)
        {
            return Err(bad("identity_secret", "at least 16 characters"));
        }
        if self.max_sessions == 0 {
            return Err(bad("max_sessions", "at least 1"));
        }
        Ok(())
    }
}
