//! Call-control actions reaching a live call (from
//! [`CenterHandle`](crate::CenterHandle)), checked against the call, with
//! what the glue does around them: reserving an agent taken directly,
//! checking a supervisor's permission, and carrying out the media commands
//! they lead to (unbridge, the mixing room, music, placing legs).

use super::{CallGlue, PlaceTo, pick};
use crate::call::{CallCommand, CallTarget};
use crate::center::Shared;
use crate::routing_task::RouterCommand;
use callcore::{
    AgentId, AgentProfile, AgentState, CoreError, Disposition, Endpoint, Leg, LegId, MixRole,
    MonitorMode, Prompt, RouterInput,
};
use tokio::sync::oneshot;

/// A call-control action (see the methods of `CenterHandle` in
/// `call_control.rs`).
#[derive(Debug)]
pub(crate) enum Action {
    /// The disposition code, for the named agent (or the last one).
    Disposition(Disposition, Option<AgentId>),
    /// Wrap-up notes, for the named agent (or the last one).
    Notes(String, Option<AgentId>),
    Hold(bool),
    Mute(bool),
    Transfer(CallTarget),
    Consult(CallTarget),
    Swap,
    CompleteTransfer,
    CancelConsult,
    Conference,
    AddToConference(CallTarget),
    LeaveConference,
    Kick(LegId),
    Monitor(AgentId, MonitorMode),
    MonitorMode(AgentId, MonitorMode),
    HangUp,
}

impl CallGlue {
    /// Feeds one action to the call, with the checks and reservations it
    /// needs first.
    pub(super) async fn on_control(
        &mut self,
        action: Action,
        customer: &dyn Leg,
    ) -> Result<(), CoreError> {
        let now = self.now();
        match action {
            Action::Disposition(d, by) => self.call.handle_disposition(d, by.as_ref()),
            Action::Notes(notes, by) => self.call.handle_wrap_up_notes(notes, by.as_ref()),
            Action::Hold(on) => self.call.handle_hold(on),
            Action::Mute(on) => {
                mixable(customer)?;
                self.call.handle_mute(on)
            }
            Action::Transfer(target) => {
                self.call.can_transfer()?;
                // a number must be reachable; an agent is taken directly, whatever queues they serve
                self.take(&target, "transfer").await?;
                let result = self.call.handle_transfer(target.clone(), now);
                if result.is_err() {
                    self.free(&target);
                }
                result
            }
            Action::Consult(target) => {
                self.call.can_consult()?;
                let target = self.queue_agent(target).await?;
                self.take(&target, "consult").await?;
                let result = self.call.handle_consult(target.clone(), now);
                if result.is_err() {
                    self.free(&target);
                }
                result
            }
            Action::Swap => self.call.handle_swap(),
            Action::CompleteTransfer => self.call.handle_complete_transfer(now),
            Action::CancelConsult => self.call.handle_cancel_consult(now),
            Action::Conference => {
                mixable(customer)?;
                self.call.handle_conference(now)
            }
            Action::AddToConference(target) => {
                self.call.can_add_party()?;
                mixable(customer)?;
                let target = self.queue_agent(target).await?;
                self.take(&target, "conference").await?;
                let result = self.call.handle_add_to_conference(target.clone(), now);
                if result.is_err() {
                    self.free(&target);
                }
                result
            }
            Action::LeaveConference => self.call.handle_leave_conference(now),
            Action::Kick(leg) => self.call.handle_kick(&leg, now),
            Action::Monitor(supervisor, mode) => {
                self.call.can_monitor(&supervisor)?;
                mixable(customer)?;
                let profile = profile(&self.shared, &supervisor).await.ok_or_else(|| {
                    CoreError::NotFound {
                        what: "agent",
                        id: supervisor.to_string(),
                    }
                })?;
                if !profile.supervisor {
                    return Err(CoreError::Forbidden(format!(
                        "agent {supervisor} is not a supervisor"
                    )));
                }
                if endpoint_of(&self.shared, &profile).is_none() {
                    return Err(CoreError::Unreachable(format!(
                        "no endpoint of agent {supervisor} can be reached"
                    )));
                }
                self.call.handle_monitor(supervisor, mode, now)
            }
            Action::MonitorMode(supervisor, mode) => {
                self.call.handle_monitor_mode(&supervisor, mode)
            }
            Action::HangUp => self.call.handle_hang_up(now),
        }
    }

