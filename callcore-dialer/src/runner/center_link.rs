//! The pacer's view of the Center's agents: a snapshot at start, then the
//! Center's events (a fresh snapshot whenever the event stream lagged).

use crate::{DialerError, Pacer, PacerInput};
use callcore::{AgentId, AgentState, Event, EventKind, Timestamp};
use callcore_runtime::{BusError, CenterHandle, EventSubscriber};
use std::collections::HashSet;
use std::sync::Arc;

/// What the Center's event stream brought.
pub(super) enum Update {
    Event(Arc<Event>),
    Lagged,
    Closed,
}

#[derive(Debug)]
pub(super) struct CenterLink {
    events: Option<EventSubscriber>,
    serving: Option<HashSet<AgentId>>,
}

/// The pacer input for an agent now in `state`.
fn input_for(agent: AgentId, state: &AgentState) -> PacerInput {
    match state {
        AgentState::Available => PacerInput::AgentReady(agent),
        AgentState::Reserved | AgentState::Busy => PacerInput::AgentBusy(agent),
        AgentState::WrapUp => PacerInput::AgentWrapUp(agent),
        _ => PacerInput::AgentAway(agent),
    }
}

impl CenterLink {
    /// Subscribes first, so no change between the snapshot and the first
    /// event is lost.
    pub(super) fn new(center: &CenterHandle, serving: Option<HashSet<AgentId>>) -> Self {
        Self {
            events: Some(center.subscribe()),
            serving,
        }
    }

    fn serves(&self, agent: &AgentId) -> bool {
        self.serving.as_ref().is_none_or(|s| s.contains(agent))
    }

    /// Tells the pacer every agent's state from a fresh snapshot.
    pub(super) async fn sync(
        &self,
        center: &CenterHandle,
        pacer: &mut Pacer,
        now: Timestamp,
    ) -> Result<(), DialerError> {
        let snapshot = center.snapshot().await?;
        for a in snapshot.agents {
            if self.serves(&a.agent) {
                pacer.handle_input(input_for(a.agent, &a.state), now);
            }
        }
        Ok(())
    }

    /// The next update (pending forever once the stream closed).
    pub(super) async fn next(&mut self) -> Update {
        let Some(events) = self.events.as_mut() else {
            return std::future::pending().await;
        };
        match events.recv().await {
            Ok(e) => Update::Event(e),
            Err(BusError::Lagged(_)) => Update::Lagged,
            Err(_) => Update::Closed,
        }
    }

    /// Applies an update to the pacer.
    pub(super) async fn apply(
        &mut self,
        update: Update,
        center: &CenterHandle,
        pacer: &mut Pacer,
        now: Timestamp,
    ) -> Result<(), DialerError> {
        match update {
            Update::Event(event) => match &event.kind {
                EventKind::AgentStateChanged { agent, to, .. } if self.serves(agent) => {
                    pacer.handle_input(input_for(agent.clone(), to), now);
                }
                EventKind::AgentRemoved { agent } if self.serves(agent) => {
                    pacer.handle_input(PacerInput::AgentAway(agent.clone()), now);
                }
                _ => {}
            },
            Update::Lagged => {
                tracing::warn!("center events lagged: re-reading the agents' states");
                self.sync(center, pacer, now).await?;
            }
            Update::Closed => {
                tracing::warn!("center closed its event stream");
                self.events = None;
            }
        }
        Ok(())
    }
}
