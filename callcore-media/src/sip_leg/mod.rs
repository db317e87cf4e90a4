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
//! 3. [`LegMedia::bridge`] hands both legs' sockets to a [`RelayPool`] (the process's
//!    shared pool unless [`LegMediaConfig::relay`] names one): the pool relays the
//!    call (passthrough or µ-law⇄A-law, telephone-events re-typed, holds and
//!    re-INVITEs applied, RTCP answered), optionally recording it in stereo (this leg
//!    left, the other right). [`LegMedia::unbridge`], or either leg's close, ends the
//!    bridge: the recording is finished, both legs take their sockets back and go on
//!    with their own sessions (a transfer back to the IVR, to another agent), and
//!    [`LegMedia::bridge_ended`] gives the bridge's report (recording path and
//!    length, packets relayed, silences, RTCP).
//!    [`LegMedia::bridge_recorded`] reports the recording's figures once its file is
//!    complete.
//! 4. [`Room::join`] seats the leg in a mixing [`Room`] (conference, supervisor
//!    listen/whisper/barge, a muted party) with a [`Role`](crate::mixer::Role),
//!    taking it out of its bridge (the partner goes back to its own session) or its
//!    previous room. The leg's task stays the owner of its sockets: every 20 ms it
//!    hands the room what the far end said and sends the room's mix for it (in the
//!    leg's law), while the leg's session pauses (a prompt or music waits; RFC 4733
//!    digits still reach it). [`Room::leave`], [`LegMedia::leave_room`], closing the
//!    room or bridging the leg hand it back to its session. The room records itself
//!    in stereo on request ([`Room::record`]: its first member left, what that member
//!    hears right).
//! 5. [`LegMedia::tap`] hands every decoded frame, received and sent, to a
//!    [`FrameTap`] (answering-machine detection, transcription) at any time, bridged,
//!    in a room or not.
//! 6. [`LegMedia::close`] (or dropping it) ends the session and frees the ports.
//!
//! Outside a bridge one task per leg owns its sockets (the leg's IVR session, or
//! its seat in a room); a bridged leg's task sleeps until the bridge gives its
//! sockets back. Each far end sees one continuous RTP stream whoever produces it
//! (session, bridge, room, session again): sequence numbers and timestamps go on
//! across every hand-over. Symmetric RTP latches the far end to the source of what
//! it sends, and a leg whose negotiated direction forbids sending (the far end put
//! us on hold with `recvonly`/`inactive`) is sent nothing.
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
//!     telephone_event: Some(101), send: true, srtp: None };
//! let ivr = caller.start(far)?.expect("first start gives the media control");
//! # drop(ivr);
//! # Ok(()) }
//! ```

mod link;
mod room;
mod task;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::bridge::Side;
use crate::control::VoiceLegMedia;
use crate::error::Result;
pub use crate::frame_tap::{FrameTap, TapDirection};
use crate::g711::Law;
use crate::out_stream::OutStream;
use crate::relay_pool::{LegCounters, RelayPool};
use crate::udp::{MediaSession, PortAllocator, RelayReport};
use crate::wav::{ChannelLayout, RecordingInfo, WavRecorder};
use link::BridgeLink;
pub use room::{QUEUE_FRAMES, ROOM_FRAME, Room};
use task::{Control, LegTask};

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
    /// No RTP for this long ends the leg's media operations (and is reported by a
    /// bridge, see [`RelayReport::media_timeout`]).
    pub media_timeout: Duration,
    /// The relay pool bridges go through (one per media engine); `None`: the
    /// process's [`RelayPool::shared`] pool, started on the first bridge.
    pub relay: Option<Arc<RelayPool>>,
}

