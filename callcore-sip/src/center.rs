//! callcore's voice transport port over SIP: inbound INVITEs become
//! [`callcore::Inbound`] interactions with a [`SipLeg`], and [`callcore::Transport::place`]
//! rings registered agents' phones (`Endpoint::Sip`) or numbers through trunks
//! (`Endpoint::Phone`).
//!
//! Media: the transport speaks callcore's leg-media port ([`MediaAttach`],
//! [`LegMediaPort`]) and knows no media engine. The engine reserves each leg's RTP
//! address before its SDP is written ([`MediaAttach::reserve`]); every
//! offer/answer, in neutral terms ([`crate::media_seam::negotiated_media`]), starts
//! the leg's media and updates it on re-INVITEs (hold and resume by direction);
//! [`callcore::Leg::bridge`] and [`callcore::Leg::bridge_recorded`] bridge two legs'
//! media (the latter recorded, reporting the recording), [`callcore::Leg::tap`]
//! hands a leg's decoded audio to a detector; the media is torn down with the
//! dialog. callcore-media's `leg_port::RtpMedia` is the RTP engine. Without an
//! engine, every leg advertises `media_addr` and a leg's [`callcore::MediaControl`]
//! answers `CoreError::Unsupported`.

use async_trait::async_trait;
use callcore::{
    BridgeRecording, Channel, Clock, CoreError, Endpoint, FrameSink, HangupCause, IdSource,
    Inbound, Interaction, InteractionId, Leg, LegEvent, LegId, LegMediaPort, LegMediaRequest,
    MediaAttach, MediaControl, PlaceRequest, RecordingRequest, TenantId, TransferReport, Transport,
    UuidV7Ids,
};
use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::contact::FixedContact;
use crate::dial_plan::{DialPlan, TrunkAttempt};
use crate::media_seam::{NO_MEDIA, negotiated_media};
use crate::message::Uri;
use crate::session::{LocalMedia, LocalSrtp, NegotiatedAudio, SrtpPolicy, srtp_acceptable};
use crate::trunk::{Trunk, TrunkRouter};
use crate::ua::driver::{self, SipHandle};
use crate::ua::{CallRef, IdSeed, UaConfig, UaEvent};

/// Configuration of the SIP transport.
#[derive(Debug, Clone)]
pub struct SipCenterConfig {
    /// User agent settings (bind address, registrar, auth).
    pub ua: UaConfig,
    /// Where tags, branches and Call-IDs come from: [`IdSeed::Os`] in production,
    /// a fixed number (`7.into()`) for deterministic tests.
    pub seed: IdSeed,
    /// Listen on TCP too.
    pub tcp: bool,
    /// Tenant of the interactions this transport creates.
    pub tenant: TenantId,
    /// RTP address advertised in SDP (the media engine's).
    pub media_addr: SocketAddr,
    /// Trunks for `Endpoint::Phone`.
    pub trunks: Vec<Trunk>,
    /// Caller id URI for outbound legs when the request's `from` is a bare number.
    pub from_domain: String,
}

/// With [`SipTransport::set_ring_inbound`] off, an inbound call that is not
/// answered this long after it arrived gets 180 Ringing after all (under a
/// failover proxy's 1 s timer, so a slow node keeps its call).
pub const RING_WHEN_SILENT: Duration = Duration::from_millis(300);

/// The attribute of an inbound interaction that holds its SIP Call-ID
/// (with [`SipTransport::set_ring_inbound`] off).
pub const SIP_CALL_ID_ATTRIBUTE: &str = "sip_call_id";

#[path = "center_dial.rs"]
mod dial;
#[path = "center_relay.rs"]
mod relay;
#[path = "center_srtp.rs"]
mod srtp;
pub use dial::TRUNK_TRYING_TIMEOUT;
pub use relay::DivertedCall;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LegStatus {
    Ringing,
    Answered(Option<NegotiatedAudio>),
    Over(HangupCause),
}

