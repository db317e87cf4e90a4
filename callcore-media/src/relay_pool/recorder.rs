//! The stereo recording of a relayed call, written by its worker.
//!
//! What each leg sends is decoded straight into its channel's place on the call's
//! timeline, by the sender's schedule ([`callcore::sender_clock`], as the quality
//! inspection's talk meter places it): a leg's first packet (or the first after its
//! source changes) ends at its arrival, later ones go where their RTP timestamps
//! say relative to it, and a packet that arrives sooner than that allowed (the
//! first one was held up: a sender stalled at its first packet, then catching up)
//! moves the leg's schedule, and its audio not yet written, that much earlier. So
//! loss leaves silence, reordering is undone, packets of any length (20 ms, 30 ms)
//! fall where they belong, and a late first packet does not shift the whole leg. A
//! stream whose timestamps stop matching the clock (a sender that starts over,
//! replays a recording, or drifts by more than the window) is anchored again at
//! the current time. The worker's sweep writes the timeline up to 300 ms before now
//! (what jitter may still deliver), in blocks of about 100 ms; the end of the call
//! writes the rest and patches the WAV header.
//!
//! This does not go through the legs' jitter buffers: a jitter buffer keeps time for
//! a listener and discards what it considers late, which is not what a recording of
//! everything said needs.

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use callcore::sender_clock::{Placement, SenderClock};

use crate::g711::Law;
use crate::wav::{RecordingInfo, WavRecorder};

/// Samples of timeline kept per channel (1,024 ms at 8 kHz; a power of two):
/// [`DELAY`] behind the clock, [`AHEAD`] ahead of it, and the sweeps between.
const RING: usize = 8192;
/// How far behind the clock the timeline is written (300 ms: what jitter, or a
/// sender catching up after a stall, may still deliver; the quality
/// inspection's talk meter waits as long). With [`AHEAD`] it fits the ring.
const DELAY: u64 = 2400;
/// A packet more than this ahead of the clock (200 ms) means the stream's timing
/// jumped.
const AHEAD: u64 = 1600;
/// Packets in a row too late for the timeline before the stream is re-anchored.
const LATE_RUN: u32 = 3;
/// A packet later than this behind the clock (300 ms) is not late but from a stream
/// whose timing jumped.
const LATE_SLACK: u64 = 2400;

#[derive(Debug)]
struct Channel {
    ring: Vec<i16>,
    /// Where the leg's packets go.
    clock: SenderClock,
    late_run: u32,
    /// One past the latest sample placed on this channel.
    high: u64,
}

impl Channel {
    /// The leg's schedule moved `by` samples earlier: its audio not yet written
    /// moves with it (what would fall on written samples is lost).
    fn move_earlier(&mut self, by: u64, flushed: u64) {
        let by = by.min(RING as u64);
        let from = flushed + by;
        for p in from..self.high.max(from) {
            let v = self.ring[(p as usize) & (RING - 1)];
            self.ring[((p - by) as usize) & (RING - 1)] = v;
        }
        for p in self.high.saturating_sub(by).max(flushed)..self.high {
            self.ring[(p as usize) & (RING - 1)] = 0;
        }
        self.high = self.high.saturating_sub(by).max(flushed);
    }
}

/// A relayed call's recording (leg A left, leg B right).
#[derive(Debug)]
pub(super) struct CallRecorder {
    wav: Option<WavRecorder<BufWriter<File>>>,
    path: Option<std::path::PathBuf>,
    start: Duration,
    /// Timeline samples written to the file.
    flushed: u64,
    /// One past the latest sample placed on the timeline.
    high: u64,
    channels: [Channel; 2],
}

impl CallRecorder {
    pub(super) fn new(mut wav: WavRecorder<BufWriter<File>>, now: Duration) -> Self {
        // blocks of ~100 ms: patch the header about once a second
        wav.patch_every_frames = 10;
        let channel = || Channel {
            ring: vec![0; RING],
            clock: SenderClock::new(LATE_SLACK, AHEAD),
            late_run: 0,
            high: 0,
        };
        CallRecorder {
            path: wav.info().path,
            wav: Some(wav),
            start: now,
            flushed: 0,
            high: 0,
            channels: [channel(), channel()],
        }
    }

