//! The customer's side of a message conversation as a [`Leg`]: it stays up
//! while the conversation is open; media actions are quiet (a flow's
//! announcements are not sent as messages).

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

    async fn say(&self, text: &str, _barge_in: bool) -> Result<PlayOutcome, CoreError> {
        self.live()?;
        // a conversational channel (web chat) sends it as the bot's message;
        // the others stay quiet
        if let Some(media) = self.inbox.text_media() {
            media.say(&self.interaction, text).await?;
        }
        Ok(PlayOutcome::Completed)
    }

    async fn collect_digits(&self, _spec: &DigitSpec) -> Result<DigitResult, CoreError> {
        self.live()?;
        // no keypad: wait until the conversation ends
        let _ = Leg::ended(self).await;
        Err(CoreError::LegEnded)
    }

    async fn listen(&self, spec: &ListenSpec) -> Result<Utterance, CoreError> {
        self.live()?;
        if let Some(media) = self.inbox.text_media() {
            return Ok(
                match media
                    .listen(&self.interaction, spec.no_input_timeout)
                    .await?
                {
                    Some(text) => Utterance::Text {
                        text,
                        confidence: 1.0,
                    },
                    None => Utterance::NoInput,
                },
            );
        }
        let _ = Leg::ended(self).await;
        Err(CoreError::LegEnded)
    }

    async fn record(&self, _spec: &RecordSpec) -> Result<RecordingId, CoreError> {
        Err(CoreError::Unsupported(
            "a message conversation has no audio",
        ))
    }
}
