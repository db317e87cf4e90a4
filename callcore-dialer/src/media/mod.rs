//! What the dialer hears on a line: answering-machine detection and special
//! information tones, from callcore-media's detectors.
//!
//! * [`CadenceAmd`]: energy/cadence AMD (greeting length, words, silence after
//!   the greeting) over callcore-media's VAD.
//! * [`MediaClassifier`]: an [`AnswerClassifier`] that runs the AMD and
//!   callcore-media's SIT detector on the first seconds after answer — an
//!   intercept or vacant-code SIT there (networks that answer to play one)
//!   gives [`Disposition::InvalidNumber`].
//! * [`screen_early_media`]: the SIT detector on early media while the line
//!   rings; the runner ends the attempt with the SIT's disposition.
//!
//! Audio reaches them through [`CallAudio`]. [`TappedLines`] hears each
//! answered leg through its audio tap ([`callcore::Leg::tap`], the tap of
//! callcore's leg-media port): on real SIP calls, callcore-sip's
//! `SipTransport` with callcore-media's `RtpMedia` as its media engine — the
//! same engine that bridges and records the call once an agent takes it.
//! [`PcmFrames`] plays a buffer of samples as a line would (a frame every
//! 20 ms on a [`callcore::Clock`]), and a `tokio::sync::mpsc::Receiver<Vec<i16>>`
//! is a [`FrameSource`] for a media layer that pushes frames.

mod amd;
mod classify;
mod tap;

pub use amd::{AmdConfig, AmdVerdict, CadenceAmd};
pub use classify::{
    AnswerClassifier, AssumePerson, Classification, MediaClassifier, screen_early_media, sit_tone,
};
pub use tap::TappedLines;

use async_trait::async_trait;
use callcore::{Clock, Disposition, Leg};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// Received audio of one call: 8 kHz, 16-bit mono, 20 ms frames.
#[async_trait]
pub trait FrameSource: Send {
    /// The next frame; `None` when the line's audio ends.
    async fn next_frame(&mut self) -> Option<Vec<i16>>;
}

#[async_trait]
impl FrameSource for tokio::sync::mpsc::Receiver<Vec<i16>> {
    async fn next_frame(&mut self) -> Option<Vec<i16>> {
        self.recv().await
    }
}

/// Where the received audio of placed calls comes from (the media layer under
/// the transport).
pub trait CallAudio: Send + Sync + fmt::Debug {
    /// Early media on the line to `phone` while it rings, if any.
    fn early_media(&self, _phone: &str) -> Option<Box<dyn FrameSource>> {
        None
    }

    /// The audio received on `leg` (the line to `phone`) from answer on.
    fn answered(&self, phone: &str, leg: &dyn Leg) -> Option<Box<dyn FrameSource>>;
}

/// A buffer of samples delivered like a live line: one 20 ms frame every
/// 20 ms of `clock` time, then the end.
pub struct PcmFrames {
    samples: Vec<i16>,
    at: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PcmFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcmFrames")
            .field("samples", &self.samples.len())
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl PcmFrames {
    /// Plays `samples` (8 kHz) on `clock`.
    #[must_use]
    pub fn new(samples: Vec<i16>, clock: Arc<dyn Clock>) -> Self {
        Self {
            samples,
            at: 0,
            clock,
        }
    }
}

#[async_trait]
impl FrameSource for PcmFrames {
    async fn next_frame(&mut self) -> Option<Vec<i16>> {
        if self.at >= self.samples.len() {
            return None;
        }
        self.clock.sleep(Duration::from_millis(20)).await;
        let end = (self.at + FRAME_SAMPLES).min(self.samples.len());
        let mut frame = self.samples[self.at..end].to_vec();
        frame.resize(FRAME_SAMPLES, 0);
        self.at = end;
        Some(frame)
    }
}

/// Disposition of an attempt whose audio carried a SIT (see
/// [`crate::rules::disposition_for_sit`]).
fn sit_disposition(code: callcore_media::tones::SitCode) -> Disposition {
    crate::rules::disposition_for_sit(sit_tone(code))
}