type Legs = Arc<Mutex<HashMap<CallRef, Arc<watch::Sender<LegStatus>>>>>;

fn status_of(legs: &Legs, call: CallRef) -> Arc<watch::Sender<LegStatus>> {
    let mut map = legs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(call)
        .or_insert_with(|| Arc::new(watch::channel(LegStatus::Ringing).0))
        .clone()
}

fn cause_of(status: u16) -> HangupCause {
    match status {
        486 | 600 => HangupCause::Busy,
        603 => HangupCause::Declined,
        404 | 484 | 604 => HangupCause::InvalidNumber,
        408 | 480 | 487 => HangupCause::NoAnswer,
        s => HangupCause::Failure(format!("SIP {s}")),
    }
}

/// The SIP voice transport.
#[derive(Debug)]
pub struct SipTransport {
    shared: Arc<Shared>,
    inbound: tokio::sync::Mutex<mpsc::UnboundedReceiver<Inbound>>,
    router: TrunkRouter,
    clock: Arc<dyn Clock>,
    from_domain: String,
    next: AtomicU64,
    /// Addresses of record rung at a fixed contact instead of a registration.
    fixed: Mutex<HashMap<String, FixedContact>>,
    /// Numbers → trunks in failover order (empty: the trunks' own prefixes).
    dial_plan: RwLock<DialPlan>,
    /// How long a trunk may stay silent after an INVITE, in milliseconds.
    trunk_trying_ms: AtomicU64,
    /// Trunks found by DNS (RFC 3263): the lookup and each trunk's domain.
    trunk_dns: RwLock<Option<dial::TrunkDns>>,
}

type Ports = Mutex<HashMap<CallRef, Arc<dyn LegMediaPort>>>;

#[derive(Debug)]
struct Shared {
    handle: SipHandle,
    legs: Legs,
    tenant: TenantId,
    media_addr: SocketAddr,
    attach: Option<Arc<dyn MediaAttach>>,
    /// Live legs' media, for re-INVITEs and teardown.
    ports: Ports,
    /// Where interaction and leg ids come from.
    ids: Arc<dyn IdSource>,
    /// Live legs' events (hold, resume, REFER) for their owners.
    events: crate::center_events::LegEventsMap,
    /// Final statuses of failed outbound calls, until the dialler reads them.
    statuses: Mutex<HashMap<CallRef, u16>>,
    /// SRTP of phones' legs (trunks carry their own).
    srtp: Mutex<srtp::SrtpPolicies>,
    /// Inbound calls get 180 Ringing as soon as they arrive.
    ring_inbound: std::sync::atomic::AtomicBool,
    /// Inbound calls diverted by a Request-URI parameter.
    divert: relay::Divert,
}

impl Shared {
    fn srtp_policies(&self) -> std::sync::MutexGuard<'_, srtp::SrtpPolicies> {
        self.srtp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take_status(&self, call: CallRef) -> Option<u16> {
        self.statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&call)
    }

    async fn reserve(
        &self,
        call: Option<CallRef>,
        leg: &LegId,
        interaction: Option<&InteractionId>,
    ) -> Result<Option<Arc<dyn LegMediaPort>>, CoreError> {
        let Some(attach) = &self.attach else {
            return Ok(None);
        };
        let mut request = LegMediaRequest::new(leg.clone(), self.tenant.clone());
        if let Some(i) = interaction {
            request = request.with_interaction(i.clone());
        }
        let port = attach.reserve(&request).await?;
        if let Some(call) = call {
            self.track(call, port.clone());
        }
        Ok(Some(port))
    }

    fn track(&self, call: CallRef, port: Arc<dyn LegMediaPort>) {
        self.ports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(call, port);
    }

    fn port(&self, call: CallRef) -> Option<Arc<dyn LegMediaPort>> {
        self.ports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&call)
            .cloned()
    }

    /// The leg is over: report the cause once and tear its media down.
    fn finish(&self, call: CallRef, cause: HangupCause) {
        let s = status_of(&self.legs, call);
        if !matches!(*s.borrow(), LegStatus::Over(_)) {
            s.send_replace(LegStatus::Over(cause));
        }
        self.legs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&call);
        self.events.close(call);
        let port = self
            .ports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&call);
        if let Some(p) = port {
            p.close();
        }
    }
}

