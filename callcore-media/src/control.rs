//! callcore's [`MediaControl`] port on a callcore-media voice leg: play prompts
//! (files through symphonia, silence, music on hold) with barge-in, say (TTS),
//! collect digits (RFC 4733 and in-band), listen (ASR fed with the caller's 20 ms
//! frames, ended by the VAD) and record (WAV, ended by key, silence or length).
//!
//! Time inside an operation is counted in received frames (the session delivers
//! one every 20 ms), so no clock is read here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use callcore::{MediaControl, DigitSpec};
//! use callcore_media::control::VoiceLegMedia;
//! use callcore_media::udp::{MediaSession, MediaSessionConfig, PortAllocator};
//! let ports = PortAllocator::new("127.0.0.1".parse()?, 20000..=20999);
//! let session = MediaSession::start(&ports, MediaSessionConfig::default()).await?;
//! let leg = VoiceLegMedia::new(session, "prompts".into(), "recordings".into());
//! let digits = leg.collect_digits(&DigitSpec::up_to(4)).await?;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{
    Clock, CoreError, DigitResult, DigitSpec, DigitTermination, InteractionId, ListenSpec,
    MediaControl, PlayOutcome, Prompt as CorePrompt, RecognitionOptions, RecordSpec, RecordingId,
    RecordingMeta, RecordingStore, SpeechRecognizer, SpeechSynthesizer, TenantId, Utterance,
    VoiceOptions,
};
use tokio::sync::Mutex;

use crate::dtmf::Digit;
use crate::dtmf::inband::{DetectorConfig, DtmfDetector, InbandEvent};
use crate::dtmf::rfc4733::DigitEvent;
use crate::endpoint::EndpointEvent;
use crate::prompt::Prompt;
use crate::resample::resample;
use crate::udp::{MediaSession, SessionCommand, SessionEvent};
use crate::vad::{Vad, VadConfig, VadEvent};
use crate::wav::{ChannelLayout, WavRecorder};

const FRAME_MS: u64 = 20;

fn frames(d: Duration) -> u64 {
    (d.as_millis() as u64).div_ceil(FRAME_MS).max(1)
}

fn media_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::Media(e.to_string())
}

/// What one received frame brought.
enum Tick {
    Frame(Vec<i16>),
    Digit(Digit),
    Ended,
}

struct Leg {
    session: MediaSession,
    inband: DtmfDetector,
    inband_events: Vec<InbandEvent>,
    /// RFC 4733 digits seen recently, to ignore the same digit heard in-band.
    rfc_recent: u32,
    /// Type-ahead: a digit that barged in on a prompt stays here, so the next
    /// collect (or the next barge-in prompt) reads it, as VoiceXML buffers it.
    typeahead: VecDeque<Digit>,
    /// Frames the jitter buffer made up (lost or late packets) since the leg began.
    concealed: u64,
    /// The caller's audio of the last moments of a prompt the caller's voice
    /// barged in on ([`HEARD_AHEAD_FRAMES`] at most): the listen that follows
    /// hears it first, so the words that interrupted the prompt are not lost.
    /// Any other operation drops it.
    heard_ahead: Vec<Vec<i16>>,
}

/// Frames of the caller's audio kept while a prompt plays (600 ms): the VAD's
/// onset (3 frames), the listen's 300 ms pre-roll and its noise-floor training
/// (100 ms) before that.
const HEARD_AHEAD_FRAMES: usize = 30;