    /// A queue consulted (or added to a conference) is one of its agents:
    /// the one available longest among those who serve it.
    fn queue_agent(
        &self,
        target: CallTarget,
    ) -> impl std::future::Future<Output = Result<CallTarget, CoreError>> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            match target {
                CallTarget::Queue(q) => {
                    available_agent_of(&shared, &q).await.map(CallTarget::Agent)
                }
                other => Ok(other),
            }
        }
    }

    fn reachable(&self, number: &str) -> Result<(), CoreError> {
        let endpoint = number_endpoint(number);
        if self
            .shared
            .transports
            .iter()
            .any(|t| t.can_reach(&endpoint))
        {
            Ok(())
        } else {
            Err(CoreError::Unreachable(format!(
                "no transport reaches {}",
                callcore::Masked(number)
            )))
        }
    }

    /// Takes `target` directly: an agent is reserved (they must be
    /// available; they become not ready with the reason `reason` until the
    /// call frees them), a number must be reachable.
    fn take(
        &self,
        target: &CallTarget,
        reason: &'static str,
    ) -> impl std::future::Future<Output = Result<(), CoreError>> + Send + 'static {
        let shared = self.shared.clone();
        let check = match target {
            CallTarget::Number(n) => self.reachable(n),
            _ => Ok(()),
        };
        let target = target.clone();
        async move {
            check?;
            match &target {
                CallTarget::Agent(agent) => reserve(&shared, agent, reason).await,
                _ => Ok(()),
            }
        }
    }

    fn free(&self, target: &CallTarget) {
        if let CallTarget::Agent(agent) = target {
            free(&self.shared, agent.clone());
        }
    }

    /// Takes an answered leg the call does not know yet (click-to-dial's
    /// agent leg), before the call is told about it.
    pub(crate) fn adopt(&mut self, leg: Box<dyn Leg>) -> LegId {
        let id = leg.id().clone();
        self.others.insert(id.clone(), leg);
        id
    }

    /// Hangs up a leg taken with [`adopt`](Self::adopt) the call refused.
    pub(crate) async fn drop_adopted(&mut self, leg: &LegId) {
        if let Some(l) = self.others.remove(leg) {
            let _ = l.hangup(callcore::HangupCause::Local).await;
        }
    }

    /// Carries out the call-control commands.
    pub(super) fn execute_control(&mut self, command: CallCommand, customer: &dyn Leg) {
        match command {
            CallCommand::Unbridge(leg) => {
                if let Some(port) = pick(&self.others, customer, &leg).and_then(|l| l.media_port())
                {
                    port.unbridge();
                }
            }
            CallCommand::Mix(members) => self.mix(&members, customer),
            CallCommand::CloseRoom => {
                if let Some(room) = self.room.take() {
                    room.close();
                }
            }
            CallCommand::Music(on) => self.audio.set(on.then_some(Prompt::MusicOnHold)),
            CallCommand::PlaceFor { placement, to } => {
                let to = match to {
                    CallTarget::Agent(a) => PlaceTo::Agent(a),
                    CallTarget::Number(n) => PlaceTo::Number(n),
                    CallTarget::Queue(q) => PlaceTo::Number(q.to_string()),
                };
                self.place(Some(placement), to);
            }
            CallCommand::FreeAgent(agent) => free(&self.shared, agent),
            other => tracing::debug!(
                command = %callcore::VariantOf(&other),
                "call command this glue does not carry out"
            ),
        }
    }

    /// Makes the call's room hold exactly `members` (opening it on the
    /// customer's media engine when there is none).
    fn mix(&mut self, members: &[(LegId, MixRole)], customer: &dyn Leg) {
        let room = match &self.room {
            Some(r) => r.clone(),
            None => match customer
                .media_port()
                .ok_or(CoreError::Unsupported(
                    "the customer's leg has no media port",
                ))
                .and_then(|p| p.open_room())
            {
                Ok(r) => {
                    self.room = Some(r.clone());
                    self.record_room(&*r);
                    r
                }
                Err(e) => {
                    tracing::warn!(error = %e, "opening the call's mixing room failed");
                    return;
                }
            },
        };
        let current = room.members();
        for (leg, _) in &current {
            if !members.iter().any(|(l, _)| l == leg) {
                room.leave(leg);
            }
        }
        for (leg, role) in members {
            if current.iter().any(|(l, r)| l == leg && r == role) {
                continue;
            }
            let Some(port) = pick(&self.others, customer, leg).and_then(|l| l.media_port()) else {
                tracing::warn!(leg = %leg, "a leg without a media port cannot join the room");
                continue;
            };
            if let Err(e) = room.join(leg, &*port, role.clone()) {
                tracing::warn!(leg = %leg, error = %e, "joining the call's mixing room failed");
            }
        }
    }
}

