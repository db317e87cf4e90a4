//! RFC 4733 telephone-events for DTMF: payload format, a receiver that turns packets
//! into digit start/end events (tolerating lost start or end packets and ignoring the
//! redundant end retransmissions), and a sender that plans the packets of a digit.
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::dtmf::{Digit, rfc4733::{TelephoneEventReceiver, TelephoneEventSender, DigitEvent}};
//! let five = Digit::from_char('5').unwrap();
//! let plan = TelephoneEventSender::new(8000, 50).plan(five, 16000, 100, 10).unwrap();
//! let mut rx = TelephoneEventReceiver::new(8000);
//! let mut events = Vec::new();
//! for p in &plan {
//!     rx.on_packet(p.timestamp, p.marker, &p.payload, p.offset).unwrap();
//!     while let Some(e) = rx.poll_event() { events.push(e); }
//! }
//! assert_eq!(events, vec![
//!     DigitEvent::Started { digit: five, timestamp: 16000 },
//!     DigitEvent::Ended { digit: five, timestamp: 16000, duration_ms: 100 },
//! ]);
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use super::Digit;
use crate::error::{MediaError, Result};

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are DTMF).
    pub event: u8,
    /// End bit.
    pub end: bool,
    /// Volume, 0..=63 meaning -0..-63 dBm0.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event of a payload (at least 4 bytes).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let [event, flags, d0, d1, ..] = *buf else {
            return Err(MediaError::Truncated {
                what: "telephone-event",
                needed: 4,
                have: buf.len(),
            });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            if self.end { 0x80 } else { 0 } | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A digit observed in a telephone-event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitEvent {
    /// The digit began (first packet of the event seen).
    Started {
        /// The digit.
        digit: Digit,
        /// RTP timestamp identifying the event.
        timestamp: u32,
    },
    /// The digit ended (end bit seen, or the stream went quiet).
    Ended {
        /// The digit.
        digit: Digit,
        /// RTP timestamp identifying the event.
        timestamp: u32,
        /// Total duration in ms.
        duration_ms: u32,
    },
}

#[derive(Debug, Clone)]
struct Current {
    timestamp: u32,
    digit: Digit,
    duration: u16,
    last_seen: Duration,
}

/// Turns received telephone-event packets into [`DigitEvent`]s.
#[derive(Debug)]
pub struct TelephoneEventReceiver {
    clock_rate: u32,
    current: Option<Current>,
    ended: VecDeque<u32>,
    out: VecDeque<DigitEvent>,
    /// How long without packets before an event with lost end packets is closed.
    pub end_timeout: Duration,
}

impl TelephoneEventReceiver {
    /// A receiver for a stream at `clock_rate` Hz (8000 for telephone-event/8000).
    pub fn new(clock_rate: u32) -> Self {
        TelephoneEventReceiver {
            clock_rate: clock_rate.max(1),
            current: None,
            ended: VecDeque::new(),
            out: VecDeque::new(),
            end_timeout: Duration::from_millis(300),
        }
    }

    fn ms(&self, duration: u16) -> u32 {
        (u64::from(duration) * 1000 / u64::from(self.clock_rate)) as u32
    }

    fn finish(&mut self, c: Current) {
        self.out.push_back(DigitEvent::Ended {
            digit: c.digit,
            timestamp: c.timestamp,
            duration_ms: self.ms(c.duration),
        });
        self.ended.push_back(c.timestamp);
        if self.ended.len() > 8 {
            self.ended.pop_front();
        }
    }

