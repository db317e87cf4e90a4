//! Pacing strategies: how many lines to dial now.
//!
//! A [`PacingStrategy`] is a small synchronous, object-safe trait in the style
//! of quinn's congestion `Controller`: the [`Pacer`](crate::Pacer) calls it
//! whenever the campaign's state changes (and at least once a second), with a
//! [`PacingSnapshot`]; it answers with a number of new lines. Users plug in
//! their own through [`Pacer::new`](crate::Pacer::new).

mod notification;
mod power;
mod predictive;
mod preview;
mod progressive;

pub use notification::NotificationStrategy;
pub use power::PowerStrategy;
pub use predictive::{PredictiveSettings, PredictiveStrategy};
pub use preview::PreviewStrategy;
pub use progressive::ProgressiveStrategy;

use crate::pacer::PacingSnapshot;
use callcore::DialMode;
use std::fmt;

/// How the lines a strategy asks for are tied to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineAssignment {
    /// Answered calls go to whichever agent is free (power, predictive); a
    /// person may answer when none is, and the call is then abandoned after
    /// the rule set's connect time.
    Pooled,
    /// Each line reserves an idle agent while it rings (progressive): no call
    /// can be abandoned.
    ReservedAgent,
    /// Each idle agent is shown a lead and dials it by accepting (preview).
    AgentPreview,
    /// No agents: an answered call hears the campaign's message and is hung
    /// up (notification campaigns). Nothing is abandoned.
    Agentless,
}

/// Decides how many lines to dial. Synchronous, no I/O, no clock: everything
/// comes in the snapshot.
///
/// ```
/// use callcore_dialer::{LineAssignment, PacingSnapshot, PacingStrategy};
///
/// /// Keeps one line per idle agent plus one spare.
/// #[derive(Debug)]
/// struct OneSpare;
///
/// impl PacingStrategy for OneSpare {
///     fn name(&self) -> &'static str { "one-spare" }
///     fn lines_to_dial(&mut self, s: &PacingSnapshot<'_>) -> u32 {
///         (s.agents.idle + 1).saturating_sub(s.lines_in_flight + s.waiting_for_agent)
///     }
///     fn clone_box(&self) -> Box<dyn PacingStrategy> { Box::new(OneSpare) }
/// }
/// let s: Box<dyn PacingStrategy> = Box::new(OneSpare);
/// assert_eq!(s.assignment(), LineAssignment::Pooled);
/// ```
pub trait PacingStrategy: Send + Sync + fmt::Debug {
    /// A short name for logs and reports.
    fn name(&self) -> &'static str;

    /// How lines are tied to agents; pooled unless overridden.
    fn assignment(&self) -> LineAssignment {
        LineAssignment::Pooled
    }

    /// How many new lines to dial now. With [`LineAssignment::ReservedAgent`]
    /// or [`LineAssignment::AgentPreview`] the pacer never dials more than the
    /// idle agents.
    fn lines_to_dial(&mut self, snapshot: &PacingSnapshot<'_>) -> u32;

    /// Told when a person answered a line: whether they were abandoned.
    fn on_person_answered(&mut self, _snapshot: &PacingSnapshot<'_>, _abandoned: bool) {}

    /// A fresh copy (for a factory that starts one per campaign).
    fn clone_box(&self) -> Box<dyn PacingStrategy>;
}

/// The built-in strategy for a mode (notification campaigns get ten lines;
/// build [`NotificationStrategy`] yourself for another number); `None` for a
/// mode this crate does not know.
#[must_use]
pub fn strategy_for(mode: DialMode) -> Option<Box<dyn PacingStrategy>> {
    Some(match mode {
        DialMode::Notification => Box::new(NotificationStrategy::new(10)),
        DialMode::Preview => Box::new(PreviewStrategy),
        DialMode::Progressive => Box::new(ProgressiveStrategy),
        DialMode::Power => Box::new(PowerStrategy),
        DialMode::Predictive => Box::new(PredictiveStrategy::new(PredictiveSettings::default())),
        _ => return None,
    })
}
