//! The transaction layer: matches messages to transactions (RFC 3261 §17.1.3, §17.2.3),
//! answers CANCEL (§9.2), routes the ACK of a 2xx to its INVITE, and keeps one timer
//! queue for all transactions.

use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use super::client::{ClientEvent, ClientTransaction};
use super::keys::{KeyHash, KeyHasher};
use super::linger::{Absorbed, Lingering};
use super::server::{ServerEvent, ServerState, ServerTransaction};
use super::{Peer, Timers, TxKind, TxLimits};
use crate::Error;
use crate::message::{Message, Method, ResponseSpec};

/// Identifies a transaction inside one [`TransactionLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// What the layer asks its owner to do or tells the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxOutput {
    /// Send bytes to a peer.
    Transmit {
        /// Destination.
        peer: Peer,
        /// The serialized message.
        data: Bytes,
    },
    /// A new request (not ACK, not CANCEL) created server transaction `tx`.
    Request {
        /// The server transaction to answer through.
        tx: TxId,
        /// The request.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// An ACK that belongs to no server transaction: the ACK of a 2xx (dialog level).
    /// `invite` names the INVITE server transaction whose 2xx it acknowledges.
    Ack {
        /// The INVITE transaction, when still known.
        invite: Option<TxId>,
        /// The ACK.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// A CANCEL matched INVITE transaction `invite`; the layer already answered the
    /// CANCEL with 200 and the INVITE with 487.
    Cancelled {
        /// The cancelled INVITE server transaction.
        invite: TxId,
    },
    /// A response for client transaction `tx`.
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        msg: Message,
    },
    /// A response matching no client transaction (e.g. a 2xx retransmission after the
    /// INVITE transaction ended): the dialog layer re-sends its ACK.
    StrayResponse {
        /// The response.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// Timer B/F (client) or H/L (server) fired, or the transport failed.
    Timeout {
        /// The transaction.
        tx: TxId,
    },
    /// The transaction is gone.
    Terminated {
        /// The transaction.
        tx: TxId,
    },
}

/// Boxed: the map's slots stay small (a power-of-two table of 256,000 answered
/// transactions at 4,000 calls/s would otherwise reserve the largest variant in
/// every slot). An answered server transaction that only absorbs retransmissions
/// becomes a [`Lingering`] record.
#[derive(Debug)]
enum Tx {
    Client(Box<Keyed<ClientTransaction>>),
    Server(Box<Keyed<ServerTransaction>>),
    Lingering(Box<Lingering>),
}

/// A live transaction with its key digests (stored once, here; the layer's maps
/// point from the digests to the id).
#[derive(Debug)]
struct Keyed<T> {
    key: KeyHash,
    /// INVITE server transactions, until the ACK of their 2xx: the dialog key.
    dialog: Option<KeyHash>,
    tx: T,
}

impl<T> Keyed<T> {
    fn boxed(key: KeyHash, tx: T) -> Box<Self> {
        Box::new(Keyed {
            key,
            dialog: None,
            tx,
        })
    }
}

impl<T> std::ops::Deref for Keyed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.tx
    }
}

impl<T> std::ops::DerefMut for Keyed<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.tx
    }
}

/// All transactions of one SIP endpoint.
#[derive(Debug)]
pub struct TransactionLayer {
    timers: Timers,
    next_id: u64,
    txs: HashMap<TxId, Tx>,
    hasher: KeyHasher,
    keys: HashMap<KeyHash, TxId>,
    /// INVITE server transactions whose 2xx is not acknowledged yet, by dialog key.
    invites_by_dialog: HashMap<KeyHash, TxId>,
    wakeups: BinaryHeap<Reverse<(Duration, TxId)>>,
    out: VecDeque<TxOutput>,
    /// Send 100 Trying as soon as an INVITE arrives (RFC 3261 §17.2.1).
    pub auto_trying: bool,
    forged_responses: u64,
    limits: TxLimits,
    servers: usize,
    /// Server transactions without a final answer yet, and their source.
    pending: HashMap<TxId, IpAddr>,
    pending_by_source: HashMap<IpAddr, usize>,
    overloaded: u64,
}