    /// Handles one packet of the telephone-event payload type.
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        _marker: bool,
        payload: &[u8],
        now: Duration,
    ) -> Result<()> {
        let ev = TelephoneEvent::parse(payload)?;
        let Some(digit) = Digit::from_event(ev.event) else {
            tracing::debug!(event = ev.event, "ignoring non-DTMF telephone-event");
            return Ok(());
        };
        if self.ended.contains(&timestamp) {
            return Ok(()); // a redundant end packet, or a late update of a finished event
        }
        match self.current.take() {
            Some(mut c) if c.timestamp == timestamp => {
                c.duration = c.duration.max(ev.duration);
                c.last_seen = now;
                if ev.end {
                    self.finish(c);
                } else {
                    self.current = Some(c);
                }
            }
            other => {
                if let Some(prev) = other {
                    // A new event began before the previous one's end arrived.
                    self.finish(prev);
                }
                self.out.push_back(DigitEvent::Started { digit, timestamp });
                let c = Current {
                    timestamp,
                    digit,
                    duration: ev.duration,
                    last_seen: now,
                };
                if ev.end {
                    self.finish(c);
                } else {
                    self.current = Some(c);
                }
            }
        }
        Ok(())
    }

    /// When the receiver next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.current
            .as_ref()
            .map(|c| c.last_seen + self.end_timeout)
    }

    /// Closes an event whose end packets were all lost.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(c) = self.current.take() {
            if now >= c.last_seen + self.end_timeout {
                self.finish(c);
            } else {
                self.current = Some(c);
            }
        }
    }

    /// The next digit event, if any.
    pub fn poll_event(&mut self) -> Option<DigitEvent> {
        self.out.pop_front()
    }
}

/// One planned telephone-event packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEventPacket {
    /// When to send it, relative to the start of the digit.
    pub offset: Duration,
    /// Marker bit (set on the first packet only).
    pub marker: bool,
    /// RTP timestamp (the same for every packet of the event).
    pub timestamp: u32,
    /// The 4-byte payload.
    pub payload: [u8; 4],
}

/// Plans the packets of outgoing digits.
#[derive(Debug, Clone)]
pub struct TelephoneEventSender {
    clock_rate: u32,
    interval_ms: u32,
    /// Copies of the final packet (RFC 4733 §2.5.1.4 recommends three).
    pub end_copies: u32,
}

impl TelephoneEventSender {
    /// A sender at `clock_rate` Hz sending an update every `interval_ms` ms.
    pub fn new(clock_rate: u32, interval_ms: u32) -> Self {
        TelephoneEventSender {
            clock_rate: clock_rate.max(1),
            interval_ms: interval_ms.max(10),
            end_copies: 3,
        }
    }

