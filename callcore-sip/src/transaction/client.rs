//! Client transactions (RFC 3261 §17.1, RFC 6026 §7.2).

use bytes::Bytes;
use std::time::Duration;

use super::{Peer, Timers, TxKind};
use crate::message::{HeaderName, Message, Method};

/// Client transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, nothing heard (Timer A/B).
    Calling,
    /// Non-INVITE sent, nothing heard (Timer E/F).
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final (non-2xx for INVITE) response arrived; absorbing retransmissions (D/K).
    Completed,
    /// INVITE got a 2xx; more 2xx are passed up until Timer M (RFC 6026).
    Accepted,
    /// Done.
    Terminated,
}

/// What a client transaction produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Send these bytes to the peer.
    Transmit(Bytes),
    /// Pass this response to the transaction user.
    Response(Message),
    /// Timer B/F fired with no final response: a 408 for the TU.
    Timeout,
    /// The transaction ended.
    Terminated,
}

/// One client transaction.
#[derive(Debug)]
pub struct ClientTransaction {
    kind: TxKind,
    state: ClientState,
    request: Message,
    wire: Bytes,
    ack: Option<Bytes>,
    peer: Peer,
    timers: Timers,
    retransmit_at: Option<Duration>,
    interval: Duration,
    timeout_at: Option<Duration>,
    linger_at: Option<Duration>,
    events: Vec<ClientEvent>,
}