impl Leg {
    /// The next frame or digit; `Ended` when the session is gone.
    async fn tick(&mut self) -> Tick {
        if let Some(d) = self.typeahead.pop_front() {
            return Tick::Digit(d);
        }
        // A session that ends says so (its `Ended` event, then the channel closes).
        // A pause in its 20 ms frames is a busy machine, not a hang-up: guessing
        // "gone" after a wall-clock delay hung up on live callers under load.
        loop {
            let Some(ev) = self.session.next_event().await else {
                return Tick::Ended;
            };
            match ev {
                SessionEvent::Audio(frame, kind) => {
                    if kind == crate::jitter::FrameKind::Concealed {
                        self.concealed += 1;
                    }
                    self.rfc_recent = self.rfc_recent.saturating_sub(1);
                    self.inband_events.clear();
                    self.inband.process_into(&frame, &mut self.inband_events);
                    if self.rfc_recent == 0
                        && let Some(d) = self.inband_events.iter().find_map(InbandEvent::started)
                    {
                        return Tick::Digit(d);
                    }
                    return Tick::Frame(frame);
                }
                SessionEvent::Endpoint(EndpointEvent::Digit(DigitEvent::Started {
                    digit, ..
                })) => {
                    self.rfc_recent = 25; // the audio may carry the same tone for a while
                    return Tick::Digit(digit);
                }
                SessionEvent::Endpoint(EndpointEvent::MediaTimeout | EndpointEvent::RemoteBye)
                | SessionEvent::Ended(_) => return Tick::Ended,
                _ => {}
            }
        }
    }

    /// Plays `samples`, returning early on barge-in. Keys pressed during a
    /// prompt that cannot be interrupted stay in the type-ahead buffer.
    async fn play(
        &mut self,
        samples: Vec<i16>,
        barge_in: bool,
        looping: bool,
    ) -> Result<PlayOutcome, CoreError> {
        let mut held = Vec::new();
        self.heard_ahead.clear();
        // A play whose future is dropped (music on hold when an agent
        // connects) stops its audio instead of leaving it queued.
        let mut stop = StopOnDrop(Some(self.session.commands()));
        let outcome = self.play_until(samples, barge_in, looping, &mut held).await;
        stop.0 = None;
        self.typeahead.extend(held);
        outcome
    }

    async fn play_until(
        &mut self,
        samples: Vec<i16>,
        barge_in: bool,
        looping: bool,
        held: &mut Vec<Digit>,
    ) -> Result<PlayOutcome, CoreError> {
        let total = samples.len();
        if !self.session.command(SessionCommand::Play(samples.clone())) {
            return Err(CoreError::LegEnded);
        }
        let mut vad = Vad::new(VadConfig::default());
        let mut recent: VecDeque<Vec<i16>> = VecDeque::with_capacity(HEARD_AHEAD_FRAMES + 1);
        let mut remaining = (total as u64).div_ceil(160);
        loop {
            match self.tick().await {
                Tick::Ended => return Err(CoreError::LegEnded),
                Tick::Digit(d) if barge_in => {
                    self.session.command(SessionCommand::StopPlayback);
                    // the key stays buffered for the menu that follows
                    self.typeahead.push_front(d);
                    return Ok(PlayOutcome::BargedIn(d.to_char().to_string()));
                }
                Tick::Digit(d) => held.push(d),
                Tick::Frame(f) => {
                    let started =
                        matches!(vad.process_frame(&f), Some(VadEvent::SpeechStarted { .. }));
                    if barge_in {
                        recent.push_back(f);
                        if recent.len() > HEARD_AHEAD_FRAMES {
                            recent.pop_front();
                        }
                    }
                    if barge_in && started {
                        self.session.command(SessionCommand::StopPlayback);
                        tracing::debug!(
                            kept_ms = recent.len() as u64 * FRAME_MS,
                            "prompt barged in on by the caller's voice"
                        );
                        self.heard_ahead = recent.into();
                        return Ok(PlayOutcome::BargedIn(String::new()));
                    }
                    remaining = remaining.saturating_sub(1);
                    if remaining == 0 {
                        if !looping {
                            return Ok(PlayOutcome::Completed);
                        }
                        self.session.command(SessionCommand::Play(samples.clone()));
                        remaining = (total as u64).div_ceil(160);
                    }
                }
            }
        }
    }
}

