//! The received audio of real SIP calls: a media engine for callcore-sip's
//! `SipTransport` that lets the dialer hear each answered line (feature `sip`).
//!
//! callcore-sip's own engine hands a leg's received frames only to its
//! `MediaControl` (prompts, digits, recording), which reads them while an
//! operation runs. [`DialerRtpMedia`] gives each leg the same callcore-media
//! RTP stack ([`LegMedia`]) but keeps the leg's media session in one place
//! that two users take turns on: the AMD ([`CallAudio::answered`] takes the
//! session and reads every 20 ms frame from answer on) and the leg's media
//! control (built on the first `play`/`say`/... once the AMD let go; an
//! operation asked for while the AMD listens waits for it). Bridging to an
//! agent relays RTP between the two legs as callcore-sip's engine does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use callcore_dialer::media::{DialerRtpMedia, MediaClassifier};
//! use callcore_sip::center_media::RtpMediaConfig;
//! let media = Arc::new(DialerRtpMedia::new(RtpMediaConfig::loopback(20000..=20999)));
//! // SipTransport::start(config, clock, Some(media.clone())).await?;
//! let amd = MediaClassifier::new(media.clone());
//! // CampaignRunner::new(..).classifier(Arc::new(amd))
//! # Ok(()) }
//! ```

use super::{CallAudio, FrameSource};
use async_trait::async_trait;
use callcore::{
    CoreError, DigitResult, DigitSpec, InteractionId, Leg, LegId, ListenSpec, MediaControl,
    PlayOutcome, Prompt, RecordSpec, RecordingId, SpeechRecognizer, SpeechSynthesizer, Utterance,
};
use callcore_media::control::VoiceLegMedia;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig};
use callcore_media::udp::{MediaSession, PortAllocator, SessionEvent};
use callcore_sip::center::{LegMediaPort, MediaAttach, SipLeg};
use callcore_sip::center_media::{RtpMediaConfig, negotiated};
use callcore_sip::session::NegotiatedAudio;
use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// callcore-media's RTP stack as the media engine of a dialer's
/// `SipTransport`, with each answered line's audio open to the AMD (see the
/// module docs). `record_bridged` of the configuration is not supported here.
#[derive(Clone)]
pub struct DialerRtpMedia {
    config: RtpMediaConfig,
    ports: Arc<PortAllocator>,
    ssrc: Arc<AtomicU32>,
    tts: Option<Arc<dyn SpeechSynthesizer>>,
    asr: Option<Arc<dyn SpeechRecognizer>>,
}

impl fmt::Debug for DialerRtpMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialerRtpMedia")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DialerRtpMedia {
    /// An engine allocating RTP ports from `config.ports`.
    #[must_use]
    pub fn new(config: RtpMediaConfig) -> Self {
        Self {
            ports: Arc::new(PortAllocator::new(config.ip, config.ports.clone())),
            config,
            ssrc: Arc::new(AtomicU32::new(0x0D1A_1000)),
            tts: None,
            asr: None,
        }
    }

    /// Speech synthesis for `say` (notification messages, safe-harbor).
    #[must_use]
    pub fn with_synthesizer(mut self, tts: Arc<dyn SpeechSynthesizer>) -> Self {
        self.tts = Some(tts);
        self
    }

    /// Speech recognition for `listen`.
    #[must_use]
    pub fn with_recognizer(mut self, asr: Arc<dyn SpeechRecognizer>) -> Self {
        self.asr = Some(asr);
        self
    }
}

#[async_trait]
impl MediaAttach for DialerRtpMedia {
    async fn reserve(
        &self,
        leg: &LegId,
        _interaction: Option<&InteractionId>,
    ) -> Result<Arc<dyn LegMediaPort>, CoreError> {
        let config = LegMediaConfig {
            ssrc: self.ssrc.fetch_add(0x0101, Ordering::Relaxed),
            prompts_dir: self.config.prompts_dir.clone(),
            recordings_dir: self.config.recordings_dir.clone(),
            ..LegMediaConfig::default()
        };
        let media = LegMedia::reserve(&self.ports, config)
            .await
            .map_err(|e| CoreError::Media(e.to_string()))?;
        Ok(Arc::new(DialerLeg {
            leg: leg.clone(),
            media,
            line: Arc::new(Line {
                state: Mutex::new(LineState::Waiting),
                changed: Notify::new(),
                engine: self.clone(),
            }),
        }))
    }
}

