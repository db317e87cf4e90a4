//! An adaptive jitter buffer for audio packets (any ptime) played out as 20 ms frames: reorders, detects loss and late
//! packets, conceals gaps (fading repeat of the last frame, then silence), and adapts
//! its depth to the measured jitter. Sans-IO: push packets with their arrival time,
//! pop one frame per frame period.
//!
//! ```
//! use std::time::Duration;
//! use callcore_media::jitter::{JitterBuffer, JitterConfig, FrameKind};
//! let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
//! let ms = Duration::from_millis;
//! jb.push(10, 1600, vec![100; 160], ms(0));
//! jb.push(12, 1920, vec![300; 160], ms(25)); // 11 is late or lost
//! let mut out = Vec::new();
//! assert_eq!(jb.pop(&mut out, ms(40)), FrameKind::Played); // prebuffered two frames
//! assert_eq!(jb.pop(&mut out, ms(60)), FrameKind::Concealed); // 11 is missing
//! assert_eq!(jb.pop(&mut out, ms(80)), FrameKind::Played);
//! assert_eq!(out[0], 300);
//! assert_eq!(jb.stats().lost, 1);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{MediaError, Result};
use crate::rtp::SequenceUnwrapper;

/// A packet behind the playout point whose transit time (arrival minus media time)
/// moved by more than this (ms) is a restarted source, not a late packet.
const RESTART_TRANSIT_MS: f64 = 1000.0;
/// This many packets in a row behind the playout point mean the source restarted.
const RESTART_AFTER_LATE: u32 = 3;

/// Jitter-buffer settings.
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// RTP clock rate (8000 for G.711).
    pub clock_rate: u32,
    /// Samples per frame (160 = 20 ms at 8 kHz).
    pub samples_per_frame: usize,
    /// Smallest target depth, in frames.
    pub min_depth: u32,
    /// Largest target depth, in frames.
    pub max_depth: u32,
    /// Depth to start with before any jitter has been measured.
    pub initial_depth: u32,
    /// Consecutive frames concealed by fading repetition before playing silence.
    pub max_conceal: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            samples_per_frame: 160,
            min_depth: 1,
            max_depth: 10,
            initial_depth: 2,
            max_conceal: 3,
        }
    }
}

/// What `pop` produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A received frame, in order.
    Played,
    /// A made-up frame covering a lost or not-yet-arrived packet.
    Concealed,
    /// Silence: the stream has not started, or concealment has run out.
    Silence,
}

/// Figures a jitter buffer exports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets that arrived after their playout time (discarded).
    pub late: u64,
    /// Frames whose packet never arrived by the time later ones were played.
    pub lost: u64,
    /// Duplicate packets discarded.
    pub duplicates: u64,
    /// Frames played from received packets.
    pub played: u64,
    /// Frames concealed (loss or underrun).
    pub concealed: u64,
    /// Frames dropped to shrink the buffer when jitter fell.
    pub dropped: u64,
    /// Stream restarts after large sequence jumps.
    pub resets: u64,
    /// Frames currently buffered ahead of the playout point.
    pub depth: u32,
    /// Current target depth in frames.
    pub target_depth: u32,
    /// Smoothed interarrival jitter in milliseconds.
    pub jitter_ms: f64,
}

