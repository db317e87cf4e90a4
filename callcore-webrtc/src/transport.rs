//! The WebRTC transport: callcore's [`Transport`] for agents whose endpoint is
//! [`Endpoint::WebRtc`] (a browser), and its [`WebRtcLeg`].
//!
//! Placing a leg reserves an ordinary leg port on the media engine (the same
//! [`MediaAttach`] SIP legs use), opens a server-side peer connection, offers
//! it to the agent's browser through [`BrowserPhones`] and waits for the
//! answer. The port's far end is a loopback "shim" socket of the leg: the
//! browser's audio (SRTP decrypted by webrtc-rs) reaches the port as plain
//! PCMU RTP, and what the port sends to the shim goes to the browser (with the
//! `opus` feature, transcoded to and from Opus when the browser answered Opus:
//! see `crate::codec`). So
//! bridging, rooms, recording, taps and prompts are the media engine's, as
//! for any SIP leg.

use std::any::Any;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    AgentId, AudioCodec, BridgeRecording, Channel, CoreError, Endpoint, FrameSink, HangupCause,
    IdSource, Inbound, Leg, LegId, LegMediaPort, LegMediaRequest, MediaAttach, MediaControl,
    MediaDirection, NegotiatedMedia, PlaceRequest, RecordingRequest, TenantId, Transport,
};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::codec::BrowserCodec;
use crate::peer::Peer;
use crate::phones::{BrowserPhones, Reply};

/// How long an answered call may take to connect (ICE, DTLS) before it fails.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// Settings of the WebRTC transport.
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// The address of the peer connections' host candidates (what browsers
    /// reach): `127.0.0.1` on one machine, the node's LAN address otherwise.
    pub ip: IpAddr,
    /// The tenant of the legs' media.
    pub tenant: TenantId,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        Self {
            ip: Ipv4Addr::LOCALHOST.into(),
            tenant: TenantId::default(),
        }
    }
}

/// callcore's transport to browser agents (see the module docs).
#[derive(Debug, Clone)]
pub struct WebRtcTransport {
    phones: BrowserPhones,
    media: Arc<dyn MediaAttach>,
    ids: Arc<dyn IdSource>,
    config: WebRtcConfig,
}

impl WebRtcTransport {
    /// A transport offering calls through `phones`, with each leg's media on
    /// `media` (the engine the SIP legs use, so that they bridge) and leg ids
    /// from `ids`.
    pub fn new(
        phones: BrowserPhones,
        media: Arc<dyn MediaAttach>,
        ids: Arc<dyn IdSource>,
        config: WebRtcConfig,
    ) -> Self {
        Self {
            phones,
            media,
            ids,
            config,
        }
    }

    /// The browser phones this transport rings.
    pub fn phones(&self) -> &BrowserPhones {
        &self.phones
    }
}

/// The loopback twin of an address (`0.0.0.0` → `127.0.0.1`).
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

/// What a ringing call holds until it is answered: undone when dropped
/// (cancelled, declined, failed).
struct Ringing {
    phones: BrowserPhones,
    call: String,
    port: Arc<dyn LegMediaPort>,
    peer: Option<Arc<Peer>>,
    armed: bool,
}

impl Drop for Ringing {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.phones.end(&self.call);
        self.port.close();
        if let Some(peer) = self.peer.take() {
            tokio::spawn(async move { peer.close().await });
        }
    }
}

#[async_trait]
impl Transport for WebRtcTransport {
    fn name(&self) -> &str {
        "webrtc"
    }

    async fn accept(&self) -> Option<Inbound> {
        // browsers only answer calls here; they place none
        std::future::pending().await
    }

    fn can_reach(&self, endpoint: &Endpoint) -> bool {
        matches!(endpoint, Endpoint::WebRtc(_))
    }

    async fn place(&self, request: PlaceRequest) -> Result<Box<dyn Leg>, CoreError> {
        let Endpoint::WebRtc(agent) = &request.to else {
            return Err(CoreError::Unreachable("not a browser agent".into()));
        };
        if request.channel != Channel::Voice {
            return Err(CoreError::Unsupported("browser phones carry voice only"));
        }
        let agent = AgentId::new(agent.as_str());
        if !self.phones.is_connected(&agent) {
            return Err(CoreError::Unreachable(format!(
                "agent {agent} has no browser phone connected"
            )));
        }
        let id = self.ids.leg_id();
        let span = tracing::info_span!("webrtc_leg", leg = %id, agent = %agent);
        self.ring(request, agent, id).instrument(span).await
    }
}

