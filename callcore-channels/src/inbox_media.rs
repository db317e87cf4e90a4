//! A plain inbox (SMS) as a flow's [`TextMedia`]: the flow's prompts and
//! answers go to the customer as messages through the channel's outbox, and
//! listening reads the customer's oldest message the flow has not read —
//! starting with the one that opened the conversation, so that a flow whose
//! bot asks "what can I help you with?" answers the question the customer
//! already sent (the opening prompt is not sent then, like a prompt a caller
//! speaks over).

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{CoreError, InteractionId};

use crate::{ChannelError, Inbox, TextMedia};

/// The text media of an [`Inbox`] whose flow converses with the customer;
/// install it with [`Inbox::set_text_media`] (see [`InboxMedia::install`]).
#[derive(Debug)]
pub struct InboxMedia(Weak<Inbox>);

impl InboxMedia {
    /// Makes `inbox`'s flows converse by message (it holds the inbox weakly:
    /// the inbox owns it).
    pub fn install(inbox: &Arc<Inbox>) {
        inbox.set_text_media(Arc::new(InboxMedia(Arc::downgrade(inbox))));
    }

    fn inbox(&self) -> Result<Arc<Inbox>, CoreError> {
        self.0.upgrade().ok_or(CoreError::LegEnded)
    }
}

#[async_trait]
impl TextMedia for InboxMedia {
    async fn say(&self, interaction: &InteractionId, text: &str) -> Result<(), CoreError> {
        let inbox = self.inbox()?;
        if !inbox.is_open(interaction) {
            return Err(CoreError::LegEnded);
        }
        if !inbox.has_outbound(interaction) && inbox.has_unread(interaction) {
            // the flow's opening prompt, when the customer already wrote
            return Ok(());
        }
        match inbox.say(interaction, text).await {
            Ok(_) => Ok(()),
            Err(ChannelError::NoConversation(_)) => Err(CoreError::LegEnded),
            Err(e) => {
                // an opted-out or unreachable customer: the flow goes on (it
                // hands off or ends); the failure is logged
                tracing::warn!(%interaction, error = %e, "flow message not sent");
                Ok(())
            }
        }
    }

    async fn listen(
        &self,
        interaction: &InteractionId,
        timeout: Duration,
    ) -> Result<Option<String>, CoreError> {
        let inbox = self.inbox()?;
        let (Some(mut arrivals), Some(mut ended)) =
            (inbox.arrivals(interaction), inbox.ended(interaction))
        else {
            return Err(CoreError::LegEnded);
        };
        let mut deadline = inbox.clock().sleep(timeout);
        loop {
            arrivals.borrow_and_update();
            if let Some(text) = inbox.take_unread(interaction) {
                return Ok(Some(text));
            }
            if !inbox.is_open(interaction) {
                return Err(CoreError::LegEnded);
            }
            tokio::select! {
                changed = arrivals.changed() => {
                    if changed.is_err() {
                        return Err(CoreError::LegEnded);
                    }
                }
                _ = ended.changed() => {}
                () = &mut deadline => return Ok(None),
            }
        }
    }
}