impl SipTransport {
    /// Binds the sockets and starts the transport on the current tokio runtime.
    ///
    /// Interaction and leg ids are UUIDv7 from [`UuidV7Ids::random`] for
    /// [`IdSeed::Os`], [`UuidV7Ids::seeded`] for a fixed seed; an assembly passes its own [`IdSource`] (production:
    /// [`UuidV7Ids::random`]) through [`start_with_ids`](Self::start_with_ids).
    pub async fn start(
        config: SipCenterConfig,
        clock: Arc<dyn Clock>,
        attach: Option<Arc<dyn MediaAttach>>,
    ) -> std::io::Result<SipTransport> {
        let ids = Arc::new(match config.seed {
            IdSeed::Os => UuidV7Ids::random(clock.clone()),
            IdSeed::Fixed(seed) => UuidV7Ids::seeded(clock.clone(), seed),
        });
        Self::start_with_ids(config, clock, attach, ids).await
    }

    /// As [`start`](Self::start), minting interaction and leg ids from `ids`, so
    /// that they never repeat across restarts and nodes.
    pub async fn start_with_ids(
        config: SipCenterConfig,
        clock: Arc<dyn Clock>,
        attach: Option<Arc<dyn MediaAttach>>,
        ids: Arc<dyn IdSource>,
    ) -> std::io::Result<SipTransport> {
        let opts = driver::DriverOptions {
            tcp: config.tcp,
            ..driver::DriverOptions::default()
        };
        Self::start_with_options(config, opts, clock, attach, ids).await
    }

