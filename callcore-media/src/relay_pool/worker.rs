//! One relay worker: its poll set, its calls, the forwarding path and the per-worker
//! sweep (media timeouts, RTCP, recordings).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Token};

use super::recorder::CallRecorder;
use super::{CallEnd, LegCounters, LegParts, LegUpdate, NewCall, OnEnd, WorkerCommand};
use crate::bridge::{Bridge, RelayOutcome, Side};
use crate::frame_tap::TapDirection;
use crate::g711::Law;
use crate::latch;
use crate::level::power_to_dbm0;
use crate::rtcp::{self, ReceiverReport, RtcpPacket, SdesChunk};
use crate::rtp::RtpPacket;
use crate::srtp::SrtpSession;
use crate::udp::{GlueClock, RelayReport};

/// Datagrams read from one socket before the worker moves on to the next ready one
/// (the rest are read in the next round, so one flooded port cannot starve others).
const DRAIN_PER_LEG: usize = 16;
/// Readiness events fetched per `epoll_wait`.
const EVENTS_PER_ROUND: usize = 512;
/// The worker's sweep: media timeouts, RTCP, recordings.
const TICK: Duration = Duration::from_millis(100);
/// RTCP report interval per leg (as the legs' own sessions use).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Audio quieter than this (mean power) does not count as voiced.
const VOICED_DBM0: f64 = -50.0;

/// Token of the worker's waker (commands waiting); sockets use `slot * 4 + k` with
/// k = 0, 1 the RTP of legs A, B and k = 2, 3 their RTCP.
pub(super) const WAKER: Token = Token(usize::MAX);

/// A leg inside a worker.
struct Leg {
    rtp: MioUdp,
    rtcp: Option<MioUdp>,
    parts: LegParts,
    last_rx: Duration,
    silent: bool,
    next_rtcp: Duration,
    /// Decoded audio of this leg on its way to taps, in 20 ms frames.
    tap_frame: Vec<i16>,
}

impl Leg {
    fn counters(&self) -> Option<&Arc<LegCounters>> {
        self.parts.counters.as_ref()
    }
}

struct CallSlot {
    id: u64,
    bridge: Bridge,
    legs: [Leg; 2],
    recorder: Option<CallRecorder>,
    report: RelayReport,
    started: Duration,
    last_rx: Duration,
    media_timeout: Duration,
    end_on_media_timeout: bool,
    on_end: Option<OnEnd>,
}

/// A worker's calls and buffers (everything but the poll set).
struct WorkerState {
    clock: GlueClock,
    slots: Vec<Option<CallSlot>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    /// Sockets left with unread datagrams after their drain budget.
    backlog: Vec<Token>,
    next_backlog: Vec<Token>,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// A received SRTP packet decrypted, and a relayed one protected for its leg.
    plain: Vec<u8>,
    sealed: Vec<u8>,
}

fn side_of(i: usize) -> Side {
    if i == 0 { Side::A } else { Side::B }
}

pub(super) fn run(mut poll: mio::Poll, commands: std_mpsc::Receiver<WorkerCommand>) {
    let mut st = WorkerState {
        clock: GlueClock::process(),
        slots: Vec::new(),
        free: Vec::new(),
        by_id: HashMap::new(),
        backlog: Vec::new(),
        next_backlog: Vec::new(),
        buf: vec![0u8; 2048],
        out: Vec::with_capacity(2048),
        plain: Vec::with_capacity(2048),
        sealed: Vec::with_capacity(2048),
    };
    let mut next_tick = st.clock.now() + TICK;
    let mut events = Events::with_capacity(EVENTS_PER_ROUND);
    loop {
        let now = st.clock.now();
        let wait = if st.backlog.is_empty() {
            next_tick.saturating_sub(now)
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "relay worker's poll set failed");
            break;
        }
        let now = st.clock.now();
        let mut backlog = std::mem::take(&mut st.backlog);
        for t in backlog.drain(..) {
            st.ready(t, now);
        }
        st.backlog = backlog;
        let mut commands_waiting = false;
        for ev in events.iter() {
            if ev.token() == WAKER {
                commands_waiting = true;
            } else {
                st.ready(ev.token(), now);
            }
        }
        std::mem::swap(&mut st.backlog, &mut st.next_backlog);
        let tick_due = now >= next_tick;
        if (commands_waiting || tick_due) && !st.commands(poll.registry(), &commands, now) {
            return; // the pool and every call handle are gone; calls were handed back
        }
        if tick_due {
            st.sweep(poll.registry(), now);
            next_tick = now + TICK;
        }
    }
    let now = st.clock.now();
    for slot in 0..st.slots.len() {
        st.end(poll.registry(), slot, false, now);
    }
}