impl CallGlue {
    /// Records a new room when the center records its conversations (the
    /// customer left, what they hear right); an engine that cannot leaves it
    /// unrecorded.
    fn record_room(&mut self, room: &dyn callcore::MixRoom) {
        if !self.shared.record_calls {
            return;
        }
        let request = callcore::RecordingRequest::new(
            self.call.tenant().clone(),
            self.call.interaction().clone(),
        );
        match room.record(&request) {
            Ok(recording) => {
                self.call.handle_bridged(Some(&recording.started));
                let id = recording.started.id.clone();
                let stopped = recording.stopped;
                self.recordings
                    .push(Box::pin(async move { (id, stopped.await) }));
            }
            Err(e) => tracing::debug!(error = %e, "the call's room is not recorded"),
        }
    }
}

/// Where a number taken as a call target (transfer, consultation,
/// click-to-dial) is placed: a `sip:`/`sips:` URI as it is (an address the
/// SIP transport reaches: registered or at a fixed contact), anything else
/// as a phone number through a trunk.
pub(crate) fn number_endpoint(number: &str) -> Endpoint {
    let lower = number.get(..5).unwrap_or(number).to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        Endpoint::Sip(number.to_owned())
    } else {
        Endpoint::Phone(number.to_owned())
    }
}

/// Rooms need the customer's leg to have a media engine behind it.
fn mixable(customer: &dyn Leg) -> Result<(), CoreError> {
    if customer.media_port().is_some() {
        Ok(())
    } else {
        Err(CoreError::Unsupported(
            "this call's legs have no media engine to mix them",
        ))
    }
}

/// The agent's profile, from the routing task.
pub(crate) async fn profile(shared: &Shared, agent: &AgentId) -> Option<AgentProfile> {
    let (tx, rx) = oneshot::channel();
    shared
        .router
        .send(RouterCommand::Profile(agent.clone(), tx))
        .ok()?;
    rx.await.ok().flatten()
}

/// The agent's first endpoint a transport reaches (not the desktop).
pub(crate) fn endpoint_of(shared: &Shared, profile: &AgentProfile) -> Option<Endpoint> {
    profile
        .endpoints
        .iter()
        .find(|e| **e != Endpoint::Desktop && shared.transports.iter().any(|t| t.can_reach(e)))
        .cloned()
}

/// Where to place a leg to `agent`.
pub(super) async fn agent_endpoint(shared: &Shared, agent: &AgentId) -> Option<Endpoint> {
    let profile = profile(shared, agent).await?;
    endpoint_of(shared, &profile)
}

