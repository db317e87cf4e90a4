//! Live quality inspection of answered calls (`[quality]`): the center taps both
//! legs of every conversation it bridges, measures who speaks when from each
//! side's own audio (callcore-analytics' [`TalkMeter`]: 10 ms slots), raises
//! `QualityAlert`s on dead air and talk-over while the call is on, transcribes
//! each side's utterances (with the speech feature and a model) as
//! `TranscriptSegment` events in the order they were said, and journals the
//! call's talk, silence and talk-over figures when it ends (`AudioMeasured`,
//! folded into the interaction's record).
//!
//! ```toml
//! [quality]
//! enabled = true             # measure every answered call from its audio
//! transcribe = true          # and transcribe both sides (feature asr-whisper + a model)
//! silence_alert_secs = 10    # dead air that raises an alert (0: none)
//! talk_over_alert_secs = 2   # both speaking that long raises an alert (0: none)
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use callcore::{
    Clock, EventKind, FrameDirection, FrameSink, InteractionId, Pii, RecognitionOptions, Speaker,
    SpeechRecognizer, TenantId, Timestamp,
};
use callcore_analytics::quality::talk::{TalkEvent, TalkFigures, TalkMeter, TalkSettings};
use callcore_runtime::{
    BridgedConversation, CenterHandle, ConversationObserver, ConversationSinks,
};
use serde::Deserialize;
use tokio::sync::mpsc;

/// `[quality]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySection {
    /// Measure every answered call from its two legs' audio.
    pub enabled: bool,
    /// Also transcribe both sides (needs the `asr-whisper` feature and a model,
    /// see `[ivr] asr_model`); without one, the figures alone.
    pub transcribe: bool,
    /// Dead air (nobody speaking) this long raises a `long_silence` alert; 0: never.
    pub silence_alert_secs: f64,
    /// Both speaking this long raises a `talk_over` alert; 0: never.
    pub talk_over_alert_secs: f64,
    /// Frame level (RMS, 16-bit scale) from which a side is speaking.
    pub speech_level: f64,
}

impl Default for QualitySection {
    fn default() -> Self {
        QualitySection {
            enabled: false,
            transcribe: true,
            silence_alert_secs: 10.0,
            talk_over_alert_secs: 2.0,
            speech_level: 300.0,
        }
    }
}

impl QualitySection {
    /// Checks the numbers, naming the field.
    pub(crate) fn validate(&self) -> Result<(), crate::PremiseError> {
        let bad = |field: &str, detail: &str| crate::PremiseError::Config {
            field: format!("quality.{field}"),
            detail: detail.to_owned(),
        };
        for (field, v) in [
            ("silence_alert_secs", self.silence_alert_secs),
            ("talk_over_alert_secs", self.talk_over_alert_secs),
        ] {
            if !(0.0..=3600.0).contains(&v) {
                return Err(bad(field, "must be within 0..=3600 seconds"));
            }
        }
        if !(1.0..=30_000.0).contains(&self.speech_level) {
            return Err(bad("speech_level", "must be within 1..=30000"));
        }
        Ok(())
    }

    fn settings(&self) -> TalkSettings {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = |secs: f64| (secs > 0.0).then(|| (secs * 1000.0).round() as u64);
        let mut s = TalkSettings::default();
        s.speech_rms = self.speech_level;
        s.silence_alert_ms = ms(self.silence_alert_secs);
        s.talk_over_alert_ms = ms(self.talk_over_alert_secs);
        s
    }
}

/// Frames of one side with the time they arrived.
type Frame = (Speaker, Timestamp, Vec<i16>);

/// Frames queued per conversation before the oldest are dropped (10 s of
/// both sides): a stalled inspector never holds the media task up.
const QUEUED_FRAMES: usize = 1000;

/// How long a finished call waits for its last transcriptions.
const TRANSCRIPTION_GRACE: Duration = Duration::from_secs(120);

/// The center's [`ConversationObserver`]: one inspection task per bridged call.
pub(crate) struct QualityInspection {
    settings: TalkSettings,
    asr: Option<Arc<dyn SpeechRecognizer>>,
    clock: Arc<dyn Clock>,
    center: OnceLock<CenterHandle>,
    live: Arc<Mutex<HashSet<InteractionId>>>,
}