impl WorkerState {
    /// Takes the queued commands; false once nobody can send any more.
    fn commands(
        &mut self,
        registry: &mio::Registry,
        commands: &std_mpsc::Receiver<WorkerCommand>,
        now: Duration,
    ) -> bool {
        loop {
            match commands.try_recv() {
                Ok(WorkerCommand::Add(call)) => self.add(registry, *call, now),
                Ok(WorkerCommand::Stop(id)) => {
                    if let Some(&slot) = self.by_id.get(&id) {
                        self.end(registry, slot, false, now);
                    }
                }
                Ok(WorkerCommand::Update(id, side, u)) => self.update(id, side, u),
                Err(std_mpsc::TryRecvError::Empty) => return true,
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    for slot in 0..self.slots.len() {
                        self.end(registry, slot, false, now);
                    }
                    return false;
                }
            }
        }
    }

    fn add(&mut self, registry: &mio::Registry, call: NewCall, now: Duration) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let NewCall {
            id,
            bridge,
            legs,
            recording,
            media_timeout,
            end_on_media_timeout,
            on_end,
        } = call;
        // stagger the calls' RTCP over the interval
        let first_rtcp = now + Duration::from_millis(500 + (id % 45) * 100);
        let mut legs = legs.map(|(rtp, rtcp, parts)| Leg {
            rtp,
            rtcp,
            parts,
            last_rx: now,
            silent: false,
            next_rtcp: first_rtcp,
            tap_frame: Vec::with_capacity(160),
        });
        let mut failed = None;
        for (i, leg) in legs.iter_mut().enumerate() {
            let token = |k: usize| Token(slot * 4 + k);
            if let Err(e) = registry.register(&mut leg.rtp, token(i), Interest::READABLE) {
                failed = Some(e);
            }
            if let Some(Err(e)) = leg
                .rtcp
                .as_mut()
                .map(|s| registry.register(s, token(2 + i), Interest::READABLE))
            {
                failed = Some(e);
            }
        }
        self.by_id.insert(id, slot);
        self.slots[slot] = Some(CallSlot {
            id,
            bridge,
            legs,
            recorder: recording.map(|w| CallRecorder::new(w, now)),
            report: RelayReport::default(),
            started: now,
            last_rx: now,
            media_timeout,
            end_on_media_timeout,
            on_end: Some(on_end),
        });
        if let Some(e) = failed {
            tracing::warn!(error = %e, "cannot watch a relay socket; call not relayed");
            self.end(registry, slot, false, now);
        }
    }

    fn update(&mut self, id: u64, side: Side, u: LegUpdate) {
        let Some(call) = self.by_id.get(&id).and_then(|&s| self.slots[s].as_mut()) else {
            return;
        };
        let i = usize::from(side == Side::B);
        let leg = &mut call.legs[i].parts;
        if let Some(r) = u.remote
            && (leg.lock.resignal(r) || leg.remote.is_none())
        {
            leg.remote = Some(r);
        }
        if u.send && !leg.send {
            call.bridge.splice(side); // resumed: a new talkspurt of the same stream
        }
        leg.send = u.send;
        SrtpSession::apply(&mut leg.srtp, u.srtp.as_ref());
        call.bridge.set_leg(side, u.law, u.telephone_event);
    }

    fn end(&mut self, registry: &mio::Registry, slot: usize, timed_out: bool, now: Duration) {
        let Some(call) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let CallSlot {
            id,
            bridge,
            legs,
            recorder,
            mut report,
            started,
            on_end,
            ..
        } = call;
        self.by_id.remove(&id);
        self.free.push(slot);
        report.timed_out = timed_out;
        report.duration = now.saturating_sub(started);
        for (i, s) in [Side::A, Side::B].into_iter().enumerate() {
            report.transcoded[i] = bridge.transcoded(s);
            report.events_forwarded[i] = bridge.events_forwarded(s);
            report.remotes[i] = legs[i].parts.remote;
        }
        if let Some(rec) = recorder {
            report.recording = rec.finish(now);
        }
        let legs = legs.map(|mut leg| {
            let _ = registry.deregister(&mut leg.rtp);
            if let Some(s) = leg.rtcp.as_mut() {
                let _ = registry.deregister(s);
            }
            leg.parts.join(leg.rtp, leg.rtcp)
        });
        if let Some(on_end) = on_end {
            on_end(CallEnd {
                legs,
                bridge,
                report,
            });
        }
    }

    fn sweep(&mut self, registry: &mio::Registry, now: Duration) {
        let mut dead = Vec::new();
        for (slot, call) in self.slots.iter_mut().enumerate() {
            let Some(call) = call else { continue };
            for (i, leg) in call.legs.iter_mut().enumerate() {
                if leg.parts.send && !leg.silent && now >= leg.last_rx + call.media_timeout {
                    leg.silent = true;
                    call.report.media_timeout[i] = true;
                    tracing::info!(leg = ?side_of(i), "bridged leg's media went silent");
                }
                if now >= leg.next_rtcp {
                    leg.next_rtcp = now + RTCP_INTERVAL;
                    if send_report(
                        &mut call.bridge,
                        side_of(i),
                        leg,
                        now,
                        [&mut self.out, &mut self.sealed],
                    ) {
                        call.report.rtcp_sent[i] += 1;
                    }
                }
            }
            if let Some(rec) = call.recorder.as_mut() {
                rec.flush(now);
            }
            if call.end_on_media_timeout && now >= call.last_rx + call.media_timeout {
                dead.push(slot);
            }
        }
        for slot in dead {
            tracing::debug!(slot, "bridged call's media timed out");
            self.end(registry, slot, true, now);
        }
    }

    fn ready(&mut self, token: Token, now: Duration) {
        if token.0 % 4 < 2 {
            self.relay_leg(token, now);
        } else {
            self.read_rtcp(token, now);
        }
    }

    /// Reads what leg `token` has (up to the drain budget) and relays it.
    fn relay_leg(&mut self, token: Token, now: Duration) {
        let (slot, i) = (token.0 / 4, token.0 % 4);
        let Some(Some(call)) = self.slots.get_mut(slot) else {
            return;
        };
        let (side, j) = (side_of(i), 1 - i);
        for n in 0.. {
            if n == DRAIN_PER_LEG {
                self.next_backlog.push(token);
                break;
            }
            let (len, from) = match call.legs[i].rtp.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    call.report.dropped += 1;
                    break;
                }
            };
            let parts = &mut call.legs[i].parts;
            // a stranger's datagram is neither relayed, recorded nor followed, nor
            // is one that fails SRTP authentication
            let admission = parts.lock.admit_secure(
                parts.latch,
                &mut parts.remote,
                from,
                &self.buf[..len],
                parts.srtp.as_mut(),
                &mut self.plain,
            );
            let data: &[u8] = match admission {
                latch::Admission::Clear => &self.buf[..len],
                latch::Admission::Decrypted => &self.plain,
                latch::Admission::Unauthentic => {
                    call.report.srtp_rejected[i] += 1;
                    if let Some(c) = parts.counters.as_ref() {
                        c.on_srtp_rejected();
                    }
                    call.report.dropped += 1;
                    continue;
                }
                latch::Admission::Stranger => {
                    call.report.dropped += 1;
                    continue;
                }
            };
            call.last_rx = now;
            let leg = &mut call.legs[i];
            leg.last_rx = now;
            leg.silent = false;
            if let Some(c) = leg.counters() {
                c.on_received(data, now);
            }
            if !call.legs[j].parts.send {
                // the other leg is on hold: nothing goes to it, but what this leg
                // says is still heard by the recording and the statistics
                if call.bridge.account(side, data, now).is_ok() {
                    heard(call, i, data, now, false);
                    call.report.held[j] += 1;
                } else {
                    call.report.dropped += 1;
                }
                continue;
            }
            let outcome = call.bridge.relay(side, data, now, &mut self.out);
            let Ok(outcome) = outcome
                .map_err(|_| ())
                .and_then(|o| if o.forwarded() { Ok(o) } else { Err(()) })
            else {
                call.report.dropped += 1;
                continue;
            };
            if outcome == RelayOutcome::Forwarded {
                heard(call, i, data, now, true);
            }
            let to = &mut call.legs[j];
            let wire: &[u8] = match to.parts.srtp.as_mut() {
                Some(srtp) => {
                    if srtp.protect_rtp(&self.out, &mut self.sealed).is_err() {
                        call.report.dropped += 1;
                        continue;
                    }
                    &self.sealed
                }
                None => &self.out,
            };
            // A full socket buffer drops the datagram, as a network would.
            match to.parts.remote.map(|dst| to.rtp.send_to(wire, dst)) {
                Some(Ok(_)) => {
                    call.report.forwarded[i] += 1;
                    if let Some(c) = to.counters() {
                        c.on_sent();
                    }
                    if let Some(c) = call.legs[i].counters() {
                        c.on_relayed();
                    }
                }
                _ => call.report.dropped += 1,
            }
        }
    }

    /// Reads a leg's RTCP: sender reports (for our receiver reports' LSR/DLSR) and BYE.
    fn read_rtcp(&mut self, token: Token, now: Duration) {
        let (slot, i) = (token.0 / 4, token.0 % 4 - 2);
        let Some(Some(call)) = self.slots.get_mut(slot) else {
            return;
        };
        if call.legs[i].rtcp.is_none() {
            return;
        }
        for n in 0.. {
            if n == DRAIN_PER_LEG {
                self.next_backlog.push(token);
                break;
            }
            let Some(sock) = call.legs[i].rtcp.as_ref() else {
                return;
            };
            let len = match sock.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    // RTCP (BYE included) only from the latched peer
                    let parts = &call.legs[i].parts;
                    if !parts.lock.admit_rtcp(parts.remote, from) {
                        continue;
                    }
                    len
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let parts = &mut call.legs[i].parts;
            let packet: &[u8] = match parts.srtp.as_mut() {
                Some(srtp) => {
                    if srtp
                        .unprotect_rtcp(&self.buf[..len], &mut self.plain)
                        .is_err()
                    {
                        call.report.srtp_rejected[i] += 1;
                        if let Some(c) = parts.counters.as_ref() {
                            c.on_srtp_rejected();
                        }
                        continue;
                    }
                    &self.plain
                }
                None => &self.buf[..len],
            };
            call.report.rtcp_received[i] += 1;
            let Ok(packets) = rtcp::parse_compound(packet) else {
                continue;
            };
            for p in packets {
                match p {
                    RtcpPacket::SenderReport(sr) => {
                        if let Some(rx) = call.bridge.reception_mut(side_of(i))
                            && rx.ssrc() == sr.ssrc
                        {
                            rx.on_sender_report(&sr, now);
                        }
                    }
                    RtcpPacket::Goodbye { .. } => call.report.remote_bye[i] = true,
                    _ => {}
                }
            }
        }
    }
}

