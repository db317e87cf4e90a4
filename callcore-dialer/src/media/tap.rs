//! Hearing answered lines through their legs' audio tap ([`Leg::tap`], the
//! tap of callcore's leg-media port): no transport or media engine types, so
//! the dialer works on any transport whose legs carry a media engine with a tap
//! (callcore-sip's `SipTransport` with callcore-media's `RtpMedia`).
//!
//! The tap copies every received frame to the detector while the leg's media
//! control stays free for prompts, and the leg stays on the same engine that
//! bridges and records it once an agent takes the call.
//!
//! ```
//! use std::sync::Arc;
//! use callcore_dialer::media::{MediaClassifier, TappedLines};
//! let amd = MediaClassifier::new(Arc::new(TappedLines::default()));
//! // CampaignRunner::new(pacer, sip_transport, store, clock).classifier(Arc::new(amd))
//! # let _ = amd;
//! ```

use super::{CallAudio, FrameSource};
use callcore::{FrameDirection, Leg};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Frames a slow detector may fall behind by before frames are dropped: 5 s.
const DEFAULT_BACKLOG: usize = 250;

/// The received audio of answered lines, through each leg's tap (see the
/// module docs). A leg that cannot be tapped (no media engine) gives no audio,
/// which [`super::MediaClassifier`] counts as a person.
#[derive(Debug, Clone, Copy)]
pub struct TappedLines {
    backlog: usize,
}

impl Default for TappedLines {
    fn default() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
        }
    }
}

impl TappedLines {
    /// Keeps up to `frames` 20 ms frames for a detector that falls behind;
    /// beyond that, new frames are dropped.
    #[must_use]
    pub const fn backlog(mut self, frames: usize) -> Self {
        self.backlog = if frames == 0 { 1 } else { frames };
        self
    }
}

impl CallAudio for TappedLines {
    fn answered(&self, phone: &str, leg: &dyn Leg) -> Option<Box<dyn FrameSource>> {
        let (tx, rx) = mpsc::channel::<Vec<i16>>(self.backlog);
        let sink = move |direction: FrameDirection, frame: &[i16]| {
            if direction != FrameDirection::Inbound {
                return !tx.is_closed();
            }
            // the detector dropped its source: detach
            !matches!(tx.try_send(frame.to_vec()), Err(TrySendError::Closed(_)))
        };
        match leg.tap(Box::new(sink)) {
            Ok(()) => Some(Box::new(rx)),
            Err(e) => {
                tracing::debug!(leg = %leg.id(), phone = %callcore::Pii::new(phone), error = %e,
                    "no audio tap on this line");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use callcore::{Channel, CoreError, FrameSink, HangupCause, LegId, MediaControl};
    use std::sync::Mutex;

    /// A leg whose tap is driven by the test.
    struct TapLeg {
        id: LegId,
        sink: Mutex<Option<Box<dyn FrameSink>>>,
    }

    impl std::fmt::Debug for TapLeg {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TapLeg")
                .field("id", &self.id)
                .finish_non_exhaustive()
        }
    }

    impl TapLeg {
        fn new() -> Self {
            Self {
                id: LegId::new("line-1"),
                sink: Mutex::new(None),
            }
        }

        /// Pushes a frame; whether the sink stays attached.
        fn push(&self, direction: FrameDirection, value: i16) -> bool {
            let mut sink = self.sink.lock().expect("lock");
            let attached = sink
                .as_mut()
                .is_some_and(|s| s.frame(direction, &[value; 160]));
            if !attached {
                *sink = None;
            }
            attached
        }
    }

    #[async_trait]
    impl Leg for TapLeg {
        fn id(&self) -> &LegId {
            &self.id
        }
        fn channel(&self) -> Channel {
            Channel::Voice
        }
        async fn answer(&self) -> Result<(), CoreError> {
            Ok(())
        }
        async fn hold(&self) -> Result<(), CoreError> {
            Ok(())
        }
        async fn resume(&self) -> Result<(), CoreError> {
            Ok(())
        }
        async fn bridge(&self, _: &dyn Leg) -> Result<(), CoreError> {
            Err(CoreError::Unsupported("test leg"))
        }
        async fn transfer(&self, _: &str) -> Result<(), CoreError> {
            Ok(())
        }
        async fn hangup(&self, _: HangupCause) -> Result<(), CoreError> {
            *self.sink.lock().expect("lock") = None;
            Ok(())
        }
        async fn ended(&self) -> HangupCause {
            HangupCause::Local
        }
        fn tap(&self, sink: Box<dyn FrameSink>) -> Result<(), CoreError> {
            *self.sink.lock().expect("lock") = Some(sink);
            Ok(())
        }
        fn media(&self) -> &dyn MediaControl {
            unreachable!("not used")
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_detector_hears_inbound_frames_until_it_lets_go() {
        let leg = TapLeg::new();
        let mut frames = TappedLines::default()
            .answered("+14155550100", &leg)
            .expect("a tap");
        assert!(
            leg.push(FrameDirection::Outbound, 9),
            "our prompt is not heard"
        );
        assert!(leg.push(FrameDirection::Inbound, 1));
        assert!(leg.push(FrameDirection::Inbound, 2));
        assert_eq!(frames.next_frame().await.map(|f| f[0]), Some(1));
        assert_eq!(frames.next_frame().await.map(|f| f[0]), Some(2));
        drop(frames);
        assert!(!leg.push(FrameDirection::Inbound, 3), "detached");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_end_of_the_leg_ends_the_audio_and_a_slow_detector_loses_frames() {
        let leg = TapLeg::new();
        let mut frames = TappedLines::default()
            .backlog(2)
            .answered("+14155550100", &leg)
            .expect("a tap");
        for v in 1..=4 {
            assert!(leg.push(FrameDirection::Inbound, v));
        }
        let _ = leg.hangup(HangupCause::Remote).await;
        let mut heard = Vec::new();
        while let Some(f) = frames.next_frame().await {
            heard.push(f[0]);
        }
        assert_eq!(
            heard,
            vec![1, 2],
            "the newest frames were dropped, then the end"
        );
    }
}
