//! Answered server transactions reduced to what absorbing retransmissions needs.
//!
//! Once a server transaction has nothing left to do but absorb copies of its request
//! until its linger timer (non-INVITE Completed: Timer J; INVITE Confirmed: Timer I;
//! INVITE Accepted after the dialog's ACK: Timer L), the layer swaps it for this
//! small fixed record: key digest, state, peer, deadline and, for non-INVITE only, the
//! final response, copied to its exact size, to repeat for each retransmission
//! (RFC 3261 §17.2.2). An INVITE's 2xx is never kept here: the transaction retransmits
//! it only until the ACK (RFC 3261 §13.3.1.4), and a record exists only after that.

use bytes::Bytes;
use std::time::Duration;

use super::Peer;
use super::keys::KeyHash;
use super::server::{ServerState, ServerTransaction};

/// What is left of an answered server transaction.
#[derive(Debug)]
pub(crate) struct Lingering {
    /// Its transaction key (to unlink it from the layer's key map).
    pub(crate) key: KeyHash,
    /// Where its request came from.
    pub(crate) peer: Peer,
    /// Completed (non-INVITE), Confirmed or Accepted (INVITE).
    pub(crate) state: ServerState,
    /// When it ends (Timer J, I or L).
    pub(crate) until: Duration,
    /// The final response repeated to request copies (non-INVITE only).
    response: Option<Bytes>,
}

/// What to do with a copy of the request that matched a lingering record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Absorbed {
    /// Nothing: absorbed silently.
    Silently,
    /// Send the final response again.
    Repeat(Bytes),
    /// An ACK reusing the INVITE's branch, for our (already acknowledged) 2xx: the
    /// dialog layer sees it like any other 2xx ACK.
    AckOf2xx,
}

impl Lingering {
    /// The record of `tx`, when all it has left to do is absorb retransmissions.
    pub(crate) fn of(key: KeyHash, tx: &ServerTransaction) -> Option<Lingering> {
        let until = tx.lingers_until()?;
        let response = match tx.state() {
            // Exact-size copy: the serializer's buffer has spare capacity.
            ServerState::Completed => tx.final_response().map(|r| Bytes::copy_from_slice(r)),
            _ => None,
        };
        Some(Lingering {
            key,
            peer: tx.peer(),
            state: tx.state(),
            until,
            response,
        })
    }

    /// A copy of the request (or an ACK with the INVITE's key) arrived.
    pub(crate) fn on_request(&self, is_ack: bool) -> Absorbed {
        match (self.state, is_ack) {
            (ServerState::Completed, false) => match &self.response {
                Some(r) => Absorbed::Repeat(r.clone()),
                None => Absorbed::Silently,
            },
            (ServerState::Accepted, true) => Absorbed::AckOf2xx,
            _ => Absorbed::Silently,
        }
    }
}
