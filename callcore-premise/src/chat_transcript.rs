//! Web chat's "e-mail me the transcript" through the `[email]` channel: the
//! chat hub checks the request (one valid address, hourly limits) and hands
//! over the session's lines; this sends them through the tenant's SMTP
//! server (`Inbox::notify`, marked `Auto-Submitted`), masked: card numbers
//! always, and the values of the slots the chat's flows marked sensitive
//! (read from their `context_shared` events in the journal).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callcore::{EventKind, TenantId, mask_sensitive};
use callcore_channels::chat::{Transcript, TranscriptSender, render_transcript};
use callcore_channels::{ChannelError, Inbox};
use callcore_runtime::CenterHandle;

/// The subject of a transcript mail.
pub(crate) const TRANSCRIPT_SUBJECT: &str = "Your chat transcript";
/// How long the journal may take to take the chat's last events.
const FLUSH_WITHIN: Duration = Duration::from_secs(5);

/// Sends chat transcripts through the e-mail channel's outbox.
pub(crate) struct MailedTranscripts {
    pub(crate) center: CenterHandle,
    pub(crate) email: Arc<Inbox>,
    pub(crate) tenant: TenantId,
}

impl std::fmt::Debug for MailedTranscripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailedTranscripts").finish_non_exhaustive()
    }
}

impl MailedTranscripts {
    /// The masks of the sensitive slots of `t`'s conversations.
    async fn masked_slots(&self, t: &Transcript) -> Result<Vec<String>, ChannelError> {
        // a context shared a moment ago may still be on its way to the journal
        tokio::time::timeout(FLUSH_WITHIN, self.center.flush())
            .await
            .map_err(|_| ChannelError::Unsendable("the journal is not keeping up".into()))?;
        let mut masked = Vec::new();
        for id in &t.interactions {
            let events = self
                .center
                .stores()
                .events
                .for_interaction(&self.tenant, id)
                .await
                .map_err(|e| ChannelError::Unsendable(format!("journal: {e}")))?;
            for e in events {
                if let EventKind::ContextShared { context, .. } = e.kind {
                    for name in &context.sensitive {
                        if let Some(v) = context.slots.get(name) {
                            // masked in the event already; masking again changes nothing
                            masked.push(mask_sensitive(v.expose()));
                        }
                    }
                }
            }
        }
        Ok(masked)
    }
}

#[async_trait]
impl TranscriptSender for MailedTranscripts {
    async fn send_transcript(&self, to: &str, t: &Transcript) -> Result<(), ChannelError> {
        // without the sensitive slots known, nothing is sent (no leak)
        let masked = self.masked_slots(t).await?;
        let text = render_transcript(t, &masked);
        self.email
            .notify(to, Some(TRANSCRIPT_SUBJECT), &text)
            .await
            .map(|_| ())
    }
}
