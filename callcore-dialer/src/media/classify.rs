//! Classifying an answered line: person, machine, or a network announcement.

use super::{AmdConfig, AmdVerdict, CadenceAmd, CallAudio, FrameSource, sit_disposition};
use crate::AnsweredBy;
use crate::rules::SitTone;
use async_trait::async_trait;
use callcore::{Disposition, Leg};
use callcore_media::sit::SitDetector;
use callcore_media::tones::SitCode;
use std::fmt;
use std::sync::Arc;

/// Who or what answered a line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Classification {
    /// A person or an answering machine.
    Answered(AnsweredBy),
    /// The network answered to play an announcement (a SIT): the attempt ends
    /// with this disposition, as if it had failed before answer.
    Network(Disposition),
}

/// Decides who answered a call, right after answer (AMD).
#[async_trait]
pub trait AnswerClassifier: Send + Sync + fmt::Debug {
    /// Classifies the answered `leg`, dialed to `phone`.
    async fn classify(&self, phone: &str, leg: &dyn Leg) -> Classification;
}

/// Treats every answer as a person (no AMD).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumePerson;

#[async_trait]
impl AnswerClassifier for AssumePerson {
    async fn classify(&self, _phone: &str, _leg: &dyn Leg) -> Classification {
        Classification::Answered(AnsweredBy::Person)
    }
}

/// The dialer's SIT class for callcore-media's detected code.
#[must_use]
pub fn sit_tone(code: SitCode) -> SitTone {
    match code {
        SitCode::Intercept => SitTone::Intercept,
        SitCode::VacantCode => SitTone::VacantCode,
        SitCode::Reorder => SitTone::Reorder,
        SitCode::NoCircuit => SitTone::NoCircuit,
        _ => SitTone::IneffectiveOther,
    }
}

/// AMD and SIT detection on the audio after answer (see the module docs).
#[derive(Debug, Clone)]
pub struct MediaClassifier {
    audio: Arc<dyn CallAudio>,
    amd: AmdConfig,
    silence: AnsweredBy,
    not_sure: AnsweredBy,
}

impl MediaClassifier {
    /// Classifies from `audio` with the default [`AmdConfig`]. Silence and
    /// undecided lines count as people: hanging up on a person who waits is an
    /// abandoned call, connecting a machine only costs an agent a moment.
    #[must_use]
    pub fn new(audio: Arc<dyn CallAudio>) -> Self {
        Self {
            audio,
            amd: AmdConfig::default(),
            silence: AnsweredBy::Person,
            not_sure: AnsweredBy::Person,
        }
    }

    /// Sets the AMD thresholds.
    #[must_use]
    pub fn amd(mut self, config: AmdConfig) -> Self {
        self.amd = config;
        self
    }

    /// What [`AmdVerdict::Silence`] and [`AmdVerdict::NotSure`] count as.
    #[must_use]
    pub const fn undecided_as(mut self, silence: AnsweredBy, not_sure: AnsweredBy) -> Self {
        self.silence = silence;
        self.not_sure = not_sure;
        self
    }

    /// Classifies a stream of frames from answer on.
    pub async fn classify_frames(&self, frames: &mut dyn FrameSource) -> Classification {
        let mut amd = CadenceAmd::new(self.amd.clone());
        let mut sit = SitDetector::new();
        while let Some(frame) = frames.next_frame().await {
            if let Some(hit) = sit.process(&frame)
                && let Some(code) = hit.code
            {
                return Classification::Network(sit_disposition(code));
            }
            if let Some(verdict) = amd.process_frame(&frame) {
                let by = match verdict {
                    AmdVerdict::Person => AnsweredBy::Person,
                    AmdVerdict::Machine => AnsweredBy::Machine,
                    AmdVerdict::Silence => self.silence,
                    _ => self.not_sure,
                };
                return Classification::Answered(by);
            }
        }
        // The audio ended first (the line hung up): nobody to keep waiting.
        Classification::Answered(self.not_sure)
    }
}

