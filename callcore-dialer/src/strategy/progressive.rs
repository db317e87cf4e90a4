use super::{LineAssignment, PacingStrategy};
use crate::pacer::PacingSnapshot;

/// Progressive dialing: one line per idle agent, the agent reserved while it
/// rings. Never abandons; agents wait through every ring and every failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgressiveStrategy;

impl PacingStrategy for ProgressiveStrategy {
    fn name(&self) -> &'static str {
        "progressive"
    }

    fn assignment(&self) -> LineAssignment {
        LineAssignment::ReservedAgent
    }

    fn lines_to_dial(&mut self, s: &PacingSnapshot<'_>) -> u32 {
        s.agents.idle
    }

    fn clone_box(&self) -> Box<dyn PacingStrategy> {
        Box::new(*self)
    }
}