impl WebRtcTransport {
    /// Offers the call to the agent's browser and waits for its answer.
    async fn ring(
        &self,
        request: PlaceRequest,
        agent: AgentId,
        id: LegId,
    ) -> Result<Box<dyn Leg>, CoreError> {
        let call = id.as_str().to_owned();
        let port = self
            .media
            .reserve(&LegMediaRequest::new(
                id.clone(),
                self.config.tenant.clone(),
            ))
            .await?;
        let mut ringing = Ringing {
            phones: self.phones.clone(),
            call: call.clone(),
            port: port.clone(),
            peer: None,
            armed: true,
        };
        let port_addr = reachable(port.local_rtp());
        let shim = UdpSocket::bind(SocketAddr::new(port_addr.ip(), 0))
            .await
            .map_err(|e| CoreError::Media(format!("shim socket: {e}")))?;
        let shim_addr = shim
            .local_addr()
            .map_err(|e| CoreError::Media(format!("shim socket: {e}")))?;
        let (peer, sdp) = Peer::offer(self.config.ip)
            .await
            .map_err(|e| CoreError::Transport(e.to_string()))?;
        let peer = Arc::new(peer);
        ringing.peer = Some(peer.clone());
        let offered = self
            .phones
            .offer(&agent, &call, &sdp, &request.from)
            .ok_or_else(|| CoreError::Unreachable(format!("agent {agent}'s browser left")))?;
        tracing::debug!("offered to the browser");
        let ring = Duration::from_secs(u64::from(request.ring_timeout_secs.max(1)));
        let answer = match tokio::time::timeout(ring, offered.reply).await {
            Err(_) => return Err(CoreError::NotAnswered(HangupCause::NoAnswer)),
            Ok(Err(_) | Ok(Reply::Gone)) => {
                return Err(CoreError::NotAnswered(HangupCause::NoAnswer));
            }
            Ok(Ok(Reply::Declined)) => return Err(CoreError::NotAnswered(HangupCause::Declined)),
            Ok(Ok(Reply::Answered(sdp))) => sdp,
        };
        tracing::debug!("the browser answered; connecting");
        let codec = BrowserCodec::from_answer(&answer);
        tracing::debug!(?codec, "the browser's codec");
        peer.answered(answer)
            .await
            .map_err(|e| CoreError::Transport(e.to_string()))?;
        let mut state = peer.state();
        let connected = tokio::time::timeout(
            CONNECT_LIMIT,
            state.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await;
        if !matches!(connected, Ok(Ok(ref s)) if **s == RTCPeerConnectionState::Connected) {
            return Err(CoreError::Transport(
                "the browser's peer connection did not connect".into(),
            ));
        }
        drop(connected);
        let media = port
            .apply(&NegotiatedMedia::new(Some(shim_addr), AudioCodec::pcmu()))?
            .ok_or_else(|| CoreError::Media("the leg's media had started already".into()))?;
        let tasks = peer
            .forward(shim, port_addr, codec)
            .map_err(|e| CoreError::Media(e.to_string()))?;
        ringing.armed = false;
        tracing::info!("browser agent answered");
        let ending = Arc::new(Ending {
            call,
            phones: self.phones.clone(),
            port: port.clone(),
            peer,
            tasks: Mutex::new(tasks),
            status: watch::channel(None).0,
            shim: shim_addr,
        });
        tokio::spawn(watch_end(ending.clone(), offered.gone));
        Ok(Box::new(WebRtcLeg {
            id,
            agent,
            port,
            media,
            ending,
        }))
    }
}

/// Ends a leg once, whoever ends it.
struct Ending {
    call: String,
    phones: BrowserPhones,
    port: Arc<dyn LegMediaPort>,
    peer: Arc<Peer>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    status: watch::Sender<Option<HangupCause>>,
    /// Where the port sends (the shim socket).
    shim: SocketAddr,
}

impl Ending {
    fn end(&self, cause: HangupCause) {
        let first = self.status.send_if_modified(|s| {
            if s.is_some() {
                return false;
            }
            *s = Some(cause.clone());
            true
        });
        if !first {
            return;
        }
        tracing::info!(call = %self.call, ?cause, "browser leg ended");
        self.phones.end(&self.call);
        self.port.close();
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        let peer = self.peer.clone();
        tokio::spawn(async move { peer.close().await });
    }

