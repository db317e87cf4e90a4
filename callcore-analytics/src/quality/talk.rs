//! Who spoke when, measured from the audio of the two sides of a conversation:
//! talk per side, silence (nobody speaking) and talk-over (both at once) at
//! 10 ms resolution, live alerts when dead air or talk-over lasts too long,
//! and each side's utterances cut at pauses (with their audio, for a
//! transcriber), in the order they began.
//!
//! Sans-IO: the caller hands in each side's decoded 8 kHz frames with the time
//! they arrived ([`TalkMeter::handle_frame`]), calls
//! [`TalkMeter::handle_timeout`] now and then (a side that sends nothing is
//! silent), drains [`TalkMeter::poll_event`], and [`TalkMeter::finish`]es with
//! the figures. Times are milliseconds from any origin the caller picks (the
//! interaction's start, for `offset_ms` in events).
//!
//! Each side's audio is placed by the sender's schedule, not by when each frame
//! arrived: its frames follow each other sample for sample, anchored where they
//! came soonest after they were due ([`callcore::sender_clock`]). A frame held up (a sender stalled at its first
//! packet, a burst after a stall, a receiver that read its socket late) lands
//! where it was due as long as it comes within [`TalkSettings::jitter_ms`]: the
//! timeline is settled that long behind the clock. Audio later than that (a
//! sender that paused) starts again at its arrival, the gap silent.
//!
//! A side speaks in a 10 ms slot whose RMS reaches [`TalkSettings::speech_rms`];
//! pauses shorter than [`TalkSettings::bridge_ms`] inside speech (between
//! words) count as speech and bursts shorter than
//! [`TalkSettings::min_speech_ms`] (clicks) do not.
//!
//! ```
//! use callcore::Speaker;
//! use callcore_analytics::quality::talk::{TalkMeter, TalkSettings};
//! let mut meter = TalkMeter::new(TalkSettings::default(), 0);
//! let voice = vec![3000i16; 160];
//! let quiet = vec![0i16; 160];
//! for i in 0..150u64 {
//!     // the agent speaks for a second, then the customer after a second's gap
//!     let (agent, customer) = match i { 0..50 => (&voice, &quiet), 100..150 => (&quiet, &voice), _ => (&quiet, &quiet) };
//!     meter.handle_frame(Speaker::Agent, (i + 1) * 20, agent);
//!     meter.handle_frame(Speaker::Customer, (i + 1) * 20, customer);
//! }
//! let figures = meter.finish(3000);
//! assert_eq!(figures.silences, vec![(1000, 2000)]);
//! assert_eq!((figures.agent_talk_ms, figures.customer_talk_ms), (1000, 1000));
//! ```

use std::collections::VecDeque;

use callcore::Speaker;
use callcore::sender_clock::{Placement, SenderClock};
use serde::{Deserialize, Serialize};

/// Length of one slot of the timeline.
pub const SLOT_MS: u64 = 10;
/// Samples in one slot (8 kHz).
const SLOT_SAMPLES: usize = 80;
/// Samples per millisecond.
const PER_MS: u64 = 8;
/// A side's frames this far (60 s) ahead of their schedule anchor it again.
const AHEAD_LIMIT: u64 = 60_000 * PER_MS;

/// Settings of a [`TalkMeter`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TalkSettings {
    /// RMS (16-bit scale) from which a 10 ms slot is speech.
    pub speech_rms: f64,
    /// Pauses inside a side's speech shorter than this are speech.
    pub bridge_ms: u64,
    /// Shorter bursts are noise.
    pub min_speech_ms: u64,
    /// A side's pause at least this long ends its utterance.
    pub utterance_gap_ms: u64,
    /// An utterance is cut at this length even without a pause.
    pub max_utterance_ms: u64,
    /// Audio kept before an utterance's first speech (and after its last).
    pub pad_ms: u64,
    /// How long the timeline waits for audio held up on the way (network
    /// jitter, a sender catching up after a stall): a frame arriving up to this
    /// long after it was due is placed where it was due; later, it starts again
    /// at its arrival and the gap is silence. Alerts and utterances come this
    /// much after the audio.
    pub jitter_ms: u64,
    /// Dead air (nobody speaking) this long raises a `long_silence` alert.
    pub silence_alert_ms: Option<u64>,
    /// Both speaking this long raises a `talk_over` alert.
    pub talk_over_alert_ms: Option<u64>,
}

