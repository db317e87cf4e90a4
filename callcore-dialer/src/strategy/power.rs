use super::PacingStrategy;
use crate::pacer::PacingSnapshot;

/// Power (batch) dialing: a fixed number of lines per idle agent
/// ([`CampaignConfig::power_ratio`](crate::rules::CampaignConfig::power_ratio)),
/// whatever the measured answer rate. Simple and fast, but it abandons calls
/// when more people answer than the ratio assumed; the pacer still enforces
/// the abandonment cap's connect time and safe-harbor message.
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerStrategy;

impl PacingStrategy for PowerStrategy {
    fn name(&self) -> &'static str {
        "power"
    }

    fn lines_to_dial(&mut self, s: &PacingSnapshot<'_>) -> u32 {
        let free = f64::from(s.agents.idle.saturating_sub(s.waiting_for_agent));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let target = (free * s.power_ratio).ceil().max(0.0) as u32;
        target.saturating_sub(s.lines_in_flight)
    }

    fn clone_box(&self) -> Box<dyn PacingStrategy> {
        Box::new(*self)
    }
}