impl std::fmt::Debug for QualityInspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualityInspection")
            .field("settings", &self.settings)
            .field("transcribes", &self.asr.is_some())
            .finish_non_exhaustive()
    }
}

impl QualityInspection {
    /// An inspector measuring with `section`'s settings; `asr` transcribes.
    pub(crate) fn new(
        section: &QualitySection,
        asr: Option<Arc<dyn SpeechRecognizer>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        QualityInspection {
            settings: section.settings(),
            asr,
            clock,
            center: OnceLock::new(),
            live: Arc::default(),
        }
    }

    /// Where the events go (the center is built after its observer).
    pub(crate) fn attach(&self, center: CenterHandle) {
        let _ = self.center.set(center);
    }

    /// Whether the calls are transcribed.
    pub(crate) fn transcribes(&self) -> bool {
        self.asr.is_some()
    }

    fn sink(&self, speaker: Speaker, tx: mpsc::Sender<Frame>) -> Box<dyn FrameSink> {
        let clock = self.clock.clone();
        Box::new(move |direction: FrameDirection, pcm: &[i16]| {
            if direction == FrameDirection::Inbound {
                // a full queue drops the frame: the inspector is behind
                let _ = tx.try_send((speaker, clock.now(), pcm.to_vec()));
            }
            !tx.is_closed()
        })
    }
}