    /// The timeline position of `now`.
    fn clock(&self, now: Duration) -> u64 {
        (now.saturating_sub(self.start).as_micros() * 8 / 1000) as u64
    }

    /// Places one packet of leg `side` (0 = A, 1 = B) on the timeline.
    pub(super) fn on_audio(
        &mut self,
        side: usize,
        law: Law,
        ssrc: u32,
        ts: u32,
        codes: &[u8],
        now: Duration,
    ) {
        let wall = self.clock(now);
        let n = codes.len() as u64;
        let flushed = self.flushed;
        let ch = &mut self.channels[side];
        let len = u32::try_from(codes.len()).unwrap_or(u32::MAX);
        let mut placed = ch.clock.place(ssrc, ts, len, wall);
        if let Placement::OnSchedule { start } = placed
            && start + n <= flushed
        {
            // a little late (its slot is written already): drop it, unless it
            // keeps happening (then the timing no longer fits: anchor again)
            ch.late_run += 1;
            if ch.late_run < LATE_RUN {
                return;
            }
            ch.clock.reset();
            placed = ch.clock.place(ssrc, ts, len, wall);
        }
        ch.late_run = 0;
        if let Placement::Earlier { by, .. } = placed {
            ch.move_earlier(by, flushed);
        }
        let pos = placed.start();
        let first = pos.max(flushed);
        let skip = (first - pos) as usize;
        let limit = flushed + RING as u64;
        let mut p = first;
        for &code in codes.iter().skip(skip) {
            if p >= limit {
                break;
            }
            ch.ring[(p as usize) & (RING - 1)] = law.decode(code);
            p += 1;
        }
        ch.high = ch.high.max(p);
        self.high = self.high.max(p);
    }

    /// Writes the timeline up to [`DELAY`] before `now`.
    pub(super) fn flush(&mut self, now: Duration) {
        let target = self.clock(now).saturating_sub(DELAY);
        self.write_until(target);
    }

    fn write_until(&mut self, target: u64) {
        while self.flushed < target {
            let off = (self.flushed as usize) & (RING - 1);
            let n = ((target - self.flushed) as usize).min(RING - off);
            let [a, b] = &mut self.channels;
            let (a, b) = (&mut a.ring[off..off + n], &mut b.ring[off..off + n]);
            if let Some(wav) = self.wav.as_mut()
                && let Err(e) = wav.write_frame(a, b)
            {
                tracing::warn!(error = %e, path = ?self.path, "call recording failed; stopped");
                self.wav = None;
            }
            a.fill(0);
            b.fill(0);
            self.flushed += n as u64;
        }
    }