impl Default for TalkSettings {
    fn default() -> Self {
        TalkSettings {
            speech_rms: 300.0,
            bridge_ms: 350,
            min_speech_ms: 80,
            utterance_gap_ms: 600,
            max_utterance_ms: 25_000,
            pad_ms: 200,
            jitter_ms: 300,
            silence_alert_ms: Some(10_000),
            talk_over_alert_ms: Some(2_000),
        }
    }
}

/// Something the meter found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TalkEvent {
    /// One side's utterance ended (a pause of
    /// [`TalkSettings::utterance_gap_ms`]); utterances come in the order they
    /// began, whichever side.
    Utterance {
        /// Who spoke.
        speaker: Speaker,
        /// Its first speech.
        start_ms: u64,
        /// The end of its last speech.
        end_ms: u64,
        /// Its audio (8 kHz) with [`TalkSettings::pad_ms`] either side.
        samples: Vec<i16>,
    },
    /// A threshold was crossed while the conversation is on.
    Alert {
        /// `long_silence` or `talk_over`.
        rule: &'static str,
        /// When the run began.
        offset_ms: u64,
        /// What was measured.
        detail: String,
    },
}

/// What a conversation's audio held, from [`TalkMeter::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkFigures {
    /// From the meter's start to the end.
    pub conversation_ms: u64,
    /// The customer speaking.
    pub customer_talk_ms: u64,
    /// The agent speaking.
    pub agent_talk_ms: u64,
    /// Nobody speaking (leading and trailing silence included).
    pub silence_ms: u64,
    /// Both speaking.
    pub talk_over_ms: u64,
    /// Each silence between two stretches of speech, `(start, end)`.
    pub silences: Vec<(u64, u64)>,
    /// Each stretch of both speaking, `(start, end)`.
    pub talk_overs: Vec<(u64, u64)>,
}

/// One side: its timeline of slots, speech spans and utterances.
#[derive(Debug)]
struct Side {
    /// The next slot to fill.
    cursor: u64,
    /// The sender's schedule: where its samples go.
    clock: SenderClock,
    /// Samples the side has sent (its schedule's timestamps).
    sent: u64,
    /// Audio placed but not yet settled into slots, from sample `pending_at`.
    pending: VecDeque<i16>,
    pending_at: u64,
    /// The speech span still growing, `[start, end)` in slots.
    open: Option<(u64, u64)>,
    /// Final spans not yet read by the joint timeline.
    spans: VecDeque<(u64, u64)>,
    /// The utterance being gathered, `[start, end)` in slots.
    utterance: Option<(u64, u64)>,
    /// Audio from slot `audio_base` on.
    audio: Vec<i16>,
    audio_base: u64,
}

/// Slots of `ms`, rounded up.
fn slots(ms: u64) -> u64 {
    ms.div_ceil(SLOT_MS)
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    #[allow(clippy::cast_precision_loss)]
    let n = pcm.len() as f64;
    (energy / n).sqrt()
}

impl Side {
    fn new(start: u64, s: &TalkSettings) -> Self {
        Side {
            cursor: start,
            clock: SenderClock::new(s.jitter_ms * PER_MS, AHEAD_LIMIT),
            sent: 0,
            pending: VecDeque::new(),
            pending_at: start * SLOT_MS * PER_MS,
            open: None,
            spans: VecDeque::new(),
            utterance: None,
            audio: Vec::new(),
            audio_base: start,
        }
    }

