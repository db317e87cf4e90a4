//! A sans-IO media endpoint: one RTP stream terminated by callcore (an IVR leg, a
//! recorder, an ASR feed). Datagrams and time go in; decoded frames, digit events,
//! and datagrams to send come out. The tokio glue in [`crate::udp`] owns the socket.
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::endpoint::{MediaEndpoint, EndpointConfig, EndpointEvent};
//! use callcore_media::dtmf::Digit;
//! let mut alice = MediaEndpoint::new(EndpointConfig::default()).unwrap();
//! let mut bob = MediaEndpoint::new(EndpointConfig { ssrc: 2, ..EndpointConfig::default() }).unwrap();
//! alice.send_digit(Digit::from_char('7').unwrap(), 100, Duration::ZERO).unwrap();
//! let mut wire = Vec::new();
//! let mut t = Duration::ZERO;
//! while t < Duration::from_millis(300) {
//!     while alice.poll_transmit(t, &mut wire).is_some() {
//!         bob.handle_rtp(&wire, t).unwrap();
//!     }
//!     t += Duration::from_millis(10);
//! }
//! let digits: Vec<_> = std::iter::from_fn(|| bob.poll_event()).collect();
//! assert!(matches!(digits[0], EndpointEvent::Digit(_)));
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use crate::dtmf::Digit;
use crate::dtmf::rfc4733::{
    DigitEvent, PlannedEventPacket, TelephoneEventReceiver, TelephoneEventSender,
};
use crate::error::{MediaError, Result};
use crate::g711::Law;
use crate::jitter::{FrameKind, JitterBuffer, JitterConfig, JitterStats};
use crate::rtcp::{self, ReceiverReport, RtcpPacket, SdesChunk};
use crate::rtp::RtpPacket;
use crate::rtp_stats::{ReceptionStats, SenderStats};

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The law we send, and expect (the other law is accepted and decoded too).
    pub law: Law,
    /// Negotiated telephone-event payload type.
    pub telephone_event_pt: Option<u8>,
    /// Our SSRC.
    pub ssrc: u32,
    /// Our RTCP CNAME.
    pub cname: String,
    /// Jitter buffer settings.
    pub jitter: JitterConfig,
    /// RTCP report interval.
    pub rtcp_interval: Duration,
    /// No packets for this long raises [`EndpointEvent::MediaTimeout`].
    pub media_timeout: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            law: Law::Ulaw,
            telephone_event_pt: Some(101),
            ssrc: 1,
            cname: "callcore".into(),
            jitter: JitterConfig::default(),
            rtcp_interval: Duration::from_secs(5),
            media_timeout: Duration::from_secs(30),
        }
    }
}

/// Something the endpoint tells its owner.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EndpointEvent {
    /// An RFC 4733 digit started or ended.
    Digit(DigitEvent),
    /// No media for the configured timeout (dead call).
    MediaTimeout,
    /// The far end sent BYE.
    RemoteBye,
    /// A report about our stream from the far end: fraction lost (0..1), jitter ms, RTT s.
    RemoteReport {
        /// Fraction of our packets the far end lost.
        fraction_lost: f64,
        /// Jitter the far end measured, ms.
        jitter_ms: f64,
        /// Round-trip time, when computable.
        rtt_secs: Option<f64>,
    },
}

/// What `poll_transmit` produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// An RTP datagram.
    Rtp,
    /// An RTCP datagram (send to the RTCP port).
    Rtcp,
}

/// Figures of one endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointStats {
    /// Jitter-buffer figures.
    pub jitter: JitterStats,
    /// Packets received (RTP, any payload).
    pub rtp_received: u64,
    /// Packets sent.
    pub rtp_sent: u64,
    /// Loss measured by RTCP-style sequence accounting.
    pub lost: i64,
    /// Datagrams rejected as malformed.
    pub malformed: u64,
}

