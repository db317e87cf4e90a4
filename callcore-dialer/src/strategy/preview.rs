use super::{LineAssignment, PacingStrategy};
use crate::pacer::PacingSnapshot;

/// Preview dialing: every idle agent is shown a lead and decides to call it or
/// skip it. Nothing is dialed without an agent's say-so, so nothing is
/// abandoned.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreviewStrategy;

impl PacingStrategy for PreviewStrategy {
    fn name(&self) -> &'static str {
        "preview"
    }

    fn assignment(&self) -> LineAssignment {
        LineAssignment::AgentPreview
    }

    fn lines_to_dial(&mut self, s: &PacingSnapshot<'_>) -> u32 {
        s.agents.idle
    }

    fn clone_box(&self) -> Box<dyn PacingStrategy> {
        Box::new(*self)
    }
}