    /// Places a frame that arrived at `arrival` (samples) by the sender's
    /// schedule.
    fn place(&mut self, arrival: u64, pcm: &[i16]) {
        let len = u32::try_from(pcm.len()).unwrap_or(u32::MAX);
        // the schedule's timestamps are the samples sent (wrapping as RTP's)
        #[allow(clippy::cast_possible_truncation)]
        let placed = self.clock.place(0, self.sent as u32, len, arrival);
        self.sent += u64::from(len);
        if let Placement::Earlier { by, .. } = placed {
            self.move_earlier(by);
        }
        self.write_at(placed.start(), pcm);
    }

    /// The schedule moved `by` samples earlier: so does the unsettled audio
    /// (what would fall on settled slots is lost).
    fn move_earlier(&mut self, by: u64) {
        if self.pending.is_empty() {
            return;
        }
        let floor = self.cursor * SLOT_SAMPLES as u64;
        let at = self.pending_at.saturating_sub(by);
        let lost = usize::try_from(floor.saturating_sub(at)).unwrap_or(usize::MAX);
        self.pending.drain(..lost.min(self.pending.len()));
        self.pending_at = at.max(floor);
    }

    /// Adds `pcm` at sample `start` after the unsettled audio (a hole before
    /// it is silence; what would fall on settled slots is dropped).
    fn write_at(&mut self, start: u64, pcm: &[i16]) {
        let floor = self.cursor * SLOT_SAMPLES as u64;
        let at = if self.pending.is_empty() {
            self.pending_at = start.max(floor);
            self.pending_at
        } else {
            self.pending_at + self.pending.len() as u64
        };
        if start > at {
            let hole = usize::try_from(start - at).unwrap_or(0);
            self.pending.extend(std::iter::repeat_n(0, hole));
        }
        let skip = usize::try_from(at.saturating_sub(start)).unwrap_or(usize::MAX);
        self.pending.extend(pcm.iter().skip(skip));
    }

    /// Settles the slots ending by sample `until`: the unsettled audio in them,
    /// or none (silence).
    fn settle_until(&mut self, until: u64, s: &TalkSettings, done: &mut Vec<(u64, u64, Vec<i16>)>) {
        let slot = SLOT_SAMPLES as u64;
        while (self.cursor + 1) * slot <= until {
            let (from, to) = (self.cursor * slot, (self.cursor + 1) * slot);
            if self.pending.is_empty() || self.pending_at >= to {
                self.push_slot(&[], s, done);
                continue;
            }
            let lead = usize::try_from(self.pending_at.saturating_sub(from)).unwrap_or(0);
            let take = (SLOT_SAMPLES - lead.min(SLOT_SAMPLES)).min(self.pending.len());
            let mut pcm = vec![0; lead.min(SLOT_SAMPLES)];
            pcm.extend(self.pending.drain(..take));
            pcm.resize(SLOT_SAMPLES, 0);
            self.pending_at += take as u64;
            self.push_slot(&pcm, s, done);
        }
    }

    /// Slots before this are settled: speech or not.
    fn known_until(&self, s: &TalkSettings) -> u64 {
        match self.open {
            Some((st, end)) if end - st >= slots(s.min_speech_ms) => end,
            Some((st, _)) => st,
            None => self.cursor,
        }
    }

    /// Whether `slot` (not before the last slot asked) is speech.
    fn speaks(&mut self, slot: u64, s: &TalkSettings) -> bool {
        while self.spans.front().is_some_and(|&(_, e)| e <= slot) {
            self.spans.pop_front();
        }
        if self.spans.front().is_some_and(|&(st, _)| st <= slot) {
            return true;
        }
        self.open
            .is_some_and(|(st, e)| st <= slot && slot < e && e - st >= slots(s.min_speech_ms))
    }

