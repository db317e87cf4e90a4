//! Browser agents for callcore: calls offered to a web page over WebRTC.
//!
//! An agent whose endpoint is [`callcore::Endpoint::WebRtc`] takes calls in
//! its browser. [`WebRtcTransport`] is the [`callcore::Transport`] that rings
//! it: each leg is a server-side peer connection (webrtc-rs: ICE, DTLS-SRTP,
//! PCMU) whose non-trickle SDP offer reaches the agent's browser through the
//! signalling registry [`BrowserPhones`], served to browsers as a WebSocket by
//! [`phone_routes`] (with a small page, `/phone.html`, that answers with the
//! microphone). The leg's audio goes through an ordinary callcore-media leg
//! port — the browser's RTP is relayed to it over loopback — so bridging to SIP
//! callers, rooms (music, conference, supervision), recording, taps and
//! prompts work as for SIP legs. With the `opus` cargo feature the browser is
//! offered Opus/48000/2 first (PCMU second), transcoded to and from the port's
//! PCMU by callcore-media's Opus codec. See `docs/webrtc.md`.
//!
//! ```no_run
//! # async fn assemble(
//! #     media: std::sync::Arc<dyn callcore::MediaAttach>,
//! #     ids: std::sync::Arc<dyn callcore::IdSource>,
//! # ) -> axum::Router {
//! use callcore::AgentId;
//! use callcore_webrtc::{phone_routes, password_auth, BrowserPhones, WebRtcConfig, WebRtcTransport};
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! let phones = BrowserPhones::new();
//! // the center's transport for browser agents (add it with `Center::builder().transport(..)`)
//! let transport = Arc::new(WebRtcTransport::new(phones.clone(), media, ids, WebRtcConfig::default()));
//! # drop(transport);
//! // the browser side, for the HTTP server: agent 1001 logs in with its password
//! let auth = password_auth(HashMap::from([(AgentId::new("1001"), "alice1001".to_owned())]));
//! phone_routes(phones, auth)
//! # }
//! ```

mod codec;
mod http;
mod peer;
mod phones;
mod transport;

pub use http::{PHONE_PROTOCOL, PhoneAuth, hex, password_auth, phone_routes, protocol_token};
pub use phones::{BrowserPhones, BrowserSession, FromBrowser, ToBrowser};
pub use transport::{WebRtcConfig, WebRtcLeg, WebRtcTransport};

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebRtcError {
    /// webrtc-rs refused a step of a peer connection.
    #[error("WebRTC {what}: {detail}")]
    Peer {
        /// The step (`offer`, `answer`, `peer connection` ...).
        what: &'static str,
        /// webrtc-rs's words.
        detail: String,
    },
}