impl ClientTransaction {
    /// Starts the transaction: the request is transmitted at once.
    pub fn start(request: Message, peer: Peer, timers: Timers, now: Duration) -> Self {
        let kind = if request.method() == Some(&Method::Invite) {
            TxKind::Invite
        } else {
            TxKind::NonInvite
        };
        let wire = request.to_bytes();
        let reliable = peer.transport.is_reliable();
        let state = if kind == TxKind::Invite {
            ClientState::Calling
        } else {
            ClientState::Trying
        };
        ClientTransaction {
            kind,
            state,
            request,
            wire: wire.clone(),
            ack: None,
            peer,
            timers,
            // Timer A / E start at T1 on unreliable transports only.
            retransmit_at: (!reliable).then_some(now + timers.t1),
            interval: timers.t1,
            // Timer B / F.
            timeout_at: Some(now + timers.t1x64()),
            linger_at: None,
            events: vec![ClientEvent::Transmit(wire)],
        }
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The request this transaction sent.
    pub fn request(&self) -> &Message {
        &self.request
    }

    /// The peer.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// INVITE or non-INVITE.
    pub fn kind(&self) -> TxKind {
        self.kind
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.retransmit_at = None;
        self.timeout_at = None;
        self.linger_at = None;
        self.events.push(ClientEvent::Terminated);
    }

    fn linger(&mut self, d: Duration, now: Duration) {
        self.retransmit_at = None;
        self.timeout_at = None;
        if d.is_zero() {
            self.terminate();
        } else {
            self.linger_at = Some(now + d);
        }
    }

    /// A response matched to this transaction arrived.
    pub fn on_response(&mut self, resp: Message, now: Duration) {
        let Some(code) = resp.status() else { return };
        let reliable = self.peer.transport.is_reliable();
        match (self.kind, self.state, code) {
            (_, ClientState::Terminated, _) => {}
            (TxKind::Invite, ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                self.retransmit_at = None;
                // Timer B only guards the Calling state: once the far end is ringing,
                // how long to wait is the TU's ring timeout.
                self.timeout_at = None;
                self.events.push(ClientEvent::Response(resp));
            }
            (TxKind::Invite, ClientState::Calling | ClientState::Proceeding, 200..=299) => {
                self.state = ClientState::Accepted;
                self.events.push(ClientEvent::Response(resp));
                self.linger(self.timers.t1x64(), now); // Timer M
            }
            (TxKind::Invite, ClientState::Accepted, 200..=299) => {
                self.events.push(ClientEvent::Response(resp));
            }
            (TxKind::Invite, ClientState::Calling | ClientState::Proceeding, _) if code >= 300 => {
                let ack = build_ack_for_non2xx(&self.request, &resp).to_bytes();
                self.events.push(ClientEvent::Transmit(ack.clone()));
                self.ack = Some(ack);
                self.state = ClientState::Completed;
                self.events.push(ClientEvent::Response(resp));
                let d = if reliable {
                    Duration::ZERO
                } else {
                    self.timers.d
                };
                self.linger(d, now); // Timer D
            }
            (TxKind::Invite, ClientState::Completed, _) if code >= 300 => {
                if let Some(ack) = &self.ack {
                    self.events.push(ClientEvent::Transmit(ack.clone()));
                }
            }
            (TxKind::NonInvite, ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                self.events.push(ClientEvent::Response(resp));
            }
            (TxKind::NonInvite, ClientState::Trying | ClientState::Proceeding, _)
                if code >= 200 =>
            {
                self.state = ClientState::Completed;
                self.events.push(ClientEvent::Response(resp));
                let k = if reliable {
                    Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.linger(k, now); // Timer K
            }
            _ => {} // late provisional or retransmitted final: absorbed
        }
    }

    /// The transport reported a failure sending to the peer (RFC 3261 §17.1.4).
    pub fn on_transport_error(&mut self) {
        if matches!(
            self.state,
            ClientState::Calling | ClientState::Trying | ClientState::Proceeding
        ) {
            self.events.push(ClientEvent::Timeout);
            self.terminate();
        }
    }

    /// Fires every timer due at `now`.
    pub fn on_timeout(&mut self, now: Duration) {
        if self.linger_at.is_some_and(|t| t <= now) {
            self.terminate();
            return;
        }
        if self.timeout_at.is_some_and(|t| t <= now) {
            self.events.push(ClientEvent::Timeout);
            self.terminate();
            return;
        }
        if let Some(at) = self.retransmit_at
            && at <= now
        {
            self.events.push(ClientEvent::Transmit(self.wire.clone()));
            self.interval = match (self.kind, self.state) {
                (TxKind::Invite, _) => self.interval * 2,
                (TxKind::NonInvite, ClientState::Proceeding) => self.timers.t2,
                (TxKind::NonInvite, _) => (self.interval * 2).min(self.timers.t2),
            };
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

    /// Takes the produced events.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, ClientEvent> {
        self.events.drain(..)
    }
}

fn copy_headers(from: &Message, to: &mut Message, names: &[HeaderName]) {
    for name in names {
        for value in from.header_lines_bytes(name) {
            to.push_header_bytes(name.clone(), value);
        }
    }
}

fn top_via_line(req: &Message) -> String {
    req.top_via()
        .ok()
        .and_then(|_| req.header(&HeaderName::Via))
        .and_then(|line| crate::message::lex::split_outside(line, b',').and_then(|mut s| s.next()))
        .map(|s| crate::message::lex::trim_lws(s).to_owned())
        .unwrap_or_default()
}

/// The ACK a client INVITE transaction sends for a non-2xx final response (§17.1.1.3).
pub fn build_ack_for_non2xx(invite: &Message, resp: &Message) -> Message {
    let uri = invite.request_uri_str().unwrap_or("");
    let mut ack = Message::request(Method::Ack, uri);
    ack.push_header(HeaderName::Via, &top_via_line(invite));
    copy_headers(invite, &mut ack, &[HeaderName::Route]);
    ack.push_header(HeaderName::MaxForwards, "70");
    copy_headers(invite, &mut ack, &[HeaderName::From, HeaderName::CallId]);
    copy_headers(resp, &mut ack, &[HeaderName::To]);
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    ack.push_header(HeaderName::CSeq, &format!("{seq} ACK"));
    ack
}

/// A CANCEL for a pending INVITE (§9.1).
pub fn build_cancel(invite: &Message) -> Message {
    let uri = invite.request_uri_str().unwrap_or("");
    let mut c = Message::request(Method::Cancel, uri);
    c.push_header(HeaderName::Via, &top_via_line(invite));
    copy_headers(invite, &mut c, &[HeaderName::Route]);
    c.push_header(HeaderName::MaxForwards, "70");
    copy_headers(
        invite,
        &mut c,
        &[HeaderName::From, HeaderName::To, HeaderName::CallId],
    );
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    c.push_header(HeaderName::CSeq, &format!("{seq} CANCEL"));
    c
}