impl CallAudio for DialerRtpMedia {
    fn answered(&self, _phone: &str, leg: &dyn Leg) -> Option<Box<dyn FrameSource>> {
        let port = leg.as_any().downcast_ref::<SipLeg>()?.media_port()?;
        let line = port.as_any().downcast_ref::<DialerLeg>()?;
        Some(Box::new(HeardLine {
            line: line.line.clone(),
            session: None,
        }))
    }
}

/// Who holds a leg's media session.
enum LineState {
    /// No SDP negotiated yet.
    Waiting,
    /// Negotiated, nobody reading.
    Idle(MediaSession),
    /// The AMD reads the frames.
    Heard,
    /// The leg's media control owns it.
    Control(Arc<VoiceLegMedia>),
    /// The leg's media has ended.
    Ended,
}

/// The session of one leg and the notice of its hand-overs.
struct Line {
    state: Mutex<LineState>,
    changed: Notify,
    engine: DialerRtpMedia,
}

impl Line {
    fn state(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, state: LineState) {
        *self.state() = state;
        self.changed.notify_waiters();
    }

    /// The leg's media control, built from the session when first asked for;
    /// waits while the AMD listens.
    async fn control(&self) -> Result<Arc<VoiceLegMedia>, CoreError> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.state();
                match std::mem::replace(&mut *state, LineState::Ended) {
                    LineState::Idle(session) => {
                        let engine = &self.engine;
                        let mut control = VoiceLegMedia::new(
                            session,
                            engine.config.prompts_dir.clone(),
                            engine.config.recordings_dir.clone(),
                        );
                        if let Some(tts) = &engine.tts {
                            control = control.with_synthesizer(tts.clone());
                        }
                        if let Some(asr) = &engine.asr {
                            control = control.with_recognizer(asr.clone());
                        }
                        let control = Arc::new(control);
                        *state = LineState::Control(control.clone());
                        return Ok(control);
                    }
                    LineState::Control(c) => {
                        *state = LineState::Control(c.clone());
                        return Ok(c);
                    }
                    LineState::Ended => return Err(CoreError::LegEnded),
                    other => *state = other,
                }
            }
            changed.await;
        }
    }

    /// Takes the session for the AMD: `None` once the leg's media control
    /// owns it or the leg ended; waits for the negotiation.
    async fn hear(&self) -> Option<MediaSession> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.state();
                match std::mem::replace(&mut *state, LineState::Heard) {
                    LineState::Idle(session) => return Some(session),
                    LineState::Waiting => *state = LineState::Waiting,
                    other => {
                        *state = other;
                        return None;
                    }
                }
            }
            changed.await;
        }
    }

    /// The AMD is done: the session goes back for the media control.
    fn release(&self, session: MediaSession) {
        let mut state = self.state();
        if matches!(*state, LineState::Heard) {
            *state = LineState::Idle(session);
            drop(state);
            self.changed.notify_waiters();
        }
    }
}

/// The AMD's view of a line: every received 20 ms frame until the line's
/// audio ends; dropping it hands the session back.
struct HeardLine {
    line: Arc<Line>,
    session: Option<MediaSession>,
}

#[async_trait]
impl FrameSource for HeardLine {
    async fn next_frame(&mut self) -> Option<Vec<i16>> {
        if self.session.is_none() {
            self.session = Some(self.line.hear().await?);
        }
        let session = self.session.as_mut()?;
        loop {
            match session.next_event().await? {
                SessionEvent::Audio(frame, _) => return Some(frame),
                SessionEvent::Ended(_)
                | SessionEvent::Endpoint(
                    callcore_media::endpoint::EndpointEvent::MediaTimeout
                    | callcore_media::endpoint::EndpointEvent::RemoteBye,
                ) => return None,
                _ => {}
            }
        }
    }
}