    /// The packets for `digit` lasting `duration_ms`, stamped `timestamp`, at volume
    /// `volume` (-dBm0, 0..=63). Errors if the duration does not fit one event.
    pub fn plan(
        &self,
        digit: Digit,
        timestamp: u32,
        duration_ms: u32,
        volume: u8,
    ) -> Result<Vec<PlannedEventPacket>> {
        let total = u64::from(duration_ms) * u64::from(self.clock_rate) / 1000;
        if total == 0 || total > u64::from(u16::MAX) {
            return Err(MediaError::InvalidField {
                what: "telephone-event",
                field: "duration",
                detail: format!(
                    "{duration_ms} ms does not fit one event (1..={} ms)",
                    u64::from(u16::MAX) * 1000 / u64::from(self.clock_rate)
                ),
            });
        }
        let mut out = Vec::new();
        let step = u64::from(self.interval_ms) * u64::from(self.clock_rate) / 1000;
        let mut k = 0u64;
        // First packet at offset 0 with the duration of one interval (or the whole tone).
        loop {
            let dur = ((k + 1) * step).min(total);
            let end = dur >= total;
            if end {
                break;
            }
            out.push(PlannedEventPacket {
                offset: Duration::from_millis(k * u64::from(self.interval_ms)),
                marker: k == 0,
                timestamp,
                payload: TelephoneEvent {
                    event: digit.event_code(),
                    end: false,
                    volume: volume.min(63),
                    duration: dur as u16,
                }
                .to_bytes(),
            });
            k += 1;
        }
        let end_payload = TelephoneEvent {
            event: digit.event_code(),
            end: true,
            volume: volume.min(63),
            duration: total as u16,
        }
        .to_bytes();
        for i in 0..self.end_copies.max(1) {
            out.push(PlannedEventPacket {
                offset: Duration::from_millis(u64::from(duration_ms))
                    + Duration::from_millis(u64::from(i) * 20),
                marker: out.is_empty(),
                timestamp,
                payload: end_payload,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    #[test]
    fn payload_round_trip_and_known_bytes() {
        let ev = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(ev.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&ev.to_bytes()).unwrap(), ev);
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_err());
    }

    #[test]
    fn sender_plans_updates_and_three_ends() {
        let plan = TelephoneEventSender::new(8000, 50)
            .plan(d('7'), 1000, 160, 10)
            .unwrap();
        let durs: Vec<(u16, bool, bool)> = plan
            .iter()
            .map(|p| {
                let e = TelephoneEvent::parse(&p.payload).unwrap();
                (e.duration, e.end, p.marker)
            })
            .collect();
        assert_eq!(
            durs,
            vec![
                (400, false, true),
                (800, false, false),
                (1200, false, false),
                (1280, true, false),
                (1280, true, false),
                (1280, true, false)
            ]
        );
        assert!(plan.iter().all(|p| p.timestamp == 1000));
        assert_eq!(plan[3].offset, Duration::from_millis(160));
        assert!(
            TelephoneEventSender::new(8000, 50)
                .plan(d('1'), 0, 9000, 10)
                .is_err()
        );
    }

    #[test]
    fn receiver_survives_lost_start_and_lost_end() {
        let mut rx = TelephoneEventReceiver::new(8000);
        let ms = Duration::from_millis;
        // digit 1: only its end packets arrive
        let end = TelephoneEvent {
            event: 1,
            end: true,
            volume: 10,
            duration: 800,
        }
        .to_bytes();
        rx.on_packet(100, false, &end, ms(0)).unwrap();
        rx.on_packet(100, false, &end, ms(20)).unwrap();
        // digit 2: start and updates, all ends lost
        let upd = |dur| {
            TelephoneEvent {
                event: 2,
                end: false,
                volume: 10,
                duration: dur,
            }
            .to_bytes()
        };
        rx.on_packet(2000, true, &upd(400), ms(200)).unwrap();
        rx.on_packet(2000, false, &upd(800), ms(250)).unwrap();
        assert_eq!(rx.poll_timeout(), Some(ms(550)));
        rx.handle_timeout(ms(400));
        rx.handle_timeout(ms(560));
        // digit 3 starts after a gap
        let three = TelephoneEvent {
            event: 3,
            end: false,
            volume: 10,
            duration: 400,
        }
        .to_bytes();
        rx.on_packet(4000, true, &three, ms(700)).unwrap();
        let mut ev = Vec::new();
        while let Some(e) = rx.poll_event() {
            ev.push(e);
        }
        assert_eq!(
            ev,
            vec![
                DigitEvent::Started {
                    digit: d('1'),
                    timestamp: 100
                },
                DigitEvent::Ended {
                    digit: d('1'),
                    timestamp: 100,
                    duration_ms: 100
                },
                DigitEvent::Started {
                    digit: d('2'),
                    timestamp: 2000
                },
                DigitEvent::Ended {
                    digit: d('2'),
                    timestamp: 2000,
                    duration_ms: 100
                },
                DigitEvent::Started {
                    digit: d('3'),
                    timestamp: 4000
                },
            ]
        );
    }

    #[test]
    fn reordered_update_after_end_is_ignored_and_same_digit_twice_counts_twice() {
        let mut rx = TelephoneEventReceiver::new(8000);
        let ms = Duration::from_millis;
        let p = |end, dur| {
            TelephoneEvent {
                event: 5,
                end,
                volume: 10,
                duration: dur,
            }
            .to_bytes()
        };
        rx.on_packet(0, true, &p(false, 400), ms(0)).unwrap();
        rx.on_packet(0, false, &p(true, 800), ms(100)).unwrap();
        rx.on_packet(0, false, &p(false, 400), ms(101)).unwrap(); // reordered
        rx.on_packet(1600, true, &p(false, 400), ms(300)).unwrap();
        rx.on_packet(1600, false, &p(true, 800), ms(400)).unwrap();
        let mut n_start = 0;
        while let Some(e) = rx.poll_event() {
            if matches!(e, DigitEvent::Started { .. }) {
                n_start += 1;
            }
        }
        assert_eq!(n_start, 2);
    }
}
