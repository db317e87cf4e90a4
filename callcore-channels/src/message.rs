//! Messages of a conversation, as agents see them.

use std::sync::Arc;

use callcore::Timestamp;
use serde::Serialize;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageDirection {
    /// From the customer.
    Inbound,
    /// To the customer (an agent's reply, an acknowledgement).
    Outbound,
}

/// A file that came with a message, kept with its interaction.
#[derive(Clone, Serialize)]
pub struct Attachment {
    /// Its file name as sent (`invoice.pdf`), or `attachment-<n>`.
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
    /// Its content.
    #[serde(skip)]
    pub data: Arc<[u8]>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// One message of a conversation.
#[derive(Clone, Serialize)]
pub struct Message {
    /// The channel's id of the message (an e-mail's Message-ID, an SMSC's
    /// message id).
    pub id: String,
    /// Which way it went.
    pub direction: MessageDirection,
    /// When it arrived or was sent (milliseconds since the epoch).
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Timestamp,
    /// An e-mail's subject.
    pub subject: Option<String>,
    /// The text (an HTML body sanitised to text).
    pub text: String,
    /// Attached files.
    pub attachments: Vec<Attachment>,
}

fn millis<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(t.as_millis())
}

impl std::fmt::Debug for Message {
    // the text and subject are the customer's words: kept out of logs
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("direction", &self.direction)
            .field("chars", &self.text.chars().count())
            .field("attachments", &self.attachments.len())
            .finish_non_exhaustive()
    }
}

/// An inbound message as an adapter hands it to the [`Inbox`](crate::Inbox).
#[derive(Debug, Clone)]
pub struct Received {
    /// The customer's address (e-mail address, phone number).
    pub customer: String,
    /// Keys that find the conversation it continues: for e-mail the ids in
    /// In-Reply-To and References, for SMS the customer's number. The first
    /// open conversation one of them names takes the message.
    pub thread: Vec<String>,
    /// The message.
    pub message: Message,
}

/// A reply for an adapter to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The customer's address.
    pub customer: String,
    /// The subject (e-mail): `Re: ` and the conversation's first subject.
    pub subject: Option<String>,
    /// The text.
    pub text: String,
    /// The message replied to (e-mail's In-Reply-To).
    pub in_reply_to: Option<String>,
    /// Every message id of the conversation so far (e-mail's References).
    pub references: Vec<String>,
    /// Sent by the center on its own (an acknowledgement): marked so
    /// (`Auto-Submitted: auto-replied`) that other robots do not answer it.
    pub auto: bool,
}