/// Silence that ends a caller's spoken answer in [`MediaControl::listen`]: the
/// VAD's default 300 ms cut answers at the pause between two words ("there is a
/// charge on my account | that I do not recognize").
const END_OF_ANSWER_MS: u32 = 800;

/// Stops the session's playback when dropped armed.
struct StopOnDrop(Option<tokio::sync::mpsc::UnboundedSender<SessionCommand>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(cmds) = self.0.take() {
            let _ = cmds.send(SessionCommand::StopPlayback);
        }
    }
}

/// A voice leg's media, driven through callcore's [`MediaControl`] port.
pub struct VoiceLegMedia {
    leg: Mutex<Leg>,
    prompts_dir: PathBuf,
    recordings_dir: PathBuf,
    tts: Option<Arc<dyn SpeechSynthesizer>>,
    asr: Option<Arc<dyn SpeechRecognizer>>,
    recordings: AtomicU64,
    music: Arc<[i16]>,
    index: Option<RecordingIndex>,
}

/// Where [`MediaControl::record`] files its metadata.
struct RecordingIndex {
    store: Arc<dyn RecordingStore>,
    clock: Arc<dyn Clock>,
    tenant: TenantId,
    interaction: InteractionId,
}

impl std::fmt::Debug for VoiceLegMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceLegMedia")
            .field("prompts_dir", &self.prompts_dir)
            .field("recordings_dir", &self.recordings_dir)
            .finish_non_exhaustive()
    }
}

impl VoiceLegMedia {
    /// Wraps a running session; relative prompt names resolve in `prompts_dir`,
    /// recordings go to `recordings_dir`.
    pub fn new(session: MediaSession, prompts_dir: PathBuf, recordings_dir: PathBuf) -> Self {
        let det = DetectorConfig::default();
        VoiceLegMedia {
            leg: Mutex::new(Leg {
                session,
                inband: DtmfDetector::new(det),
                inband_events: Vec::new(),
                rfc_recent: 0,
                typeahead: VecDeque::new(),
                concealed: 0,
                heard_ahead: Vec::new(),
            }),
            prompts_dir,
            recordings_dir,
            tts: None,
            asr: None,
            recordings: AtomicU64::new(0),
            music: crate::hold_music::default_music(),
            index: None,
        }
    }

    /// Files every recording's metadata in `store` for `interaction`, stamped by
    /// `clock`.
    pub fn with_recording_store(
        mut self,
        store: Arc<dyn RecordingStore>,
        clock: Arc<dyn Clock>,
        tenant: TenantId,
        interaction: InteractionId,
    ) -> Self {
        self.index = Some(RecordingIndex {
            store,
            clock,
            tenant,
            interaction,
        });
        self
    }

    /// Uses `tts` for [`MediaControl::say`].
    pub fn with_synthesizer(mut self, tts: Arc<dyn SpeechSynthesizer>) -> Self {
        self.tts = Some(tts);
        self
    }

    /// Uses `asr` for [`MediaControl::listen`].
    pub fn with_recognizer(mut self, asr: Arc<dyn SpeechRecognizer>) -> Self {
        self.asr = Some(asr);
        self
    }

    /// Replaces the music on hold (8 kHz samples, looped; the default is
    /// [`crate::hold_music::default_music`]). An `Arc<[i16]>` is shared, not copied,
    /// by every leg given it.
    pub fn with_music_on_hold(mut self, samples: impl Into<Arc<[i16]>>) -> Self {
        let samples = samples.into();
        if !samples.is_empty() {
            self.music = samples;
        }
        self
    }
}

