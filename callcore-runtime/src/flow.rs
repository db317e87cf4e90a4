use crate::FlowContext;
use async_trait::async_trait;
use callcore::{CoreError, EndReason};

/// How a flow finished.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowOutcome {
    /// The interaction is done; the center hangs up if the customer has not.
    Done(EndReason),
}

/// An IVR script or bot: drives one interaction through a [`FlowContext`]
/// (`say`, `collect_digits`, `listen`, `enqueue`, `transfer`, `hangup`).
///
/// `callcore-ivr` builds flows from files; any `async` Rust function can be a
/// flow too:
///
/// ```
/// use async_trait::async_trait;
/// use callcore::{CoreError, EndReason, QueueId};
/// use callcore_runtime::{Flow, FlowContext, FlowOutcome};
///
/// #[derive(Debug)]
/// struct StraightToSupport;
///
/// #[async_trait]
/// impl Flow for StraightToSupport {
///     async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
///         call.say("Welcome. Please hold for the next agent.").await?;
///         let outcome = call.enqueue(QueueId::new("support")).await?;
///         Ok(FlowOutcome::Done(outcome.end_reason()))
///     }
/// }
/// ```
#[async_trait]
pub trait Flow: Send + Sync + std::fmt::Debug {
    /// Runs the flow on one interaction. Errors end the interaction with
    /// [`EndReason::Error`].
    async fn run(&self, call: &mut FlowContext) -> Result<FlowOutcome, CoreError>;
}
