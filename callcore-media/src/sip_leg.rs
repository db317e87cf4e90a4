//! The media of one signalled voice leg (a SIP call, for instance), from the moment
//! signalling needs an address until the hang-up.
//!
//! 1. [`LegMedia::reserve`] binds an RTP/RTCP pair from the [`PortAllocator`] before
//!    any SDP is written, so the address in the SDP is the socket that will carry the
//!    call ([`LegMedia::local_rtp`]).
//! 2. [`LegMedia::start`] is called with the far end's address, law and
//!    telephone-event payload type from the negotiated SDP (and again after every
//!    re-negotiation: hold, resume, a new address). The first call returns the
//!    [`VoiceLegMedia`] that flows drive (prompts, DTMF, recording).
//! 3. [`LegMedia::bridge`] relays RTP between two legs through the [`Bridge`] core
//!    (passthrough or transcoding, telephone-events re-typed), optionally recording
//!    the conversation in stereo (caller left, agent right). [`LegMedia::unbridge`]
//!    or the other leg's close returns the leg to its own session.
//!    [`LegMedia::bridge_recorded`] reports the recording's length once its file is
//!    complete.
//! 4. [`LegMedia::tap`] hands every decoded frame, received and sent, to a
//!    [`FrameTap`] (answering-machine detection, transcription) at any time.
//! 5. [`LegMedia::close`] (or dropping it) ends the session and frees the ports.
//!
//! One task per leg owns its sockets; symmetric RTP latches the far end to the source
//! of what it sends, and a leg whose negotiated direction forbids sending (the far end
//! put us on hold with `recvonly`/`inactive`) sends nothing.
//!
//! ```no_run
//! # async fn demo() -> callcore_media::Result<()> {
//! use callcore_media::g711::Law;
//! use callcore_media::sip_leg::{LegMedia, LegMediaConfig, Negotiated};
//! use callcore_media::udp::PortAllocator;
//! let ports = PortAllocator::new("127.0.0.1".parse().unwrap(), 20000..=20999);
//! let caller = LegMedia::reserve(&ports, LegMediaConfig::default()).await?;
//! println!("c=/m= from {}", caller.local_rtp());
//! let far = Negotiated { remote: Some("127.0.0.1:40000".parse().unwrap()), law: Law::Ulaw,
//!     telephone_event: Some(101), send: true };
//! let ivr = caller.start(far)?.expect("first start gives the media control");
//! # drop(ivr);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::bridge::{Bridge, LegConfig, RelayOutcome, Side};
use crate::control::VoiceLegMedia;
use crate::dtmf::parse_digits;
use crate::endpoint::{EndpointConfig, MediaEndpoint, Transmit};
use crate::error::Result;
use crate::frame_tap::Taps;
pub use crate::frame_tap::{FrameTap, TapDirection};
use crate::g711::Law;
use crate::level::mean_power;
use crate::udp::{GlueClock, MediaSession, PortAllocator, SessionCommand, SessionEvent};
use crate::wav::{ChannelLayout, RecordingInfo, WavRecorder};

/// Settings of a leg's media.
#[derive(Debug, Clone)]
pub struct LegMediaConfig {
    /// Our SSRC towards this leg.
    pub ssrc: u32,
    /// Relative prompt names resolve here.
    pub prompts_dir: PathBuf,
    /// [`VoiceLegMedia`] recordings go here.
    pub recordings_dir: PathBuf,
    /// Symmetric RTP: send to where the far end's packets come from.
    pub latch: bool,
    /// No RTP for this long ends the leg's media operations.
    pub media_timeout: Duration,
}

impl Default for LegMediaConfig {
    fn default() -> Self {
        LegMediaConfig {
            ssrc: 0x5EED_0001,
            prompts_dir: "prompts".into(),
            recordings_dir: "recordings".into(),
            latch: true,
            media_timeout: Duration::from_secs(30),
        }
    }
}

