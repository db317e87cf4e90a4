//! The webrtc-rs load client of `browser_agents_load` (`--client-of ADDR`): N
//! browser agents in one process, each doing what the agent desktop
//! (`/desktop`, `desktop.js` over `phone.js`) does in a browser, over the
//! public interfaces only:
//!
//! 1. `POST /api/v1/login` with the agent's id and password: the session
//!    cookie and the CSRF token (each agent logs in from its own loopback
//!    address, 127.0.0.10 and up, 20 agents an address: the web API limits
//!    login attempts per source address, as it would for browsers on
//!    different machines);
//! 2. `PUT /api/v1/agents/{id}/state` `{"state":"ready"}` (with `X-CSRF-Token`);
//! 3. the event feed, `GET /api/v1/events` as a WebSocket (same origin),
//!    read and counted;
//! 4. the phone, `GET /api/v1/phone` as a WebSocket with sub-protocol
//!    `callcore-phone` and the session cookie: each `{"type":"offer"}` is
//!    answered by a webrtc-rs peer connection (PCMU only, host candidates on
//!    127.0.0.1, non-trickle) with `{"type":"answer","call","sdp"}`; once
//!    connected (ICE, DTLS-SRTP) the peer sends a 440 Hz tone every 20 ms and
//!    measures what it receives (packets, mean |sample| of the µ-law
//!    payloads); `{"type":"hangup"}` ends the call.
//!
//! None of callcore's own code runs here: only webrtc-rs, tungstenite and
//! HTTP/1.1 by hand. Each event is a JSON line on stdout (`online`,
//! `answered`, `connected`, `ended` with the call's figures, `error`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_PCMU, MediaEngine};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

/// Agent `i`'s id in the load's config (`b000`, `b001`, …).
pub fn agent_id(i: usize) -> String {
    format!("b{i:03}")
}

/// Agent `i`'s password in the load's config.
pub fn agent_password(i: usize) -> String {
    format!("load-{}", agent_id(i))
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn say(line: Value) {
    println!("{line}");
}

/// Runs `agents` browser agents against the premise's HTTP listener `http`
/// until stdin closes or `secs` pass.
pub async fn run(http: SocketAddr, agents: usize, secs: u64) {
    let mut tasks = Vec::new();
    for i in 0..agents {
        tasks.push(tokio::spawn(async move {
            let id = agent_id(i);
            if let Err(e) = agent(http, i).await {
                say(json!({"event": "error", "agent": id, "detail": e.to_string()}));
            }
        }));
    }
    // the parent closes our stdin (or dies) when the run is over
    let stdin = tokio::spawn(async {
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let _ = tokio::time::timeout(Duration::from_secs(secs), stdin).await;
    for t in tasks {
        t.abort();
    }
}

/// The loopback address agent `i` connects from.
fn source(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + (i / 20) as u8))
}

async fn connect(http: SocketAddr, i: usize) -> Result<TcpStream, Error> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source(i), 0))?;
    Ok(socket.connect(http).await?)
}

/// One HTTP/1.1 request (connection closed after it): status, headers, body.
async fn request(
    http: SocketAddr,
    i: usize,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Result<(u16, String, Value), Error> {
    let body = body.to_string();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut stream = connect(http, i).await?;
    stream.write_all(req.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no HTTP head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status, head.to_owned(), body))
}