/// What leg `i` said (an audio packet): voice activity, the recording and the taps
/// (the other leg's as sent audio if it was `delivered` to it).
fn heard(call: &mut CallSlot, i: usize, data: &[u8], now: Duration, delivered: bool) {
    let Ok(p) = RtpPacket::parse(data) else {
        return;
    };
    let law = call.bridge.leg(side_of(i)).law;
    if Law::from_payload_type(p.payload_type) != Some(law) || p.payload.is_empty() {
        return;
    }
    if let Some(c) = call.legs[i].counters() {
        let energy: i64 = p
            .payload
            .iter()
            .map(|&code| {
                let s = i64::from(law.decode(code));
                s * s
            })
            .sum();
        let power = energy as f64 / p.payload.len() as f64;
        if power_to_dbm0(power) > VOICED_DBM0 {
            c.on_voiced(p.payload.len() as u64);
        }
    }
    if let Some(rec) = call.recorder.as_mut() {
        rec.on_audio(i, law, p.ssrc, p.timestamp, p.payload, now);
    }
    // taps: what leg i says is what it sends us and what the other leg is sent
    let [a, b] = &mut call.legs;
    let (from, to) = if i == 0 { (a, &*b) } else { (b, &*a) };
    let tapped = |l: &Leg| l.counters().is_some_and(|c| c.taps().any());
    let to = Some(to).filter(|_| delivered);
    if !tapped(from) && !to.is_some_and(tapped) {
        from.tap_frame.clear();
        return;
    }
    for &code in p.payload {
        from.tap_frame.push(law.decode(code));
        if from.tap_frame.len() == 160 {
            if let Some(c) = from.counters() {
                c.taps().frame(TapDirection::Received, &from.tap_frame);
            }
            if let Some(c) = to.and_then(Leg::counters) {
                c.taps().frame(TapDirection::Sent, &from.tap_frame);
            }
            from.tap_frame.clear();
        }
    }
}