/// Reserves an agent the center takes directly (consulted, added to a
/// conference, transferred to, dialling out): they must be available and reachable; they
/// become not ready (`reason`) so that routing offers them nothing until
/// [`free`] makes them available again.
pub(crate) async fn reserve(
    shared: &Shared,
    agent: &AgentId,
    reason: &str,
) -> Result<(), CoreError> {
    let profile = profile(shared, agent)
        .await
        .ok_or_else(|| CoreError::NotFound {
            what: "agent",
            id: agent.to_string(),
        })?;
    if endpoint_of(shared, &profile).is_none() {
        return Err(CoreError::Unreachable(format!(
            "no endpoint of agent {agent} can be reached"
        )));
    }
    let (tx, rx) = oneshot::channel();
    shared
        .router
        .send(RouterCommand::Snapshot(tx))
        .map_err(|_| CoreError::Shutdown)?;
    let snapshot = rx.await.map_err(|_| CoreError::Shutdown)?;
    let state = snapshot
        .agents
        .iter()
        .find(|a| a.agent == *agent)
        .map(|a| a.state.clone());
    if state != Some(AgentState::Available) {
        return Err(CoreError::InvalidState {
            action: "take an agent",
            state: format!(
                "agent {agent} is {}",
                state.map_or_else(|| "unknown".to_owned(), |s| s.to_string())
            ),
        });
    }
    let (tx, rx) = oneshot::channel();
    shared
        .router
        .send(RouterCommand::Input(
            RouterInput::SetAgentState {
                agent: agent.clone(),
                state: AgentState::NotReady(reason.into()),
            },
            Some(tx),
        ))
        .map_err(|_| CoreError::Shutdown)?;
    rx.await.map_err(|_| CoreError::Shutdown)?
}

/// The agent available longest among those serving `queue` (an agent with no
/// queues listed serves every queue) and reachable.
async fn available_agent_of(
    shared: &Shared,
    queue: &callcore::QueueId,
) -> Result<AgentId, CoreError> {
    let (tx, rx) = oneshot::channel();
    shared
        .router
        .send(RouterCommand::Snapshot(tx))
        .map_err(|_| CoreError::Shutdown)?;
    let snapshot = rx.await.map_err(|_| CoreError::Shutdown)?;
    if !snapshot.queues.iter().any(|q| q.queue == *queue) {
        return Err(CoreError::NotFound {
            what: "queue",
            id: queue.to_string(),
        });
    }
    let mut available: Vec<_> = snapshot
        .agents
        .iter()
        .filter(|a| a.state == AgentState::Available)
        .collect();
    available.sort_by_key(|a| a.since);
    for a in available {
        if let Some(p) = profile(shared, &a.agent).await
            && (p.queues.is_empty() || p.queues.contains(queue))
            && endpoint_of(shared, &p).is_some()
        {
            return Ok(a.agent.clone());
        }
    }
    Err(CoreError::InvalidState {
        action: "consult a queue",
        state: format!("no agent of queue {queue} is available"),
    })
}

/// Why agents taken directly are not ready (see [`reserve`]).
const TAKEN: &[&str] = &["consult", "conference", "transfer", "dialing"];

/// Makes an agent the center took directly available again — unless their
/// state was changed meanwhile (a supervisor logged them out).
pub(crate) fn free(shared: &Shared, agent: AgentId) {
    let _ = shared.router.send(RouterCommand::Free(agent, TAKEN));
}

#[cfg(test)]
mod tests {
    use super::number_endpoint;
    use callcore::Endpoint;

    #[test]
    fn a_sip_uri_is_placed_as_a_sip_address_anything_else_through_a_trunk() {
        assert_eq!(
            number_endpoint("sip:9001@192.0.2.7"),
            Endpoint::Sip("sip:9001@192.0.2.7".into())
        );
        assert_eq!(
            number_endpoint("SIPS:desk@192.0.2.7"),
            Endpoint::Sip("SIPS:desk@192.0.2.7".into())
        );
        assert_eq!(
            number_endpoint("+4930123456"),
            Endpoint::Phone("+4930123456".into())
        );
        assert_eq!(number_endpoint("sip"), Endpoint::Phone("sip".into()));
    }
}