    /// Writes everything up to `now` (or the latest audio placed) and finishes the
    /// file. `None` if the recording failed on the way.
    pub(super) fn finish(mut self, now: Duration) -> Option<RecordingInfo> {
        let end = self.clock(now).max(self.high);
        self.write_until(end);
        match self.wav.take()?.finish() {
            Ok((info, _)) => Some(info),
            Err(e) => {
                tracing::warn!(error = %e, path = ?self.path, "finishing a call recording failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::{ChannelLayout, read_wav};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn recorder(name: &str) -> (CallRecorder, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "callcore-recorder-{name}-{}.wav",
            std::process::id()
        ));
        let wav = WavRecorder::create(&path, ChannelLayout::Stereo).unwrap();
        (CallRecorder::new(wav, ms(1000)), path)
    }

    fn channels(path: &std::path::Path) -> (Vec<i16>, Vec<i16>) {
        let wav = read_wav(&std::fs::read(path).unwrap()).unwrap();
        let left = wav.samples.chunks(2).map(|lr| lr[0]).collect();
        let right = wav.samples.chunks(2).map(|lr| lr[1]).collect();
        (left, right)
    }

    #[test]
    fn places_both_sides_by_timestamp_and_keeps_the_timeline() {
        let (mut rec, path) = recorder("timeline");
        let code = |v: i16| Law::Alaw.encode(v);
        let mut j = 0u64;
        for k in 0..50u64 {
            // each packet arrives once its audio is over
            let t = ms(1000 + 20 * (k + 1));
            // A: 33 packets of 30 ms, each when due; B: 20 ms packets, one lost, two
            // swapped
            while 30 * (j + 1) <= 20 * (k + 1) && j < 33 {
                rec.on_audio(0, Law::Alaw, 1, 240 * j as u32, &[code(1000); 240], t);
                j += 1;
            }
            // packet 10 is held up and arrives just after 11
            let seqs: &[u64] = match k {
                10 => &[],
                11 => &[11, 10],
                20 => &[],
                _ => &[k],
            };
            for &seq in seqs {
                rec.on_audio(1, Law::Alaw, 2, 160 * seq as u32, &[code(-2000); 160], t);
            }
            rec.flush(t);
        }
        let info = rec.finish(ms(2000)).unwrap();
        assert_eq!(info.duration_ms, 1000);
        let (left, right) = channels(&path);
        assert_eq!(left.len(), 8000);
        // A covered 0..33 × 240 samples continuously
        let a_end = 33 * 240;
        assert!(left[..a_end].iter().all(|&s| (s - 1000).abs() < 40));
        assert!(left[a_end..].iter().all(|&s| s == 0));
        // B: everything but packet 20 (lost), the swapped pair in place
        for (k, chunk) in right[..50 * 160].chunks(160).enumerate() {
            let silent = chunk.iter().all(|&s| s == 0);
            assert_eq!(silent, k == 20, "B frame {k}");
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_replayed_stream_is_placed_at_the_current_time() {
        let (mut rec, path) = recorder("replay");
        let code = Law::Ulaw.encode(3000);
        // the same ten packets (same SSRC and timestamps) at 0 ms and again at 500 ms
        for round in 0..2u64 {
            for k in 0..10u64 {
                let t = ms(1000 + round * 500 + 20 * (k + 1));
                rec.on_audio(0, Law::Ulaw, 9, 160 * k as u32, &[code; 160], t);
                rec.flush(t);
            }
        }
        let info = rec.finish(ms(1800)).unwrap();
        assert_eq!(info.duration_ms, 800);
        let (left, _) = channels(&path);
        let voiced = |r: std::ops::Range<usize>| left[r].iter().all(|&s| (s - 3000).abs() < 100);
        assert!(voiced(0..1600), "first play");
        assert!(left[1600..4000].iter().all(|&s| s == 0), "pause");
        let bad: Vec<usize> = (4000..5600).filter(|&i| (left[i] - 3000).abs() >= 100).collect();
        assert!(voiced(4000..5600), "replay: {} bad from {:?}", bad.len(), bad.first());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_late_first_packet_does_not_shift_its_leg() {
        let (mut rec, path) = recorder("stalled");
        let code = |v: i16| Law::Ulaw.encode(v);
        // both legs speak 0-600 ms in 20 ms packets; B's first packet is held up
        // 150 ms and the next ones follow in a burst (a sender catching up), then
        // on time; each leg's level marks its packets
        let mut packets = Vec::new();
        for k in 0..30u64 {
            let due = 20 * (k + 1);
            packets.push((due, 0, k));
            packets.push((due.max(170), 1, k));
        }
        packets.sort_by_key(|p| p.0);
        for (at, side, k) in packets {
            let level = if side == 0 { 1000 } else { -1000 };
            rec.on_audio(side, Law::Ulaw, 5 + side as u32, 160 * k as u32, &[code(level); 160], ms(1000 + at));
            rec.flush(ms(1000 + at));
        }
        let info = rec.finish(ms(1800)).unwrap();
        assert_eq!(info.duration_ms, 800);
        let (left, right) = channels(&path);
        let voiced = |c: &[i16], r: std::ops::Range<usize>| c[r].iter().all(|&s| s.abs() > 900);
        assert!(voiced(&left, 0..4800), "A where it was due");
        assert!(voiced(&right, 0..4800), "B where it was due, not 150 ms late");
        assert!(right[4800..].iter().all(|&s| s == 0));
        let _ = std::fs::remove_file(&path);
    }
}
