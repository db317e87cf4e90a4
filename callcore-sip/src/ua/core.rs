//! The user agent core: owns the transaction layer and the calls, turns datagrams and
//! application commands into messages, and reports call events.

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use super::ids::IdGen;
use crate::auth::{Authenticator, CredentialStore, DigestConfig};
use crate::message::{AdmissionPolicy, HeaderName, Message, ParseOptions, error_response, lex};
use crate::registrar::Registrar;
use crate::session::{Dialog, LocalMedia, NegotiatedAudio, SessionDescription};
use crate::transaction::{Peer, Timers, TransactionLayer, TransportKind, TxId, TxOutput};

/// Identifies a call (one INVITE dialog) inside a [`UserAgent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

/// Configuration of a user agent.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// The address we advertise in Via and Contact.
    pub local_addr: SocketAddr,
    /// Transport used for requests we originate.
    pub transport: TransportKind,
    /// `User-Agent`/`Server` header value.
    pub user_agent: String,
    /// Transaction timers.
    pub timers: Timers,
    /// Admission checks for requests.
    pub policy: AdmissionPolicy,
    /// Maximum message size (513 above).
    pub max_size: usize,
    /// Act as registrar for REGISTER requests (otherwise 405).
    pub registrar: bool,
    /// Digest authentication for REGISTER (and INVITE when `auth_invites`).
    pub auth: Option<(DigestConfig, Arc<dyn CredentialStore>)>,
    /// Also challenge new INVITEs (phones calling in); trunks usually are not.
    pub auth_invites: bool,
    /// Per-source limit on requests; requests over it are dropped unanswered.
    pub rate_limit: Option<super::limits::RateLimit>,
    /// Bounds on message shape, transactions and calls (on by default).
    pub limits: super::limits::Limits,
    /// Where we take SIP over TLS (set by the driver when it binds a TLS listener);
    /// advertised in `sips:` Contacts.
    pub tls_addr: Option<SocketAddr>,
    /// Smallest session interval we accept (RFC 4028 `Min-SE`); INVITEs asking less
    /// get 422. The RFC's 90 s by default; lower only for tests.
    pub min_se: u32,
    /// Answer a new INVITE with 100 Trying at once (RFC 3261 §17.2.1; on by
    /// default). Off, the first reply is the center's own: a cluster node
    /// behind a proxy that fails a silent node's calls over to another.
    pub auto_trying: bool,
}

