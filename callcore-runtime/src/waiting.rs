//! What a caller hears while waiting in a queue: music on hold, interrupted
//! every [`WaitOptions::announce_every`] by their position and expected wait
//! (asked of the router when the announcement is due, so it is current),
//! comfort messages in turn, and an offer to be called back: the
//! [`WaitOptions::callback_key`] ends the caller's call with a callback
//! request ([`QueueOutcome::CallbackRequested`](crate::QueueOutcome)) and they
//! hear a confirmation. The router is asked to keep their place
//! (`RouterInput::RequestCallback`: the exit counts as a callback, not an
//! abandonment); when its turn comes and an agent answers, the center calls
//! the customer back and bridges them (see `callback.rs`). A router that keeps
//! no callbacks has the call leave the queue, and the flow books the callback.
//!
//! ```text
//!  stay in queue ──► offer the callback (once, when a key is set)
//!        │           music (barge-in on: a key stops it)  ◄─────┐
//!        │             ├─ a key: the callback key? ─► leave ────┼─► "we will call you back"
//!        │             └─ announcement due: position, EWT, comfort, offer
//!        └─ any wake-up of the call (an agent connects, the router gives up,
//!           the caller hangs up): the music future is dropped first
//! ```
//!
//! The [`Entertainer`] is driven by the call's glue only while the call waits
//! for an agent; the glue races it against the call's own wake-ups and drops
//! it (stopping the music) before it acts on one — before a bridge, in
//! particular. A media operation is never left running while the glue uses
//! the customer's leg itself.
//!
//! The music is [`Prompt::MusicOnHold`] (the transport's own, looped by it)
//! or a file, replayed while the caller waits. A transport whose play returns
//! at once (the in-memory one) is taken to keep playing on its own; keys are
//! then read with `collect_digits`.

use crate::center::Shared;
use crate::routing_task::RouterCommand;
use callcore::{
    Clock, CoreError, DigitSpec, InteractionId, Leg, PlayOutcome, Prompt, QueuePosition, Timestamp,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What a caller hears while waiting in a queue (per stay: see
/// [`QueueOptions::waiting`](crate::QueueOptions::waiting)).
///
/// ```
/// use callcore_runtime::WaitOptions;
/// use std::time::Duration;
/// let waiting = WaitOptions {
///     announce_every: Some(Duration::from_secs(45)),
///     callback_key: Some('1'),
///     comfort: vec!["Your call is important to us.".into()],
///     ..WaitOptions::default()
/// };
/// assert!(waiting.offer_text().is_some_and(|t| t.contains("press 1")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// The music: [`Prompt::MusicOnHold`] (the default: the transport's), a
    /// file, or `None` for silence.
    pub music: Option<Prompt>,
    /// Interrupt the music this often with an announcement (`None`: never).
    pub announce_every: Option<Duration>,
    /// The periodic announcement tells the position ("You are caller 3")
    /// and, when the router estimates it, the expected wait.
    pub announce_position: bool,
    /// Comfort messages, one per announcement, in turn.
    pub comfort: Vec<String>,
    /// The key that asks for a callback instead of waiting (`None`: no
    /// offer).
    pub callback_key: Option<char>,
    /// The offer, said on entering and with every announcement; `{key}` is
    /// replaced by the key.
    pub callback_offer: String,
    /// Said once the callback is requested.
    pub callback_confirmation: String,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            music: Some(Prompt::MusicOnHold),
            announce_every: None,
            announce_position: true,
            comfort: Vec::new(),
            callback_key: None,
            callback_offer:
                "To be called back without losing your place in the queue, press {key}.".into(),
            callback_confirmation:
                "Thank you. You keep your place in the queue, and we will call you back. Goodbye."
                    .into(),
        }
    }
}

impl WaitOptions {
    /// Silence: no music, no announcements, no callback offer.
    #[must_use]
    pub fn silent() -> Self {
        Self {
            music: None,
            ..Self::default()
        }
    }

