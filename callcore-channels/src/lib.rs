//! # callcore-channels
//!
//! Message channels for a callcore center: each inbound message becomes an
//! interaction (or joins the open conversation it continues) that queues and
//! routes through the same ACD as calls, with capacity per channel; agents
//! answer on the desktop and their replies go out threaded.
//!
//! - [`Inbox`]: the channel-neutral core: conversations, thread keys,
//!   messages and attachments, the [`Transport`](callcore::Transport) the
//!   center accepts conversations from.
//! - `email` (feature `email`): IMAP in, SMTP out, MIME parsing, HTML
//!   sanitised to text, auto-acknowledgement, loops and bounces never answered.
//! - `sms` (feature `sms`): SMPP 3.4, GSM-7/UCS-2, concatenated messages,
//!   opt-out keywords.
//! - `wechat` (feature `wechat`): WeChat Official Account callbacks (signed,
//!   AES "safe mode"), customer-service messages with a refreshed access token.
//! - [`chat`]: web chat sessions (numbered logs that survive reconnects,
//!   typing, delivery and read marks, size-limited files) over a chat inbox;
//!   no extra dependency (the WebSocket and page are `callcore-web`'s).

pub mod chat;
mod error;
mod inbox;
mod inbox_media;
mod leg;
mod message;

#[cfg(feature = "email")]
pub mod email;
#[cfg(feature = "sms")]
pub mod sms;
#[cfg(any(feature = "email", feature = "sms"))]
mod tls;
#[cfg(feature = "wechat")]
pub mod wechat;

pub use error::ChannelError;
pub use inbox::{Delivered, Inbox, Outbox, TextMedia};
pub use inbox_media::InboxMedia;
pub use leg::MessageLeg;
pub use message::{Attachment, Message, MessageDirection, Outgoing, Received};
