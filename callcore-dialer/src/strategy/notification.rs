use super::{LineAssignment, PacingStrategy};
use crate::pacer::PacingSnapshot;

/// Agentless notification campaigns (bill reminders and the like): keeps up
/// to `max_lines` calls ringing or playing the campaign's message.
#[derive(Debug, Clone, Copy)]
pub struct NotificationStrategy {
    max_lines: u32,
}

impl NotificationStrategy {
    /// At most `max_lines` concurrent calls (at least one).
    #[must_use]
    pub fn new(max_lines: u32) -> Self {
        Self {
            max_lines: max_lines.max(1),
        }
    }
}

impl PacingStrategy for NotificationStrategy {
    fn name(&self) -> &'static str {
        "notification"
    }

    fn assignment(&self) -> LineAssignment {
        LineAssignment::Agentless
    }

    fn lines_to_dial(&mut self, s: &PacingSnapshot<'_>) -> u32 {
        self.max_lines
            .saturating_sub(s.lines_in_flight + s.messages_playing)
    }

    fn clone_box(&self) -> Box<dyn PacingStrategy> {
        Box::new(*self)
    }
}
