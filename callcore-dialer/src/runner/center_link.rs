//! The pacer's view of the Center's agents: a snapshot at start, then the
//! Center's events (a fresh snapshot whenever the event stream lagged).

use crate::{DialerError, Pacer, PacerInput};
use callcore::{AgentId, AgentState, Event, EventKind, Timestamp};
use callcore_runtime::{BusError, CenterHandle, EventSubscriber};
use std::collections::{HashMap, HashSet};
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
    /// Each agent's last state and reachability: an agent whose phone is
    /// unreachable counts as away whatever their state.
    known: HashMap<AgentId, (AgentState, bool)>,
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
            known: HashMap::new(),
        }
    }

    /// Records what is known of the agent and tells the pacer.
    fn tell(
        &mut self,
        pacer: &mut Pacer,
        agent: &AgentId,
        state: Option<AgentState>,
        reachable: Option<bool>,
        now: Timestamp,
    ) {
        let entry = self
            .known
            .entry(agent.clone())
            .or_insert((AgentState::Offline, true));
        if let Some(state) = state {
            entry.0 = state;
        }
        if let Some(reachable) = reachable {
            entry.1 = reachable;
        }
        let input = if entry.1 {
            input_for(agent.clone(), &entry.0)
        } else {
            PacerInput::AgentAway(agent.clone())
        };
        pacer.handle_input(input, now);
    }

    fn serves(&self, agent: &AgentId) -> bool {
        self.serving.as_ref().is_none_or(|s| s.contains(agent))
    }

    /// Tells the pacer every agent's state from a fresh snapshot.
    pub(super) async fn sync(
        &mut self,
        center: &CenterHandle,
        pacer: &mut Pacer,
        now: Timestamp,
    ) -> Result<(), DialerError> {
        let snapshot = center.snapshot().await?;
        for a in snapshot.agents {
            if self.serves(&a.agent) {
                self.tell(pacer, &a.agent, Some(a.state), Some(a.reachable), now);
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
                    self.tell(pacer, agent, Some(to.clone()), None, now);
                }
                EventKind::AgentReachabilityChanged { agent, reachable } if self.serves(agent) => {
                    self.tell(pacer, agent, None, Some(*reachable), now);
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