impl Drop for HeardLine {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.line.release(session);
        }
    }
}

/// One leg's media under [`DialerRtpMedia`].
pub struct DialerLeg {
    leg: LegId,
    media: LegMedia,
    line: Arc<Line>,
}

impl fmt::Debug for DialerLeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialerLeg")
            .field("leg", &self.leg)
            .field("rtp", &self.media.local_rtp())
            .finish_non_exhaustive()
    }
}

impl LegMediaPort for DialerLeg {
    fn local_rtp(&self) -> SocketAddr {
        self.media.local_rtp()
    }

    fn negotiated(&self, audio: &NegotiatedAudio) -> Option<Arc<dyn MediaControl>> {
        match self.media.start_session(negotiated(audio)) {
            Ok(Some(session)) => {
                self.line.set(LineState::Idle(session));
                Some(Arc::new(LineControl {
                    line: self.line.clone(),
                }))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(leg = %self.leg, error = %e, "starting leg media failed");
                None
            }
        }
    }

    fn bridge(&self, other: &dyn LegMediaPort) -> Result<(), CoreError> {
        let other = other
            .as_any()
            .downcast_ref::<DialerLeg>()
            .ok_or(CoreError::Unsupported(
                "bridging legs of different media engines",
            ))?;
        self.media
            .bridge(&other.media, None)
            .map_err(|e| CoreError::Media(e.to_string()))
    }

    fn close(&self) {
        self.media.close();
        self.line.set(LineState::Ended);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The leg's `MediaControl`, on the session once the AMD let go of it.
struct LineControl {
    line: Arc<Line>,
}

#[async_trait]
impl MediaControl for LineControl {
    async fn play(&self, prompt: &Prompt, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.line.control().await?.play(prompt, barge_in).await
    }

    async fn say(&self, text: &str, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.line.control().await?.say(text, barge_in).await
    }

    async fn collect_digits(&self, spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        self.line.control().await?.collect_digits(spec).await
    }

    async fn listen(&self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        self.line.control().await?.listen(spec).await
    }

    async fn record(&self, spec: &RecordSpec) -> Result<RecordingId, CoreError> {
        self.line.control().await?.record(spec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore_media::udp::MediaSessionConfig;

    fn line(session: Option<MediaSession>) -> Arc<Line> {
        Arc::new(Line {
            state: Mutex::new(session.map_or(LineState::Waiting, LineState::Idle)),
            changed: Notify::new(),
            engine: DialerRtpMedia::new(RtpMediaConfig::loopback(30000..=39999)),
        })
    }

    async fn session() -> MediaSession {
        let ports = PortAllocator::new([127, 0, 0, 1].into(), 30000..=39999);
        MediaSession::start(&ports, MediaSessionConfig::default())
            .await
            .expect("a loopback port pair")
    }

    #[tokio::test]
    async fn the_media_control_waits_for_the_amd_and_then_gets_the_session() {
        let line = line(Some(session().await));
        let mut heard = HeardLine {
            line: line.clone(),
            session: None,
        };
        // a frame every 20 ms from the start, silence before any RTP
        assert_eq!(heard.next_frame().await.map(|f| f.len()), Some(160));
        assert!(matches!(*line.state(), LineState::Heard));
        let waiting = tokio::spawn({
            let line = line.clone();
            async move { line.control().await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no control while the AMD listens");
        drop(heard);
        assert!(waiting.await.expect("control task"));
        assert!(matches!(*line.state(), LineState::Control(_)));
        // the control keeps the session: a later AMD hears nothing
        assert!(line.hear().await.is_none());
    }

    #[tokio::test]
    async fn the_amd_waits_for_the_negotiation_and_a_closed_line_ends_both() {
        let line = line(None);
        let hearing = tokio::spawn({
            let line = line.clone();
            async move { line.hear().await.is_some() }
        });
        tokio::task::yield_now().await;
        line.set(LineState::Idle(session().await));
        assert!(hearing.await.expect("hear task"));
        line.set(LineState::Ended);
        assert!(matches!(line.control().await, Err(CoreError::LegEnded)));
        assert!(line.hear().await.is_none());
    }
}