impl ConversationObserver for QualityInspection {
    fn bridged(&self, c: &BridgedConversation) -> Option<ConversationSinks> {
        let center = self.center.get()?.clone();
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            // one inspection per call: a bridge again (after a transfer) keeps it
            if !live.insert(c.interaction.clone()) {
                return None;
            }
        }
        let (tx, rx) = mpsc::channel(QUEUED_FRAMES);
        let sinks = ConversationSinks {
            customer: self.sink(Speaker::Customer, tx.clone()),
            other: self.sink(Speaker::Agent, tx),
        };
        let run = Inspection {
            meter: TalkMeter::new(self.settings.clone(), offset(c.created_at, c.bridged_at)),
            tenant: c.tenant.clone(),
            interaction: c.interaction.clone(),
            origin: c.created_at,
            clock: self.clock.clone(),
            center,
            asr: self.asr.clone(),
            next: 0,
            emitted: 0,
            done: BTreeMap::new(),
        };
        let live = self.live.clone();
        let id = c.interaction.clone();
        tokio::spawn(async move {
            run.run(rx).await;
            live.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
        Some(sinks)
    }
}

fn offset(origin: Timestamp, at: Timestamp) -> u64 {
    u64::try_from(at.duration_since(origin).as_millis()).unwrap_or(u64::MAX)
}

/// A transcription: its place in the order, who, when, the words.
type Transcribed = (u64, Speaker, u64, Option<String>);

/// One call's inspection task.
struct Inspection {
    meter: TalkMeter,
    tenant: TenantId,
    interaction: InteractionId,
    origin: Timestamp,
    clock: Arc<dyn Clock>,
    center: CenterHandle,
    asr: Option<Arc<dyn SpeechRecognizer>>,
    /// The next utterance's place in the order.
    next: u64,
    /// Utterances whose segment went out (or had no words).
    emitted: u64,
    /// Transcriptions waiting for an earlier one.
    done: BTreeMap<u64, (Speaker, u64, Option<String>)>,
}

impl Inspection {
    async fn run(mut self, mut frames: mpsc::Receiver<Frame>) {
        let (tx, mut transcribed) = mpsc::unbounded_channel::<Transcribed>();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                // frames first: a tick only sees an empty queue, so no frame
                // stamped before it is taken for silence
                biased;
                frame = frames.recv() => match frame {
                    Some((speaker, at, pcm)) => {
                        let at = offset(self.origin, at);
                        self.meter.handle_frame(speaker, at, &pcm);
                    }
                    // both legs' media ended
                    None => break,
                },
                _ = tick.tick() => {
                    let now = offset(self.origin, self.clock.now());
                    self.meter.handle_timeout(now);
                }
                Some(t) = transcribed.recv() => self.transcribed(t),
            }
            self.drain(&tx);
        }
        let end = offset(self.origin, self.clock.now());
        let figures = self.meter.finish(end);
        self.drain(&tx);
        drop(tx);
        let waiting = async {
            while self.emitted < self.next {
                match transcribed.recv().await {
                    Some(t) => self.transcribed(t),
                    None => break,
                }
            }
        };
        if tokio::time::timeout(TRANSCRIPTION_GRACE, waiting)
            .await
            .is_err()
        {
            tracing::warn!(interaction = %self.interaction, "transcriptions still running at the end");
        }
        self.journal(measured(&self.interaction, &figures));
        tracing::debug!(
            interaction = %self.interaction,
            silence_ms = figures.silence_ms,
            talk_over_ms = figures.talk_over_ms,
            "conversation measured"
        );
    }

    fn journal(&self, kind: EventKind) {
        self.center.journal_event(&self.tenant, kind);
    }

    /// Hands the meter's findings on: alerts at once, utterances to the
    /// recognizer (or in order without words when nothing transcribes).
    fn drain(&mut self, tx: &mpsc::UnboundedSender<Transcribed>) {
        while let Some(event) = self.meter.poll_event() {
            match event {
                TalkEvent::Utterance {
                    speaker,
                    start_ms,
                    samples,
                    ..
                } => {
                    let seq = self.next;
                    self.next += 1;
                    let Some(asr) = self.asr.clone() else {
                        self.transcribed((seq, speaker, start_ms, None));
                        continue;
                    };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let text = match transcribe(asr.as_ref(), &samples).await {
                            Ok(t) => Some(t),
                            Err(e) => {
                                tracing::warn!(error = %e, "transcribing an utterance failed");
                                None
                            }
                        };
                        let _ = tx.send((seq, speaker, start_ms, text));
                    });
                }
                TalkEvent::Alert {
                    rule,
                    offset_ms,
                    detail,
                } => {
                    let s = offset_ms / 1000;
                    self.journal(EventKind::QualityAlert {
                        interaction: self.interaction.clone(),
                        rule: rule.to_owned(),
                        detail: format!("{detail} from {:02}:{:02}", s / 60, s % 60),
                    });
                }
                _ => {}
            }
        }
    }

    /// A transcription came back: segments go out in the order said.
    fn transcribed(&mut self, (seq, speaker, start_ms, text): Transcribed) {
        self.done.insert(seq, (speaker, start_ms, text));
        while let Some((speaker, offset_ms, text)) = self.done.remove(&self.emitted) {
            self.emitted += 1;
            if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
                self.journal(EventKind::TranscriptSegment {
                    interaction: self.interaction.clone(),
                    speaker,
                    text: Pii::new(text),
                    offset_ms,
                });
            }
        }
    }
}

/// The words of one utterance (8 kHz).
async fn transcribe(
    asr: &dyn SpeechRecognizer,
    samples: &[i16],
) -> Result<String, callcore::CoreError> {
    let mut session = asr
        .start(RecognitionOptions {
            sample_rate: 8000,
            ..RecognitionOptions::default()
        })
        .await?;
    session.push_audio(samples).await?;
    session.finish().await?;
    let mut text = String::new();
    while let Some(r) = session.next_result().await {
        let r = r?;
        if r.is_final && !r.text.trim().is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(r.text.trim());
        }
    }
    Ok(text)
}

/// The figures as the journal keeps them.
fn measured(interaction: &InteractionId, f: &TalkFigures) -> EventKind {
    let mut audio =
        callcore::ConversationAudio::new(f.conversation_ms, f.customer_talk_ms, f.agent_talk_ms);
    audio.silence_ms = f.silence_ms;
    audio.interior_silence_ms = f.silences.iter().map(|(a, b)| b - a).sum();
    audio.longest_silence_ms = f.silences.iter().map(|(a, b)| b - a).max().unwrap_or(0);
    audio.talk_over_ms = f.talk_over_ms;
    audio.talk_overs = u32::try_from(f.talk_overs.len()).unwrap_or(u32::MAX);
    EventKind::AudioMeasured {
        interaction: interaction.clone(),
        audio,
    }
}
