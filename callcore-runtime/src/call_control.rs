//! The call-control API of [`CenterHandle`]: what an agent, a supervisor or
//! the desktop does to a live call.
//!
//! Each action is a message to the task that owns the call, fed to its
//! sans-IO [`Call`](crate::call::Call), checked against the call's state and
//! answered with `Ok` or an error naming why it does not fit
//! ([`CoreError::InvalidState`]); every action is journaled through the
//! events it emits.
//!
//! | action | needs | events |
//! |---|---|---|
//! | [`hold`](CenterHandle::hold) / [`resume`](CenterHandle::resume) | with an agent | `Held` / `Resumed` |
//! | [`mute`](CenterHandle::mute) | with an agent on a phone | `Muted` |
//! | [`transfer`](CenterHandle::transfer) (blind) | with an agent, no consultation or conference; a target agent available | `Transferred`, then `Queued` (a queue) or `Connected` (an agent) |
//! | [`consult`](CenterHandle::consult) | with an agent on a phone | `ConsultStarted`, `Held`; `ConsultAnswered` once the consulted party answers |
//! | [`swap`](CenterHandle::swap) | the consulted party answered | `ConsultSwapped`, `Resumed`/`Held` |
//! | [`complete_transfer`](CenterHandle::complete_transfer) | the consulted party answered | `ConsultEnded`, `Transferred`, `Connected` (a consulted agent) |
//! | [`cancel_consult`](CenterHandle::cancel_consult) | a consultation | `ConsultEnded`, `Resumed` |
//! | [`conference`](CenterHandle::conference) | the consulted party answered | `ConsultEnded`, `ConferenceJoined` ×3 |
//! | [`add_to_conference`](CenterHandle::add_to_conference) | with an agent on a phone | `ConferenceJoined` once it answers |
//! | [`leave_conference`](CenterHandle::leave_conference) | a conference with another party | `ConferenceLeft` |
//! | [`kick`](CenterHandle::kick) | a party or a supervisor of the call | `ConferenceLeft` / `MonitorEnded` |
//! | [`monitor`](CenterHandle::monitor) | with an agent; a supervisor | `MonitorStarted` once they answer |
//! | [`set_monitor_mode`](CenterHandle::set_monitor_mode) | a monitoring supervisor | `MonitorModeChanged` |
//! | [`hang_up`](CenterHandle::hang_up) | with an agent (or transferred by one) | `Ended` (agent hang-up) |
//! | [`set_wrap_up`](CenterHandle::set_wrap_up) | an agent was connected | `DispositionSet`, `WrapUpNoted` |
//! | [`dial`](CenterHandle::dial) | an available agent | `InteractionCreated` (outbound), `Connected` |
//!
//! Agents taken directly — consulted, added to a conference, transferred
//! to, dialling out — are not offered by the router: they must be
//! available, become
//! `NotReady("consult" | "conference" | "transfer" | "dialing")` while the call has them
//! (so routing offers them nothing) and available again when it lets them go
//! (no after-call work for them). A consulted agent who takes the call over
//! ([`complete_transfer`](CenterHandle::complete_transfer)) becomes its agent
//! and the record lists both. Supervisors are not reserved; an agent may
//! monitor only when their profile says [`supervisor`](callcore::AgentProfile::supervisor).
//! A blind transfer to an agent (from the desktop, or a phone's REFER naming
//! one) reaches exactly that agent, whatever queues they serve: they are
//! taken directly as above and rung at their endpoint while the first agent
//! stays with the customer; when they answer the customer is bridged to
//! them (`Transferred`, `Connected` with the call's queue) and the first
//! agent is released to after-call work. An agent who is not available
//! (on a call, not ready, themselves) is an error (a REFER is refused with
//! 480) and the call stays with the first agent, as it does when their
//! phone does not answer. The call is not routed again, so the queue's
//! skills and strategy play no part.
//!
//! Consulting a queue (or adding one to a conference) takes the agent of
//! that queue who has been available longest, directly as above — not
//! through the router's offer, so its skills and strategy play no part.

use crate::CenterHandle;
use crate::call::CallTarget;
use crate::call_glue::Action;
use callcore::{
    AgentId, CoreError, Disposition, EventKind, InteractionId, LegId, MonitorMode, Pii,
};

impl CenterHandle {
    /// Sends `action` to the live call `interaction` and waits for its answer.
    async fn control(&self, interaction: &InteractionId, action: Action) -> Result<(), CoreError> {
        let not_live = || CoreError::NotFound {
            what: "live interaction",
            id: interaction.to_string(),
        };
        let reply = self
            .shared
            .calls
            .ask(interaction, action)
            .ok_or_else(not_live)?;
        reply.await.map_err(|_| not_live())?
    }

    /// The interactions whose calls are live now (in the flow, waiting, with
    /// an agent, in a conference), sorted: what an operator console or a
    /// desktop lists to act on with the methods below.
    #[must_use]
    pub fn live_calls(&self) -> Vec<InteractionId> {
        let mut calls = self.shared.calls.live();
        calls.sort();
        calls
    }