#[async_trait]
impl AnswerClassifier for MediaClassifier {
    async fn classify(&self, phone: &str, leg: &dyn Leg) -> Classification {
        match self.audio.answered(phone, leg) {
            Some(mut frames) => self.classify_frames(frames.as_mut()).await,
            None => Classification::Answered(AnsweredBy::Person),
        }
    }
}

/// Listens to early media for a SIT; the disposition it means, or `None`
/// when the early media ends without one (then the call goes on ringing).
pub async fn screen_early_media(mut frames: Box<dyn FrameSource>) -> Option<Disposition> {
    let mut sit = SitDetector::new();
    while let Some(frame) = frames.next_frame().await {
        if let Some(hit) = sit.process(&frame)
            && let Some(code) = hit.code
        {
            return Some(sit_disposition(code));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FRAME_SAMPLES;
    use callcore_media::tones::{ToneGenerator, ToneKind, ToneRegion};

    /// Frames straight from a buffer, no pacing.
    struct Buffer(std::vec::IntoIter<Vec<i16>>);

    #[async_trait]
    impl FrameSource for Buffer {
        async fn next_frame(&mut self) -> Option<Vec<i16>> {
            self.0.next()
        }
    }

    fn frames(audio: &[i16]) -> Box<dyn FrameSource> {
        let v: Vec<Vec<i16>> = audio.chunks(FRAME_SAMPLES).map(<[i16]>::to_vec).collect();
        Box::new(Buffer(v.into_iter()))
    }

    fn with_sit(code: SitCode) -> Vec<i16> {
        let mut audio = ToneGenerator::new(ToneKind::Ringback.plan(ToneRegion::NorthAmerica), 8000)
            .take_ms(2000);
        audio.extend(ToneGenerator::new(code.plan(-24.0), 8000).take_ms(1200));
        audio.extend(vec![0; 8000]);
        audio
    }

    #[tokio::test(flavor = "current_thread")]
    async fn early_media_sits_give_their_dispositions() {
        for (code, want) in [
            (SitCode::VacantCode, Disposition::InvalidNumber),
            (SitCode::Intercept, Disposition::InvalidNumber),
            (SitCode::NoCircuit, Disposition::Congestion),
            (SitCode::Reorder, Disposition::Congestion),
        ] {
            let got = screen_early_media(frames(&with_sit(code))).await;
            assert_eq!(got, Some(want), "{code:?}");
        }
        // Plain ringback is no reason to end the attempt.
        let ringback = ToneGenerator::new(ToneKind::Ringback.plan(ToneRegion::NorthAmerica), 8000)
            .take_ms(12_000);
        assert_eq!(screen_early_media(frames(&ringback)).await, None);
    }

    #[derive(Debug)]
    struct NoAudio;

    impl CallAudio for NoAudio {
        fn answered(&self, _phone: &str, _leg: &dyn Leg) -> Option<Box<dyn FrameSource>> {
            None
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sit_after_answer_is_the_network_not_a_machine() {
        let classifier = MediaClassifier::new(Arc::new(NoAudio));
        let mut audio = vec![0i16; 2400];
        audio.extend(ToneGenerator::new(SitCode::Intercept.plan(-24.0), 8000).take_ms(1100));
        let got = classifier.classify_frames(frames(&audio).as_mut()).await;
        assert_eq!(got, Classification::Network(Disposition::InvalidNumber));
        // Silence counts as a person by default, as a machine when asked.
        let quiet = vec![0i16; 8000 * 4];
        let got = classifier.classify_frames(frames(&quiet).as_mut()).await;
        assert_eq!(got, Classification::Answered(AnsweredBy::Person));
        let strict = classifier.undecided_as(AnsweredBy::Machine, AnsweredBy::Person);
        let got = strict.classify_frames(frames(&quiet).as_mut()).await;
        assert_eq!(got, Classification::Answered(AnsweredBy::Machine));
    }
}