/// The sans-IO endpoint.
#[derive(Debug)]
pub struct MediaEndpoint {
    cfg: EndpointConfig,
    jb: JitterBuffer,
    rx: Option<ReceptionStats>,
    tx: SenderStats,
    seq: u16,
    ts: u32,
    dtmf_rx: TelephoneEventReceiver,
    dtmf_tx: TelephoneEventSender,
    pending: VecDeque<(Duration, PlannedEventPacket)>,
    digit_busy_until: Duration,
    events: VecDeque<EndpointEvent>,
    last_rx: Option<Duration>,
    timed_out: bool,
    next_rtcp: Duration,
    ntp_origin: u64,
    codes: Vec<u8>,
    rtp_received: u64,
    malformed: u64,
}

impl MediaEndpoint {
    /// A new endpoint.
    pub fn new(cfg: EndpointConfig) -> Result<Self> {
        let jb = JitterBuffer::new(cfg.jitter.clone())?;
        if cfg.rtcp_interval.is_zero() {
            return Err(MediaError::Config {
                field: "rtcp_interval",
                detail: "must be positive".into(),
            });
        }
        Ok(MediaEndpoint {
            next_rtcp: cfg.rtcp_interval,
            jb,
            rx: None,
            tx: SenderStats::default(),
            seq: (cfg.ssrc as u16).wrapping_mul(7919),
            ts: cfg.ssrc.wrapping_mul(2_654_435_761),
            dtmf_rx: TelephoneEventReceiver::new(8000),
            dtmf_tx: TelephoneEventSender::new(8000, 50),
            pending: VecDeque::new(),
            digit_busy_until: Duration::ZERO,
            events: VecDeque::new(),
            last_rx: None,
            timed_out: false,
            ntp_origin: 0,
            codes: Vec::with_capacity(160),
            rtp_received: 0,
            malformed: 0,
            cfg,
        })
    }

    /// Tells the endpoint the NTP wall-clock time at `now == 0` (for sender reports).
    pub fn set_ntp_origin(&mut self, ntp_at_zero: u64) {
        self.ntp_origin = ntp_at_zero;
    }

    fn ntp(&self, now: Duration) -> u64 {
        let frac = ((u128::from(now.subsec_nanos()) << 32) / 1_000_000_000) as u64;
        self.ntp_origin.wrapping_add((now.as_secs() << 32) | frac)
    }

