//! # callcore-sip
//!
//! The SIP signalling stack of callcore: a zero-copy message parser and serializer,
//! sans-IO transactions, dialogs with SDP offer/answer, and the tokio transport that
//! lets a call center take and place calls over SIP.
//!
//! ```
//! use bytes::Bytes;
//! use callcore_sip::message::{Message, ResponseSpec};
//! let invite = Message::parse(Bytes::from_static(b"INVITE sip:sales@pbx.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKq1\r\nMax-Forwards: 70\r\n\
//! From: <sip:+15551234@carrier.example.net>;tag=c1\r\nTo: <sip:sales@pbx.example.com>\r\n\
//! Call-ID: q1@198.51.100.7\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
//! let ringing = invite.build_response(ResponseSpec::code(180).to_tag("agent1"));
//! assert_eq!(ringing.to().unwrap().tag(), Some("agent1"));
//! ```

pub mod auth;
pub mod b2bua;
#[cfg(feature = "center")]
pub mod center;
pub mod error;
pub mod message;
pub mod registrar;
pub mod session;
pub mod transaction;
pub mod trunk;
pub mod ua;

pub use error::Error;