impl UaConfig {
    /// Defaults for an address: UDP, RFC 3261 timers, 64 KiB messages.
    pub fn new(local_addr: SocketAddr) -> Self {
        UaConfig {
            local_addr,
            transport: TransportKind::Udp,
            user_agent: "callcore".into(),
            timers: Timers::default(),
            policy: AdmissionPolicy::default(),
            max_size: crate::message::DEFAULT_MAX_SIZE,
            registrar: false,
            auth: None,
            auth_invites: false,
            rate_limit: None,
            limits: super::limits::Limits::default(),
            tls_addr: None,
            min_se: crate::session::MIN_SE,
            auto_trying: true,
        }
    }
}

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// IncomingCall carries the SDP offer inline: events are passed on at once, never
// stored in bulk, so its size costs nothing worth a box per call.
#[allow(clippy::large_enum_variant)]
pub enum UaEvent {
    /// A new inbound call is ringing here; answer, reject or redirect it.
    IncomingCall {
        /// The call.
        call: CallRef,
        /// From URI.
        from: String,
        /// To URI.
        to: String,
        /// Request-URI.
        request_uri: String,
        /// The SDP offer, if the INVITE had one.
        offer: Option<SessionDescription>,
        /// The established call this one replaces (attended transfer, RFC 3891); when
        /// answered, the replaced call is ended with BYE.
        replaces: Option<CallRef>,
        /// The address the INVITE came from (IP authentication of trunks).
        source: std::net::IpAddr,
        /// `P-Asserted-Identity` as sent (RFC 3325): the caller's identity as a
        /// trusted network asserts it; anyone can send one, so believe it only from
        /// a trusted trunk (see [`crate::trunk::asserted_caller`]).
        asserted: Option<Box<str>>,
        /// The INVITE's Call-ID (a proxy that moves a call to another node
        /// keeps it).
        call_id: String,
    },
    /// The caller cancelled before we answered.
    Cancelled {
        /// The call.
        call: CallRef,
    },
    /// Our answer was acknowledged (inbound call fully established).
    Confirmed {
        /// The call.
        call: CallRef,
    },
    /// Outbound call: the far end rings (180/183).
    Ringing {
        /// The call.
        call: CallRef,
        /// 180 or 183.
        status: u16,
    },
    /// Outbound call answered.
    Answered {
        /// The call.
        call: CallRef,
        /// Negotiated audio, when the answer carried SDP.
        audio: Option<NegotiatedAudio>,
    },
    /// Outbound call failed with this status (408 on timeout).
    Failed {
        /// The call.
        call: CallRef,
        /// Final status.
        status: u16,
        /// Contact of a 3xx redirect.
        redirect: Option<String>,
    },
    /// The far end changed the session (re-INVITE/UPDATE), e.g. hold or resume.
    MediaChanged {
        /// The call.
        call: CallRef,
        /// The new negotiated audio.
        audio: NegotiatedAudio,
    },
    /// The far end asks us to transfer the call (REFER). Answer it with
    /// [`UserAgent::answer_refer`] (202, or a refusal), then report the new call's
    /// progress with [`UserAgent::notify_transfer`].
    TransferRequested {
        /// The call carrying the REFER.
        call: CallRef,
        /// Refer-To URI.
        target: String,
    },
    /// Progress of a transfer we requested: the REFER's final status, then the
    /// statuses the far end reports in NOTIFY sipfrag bodies.
    TransferProgress {
        /// The call we transferred.
        call: CallRef,
        /// Status code (202 accepted, then 100/180/200... of the new call).
        status: u16,
    },
    /// Our registration with a trunk succeeded (granted expiry in seconds).
    TrunkRegistered {
        /// Trunk name.
        trunk: String,
        /// Granted expiry.
        expires: u32,
    },
    /// Our registration with a trunk failed (retried in 60 s).
    TrunkRegistrationFailed {
        /// Trunk name.
        trunk: String,
        /// Final status (408 on timeout).
        status: u16,
    },
    /// A phone registered, refreshed or removed bindings (current contacts listed).
    Registered {
        /// Address of record.
        aor: String,
        /// Live contacts after the update.
        contacts: Vec<String>,
        /// The authenticated user, when authentication is on.
        user: Option<String>,
    },
    /// A session timer ran out without a refresh (RFC 4028 §10): we send BYE, and
    /// [`UaEvent::Ended`] follows.
    SessionExpired {
        /// The call.
        call: CallRef,
    },
    /// The call ended.
    Ended {
        /// The call.
        call: CallRef,
        /// True when the far end hung up.
        by_remote: bool,
    },
}

/// What the user agent asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // see UaEvent
pub enum UaOutput {
    /// Send bytes.
    Transmit {
        /// Destination.
        peer: Peer,
        /// Serialized message.
        data: Bytes,
    },
    /// Report an event to the application.
    Event(UaEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Inbound: ringing, not answered.
    InboundPending,
    /// Inbound: 2xx sent, waiting for ACK.
    InboundAnswered,
    /// Outbound: INVITE sent.
    OutboundPending,
    /// Outbound: CANCEL requested.
    OutboundCancelling,
    /// Established.
    Confirmed,
    /// BYE sent, waiting for its answer.
    Terminating,
    /// Over.
    Ended,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) state: CallState,
    pub(crate) peer: Peer,
    pub(crate) invite: Message,
    pub(crate) invite_tx: Option<TxId>,
    pub(crate) local_tag: String,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) local_media: Option<LocalMedia>,
    pub(crate) offer: Option<SessionDescription>,
    pub(crate) sdp_version: u64,
    /// RSeq of the last reliable provisional we acknowledged with PRACK.
    pub(crate) last_rseq: Option<u32>,
    /// Our reliable provisional awaiting PRACK.
    pub(crate) reliable: Option<super::reliable::PendingReliable>,
    /// The call an INVITE with Replaces takes over.
    pub(crate) replaces: Option<CallRef>,
}

