//! # callcore-sip
//!
//! The SIP signalling stack of callcore: how a call center takes calls from carriers and
//! phones and places calls to agents and customers over SIP.
//!
//! - [`message`]: zero-copy parser and serializer (RFC 3261 §7, §20, §25), typed headers,
//!   parse faults mapped to the answer a UAS sends.
//! - [`transaction`]: sans-IO transactions (RFC 3261 §17, RFC 6026), timers A–M.
//! - [`session`]: dialogs, SDP offer/answer for G.711 + telephone-event, hold/resume,
//!   session timers.
//! - [`ua`]: the user agent (UAS + UAC, transfer, 100rel, outbound registration, rate
//!   limits) and its tokio UDP/TCP driver ([`ua::driver`]).
//! - [`registrar`], [`auth`]: phone registration and RFC 7616 digest authentication;
//!   [`contact`]: phones at a fixed address that are rung without registering.
//! - [`b2bua`], [`trunk`], [`dial_plan`]: bridging legs with failover, trunk routing
//!   and health, the outbound dial plan (number patterns → trunks in failover order);
//!   [`rfc3263`] (and `dns`, feature `dns`): trunk host names found by NAPTR/SRV/A.
//! - `center` (feature `center`): callcore's `Transport`/`Leg` ports over SIP, with
//!   each leg's media driven through callcore's leg-media port (`MediaAttach`,
//!   `LegMediaPort`), in neutral terms (`media_seam`). This crate knows no media
//!   engine: callcore-media's `leg_port::RtpMedia` plugs in there.
//!
//! Every protocol core is sans-IO: time comes in as a `Duration` since an epoch the
//! caller chooses, identifiers come from a seeded generator, and outputs are drained with
//! `poll_output`/`poll_timeout`.
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

#![cfg_attr(docsrs, feature(doc_cfg))]
pub mod auth;
pub mod b2bua;
#[cfg(feature = "center")]
#[cfg_attr(docsrs, doc(cfg(feature = "center")))]
pub mod center;
#[cfg(feature = "center")]
mod center_events;
pub mod contact;
pub mod dial_plan;
#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub mod dns;
pub mod error;
#[cfg(feature = "center")]
#[cfg_attr(docsrs, doc(cfg(feature = "center")))]
pub mod media_seam;
pub mod message;
pub mod registrar;
pub mod rfc3263;
pub mod session;
pub mod transaction;
pub mod trunk;
pub mod ua;

pub use error::Error;