#[async_trait]
impl MediaControl for VoiceLegMedia {
    async fn play(&self, prompt: &CorePrompt, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        let (samples, looping) = match prompt {
            CorePrompt::File(name) => {
                let path = if std::path::Path::new(name).is_absolute() {
                    PathBuf::from(name)
                } else {
                    self.prompts_dir.join(name)
                };
                let p = tokio::task::spawn_blocking(move || Prompt::load(&path))
                    .await
                    .map_err(media_err)?
                    .map_err(media_err)?;
                (p.samples.to_vec(), false)
            }
            CorePrompt::SilenceMs(ms) => (vec![0i16; *ms as usize * 8], false),
            CorePrompt::MusicOnHold => (self.music.to_vec(), true),
            _ => return Err(CoreError::Unsupported("prompt kind")),
        };
        self.leg.lock().await.play(samples, barge_in, looping).await
    }

    async fn say(&self, text: &str, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        let tts = self.tts.as_ref().ok_or(CoreError::Unsupported(
            "say: no speech synthesizer configured",
        ))?;
        let clip = tts
            .synthesize(
                text,
                &VoiceOptions {
                    language: None,
                    voice: None,
                    sample_rate: 8000,
                },
            )
            .await?;
        let samples = if clip.sample_rate == 8000 || clip.sample_rate == 0 {
            clip.samples
        } else {
            let f: Vec<f32> = clip
                .samples
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect();
            crate::resample::to_i16(&resample(&f, clip.sample_rate, 8000))
        };
        self.leg.lock().await.play(samples, barge_in, false).await
    }

    async fn collect_digits(&self, spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        let mut leg = self.leg.lock().await;
        leg.heard_ahead.clear();
        let mut digits = String::new();
        let mut waited = 0u64;
        loop {
            let limit = if digits.is_empty() {
                frames(spec.first_digit_timeout)
            } else {
                frames(spec.inter_digit_timeout)
            };
            match leg.tick().await {
                Tick::Ended => return Err(CoreError::LegEnded),
                Tick::Frame(_) => {
                    waited += 1;
                    if waited >= limit {
                        return Ok(DigitResult {
                            digits,
                            termination: DigitTermination::Timeout,
                        });
                    }
                }
                Tick::Digit(d) => {
                    waited = 0;
                    let c = d.to_char();
                    if Some(c) == spec.terminator {
                        return Ok(DigitResult {
                            digits,
                            termination: DigitTermination::Terminator,
                        });
                    }
                    digits.push(c);
                    if digits.len() as u32 >= spec.max.max(1) {
                        return Ok(DigitResult {
                            digits,
                            termination: DigitTermination::MaxDigits,
                        });
                    }
                }
            }
        }
    }

    async fn listen(&self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        let asr = self.asr.as_ref().ok_or(CoreError::Unsupported(
            "listen: no speech recognizer configured",
        ))?;
        let mut leg = self.leg.lock().await;
        // an answer ends at a pause longer than those between a sentence's words
        let mut vad = Vad::new(VadConfig {
            hangover_ms: END_OF_ANSWER_MS,
            ..VadConfig::default()
        });
        let mut asr_session = asr
            .start(RecognitionOptions {
                language: spec.language.clone(),
                sample_rate: 8000,
                interim_results: false,
                hints: spec.hints.clone(),
            })
            .await?;
        // keep 300 ms before the detected start so a soft first syllable is not cut
        let mut preroll: std::collections::VecDeque<Vec<i16>> = std::collections::VecDeque::new();
        let (mut waited, mut spoken) = (0u64, 0u64);
        let mut speaking = false;
        let concealed_before = leg.concealed;
        // the words that barged in on the prompt before this listen come first
        let mut ahead = std::mem::take(&mut leg.heard_ahead).into_iter();
        loop {
            let tick = match ahead.next() {
                Some(f) => Tick::Frame(f),
                None => leg.tick().await,
            };
            match tick {
                Tick::Ended => return Err(CoreError::LegEnded),
                Tick::Digit(d) => {
                    return Ok(Utterance::Digits {
                        digits: d.to_char().to_string(),
                    });
                }
                Tick::Frame(f) => {
                    let ev = vad.process_frame(&f);
                    if speaking {
                        asr_session.push_audio(&f).await?;
                        spoken += 1;
                        if matches!(ev, Some(VadEvent::SpeechEnded { .. }))
                            || spoken >= frames(spec.max_duration)
                        {
                            break;
                        }
                    } else if matches!(ev, Some(VadEvent::SpeechStarted { .. })) {
                        speaking = true;
                        for p in preroll.drain(..) {
                            asr_session.push_audio(&p).await?;
                        }
                        asr_session.push_audio(&f).await?;
                    } else {
                        preroll.push_back(f);
                        if preroll.len() > 15 {
                            preroll.pop_front();
                        }
                        waited += 1;
                        if waited >= frames(spec.no_input_timeout) {
                            return Ok(Utterance::NoInput);
                        }
                    }
                }
            }
        }
        asr_session.finish().await?;
        tracing::debug!(
            waited_ms = waited * FRAME_MS,
            spoken_ms = spoken * FRAME_MS,
            concealed_frames = leg.concealed - concealed_before,
            "listen: answer heard, recognising"
        );
        let (mut text, mut conf, mut n) = (String::new(), 0f32, 0u32);
        while let Some(r) = asr_session.next_result().await {
            let r = r?;
            if r.is_final {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(r.text.trim());
                conf += r.confidence;
                n += 1;
            }
        }
        if text.is_empty() {
            return Ok(Utterance::NoInput);
        }
        Ok(Utterance::Text {
            text,
            confidence: conf / n.max(1) as f32,
        })
    }