    /// Fills the next slot (`pcm` empty: no audio arrived for it).
    fn push_slot(&mut self, pcm: &[i16], s: &TalkSettings, done: &mut Vec<(u64, u64, Vec<i16>)>) {
        let t = self.cursor;
        let active = pcm.len() == SLOT_SAMPLES && rms(pcm) >= s.speech_rms;
        if pcm.len() == SLOT_SAMPLES {
            self.audio.extend_from_slice(pcm);
        } else {
            self.audio.extend(std::iter::repeat_n(0, SLOT_SAMPLES));
        }
        self.cursor += 1;
        if active {
            match self.open {
                Some((st, end)) if t - end < slots(s.bridge_ms) => self.open = Some((st, t + 1)),
                _ => {
                    self.settle(s, done);
                    self.open = Some((t, t + 1));
                }
            }
        }
        if self
            .open
            .is_some_and(|(_, end)| self.cursor - end >= slots(s.bridge_ms))
        {
            self.settle(s, done);
        }
        // an utterance ends at a long pause, or at its longest
        if let Some((st, end)) = self.utterance {
            let paused = self.open.is_none() && self.cursor - end >= slots(s.utterance_gap_ms);
            let long = self.open.map_or(end, |(_, e)| e) - st >= slots(s.max_utterance_ms);
            if paused || long {
                self.close_utterance(s, done);
            }
        }
        self.trim(s);
    }

    /// The growing span is over: speech (into the spans and the utterance)
    /// or noise (dropped).
    fn settle(&mut self, s: &TalkSettings, done: &mut Vec<(u64, u64, Vec<i16>)>) {
        let Some((st, end)) = self.open.take() else {
            return;
        };
        if end - st < slots(s.min_speech_ms) {
            return;
        }
        self.spans.push_back((st, end));
        match self.utterance {
            Some((us, ue)) if st - ue < slots(s.utterance_gap_ms) => {
                self.utterance = Some((us, end));
            }
            _ => {
                self.close_utterance(s, done);
                self.utterance = Some((st, end));
            }
        }
    }

    fn close_utterance(&mut self, s: &TalkSettings, done: &mut Vec<(u64, u64, Vec<i16>)>) {
        let Some((st, end)) = self.utterance.take() else {
            return;
        };
        let pad = slots(s.pad_ms);
        let from = st.saturating_sub(pad).max(self.audio_base);
        let to = (end + pad).min(self.cursor).max(from);
        let at = |slot: u64| usize::try_from(slot - self.audio_base).unwrap_or(usize::MAX);
        let (a, b) = (at(from) * SLOT_SAMPLES, at(to) * SLOT_SAMPLES);
        let samples = self
            .audio
            .get(a..b.min(self.audio.len()))
            .unwrap_or_default();
        done.push((st, end, samples.to_vec()));
    }

    /// Keeps only the audio an utterance may still need.
    fn trim(&mut self, s: &TalkSettings) {
        let keep_from = self
            .utterance
            .map(|(st, _)| st)
            .or(self.open.map(|(st, _)| st))
            .unwrap_or(self.cursor)
            .saturating_sub(slots(s.pad_ms));
        if keep_from > self.audio_base {
            let drop = usize::try_from(keep_from - self.audio_base).unwrap_or(usize::MAX);
            let n = (drop * SLOT_SAMPLES).min(self.audio.len());
            self.audio.drain(..n);
            self.audio_base = keep_from;
        }
    }
}

/// Runs of the joint timeline.
#[derive(Debug, Default)]
struct Joint {
    /// Slots before this are counted.
    done: u64,
    customer: u64,
    agent: u64,
    silence: u64,
    talk_over: u64,
    spoken: bool,
    silence_run: Option<(u64, bool)>,
    talk_over_run: Option<(u64, bool)>,
    silences: Vec<(u64, u64)>,
    talk_overs: Vec<(u64, u64)>,
}

/// The meter of one conversation. See the module docs.
#[derive(Debug)]
pub struct TalkMeter {
    settings: TalkSettings,
    start: u64,
    /// Customer, agent.
    sides: [Side; 2],
    joint: Joint,
    /// Utterances ended but waiting for an earlier one of the other side.
    held: Vec<(Speaker, u64, u64, Vec<i16>)>,
    events: VecDeque<TalkEvent>,
}

