//! Engine-wide settings.

/// Settings of an [`AcdEngine`](crate::AcdEngine) that are not per queue.
///
/// The per-cause delays follow FreeSWITCH's mod_callcenter
/// (`reject-delay-time`, `busy-delay-time`, `no-answer-delay-time`,
/// `max-no-answer`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AcdConfig {
    /// Missed offers (timed out or failed) in a row after which the agent goes
    /// not-ready with reason [`MISSED_OFFERS_REASON`](crate::MISSED_OFFERS_REASON); 0 = never.
    pub max_missed_offers: u32,
    /// Seconds before an agent who declined is offered again.
    pub reject_delay_secs: u32,
    /// Seconds before an agent whose endpoint failed (busy, unreachable) is offered again.
    pub busy_delay_secs: u32,
    /// Seconds before an agent who let an offer time out is offered again.
    pub no_answer_delay_secs: u32,
    /// How long an interaction waits for its preferred (last) agent before any
    /// eligible agent may take it; 0 disables sticky routing.
    pub sticky_wait_secs: u32,
    /// Priority added to interactions whose `vip` attribute is `"true"`.
    pub vip_priority_boost: i32,
    /// At most this many agents are rung at once by `ring_all`.
    pub ring_all_limit: usize,
    /// Handle time (talk + wrap-up) assumed for EWT before any interaction has
    /// completed in a queue; `None` gives no estimate until then.
    pub default_handle_secs: Option<u32>,
    /// Prefix of the reservation ids the engine mints (make it unique per
    /// routing owner when several engines share one id space).
    pub reservation_prefix: String,
    /// Seed of the engine's RNG (random strategies).
    pub seed: u64,
}

impl Default for AcdConfig {
    fn default() -> Self {
        Self {
            max_missed_offers: 3,
            reject_delay_secs: 0,
            busy_delay_secs: 0,
            no_answer_delay_secs: 0,
            sticky_wait_secs: 30,
            vip_priority_boost: 10,
            ring_all_limit: 64,
            default_handle_secs: None,
            reservation_prefix: "res-".to_owned(),
            seed: 0x00ac_d5ee_d000_0001,
        }
    }
}
