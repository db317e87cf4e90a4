//! Server transactions (RFC 3261 §17.2, RFC 6026 §7.1).

use bytes::Bytes;
use std::time::Duration;

use super::{Peer, Timers, TxKind};
use crate::message::{Message, Method};

/// Server transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE received, no response yet.
    Trying,
    /// A provisional response was sent (INVITE starts here).
    Proceeding,
    /// A final response (non-2xx for INVITE) was sent; retransmitting it (Timer G) and
    /// waiting for the ACK (Timer H) or absorbing retransmissions (Timer J).
    Completed,
    /// INVITE: the ACK for a non-2xx arrived; absorbing ACK copies (Timer I).
    Confirmed,
    /// INVITE: a 2xx was sent; it is retransmitted until the dialog's ACK arrives or
    /// Timer L fires (RFC 6026, and the UAS core duty of RFC 3261 §13.3.1.4).
    Accepted,
    /// Done.
    Terminated,
}

/// What a server transaction produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// Send these bytes to the peer.
    Transmit(Bytes),
    /// Timer H fired (no ACK for a non-2xx) or no ACK came for a 2xx before Timer L:
    /// the TU should end the call.
    Timeout,
    /// The transaction ended.
    Terminated,
}

/// One server transaction.
#[derive(Debug)]
pub struct ServerTransaction {
    kind: TxKind,
    state: ServerState,
    /// The request, until the final response: then the transaction shrinks to a
    /// compact record (kind, state, peer, the response to repeat, timers) that is all
    /// retransmission absorption needs.
    request: Option<Message>,
    last_response: Option<Bytes>,
    peer: Peer,
    timers: Timers,
    retransmit_at: Option<Duration>,
    interval: Duration,
    timeout_at: Option<Duration>,
    linger_at: Option<Duration>,
    acked: bool,
    events: Vec<ServerEvent>,
}

impl ServerTransaction {
    /// Creates the transaction for a new request.
    pub fn new(request: Message, peer: Peer, timers: Timers) -> Self {
        let kind = if request.method() == Some(&Method::Invite) {
            TxKind::Invite
        } else {
            TxKind::NonInvite
        };
        ServerTransaction {
            kind,
            state: if kind == TxKind::Invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            request: Some(request),
            last_response: None,
            peer,
            timers,
            retransmit_at: None,
            interval: timers.t1,
            timeout_at: None,
            linger_at: None,
            acked: false,
            events: Vec::new(),
        }
    }

    /// Current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The request, while no final response was sent (the answered transaction
    /// keeps only what absorbing retransmissions needs).
    pub fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// The peer.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// INVITE or non-INVITE.
    pub fn kind(&self) -> TxKind {
        self.kind
    }

    /// True once a final response was sent.
    pub fn is_final(&self) -> bool {
        !matches!(self.state, ServerState::Trying | ServerState::Proceeding)
    }

    fn terminate(&mut self) {
        self.state = ServerState::Terminated;
        self.retransmit_at = None;
        self.timeout_at = None;
        self.linger_at = None;
        self.events.push(ServerEvent::Terminated);
    }

    /// The TU sends a response through this transaction. Responses after the final one
    /// are ignored (returns false).
    pub fn respond(&mut self, resp: &Message, now: Duration) -> bool {
        let Some(code) = resp.status() else {
            return false;
        };
        if self.is_final() {
            return false;
        }
        let wire = resp.to_bytes();
        self.events.push(ServerEvent::Transmit(wire.clone()));
        self.last_response = Some(wire);
        let reliable = self.peer.transport.is_reliable();
        let t64 = self.timers.t1x64();
        if code >= 200 {
            self.request = None;
        }
        match (self.kind, code) {
            (_, 100..=199) => self.state = ServerState::Proceeding,
            (TxKind::Invite, 200..=299) => {
                self.state = ServerState::Accepted;
                // 2xx retransmission (T1 doubling to T2) until the ACK, on unreliable
                // hops only (RFC 3261 §13.3.1.4).
                self.retransmit_at = (!reliable).then_some(now + self.timers.t1);
                self.interval = self.timers.t1;
                self.linger_at = Some(now + t64); // Timer L
            }
            (TxKind::Invite, _) => {
                self.state = ServerState::Completed;
                self.retransmit_at = (!reliable).then_some(now + self.timers.t1); // Timer G
                self.interval = self.timers.t1;
                self.timeout_at = Some(now + t64); // Timer H
            }
            (TxKind::NonInvite, _) => {
                self.state = ServerState::Completed;
                if reliable {
                    self.terminate(); // Timer J = 0
                } else {
                    self.linger_at = Some(now + t64); // Timer J
                }
            }
        }
        true
    }