/// A SIP user agent (UAS + UAC) as a sans-IO state machine.
#[derive(Debug)]
pub struct UserAgent {
    pub(crate) config: UaConfig,
    pub(crate) layer: TransactionLayer,
    pub(crate) ids: IdGen,
    pub(crate) next_call: u64,
    pub(crate) calls: HashMap<CallRef, Call>,
    /// (Call-ID, local tag) → call.
    pub(crate) by_dialog: HashMap<(String, String), CallRef>,
    pub(crate) by_tx: HashMap<TxId, CallRef>,
    pub(crate) out: VecDeque<UaOutput>,
    pub(crate) registrar: Registrar,
    pub(crate) outbound: super::outbound::Outbound,
    pub(crate) limiter: Option<super::limits::SourceLimiter>,
    pub(crate) authenticator: Option<Authenticator>,
    /// Calls with a reliable provisional awaiting PRACK (so timers never scan every call).
    pub(crate) reliable_calls: std::collections::HashSet<CallRef>,
    /// REFERs waiting for the application's answer.
    pub(crate) pending_refers: HashMap<CallRef, super::refer::PendingRefer>,
    /// Where each registered contact's REGISTER came from (its connection for
    /// TCP/TLS), so that the phone is rung over the transport it registered with.
    /// AOR → contact → source peer.
    pub(crate) contact_sources: HashMap<String, HashMap<String, Peer>>,
    /// Trunks' credentials by address, for INVITE challenges.
    pub(crate) call_credentials: HashMap<Peer, crate::trunk::TrunkRegistration>,
    /// Outbound calls whose INVITE was already sent again with credentials.
    pub(crate) auth_retried: std::collections::HashSet<CallRef>,
    /// Outbound calls that got a provisional response (100-199) to their INVITE.
    pub(crate) proceeding: std::collections::HashSet<CallRef>,
    /// Traffic counters.
    pub(crate) stats: Arc<super::stats::SipStats>,
    /// Draining: new INVITEs get 503 with this Retry-After (seconds).
    pub(crate) draining: Option<u32>,
    /// Inbound calls by source address (for the per-source call limit).
    pub(crate) inbound_source: HashMap<CallRef, std::net::IpAddr>,
    pub(crate) inbound_by_source: HashMap<std::net::IpAddr, usize>,
    /// Session timers of the calls that negotiated one.
    pub(crate) session_timers: super::session_timers::SessionTimers,
}

impl UserAgent {
    /// A user agent with ids drawn from `seed`: deterministic, for tests and
    /// simulations (the ids can be predicted). Production uses
    /// [`UserAgent::with_ids`] with an [`IdGen::keyed`] from the OS (the tokio driver
    /// does this for [`IdSeed::Os`](super::IdSeed::Os)).
    pub fn new(config: UaConfig, seed: u64) -> Self {
        Self::with_ids(config, IdGen::new(seed))
    }

    /// A user agent whose tags, branches, Call-IDs and secrets come from `ids`.
    pub fn with_ids(config: UaConfig, mut ids: IdGen) -> Self {
        let secret: Vec<u8> = (0..4).flat_map(|_| ids.next_u64().to_le_bytes()).collect();
        let authenticator = config
            .auth
            .as_ref()
            .map(|(c, _)| Authenticator::new(c.clone(), &secret));
        UserAgent {
            registrar: Registrar::default(),
            outbound: super::outbound::Outbound::default(),
            limiter: config.rate_limit.map(super::limits::SourceLimiter::new),
            authenticator,
            layer: {
                let mut layer = TransactionLayer::new(config.timers);
                layer.set_limits(config.limits.transactions);
                layer.auto_trying = config.auto_trying;
                layer
            },
            config,
            ids,
            next_call: 1,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_tx: HashMap::new(),
            out: VecDeque::new(),
            reliable_calls: std::collections::HashSet::new(),
            pending_refers: HashMap::new(),
            inbound_source: HashMap::new(),
            inbound_by_source: HashMap::new(),
            contact_sources: HashMap::new(),
            call_credentials: HashMap::new(),
            auth_retried: std::collections::HashSet::new(),
            proceeding: std::collections::HashSet::new(),
            stats: Arc::default(),
            draining: None,
            session_timers: Default::default(),
        }
    }

    /// The traffic counters (shared; read them from any thread).
    pub fn stats(&self) -> &Arc<super::stats::SipStats> {
        &self.stats
    }

    /// Drains (`Some(retry_after_secs)`): new INVITEs are refused with 503 and
    /// that Retry-After while calls in progress go on; `None` takes calls again.
    pub fn set_draining(&mut self, retry_after: Option<u32>) {
        self.draining = retry_after;
    }

    /// Hangs up every call (BYE, CANCEL or a final response as each needs).
    pub fn hangup_all(&mut self, now: Duration) {
        let calls: Vec<CallRef> = self.calls.keys().copied().collect();
        for call in calls {
            if let Err(e) = self.hangup(call, now) {
                tracing::debug!(call = call.0, error = %e, "not hung up");
            }
        }
    }

    /// What the transaction layer holds (for tests and metrics).
    pub fn transaction_counts(&self) -> crate::transaction::TxCounts {
        self.layer.counts()
    }