    fn live(&self) -> Result<(), CoreError> {
        match *self.status.borrow() {
            Some(_) => Err(CoreError::LegEnded),
            None => Ok(()),
        }
    }
}

/// Ends the leg when the browser hangs up, its session closes or the
/// connection fails.
async fn watch_end(ending: Arc<Ending>, mut gone: watch::Receiver<bool>) {
    let mut state = ending.peer.state();
    let mut status = ending.status.subscribe();
    let cause = tokio::select! {
        _ = gone.wait_for(|g| *g) => HangupCause::Remote,
        s = state.wait_for(|s| matches!(s, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed)) => {
            match s.map(|s| *s) {
                Ok(RTCPeerConnectionState::Closed) => HangupCause::Remote,
                _ => HangupCause::Failure("the browser's connection failed".into()),
            }
        }
        _ = status.wait_for(Option::is_some) => return,
    };
    ending.end(cause);
}

/// A call leg to a browser agent (see the module docs).
pub struct WebRtcLeg {
    id: LegId,
    agent: AgentId,
    port: Arc<dyn LegMediaPort>,
    media: Arc<dyn MediaControl>,
    ending: Arc<Ending>,
}

impl std::fmt::Debug for WebRtcLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcLeg")
            .field("id", &self.id)
            .field("agent", &self.agent)
            .field("rtp", &self.port.local_rtp())
            .finish_non_exhaustive()
    }
}

impl WebRtcLeg {
    /// The agent whose browser carries the leg.
    pub fn agent(&self) -> &AgentId {
        &self.agent
    }

    /// The other leg's media port, for bridging.
    fn other_port(&self, other: &dyn Leg) -> Result<Arc<dyn LegMediaPort>, CoreError> {
        self.ending.live()?;
        other.media_port().ok_or(CoreError::Unsupported(
            "the other leg has no media port to bridge to",
        ))
    }

    fn direction(&self, direction: MediaDirection) -> Result<(), CoreError> {
        self.ending.live()?;
        let addr = Some(self.ending.shim);
        self.port
            .apply(&NegotiatedMedia::new(addr, AudioCodec::pcmu()).with_direction(direction))
            .map(|_| ())
    }
}

#[async_trait]
impl Leg for WebRtcLeg {
    fn id(&self) -> &LegId {
        &self.id
    }

    fn channel(&self) -> Channel {
        Channel::Voice
    }

    async fn answer(&self) -> Result<(), CoreError> {
        self.ending.live() // placed legs are answered
    }

    async fn hold(&self) -> Result<(), CoreError> {
        self.direction(MediaDirection::SendOnly)
    }

    async fn resume(&self) -> Result<(), CoreError> {
        self.direction(MediaDirection::SendRecv)
    }

    async fn bridge(&self, other: &dyn Leg) -> Result<(), CoreError> {
        let b = self.other_port(other)?;
        self.port.bridge(b.as_ref(), None).map(|_| ())
    }

    async fn bridge_recorded(
        &self,
        other: &dyn Leg,
        recording: &RecordingRequest,
    ) -> Result<Option<BridgeRecording>, CoreError> {
        let b = self.other_port(other)?;
        self.port.bridge(b.as_ref(), Some(recording))
    }

    fn tap(&self, sink: Box<dyn FrameSink>) -> Result<(), CoreError> {
        self.ending.live()?;
        self.port.tap(sink)
    }

    async fn transfer(&self, _target: &str) -> Result<(), CoreError> {
        Err(CoreError::Unsupported(
            "a browser agent's leg is transferred by the center, not by the browser",
        ))
    }

    async fn hangup(&self, cause: HangupCause) -> Result<(), CoreError> {
        let _ = cause;
        self.ending.end(HangupCause::Local);
        Ok(())
    }

    async fn ended(&self) -> HangupCause {
        let mut rx = self.ending.status.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(s) => s.clone().unwrap_or(HangupCause::Local),
            Err(_) => HangupCause::Local,
        }
    }

    fn media(&self) -> &dyn MediaControl {
        self.media.as_ref()
    }

    fn media_port(&self) -> Option<Arc<dyn LegMediaPort>> {
        Some(self.port.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