/// How many transactions a layer holds (see [`TransactionLayer::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxCounts {
    /// Client transactions.
    pub client: usize,
    /// Server transactions, answered ones (compact records) included.
    pub server: usize,
    /// Server transactions waiting for a final answer.
    pub pending: usize,
    /// Source addresses with a pending server transaction.
    pub sources: usize,
    /// Server transactions holding their whole request (pending ones).
    pub holding_request: usize,
    /// Requests refused with 503 because a limit was reached.
    pub refused: u64,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(timers: Timers) -> Self {
        TransactionLayer {
            timers,
            next_id: 1,
            txs: HashMap::new(),
            hasher: KeyHasher::default(),
            keys: HashMap::new(),
            invites_by_dialog: HashMap::new(),
            wakeups: BinaryHeap::new(),
            out: VecDeque::new(),
            auto_trying: true,
            forged_responses: 0,
            limits: TxLimits::default(),
            servers: 0,
            pending: HashMap::new(),
            pending_by_source: HashMap::new(),
            overloaded: 0,
        }
    }

    /// Sets the bounds on server transactions (default: [`TxLimits::default`]).
    pub fn set_limits(&mut self, limits: TxLimits) {
        self.limits = limits;
    }

    /// What the layer holds now (for tests and metrics).
    pub fn counts(&self) -> TxCounts {
        let holding_request = self
            .txs
            .values()
            .filter(|t| matches!(t, Tx::Server(s) if s.request().is_some()))
            .count();
        TxCounts {
            client: self.txs.len() - self.servers,
            server: self.servers,
            pending: self.pending.len(),
            sources: self.pending_by_source.len(),
            holding_request,
            refused: self.overloaded,
        }
    }

    /// True when a new server transaction from `source` would exceed a limit.
    fn over_limits(&self, source: IpAddr) -> bool {
        let l = &self.limits;
        self.servers >= l.max_server
            || self.pending.len() >= l.max_pending
            || self.pending_by_source.get(&source).copied().unwrap_or(0) >= l.max_pending_per_source
    }

    fn track_pending(&mut self, id: TxId, source: IpAddr) {
        self.pending.insert(id, source);
        *self.pending_by_source.entry(source).or_insert(0) += 1;
    }

    fn untrack_pending(&mut self, id: TxId) {
        if let Some(source) = self.pending.remove(&id)
            && let Some(n) = self.pending_by_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.pending_by_source.remove(&source);
            }
        }
    }

    /// Responses dropped because they came from another address or transport than
    /// their transaction's request went to.
    pub fn forged_responses(&self) -> u64 {
        self.forged_responses
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn alloc(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    /// The request a transaction carries (a server transaction drops it once it
    /// has sent its final response).
    pub fn request(&self, tx: TxId) -> Option<&Message> {
        match self.txs.get(&tx)? {
            Tx::Client(c) => Some(c.request()),
            Tx::Server(s) => s.request(),
            Tx::Lingering(_) => None,
        }
    }

    /// The server state of a transaction.
    pub fn server_state(&self, tx: TxId) -> Option<ServerState> {
        match self.txs.get(&tx)? {
            Tx::Server(s) => Some(s.state()),
            Tx::Lingering(l) => Some(l.state),
            Tx::Client(_) => None,
        }
    }

    /// Starts a client transaction (any method but ACK; the 2xx ACK goes through
    /// [`TransactionLayer::transmit`]). The top Via must carry an RFC 3261 branch.
    pub fn send_request(&mut self, msg: Message, peer: Peer, now: Duration) -> Result<TxId, Error> {
        if msg.method() == Some(&Method::Ack) {
            return Err(Error::State("ACK is sent without a transaction"));
        }
        let key = self
            .hasher
            .branch(&msg, false)
            .ok_or(Error::State("request needs a Via with an RFC 3261 branch"))?;
        let id = self.alloc();
        let tx = ClientTransaction::start(msg, peer, self.timers, now);
        self.keys.insert(key, id);
        self.txs.insert(id, Tx::Client(Keyed::boxed(key, tx)));
        self.pump(id);
        Ok(id)
    }

    /// Sends a response through server transaction `tx`.
    pub fn send_response(&mut self, tx: TxId, msg: &Message, now: Duration) -> Result<(), Error> {
        match self.txs.get_mut(&tx) {
            Some(Tx::Server(s)) => {
                if !s.respond(msg, now) {
                    return Err(Error::State("transaction already has a final response"));
                }
            }
            _ => return Err(Error::State("no such server transaction")),
        }
        self.pump(tx);
        Ok(())
    }

    /// Sends a message outside any transaction (2xx ACK, stateless answers).
    pub fn transmit(&mut self, peer: Peer, msg: &Message) {
        self.out.push_back(TxOutput::Transmit {
            peer,
            data: msg.to_bytes(),
        });
    }

    /// Client side: cancels the INVITE of client transaction `tx` by starting a CANCEL
    /// transaction (only once a provisional arrived is it useful; RFC 3261 §9.1).
    pub fn cancel(&mut self, tx: TxId, now: Duration) -> Result<TxId, Error> {
        let (invite, peer) = match self.txs.get(&tx) {
            Some(Tx::Client(c)) if c.kind() == TxKind::Invite => (c.request().clone(), c.peer()),
            _ => return Err(Error::State("no such INVITE client transaction")),
        };
        self.send_request(super::client::build_cancel(&invite), peer, now)
    }

    /// The transport could not deliver to `tx`'s peer.
    pub fn transport_error(&mut self, tx: TxId) {
        match self.txs.get_mut(&tx) {
            Some(Tx::Client(c)) => c.on_transport_error(),
            Some(Tx::Server(s)) => s.on_transport_error(),
            Some(Tx::Lingering(_)) => {
                self.out.push_back(TxOutput::Timeout { tx });
                self.out.push_back(TxOutput::Terminated { tx });
                self.forget(tx);
                return;
            }
            None => return,
        }
        self.pump(tx);
    }

    /// A message arrived from `peer` (already parsed and validated).
    pub fn handle_message(&mut self, msg: Message, peer: Peer, now: Duration) {
        if msg.is_request() {
            self.handle_request(msg, peer, now);
        } else {
            let id = self
                .hasher
                .branch(&msg, false)
                .and_then(|k| self.keys.get(&k).copied());
            match id.and_then(|id| self.txs.get_mut(&id).map(|t| (id, t))) {
                // Only the hop the request went to may answer it: a response with the
                // right branch from anywhere else is forged (an injected 200/486, or a
                // 401 fishing for our credentials) and is dropped.
                Some((_, Tx::Client(c))) if c.peer() != peer => {
                    self.forged_responses += 1;
                    tracing::debug!(
                        from = %peer.addr,
                        expected = %c.peer().addr,
                        "response from another address than its request went to: dropped"
                    );
                }
                Some((id, Tx::Client(c))) => {
                    c.on_response(msg, now);
                    self.pump(id);
                }
                _ => self.out.push_back(TxOutput::StrayResponse { msg, peer }),
            }
        }
    }

    fn handle_request(&mut self, msg: Message, peer: Peer, now: Duration) {
        let Some(key) = self.hasher.branch(&msg, true) else {
            return;
        };
        let is_ack = msg.method() == Some(&Method::Ack);
        if let Some(&id) = self.keys.get(&key) {
            match self.txs.get_mut(&id) {
                Some(Tx::Server(s)) => {
                    if is_ack && s.state() == ServerState::Accepted {
                        // An ACK for our 2xx that reused the INVITE branch (RFC 2543 style).
                        s.on_2xx_ack();
                        self.out.push_back(TxOutput::Ack {
                            invite: Some(id),
                            msg,
                            peer,
                        });
                    } else {
                        s.on_request(&msg, now);
                    }
                    self.pump(id);
                    return;
                }
                Some(Tx::Lingering(l)) => {
                    match l.on_request(is_ack) {
                        Absorbed::Silently => {}
                        Absorbed::Repeat(data) => self
                            .out
                            .push_back(TxOutput::Transmit { peer: l.peer, data }),
                        Absorbed::AckOf2xx => self.out.push_back(TxOutput::Ack {
                            invite: Some(id),
                            msg,
                            peer,
                        }),
                    }
                    return;
                }
                _ => {}
            }
        }
        if is_ack {
            let invite = self
                .hasher
                .dialog(&msg)
                .and_then(|k| self.invites_by_dialog.get(&k).copied());
            if let Some(id) = invite
                && let Some(Tx::Server(s)) = self.txs.get_mut(&id)
            {
                s.on_2xx_ack();
                // Acknowledged: the transaction shrinks to its lingering record now.
                self.pump(id);
            }
            self.out.push_back(TxOutput::Ack { invite, msg, peer });
            return;
        }
        let method = msg.method().cloned();
        if self.over_limits(peer.addr.ip())
            && (method != Some(Method::Cancel) || self.servers >= self.limits.max_server)
        {
            self.refuse_overloaded(&msg, peer);
            return;
        }
        let id = self.alloc();
        let mut tx = ServerTransaction::new(msg.clone(), peer, self.timers);
        self.servers += 1;
        self.keys.insert(key, id);
        if method == Some(Method::Cancel) {
            let invite_key = self.hasher.cancelled_invite(&msg);
            let target = invite_key.and_then(|k| self.keys.get(&k).copied());
            let ok = target.is_some();
            let resp =
                msg.build_response(ResponseSpec::code(if ok { 200 } else { 481 }).to_tag("cancel"));
            tx.respond(&resp, now);
            self.txs.insert(id, Tx::Server(Keyed::boxed(key, tx)));
            self.pump(id);
            if let Some(inv) = target
                && let Some(Tx::Server(s)) = self.txs.get_mut(&inv)
                && !s.is_final()
                && let Some(invite) = s.request()
            {
                let r487 = invite.build_response(ResponseSpec::code(487).to_tag("cancel"));
                s.respond(&r487, now);
                self.pump(inv);
                self.out.push_back(TxOutput::Cancelled { invite: inv });
            }
            return;
        }
        let mut keyed = Keyed::boxed(key, tx);
        if method == Some(Method::Invite) {
            if let Some(dk) = self.hasher.dialog(&msg) {
                self.invites_by_dialog.insert(dk, id);
                keyed.dialog = Some(dk);
            }
            if self.auto_trying {
                keyed.respond(&msg.build_response(ResponseSpec::code(100)), now);
            }
        }
        self.txs.insert(id, Tx::Server(keyed));
        self.track_pending(id, peer.addr.ip());
        self.out.push_back(TxOutput::Request { tx: id, msg, peer });
        self.pump(id);
    }

    /// Answers a request over the limits with 503 and Retry-After, keeping no state.
    fn refuse_overloaded(&mut self, msg: &Message, peer: Peer) {
        self.overloaded += 1;
        tracing::debug!(source = %peer.addr, "server transaction limit reached: 503");
        let resp = msg.build_response(
            ResponseSpec::new(503, "Service Unavailable: Overloaded")
                .to_tag("overload")
                .header(
                    crate::message::HeaderName::RetryAfter,
                    &self.limits.retry_after_secs.to_string(),
                ),
        );
        self.transmit(peer, &resp);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(Reverse((at, id))) = self.wakeups.peek().copied() {
            if at > now {
                break;
            }
            self.wakeups.pop();
            let due = match self.txs.get_mut(&id) {
                Some(Tx::Client(c)) if c.poll_timeout().is_some_and(|t| t <= now) => {
                    c.on_timeout(now);
                    true
                }
                Some(Tx::Server(s)) if s.poll_timeout().is_some_and(|t| t <= now) => {
                    s.on_timeout(now);
                    true
                }
                Some(Tx::Lingering(l)) if l.until <= now => {
                    self.out.push_back(TxOutput::Terminated { tx: id });
                    self.forget(id);
                    false
                }
                _ => false,
            };
            if due {
                self.pump(id);
            }
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] should next be called.
    pub fn poll_timeout(&mut self) -> Option<Duration> {
        while let Some(Reverse((at, id))) = self.wakeups.peek().copied() {
            let live = match self.txs.get(&id) {
                Some(Tx::Client(c)) => c.poll_timeout() == Some(at),
                Some(Tx::Server(s)) => s.poll_timeout() == Some(at),
                Some(Tx::Lingering(l)) => l.until == at,
                None => false,
            };
            if live {
                return Some(at);
            }
            self.wakeups.pop();
            // Re-arm with the real deadline if the transaction still has one.
            let real = match self.txs.get(&id) {
                Some(Tx::Client(c)) => c.poll_timeout(),
                Some(Tx::Server(s)) => s.poll_timeout(),
                Some(Tx::Lingering(l)) => Some(l.until),
                None => None,
            };
            if let Some(t) = real {
                self.wakeups.push(Reverse((t, id)));
            }
        }
        None
    }

    /// Moves a transaction's events to the output queue and re-arms its timer.
    fn pump(&mut self, id: TxId) {
        let mut terminated = false;
        match self.txs.get_mut(&id) {
            Some(Tx::Client(c)) => {
                let peer = c.peer();
                for ev in c.drain_events() {
                    self.out.push_back(match ev {
                        ClientEvent::Transmit(data) => TxOutput::Transmit { peer, data },
                        ClientEvent::Response(msg) => TxOutput::Response { tx: id, msg },
                        ClientEvent::Timeout => TxOutput::Timeout { tx: id },
                        ClientEvent::Terminated => {
                            terminated = true;
                            TxOutput::Terminated { tx: id }
                        }
                    });
                }
                if let Some(t) = c.poll_timeout() {
                    self.wakeups.push(Reverse((t, id)));
                }
            }
            Some(Tx::Server(s)) => {
                let peer = s.peer();
                let answered = s.is_final();
                for ev in s.drain_events() {
                    self.out.push_back(match ev {
                        ServerEvent::Transmit(data) => TxOutput::Transmit { peer, data },
                        ServerEvent::Timeout => TxOutput::Timeout { tx: id },
                        ServerEvent::Terminated => {
                            terminated = true;
                            TxOutput::Terminated { tx: id }
                        }
                    });
                }
                if let Some(t) = s.poll_timeout() {
                    self.wakeups.push(Reverse((t, id)));
                }
                let record = if terminated {
                    None
                } else {
                    Lingering::of(s.key, &s.tx)
                };
                let dialog = s.dialog;
                if answered || terminated {
                    self.untrack_pending(id);
                }
                if let Some(record) = record {
                    // Only absorbing is left: keep the compact record, and forget the
                    // dialog key (a later ACK copy is the dialog layer's business).
                    if let Some(dk) = dialog {
                        self.invites_by_dialog.remove(&dk);
                    }
                    self.txs.insert(id, Tx::Lingering(Box::new(record)));
                }
            }
            Some(Tx::Lingering(_)) | None => {}
        }
        if terminated {
            self.forget(id);
        }
    }

    /// Removes a transaction and its keys.
    fn forget(&mut self, id: TxId) {
        let (key, dialog) = match self.txs.remove(&id) {
            Some(Tx::Client(c)) => (c.key, None),
            Some(Tx::Server(s)) => {
                self.servers -= 1;
                (s.key, s.dialog)
            }
            Some(Tx::Lingering(l)) => {
                self.servers -= 1;
                (l.key, None)
            }
            None => return,
        };
        if self.keys.get(&key) == Some(&id) {
            self.keys.remove(&key);
        }
        if let Some(dk) = dialog
            && self.invites_by_dialog.get(&dk) == Some(&id)
        {
            self.invites_by_dialog.remove(&dk);
        }
    }

    /// The Via value for a new request: `SIP/2.0/UDP host:port;branch=z9hG4bK<id>;rport`.
    pub fn via_value(transport: &str, sent_by: &str, branch_id: &str) -> String {
        format!(
            "SIP/2.0/{transport} {sent_by};branch={}{branch_id};rport",
            crate::message::BRANCH_MAGIC
        )
    }
}