fn index(speaker: Speaker) -> Option<usize> {
    match speaker {
        Speaker::Customer => Some(0),
        Speaker::Agent => Some(1),
        _ => None,
    }
}

const SPEAKERS: [Speaker; 2] = [Speaker::Customer, Speaker::Agent];

impl TalkMeter {
    /// A meter whose conversation starts at `start_ms`.
    #[must_use]
    pub fn new(settings: TalkSettings, start_ms: u64) -> Self {
        let start = start_ms / SLOT_MS;
        let sides = [Side::new(start, &settings), Side::new(start, &settings)];
        TalkMeter {
            settings,
            start,
            sides,
            joint: Joint {
                done: start,
                ..Joint::default()
            },
            held: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// One decoded frame (8 kHz) of `speaker` (customer or agent; others are
    /// ignored) that arrived at `now_ms`: placed by its side's schedule (see
    /// the module docs).
    pub fn handle_frame(&mut self, speaker: Speaker, now_ms: u64, samples: &[i16]) {
        let Some(i) = index(speaker) else { return };
        let s = &self.settings;
        let mut done = Vec::new();
        let side = &mut self.sides[i];
        side.place(now_ms * PER_MS, samples);
        side.settle_until(now_ms.saturating_sub(s.jitter_ms) * PER_MS, s, &mut done);
        self.ended(i, done);
        self.advance();
        self.release(false);
    }

    /// Time passes: a side that sent nothing up to `now_ms` (less the jitter
    /// allowance) was silent.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let until = now_ms.saturating_sub(self.settings.jitter_ms) * PER_MS;
        for i in 0..2 {
            let mut done = Vec::new();
            self.sides[i].settle_until(until, &self.settings, &mut done);
            self.ended(i, done);
        }
        self.advance();
        self.release(false);
    }

    /// How far `speaker`'s utterances are known: every one of theirs
    /// beginning before this offset (ms) is queued already
    /// ([`poll_event`](Self::poll_event)), one beginning later is not. Their
    /// speech still going on (or held for the other side's, or within the
    /// jitter allowance) keeps it back: a rule judging what they said by a
    /// deadline waits until this passes the deadline.
    #[must_use]
    pub fn utterances_known_until(&self, speaker: Speaker) -> u64 {
        let Some(i) = index(speaker) else {
            // no utterances of theirs, ever
            return self
                .sides
                .iter()
                .map(|s| s.cursor)
                .min()
                .unwrap_or(self.start)
                * SLOT_MS;
        };
        let side = &self.sides[i];
        let open = side.utterance.or(side.open).map(|(st, _)| st);
        let held = self.held.iter().filter(|u| u.0 == speaker).map(|u| u.1);
        let until = open.into_iter().chain(held).fold(side.cursor, u64::min) * SLOT_MS;
        self.events
            .iter()
            .filter_map(|e| match e {
                TalkEvent::Utterance {
                    speaker: s,
                    start_ms,
                    ..
                } if *s == speaker => Some(*start_ms),
                _ => None,
            })
            .fold(until, u64::min)
    }

    /// The next thing found, if any.
    pub fn poll_event(&mut self) -> Option<TalkEvent> {
        self.events.pop_front()
    }

    /// Ends the conversation at `end_ms`: the last utterances and alerts are
    /// queued ([`poll_event`](Self::poll_event)) and the figures returned.
    pub fn finish(&mut self, end_ms: u64) -> TalkFigures {
        let end = (end_ms / SLOT_MS).max(self.start);
        for i in 0..2 {
            let mut done = Vec::new();
            let s = &self.settings;
            let side = &mut self.sides[i];
            side.settle_until(end * SLOT_MS * PER_MS, s, &mut done);
            side.settle(s, &mut done);
            side.close_utterance(s, &mut done);
            self.ended(i, done);
        }
        self.release(true);
        self.count_until(end);
        let j = &mut self.joint;
        if let Some((st, _)) = j.talk_over_run.take() {
            j.talk_overs.push((st, end));
        }
        let ms = |x: u64| x * SLOT_MS;
        let pairs = |v: &[(u64, u64)]| v.iter().map(|&(a, b)| (ms(a), ms(b))).collect();
        TalkFigures {
            conversation_ms: ms(end - self.start),
            customer_talk_ms: ms(j.customer),
            agent_talk_ms: ms(j.agent),
            silence_ms: ms(j.silence),
            talk_over_ms: ms(j.talk_over),
            silences: pairs(&j.silences),
            talk_overs: pairs(&j.talk_overs),
        }
    }

    fn ended(&mut self, i: usize, done: Vec<(u64, u64, Vec<i16>)>) {
        for (st, end, samples) in done {
            self.held.push((SPEAKERS[i], st, end, samples));
        }
        self.release(false);
    }

    /// Utterances go out in the order they began: one waits while the other
    /// side's open utterance (or speech) began before it.
    fn release(&mut self, all: bool) {
        self.held.sort_by_key(|u| u.1);
        let open_from = self
            .sides
            .iter()
            .filter_map(|s| s.utterance.or(s.open).map(|(st, _)| st))
            .min();
        while let Some(first) = self.held.first() {
            if !all && open_from.is_some_and(|o| o < first.1) {
                break;
            }
            let (speaker, st, end, samples) = self.held.remove(0);
            self.events.push_back(TalkEvent::Utterance {
                speaker,
                start_ms: st * SLOT_MS,
                end_ms: end * SLOT_MS,
                samples,
            });
        }
    }

    /// Counts the slots both sides have settled.
    fn advance(&mut self) {
        let s = &self.settings;
        let until = self.sides[0]
            .known_until(s)
            .min(self.sides[1].known_until(s));
        self.count_until(until);
    }

    fn count_until(&mut self, until: u64) {
        let s = &self.settings;
        let silence_alert = s.silence_alert_ms.map(slots);
        let talk_over_alert = s.talk_over_alert_ms.map(slots);
        while self.joint.done < until {
            let t = self.joint.done;
            let c = self.sides[0].speaks(t, s);
            let a = self.sides[1].speaks(t, s);
            let j = &mut self.joint;
            j.customer += u64::from(c);
            j.agent += u64::from(a);
            if !c && !a {
                j.silence += 1;
                let (st, alerted) = *j.silence_run.get_or_insert((t, false));
                if !alerted && silence_alert.is_some_and(|n| t + 1 - st >= n) {
                    j.silence_run = Some((st, true));
                    self.events.push_back(TalkEvent::Alert {
                        rule: "long_silence",
                        offset_ms: st * SLOT_MS,
                        detail: format!(
                            "no one spoke for {:.1} s",
                            ((t + 1 - st) * SLOT_MS) as f64 / 1000.0
                        ),
                    });
                }
            } else if let Some((st, _)) = j.silence_run.take()
                && j.spoken
            {
                j.silences.push((st, t));
            }
            if c && a {
                j.talk_over += 1;
                let (st, alerted) = *j.talk_over_run.get_or_insert((t, false));
                if !alerted && talk_over_alert.is_some_and(|n| t + 1 - st >= n) {
                    j.talk_over_run = Some((st, true));
                    self.events.push_back(TalkEvent::Alert {
                        rule: "talk_over",
                        offset_ms: st * SLOT_MS,
                        detail: format!(
                            "both spoke for {:.1} s",
                            ((t + 1 - st) * SLOT_MS) as f64 / 1000.0
                        ),
                    });
                }
            } else if let Some((st, _)) = j.talk_over_run.take() {
                j.talk_overs.push((st, t));
            }
            j.spoken |= c || a;
            j.done += 1;
        }
    }
}

#[cfg(test)]
#[path = "talk_tests.rs"]
mod tests;