impl Default for LegMediaConfig {
    fn default() -> Self {
        LegMediaConfig {
            ssrc: 0x5EED_0001,
            prompts_dir: "prompts".into(),
            recordings_dir: "recordings".into(),
            latch: true,
            media_timeout: Duration::from_secs(30),
            relay: None,
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
    /// SRTP keys (SDES) when the leg's media is protected; `None`: plain RTP.
    /// Every path of the leg (its session, a bridge, a room) protects what it sends
    /// and drops, counts and never latches to what fails authentication.
    pub srtp: Option<crate::srtp::SrtpParams>,
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
    /// Received audio louder than -50 dBm0, in 20 ms frames (the far end spoke or
    /// played).
    pub voiced_frames: u64,
    /// Received SRTP/SRTCP packets dropped because they failed authentication
    /// (a wrong key, tampered, replayed, or plain RTP on an SRTP leg).
    pub srtp_rejected: u64,
    /// RTP packets the far end's sequence numbers say it sent (RFC 3550 A.3).
    pub expected: u64,
    /// RTP packets lost on the way from the far end (expected − received).
    pub lost: u64,
    /// Interarrival jitter of the far end's packets, in microseconds (A.8).
    pub jitter_us: u64,
}

/// A leg's RTP port pair and the task that owns it outside bridges.
#[derive(Debug)]
pub struct LegMedia {
    local_rtp: SocketAddr,
    config: LegMediaConfig,
    counters: Arc<LegCounters>,
    ctl: mpsc::UnboundedSender<Control>,
    session: Mutex<Option<MediaSession>>,
    law: Mutex<Option<Law>>,
    /// The leg's current (or last) bridge.
    link: Mutex<Option<Arc<BridgeLink>>>,
    /// The leg's seat in a room, while it is in one.
    seat: Mutex<Option<Arc<room::Seat>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        let counters = Arc::new(LegCounters::default());
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let consumed = Arc::new(AtomicU64::new(0));
        let task = LegTask {
            rtp: Some(rtp),
            rtcp: Some(rtcp),
            remote: None,
            latch: crate::latch::Latch::new(None),
            far: None,
            srtp: None,
            plain: Vec::with_capacity(2048),
            out: Some(OutStream::new(config.ssrc)),
            counters: counters.clone(),
            config: config.clone(),
            endpoint: None,
            away: None,
            next_bridge: None,
            closing: None,
            room: None,
            next_room: None,
            frame: Vec::with_capacity(room::ROOM_FRAME),
            wire: Vec::with_capacity(256),
            home: ctl_tx.downgrade(),
            events: ev_tx,
            delivered: 0,
            consumed: consumed.clone(),
        };
        tokio::spawn(task.run(ctl_rx, cmd_rx));
        Ok(LegMedia {
            local_rtp,
            config,
            counters,
            ctl: ctl_tx,
            session: Mutex::new(Some(MediaSession::from_channels(
                local_rtp, cmd_tx, ev_rx, consumed,
            ))),
            law: Mutex::new(None),
            link: Mutex::new(None),
            seat: Mutex::new(None),
        })
    }

    /// Our RTP address: put it in the SDP.
    pub fn local_rtp(&self) -> SocketAddr {
        self.local_rtp
    }

    /// Applies the negotiated far end. The first call returns the leg's media control
    /// (play, collect digits, record ...); later calls (re-INVITE) return `None`. A
    /// bridged leg's re-negotiation (hold, resume, new address or codec) reaches the
    /// relay at once.
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
        *locked(&self.law) = Some(far.law);
        self.ctl
            .send(Control::Start(far))
            .map_err(|_| closed("start"))?;
        Ok(locked(&self.session).take())
    }

    /// Relays RTP between this leg (side A, e.g. the caller) and `other` (side B,
    /// e.g. the agent) through the relay pool until either is unbridged or closed, or
    /// one of them is bridged elsewhere. With `record`, the conversation is written
    /// to that WAV file, this leg left, `other` right; the file is finished (header
    /// patched) when the bridge ends, and [`bridge_ended`](Self::bridge_ended) then
    /// gives its path and length. A leg bridged already leaves its previous bridge
    /// first (its partner goes back to its own session).
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when either leg has not started or is closed,
    /// or the legs are the same; a file error when the recording cannot be created.
    pub fn bridge(&self, other: &LegMedia, record: Option<&std::path::Path>) -> Result<()> {
        self.link(other, record, None)
    }