/// One agent: log in, ready, the feed, the phone; answers every offer.
async fn agent(http: SocketAddr, i: usize) -> Result<(), Error> {
    let id = agent_id(i);
    let login = json!({"user": id, "password": agent_password(i)});
    let (status, head, body) = request(http, i, "POST", "/api/v1/login", &[], &login).await?;
    if status != 200 {
        return Err(format!("login: HTTP {status} {body}").into());
    }
    let cookie = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().split(';').next())
        .ok_or("no session cookie")?
        .to_owned();
    let csrf = body["csrf_token"]
        .as_str()
        .ok_or("no CSRF token")?
        .to_owned();
    let state = format!("/api/v1/agents/{id}/state");
    let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let (status, _, body) =
        request(http, i, "PUT", &state, &headers, &json!({"state": "ready"})).await?;
    if !(200..300).contains(&status) {
        return Err(format!("ready: HTTP {status} {body}").into());
    }
    // the event feed, as the desktop keeps it open (read and dropped)
    let mut feed = websocket(http, i, "/api/v1/events", &cookie, None).await?;
    tokio::spawn(async move { while let Some(Ok(_)) = feed.next().await {} });
    let phone = websocket(http, i, "/api/v1/phone", &cookie, Some("callcore-phone")).await?;
    say(json!({"event": "online", "agent": id}));
    phone_loop(phone, id).await
}

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn websocket(
    http: SocketAddr,
    i: usize,
    path: &str,
    cookie: &str,
    protocol: Option<&str>,
) -> Result<Socket, Error> {
    let mut req = format!("ws://{http}{path}").into_client_request()?;
    let h = req.headers_mut();
    h.insert("Cookie", HeaderValue::from_str(cookie)?);
    h.insert("Origin", HeaderValue::from_str(&format!("http://{http}"))?);
    if let Some(p) = protocol {
        h.insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p)?);
    }
    let (socket, _) = tokio_tungstenite::client_async(req, connect(http, i).await?).await?;
    Ok(socket)
}