    /// As [`start_with_ids`](Self::start_with_ids) with every transport option of
    /// the driver (TLS to trunks: trusted CAs and host names); `opts` decides TCP,
    /// not `config.tcp`.
    pub async fn start_with_options(
        config: SipCenterConfig,
        opts: driver::DriverOptions,
        clock: Arc<dyn Clock>,
        attach: Option<Arc<dyn MediaAttach>>,
        ids: Arc<dyn IdSource>,
    ) -> std::io::Result<SipTransport> {
        let (handle, mut events) = driver::start_with(config.ua, config.seed, opts).await?;
        let legs: Legs = Arc::new(Mutex::new(HashMap::new()));
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            handle: handle.clone(),
            legs: legs.clone(),
            tenant: config.tenant.clone(),
            media_addr: config.media_addr,
            attach,
            ports: Mutex::new(HashMap::new()),
            ids,
            events: crate::center_events::LegEventsMap::default(),
            statuses: Mutex::new(HashMap::new()),
            srtp: Mutex::new(srtp::SrtpPolicies::default()),
            ring_inbound: std::sync::atomic::AtomicBool::new(true),
            divert: Mutex::new(None),
        });
        let inbound_trunks = TrunkRouter::new(config.trunks.clone());
        let tenant = config.tenant.clone();
        let dispatch_clock = clock.clone();
        let dispatch = shared.clone();
        tokio::spawn(async move {
            let shared = dispatch;
            while let Some(ev) = events.recv().await {
                match ev {
                    UaEvent::IncomingCall {
                        call,
                        from,
                        to,
                        source,
                        asserted,
                        offer,
                        call_id,
                        request_uri,
                        ..
                    } => {
                        // SRTP: the trunk's policy, else the calling phone's
                        let policy = match srtp::inbound_trunk(&inbound_trunks, source) {
                            Some(t) => t.srtp,
                            None => shared.srtp_policies().for_phone(&from),
                        };
                        let leg_srtp = match srtp::fresh_key() {
                            Ok(key) => LocalSrtp { policy, key },
                            Err(e) => {
                                tracing::warn!(error = %e, "no SRTP key for an inbound call; 503");
                                shared.handle.reject(call, 503);
                                continue;
                            }
                        };
                        let probe =
                            LocalMedia::g711(shared.media_addr, 0).with_srtp(policy, leg_srtp.key);
                        if let Some(Err(e)) = offer.as_ref().map(|o| srtp_acceptable(o, &probe)) {
                            tracing::info!(policy = policy.as_str(), reason = %e, "inbound offer refused: 488");
                            shared.handle.reject(call, 488);
                            continue;
                        }
                        let id = shared.ids.leg_id();
                        let iid = shared.ids.interaction_id();
                        // the RTP address must exist before the answer's SDP is built
                        let port = match shared.reserve(Some(call), &id, Some(&iid)).await {
                            Ok(p) => p,
                            Err(e) => {
                                tracing::warn!(error = %e, "no media for an inbound call; 503");
                                shared.handle.reject(call, 503);
                                continue;
                            }
                        };
                        let status = status_of(&shared.legs, call);
                        let ring = shared
                            .ring_inbound
                            .load(std::sync::atomic::Ordering::Relaxed);
                        if ring {
                            shared.handle.ring(call);
                        } else {
                            // a call still unanswered then rings after all: a
                            // slow node keeps its call rather than have the
                            // proxy move it (a no-op once answered)
                            let (handle, clock) = (shared.handle.clone(), dispatch_clock.clone());
                            tokio::spawn(async move {
                                clock.sleep(RING_WHEN_SILENT).await;
                                handle.ring(call);
                            });
                        }
                        let mut interaction = Interaction::new(
                            iid,
                            tenant.clone(),
                            Channel::Voice,
                            callcore::Direction::Inbound,
                            user_of(&from),
                            user_of(&to),
                            dispatch_clock.now(),
                        );
                        if !ring {
                            // behind a failover proxy: one caller's attempts on
                            // several nodes share it
                            interaction
                                .attributes
                                .insert(SIP_CALL_ID_ATTRIBUTE.to_owned(), call_id);
                        }
                        // IP authentication: a call from a trunk's address is that trunk's
                        if let Some(t) = inbound_trunks.trusted_source(source) {
                            interaction
                                .attributes
                                .insert(TRUNK_ATTRIBUTE.to_owned(), t.name.clone());
                            // the number the carrier asserts wins over the From header
                            if let Some(number) =
                                asserted.as_deref().and_then(crate::trunk::asserted_caller)
                            {
                                interaction.from = callcore::Pii::new(number);
                            }
                        }
                        let leg = SipLeg {
                            id,
                            call,
                            shared: shared.clone(),
                            status,
                            port,
                            media: OnceLock::new(),
                            events: shared.events.open(call),
                            trunk_attempts: Vec::new(),
                            srtp: Some(leg_srtp),
                        };
                        // a leg another cluster node asks this one to ring
                        let Some(leg) = relay::divert(&shared, &request_uri, &from, source, leg)
                        else {
                            continue;
                        };
                        let _ = in_tx.send(Inbound {
                            interaction,
                            leg: Box::new(leg),
                        });
                    }
                    UaEvent::Answered { call, audio } => {
                        status_of(&shared.legs, call).send_replace(LegStatus::Answered(audio));
                    }
                    UaEvent::MediaChanged { call, audio } => {
                        // hold/resume or a new address from the far end's re-INVITE
                        if let Some(p) = shared.port(call)
                            && let Err(e) = p.apply(&negotiated_media(&audio))
                        {
                            tracing::warn!(error = %e, "re-negotiated media not applied");
                        }
                        shared.events.on_media_changed(call, audio.direction);
                    }
                    UaEvent::TransferRequested { call, target } => {
                        shared
                            .events
                            .on_transfer_requested(&shared.handle, call, target);
                    }
                    UaEvent::Failed { call, status, .. } => {
                        shared
                            .statuses
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(call, status);
                        shared.finish(call, cause_of(status));
                    }
                    UaEvent::Cancelled { call } => shared.finish(call, HangupCause::Remote),
                    UaEvent::SessionExpired { call } => {
                        shared.finish(call, HangupCause::Failure("session expired".into()));
                    }
                    UaEvent::Ended { call, by_remote } => {
                        shared.finish(
                            call,
                            if by_remote {
                                HangupCause::Remote
                            } else {
                                HangupCause::Local
                            },
                        );
                    }
                    _ => {}
                }
            }
        });
        Ok(SipTransport {
            shared,
            inbound: tokio::sync::Mutex::new(in_rx),
            router: TrunkRouter::new(config.trunks),
            clock,
            from_domain: config.from_domain,
            next: AtomicU64::new(1),
            fixed: Mutex::new(HashMap::new()),
            dial_plan: RwLock::new(DialPlan::default()),
            trunk_trying_ms: AtomicU64::new(
                u64::try_from(dial::TRUNK_TRYING_TIMEOUT.as_millis()).unwrap_or(4000),
            ),
            trunk_dns: RwLock::new(None),
        })
    }

    /// The SIP endpoint's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.handle.local_addr()
    }

    /// The SIP endpoint, for what the callcore port does not cover (REFER,
    /// registrations, lookups).
    pub fn sip(&self) -> &SipHandle {
        &self.shared.handle
    }

    /// Whether an inbound call gets 180 Ringing as soon as it arrives
    /// (default: on). Off, the caller hears nothing before the center
    /// answers or [`RING_WHEN_SILENT`] passes — a cluster node behind a proxy
    /// that fails calls over to another node when one does not reply in
    /// time — and each inbound
    /// interaction carries its SIP Call-ID as the attribute
    /// [`SIP_CALL_ID_ATTRIBUTE`] (the attempts of one caller on several
    /// nodes share it).
    pub fn set_ring_inbound(&self, on: bool) {
        self.shared
            .ring_inbound
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Rings `aor` at `contact` from now on, registered or not (a desk phone, a PBX
    /// extension or a load tool at a fixed address).
    pub fn set_fixed_contact(&self, aor: &str, contact: FixedContact) {
        self.fixed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(aor.to_owned(), contact);
    }
}

/// The interaction attribute naming the trunk an inbound call came from, when
/// the trunk trusts its source address (IP authentication): only then may the
/// caller's number be taken as the trunk asserted it.
pub const TRUNK_ATTRIBUTE: &str = "trunk";

fn user_of(uri: &str) -> String {
    Uri::parse(uri)
        .ok()
        .and_then(|u| u.user().map(str::to_owned))
        .unwrap_or_else(|| uri.to_owned())
}

#[async_trait]
impl Transport for SipTransport {
    fn name(&self) -> &str {
        "sip"
    }

    async fn accept(&self) -> Option<Inbound> {
        self.inbound.lock().await.recv().await
    }

    fn can_reach(&self, endpoint: &Endpoint) -> bool {
        match endpoint {
            Endpoint::Sip(_) => true,
            Endpoint::Phone(n) => !self.trunks_for(n).is_empty(),
            _ => false,
        }
    }

    async fn place(&self, request: PlaceRequest) -> Result<Box<dyn Leg>, CoreError> {
        if request.channel != Channel::Voice {
            return Err(CoreError::Unsupported("SIP carries voice only"));
        }
        self.place_to(request, None).await
    }
}

impl SipTransport {
    /// Places a voice leg to `request.to`, or to `at` (a Request-URI and
    /// the next hop) when given.
    async fn place_to(
        &self,
        request: PlaceRequest,
        at: Option<(String, crate::transaction::Peer)>,
    ) -> Result<Box<dyn Leg>, CoreError> {
        let from = if request.from.starts_with("sip:") {
            request.from.clone()
        } else {
            format!("sip:{}@{}", request.from, self.from_domain)
        };
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = self.shared.ids.leg_id();
        // the offer's RTP address is the leg's own port (one port for every fork)
        let port = self.shared.reserve(None, &id, None).await?;
        // a fresh key per leg; the policy is the target's (dial decides)
        let key = match srtp::fresh_key() {
            Ok(k) => k,
            Err(e) => {
                if let Some(p) = &port {
                    p.close();
                }
                return Err(e);
            }
        };
        let media = LocalMedia::g711(
            port.as_ref()
                .map_or(self.shared.media_addr, |p| p.local_rtp()),
            n,
        )
        .with_srtp(SrtpPolicy::Off, key);
        let ring = Duration::from_secs(u64::from(request.ring_timeout_secs));
        let deadline = self.clock.now() + ring;
        let dialled = match at {
            Some((uri, peer)) => self.dial_at(uri, peer, &from, &media, deadline).await,
            None => self.dial(&request.to, &from, &media, deadline).await,
        };
        let dialled = match dialled {
            Ok(d) => d,
            Err(e) => {
                if let Some(p) = &port {
                    p.close();
                }
                return Err(e);
            }
        };
        let call = dialled.call;
        if let Some(p) = &port {
            self.shared.track(call, p.clone());
        }
        let leg = SipLeg {
            id,
            call,
            shared: self.shared.clone(),
            status: dialled.status,
            port,
            media: OnceLock::new(),
            events: self.shared.events.open(call),
            trunk_attempts: dialled.attempts,
            srtp: None,
        };
        leg.attach_media(dialled.audio.as_ref());
        Ok(Box::new(leg))
    }
}

/// A SIP call leg.
pub struct SipLeg {
    id: LegId,
    call: CallRef,
    shared: Arc<Shared>,
    status: Arc<watch::Sender<LegStatus>>,
    port: Option<Arc<dyn LegMediaPort>>,
    media: OnceLock<Arc<dyn MediaControl>>,
    events: crate::center_events::LegEventQueue,
    trunk_attempts: Vec<TrunkAttempt>,
    /// An inbound leg's SRTP policy and key, for its answer.
    srtp: Option<LocalSrtp>,
}

impl std::fmt::Debug for SipLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLeg")
            .field("id", &self.id)
            .field("call", &self.call)
            .field("rtp", &self.port.as_ref().map(|p| p.local_rtp()))
            .field("media_attached", &self.media.get().is_some())
            .finish()
    }
}

