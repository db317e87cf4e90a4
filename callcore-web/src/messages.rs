//! The seam between the web API and message channels (e-mail, SMS): what an
//! agent reads and sends in a message conversation. An assembly that runs
//! channels gives the API a [`MessageDesk`]
//! ([`WebApiBuilder::messages`](crate::WebApiBuilder::messages)).

use std::future::Future;
use std::pin::Pin;

use callcore::InteractionId;
use serde::Serialize;
use utoipa::ToSchema;

/// A file that came with a message (its content stays with the channel).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeskAttachment {
    /// Its file name.
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One message of a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeskMessage {
    /// The channel's id of the message (Message-ID, SMSC id).
    pub id: String,
    /// `inbound` (from the customer) or `outbound`.
    pub direction: String,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
    /// An e-mail's subject.
    pub subject: Option<String>,
    /// The text (HTML sanitised to text).
    pub text: String,
    /// Attached files.
    pub attachments: Vec<DeskAttachment>,
}

/// Why a reply was not sent.
#[derive(Debug, Clone)]
pub enum DeskError {
    /// No open conversation of that id.
    NotFound,
    /// The reply cannot go (the customer opted out, the text cannot be sent):
    /// a 409 with this reason.
    Refused(String),
    /// The channel's server failed: a 502 with this reason.
    Peer(String),
}

/// A boxed future (the trait stays object-safe without async-trait).
pub type DeskFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Message conversations as the agent desktop reaches them.
pub trait MessageDesk: Send + Sync + std::fmt::Debug {
    /// The messages of a conversation, oldest first; `None` when no channel
    /// has it.
    fn messages(&self, interaction: &InteractionId) -> Option<Vec<DeskMessage>>;

    /// Sends `text` to the customer, threaded; `close` then ends the
    /// conversation.
    fn reply<'a>(
        &'a self,
        interaction: &'a InteractionId,
        text: &'a str,
        close: bool,
    ) -> DeskFuture<'a, Result<DeskMessage, DeskError>>;
}