    /// Handles one received RTP datagram.
    pub fn handle_rtp(&mut self, datagram: &[u8], now: Duration) -> Result<()> {
        let p = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.malformed += 1;
                return Err(e);
            }
        };
        self.rtp_received += 1;
        self.last_rx = Some(now);
        self.timed_out = false;
        let rx = self
            .rx
            .get_or_insert_with(|| ReceptionStats::new(p.ssrc, 8000));
        if rx.ssrc() != p.ssrc {
            // a new source numbers its packets afresh: the jitter buffer starts over
            // too (it would take a lower sequence for late packets and drop them)
            *rx = ReceptionStats::new(p.ssrc, 8000);
            self.jb.restart();
        }
        rx.on_packet(p.sequence, p.timestamp, now);
        if Some(p.payload_type) == self.cfg.telephone_event_pt {
            self.dtmf_rx
                .on_packet(p.timestamp, p.marker, p.payload, now)?;
            while let Some(e) = self.dtmf_rx.poll_event() {
                self.events.push_back(EndpointEvent::Digit(e));
            }
            return Ok(());
        }
        let Some(law) = Law::from_payload_type(p.payload_type) else {
            tracing::debug!(pt = p.payload_type, "ignoring unsupported payload type");
            return Ok(());
        };
        let mut frame = self.jb.take_buffer();
        law.decode_into(p.payload, &mut frame);
        self.jb.push(p.sequence, p.timestamp, frame, now);
        Ok(())
    }

    /// Handles one received RTCP datagram.
    pub fn handle_rtcp(&mut self, datagram: &[u8], now: Duration) -> Result<()> {
        for pkt in rtcp::parse_compound(datagram)? {
            let blocks = match pkt {
                RtcpPacket::SenderReport(sr) => {
                    if let Some(rx) = self.rx.as_mut()
                        && rx.ssrc() == sr.ssrc
                    {
                        rx.on_sender_report(&sr, now);
                    }
                    sr.reports
                }
                RtcpPacket::ReceiverReport(rr) => rr.reports,
                RtcpPacket::Goodbye { .. } => {
                    self.events.push_back(EndpointEvent::RemoteBye);
                    continue;
                }
                _ => continue,
            };
            for b in blocks.iter().filter(|b| b.ssrc == self.cfg.ssrc) {
                self.events.push_back(EndpointEvent::RemoteReport {
                    fraction_lost: f64::from(b.fraction_lost) / 256.0,
                    jitter_ms: f64::from(b.jitter) / 8.0,
                    rtt_secs: rtcp::round_trip_secs(b, self.ntp(now)),
                });
            }
        }
        Ok(())
    }

    /// The next 20 ms of received audio (call every 20 ms).
    pub fn pop_frame(&mut self, out: &mut Vec<i16>, now: Duration) -> FrameKind {
        self.jb.pop(out, now)
    }

    /// Encodes one frame of outgoing audio into `out` as an RTP datagram. Returns
    /// `false` (and writes nothing) while a digit is being sent, since RFC 4733
    /// replaces the audio for that time.
    pub fn send_frame(&mut self, pcm: &[i16], now: Duration, out: &mut Vec<u8>) -> Result<bool> {
        let samples = pcm.len() as u32;
        if now < self.digit_busy_until {
            self.ts = self.ts.wrapping_add(samples);
            return Ok(false);
        }
        let mut codes = std::mem::take(&mut self.codes);
        self.cfg.law.encode_into(pcm, &mut codes);
        let pkt = RtpPacket::new(
            self.cfg.law.payload_type(),
            self.seq,
            self.ts,
            self.cfg.ssrc,
            &codes,
        );
        out.clear();
        let written = pkt.write_to(out);
        self.tx.on_sent(self.ts, codes.len());
        self.codes = codes;
        written?;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(samples);
        Ok(true)
    }

    /// Queues an RFC 4733 digit starting now.
    pub fn send_digit(&mut self, digit: Digit, duration_ms: u32, now: Duration) -> Result<()> {
        let Some(_) = self.cfg.telephone_event_pt else {
            return Err(MediaError::Config {
                field: "telephone_event_pt",
                detail: "telephone-event not negotiated".into(),
            });
        };
        let start = now.max(self.digit_busy_until);
        // The event's timestamp is the media time at which it starts.
        let ahead = ((start - now).as_micros() * 8000 / 1_000_000) as u32;
        let plan = self
            .dtmf_tx
            .plan(digit, self.ts.wrapping_add(ahead), duration_ms, 10)?;
        let last = plan.last().map_or(Duration::ZERO, |p| p.offset);
        for p in plan {
            self.pending.push_back((start + p.offset, p));
        }
        // leave a 50 ms gap before the next digit or audio
        self.digit_busy_until = start + last + Duration::from_millis(50);
        Ok(())
    }

    /// The next datagram due at `now` (digit packets, RTCP), written into `out`.
    pub fn poll_transmit(&mut self, now: Duration, out: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((at, _)) = self.pending.front()
            && *at <= now
            && let Some((_, p)) = self.pending.pop_front()
            && let Some(pt) = self.cfg.telephone_event_pt
        {
            let mut pkt = RtpPacket::new(pt, self.seq, p.timestamp, self.cfg.ssrc, &p.payload);
            pkt.marker = p.marker;
            out.clear();
            if pkt.write_to(out).is_ok() {
                self.seq = self.seq.wrapping_add(1);
                self.tx.on_sent(p.timestamp, 4);
                return Some(Transmit::Rtp);
            }
        }
        if now >= self.next_rtcp {
            self.next_rtcp = now + self.cfg.rtcp_interval;
            out.clear();
            if self.write_report(now, out).is_ok() {
                return Some(Transmit::Rtcp);
            }
        }
        None
    }

    fn write_report(&mut self, now: Duration, out: &mut Vec<u8>) -> Result<()> {
        let blocks: Vec<_> = self
            .rx
            .as_mut()
            .map(|rx| rx.report_block(now))
            .into_iter()
            .collect();
        let first = if self.tx.packets > 0 {
            RtcpPacket::SenderReport(self.tx.sender_report(self.cfg.ssrc, self.ntp(now), blocks))
        } else {
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.cfg.ssrc,
                reports: blocks,
            })
        };
        let sdes = RtcpPacket::SourceDescription(vec![SdesChunk {
            ssrc: self.cfg.ssrc,
            items: vec![(1, self.cfg.cname.as_bytes().to_vec())],
        }]);
        rtcp::write_compound(&[first, sdes], out)
    }

    /// A BYE for when the call ends.
    pub fn write_bye(&self, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: self.cfg.ssrc,
            reports: Vec::new(),
        });
        rtcp::write_compound(
            &[
                rr,
                RtcpPacket::Goodbye {
                    ssrcs: vec![self.cfg.ssrc],
                    reason: Some(b"hangup".to_vec()),
                },
            ],
            out,
        )
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t = Some(self.next_rtcp);
        let mut min = |x: Option<Duration>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.pending.front().map(|p| p.0));
        min(self.dtmf_rx.poll_timeout());
        if !self.timed_out {
            min(self.last_rx.map(|l| l + self.cfg.media_timeout));
        }
        t
    }

    /// Runs timers: digit end timeouts, dead-media detection.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.dtmf_rx.handle_timeout(now);
        while let Some(e) = self.dtmf_rx.poll_event() {
            self.events.push_back(EndpointEvent::Digit(e));
        }
        if !self.timed_out
            && let Some(last) = self.last_rx
            && now >= last + self.cfg.media_timeout
        {
            self.timed_out = true;
            self.events.push_back(EndpointEvent::MediaTimeout);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// Current figures.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            jitter: self.jb.stats(),
            rtp_received: self.rtp_received,
            rtp_sent: u64::from(self.tx.packets),
            lost: self.rx.as_ref().map_or(0, ReceptionStats::lost),
            malformed: self.malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn audio_flows_between_two_endpoints_with_loss_counted() {
        let mut a = MediaEndpoint::new(EndpointConfig {
            law: Law::Alaw,
            ssrc: 10,
            ..Default::default()
        })
        .unwrap();
        let mut b = MediaEndpoint::new(EndpointConfig {
            ssrc: 20,
            ..Default::default()
        })
        .unwrap();
        let mut wire = Vec::new();
        let mut out = Vec::new();
        let mut played = Vec::new();
        for i in 0..100u64 {
            let frame = vec![(i as i16) * 100; 160];
            assert!(a.send_frame(&frame, ms(i * 20), &mut wire).unwrap());
            if i != 50 {
                b.handle_rtp(&wire, ms(i * 20 + 5)).unwrap();
            }
            if b.pop_frame(&mut out, ms(i * 20 + 10)) == FrameKind::Played {
                played.push(out[0]);
            }
        }
        assert!(played.len() >= 95);
        // A-law decoded by the µ-law endpoint still: 4900 within a step
        assert!(played.iter().any(|&s| (i32::from(s) - 4900).abs() < 128));
        let st = b.stats();
        assert_eq!((st.rtp_received, st.lost, st.jitter.lost), (99, 1, 1));
        assert!(b.handle_rtp(&[0u8; 3], ms(2000)).is_err());
        assert_eq!(b.stats().malformed, 1);
    }

    #[test]
    fn rtcp_reports_reach_the_sender_and_media_timeout_fires() {
        let mut a = MediaEndpoint::new(EndpointConfig {
            ssrc: 10,
            rtcp_interval: Duration::from_secs(1),
            media_timeout: Duration::from_secs(2),
            ..Default::default()
        })
        .unwrap();
        let mut b = MediaEndpoint::new(EndpointConfig {
            ssrc: 20,
            rtcp_interval: Duration::from_secs(1),
            ..Default::default()
        })
        .unwrap();
        a.set_ntp_origin(1000 << 32);
        b.set_ntp_origin(1000 << 32);
        let mut wire = Vec::new();
        let mut got_report = None;
        for i in 0..150u64 {
            let now = ms(i * 20);
            a.send_frame(&[0; 160], now, &mut wire).unwrap();
            if i % 10 != 3 {
                b.handle_rtp(&wire, now + ms(1)).unwrap();
            }
            if b.poll_transmit(now, &mut wire) == Some(Transmit::Rtcp) {
                a.handle_rtcp(&wire, now + ms(1)).unwrap();
            }
            while let Some(e) = a.poll_event() {
                if let EndpointEvent::RemoteReport { fraction_lost, .. } = e {
                    got_report = Some(fraction_lost);
                }
            }
            // a hears nothing back and must time out after 2 s
            if let Some(t) = a.poll_timeout()
                && t <= now
            {
                a.handle_timeout(now);
            }
        }
        let lost = got_report.expect("a receiver report about a's stream");
        assert!((lost - 0.1).abs() < 0.03, "{lost}");
        // a never received RTP so no media timeout is armed; b's is
        assert!(b.poll_timeout().is_some());
        b.handle_timeout(ms(10_000));
        b.handle_timeout(ms(40_000));
        assert_eq!(
            std::iter::from_fn(|| b.poll_event())
                .filter(|e| *e == EndpointEvent::MediaTimeout)
                .count(),
            1
        );
        b.write_bye(&mut wire).unwrap();
        a.handle_rtcp(&wire, ms(4000)).unwrap();
        assert!(std::iter::from_fn(|| a.poll_event()).any(|e| e == EndpointEvent::RemoteBye));
    }

    #[test]
    fn a_new_source_with_lower_sequence_numbers_is_played() {
        let mut b = MediaEndpoint::new(EndpointConfig::default()).unwrap();
        let mut out = Vec::new();
        let mut played = [0, 0];
        for (k, (ssrc, seq0, level)) in [(1u32, 1000u16, 1000i16), (2, 990, 3000)]
            .into_iter()
            .enumerate()
        {
            let mut a = MediaEndpoint::new(EndpointConfig {
                ssrc,
                ..Default::default()
            })
            .unwrap();
            a.seq = seq0;
            let mut wire = Vec::new();
            for i in 0..20u64 {
                let now = ms(k as u64 * 400 + i * 20);
                a.send_frame(&[level; 160], now, &mut wire).unwrap();
                b.handle_rtp(&wire, now).unwrap();
                if b.pop_frame(&mut out, now) == FrameKind::Played && out[0] > level / 2 {
                    played[k] += 1;
                }
            }
        }
        assert!(played[0] >= 17 && played[1] >= 17, "{played:?}");
        assert_eq!(b.stats().jitter.late, 0);
    }

    #[test]
    fn digits_replace_audio_while_sent() {
        let mut a = MediaEndpoint::new(EndpointConfig::default()).unwrap();
        a.send_digit(Digit::from_char('1').unwrap(), 100, ms(0))
            .unwrap();
        let mut wire = Vec::new();
        assert!(!a.send_frame(&[0; 160], ms(20), &mut wire).unwrap());
        assert!(a.send_frame(&[0; 160], ms(300), &mut wire).unwrap());
        let no_te = MediaEndpoint::new(EndpointConfig {
            telephone_event_pt: None,
            ..Default::default()
        });
        assert!(
            no_te
                .unwrap()
                .send_digit(Digit::from_char('1').unwrap(), 100, ms(0))
                .is_err()
        );
    }
}