    async fn record(&self, spec: &RecordSpec) -> Result<RecordingId, CoreError> {
        crate::wav::create_private_dir(&self.recordings_dir)
            .map_err(|e| CoreError::Media(format!("{}: {e}", self.recordings_dir.display())))?;
        let n = self.recordings.fetch_add(1, Ordering::Relaxed);
        // A UUIDv7 when the center's clock is known, so no restart reuses a name.
        let name = match &self.index {
            Some(ix) => format!(
                "rec-{}.wav",
                callcore::IdSource::mint(&callcore::UuidV7Ids::random(ix.clock.clone()))
            ),
            None => format!("rec-{}-{n}.wav", std::process::id()),
        };
        let path = self.recordings_dir.join(&name);
        let mut rec = WavRecorder::create(&path, ChannelLayout::MonoMixed).map_err(media_err)?;
        let started_at = self
            .index
            .as_ref()
            .map_or(callcore::Timestamp::EPOCH, |ix| ix.clock.now());
        let mut leg = self.leg.lock().await;
        leg.heard_ahead.clear();
        let mut vad = Vad::new(VadConfig {
            hangover_ms: 100,
            ..VadConfig::default()
        });
        let (mut total, mut quiet) = (0u64, 0u64);
        loop {
            match leg.tick().await {
                Tick::Ended => break, // a hang-up ends the recording; the file is complete
                Tick::Digit(d) if Some(d.to_char()) == spec.terminator => break,
                Tick::Digit(_) => {}
                Tick::Frame(f) => {
                    rec.write_frame(&f, &[]).map_err(media_err)?;
                    total += 1;
                    let _ = vad.process_frame(&f);
                    quiet = if vad.is_speaking() { 0 } else { quiet + 1 };
                    if total >= frames(spec.max_duration) || quiet >= frames(spec.silence_timeout) {
                        break;
                    }
                }
            }
        }
        let (info, _) = rec.finish().map_err(media_err)?;
        tracing::debug!(file = %path.display(), ms = info.duration_ms, "recording complete");
        let id = RecordingId::new(name);
        if let Some(ix) = &self.index {
            let meta = RecordingMeta {
                id: id.clone(),
                tenant: ix.tenant.clone(),
                interaction: ix.interaction.clone(),
                path: path.display().to_string(),
                channels: 1,
                started_at,
                duration_ms: info.duration_ms,
            };
            ix.store.save(&meta).await?;
        }
        Ok(id)
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