    /// Number of calls held (inbound and outbound, not yet forgotten).
    pub fn calls_held(&self) -> usize {
        self.calls.len()
    }

    /// True when a new inbound call from `source` would exceed the call limits.
    pub(crate) fn calls_over_limits(&self, source: std::net::IpAddr) -> bool {
        self.inbound_source.len() >= self.config.limits.max_calls
            || self.inbound_by_source.get(&source).copied().unwrap_or(0)
                >= self.config.limits.max_calls_per_source
    }

    /// The configuration.
    pub fn config(&self) -> &UaConfig {
        &self.config
    }

    /// Number of calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .count()
    }

    /// Whether outbound `call` got a provisional response (100 Trying, 180…) to its
    /// INVITE: the far end is alive and working on it.
    pub fn is_proceeding(&self, call: CallRef) -> bool {
        self.proceeding.contains(&call)
    }

    /// The registrar's bindings (read-only).
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Our Contact value for requests we originate (transport of the configuration).
    pub fn contact(&self) -> String {
        self.contact_for(self.config.transport)
    }

    /// Our Contact value for a dialog over `transport`: `sips:` at the TLS address for
    /// TLS (RFC 5630), `;transport=tcp` for TCP.
    pub fn contact_for(&self, transport: TransportKind) -> String {
        match transport {
            TransportKind::Udp => format!("<sip:callcore@{}>", self.config.local_addr),
            TransportKind::Tcp => {
                format!("<sip:callcore@{};transport=tcp>", self.config.local_addr)
            }
            TransportKind::Tls => format!(
                "<sips:callcore@{}>",
                self.config.tls_addr.unwrap_or(self.config.local_addr)
            ),
        }
    }

    /// A Via value with a fresh branch for a request sent over `transport`.
    pub(crate) fn new_via_for(&mut self, transport: TransportKind) -> String {
        let branch = self.ids.token();
        let sent_by = match transport {
            TransportKind::Tls => self.config.tls_addr.unwrap_or(self.config.local_addr),
            _ => self.config.local_addr,
        };
        TransactionLayer::via_value(transport.via_token(), &sent_by.to_string(), &branch)
    }

    /// A Via value for a request of `call`, naming the transport the call runs over.
    pub(crate) fn via_for_call(&mut self, call: CallRef) -> String {
        let t = self
            .calls
            .get(&call)
            .map_or(self.config.transport, |c| c.peer.transport);
        self.new_via_for(t)
    }

    /// Our Contact for `call`'s dialog (its transport's).
    pub(crate) fn contact_of_call(&self, call: CallRef) -> String {
        let t = self
            .calls
            .get(&call)
            .map_or(self.config.transport, |c| c.peer.transport);
        self.contact_for(t)
    }

    pub(crate) fn alloc_call(&mut self, call: Call) -> CallRef {
        let r = CallRef(self.next_call);
        self.next_call += 1;
        if call.state == CallState::InboundPending {
            let source = call.peer.addr.ip();
            self.inbound_source.insert(r, source);
            *self.inbound_by_source.entry(source).or_insert(0) += 1;
        }
        self.calls.insert(r, call);
        r
    }

    pub(crate) fn end_call(&mut self, call: CallRef, by_remote: bool) {
        if let Some(c) = self.calls.get_mut(&call)
            && c.state != CallState::Ended
        {
            c.state = CallState::Ended;
            self.emit(UaEvent::Ended { call, by_remote });
        }
        self.reap(call);
    }

    /// Forgets an ended call (transactions absorb any late retransmission).
    pub(crate) fn reap(&mut self, call: CallRef) {
        self.auth_retried.remove(&call);
        self.proceeding.remove(&call);
        self.session_timers.disarm(call);
        if let Some(c) = self.calls.remove(&call) {
            let cid = c.invite.call_id().unwrap_or("").to_owned();
            self.by_dialog.remove(&(cid, c.local_tag));
        }
        if let Some(source) = self.inbound_source.remove(&call)
            && let Some(n) = self.inbound_by_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.inbound_by_source.remove(&source);
            }
        }
    }

    /// A datagram (or stream frame) arrived from `peer`.
    pub fn handle_datagram(&mut self, data: Bytes, peer: Peer, now: Duration) {
        self.stats.on_received(&data);
        // Responses are not limited (they answer our own requests).
        if !data.starts_with(b"SIP/")
            && let Some(l) = self.limiter.as_mut()
            && !l.allow(peer.addr.ip(), now)
        {
            tracing::debug!(source = %peer.addr, "request over the per-source rate: dropped");
            return;
        }
        let opts = ParseOptions {
            max_size: self.config.max_size,
            datagram: peer.transport == TransportKind::Udp,
            max_header_lines: self.config.limits.max_header_lines,
            max_line_len: self.config.limits.max_line_len,
        };
        let mut msg = match Message::parse_with(data.clone(), opts) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(fault = %e, peer = %peer.addr, "rejected SIP message");
                let tag = self.ids.token();
                if let Some(mut resp) = error_response(&data, &e, &tag) {
                    stamp_received(&mut resp, peer);
                    self.layer.transmit(peer, &resp);
                }
                self.pump(now);
                return;
            }
        };
        if msg.is_request() {
            if msg.method() != Some(&crate::message::Method::Ack)
                && let Err(e) = self.config.policy.admit(&msg)
            {
                let tag = self.ids.token();
                if let Some(mut resp) = error_response(&data, &e, &tag) {
                    stamp_received(&mut resp, peer);
                    self.layer.transmit(peer, &resp);
                }
                self.pump(now);
                return;
            }
            stamp_received(&mut msg, peer);
        }
        self.layer.handle_message(msg, peer, now);
        self.pump(now);
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.layer.handle_timeout(now);
        self.on_outbound_timers(now);
        self.on_reliable_timers(now);
        self.on_refer_timers(now);
        self.on_session_timers(now);
        self.pump(now);
    }

    /// When to call [`UserAgent::handle_timeout`] next.
    pub fn poll_timeout(&mut self) -> Option<Duration> {
        [
            self.layer.poll_timeout(),
            self.outbound.next_deadline(),
            self.next_reliable_deadline(),
            self.next_refer_deadline(),
            self.next_session_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<UaOutput> {
        let out = self.out.pop_front();
        match &out {
            Some(UaOutput::Transmit { data, .. }) => self.stats.on_sent(data),
            Some(UaOutput::Event(_)) => {}
            None => self.stats.set_alive(self.layer.len(), self.calls.len()),
        }
        out
    }

    pub(crate) fn emit(&mut self, ev: UaEvent) {
        self.out.push_back(UaOutput::Event(ev));
    }

    /// Routes transaction-layer outputs to the call logic until none is left.
    pub(crate) fn pump(&mut self, now: Duration) {
        while let Some(o) = self.layer.poll_output() {
            match o {
                TxOutput::Transmit { peer, data } => {
                    self.out.push_back(UaOutput::Transmit { peer, data })
                }
                TxOutput::Request { tx, msg, peer } => self.on_request(tx, msg, peer, now),
                TxOutput::Ack { msg, .. } => self.on_ack(&msg),
                TxOutput::Cancelled { invite } => self.on_cancelled(invite),
                TxOutput::Response { tx, msg } => {
                    if !self.on_outbound_result(tx, Some(&msg), now) {
                        self.on_response(tx, msg, now);
                    }
                }
                TxOutput::StrayResponse { msg, peer } => self.on_stray_response(&msg, peer),
                TxOutput::Timeout { tx } => {
                    if !self.on_outbound_result(tx, None, now) {
                        self.on_tx_timeout(tx, now);
                    }
                }
                TxOutput::Terminated { tx } => {
                    self.by_tx.remove(&tx);
                }
            }
        }
    }
}

/// Adds `received`/`rport` to the top Via of a request from `peer` (RFC 3261 §18.2.1,
/// RFC 3581).
fn stamp_received(msg: &mut Message, peer: Peer) {
    let Ok(via) = msg.top_via() else { return };
    let ip = peer.addr.ip().to_string();
    let host = via.host().trim_start_matches('[').trim_end_matches(']');
    let wants_rport = via.rport().is_some();
    if host == ip && !wants_rport {
        return;
    }
    let Some(line) = msg.header(&HeaderName::Via) else {
        return;
    };
    let first = lex::split_outside(line, b',')
        .and_then(|mut s| s.next())
        .unwrap_or(line);
    let rest = &line[first.len()..];
    let mut stamped = lex::trim_lws(first).to_owned();
    if wants_rport {
        stamped = stamped
            .split(';')
            .filter(|p| !lex::trim_lws(p).eq_ignore_ascii_case("rport"))
            .collect::<Vec<_>>()
            .join(";");
        stamped.push_str(&format!(";rport={}", peer.addr.port()));
    }
    stamped.push_str(&format!(";received={ip}"));
    let new_line = format!("{stamped}{rest}");
    msg.replace_first_header(&HeaderName::Via, &new_line);
}
