//! User agent: the UAS and UAC call logic over the transaction layer (sans-IO), and the
//! tokio driver that feeds it from UDP, TCP and TLS sockets.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use callcore_sip::transaction::Peer;
//! use callcore_sip::ua::{UaConfig, UaEvent, UaOutput, UserAgent};
//! let mut ua = UserAgent::new(UaConfig::new("127.0.0.1:5080".parse().unwrap()), 42);
//! let peer = Peer::udp("127.0.0.1:5062".parse().unwrap());
//! ua.handle_datagram(Bytes::from_static(b"OPTIONS sip:cc@127.0.0.1:5080 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKo1\r\nFrom: <sip:p@127.0.0.1>;tag=1\r\n\
//! To: <sip:cc@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n"), peer, Duration::ZERO);
//! let Some(UaOutput::Transmit { data, .. }) = ua.poll_output() else { panic!() };
//! assert!(data.starts_with(b"SIP/2.0 200 OK"));
//! ```

mod call_auth;
mod connections;
mod core;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;
mod ids;
mod limits;
mod outbound;
mod refer;
mod reliable;
mod routes;
mod session_timers;
pub mod stats;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
mod uac;
mod uas;

pub use self::core::{CallRef, UaConfig, UaEvent, UaOutput, UserAgent};
pub use connections::StreamLimits;
pub use ids::{IdGen, IdSeed};
pub use limits::{Limits, RateLimit, SourceLimiter};
pub use refer::REFER_ANSWER_WITHIN;
pub use routes::ContactRoute;