/// The adaptive jitter buffer.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    slots: BTreeMap<u64, Vec<i16>>,
    pool: Vec<Vec<i16>>,
    unwrap: SequenceUnwrapper,
    next: Option<u64>,
    last_frame: Vec<i16>,
    rem: Vec<i16>,
    rem_pos: usize,
    rem_kind: FrameKind,
    conceal_run: u32,
    target: u32,
    over_target_run: u32,
    pops_since_late: u32,
    late_run: u32,
    prev_transit: Option<f64>,
    jitter_ms: f64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer with `cfg`; errors on inconsistent settings.
    pub fn new(cfg: JitterConfig) -> Result<Self> {
        if cfg.samples_per_frame == 0 || cfg.clock_rate == 0 {
            return Err(MediaError::Config {
                field: "samples_per_frame/clock_rate",
                detail: "must be positive".into(),
            });
        }
        if cfg.min_depth == 0 || cfg.min_depth > cfg.max_depth || cfg.max_depth > 500 {
            return Err(MediaError::Config {
                field: "min_depth/max_depth",
                detail: format!(
                    "need 1 <= min ({}) <= max ({}) <= 500",
                    cfg.min_depth, cfg.max_depth
                ),
            });
        }
        let target = cfg.initial_depth.clamp(cfg.min_depth, cfg.max_depth);
        Ok(JitterBuffer {
            last_frame: vec![0; cfg.samples_per_frame],
            rem: Vec::new(),
            rem_pos: 0,
            rem_kind: FrameKind::Silence,
            cfg,
            slots: BTreeMap::new(),
            pool: Vec::new(),
            unwrap: SequenceUnwrapper::new(),
            next: None,
            conceal_run: 0,
            target,
            over_target_run: 0,
            pops_since_late: 0,
            late_run: 0,
            prev_transit: None,
            jitter_ms: 0.0,
            stats: JitterStats::default(),
        })
    }

    fn frame_ms(&self) -> f64 {
        self.cfg.samples_per_frame as f64 * 1000.0 / f64::from(self.cfg.clock_rate)
    }

    /// A recycled frame buffer for the caller to fill and push (avoids allocation).
    pub fn take_buffer(&mut self) -> Vec<i16> {
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v
    }

    fn recycle(&mut self, v: Vec<i16>) {
        if self.pool.len() < 2 * self.cfg.max_depth as usize {
            self.pool.push(v);
        }
    }

    /// Starts over: the next packet pushed begins a new stream (the endpoint calls
    /// this when the sender's SSRC changes). Buffered audio is dropped.
    pub fn restart(&mut self) {
        if self.next.is_some() || !self.slots.is_empty() {
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.late_run = 0;
        self.prev_transit = None;
        let old: Vec<Vec<i16>> = std::mem::take(&mut self.slots).into_values().collect();
        for v in old {
            self.recycle(v);
        }
        self.next = None;
        self.unwrap = SequenceUnwrapper::new();
        self.stats.resets += 1;
    }

    /// Accepts a decoded frame with RTP sequence `seq` and timestamp `ts` that
    /// arrived at `now`. A packet may hold any number of samples (20 ms, 30 ms ...);
    /// [`pop`](Self::pop) cuts the stream into frames. Depths count packets.
    pub fn push(&mut self, seq: u16, ts: u32, mut pcm: Vec<i16>, now: Duration) {
        let mut ext = self.unwrap.unwrap(seq);
        let transit =
            now.as_secs_f64() * 1000.0 - f64::from(ts) * 1000.0 / f64::from(self.cfg.clock_rate);
        if let Some(next) = self.next {
            let ahead = ext.saturating_sub(next);
            let behind = next.saturating_sub(ext);
            // A packet behind the playout point is late only if its timing fits the
            // stream: one whose media time moved by more than a second against the
            // clock, or the third "late" one in a row, belongs to a source that
            // started again with lower numbers (a device replaying a recording, a
            // restarted sender): start over rather than discard it and all after it.
            let restarted = ext < next
                && (self
                    .prev_transit
                    .is_some_and(|p| (transit - p).abs() > RESTART_TRANSIT_MS)
                    || self.late_run + 1 >= RESTART_AFTER_LATE);
            if ahead > u64::from(self.cfg.max_depth) * 50 || behind > 3000 || restarted {
                // The source restarted or jumped: start over from this packet.
                self.reset();
                ext = self.unwrap.unwrap(seq);
            } else if ext < next {
                self.stats.late += 1;
                self.late_run += 1;
                self.pops_since_late = 0;
                if self.target < self.cfg.max_depth {
                    self.target += 1;
                }
                self.recycle(pcm);
                return;
            }
        }
        self.late_run = 0;
        // Interarrival jitter (RFC 3550 A.8 in milliseconds).
        if let Some(prev) = self.prev_transit {
            let d = (transit - prev).abs();
            if d < 1000.0 {
                self.jitter_ms += (d - self.jitter_ms) / 16.0;
            }
        }
        self.prev_transit = Some(transit);
        if self.slots.contains_key(&ext) {
            self.stats.duplicates += 1;
            self.recycle(pcm);
            return;
        }
        if pcm.is_empty() {
            self.recycle(pcm);
            return;
        }
        // at most one second of audio per packet
        pcm.truncate(self.cfg.clock_rate as usize);
        self.slots.insert(ext, pcm);
        self.stats.received += 1;
    }

    fn wanted_depth(&self) -> u32 {
        // Cover about three mean deviations of jitter plus one frame of slack.
        let frames = (3.0 * self.jitter_ms / self.frame_ms()).ceil() as u32 + 1;
        frames.clamp(self.cfg.min_depth, self.cfg.max_depth)
    }

    fn conceal(&mut self, out: &mut Vec<i16>) -> FrameKind {
        self.conceal_run += 1;
        self.stats.concealed += 1;
        out.clear();
        if self.conceal_run <= self.cfg.max_conceal {
            // Repeat the last frame, 6 dB quieter each time.
            let shift = self.conceal_run.min(15);
            out.extend(self.last_frame.iter().map(|&s| s >> shift));
            self.last_frame.clone_from(out);
            FrameKind::Concealed
        } else {
            self.last_frame.iter_mut().for_each(|s| *s = 0);
            out.extend_from_slice(&self.last_frame);
            FrameKind::Silence
        }
    }

    /// Produces the next frame of exactly `samples_per_frame` samples into `out`
    /// (replacing its contents). Call once per frame period. Packets of any length
    /// (20 ms, 30 ms ...) are cut into frames; a frame made partly of received audio
    /// counts as [`FrameKind::Played`].
    pub fn pop(&mut self, out: &mut Vec<i16>, _now: Duration) -> FrameKind {
        self.pops_since_late = self.pops_since_late.saturating_add(1);
        if self.pops_since_late > 250 {
            // Ten quiet seconds: let the target follow the measured jitter again.
            self.target = self.target.min(self.wanted_depth().max(self.cfg.min_depth));
            self.pops_since_late = 0;
        }
        self.target = self.target.max(self.wanted_depth());
        out.clear();
        let spf = self.cfg.samples_per_frame;
        let (mut played, mut concealed) = (false, false);
        while out.len() < spf {
            if self.rem_pos < self.rem.len() {
                let n = (spf - out.len()).min(self.rem.len() - self.rem_pos);
                out.extend_from_slice(&self.rem[self.rem_pos..self.rem_pos + n]);
                self.rem_pos += n;
                match self.rem_kind {
                    FrameKind::Played => played = true,
                    FrameKind::Concealed => concealed = true,
                    FrameKind::Silence => {}
                }
                continue;
            }
            let mut rem = std::mem::take(&mut self.rem);
            self.rem_kind = self.next_packet(&mut rem);
            self.rem = rem;
            self.rem_pos = 0;
            if self.rem.is_empty() {
                out.resize(spf, 0);
                break;
            }
        }
        if played {
            FrameKind::Played
        } else if concealed {
            FrameKind::Concealed
        } else {
            FrameKind::Silence
        }
    }

    /// Takes the next packet's audio (or its concealment) into `out`.
    fn next_packet(&mut self, out: &mut Vec<i16>) -> FrameKind {
        let Some(next) = self.next else {
            let ready = self.slots.len() as u32 >= self.target
                || self
                    .slots
                    .last_key_value()
                    .zip(self.slots.first_key_value())
                    .is_some_and(|(l, f)| l.0 - f.0 + 1 >= u64::from(self.target));
            if let (true, Some((&first, _))) = (ready, self.slots.first_key_value()) {
                self.next = Some(first);
                return self.next_packet(out);
            }
            out.clear();
            return FrameKind::Silence;
        };
        let kind = if let Some(frame) = self.slots.remove(&next) {
            self.next = Some(next + 1);
            self.conceal_run = 0;
            self.stats.played += 1;
            out.clear();
            out.extend_from_slice(&frame);
            self.last_frame.clone_from(&frame);
            self.recycle(frame);
            FrameKind::Played
        } else if self.slots.is_empty() {
            // Underrun: nothing later has arrived either. Wait (the buffer grows).
            self.conceal(out)
        } else {
            self.stats.lost += 1;
            self.next = Some(next + 1);
            self.conceal(out)
        };
        // Shrink when we have been holding more than needed for a while.
        let depth = self.depth();
        if depth > self.target + 1 {
            self.over_target_run += 1;
            if self.over_target_run >= 50 {
                self.over_target_run = 0;
                if let Some(n) = self.next {
                    if let Some(f) = self.slots.remove(&n) {
                        self.recycle(f);
                    }
                    self.next = Some(n + 1);
                    self.stats.dropped += 1;
                }
            }
        } else {
            self.over_target_run = 0;
        }
        kind
    }

    /// Frames buffered from the playout point to the newest frame.
    pub fn depth(&self) -> u32 {
        match (self.next, self.slots.last_key_value()) {
            (Some(n), Some((&last, _))) if last >= n => (last - n + 1) as u32,
            (None, _) => self.slots.len() as u32,
            _ => 0,
        }
    }

    /// Current figures.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            depth: self.depth(),
            target_depth: self.target,
            jitter_ms: self.jitter_ms,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn frame(v: i16) -> Vec<i16> {
        vec![v; 160]
    }

    /// Pushes `arrivals` (seq, arrival ms) and pops every 20 ms from `start`, returning
    /// the first sample of each popped frame (the seq when played, -1 concealed, 0 silence).
    fn run(jb: &mut JitterBuffer, arrivals: &[(u16, u64)], start: u64, pops: usize) -> Vec<i32> {
        let mut got = Vec::new();
        let mut out = Vec::new();
        let mut ai = 0;
        for p in 0..pops {
            let t = start + 20 * p as u64;
            while ai < arrivals.len() && arrivals[ai].1 <= t {
                let (s, at) = arrivals[ai];
                jb.push(s, u32::from(s) * 160, frame(s as i16), ms(at));
                ai += 1;
            }
            got.push(match jb.pop(&mut out, ms(t)) {
                FrameKind::Played => i32::from(out[0]),
                FrameKind::Concealed => -1,
                FrameKind::Silence => 0,
            });
        }
        got
    }

    #[test]
    fn reorders_within_the_depth() {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let arrivals = [(1, 0), (3, 40), (2, 45), (4, 60), (5, 80), (6, 100)];
        let got = run(&mut jb, &arrivals, 20, 7);
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5, 6]);
        let st = jb.stats();
        assert_eq!((st.lost, st.late, st.received), (0, 0, 6));
    }

    #[test]
    fn counts_loss_and_conceals_with_a_fade() {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let arrivals: Vec<(u16, u64)> = (1..=10u16)
            .filter(|s| *s != 5)
            .map(|s| (s, u64::from(s) * 20))
            .collect();
        let got = run(&mut jb, &arrivals, 40, 10);
        assert_eq!(&got[..], &[1, 2, 3, 4, -1, 6, 7, 8, 9, 10][..]);
        assert_eq!(jb.stats().lost, 1);
        assert_eq!(jb.stats().concealed, 1);
    }

    #[test]
    fn concealment_fades_then_goes_silent() {
        let mut jb = JitterBuffer::new(JitterConfig {
            initial_depth: 1,
            ..Default::default()
        })
        .unwrap();
        let mut out = Vec::new();
        jb.push(1, 160, frame(1000), ms(0));
        assert_eq!(jb.pop(&mut out, ms(0)), FrameKind::Played);
        let mut levels = Vec::new();
        for i in 1..=5 {
            let k = jb.pop(&mut out, ms(20 * i));
            levels.push((k, out[0]));
        }
        assert_eq!(
            levels,
            vec![
                (FrameKind::Concealed, 500),
                (FrameKind::Concealed, 125),
                (FrameKind::Concealed, 15),
                (FrameKind::Silence, 0),
                (FrameKind::Silence, 0)
            ]
        );
    }

    #[test]
    fn late_packets_are_counted_and_grow_the_target() {
        let mut jb = JitterBuffer::new(JitterConfig {
            initial_depth: 1,
            ..Default::default()
        })
        .unwrap();
        // packet 3 arrives 70 ms late
        let arrivals = [(1, 0), (2, 20), (4, 60), (5, 80), (3, 110), (6, 120)];
        let got = run(&mut jb, &arrivals, 0, 7);
        assert_eq!(got[..3], [1, 2, -1]);
        let st = jb.stats();
        assert_eq!(st.late, 1);
        assert_eq!(st.lost, 1);
        assert!(st.target_depth >= 2, "{st:?}");
    }

    #[test]
    fn depth_adapts_to_jitter_and_shrinks_back() {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        // 2 s of +-30 ms jitter, then 20 s of perfectly paced packets.
        let mut arrivals = Vec::new();
        for s in 0..1100u16 {
            let base = u64::from(s) * 20 + 100;
            let j = if s < 100 {
                [0, 30, 10, 25, 5][usize::from(s) % 5]
            } else {
                0
            };
            arrivals.push((s, base + j));
        }
        arrivals.sort_by_key(|a| a.1);
        let mut jitter_seen = 0.0f64;
        let mut max_target = 0;
        let mut out = Vec::new();
        let mut ai = 0;
        for p in 0..1100u64 {
            let t = 100 + 20 * p;
            while ai < arrivals.len() && arrivals[ai].1 <= t {
                let (s, at) = arrivals[ai];
                jb.push(s, u32::from(s) * 160, frame(1), ms(at));
                ai += 1;
            }
            jb.pop(&mut out, ms(t));
            let st = jb.stats();
            jitter_seen = jitter_seen.max(st.jitter_ms);
            max_target = max_target.max(st.target_depth);
        }
        let st = jb.stats();
        assert!(jitter_seen > 8.0, "{jitter_seen}");
        assert!(max_target >= 3, "target grew: {max_target}");
        assert!(st.target_depth <= 2, "target shrank back: {st:?}");
        assert!(st.depth <= 3, "depth shrank back: {st:?}");
    }

    #[test]
    fn duplicates_and_restarts() {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        jb.push(1, 0, frame(1), ms(0));
        jb.push(1, 0, frame(1), ms(1));
        assert_eq!(jb.stats().duplicates, 1);
        let mut out = Vec::new();
        jb.push(2, 160, frame(2), ms(20));
        jb.pop(&mut out, ms(20));
        jb.push(40_000, 0, frame(9), ms(40));
        assert_eq!(jb.stats().resets, 1);
        assert!(
            JitterBuffer::new(JitterConfig {
                min_depth: 0,
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn a_replayed_stream_starts_over_instead_of_being_late() {
        // a sender replays the same recording (same sequence numbers and timestamps,
        // as SIPp's play_pcap_audio does): the replay is played, not dropped as late
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let mut out = Vec::new();
        let mut played = 0;
        for round in 0..2u64 {
            for i in 0..50u16 {
                let t = ms(round * 2000 + u64::from(i) * 20);
                jb.push(500 + i, 8000 + u32::from(i) * 160, frame(100), t);
                if jb.pop(&mut out, t) == FrameKind::Played {
                    played += 1;
                }
            }
        }
        assert!(played >= 95, "played {played} of 100");
        assert_eq!(jb.stats().late, 0);
        assert_eq!(jb.stats().resets, 1);
        // a source restarting with lower numbers but a running clock: the third packet
        // in a row behind the playout point starts the stream over
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        for i in 0..10u16 {
            jb.push(900 + i, u32::from(i) * 160, frame(1), ms(u64::from(i) * 20));
            jb.pop(&mut out, ms(u64::from(i) * 20));
        }
        for i in 10..20u16 {
            jb.push(800 + i, u32::from(i) * 160, frame(2), ms(u64::from(i) * 20));
            jb.pop(&mut out, ms(u64::from(i) * 20));
        }
        let st = jb.stats();
        assert_eq!((st.late, st.resets), (2, 1), "{st:?}");
        assert_eq!(out[0], 2);
    }

    #[test]
    fn thirty_ms_packets_play_out_as_continuous_20ms_frames() {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let mut input = Vec::new();
        let mut output = Vec::new();
        let mut out = Vec::new();
        let mut pushed = 0u16;
        for tick in 0..60u64 {
            let t = tick * 20;
            // a 30 ms packet is due every 1.5 ticks
            while u64::from(pushed) * 30 <= t {
                let pkt: Vec<i16> = (0..240)
                    .map(|i| (pushed % 30) as i16 * 1000 + i as i16 / 10)
                    .collect();
                input.extend_from_slice(&pkt);
                jb.push(pushed, u32::from(pushed) * 240, pkt, ms(t));
                pushed += 1;
            }
            if jb.pop(&mut out, ms(t)) == FrameKind::Played {
                assert_eq!(out.len(), 160);
                output.extend_from_slice(&out);
            }
        }
        assert!(output.len() >= 50 * 160);
        assert_eq!(
            &input[..output.len()],
            &output[..],
            "no sample lost or repeated"
        );
        assert_eq!(jb.stats().lost, 0);
    }
}