    /// A retransmission of the request (or, for INVITE, an ACK) matched this transaction.
    pub fn on_request(&mut self, req: &Message, now: Duration) {
        let is_ack = req.method() == Some(&Method::Ack);
        match (self.state, is_ack) {
            (ServerState::Completed, true) if self.kind == TxKind::Invite => {
                self.state = ServerState::Confirmed;
                self.retransmit_at = None;
                self.timeout_at = None;
                // Confirmed only absorbs ACK copies: the response is never sent again
                self.last_response = None;
                if self.peer.transport.is_reliable() {
                    self.terminate();
                } else {
                    self.linger_at = Some(now + self.timers.t4); // Timer I
                }
            }
            (ServerState::Proceeding | ServerState::Completed, false) => {
                if let Some(r) = &self.last_response {
                    self.events.push(ServerEvent::Transmit(r.clone()));
                }
            }
            _ => {} // Trying: absorbed; Confirmed/Accepted: absorbed
        }
    }

    /// The dialog's ACK for our 2xx arrived: stop retransmitting the 2xx.
    pub fn on_2xx_ack(&mut self) {
        if self.state == ServerState::Accepted {
            self.acked = true;
            self.retransmit_at = None;
            // Accepted absorbs INVITE copies without answering: the 2xx is not needed
            self.last_response = None;
        }
    }

    /// True when the 2xx of this INVITE has been acknowledged.
    pub fn is_acked(&self) -> bool {
        self.acked
    }

    /// The transport failed to deliver a response (RFC 3261 §17.2.4).
    pub fn on_transport_error(&mut self) {
        if self.state != ServerState::Terminated {
            self.events.push(ServerEvent::Timeout);
            self.terminate();
        }
    }

    /// Fires every timer due at `now`.
    pub fn on_timeout(&mut self, now: Duration) {
        if self.linger_at.is_some_and(|t| t <= now) {
            if self.state == ServerState::Accepted && !self.acked {
                self.events.push(ServerEvent::Timeout);
            }
            self.terminate();
            return;
        }
        if self.timeout_at.is_some_and(|t| t <= now) {
            self.events.push(ServerEvent::Timeout); // Timer H
            self.terminate();
            return;
        }
        if let Some(at) = self.retransmit_at
            && at <= now
        {
            if let Some(r) = &self.last_response {
                self.events.push(ServerEvent::Transmit(r.clone()));
            }
            self.interval = (self.interval * 2).min(self.timers.t2);
            self.retransmit_at = Some(now + self.interval);
        }
    }

    /// The earliest pending timer.
    pub fn poll_timeout(&self) -> Option<Duration> {
        [self.retransmit_at, self.timeout_at, self.linger_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The deadline (Timer J, I or L) when all this transaction has left to do is
    /// absorb retransmissions: non-INVITE Completed, INVITE Confirmed, or INVITE
    /// Accepted once the dialog's ACK came.
    pub(crate) fn lingers_until(&self) -> Option<Duration> {
        let absorbing = match (self.kind, self.state) {
            (TxKind::NonInvite, ServerState::Completed)
            | (TxKind::Invite, ServerState::Confirmed) => true,
            (TxKind::Invite, ServerState::Accepted) => self.acked,
            _ => false,
        };
        if absorbing && self.events.is_empty() && self.retransmit_at.is_none() {
            self.linger_at
        } else {
            None
        }
    }

    /// The last response sent, serialized (kept while it may have to be repeated).
    pub(crate) fn final_response(&self) -> Option<&Bytes> {
        self.last_response.as_ref()
    }

    /// Takes the produced events.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, ServerEvent> {
        self.events.drain(..)
    }
}
