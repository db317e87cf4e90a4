//! The task behind a [`LegMedia`](super::LegMedia): the leg's own session (IVR,
//! queue, prompts) while its sockets are at home; asleep while a bridge has them;
//! a room's member (its received audio into the room, the room's mix out) while it
//! sits in a [`Room`](super::Room).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::link::{BridgeLink, Handover, Returned};
use super::room::{ROOM_FRAME, Seat};
use super::{LegMediaConfig, Negotiated};
use crate::bridge::Side;
use crate::dtmf::parse_digits;
use crate::endpoint::{EndpointConfig, MediaEndpoint, Transmit};
use crate::frame_tap::TapDirection;
use crate::latch;
use crate::level::mean_power;
use crate::out_stream::OutStream;
use crate::relay_pool::LegCounters;
use crate::rtp::RtpPacket;
use crate::srtp::SrtpSession;
use crate::udp::{GlueClock, SessionCommand, SessionEvent};

/// What the leg's owner (and its bridges) tell the task.
#[derive(Debug)]
pub(super) enum Control {
    Start(Negotiated),
    Bridge(Arc<BridgeLink>, Side),
    Room(Arc<Seat>),
    Returned(Box<Returned>),
    Close,
}

/// Audio frames (20 ms) allowed to wait unread.
const MAX_BACKLOG: u64 = 50;
/// How long a closing leg waits for a bridge to give its sockets back.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// -50 dBm0 in mean power of 16-bit samples (a quiet voice is about -30).
fn voiced(frame: &[i16]) -> bool {
    crate::level::power_to_dbm0(mean_power(frame)) > -50.0
}

