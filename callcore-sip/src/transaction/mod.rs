//! Sans-IO SIP transactions (RFC 3261 §17 with the RFC 6026 Accepted state).
//!
//! Nothing here owns a socket or reads a clock: the caller passes `now` (a
//! [`Duration`] since any fixed epoch it chooses) with every input, drains
//! [`TransactionLayer::poll_output`] and sleeps until [`TransactionLayer::poll_timeout`].
//!
//! ```
//! use std::time::Duration;
//! use callcore_sip::transaction::{Peer, TransactionLayer, TxOutput, Timers};
//! use callcore_sip::message::{Message, Method, HeaderName};
//! let mut layer = TransactionLayer::new(Timers::default());
//! let peer = Peer::udp("127.0.0.1:5060".parse().unwrap());
//! let mut req = Message::request(Method::Options, "sip:trunk@127.0.0.1");
//! req.push_header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKdoc1");
//! for (n, v) in [(HeaderName::From, "<sip:cc@127.0.0.1>;tag=a"), (HeaderName::To, "<sip:trunk@127.0.0.1>"),
//!                (HeaderName::CallId, "doc1"), (HeaderName::CSeq, "1 OPTIONS")] {
//!     req.push_header(n, v);
//! }
//! let tx = layer.send_request(req, peer, Duration::ZERO).unwrap();
//! assert!(matches!(layer.poll_output(), Some(TxOutput::Transmit { .. })));
//! // Timer E: first retransmission after T1 over UDP.
//! assert_eq!(layer.poll_timeout(), Some(Duration::from_millis(500)));
//! layer.handle_timeout(Duration::from_millis(500));
//! assert!(matches!(layer.poll_output(), Some(TxOutput::Transmit { .. })));
//! # let _ = tx;
//! ```

mod client;
mod keys;
mod layer;
mod linger;
mod server;

pub use client::{ClientState, ClientTransaction, build_ack_for_non2xx, build_cancel};
pub use layer::{TransactionLayer, TxCounts, TxId, TxOutput};
pub use server::{ServerState, ServerTransaction};

use std::net::SocketAddr;
use std::time::Duration;

/// Transport protocol of a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Unreliable: transactions retransmit.
    Udp,
    /// Reliable stream: no retransmission, zero linger timers.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2): reliable like TCP.
    Tls,
}

impl TransportKind {
    /// True for reliable transports.
    pub fn is_reliable(self) -> bool {
        matches!(self, TransportKind::Tcp | TransportKind::Tls)
    }

    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
}

/// The remote end of a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Address.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: TransportKind,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Peer {
            addr,
            transport: TransportKind::Udp,
        }
    }

    /// A TLS peer.
    pub fn tls(addr: SocketAddr) -> Self {
        Peer {
            addr,
            transport: TransportKind::Tls,
        }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Self {
        Peer {
            addr,
            transport: TransportKind::Tcp,
        }
    }
}

/// Timer base values (RFC 3261 Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
    /// Timer D over unreliable transports (at least 32 s).
    pub d: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            d: Duration::from_secs(32),
        }
    }
}

impl Timers {
    /// 64·T1: timers B, F, H, J (UDP), L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Bounds on server transactions (on by default): a new request over them is
/// answered statelessly with 503 and `Retry-After`, and no state is kept for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLimits {
    /// All server transactions, answered ones kept to absorb retransmissions
    /// (compact records) included.
    pub max_server: usize,
    /// Server transactions still waiting for our final answer.
    pub max_pending: usize,
    /// Of those, from one source IP address.
    pub max_pending_per_source: usize,
    /// The `Retry-After` of the 503, in seconds.
    pub retry_after_secs: u32,
}

impl Default for TxLimits {
    fn default() -> Self {
        TxLimits {
            max_server: 300_000,
            max_pending: 10_000,
            max_pending_per_source: 1_000,
            retry_after_secs: 5,
        }
    }
}

impl TxLimits {
    /// No bounds (tests and trusted links only).
    pub const UNLIMITED: TxLimits = TxLimits {
        max_server: usize::MAX,
        max_pending: usize::MAX,
        max_pending_per_source: usize::MAX,
        retry_after_secs: 5,
    };
}

/// The kind of transaction, from the request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// INVITE transaction.
    Invite,
    /// Any other method (ACK never creates one).
    NonInvite,
}
