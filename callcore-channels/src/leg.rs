//! The customer's side of a message conversation as a [`Leg`]: it stays up
//! while the conversation is open. On a conversational inbox
//! ([`Inbox::set_conversational`]) a flow's `say` is sent to the customer as
//! a message (skipped, like a prompt the caller barged into, when the
//! customer already wrote something unread) and `listen` reads their next
//! message; otherwise media actions are quiet (announcements while waiting
//! are not sent as messages).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use callcore::{
    Channel, CoreError, DigitResult, DigitSpec, HangupCause, InteractionId, Leg, LegId, ListenSpec,
    MediaControl, PlayOutcome, Prompt, RecordSpec, RecordingId, Utterance,
};

use crate::Inbox;

/// The customer's leg of a conversation of an [`Inbox`].
#[derive(Debug)]
pub struct MessageLeg {
    id: LegId,
    channel: Channel,
    interaction: InteractionId,
    inbox: Arc<Inbox>,
}

impl MessageLeg {
    pub(crate) fn new(
        id: LegId,
        channel: Channel,
        interaction: InteractionId,
        inbox: Arc<Inbox>,
    ) -> Self {
        Self {
            id,
            channel,
            interaction,
            inbox,
        }
    }

    fn live(&self) -> Result<(), CoreError> {
        if self.inbox.is_open(&self.interaction) {
            Ok(())
        } else {
            Err(CoreError::LegEnded)
        }
    }
}

#[async_trait]
impl Leg for MessageLeg {
    fn id(&self) -> &LegId {
        &self.id
    }

    fn channel(&self) -> Channel {
        self.channel
    }

    async fn answer(&self) -> Result<(), CoreError> {
        self.live()
    }

    async fn hold(&self) -> Result<(), CoreError> {
        Err(CoreError::Unsupported("a message conversation has no hold"))
    }

    async fn resume(&self) -> Result<(), CoreError> {
        Err(CoreError::Unsupported("a message conversation has no hold"))
    }

    async fn bridge(&self, _other: &dyn Leg) -> Result<(), CoreError> {
        Err(CoreError::Unsupported(
            "message conversations are answered on the desktop",
        ))
    }

    async fn transfer(&self, _target: &str) -> Result<(), CoreError> {
        Err(CoreError::Unsupported(
            "a message conversation is transferred through its queue",
        ))
    }

    async fn hangup(&self, cause: HangupCause) -> Result<(), CoreError> {
        self.inbox.close(&self.interaction, cause);
        Ok(())
    }

    async fn ended(&self) -> HangupCause {
        let Some(mut rx) = self.inbox.ended(&self.interaction) else {
            return HangupCause::Local;
        };
        loop {
            if let Some(cause) = rx.borrow_and_update().clone() {
                return cause;
            }
            if rx.changed().await.is_err() {
                return HangupCause::Local;
            }
        }
    }

    fn media(&self) -> &dyn MediaControl {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[async_trait]
impl MediaControl for MessageLeg {
    async fn play(&self, _prompt: &Prompt, _barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.live().map(|()| PlayOutcome::Completed)
    }

    async fn say(&self, text: &str, barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.live()?;
        if !self.inbox.is_conversational() {
            // announcements while waiting are not sent as messages
            return Ok(PlayOutcome::Completed);
        }
        if barge_in && self.inbox.has_unread(&self.interaction) {
            // the customer already wrote: like a caller speaking over a prompt
            return Ok(PlayOutcome::BargedIn(String::new()));
        }
        match self.inbox.say(&self.interaction, text).await {
            Ok(_) => Ok(PlayOutcome::Completed),
            Err(crate::ChannelError::NoConversation(_)) => Err(CoreError::LegEnded),
            Err(e) => {
                // an opted-out or unreachable customer: the flow goes on
                // (it hands off or ends), the failure is logged
                tracing::warn!(interaction = %self.interaction, error = %e, "flow message not sent");
                Ok(PlayOutcome::Completed)
            }
        }
    }

    async fn collect_digits(&self, _spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        self.live()?;
        // no keypad: wait until the conversation ends
        let _ = Leg::ended(self).await;
        Err(CoreError::LegEnded)
    }

    async fn listen(&self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        self.live()?;
        if !self.inbox.is_conversational() {
            let _ = Leg::ended(self).await;
            return Err(CoreError::LegEnded);
        }
        let (Some(mut arrivals), Some(mut ended)) = (
            self.inbox.arrivals(&self.interaction),
            self.inbox.ended(&self.interaction),
        ) else {
            return Err(CoreError::LegEnded);
        };
        let mut deadline = self.inbox.clock().sleep(spec.no_input_timeout);
        loop {
            arrivals.borrow_and_update();
            if let Some(text) = self.inbox.take_unread(&self.interaction) {
                return Ok(Utterance::Text {
                    text,
                    confidence: 1.0,
                });
            }
            self.live()?;
            tokio::select! {
                changed = arrivals.changed() => {
                    if changed.is_err() {
                        return Err(CoreError::LegEnded);
                    }
                }
                _ = ended.changed() => {}
                () = &mut deadline => return Ok(Utterance::NoInput),
            }
        }
    }

    async fn record(&self, _spec: &RecordSpec) -> Result<RecordingId, CoreError> {
        Err(CoreError::Unsupported(
            "a message conversation has no audio",
        ))
    }
}
