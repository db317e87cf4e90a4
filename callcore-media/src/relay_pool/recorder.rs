//! The stereo recording of a relayed call, written by its worker.
//!
//! What each leg sends is decoded straight into its channel's place on the call's
//! timeline: a leg's first packet (or the first after its source changes) is placed
//! at the current time, and later ones by their RTP timestamps relative to it, so
//! loss leaves silence, reordering is undone and packets of any length (20 ms, 30 ms)
//! fall where they belong. A stream whose timestamps stop matching the clock (a
//! sender that starts over, replays a recording, or drifts by more than the window)
//! is anchored again at the current time. The worker's sweep writes the timeline up to
//! 120 ms before now (what jitter may still deliver), in blocks of about 100 ms; the
//! end of the call writes the rest and patches the WAV header.
//!
//! This does not go through the legs' jitter buffers: a jitter buffer keeps time for
//! a listener and discards what it considers late, which is not what a recording of
//! everything said needs.

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use crate::g711::Law;
use crate::wav::{RecordingInfo, WavRecorder};

/// Samples of timeline kept per channel (512 ms at 8 kHz; a power of two).
const RING: usize = 4096;
/// How far behind the clock the timeline is written (120 ms).
const DELAY: u64 = 960;
/// A packet more than this ahead of the clock (200 ms) means the stream's timing
/// jumped.
const AHEAD: u64 = 1600;
/// Packets in a row too late for the timeline before the stream is re-anchored.
const LATE_RUN: u32 = 3;
/// A packet later than this behind the clock (300 ms) is not late but from a stream
/// whose timing jumped.
const LATE_SLACK: u64 = 2400;

/// Where a source's timestamps sit on the timeline.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    ssrc: u32,
    ts: u32,
    pos: u64,
}

#[derive(Debug)]
struct Channel {
    ring: Vec<i16>,
    anchor: Option<Anchor>,
    late_run: u32,
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
            anchor: None,
            late_run: 0,
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
        let placed = ch.anchor.filter(|a| a.ssrc == ssrc).map(|a| {
            let delta = i64::from(ts.wrapping_sub(a.ts) as i32);
            a.pos as i64 + delta
        });
        let pos = match placed {
            // in the window: where its timestamp says
            Some(p) if p >= 0 && (p as u64) <= wall + AHEAD && p as u64 + n > flushed => {
                ch.late_run = 0;
                p as u64
            }
            // a little late (its slot is written already): drop it, unless it keeps
            // happening
            Some(p)
                if p >= 0
                    && p as u64 + n + LATE_SLACK >= wall
                    && p as u64 + n <= flushed
                    && ch.late_run + 1 < LATE_RUN =>
            {
                ch.late_run += 1;
                return;
            }
            // a new source, or timing that no longer fits: anchor at the clock
            _ => {
                let pos = wall.max(flushed);
                ch.anchor = Some(Anchor { ssrc, ts, pos });
                ch.late_run = 0;
                pos
            }
        };
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
            let t = ms(1000 + 20 * k);
            // A: 33 packets of 30 ms, each when due; B: 20 ms packets, one lost, two
            // swapped
            while 30 * j <= 20 * k && j < 33 {
                rec.on_audio(0, Law::Alaw, 1, 240 * j as u32, &[code(1000); 240], t);
                j += 1;
            }
            let seq = match k {
                10 => 11,
                11 => 10,
                _ => k,
            };
            if seq != 20 {
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
                let t = ms(1000 + round * 500 + 20 * k);
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
        assert!(voiced(4000..5600), "replay");
        let _ = std::fs::remove_file(&path);
    }
}