/// The far end as the SDP negotiation left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP (`None`: held with 0.0.0.0, or unknown until latching).
    pub remote: Option<SocketAddr>,
    /// The agreed G.711 law.
    pub law: Law,
    /// The agreed telephone-event payload type.
    pub telephone_event: Option<u8>,
    /// Whether our direction allows sending (not `recvonly`/`inactive`).
    pub send: bool,
}

/// Figures of a leg's media, live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegMediaStats {
    /// RTP datagrams received from the far end.
    pub received: u64,
    /// RTP datagrams sent to the far end (our audio, digits, or relayed).
    pub sent: u64,
    /// Received datagrams relayed to a bridged leg.
    pub relayed: u64,
    /// Received 20 ms frames louder than -50 dBm0 (the far end spoke or played).
    pub voiced_frames: u64,
}

/// One continuous RTP stream towards the far end, whoever produced the packets (our
/// own session, or the bridge relaying the other leg): a change of producer keeps
/// the sequence and timestamp running on, with the marker bit set, so the far end's
/// jitter buffer never sees a jump backwards (which it would take for late packets).
#[derive(Debug)]
struct OutStream {
    ssrc: u32,
    source: Option<u32>,
    seq_off: u16,
    ts_off: u32,
    last_seq: u16,
    last_ts: u32,
}