/// The phone's messages: offers answered, hang-ups ending their call.
async fn phone_loop(socket: Socket, agent: String) -> Result<(), Error> {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(Message::text(m.to_string())).await.is_err() {
                break;
            }
        }
    });
    let mut calls: std::collections::HashMap<String, watch::Sender<bool>> = Default::default();
    while let Some(message) = stream.next().await {
        let Ok(Message::Text(text)) = message else {
            if matches!(message, Ok(Message::Close(_)) | Err(_)) {
                break;
            }
            continue;
        };
        let m: Value = serde_json::from_str(text.as_str())?;
        let call = m["call"].as_str().unwrap_or_default().to_owned();
        match m["type"].as_str() {
            Some("offer") => {
                let (end_tx, end_rx) = watch::channel(false);
                calls.insert(call.clone(), end_tx);
                let sdp = m["sdp"].as_str().unwrap_or_default().to_owned();
                let (agent, out) = (agent.clone(), out_tx.clone());
                tokio::spawn(async move {
                    if let Err(e) = answer_call(&agent, &call, sdp, out.clone(), end_rx).await {
                        say(json!({"event": "error", "agent": agent, "call": call,
                            "detail": e.to_string()}));
                        let _ = out.send(json!({"type": "hangup", "call": call}));
                    }
                });
            }
            Some("hangup") => {
                if let Some(end) = calls.remove(&call) {
                    end.send_replace(true);
                }
            }
            _ => {}
        }
    }
    for end in calls.values() {
        end.send_replace(true);
    }
    Err("the phone's WebSocket closed".into())
}

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
        self.state.send_replace(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

fn pcmu() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_PCMU.to_owned(),
        clock_rate: 8000,
        channels: 1,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// µ-law to linear (G.711).
fn ulaw(code: u8) -> i16 {
    let c = !code;
    let t = ((i32::from(c & 0x0F) << 3) + 0x84) << ((c & 0x70) >> 4);
    (if c & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// Linear to µ-law (G.711).
fn to_ulaw(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = (x + 0x84).min(0x7FFF);
    let exponent = (0..8).rev().find(|e| x & (0x80 << e) != 0).unwrap_or(0);
    let mantissa = (x >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// One second of a 440 Hz tone in 20 ms µ-law frames.
fn tone_frames() -> Vec<Vec<u8>> {
    (0..50)
        .map(|f| {
            (0..160)
                .map(|n| {
                    let t = f64::from(f * 160 + n) / 8000.0;
                    to_ulaw(((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
                })
                .collect()
        })
        .collect()
}

/// Answers one offer and keeps the call until the center hangs up.
async fn answer_call(
    agent: &str,
    call: &str,
    sdp: String,
    out: mpsc::UnboundedSender<Value>,
    mut end: watch::Receiver<bool>,
) -> Result<(), Error> {
    let offered = Instant::now();
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: pcmu(),
            payload_type: 0,
        },
        RtpCodecKind::Audio,
    )?;
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let (gathered, mut gathered_rx) = watch::channel(false);
    let (state_tx, mut state) = watch::channel(RTCPeerConnectionState::New);
    let (tracks_tx, mut tracks) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_handler(Arc::new(Events {
            gathered,
            state: state_tx,
            tracks: tracks_tx,
        }))
        .with_udp_addrs(vec![SocketAddr::from(([127, 0, 0, 1], 0))])
        .build()
        .await?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let ssrc = 0x10AD_0000 ^ (offered.elapsed().subsec_nanos() & 0xFFFF);
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "load".to_owned(),
        format!("mic-{agent}"),
        format!("mic-{agent}"),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: pcmu(),
            ..Default::default()
        }],
    )));
    let result = async {
        // the microphone first, as webrtc-rs' reflect example does: the offer's
        // audio section takes this track's transceiver
        pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer).await?;
        let _ = tokio::time::timeout(Duration::from_secs(3), gathered_rx.wait_for(|g| *g)).await;
        let sdp = pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp;
        if *end.borrow() {
            return Err::<(), Error>("ended while answering".into());
        }
        let _ = out.send(json!({"type": "answer", "call": call, "sdp": sdp}));
        say(json!({"event": "answered", "agent": agent, "call": call,
            "ms": offered.elapsed().as_millis() as u64}));
        // the watch's guard is not Send: only the outcome outlives this block
        let connected = {
            let state = tokio::time::timeout(
                Duration::from_secs(20),
                state.wait_for(|s| {
                    matches!(
                        s,
                        RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed
                    )
                }),
            )
            .await;
            matches!(state, Ok(Ok(ref s)) if **s == RTCPeerConnectionState::Connected)
        };
        if !connected {
            return Err("the peer connection did not connect".into());
        }
        say(json!({"event": "connected", "agent": agent, "call": call,
            "ms": offered.elapsed().as_millis() as u64}));
        // what the center sends: packets, and the sum of |sample| over the samples
        let heard: Arc<std::sync::Mutex<(u64, f64, u64)>> = Default::default();
        let counts = heard.clone();
        let listener = tokio::spawn(async move {
            let Some(track) = tracks.recv().await else {
                return;
            };
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(p) => {
                        let sum: f64 = p.payload.iter().map(|c| f64::from(ulaw(*c)).abs()).sum();
                        let mut c = counts
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        c.0 += 1;
                        c.1 += sum;
                        c.2 += p.payload.len() as u64;
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
        // the tone, one packet every 20 ms
        let frames = tone_frames();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut sent = 0u64;
        let (mut seq, mut ts) = (1u16, 0u32);
        loop {
            tokio::select! {
                _ = end.changed() => break,
                _ = tick.tick() => {
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::Header {
                            version: 2,
                            payload_type: 0,
                            sequence_number: seq,
                            timestamp: ts,
                            ssrc,
                            marker: sent == 0,
                            ..Default::default()
                        },
                        payload: frames[(sent % 50) as usize].clone().into(),
                    };
                    if track.write_rtp(packet).await.is_ok() {
                        sent += 1;
                    }
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                }
            }
        }
        listener.abort();
        let _ = pc.close().await;
        let (packets, sum, samples) = *heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let level = sum / samples.max(1) as f64;
        say(json!({"event": "ended", "agent": agent, "call": call,
            "sent": sent, "received": packets, "level": level}));
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = pc.close().await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trips() {
        for s in [0i16, 100, -100, 1000, -8000, 30000] {
            let back = ulaw(to_ulaw(s));
            assert!((i32::from(back) - i32::from(s)).abs() <= i32::from(s).abs() / 16 + 8);
        }
    }
}
