//! Background audio on the customer's leg: what plays to the customer while
//! the call's loop serves everything else (music on hold), and stops the
//! moment the call says so or the loop ends.
//!
//! [`CustomerAudio`] is the slot the call's commands set; [`Playing`] is the
//! audio itself, owned by the loop that serves the call (it borrows the
//! customer's leg) and polled next to the call's wake-ups. Any loop serving
//! the call can own a `Playing` and follow the slot (music while waiting in
//! queue uses the same pieces).

use callcore::{Clock, Leg, Prompt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What should play to the customer in the background, if anything.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CustomerAudio {
    wanted: Option<Prompt>,
}

impl CustomerAudio {
    /// Plays `prompt` (repeated while it lasts) from now on; `None` stops.
    pub(crate) fn set(&mut self, prompt: Option<Prompt>) {
        self.wanted = prompt;
    }
}

type Play<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The background audio playing on one leg.
#[derive(Default)]
pub(crate) struct Playing<'a> {
    prompt: Option<Prompt>,
    play: Option<Play<'a>>,
}

impl<'a> Playing<'a> {
    /// Starts, restarts or stops the audio when the slot changed.
    pub(crate) fn follow(
        &mut self,
        audio: &CustomerAudio,
        leg: &'a dyn Leg,
        clock: &Arc<dyn Clock>,
    ) {
        if audio.wanted == self.prompt {
            return;
        }
        self.prompt.clone_from(&audio.wanted);
        self.play = self
            .prompt
            .clone()
            .map(|p| Box::pin(repeat(leg, p, clock.clone())) as Play<'a>);
    }

    /// Plays; completes once when the audio ends by itself (the leg ended,
    /// the engine has nothing to play), then never again until restarted.
    /// Cancel-safe: dropping it pauses nothing, the audio resumes on the
    /// next call.
    pub(crate) async fn run(&mut self) {
        match &mut self.play {
            Some(play) => {
                play.await;
                self.play = None;
            }
            None => std::future::pending().await,
        }
    }
}

/// Plays `prompt` again and again while each play takes time (an engine
/// that returns at once — nothing to play — is not asked twice).
async fn repeat(leg: &dyn Leg, prompt: Prompt, clock: Arc<dyn Clock>) {
    loop {
        let started = clock.now();
        match leg.media().play(&prompt, false).await {
            Ok(_) if clock.now() > started => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "background audio stopped");
                return;
            }
        }
    }
}