    /// [`bridge`](Self::bridge) recording to `path`; the receiver gets what the
    /// file holds once it is complete (the bridge ended and the file was finished).
    ///
    /// # Errors
    /// As [`bridge`](Self::bridge).
    pub fn bridge_recorded(
        &self,
        other: &LegMedia,
        path: &std::path::Path,
    ) -> Result<tokio::sync::oneshot::Receiver<RecordingInfo>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.link(other, Some(path), Some(tx))?;
        Ok(rx)
    }

    /// Hands every decoded frame of this leg, received and sent, to `tap` (see
    /// [`FrameTap`]) until it detaches or the leg's media ends. While bridged,
    /// the frames sent are the other leg's received ones (from the relay pool's
    /// worker, in 20 ms frames as the packets arrive).
    ///
    /// # Errors
    /// [`crate::MediaError::Config`] when the leg is closed.
    pub fn tap(&self, tap: FrameTap) -> Result<()> {
        // the task closes its control channel before it drops the taps: a tap
        // added after that would never learn the end
        if self
            .counters
            .taps()
            .add_unless(tap, || self.ctl.is_closed())
        {
            Ok(())
        } else {
            Err(closed("tap"))
        }
    }

    /// Starts a bridge; `done` learns the recording's figures at its end.
    fn link(
        &self,
        other: &LegMedia,
        record: Option<&std::path::Path>,
        done: Option<tokio::sync::oneshot::Sender<RecordingInfo>>,
    ) -> Result<()> {
        let law = |m: &LegMedia| *locked(&m.law);
        if law(self).is_none() || law(other).is_none() {
            return Err(crate::MediaError::Config {
                field: "bridge",
                detail: "both legs need negotiated media before bridging".into(),
            });
        }
        if self.local_rtp == other.local_rtp {
            return Err(crate::MediaError::Config {
                field: "bridge",
                detail: "a leg cannot be bridged to itself".into(),
            });
        }
        let pool = match &self.config.relay {
            Some(pool) => pool.clone(),
            None => RelayPool::shared()?,
        };
        let recording = match record {
            Some(path) => Some(WavRecorder::create(path, ChannelLayout::Stereo)?),
            None => None,
        };
        let link = BridgeLink::new(pool, recording, done, self.config.media_timeout);
        for leg in [self, other] {
            leg.leave_room(); // a bridged leg leaves its room
            if let Some(old) = locked(&leg.link).replace(link.clone()) {
                old.stop(); // a leg leaves its previous bridge
            }
        }
        for (leg, side) in [(self, Side::A), (other, Side::B)] {
            if leg.ctl.send(Control::Bridge(link.clone(), side)).is_err() {
                link.stop();
                return Err(closed("bridge"));
            }
        }
        Ok(())
    }

    /// Ends this leg's bridge; both legs return to their own sessions.
    pub fn unbridge(&self) {
        if let Some(link) = locked(&self.link).as_ref() {
            link.stop();
        }
    }

    /// The report of this leg's current or last bridge once it has ended (its
    /// recording finished): at once if it has, `None` if the leg was never bridged.
    /// Waits while the bridge goes on.
    pub async fn bridge_ended(&self) -> Option<RelayReport> {
        let link = locked(&self.link).clone()?;
        link.ended().await
    }

    /// The report of this leg's last bridge if it has ended (`None` while bridged or
    /// if never bridged).
    pub fn bridge_report(&self) -> Option<RelayReport> {
        locked(&self.link).as_ref()?.report()
    }

    /// Takes the leg out of its [`Room`] (nothing when it is in none): it returns
    /// to its own session within a tick.
    pub fn leave_room(&self) {
        if let Some(seat) = locked(&self.seat).take() {
            seat.leave();
        }
    }

    /// Whether the leg is in a [`Room`].
    pub fn in_room(&self) -> bool {
        locked(&self.seat).as_ref().is_some_and(|s| s.is_present())
    }

    /// Ends the session (RTCP BYE) and frees the ports; a bridge (or room) the leg
    /// is in ends first (leaves it).
    pub fn close(&self) {
        self.leave_room();
        let _ = self.ctl.send(Control::Close);
    }

    /// Live figures.
    pub fn stats(&self) -> LegMediaStats {
        let reception = self.counters.reception();
        LegMediaStats {
            expected: reception.expected,
            lost: reception.lost,
            jitter_us: reception.jitter_us,
            received: self.counters.received(),
            sent: self.counters.sent(),
            relayed: self.counters.relayed(),
            voiced_frames: self.counters.voiced_frames(),
            srtp_rejected: self.counters.srtp_rejected(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            srtp: None,
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
}
