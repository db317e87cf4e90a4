//! One server-side WebRTC peer (webrtc-rs) of a browser call: PCMU (and Opus
//! first, with the `opus` feature: see [`crate::codec`]), no mDNS, host candidates on one address, a non-trickle offer, and the two
//! forwarders that join it to the leg's callcore-media port through a loopback
//! "shim" socket: what the browser sends (decrypted) goes to the port as plain
//! RTP, what the port sends to the shim goes to the browser's track.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::shared::marshal::{Marshal, Unmarshal};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

use crate::WebRtcError;
use crate::codec::BrowserCodec;

/// How long ICE gathering may take before the offer goes out with what it has.
const GATHER_LIMIT: Duration = Duration::from_secs(5);

/// Largest RTP datagram forwarded.
const MAX_RTP: usize = 1500;

/// The events of one peer connection the leg follows.
struct Events {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "browser peer connection");
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// A browser call's peer connection.
pub(crate) struct Peer {
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    state: watch::Receiver<RTCPeerConnectionState>,
    tracks: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("ssrc", &self.ssrc)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

fn webrtc(what: &'static str) -> impl FnOnce(webrtc::error::Error) -> WebRtcError {
    move |e| WebRtcError::Peer {
        what,
        detail: e.to_string(),
    }
}

impl Peer {
    /// A peer with one audio track (send and receive: the codecs of
    /// [`BrowserCodec::offered`]) and host candidates on `ip`, and its complete
    /// SDP offer (every candidate in it).
    pub(crate) async fn offer(ip: IpAddr) -> Result<(Peer, String), WebRtcError> {
        let mut media = MediaEngine::default();
        for (codec, payload_type) in BrowserCodec::offered() {
            media
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: codec.rtp_codec(),
                        payload_type,
                    },
                    RtpCodecKind::Audio,
                )
                .map_err(webrtc("codec"))?;
        }
        // a server needs no mDNS, and it fails where the only interface is `lo`
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let (gathered, mut gathered_rx) = watch::channel(false);
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (tracks_tx, tracks) = mpsc::unbounded_channel();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Events {
                gathered,
                state: state_tx,
                tracks: tracks_tx,
            }))
            .with_udp_addrs(vec![SocketAddr::new(ip, 0)])
            .build()
            .await
            .map_err(webrtc("peer connection"))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let ssrc = getrandom::u32().unwrap_or(0x5EED_7000);
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "callcore".to_owned(),
            "callcore-audio".to_owned(),
            "callcore-audio".to_owned(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: BrowserCodec::preferred().rtp_codec(),
                ..Default::default()
            }],
        )));
        let peer = Peer {
            pc,
            track,
            ssrc,
            state,
            tracks: std::sync::Mutex::new(Some(tracks)),
        };
        let sdp = async {
            peer.pc
                .add_track(peer.track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(webrtc("audio track"))?;
            let offer = peer.pc.create_offer(None).await.map_err(webrtc("offer"))?;
            peer.pc
                .set_local_description(offer)
                .await
                .map_err(webrtc("local description"))?;
            // non-trickle: the offer goes out with every candidate
            let _ = tokio::time::timeout(GATHER_LIMIT, gathered_rx.wait_for(|g| *g)).await;
            peer.pc
                .local_description()
                .await
                .map(|d| d.sdp)
                .ok_or(WebRtcError::Peer {
                    what: "offer",
                    detail: "no local description".into(),
                })
        }
        .await;
        match sdp {
            Ok(sdp) => Ok((peer, sdp)),
            Err(e) => {
                peer.close().await;
                Err(e)
            }
        }
    }

    /// Applies the browser's SDP answer.
    pub(crate) async fn answered(&self, sdp: String) -> Result<(), WebRtcError> {
        let answer = RTCSessionDescription::answer(sdp).map_err(webrtc("answer"))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(webrtc("answer"))
    }

    /// The connection's state, as it changes.
    pub(crate) fn state(&self) -> watch::Receiver<RTCPeerConnectionState> {
        self.state.clone()
    }

    /// Starts the two forwarders between the browser and `port` (the leg's
    /// RTP address on the media engine) through `shim`. `codec` is what the
    /// browser answered: PCMU is relayed as it is, Opus transcoded to and from
    /// the port's PCMU.
    pub(crate) fn forward(
        &self,
        shim: UdpSocket,
        port: SocketAddr,
        codec: BrowserCodec,
    ) -> Result<Vec<JoinHandle<()>>, WebRtcError> {
        let shim = Arc::new(shim);
        let mut tasks = Vec::with_capacity(2);
        let tracks = self
            .tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let (mut from_browser, mut to_browser) = (Relay::new(codec)?, Relay::new(codec)?);
        if let Some(mut tracks) = tracks {
            let to_port = shim.clone();
            tasks.push(tokio::spawn(async move {
                // one audio track from the browser
                let Some(track) = tracks.recv().await else {
                    return;
                };
                let mut buf = vec![0u8; MAX_RTP];
                while let Some(event) = track.poll().await {
                    match event {
                        TrackRemoteEvent::OnRtpPacket(packet) => {
                            let Some(packet) = from_browser.for_port(packet) else {
                                continue;
                            };
                            let Ok(n) = packet.marshal_to(&mut buf) else {
                                continue;
                            };
                            if let Err(e) = to_port.send_to(&buf[..n], port).await {
                                tracing::debug!(error = %e, "browser audio not forwarded");
                            }
                        }
                        TrackRemoteEvent::OnEnded => break,
                        _ => {}
                    }
                }
            }));
        }
        let track = self.track.clone();
        let ssrc = self.ssrc;
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_RTP];
            loop {
                let (n, from) = match shim.recv_from(&mut buf).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "shim socket failed");
                        break;
                    }
                };
                if from != port {
                    continue; // only the leg's own port feeds the browser
                }
                let mut bytes = BytesMut::from(&buf[..n]);
                let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut bytes) else {
                    continue;
                };
                for mut packet in to_browser.for_browser(packet) {
                    packet.header.ssrc = ssrc;
                    // before DTLS completes the track is not bound yet: drop the packet
                    let _ = track.write_rtp(packet).await;
                }
            }
        }));
        Ok(tasks)
    }

    /// Ends the connection (DTLS close, sockets freed).
    pub(crate) async fn close(&self) {
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing a browser peer connection");
        }
    }
}

/// One direction of a leg's relay: PCMU as it is, or Opus transcoded.
enum Relay {
    Pcmu,
    #[cfg(feature = "opus")]
    Opus(Box<crate::codec::OpusTranscoder>),
}

impl Relay {
    fn new(codec: BrowserCodec) -> Result<Self, WebRtcError> {
        match codec {
            BrowserCodec::Pcmu => Ok(Relay::Pcmu),
            #[cfg(feature = "opus")]
            BrowserCodec::Opus => crate::codec::OpusTranscoder::new()
                .map(|t| Relay::Opus(Box::new(t)))
                .map_err(|e| WebRtcError::Peer {
                    what: "Opus codec",
                    detail: e.to_string(),
                }),
        }
    }

    fn for_port(&mut self, packet: rtc::rtp::Packet) -> Option<rtc::rtp::Packet> {
        match self {
            Relay::Pcmu => Some(packet),
            #[cfg(feature = "opus")]
            Relay::Opus(t) => t.for_port(&packet),
        }
    }

    fn for_browser(&mut self, packet: rtc::rtp::Packet) -> Vec<rtc::rtp::Packet> {
        match self {
            Relay::Pcmu => vec![packet],
            #[cfg(feature = "opus")]
            Relay::Opus(t) => t.for_browser(&packet),
        }
    }
}