impl SipLeg {
    /// The user-agent call behind this leg.
    pub fn call(&self) -> CallRef {
        self.call
    }

    /// For a leg placed to a number: the trunks tried, in order, and what came of
    /// each (`[a: 503, b: answered]` after a failover); empty otherwise.
    pub fn trunk_attempts(&self) -> &[TrunkAttempt] {
        &self.trunk_attempts
    }

    /// This leg's media engine port, when an engine is attached.
    pub fn media_port(&self) -> Option<&Arc<dyn LegMediaPort>> {
        self.port.as_ref()
    }

    fn local_rtp(&self) -> SocketAddr {
        self.port
            .as_ref()
            .map_or(self.shared.media_addr, |p| p.local_rtp())
    }

    fn attach_media(&self, audio: Option<&NegotiatedAudio>) {
        let (Some(port), Some(audio)) = (&self.port, audio) else {
            return;
        };
        match port.apply(&negotiated_media(audio)) {
            Ok(Some(control)) => {
                let _ = self.media.set(control);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(leg = %self.id, error = %e, "leg media not started"),
        }
    }

    /// Both legs' media ports, for bridging: the other leg may be a SIP leg or
    /// any leg whose media port is on the same engine (a WebRTC leg).
    fn bridge_ports(
        &self,
        other: &dyn Leg,
    ) -> Result<(&dyn LegMediaPort, Arc<dyn LegMediaPort>), CoreError> {
        self.live()?;
        let theirs = match other.as_any().downcast_ref::<SipLeg>() {
            Some(sip) => {
                sip.live()?;
                sip.port.clone()
            }
            None => other.media_port(),
        };
        match (&self.port, theirs) {
            (Some(a), Some(b)) => Ok((a.as_ref(), b)),
            _ => Err(CoreError::Unsupported(
                "no media engine attached to these legs",
            )),
        }
    }

    fn close_media(&self) {
        if let Some(p) = &self.port {
            p.close();
        }
    }

    fn live(&self) -> Result<(), CoreError> {
        match *self.status.borrow() {
            LegStatus::Over(_) => Err(CoreError::LegEnded),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Leg for SipLeg {
    fn id(&self) -> &LegId {
        &self.id
    }

    fn channel(&self) -> Channel {
        Channel::Voice
    }

    async fn answer(&self) -> Result<(), CoreError> {
        self.live()?;
        if matches!(*self.status.borrow(), LegStatus::Answered(_)) {
            return Ok(());
        }
        let n = self.call.0;
        let mut local = LocalMedia::g711(self.local_rtp(), n);
        local.srtp = self.srtp;
        let audio = self
            .shared
            .handle
            .answer(self.call, local)
            .await
            .map_err(|e| CoreError::Transport(e.to_string()))?;
        self.status.send_replace(LegStatus::Answered(audio));
        self.attach_media(audio.as_ref());
        Ok(())
    }

    async fn hold(&self) -> Result<(), CoreError> {
        self.live()?;
        self.shared.handle.hold(self.call, true);
        Ok(())
    }

    async fn resume(&self) -> Result<(), CoreError> {
        self.live()?;
        self.shared.handle.hold(self.call, false);
        Ok(())
    }

    async fn bridge(&self, other: &dyn Leg) -> Result<(), CoreError> {
        let (a, b) = self.bridge_ports(other)?;
        a.bridge(b.as_ref(), None).map(|_| ())
    }

    async fn bridge_recorded(
        &self,
        other: &dyn Leg,
        recording: &RecordingRequest,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        let (a, b) = self.bridge_ports(other)?;
        a.bridge(b.as_ref(), Some(recording))
    }

    async fn next_event(&self) -> LegEvent {
        self.events.next().await
    }

    async fn report_transfer(&self, report: TransferReport) -> Result<(), CoreError> {
        self.live()?;
        crate::center_events::report(&self.shared.handle, self.call, &report);
        Ok(())
    }

    async fn transfer(&self, target: &str) -> Result<(), CoreError> {
        self.live()?;
        self.shared.handle.refer(self.call, target);
        Ok(())
    }

    async fn hangup(&self, _cause: HangupCause) -> Result<(), CoreError> {
        if self.live().is_ok() {
            self.shared.handle.hangup(self.call);
        }
        self.close_media();
        Ok(())
    }

    async fn ended(&self) -> HangupCause {
        let mut rx = self.status.subscribe();
        match rx.wait_for(|s| matches!(s, LegStatus::Over(_))).await {
            Ok(s) => match &*s {
                LegStatus::Over(c) => c.clone(),
                _ => HangupCause::Local,
            },
            Err(_) => HangupCause::Local,
        }
    }

    fn tap(&self, sink: Box<dyn FrameSink>) -> Result<(), CoreError> {
        self.live()?;
        match &self.port {
            Some(port) => port.tap(sink),
            None => Err(CoreError::Unsupported(
                "no media engine attached to this SIP leg",
            )),
        }
    }

    fn media(&self) -> &dyn MediaControl {
        match self.media.get() {
            Some(m) => m.as_ref(),
            None => &NO_MEDIA,
        }
    }

    fn media_port(&self) -> Option<Arc<dyn LegMediaPort>> {
        self.port.clone()
    }

    fn placed_through(&self) -> Option<String> {
        (!self.trunk_attempts.is_empty())
            .then(|| crate::dial_plan::summary(&self.trunk_attempts, &[]))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
