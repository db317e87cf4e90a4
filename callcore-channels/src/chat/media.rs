//! Web chat as a flow's [`TextMedia`]: the IVR's prompts become the bot's
//! messages, a menu's numbered choices (`1. billing`) become quick replies
//! (buttons on the widget; the visitor may also type), and listening reads
//! the visitor's next message after the prompt.

use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;
use callcore::{CoreError, InteractionId};

use super::{ChatHub, ChatUpdate, EntryKind, SessionKey, Side};
use crate::TextMedia;

/// The chat hub as text media (holds it weakly: the hub owns the inbox).
#[derive(Debug)]
pub(crate) struct ChatMedia(pub(crate) Weak<ChatHub>);

/// Splits a text-channel prompt into its text and the labels of its
/// numbered choices (`\n1. billing\n2. support`).
pub(crate) fn quick_replies(prompt: &str) -> (String, Vec<String>) {
    let mut text = Vec::new();
    let mut labels = Vec::new();
    for line in prompt.lines() {
        let choice = line.trim().split_once(". ").filter(|(key, label)| {
            !key.is_empty()
                && key.len() <= 3
                && key
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
                && !label.trim().is_empty()
        });
        match choice {
            Some((_, label)) => labels.push(label.trim().to_owned()),
            None if !line.trim().is_empty() => text.push(line.trim()),
            None => {}
        }
    }
    let text = if text.is_empty() && !labels.is_empty() {
        "Please choose:".to_owned()
    } else {
        text.join("\n")
    };
    (text, labels)
}

impl ChatMedia {
    fn hub(&self) -> Result<std::sync::Arc<ChatHub>, CoreError> {
        self.0.upgrade().ok_or(CoreError::LegEnded)
    }
}

/// What a log entry means to a listening flow.
enum Heard {
    Text(u64, String),
    Ended,
    Other,
}

fn heard(kind: &EntryKind, seq: u64) -> Heard {
    match kind {
        EntryKind::Message {
            from: Side::Visitor,
            text,
            ..
        } => Heard::Text(seq, text.clone()),
        EntryKind::Ended => Heard::Ended,
        _ => Heard::Other,
    }
}

#[async_trait]
impl TextMedia for ChatMedia {
    async fn say(&self, interaction: &InteractionId, text: &str) -> Result<(), CoreError> {
        let hub = self.hub()?;
        let (text, labels) = quick_replies(text);
        if text.is_empty() {
            return Ok(());
        }
        let seq = hub
            .bot_say(interaction, &text, labels)
            .map_err(|_| CoreError::LegEnded)?;
        hub.set_bot_mark(interaction, seq);
        Ok(())
    }

    async fn listen(
        &self,
        interaction: &InteractionId,
        timeout: Duration,
    ) -> Result<Option<String>, CoreError> {
        let hub = self.hub()?;
        let mark = hub.bot_mark(interaction).ok_or(CoreError::LegEnded)?;
        let attached = hub
            .attach(SessionKey::Interaction(interaction), mark)
            .ok_or(CoreError::LegEnded)?;
        // answered already (between the prompt and now)?
        for e in &attached.entries {
            match heard(&e.kind, e.seq) {
                Heard::Text(seq, text) => {
                    hub.set_bot_mark(interaction, seq);
                    return Ok(Some(text));
                }
                Heard::Ended => return Err(CoreError::LegEnded),
                Heard::Other => {}
            }
        }
        drop(hub);
        let mut updates = attached.updates;
        let next = async {
            loop {
                let update = match updates.recv().await {
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return Err(CoreError::LegEnded),
                    Ok(u) => u,
                };
                if let ChatUpdate::Entry(e) = update {
                    match heard(&e.kind, e.seq) {
                        Heard::Text(seq, text) => return Ok((seq, text)),
                        Heard::Ended => return Err(CoreError::LegEnded),
                        Heard::Other => {}
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, next).await {
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(e),
            Ok(Ok((seq, text))) => {
                self.hub()?.set_bot_mark(interaction, seq);
                Ok(Some(text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_choices_become_quick_replies() {
        assert_eq!(
            quick_replies("Hello. What is it about?\n1. billing\n2. support in French"),
            (
                "Hello. What is it about?".to_owned(),
                vec!["billing".to_owned(), "support in French".to_owned()]
            )
        );
        assert_eq!(
            quick_replies("\n1. orders\n2. support"),
            (
                "Please choose:".to_owned(),
                vec!["orders".to_owned(), "support".to_owned()]
            )
        );
        assert_eq!(
            quick_replies("We open at 9. See you then."),
            ("We open at 9. See you then.".to_owned(), Vec::new())
        );
    }
}