/// Sends our RTCP report to leg `side`: a sender report about the stream we send it
/// (with a reception block about what it sends us), or a receiver report before we
/// have sent anything.
fn send_report(
    bridge: &mut Bridge,
    side: Side,
    leg: &mut Leg,
    now: Duration,
    [out, sealed]: [&mut Vec<u8>; 2],
) -> bool {
    let (Some(sock), Some(remote)) = (leg.rtcp.as_ref(), leg.parts.remote) else {
        return false;
    };
    let stream = bridge.stream(side);
    let ssrc = stream.ssrc();
    let (packets, octets) = stream.sent();
    let rtp_time = stream.timestamp_at(now);
    let blocks: Vec<_> = bridge
        .reception_mut(side)
        .map(|rx| rx.report_block(now))
        .into_iter()
        .collect();
    let first = match rtp_time {
        Some(rtp_time) if packets > 0 => RtcpPacket::SenderReport(rtcp::SenderReport {
            ssrc,
            ntp_time: ntp(now),
            rtp_time,
            packet_count: packets,
            octet_count: octets,
            reports: blocks,
        }),
        _ => RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc,
            reports: blocks,
        }),
    };
    let sdes = RtcpPacket::SourceDescription(vec![SdesChunk {
        ssrc,
        items: vec![(1, b"callcore".to_vec())],
    }]);
    out.clear();
    if rtcp::write_compound(&[first, sdes], out).is_err() {
        return false;
    }
    let wire: &[u8] = match leg.parts.srtp.as_mut() {
        Some(srtp) => {
            if srtp.protect_rtcp(out, sealed).is_err() {
                return false;
            }
            sealed
        }
        None => out,
    };
    sock.send_to(wire, latch::rtcp_of(remote)).is_ok()
}

/// 64-bit NTP format of the media clock (the same origin as the legs' sessions).
fn ntp(now: Duration) -> u64 {
    let frac = ((u128::from(now.subsec_nanos()) << 32) / 1_000_000_000) as u64;
    (now.as_secs() << 32) | frac
}
