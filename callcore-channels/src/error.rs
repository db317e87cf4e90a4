//! The errors of the channel adapters.

use thiserror::Error;

/// What went wrong in a channel adapter. Messages name the field or part at
/// fault and never carry the customer's address or text.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The configuration is invalid: `field` names the key at fault.
    #[error("{field}: {detail}")]
    Config {
        /// The configuration key (`email.imap`, `sms.system_id`).
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An inbound message was refused (malformed MIME, an oversize attachment,
    /// text that is not valid in its declared encoding): `part` names what.
    #[error("message refused: {part}: {detail}")]
    Refused {
        /// The part at fault (`mime`, `attachment`, `short_message`).
        part: &'static str,
        /// Why.
        detail: String,
    },
    /// The conversation does not exist or has ended.
    #[error("no open conversation {0}")]
    NoConversation(String),
    /// The customer opted out of this channel: nothing is sent to them.
    #[error("the customer opted out of this channel")]
    OptedOut,
    /// The peer (IMAP, SMTP, SMSC) failed or refused.
    #[error("{peer}: {detail}")]
    Peer {
        /// Which peer (`imap`, `smtp`, `smpp`).
        peer: &'static str,
        /// What it said or what failed.
        detail: String,
    },
    /// The channel cannot send this (no outbox configured, text too long).
    #[error("cannot send: {0}")]
    Unsendable(String),
}

impl ChannelError {
    /// A peer failure.
    #[cfg_attr(
        not(any(feature = "email", feature = "sms", feature = "wechat")),
        allow(dead_code)
    )]
    pub(crate) fn peer(peer: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Peer {
            peer,
            detail: e.to_string(),
        }
    }

    /// A refused inbound message.
    pub(crate) fn refused(part: &'static str, detail: impl Into<String>) -> Self {
        Self::Refused {
            part,
            detail: detail.into(),
        }
    }
}