    /// Puts the customer on hold: the agent's leg leaves the bridge and the
    /// customer hears music on hold until [`resume`](Self::resume).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent, is on
    /// hold already, or a consultation is under way; [`CoreError::NotFound`]
    /// when the interaction is not live.
    pub async fn hold(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::Hold(true)).await
    }

    /// Takes the customer off hold: the music stops, the agent is bridged
    /// back.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not on hold.
    pub async fn resume(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::Hold(false)).await
    }

    /// Mutes (`on`) or unmutes the agent: the customer does not hear them
    /// (the agent listens in the call's mixing room).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent on a
    /// phone or is muted already (not muted); [`CoreError::Unsupported`]
    /// when the call's legs cannot be mixed.
    pub async fn mute(&self, interaction: &InteractionId, on: bool) -> Result<(), CoreError> {
        self.control(interaction, Action::Mute(on)).await
    }

    /// Blind transfer: to a queue (routed again at once, the agent released
    /// to after-call work); to an agent, taken directly whatever queues they
    /// serve (reserved `NotReady("transfer")`, rung at their endpoint,
    /// bridged when they answer); or to a number (placed through a
    /// transport, bridged when it answers). For an agent or a number the
    /// first agent stays with the customer until the target answers, and
    /// keeps the call when it does not.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent, a
    /// consultation or conference is under way, or the target agent is not
    /// available (the call stays as it was); [`CoreError::NotFound`] for an
    /// unknown agent; [`CoreError::Unreachable`] for a number no transport
    /// reaches or an agent with no reachable endpoint.
    pub async fn transfer(
        &self,
        interaction: &InteractionId,
        target: CallTarget,
    ) -> Result<(), CoreError> {
        self.control(interaction, Action::Transfer(target)).await
    }

    /// Attended transfer, first step: the customer is put on hold with
    /// music and a consultation leg is placed to `target` (an agent at their
    /// endpoint, reserved meanwhile; a queue's longest-available agent; or a
    /// number), bridged to the agent when it answers. Then [`swap`](Self::swap),
    /// [`complete_transfer`](Self::complete_transfer),
    /// [`cancel_consult`](Self::cancel_consult) or
    /// [`conference`](Self::conference).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent on a
    /// phone, a consultation or conference is under way, or the target
    /// agent is not available (no agent of the target queue is);
    /// [`CoreError::NotFound`] for an unknown agent or queue;
    /// [`CoreError::Unreachable`] when the target cannot be reached.
    pub async fn consult(
        &self,
        interaction: &InteractionId,
        target: CallTarget,
    ) -> Result<(), CoreError> {
        self.control(interaction, Action::Consult(target)).await
    }

    /// The agent switches between the customer and the consulted party.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] without a consulted party on the line.
    pub async fn swap(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::Swap).await
    }

    /// Completes the attended transfer: the customer is bridged to the
    /// consulted party; the first agent is hung up and released to
    /// after-call work. The record shows both agents.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] without a consulted party on the line.
    pub async fn complete_transfer(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::CompleteTransfer).await
    }

    /// Cancels the consultation: the consulted leg is hung up, the agent is
    /// back with the customer.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when no consultation is under way.
    pub async fn cancel_consult(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::CancelConsult).await
    }

    /// Makes the consultation a three-party conference (customer, agent,
    /// consulted party in one mixing room).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] without a consulted party on the line;
    /// [`CoreError::Unsupported`] when the call's legs cannot be mixed.
    pub async fn conference(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::Conference).await
    }

    /// Adds `target` (an agent, reserved meanwhile, or a number) to the
    /// call's conference — a two-party call becomes one — once it answers.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent on a
    /// phone or a consultation is under way; as [`consult`](Self::consult)
    /// for the target.
    pub async fn add_to_conference(
        &self,
        interaction: &InteractionId,
        target: CallTarget,
    ) -> Result<(), CoreError> {
        self.control(interaction, Action::AddToConference(target))
            .await
    }

    /// The agent leaves the conference (hung up, released to after-call
    /// work); the others stay while the customer and one other party remain.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not a conference with a
    /// party besides the customer and the agent.
    pub async fn leave_conference(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::LeaveConference).await
    }

    /// Hangs up a conference party or a monitoring supervisor, by leg (as
    /// `ConferenceJoined` named it); a supervisor also by their agent id
    /// (`LegId::new("3001")`: no event names their leg).
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when `leg` is no party of the call;
    /// [`CoreError::InvalidState`] when the call is not with an agent.
    pub async fn kick(&self, interaction: &InteractionId, leg: &LegId) -> Result<(), CoreError> {
        self.control(interaction, Action::Kick(leg.clone())).await
    }

    /// A supervisor monitors the call: a leg is placed to their endpoint and
    /// joins customer and agent in a mixing room — listening (hears both),
    /// whispering (only the agent hears them) or barging (all hear all).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] when `supervisor`'s profile is not a
    /// supervisor's; [`CoreError::InvalidState`] when the call is not with
    /// an agent or they monitor it already; [`CoreError::NotFound`] for an
    /// unknown agent; [`CoreError::Unreachable`] when they have no reachable
    /// endpoint; [`CoreError::Unsupported`] when the legs cannot be mixed.
    pub async fn monitor(
        &self,
        interaction: &InteractionId,
        supervisor: &AgentId,
        mode: MonitorMode,
    ) -> Result<(), CoreError> {
        self.control(interaction, Action::Monitor(supervisor.clone(), mode))
            .await
    }

    /// Switches a monitoring supervisor between listen, whisper and barge.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when `supervisor` does not monitor the
    /// call.
    pub async fn set_monitor_mode(
        &self,
        interaction: &InteractionId,
        supervisor: &AgentId,
        mode: MonitorMode,
    ) -> Result<(), CoreError> {
        self.control(interaction, Action::MonitorMode(supervisor.clone(), mode))
            .await
    }

    /// Hangs the call up from the center's side (the agent's hang-up
    /// button): the customer's leg is hung up (cause local), everything else
    /// ends as when a customer hangs up; the record says
    /// `EndReason::AgentHangup`.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent (nor
    /// transferred by one).
    pub async fn hang_up(&self, interaction: &InteractionId) -> Result<(), CoreError> {
        self.control(interaction, Action::HangUp).await
    }

    /// Sets the wrap-up of an interaction — its disposition code and the
    /// agent's notes — for the last agent connected, during the call or
    /// after it (the stored record is updated): journaled as
    /// `DispositionSet` and `WrapUpNoted`, kept in the record's
    /// `disposition` and `notes`. A supervisor's wrap-up; an agent's goes
    /// through [`set_wrap_up_as`](Self::set_wrap_up_as).
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when the interaction is unknown or no agent
    /// was connected to it; [`CoreError::Shutdown`].
    pub async fn set_wrap_up(
        &self,
        interaction: &InteractionId,
        disposition: Disposition,
        notes: Option<String>,
    ) -> Result<(), CoreError> {
        self.wrap_up(interaction, None, disposition, notes).await
    }

    /// Sets the wrap-up of an interaction for `agent`, one of the agents who
    /// took part in it: the agent who transferred a call wraps up their
    /// part, journaled under their id (not the agent who has it now).
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when the interaction is unknown or `agent`
    /// did not take part in it; [`CoreError::Shutdown`].
    pub async fn set_wrap_up_as(
        &self,
        interaction: &InteractionId,
        agent: &AgentId,
        disposition: Disposition,
        notes: Option<String>,
    ) -> Result<(), CoreError> {
        self.wrap_up(interaction, Some(agent), disposition, notes)
            .await
    }

    async fn wrap_up(
        &self,
        interaction: &InteractionId,
        by: Option<&AgentId>,
        disposition: Disposition,
        notes: Option<String>,
    ) -> Result<(), CoreError> {
        // A live call decides itself (its owner knows its agent); one that
        // ended meanwhile is served from its record.
        if let Some(reply) = self.shared.calls.ask(
            interaction,
            Action::Disposition(disposition.clone(), by.cloned()),
        ) && let Ok(result) = reply.await
        {
            result?;
            return match notes {
                Some(n) => {
                    self.control(interaction, Action::Notes(n, by.cloned()))
                        .await
                }
                None => Ok(()),
            };
        }
        self.flush().await;
        let record = self
            .shared
            .stores
            .interactions
            .get(&self.tenant, interaction)
            .await?
            .ok_or_else(|| CoreError::NotFound {
                what: "interaction",
                id: interaction.to_string(),
            })?;
        let agent = match by {
            Some(a) => record.agents.contains(a).then(|| a.clone()),
            None => record.agent,
        }
        .ok_or_else(|| CoreError::NotFound {
            what: "agent of interaction",
            id: interaction.to_string(),
        })?;
        self.shared.emitter.emit(
            &record.tenant,
            EventKind::DispositionSet {
                interaction: interaction.clone(),
                agent: agent.clone(),
                disposition,
            },
        );
        if let Some(notes) = notes {
            self.shared.emitter.emit(
                &record.tenant,
                EventKind::WrapUpNoted {
                    interaction: interaction.clone(),
                    agent,
                    notes: Pii::new(notes),
                },
            );
        }
        Ok(())
    }

    /// Click-to-dial: the agent's phone is rung first; once they answer,
    /// `number` is placed through a transport and bridged to them, as an
    /// outbound interaction with its own record (journaled from
    /// `InteractionCreated`; `Connected` once the customer answers). The
    /// agent is reserved (`NotReady("dialing")`) from now until the call
    /// ends, then available again. Returns the interaction's id at once;
    /// the call goes on in the background.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown agent;
    /// [`CoreError::InvalidState`] when they are not available;
    /// [`CoreError::Unreachable`] when their phone or the number cannot be
    /// reached.
    pub async fn dial(&self, agent: &AgentId, number: &str) -> Result<InteractionId, CoreError> {
        crate::dial::start(self.shared.clone(), self.tenant.clone(), agent, number).await
    }
}