    /// The callback offer with its key, when a key is set.
    #[must_use]
    pub fn offer_text(&self) -> Option<String> {
        self.callback_key
            .map(|k| self.callback_offer.replace("{key}", &k.to_string()))
    }

    /// Whether waiting means anything to hear or press.
    fn is_silent(&self) -> bool {
        self.music.is_none() && self.announce_every.is_none() && self.callback_key.is_none()
    }
}

/// The periodic announcement: position and expected wait.
pub(crate) fn position_text(p: QueuePosition) -> String {
    let mut text = format!("You are caller {} in the queue.", p.position);
    if let Some(secs) = p.estimated_wait_secs {
        let minutes = secs.div_ceil(60).max(1);
        text.push_str(&format!(
            " The expected wait is about {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ));
    }
    text
}

/// What the caller did while being entertained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entertained {
    /// They pressed the callback key.
    CallbackRequested,
}

/// Plays the waiting experience of one stay (see the module docs).
pub(crate) struct Entertainer {
    options: WaitOptions,
    clock: Arc<dyn Clock>,
    router: mpsc::UnboundedSender<RouterCommand>,
    interaction: InteractionId,
    /// Where the show is, kept across the glue's restarts of [`Self::run`].
    progress: Mutex<Progress>,
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    next_announcement: Option<Timestamp>,
    offered: bool,
    comfort_next: usize,
}

impl Entertainer {
    /// The waiting experience of `interaction` entering a queue now; `None`
    /// when there is nothing to hear.
    pub(crate) fn new(
        options: &WaitOptions,
        shared: &Shared,
        interaction: InteractionId,
    ) -> Option<Self> {
        if options.is_silent() {
            return None;
        }
        let now = shared.clock.now();
        Some(Self {
            progress: Mutex::new(Progress {
                next_announcement: options.announce_every.map(|every| now + every),
                offered: options.callback_key.is_none(),
                comfort_next: 0,
            }),
            options: options.clone(),
            clock: shared.clock.clone(),
            router: shared.router.clone(),
            interaction,
        })
    }

    /// Entertains the caller until they press the callback key (never
    /// returns otherwise: the glue drops it when the call wakes up).
    pub(crate) async fn run(&self, leg: &dyn Leg) -> Entertained {
        loop {
            if !self.progress().offered {
                if let Some(text) = self.options.offer_text()
                    && self.say(leg, &text).await
                {
                    return Entertained::CallbackRequested;
                }
                // said to the end (a show dropped meanwhile says it again)
                self.update(|p| p.offered = true);
            }
            let due = self.progress().next_announcement;
            let clock = self.clock.clone();
            let key = tokio::select! {
                k = listen(leg, self.options.music.as_ref(), &*self.clock) => Some(k),
                () = async {
                    match due {
                        Some(t) => clock.sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => None,
            };
            match key {
                Some(k) if Some(k) == self.options.callback_key => {
                    return Entertained::CallbackRequested;
                }
                Some(_) => {}
                None => {
                    if let Some(every) = self.options.announce_every {
                        let next = self.clock.now() + every;
                        self.update(|p| p.next_announcement = Some(next));
                    }
                    let text = self.announcement().await;
                    if !text.is_empty() && self.say(leg, &text).await {
                        return Entertained::CallbackRequested;
                    }
                }
            }
        }
    }

    /// Tells the caller the callback is booked.
    pub(crate) async fn confirm_callback(&self, leg: &dyn Leg) {
        if let Err(e) = leg
            .media()
            .say(&self.options.callback_confirmation, false)
            .await
            && !matches!(e, CoreError::LegEnded)
        {
            tracing::warn!(error = %e, "confirming the callback failed");
        }
    }

    /// The announcement due now: position and wait, a comfort message, the
    /// callback offer.
    fn progress(&self) -> Progress {
        *self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    async fn announcement(&self) -> String {
        let mut parts = Vec::new();
        if self.options.announce_position
            && let Some(p) = self.position().await
        {
            parts.push(position_text(p));
        }
        if !self.options.comfort.is_empty() {
            let i = self.progress().comfort_next % self.options.comfort.len();
            self.update(|p| p.comfort_next = i + 1);
            parts.push(self.options.comfort[i].clone());
        }
        if let Some(offer) = self.options.offer_text() {
            parts.push(offer);
        }
        parts.join(" ")
    }

    async fn position(&self) -> Option<QueuePosition> {
        let (tx, rx) = oneshot::channel();
        self.router
            .send(RouterCommand::Position(self.interaction.clone(), tx))
            .ok()?;
        rx.await.ok().flatten()
    }

    /// Says `text`, interruptible by a key; whether the key was the callback
    /// key.
    async fn say(&self, leg: &dyn Leg, text: &str) -> bool {
        match leg.media().say(text, true).await {
            Ok(PlayOutcome::BargedIn(keys)) => {
                let Some(k) = keys.chars().next() else {
                    return false;
                };
                consume_key(leg).await;
                Some(k) == self.options.callback_key
            }
            Ok(_) => false,
            Err(e) => {
                if !matches!(e, CoreError::LegEnded) {
                    tracing::warn!(error = %e, "waiting announcement failed");
                }
                false
            }
        }
    }
}

/// Reads the key that interrupted a prompt off the type-ahead buffer.
async fn consume_key(leg: &dyn Leg) {
    let spec = DigitSpec {
        min: 1,
        max: 1,
        terminator: None,
        first_digit_timeout: Duration::from_millis(100),
        inter_digit_timeout: Duration::from_millis(100),
    };
    let _ = leg.media().collect_digits(&spec).await;
}

/// Plays the music until the caller presses a key; the key. Never returns
/// when the leg fails (the glue notices the hang-up).
async fn listen(leg: &dyn Leg, music: Option<&Prompt>, clock: &dyn Clock) -> char {
    let media = leg.media();
    loop {
        if let Some(prompt) = music {
            let started = clock.now();
            match media.play(prompt, true).await {
                Ok(PlayOutcome::BargedIn(keys)) => {
                    if let Some(k) = keys.chars().next() {
                        consume_key(leg).await;
                        return k;
                    }
                    // the caller spoke over the music: it goes on
                    continue;
                }
                // a file that played to its end: again
                Ok(_) if clock.now().duration_since(started) >= Duration::from_secs(1) => continue,
                // played on by the transport itself: listen for keys below
                Ok(_) => {}
                Err(e) => {
                    if !matches!(e, CoreError::LegEnded) {
                        tracing::warn!(error = %e, "music on hold failed");
                    }
                }
            }
        }
        let spec = DigitSpec {
            min: 1,
            max: 1,
            terminator: None,
            first_digit_timeout: Duration::from_secs(3600),
            inter_digit_timeout: Duration::from_secs(1),
        };
        match media.collect_digits(&spec).await {
            Ok(r) => {
                if let Some(k) = r.digits.chars().next() {
                    return k;
                }
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_says_position_and_rounded_up_minutes() {
        let p = |position, estimated_wait_secs| QueuePosition {
            position,
            estimated_wait_secs,
        };
        assert_eq!(position_text(p(3, None)), "You are caller 3 in the queue.");
        assert_eq!(
            position_text(p(1, Some(30))),
            "You are caller 1 in the queue. The expected wait is about 1 minute."
        );
        assert_eq!(
            position_text(p(2, Some(121))),
            "You are caller 2 in the queue. The expected wait is about 3 minutes."
        );
        let o = WaitOptions {
            callback_key: Some('9'),
            ..WaitOptions::default()
        };
        assert_eq!(
            o.offer_text().as_deref(),
            Some("To be called back without losing your place in the queue, press 9.")
        );
        assert!(WaitOptions::silent().is_silent());
        assert!(!WaitOptions::default().is_silent());
    }
}
