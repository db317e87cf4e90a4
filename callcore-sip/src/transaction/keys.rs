//! Transaction and dialog keys, kept as keyed 128-bit digests.
//!
//! At 4,000 calls/s an endpoint holds a quarter of a million answered transactions
//! (each lingers 32 s, RFC 3261 Timer J / RFC 6026 Timer L). Their matching keys
//! (branch, sent-by, method; or Call-ID, CSeq, From tag) are written once, digested
//! and only the 16-byte digest is stored. The digest is keyed with per-process random
//! keys (std's `RandomState`, seeded from the OS), so a peer cannot choose branches
//! that collide with another caller's transaction; an accidental collision among
//! 2^18 live keys has a probability near 2^-92.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

use crate::message::{Message, Method};

/// The digest of a matching key (RFC 3261 §17.1.3 / §17.2.3, or a dialog's INVITE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyHash(u64, u64);

/// The two random keys of a layer's digests.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyHasher {
    a: RandomState,
    b: RandomState,
}

impl KeyHasher {
    /// The digest of any hashable key.
    pub(crate) fn digest<T: Hash + ?Sized>(&self, key: &T) -> KeyHash {
        KeyHash(self.a.hash_one(key), self.b.hash_one(key))
    }

    /// The transaction key of `msg` (`server`: matching a received request).
    pub(crate) fn branch(&self, msg: &Message, server: bool) -> Option<KeyHash> {
        branch_key(msg, server).map(|k| self.digest(k.as_str()))
    }

    /// The key of the INVITE server transaction a CANCEL names (same branch and
    /// sent-by, method INVITE).
    pub(crate) fn cancelled_invite(&self, cancel: &Message) -> Option<KeyHash> {
        branch_key(cancel, true).map(|k| self.digest(k.replace("|CANCEL", "|INVITE").as_str()))
    }

    /// The dialog-level key an ACK for a 2xx shares with its INVITE.
    pub(crate) fn dialog(&self, msg: &Message) -> Option<KeyHash> {
        let call_id = msg.call_id().ok()?;
        let seq = msg.cseq().ok()?.seq;
        let from_tag = msg.from().ok()?.tag().unwrap_or("");
        Some(self.digest(&(call_id, seq, from_tag)))
    }
}

/// The textual transaction key (never stored).
fn branch_key(msg: &Message, server: bool) -> Option<String> {
    let via = msg.top_via().ok()?;
    let method = match msg.cseq().ok()?.method {
        Method::Ack => Method::Invite,
        m => m,
    };
    match via.branch() {
        Some(b) if via.is_rfc3261_branch() => {
            if server {
                Some(format!(
                    "s|{b}|{}:{}|{method}",
                    via.host(),
                    via.port().unwrap_or(0)
                ))
            } else {
                Some(format!("c|{b}|{method}"))
            }
        }
        // RFC 2543 peers: match on the request identity instead.
        _ if server => {
            let from_tag = msg.from().ok().and_then(|f| f.tag()).unwrap_or("");
            let cseq = msg.cseq().ok()?.seq;
            Some(format!(
                "s2543|{}|{cseq}|{from_tag}|{}|{method}",
                msg.call_id().ok()?,
                via.host()
            ))
        }
        _ => None,
    }
}