/// Receives on a socket if the leg has it (a bridged leg's task waits forever).
async fn recv_on(sock: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The task's state.
pub(super) struct LegTask {
    pub rtp: Option<UdpSocket>,
    pub rtcp: Option<UdpSocket>,
    pub remote: Option<SocketAddr>,
    /// Which sources are accepted (see `crate::latch`).
    pub latch: latch::Latch,
    pub far: Option<Negotiated>,
    /// The leg's SRTP state (SDES keys from signalling), travelling with the sockets.
    pub srtp: Option<SrtpSession>,
    /// Decrypted (or to be encrypted) packets of an SRTP leg.
    pub plain: Vec<u8>,
    /// The stream towards the far end (in a bridge while the leg is bridged).
    pub out: Option<OutStream>,
    pub counters: Arc<LegCounters>,
    pub config: LegMediaConfig,
    pub endpoint: Option<MediaEndpoint>,
    /// The bridge holding the sockets.
    pub away: Option<(Arc<BridgeLink>, Side)>,
    /// A bridge to join once the sockets are back.
    pub next_bridge: Option<(Arc<BridgeLink>, Side)>,
    pub closing: Option<Duration>,
    /// The room the leg sits in (its sockets at home, its session paused).
    pub room: Option<Arc<Seat>>,
    /// A room to sit in once a bridge gives the sockets back.
    pub next_room: Option<Arc<Seat>>,
    /// Scratch buffers of a room tick (no allocation per packet).
    pub frame: Vec<i16>,
    pub wire: Vec<u8>,
    pub home: mpsc::WeakUnboundedSender<Control>,
    pub events: mpsc::UnboundedSender<SessionEvent>,
    /// Events sent, and taken by the media control (it reads only while a prompt,
    /// collection or recording runs): audio is held back beyond a second of backlog,
    /// so a caller waiting in queue neither grows memory nor leaves stale frames.
    pub delivered: u64,
    pub consumed: Arc<AtomicU64>,
}

impl LegTask {
    fn deliver(&mut self, e: SessionEvent) {
        if self.events.send(e).is_ok() {
            self.delivered += 1;
        }
    }

    /// Sends one of our RTP packets (rewritten into the far end's stream) if the
    /// direction allows it.
    fn send_rtp(&mut self, pkt: &mut [u8], now: Duration) {
        if !self.far.is_some_and(|f| f.send) {
            return;
        }
        let (Some(dst), Some(sock), Some(out)) = (self.remote, &self.rtp, self.out.as_mut()) else {
            return;
        };
        out.rewrite(pkt, now);
        let wire: &[u8] = match self.srtp.as_mut() {
            Some(srtp) => {
                if srtp.protect_rtp(pkt, &mut self.plain).is_err() {
                    return;
                }
                &self.plain
            }
            None => pkt,
        };
        // a full socket buffer drops the datagram, as a network would
        if sock.try_send_to(wire, dst).is_ok() {
            self.counters.on_sent();
        }
    }

    fn send_rtcp(&mut self, data: &[u8]) {
        let (Some(r), Some(sock)) = (self.remote, &self.rtcp) else {
            return;
        };
        let wire: &[u8] = match self.srtp.as_mut() {
            Some(srtp) => {
                if srtp.protect_rtcp(data, &mut self.plain).is_err() {
                    return;
                }
                &self.plain
            }
            None => data,
        };
        let _ = sock.try_send_to(wire, latch::rtcp_of(r));
    }

    /// RTCP from the far end (BYE included), only from the latched peer and, on an
    /// SRTP leg, only when it authenticates.
    fn on_rtcp(&mut self, data: &[u8], from: SocketAddr, now: Duration) {
        if !self.latch.admit_rtcp(self.remote, from) {
            return;
        }
        let packet: &[u8] = match self.srtp.as_mut() {
            Some(srtp) => {
                if srtp.unprotect_rtcp(data, &mut self.plain).is_err() {
                    self.counters.on_srtp_rejected();
                    return;
                }
                &self.plain
            }
            None => data,
        };
        if let Some(ep) = self.endpoint.as_mut() {
            let _ = ep.handle_rtcp(packet, now);
        }
    }

    /// A new endpoint for `far` (law and telephone-event type decide its codec).
    fn new_endpoint(&mut self, far: Negotiated) {
        let cfg = EndpointConfig {
            law: far.law,
            telephone_event_pt: far.telephone_event,
            ssrc: self.config.ssrc,
            media_timeout: self.config.media_timeout,
            ..EndpointConfig::default()
        };
        match MediaEndpoint::new(cfg) {
            Ok(ep) => self.endpoint = Some(ep),
            Err(e) => tracing::warn!(error = %e, "leg media: bad endpoint settings"),
        }
    }

    fn on_start(&mut self, far: Negotiated) {
        // a new address from signalling; the same one again keeps the latch
        if let Some(r) = far.remote
            && (self.latch.resignal(r) || self.remote.is_none())
        {
            self.remote = Some(r);
        }
        SrtpSession::apply(&mut self.srtp, far.srtp.as_ref());
        let prev = self.far.replace(far);
        let codec = |n: &Negotiated| (n.law, n.telephone_event);
        if self.endpoint.is_none() || prev.as_ref().map(codec) != Some(codec(&far)) {
            self.new_endpoint(far);
        }
        if far.send
            && !prev.is_some_and(|p| p.send)
            && let Some(out) = self.out.as_mut()
        {
            out.splice(); // resumed from hold: a new talkspurt
        }
        if let Some((link, side)) = &self.away {
            link.update(*side, far);
        }
    }

    fn on_rtp(&mut self, data: &[u8], from: SocketAddr, now: Duration) {
        // a stranger's datagram is neither heard nor followed, nor is one that
        // fails SRTP authentication
        let admission = self.latch.admit_secure(
            self.config.latch,
            &mut self.remote,
            from,
            data,
            self.srtp.as_mut(),
            &mut self.plain,
        );
        let packet: &[u8] = match admission {
            latch::Admission::Clear => data,
            latch::Admission::Decrypted => &self.plain,
            latch::Admission::Unauthentic => {
                self.counters.on_srtp_rejected();
                return;
            }
            latch::Admission::Stranger => return,
        };
        self.counters.on_received(packet, now);
        if let Some(ep) = self.endpoint.as_mut() {
            let _ = ep.handle_rtp(packet, now);
        } else {
            let _ = RtpPacket::parse(packet);
        }
    }

    /// Reads the RTP datagrams waiting on the socket (at most a second's worth),
    /// without waiting for more.
    fn take_arrived(&mut self, buf: &mut [u8], now: Duration) {
        for _ in 0..MAX_BACKLOG {
            let got = match self.rtp.as_ref() {
                Some(s) => s.try_recv_from(buf),
                None => return,
            };
            match got {
                Ok((n, from)) => self.on_rtp(&buf[..n], from, now),
                Err(_) => return,
            }
        }
    }

    /// Hands the sockets to `link` (or, if a bridge has them, joins once they are back).
    fn join(&mut self, link: Arc<BridgeLink>, side: Side) {
        self.leave_rooms();
        if self.closing.is_some() {
            link.stop();
            return;
        }
        if let Some((old, _)) = &self.away {
            old.stop();
            if let Some((skipped, _)) = self.next_bridge.replace((link, side)) {
                skipped.stop();
            }
            return;
        }
        let (Some(rtp), Some(rtcp), Some(far), Some(home)) = (
            self.rtp.take(),
            self.rtcp.take(),
            self.far,
            self.home.upgrade(),
        ) else {
            link.stop();
            return;
        };
        let (rtp, rtcp) = match (rtp.into_std(), rtcp.into_std()) {
            (Ok(rtp), Ok(rtcp)) => (rtp, rtcp),
            _ => {
                tracing::warn!("leg media: cannot hand the sockets to the relay");
                link.stop();
                return;
            }
        };
        let h = Handover {
            rtp,
            rtcp,
            remote: self.remote,
            far,
            latch: self.config.latch,
            out: self
                .out
                .take()
                .unwrap_or_else(|| OutStream::new(self.config.ssrc)),
            counters: self.counters.clone(),
            srtp: self.srtp.take(),
            home,
        };
        self.away = Some((link.clone(), side));
        link.deposit(side, h);
    }

    /// The bridge gave the sockets back: the leg's own session goes on.
    fn come_home(&mut self, r: Returned) {
        self.away = None;
        let rtcp = match r.rtcp.map(UdpSocket::from_std).transpose() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "leg media: RTCP socket lost");
                None
            }
        };
        match UdpSocket::from_std(r.rtp) {
            Ok(s) => self.rtp = Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "leg media: RTP socket lost; ending the leg");
                self.closing = Some(Duration::ZERO);
                return;
            }
        }
        self.rtcp = rtcp;
        self.srtp = r.srtp;
        if r.remote.is_some() {
            self.remote = r.remote;
            // the bridge settled where the media goes
            self.latch = latch::Latch::settled(r.remote);
        }
        let mut out = r.out;
        out.splice();
        self.out = Some(out);
        // a fresh endpoint: what it receives now follows on from the bridge, and its
        // media timeout starts over
        if let Some(far) = self.far {
            self.endpoint = None;
            self.new_endpoint(far);
        }
        if let Some((link, side)) = self.next_bridge.take() {
            self.join(link, side);
        } else if let Some(seat) = self.next_room.take() {
            self.enter_room(seat);
        }
    }

    /// Leaves the room the leg sits in or waits for.
    fn leave_rooms(&mut self) {
        for seat in [self.room.take(), self.next_room.take()]
            .into_iter()
            .flatten()
        {
            seat.leave();
        }
    }

    /// Sits in a room: at once when the sockets are at home, else once the bridge
    /// (already told to end) gives them back.
    fn enter_room(&mut self, seat: Arc<Seat>) {
        if self.closing.is_some() {
            seat.leave();
            return;
        }
        if let Some((skipped, _)) = self.next_bridge.take() {
            skipped.stop();
        }
        if self.away.is_some() {
            if let Some(old) = self.next_room.replace(seat) {
                old.leave();
            }
            return;
        }
        if let Some(old) = self.room.replace(seat) {
            old.leave(); // every join brings a new seat
        }
        if let Some(out) = self.out.as_mut() {
            out.splice(); // the room's mix: a new talkspurt
        }
    }

    /// One 20 ms tick in a room: the received frame into the room, the room's mix
    /// out (silence until the room has mixed one).
    fn room_tick(&mut self, seat: &Seat, now: Duration) {
        let Some(ep) = self.endpoint.as_mut() else {
            return;
        };
        let mut frame = std::mem::take(&mut self.frame);
        ep.pop_frame(&mut frame, now);
        if voiced(&frame) {
            self.counters.on_voiced(frame.len() as u64);
        }
        self.counters.taps().frame(TapDirection::Received, &frame);
        let mut mix = [0i16; ROOM_FRAME];
        seat.exchange(&frame, &mut mix);
        self.frame = frame;
        self.counters.taps().frame(TapDirection::Sent, &mix);
        let mut wire = std::mem::take(&mut self.wire);
        if let Some(ep) = self.endpoint.as_mut()
            && ep.send_frame(&mix, now, &mut wire).unwrap_or(false)
        {
            self.send_rtp(&mut wire, now);
        }
        self.wire = wire;
    }

    /// True when the task can end now; otherwise it waits for its sockets.
    fn begin_close(&mut self, now: Duration) -> bool {
        if let Some((next, _)) = self.next_bridge.take() {
            next.stop();
        }
        match &self.away {
            Some((link, _)) => {
                link.stop();
                self.closing.get_or_insert(now + CLOSE_GRACE);
                false
            }
            None => true,
        }
    }

    /// One 20 ms tick: hand the received frame on, send ours.
    fn on_tick(&mut self, now: Duration, queue: &mut VecDeque<i16>) {
        if self.room.as_ref().is_some_and(|s| !s.is_present()) {
            // the room let the leg go (it left, or the room closed): back to the
            // session, whose prompt or music goes on where it was
            self.room = None;
            if let Some(out) = self.out.as_mut() {
                out.splice();
            }
        }
        if let Some(seat) = self.room.clone() {
            self.room_tick(&seat, now);
            return;
        }
        let Some(ep) = self.endpoint.as_mut() else {
            return;
        };
        let mut frame = Vec::with_capacity(160);
        let kind = ep.pop_frame(&mut frame, now);
        if voiced(&frame) {
            self.counters.on_voiced(frame.len() as u64);
        }
        self.counters.taps().frame(TapDirection::Received, &frame);
        let backlog = self.delivered - self.consumed.load(Ordering::Relaxed).min(self.delivered);
        if backlog < MAX_BACKLOG {
            self.deliver(SessionEvent::Audio(frame, kind));
        }
        let out: Vec<i16> = if queue.is_empty() {
            vec![0; 160]
        } else {
            queue.drain(..queue.len().min(160)).collect()
        };
        self.counters.taps().frame(TapDirection::Sent, &out);
        let mut wire = Vec::with_capacity(200);
        let Some(ep) = self.endpoint.as_mut() else {
            return;
        };
        if ep.send_frame(&out, now, &mut wire).unwrap_or(false) {
            self.send_rtp(&mut wire, now);
        }
    }

    fn flush(&mut self, now: Duration) {
        let mut wire = Vec::new();
        loop {
            let Some(ep) = self.endpoint.as_mut() else {
                return;
            };
            match ep.poll_transmit(now, &mut wire) {
                Some(Transmit::Rtp) => self.send_rtp(&mut wire, now),
                Some(Transmit::Rtcp) => self.send_rtcp(&wire),
                None => break,
            }
        }
        while let Some(e) = self.endpoint.as_mut().and_then(MediaEndpoint::poll_event) {
            self.deliver(SessionEvent::Endpoint(e));
        }
    }

    pub(super) async fn run(
        mut self,
        mut ctl: mpsc::UnboundedReceiver<Control>,
        mut cmds: mpsc::UnboundedReceiver<SessionCommand>,
    ) {
        let clock = GlueClock::process();
        let mut buf = vec![0u8; 2048];
        let mut rbuf = vec![0u8; 2048];
        let mut queue = VecDeque::new();
        let mut playing = false;
        let mut cmds_open = true;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            let home = self.rtp.is_some();
            let timeout = match (&self.closing, home) {
                (Some(deadline), false) => *deadline,
                (_, true) => self
                    .endpoint
                    .as_ref()
                    .and_then(MediaEndpoint::poll_timeout)
                    .unwrap_or(clock.now() + Duration::from_secs(3600)),
                (None, false) => clock.now() + Duration::from_secs(3600),
            };
            tokio::select! {
                r = recv_on(self.rtp.as_ref(), &mut buf) => {
                    if let Ok((n, from)) = r {
                        self.on_rtp(&buf[..n], from, clock.now());
                    }
                }
                r = recv_on(self.rtcp.as_ref(), &mut rbuf) => {
                    if let Ok((n, from)) = r {
                        self.on_rtcp(&rbuf[..n], from, clock.now());
                    }
                }
                c = ctl.recv() => match c {
                    Some(Control::Start(far)) => self.on_start(far),
                    Some(Control::Bridge(link, side)) => self.join(link, side),
                    Some(Control::Room(seat)) => self.enter_room(seat),
                    Some(Control::Returned(r)) => {
                        self.come_home(*r);
                        tick.reset();
                        if self.closing.is_some() && self.away.is_none() {
                            break;
                        }
                    }
                    Some(Control::Close) | None => {
                        if self.begin_close(clock.now()) {
                            break;
                        }
                    }
                },
                c = cmds.recv(), if cmds_open => match c {
                    Some(SessionCommand::Play(pcm)) => { queue.extend(pcm); playing = true; }
                    Some(SessionCommand::StopPlayback) => queue.clear(),
                    Some(SessionCommand::Digits(s)) => {
                        // a bridged leg's digits would go nowhere: only at home
                        if let (true, Ok(ds), Some(ep)) = (home, parse_digits(&s), self.endpoint.as_mut()) {
                            for d in ds { let _ = ep.send_digit(d, 100, clock.now()); }
                        }
                    }
                    Some(SessionCommand::Hangup) => {
                        if self.begin_close(clock.now()) {
                            break;
                        }
                    }
                    None => cmds_open = false, // the media control was dropped; the leg lives on
                },
                _ = tick.tick(), if home => {
                    // packets that arrived while the task was not running (a loaded
                    // machine) go into the jitter buffer before the frame is taken,
                    // else they would be concealed now and dropped as late later
                    self.take_arrived(&mut buf, clock.now());
                    // a dropped media control stops audio delivery, not the leg
                    self.on_tick(clock.now(), &mut queue);
                    if playing && queue.is_empty() {
                        playing = false;
                        self.deliver(SessionEvent::PlaybackDone);
                    }
                }
                _ = clock.sleep_until(timeout) => {
                    if !home && self.closing.is_some() {
                        tracing::warn!("leg media: the bridge did not give the sockets back");
                        break;
                    }
                    if let Some(ep) = self.endpoint.as_mut() { ep.handle_timeout(clock.now()); }
                }
            }
            if self.rtp.is_some() {
                self.flush(clock.now());
            }
        }
        if let Some((link, _)) = self.away.take() {
            link.stop();
        }
        self.leave_rooms();
        let mut wire = Vec::new();
        if let Some(ep) = self.endpoint.as_ref()
            && ep.write_bye(&mut wire).is_ok()
        {
            self.send_rtcp(&wire);
        }
        if let Some(ep) = self.endpoint.as_ref() {
            let _ = self.events.send(SessionEvent::Ended(ep.stats()));
        }
        // the taps learn the end by being dropped; `tap` sees the closed control
        // channel first, so none is added after this
        drop(ctl);
        self.counters.taps().clear();
    }
}