impl OutStream {
    /// Rewrites an RTP datagram's sequence, timestamp and SSRC in place.
    fn rewrite(&mut self, pkt: &mut [u8]) {
        if pkt.len() < 12 || pkt[0] >> 6 != 2 {
            return;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let src = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        if self.source != Some(src) {
            if self.source.is_some() {
                self.seq_off = self.last_seq.wrapping_add(1).wrapping_sub(seq);
                self.ts_off = self.last_ts.wrapping_add(160).wrapping_sub(ts);
                pkt[1] |= 0x80; // a new talkspurt
            }
            self.source = Some(src);
        }
        self.last_seq = seq.wrapping_add(self.seq_off);
        self.last_ts = ts.wrapping_add(self.ts_off);
        pkt[2..4].copy_from_slice(&self.last_seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&self.last_ts.to_be_bytes());
        pkt[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// What the far end's socket side shares with a bridged peer.
#[derive(Debug)]
struct Wire {
    rtp: Arc<UdpSocket>,
    out: Mutex<OutStream>,
    remote: Mutex<Option<SocketAddr>>,
    send: AtomicBool,
    received: AtomicU64,
    sent: AtomicU64,
    relayed: AtomicU64,
    voiced: AtomicU64,
    taps: Taps,
}

impl Wire {
    fn remote(&self) -> Option<SocketAddr> {
        *self.remote.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_remote(&self, r: Option<SocketAddr>) {
        *self.remote.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }

    /// Sends to the far end if the direction allows it.
    fn send(&self, data: &[u8]) {
        if !self.send.load(Ordering::Relaxed) {
            return;
        }
        if let Some(dst) = self.remote() {
            let mut pkt = data.to_vec();
            self.out
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .rewrite(&mut pkt);
            // a full socket buffer drops the datagram, as a network would
            if self.rtp.try_send_to(&pkt, dst).is_ok() {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The stereo recording of a bridged conversation: each side hands in the frames it
/// heard; a frame is written when both sides have one (or one side is a frame ahead).
#[derive(Debug)]
struct Recording {
    wav: WavRecorder<std::io::BufWriter<std::fs::File>>,
    pending: [Option<Vec<i16>>; 2],
    /// Told what the file holds once it is complete (both legs let go).
    done: Option<tokio::sync::oneshot::Sender<RecordingInfo>>,
}

impl Drop for Recording {
    fn drop(&mut self) {
        // the last frame a side handed in, with silence for the other
        for i in 0..2 {
            if let Some(last) = self.pending[i].take() {
                self.write(i, &last, &[]);
            }
        }
        if let Err(e) = self.wav.patch() {
            tracing::warn!(error = %e, "call recording: header not patched");
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(self.wav.info());
        }
    }
}

impl Recording {
    fn push(&mut self, side: Side, frame: &[i16]) {
        let i = usize::from(side == Side::B);
        if let Some(old) = self.pending[i].take() {
            // the other side is late: write what we have with silence for it
            let other = self.pending[1 - i].take().unwrap_or_default();
            self.write(i, &old, &other);
        }
        self.pending[i] = Some(frame.to_vec());
        if self.pending[1 - i].is_some() {
            let mine = self.pending[i].take().unwrap_or_default();
            let other = self.pending[1 - i].take().unwrap_or_default();
            self.write(i, &mine, &other);
        }
    }

    fn write(&mut self, i: usize, mine: &[i16], other: &[i16]) {
        let silence = [0i16; 160];
        let fill = |f: &[i16]| if f.is_empty() { &silence[..] } else { f }.to_vec();
        let (a, b) = if i == 0 {
            (fill(mine), fill(other))
        } else {
            (fill(other), fill(mine))
        };
        if let Err(e) = self.wav.write_frame(&a, &b) {
            tracing::warn!(error = %e, "call recording write failed");
        }
    }
}

/// One side of a running bridge.
#[derive(Debug, Clone)]
struct Link {
    core: Arc<Mutex<Bridge>>,
    side: Side,
    peer: Arc<Wire>,
    peer_ctl: mpsc::UnboundedSender<Control>,
    clock: GlueClock,
    recording: Option<Arc<Mutex<Recording>>>,
}

#[derive(Debug)]
enum Control {
    Start(Negotiated),
    Bridge(Link),
    Unbridge,
    Close,
}

/// A leg's RTP port pair and the task that owns it.
#[derive(Debug)]
pub struct LegMedia {
    local_rtp: SocketAddr,
    config: LegMediaConfig,
    wire: Arc<Wire>,
    ctl: mpsc::UnboundedSender<Control>,
    session: Mutex<Option<MediaSession>>,
    law: Mutex<Option<Law>>,
}

impl LegMedia {
    /// Binds an RTP/RTCP pair from `ports` and starts the leg's task (idle until
    /// [`start`](Self::start)).
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the range has no free pair.
    pub async fn reserve(ports: &PortAllocator, config: LegMediaConfig) -> Result<LegMedia> {
        let (rtp, rtcp) = ports.bind_pair().await?;
        let local_rtp = rtp.local_addr()?;
        let wire = Arc::new(Wire {
            rtp: Arc::new(rtp),
            out: Mutex::new(OutStream {
                ssrc: config.ssrc,
                source: None,
                seq_off: 0,
                ts_off: 0,
                last_seq: 0,
                last_ts: 0,
            }),
            remote: Mutex::new(None),
            send: AtomicBool::new(true),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            relayed: AtomicU64::new(0),
            voiced: AtomicU64::new(0),
            taps: Taps::default(),
        });
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let consumed = Arc::new(AtomicU64::new(0));
        let task = LegTask {
            delivered: 0,
            consumed: consumed.clone(),
            wire: wire.clone(),
            rtcp,
            config: config.clone(),
            endpoint: None,
            link: None,
            events: ev_tx,
        };
        tokio::spawn(task.run(ctl_rx, cmd_rx));
        Ok(LegMedia {
            local_rtp,
            config,
            wire,
            ctl: ctl_tx,
            session: Mutex::new(Some(MediaSession::from_channels(
                local_rtp, cmd_tx, ev_rx, consumed,
            ))),
            law: Mutex::new(None),
        })
    }

    /// Our RTP address: put it in the SDP.
    pub fn local_rtp(&self) -> SocketAddr {
        self.local_rtp
    }

    /// Applies the negotiated far end. The first call returns the leg's media control
    /// (play, collect digits, record ...); later calls (re-INVITE) return `None`.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the leg is closed.
    pub fn start(&self, far: Negotiated) -> Result<Option<VoiceLegMedia>> {
        Ok(self.start_session(far)?.map(|s| {
            VoiceLegMedia::new(
                s,
                self.config.prompts_dir.clone(),
                self.config.recordings_dir.clone(),
            )
        }))
    }

    /// [`start`](Self::start) giving the raw [`MediaSession`] (send digits, play
    /// samples, read frames) instead of callcore's media control: what a softphone
    /// or a test caller wants.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the leg is closed.
    pub fn start_session(&self, far: Negotiated) -> Result<Option<MediaSession>> {
        if far.remote.is_some() {
            self.wire.set_remote(far.remote);
        }
        self.wire.send.store(far.send, Ordering::Relaxed);
        *self.law.lock().unwrap_or_else(|p| p.into_inner()) = Some(far.law);
        self.ctl
            .send(Control::Start(far))
            .map_err(|_| closed("start"))?;
        Ok(self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take())
    }

    /// Relays RTP between this leg (side A, e.g. the caller) and `other` (side B,
    /// e.g. the agent) until one of them is closed or unbridged. With `record`, the
    /// conversation is written to that WAV file, this leg left, `other` right.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when either leg has not started or is closed;
    /// a file error when the recording cannot be created.
    pub fn bridge(&self, other: &LegMedia, record: Option<&std::path::Path>) -> Result<()> {
        self.link(other, record).map(drop)
    }

    /// [`bridge`](Self::bridge) recording to `path`; the receiver gets what the
    /// file holds once it is complete (the bridge ended: either leg closed or
    /// unbridged, and both let go of the file).
    ///
    /// # Errors
    /// As [`bridge`](Self::bridge).
    pub fn bridge_recorded(
        &self,
        other: &LegMedia,
        path: &std::path::Path,
    ) -> Result<tokio::sync::oneshot::Receiver<RecordingInfo>> {
        self.link(other, Some(path))?
            .ok_or_else(|| closed("record"))
    }

    /// Hands every decoded frame of this leg, received and sent, to `tap` (see
    /// [`FrameTap`]) until it detaches or the leg's media ends. While bridged,
    /// the frames sent are the other leg's received ones.
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the leg is closed.
    pub fn tap(&self, tap: FrameTap) -> Result<()> {
        // the task closes its control channel before it drops the taps: a tap
        // added after that would never learn the end
        if self.wire.taps.add_unless(tap, || self.ctl.is_closed()) {
            Ok(())
        } else {
            Err(closed("tap"))
        }
    }

    /// Starts relaying; with `record`, also what reports the recording's end.
    fn link(
        &self,
        other: &LegMedia,
        record: Option<&std::path::Path>,
    ) -> Result<Option<tokio::sync::oneshot::Receiver<RecordingInfo>>> {
        let law = |m: &LegMedia| *m.law.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(la), Some(lb)) = (law(self), law(other)) else {
            return Err(crate::MediaError::Config {
                field: "bridge",
                detail: "both legs need negotiated media before bridging".into(),
            });
        };
        let core = Arc::new(Mutex::new(Bridge::new(
            // the relayed streams get their own source ids; each leg's OutStream
            // splices them into the stream the far end already knows
            LegConfig::new(la, !self.config.ssrc),
            LegConfig::new(lb, !other.config.ssrc),
        )));
        let (done_tx, done_rx) = match record {
            Some(_) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let recording = match record {
            Some(path) => Some(Arc::new(Mutex::new(Recording {
                wav: WavRecorder::create(path, ChannelLayout::Stereo)?,
                pending: [None, None],
                done: done_tx,
            }))),
            None => None,
        };
        let clock = GlueClock::start();
        let link = |side, peer: &LegMedia| Link {
            core: core.clone(),
            side,
            peer: peer.wire.clone(),
            peer_ctl: peer.ctl.clone(),
            clock,
            recording: recording.clone(),
        };
        self.ctl
            .send(Control::Bridge(link(Side::A, other)))
            .map_err(|_| closed("bridge"))?;
        other
            .ctl
            .send(Control::Bridge(link(Side::B, self)))
            .map_err(|_| closed("bridge"))?;
        Ok(done_rx)
    }

    /// Stops relaying; both legs return to their own sessions.
    pub fn unbridge(&self) {
        let _ = self.ctl.send(Control::Unbridge);
    }

    /// Ends the session (RTCP BYE) and frees the ports once a bridged peer lets go.
    pub fn close(&self) {
        let _ = self.ctl.send(Control::Close);
    }

    /// Live figures.
    pub fn stats(&self) -> LegMediaStats {
        LegMediaStats {
            received: self.wire.received.load(Ordering::Relaxed),
            sent: self.wire.sent.load(Ordering::Relaxed),
            relayed: self.wire.relayed.load(Ordering::Relaxed),
            voiced_frames: self.wire.voiced.load(Ordering::Relaxed),
        }
    }
}

impl Drop for LegMedia {
    fn drop(&mut self) {
        self.close();
    }
}

fn closed(what: &str) -> crate::MediaError {
    crate::MediaError::Config {
        field: "leg media",
        detail: format!("{what}: the leg's media has ended"),
    }
}

/// The task behind a [`LegMedia`].
struct LegTask {
    wire: Arc<Wire>,
    rtcp: UdpSocket,
    config: LegMediaConfig,
    endpoint: Option<(MediaEndpoint, Negotiated)>,
    link: Option<Link>,
    events: mpsc::UnboundedSender<SessionEvent>,
    /// Events sent, and taken by the media control (it reads only while a prompt,
    /// collection or recording runs): audio is held back beyond a second of backlog,
    /// so a caller waiting in queue neither grows memory nor leaves stale frames.
    delivered: u64,
    consumed: Arc<AtomicU64>,
}

/// Sends an event to the media control, counting it.
fn deliver(events: &mpsc::UnboundedSender<SessionEvent>, delivered: &mut u64, e: SessionEvent) {
    if events.send(e).is_ok() {
        *delivered += 1;
    }
}

/// Audio frames (20 ms) allowed to wait unread.
const MAX_BACKLOG: u64 = 50;

/// RTCP goes to the port above the far end's RTP.
fn send_rtcp(wire: &Wire, rtcp: &UdpSocket, data: &[u8]) {
    if let Some(r) = wire.remote() {
        let dst = SocketAddr::new(r.ip(), r.port().wrapping_add(1));
        let _ = rtcp.try_send_to(data, dst);
    }
}

/// -50 dBm0 in mean power of 16-bit samples (a quiet voice is about -30).
fn voiced(frame: &[i16]) -> bool {
    crate::level::power_to_dbm0(mean_power(frame)) > -50.0
}

impl LegTask {
    fn apply(&mut self, far: Negotiated) {
        let same = self
            .endpoint
            .as_ref()
            .is_some_and(|(_, n)| n.law == far.law && n.telephone_event == far.telephone_event);
        if same {
            if let Some((_, n)) = self.endpoint.as_mut() {
                *n = far;
            }
            return;
        }
        let cfg = EndpointConfig {
            law: far.law,
            telephone_event_pt: far.telephone_event,
            ssrc: self.config.ssrc,
            media_timeout: self.config.media_timeout,
            ..EndpointConfig::default()
        };
        match MediaEndpoint::new(cfg) {
            Ok(ep) => self.endpoint = Some((ep, far)),
            Err(e) => tracing::warn!(error = %e, "leg media: bad endpoint settings"),
        }
    }

    fn on_rtp(&mut self, data: &[u8], from: SocketAddr, now: Duration) {
        self.wire.received.fetch_add(1, Ordering::Relaxed);
        if self.config.latch && self.wire.remote() != Some(from) {
            tracing::debug!(%from, "latching leg media to RTP source");
            self.wire.set_remote(Some(from));
        }
        if let Some((ep, _)) = self.endpoint.as_mut() {
            let _ = ep.handle_rtp(data, now);
        }
        if let Some(link) = &self.link {
            let mut out = Vec::with_capacity(data.len());
            let relayed = link.core.lock().unwrap_or_else(|p| p.into_inner()).relay(
                link.side,
                data,
                link.clock.now(),
                &mut out,
            );
            if matches!(relayed, Ok(RelayOutcome::Forwarded)) {
                self.wire.relayed.fetch_add(1, Ordering::Relaxed);
                link.peer.send(&out);
            }
        }
    }

    /// One 20 ms tick: hand the received frame on, send ours.
    fn on_tick(&mut self, now: Duration, queue: &mut std::collections::VecDeque<i16>) {
        let Some((ep, _)) = self.endpoint.as_mut() else {
            return;
        };
        let mut frame = Vec::with_capacity(160);
        let kind = ep.pop_frame(&mut frame, now);
        if voiced(&frame) {
            self.wire.voiced.fetch_add(1, Ordering::Relaxed);
        }
        self.wire.taps.frame(TapDirection::Received, &frame);
        if let Some(link) = &self.link {
            // what this leg's far end says is what the bridged leg's far end hears
            link.peer.taps.frame(TapDirection::Sent, &frame);
            if let Some(rec) = &link.recording {
                rec.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(link.side, &frame);
            }
            return; // the bridged peer's audio is what this leg hears
        }
        if self.delivered - self.consumed.load(Ordering::Relaxed).min(self.delivered) < MAX_BACKLOG
        {
            deliver(
                &self.events,
                &mut self.delivered,
                SessionEvent::Audio(frame, kind),
            );
        }
        let out: Vec<i16> = if queue.is_empty() {
            vec![0; 160]
        } else {
            queue.drain(..queue.len().min(160)).collect()
        };
        self.wire.taps.frame(TapDirection::Sent, &out);
        let mut wire = Vec::with_capacity(200);
        if ep.send_frame(&out, now, &mut wire).unwrap_or(false) {
            self.wire.send(&wire);
        }
    }

    fn flush(&mut self, now: Duration) {
        let bridged = self.link.is_some();
        let Some((ep, _)) = self.endpoint.as_mut() else {
            return;
        };
        let mut wire = Vec::with_capacity(256);
        while let Some(t) = ep.poll_transmit(now, &mut wire) {
            match t {
                Transmit::Rtp if !bridged => self.wire.send(&wire),
                Transmit::Rtcp if !bridged => send_rtcp(&self.wire, &self.rtcp, &wire),
                _ => {}
            }
        }
        while let Some(e) = ep.poll_event() {
            if !bridged {
                deliver(&self.events, &mut self.delivered, SessionEvent::Endpoint(e));
            }
        }
    }

    async fn run(
        mut self,
        mut ctl: mpsc::UnboundedReceiver<Control>,
        mut cmds: mpsc::UnboundedReceiver<SessionCommand>,
    ) {
        let clock = GlueClock::start();
        let rtp = self.wire.rtp.clone();
        let mut buf = vec![0u8; 2048];
        let mut rbuf = vec![0u8; 2048];
        let mut queue = std::collections::VecDeque::new();
        let mut playing = false;
        let mut cmds_open = true;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            let timeout = self
                .endpoint
                .as_ref()
                .and_then(|(ep, _)| ep.poll_timeout())
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                r = rtp.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        let data = buf[..n].to_vec();
                        self.on_rtp(&data, from, clock.now());
                    }
                }
                r = self.rtcp.recv_from(&mut rbuf) => {
                    if let (Ok((n, _)), Some((ep, _)), None) = (r, self.endpoint.as_mut(), &self.link) {
                        let _ = ep.handle_rtcp(&rbuf[..n], clock.now());
                    }
                }
                c = ctl.recv() => match c {
                    Some(Control::Start(far)) => self.apply(far),
                    Some(Control::Bridge(link)) => self.link = Some(link),
                    Some(Control::Unbridge) => self.link = None,
                    Some(Control::Close) | None => break,
                },
                c = cmds.recv(), if cmds_open => match c {
                    Some(SessionCommand::Play(pcm)) => { queue.extend(pcm); playing = true; }
                    Some(SessionCommand::StopPlayback) => queue.clear(),
                    Some(SessionCommand::Digits(s)) => {
                        if let (Ok(ds), Some((ep, _))) = (parse_digits(&s), self.endpoint.as_mut()) {
                            for d in ds { let _ = ep.send_digit(d, 100, clock.now()); }
                        }
                    }
                    Some(SessionCommand::Hangup) => break,
                    None => cmds_open = false, // the media control was dropped; the leg lives on
                },
                _ = tick.tick() => {
                    // a dropped media control stops audio delivery, not the leg
                    self.on_tick(clock.now(), &mut queue);
                    if playing && queue.is_empty() {
                        playing = false;
                        deliver(&self.events, &mut self.delivered, SessionEvent::PlaybackDone);
                    }
                }
                _ = clock.sleep_until(timeout) => {
                    if let Some((ep, _)) = self.endpoint.as_mut() { ep.handle_timeout(clock.now()); }
                }
            }
            self.flush(clock.now());
        }
        if let Some(link) = self.link.take() {
            let _ = link.peer_ctl.send(Control::Unbridge);
            if let Some(rec) = &link.recording
                && let Ok(mut r) = rec.lock()
            {
                let _ = r.wav.patch();
            }
        }
        if let Some((ep, _)) = self.endpoint.as_ref() {
            let mut wire = Vec::new();
            if ep.write_bye(&mut wire).is_ok() {
                send_rtcp(&self.wire, &self.rtcp, &wire);
            }
            let _ = self.events.send(SessionEvent::Ended(ep.stats()));
        }
        // the taps learn the end by being dropped; `tap` sees the closed control
        // channel first, so none is added after this
        drop(ctl);
        self.wire.taps.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacket;

    fn pkt(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = RtpPacket::new(0, seq, ts, ssrc, &[0xFF; 160]).write_to(&mut v);
        v
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tap_hears_every_tick_and_learns_the_end() {
        let ports = PortAllocator::new([127, 0, 0, 1].into(), 29800..=29819);
        let leg = LegMedia::reserve(&ports, LegMediaConfig::default())
            .await
            .expect("a loopback port pair");
        let far = Negotiated {
            remote: Some("127.0.0.1:9".parse().expect("addr")),
            law: Law::Ulaw,
            telephone_event: None,
            send: true,
        };
        let _control = leg.start(far).expect("started");
        let (tx, mut rx) = mpsc::unbounded_channel();
        leg.tap(Box::new(move |dir, frame: &[i16]| {
            tx.send((dir, frame.len())).is_ok()
        }))
        .expect("tapped");
        // silence both ways every 20 ms, before any RTP arrives
        let mut seen = Vec::new();
        while seen.len() < 4 {
            seen.push(rx.recv().await.expect("a frame"));
        }
        assert!(seen.contains(&(TapDirection::Received, 160)), "{seen:?}");
        assert!(seen.contains(&(TapDirection::Sent, 160)), "{seen:?}");
        leg.close();
        while rx.recv().await.is_some() {} // the sink is dropped with the leg's task
        let late = leg.tap(Box::new(|_, _: &[i16]| true));
        assert!(late.is_err(), "no tap on a closed leg");
    }

    #[test]
    fn a_new_producer_continues_the_far_ends_stream() {
        let mut out = OutStream {
            ssrc: 7,
            source: None,
            seq_off: 0,
            ts_off: 0,
            last_seq: 0,
            last_ts: 0,
        };
        let mut seen = Vec::new();
        // our session, then the bridge (another source, far-away numbers), then back
        for (seq, ts, src) in [
            (500, 8000, 1),
            (501, 8160, 1),
            (0x1000, 0, 9),
            (0x1001, 160, 9),
            (502, 8320, 1),
        ] {
            let mut p = pkt(seq, ts, src);
            out.rewrite(&mut p);
            let r = RtpPacket::parse(&p).map(|r| (r.sequence, r.timestamp, r.ssrc, r.marker));
            seen.push(r.ok());
        }
        assert_eq!(
            seen,
            vec![
                Some((500, 8000, 7, false)),
                Some((501, 8160, 7, false)),
                Some((502, 8320, 7, true)),
                Some((503, 8480, 7, false)),
                Some((504, 8640, 7, true)),
            ]
        );
    }
}
