//! The call's state machine (see the module docs of [`crate::call`]).

use super::{CallCommand, LegInput, OpenRecordings, RouterSignal, StayOptions};
use crate::QueueOutcome;
use callcore::{
    AgentId, Channel, CoreError, Disposition, EndReason, EventKind, HangupCause, Interaction,
    InteractionId, LegId, Pii, QueueId, RecordingStarted, RecordingStopped, RoutingRequest,
    Speaker, TenantId, Timestamp, TransferReport,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Why the call is leaving a queue it asked to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leaving {
    /// The customer hung up.
    CustomerGone,
    /// The connect deadline passed; the customer is still there.
    GaveUp,
    /// The customer asked to be called back (the callback key while waiting).
    Callback,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    /// In the flow (IVR), between queue stays, or over.
    Flow,
    /// In a queue.
    Waiting {
        queue: QueueId,
        leaving: Option<Leaving>,
        /// A final signal that came while leaving.
        noted: Option<QueueOutcome>,
    },
    /// With an agent.
    Talking {
        agent: AgentId,
        queue: QueueId,
        agent_leg: Option<LegId>,
    },
    /// With an agent who asked for a blind transfer to a number or to an
    /// agent taken directly; the target rings.
    Transferring {
        agent: AgentId,
        queue: QueueId,
        /// The agent's leg while it is up.
        agent_leg: Option<LegId>,
        /// A number, or an agent (reserved, in `control.direct`).
        target: super::control::CallTarget,
        /// The agent was released already (they hung up meanwhile).
        released: bool,
        /// The agent's phone asked (REFER): it is told how the transfer went.
        asked: bool,
    },
    /// Transferred out: bridged to a placed leg.
    Outside { leg: LegId, target: String },
    /// A conference the agent left: the customer and the other parties stay
    /// mixed while at least one other party remains.
    Hosted {
        /// The agent who hosted it (released when they left).
        agent: AgentId,
        queue: QueueId,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LegState {
    pub(super) held: bool,
    pub(super) ended: bool,
}

/// The sans-IO owner of one interaction (see [`crate::call`]).
#[derive(Debug)]
pub struct Call {
    pub(super) id: InteractionId,
    pub(super) tenant: TenantId,
    pub(super) channel: Channel,
    pub(super) created_at: Timestamp,
    pub(super) record_calls: bool,
    pub(super) customer: LegId,
    /// The customer's far end hung up (not the center).
    pub(super) customer_hung_up: bool,
    pub(super) legs: BTreeMap<LegId, LegState>,
    pub(super) phase: Phase,
    pub(super) stay: StayOptions,
    /// The last routing request, the model of a transfer's.
    pub(super) template: Option<RoutingRequest>,
    pub(super) last_agent: Option<AgentId>,
    /// Every agent who took part (connected, transferred to, or joined a
    /// conference), in order: who may set this call's wrap-up.
    pub(super) agents: Vec<AgentId>,
    pub(super) on_hold: bool,
    pub(super) recordings: OpenRecordings,
    pub(super) listened: Duration,
    pub(super) ended_at: Option<Timestamp>,
    pub(super) finished: bool,
    pub(super) outcome: Option<Result<QueueOutcome, CoreError>>,
    pub(super) commands: VecDeque<CallCommand>,
    pub(super) events: VecDeque<EventKind>,
    /// Call control in the Talking phase: hold, mute, consultation,
    /// conference, supervisors (see `control.rs`).
    pub(super) control: super::control::Control,
    /// The router keeps the place of the callback asked for while waiting.
    pub(super) callback_kept: bool,
}

impl Call {
    /// The call of `interaction`, whose customer is on `customer_leg`.
    /// `record_calls`: bridged conversations are recorded.
    #[must_use]
    pub fn new(interaction: &Interaction, customer_leg: LegId, record_calls: bool) -> Self {
        let mut legs = BTreeMap::new();
        legs.insert(customer_leg.clone(), LegState::default());
        Self {
            id: interaction.id.clone(),
            tenant: interaction.tenant.clone(),
            channel: interaction.channel,
            created_at: interaction.created_at,
            record_calls,
            customer: customer_leg,
            customer_hung_up: false,
            legs,
            phase: Phase::Flow,
            stay: StayOptions::default(),
            template: None,
            last_agent: None,
            agents: Vec::new(),
            on_hold: false,
            recordings: OpenRecordings::new(),
            listened: Duration::ZERO,
            ended_at: None,
            finished: false,
            outcome: None,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            control: super::control::Control::default(),
            callback_kept: false,
        }
    }

    /// The interaction.
    #[must_use]
    pub const fn interaction(&self) -> &InteractionId {
        &self.id
    }

    /// Its tenant.
    #[must_use]
    pub const fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// When the interaction arrived (the origin of events' `offset_ms`).
    #[must_use]
    pub const fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// The last agent connected, if any.
    #[must_use]
    pub const fn last_agent(&self) -> Option<&AgentId> {
        self.last_agent.as_ref()
    }

    /// Whether the customer's leg has ended (hung up by either side).
    #[must_use]
    pub fn customer_gone(&self) -> bool {
        !self.is_live(&self.customer)
    }

    /// Whether the customer hung up (as opposed to the center hanging up).
    #[must_use]
    pub const fn customer_hung_up(&self) -> bool {
        self.customer_hung_up
    }

    /// Whether `Ended` has been emitted.
    #[must_use]
    pub const fn ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// Whether the call is waiting in, or leaving, a queue.
    #[must_use]
    pub const fn in_queue(&self) -> bool {
        matches!(self.phase, Phase::Waiting { .. })
    }

    /// Whether the call waits in a queue for an agent (not leaving it): the
    /// time the customer hears music, announcements and the callback offer.
    #[must_use]
    pub const fn waiting_for_agent(&self) -> bool {
        matches!(self.phase, Phase::Waiting { leaving: None, .. })
    }

    /// Whether the flow has finished and every recording has stopped: the
    /// owner may drop the call.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished && self.recordings.is_empty()
    }

    /// The skills the call's last queue stay required of its agent.
    #[must_use]
    pub fn required_skills(&self) -> &[callcore::SkillRequirement] {
        self.template
            .as_ref()
            .map_or(&[][..], |t| t.required_skills.as_slice())
    }

    /// Whether commands wait to be polled.
    #[must_use]
    pub fn has_commands(&self) -> bool {
        !self.commands.is_empty()
    }

    /// The next command for the glue.
    pub fn poll_command(&mut self) -> Option<CallCommand> {
        self.commands.pop_front()
    }

    /// The next event to emit.
    pub fn poll_event(&mut self) -> Option<EventKind> {
        self.events.pop_front()
    }

    /// How the current queue stay ended, once it has (taken once).
    /// `Err(CoreError::Shutdown)` when the router went away.
    pub fn take_outcome(&mut self) -> Option<Result<QueueOutcome, CoreError>> {
        self.outcome.take()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match &self.phase {
            Phase::Waiting { leaving: None, .. } => self.stay.give_up_at,
            _ => None,
        }
    }

    /// Fires the connect deadline: the call leaves the queue.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.poll_timeout().is_some_and(|t| t <= now)
            && let Phase::Waiting { leaving, .. } = &mut self.phase
        {
            *leaving = Some(Leaving::GaveUp);
            self.commands.push_back(CallCommand::LeaveQueue);
        }
    }

    /// The customer pressed the callback key while waiting: the call leaves
    /// the queue and the stay ends with [`QueueOutcome::CallbackRequested`]
    /// (an agent connected meanwhile still serves them). Ignored when not
    /// waiting for an agent.
    pub fn handle_callback_request(&mut self, now: Timestamp) {
        let _ = now;
        if let Phase::Waiting { leaving, .. } = &mut self.phase
            && leaving.is_none()
        {
            *leaving = Some(Leaving::Callback);
            self.commands.push_back(CallCommand::RequestCallback);
        }
    }

    /// The router keeps the place of the callback the customer asked for
    /// (answer to [`CallCommand::RequestCallback`]); it lets go of the call
    /// next, and the stay ends with a callback the flow need not book.
    pub fn handle_callback_kept(&mut self) {
        if matches!(
            self.phase,
            Phase::Waiting {
                leaving: Some(Leaving::Callback),
                ..
            }
        ) {
            self.callback_kept = true;
        }
    }

    // ----- the flow's inputs -------------------------------------------------

    /// The flow did something worth journaling (nothing is journaled for a
    /// customer who is gone).
    pub fn handle_flow_step(&mut self, step: &str, detail: String) {
        if !self.ended() {
            self.events.push_back(EventKind::FlowStep {
                interaction: self.id.clone(),
                step: step.to_owned(),
                detail,
            });
        }
    }

    /// The flow listened for `listened` and a recognizer heard `text` (on a
    /// voice leg: a transcript segment of the customer and recognizer time).
    pub fn handle_heard(&mut self, text: Option<&str>, listened: Duration, now: Timestamp) {
        if self.channel != Channel::Voice {
            return;
        }
        self.listened += listened;
        if let Some(text) = text.filter(|t| !t.trim().is_empty())
            && !self.ended()
        {
            let spoke_at = now - listened;
            self.events.push_back(EventKind::TranscriptSegment {
                interaction: self.id.clone(),
                speaker: Speaker::Customer,
                text: Pii::new(text.to_owned()),
                offset_ms: ms(spoke_at.duration_since(self.created_at)),
            });
        }
    }

    /// The flow transferred the customer itself (`FlowContext::transfer`).
    pub fn handle_flow_transfer(&mut self, target: &str, now: Timestamp) {
        self.events.push_back(EventKind::Transferred {
            interaction: self.id.clone(),
            target: target.to_owned(),
        });
        self.end(EndReason::Transferred, now);
    }

    /// The flow hangs up on the customer.
    pub fn handle_hangup_request(&mut self) {
        let customer = self.customer.clone();
        self.hang_up(&customer);
    }

    /// The flow enters a queue with `request` (built from the interaction as
    /// it is now).
    pub fn handle_enqueue(&mut self, request: RoutingRequest, stay: StayOptions, now: Timestamp) {
        let _ = now;
        if self.customer_gone() {
            self.outcome = Some(Ok(QueueOutcome::Abandoned));
            return;
        }
        self.stay = stay;
        self.enter_queue(request);
    }

    /// The flow is over with `reason`: whatever is still up is torn down,
    /// `Ended` (if not yet) and the usage are emitted.
    pub fn handle_flow_finished(&mut self, reason: EndReason, now: Timestamp) {
        if self.finished {
            return;
        }
        self.close_control(now);
        match std::mem::replace(&mut self.phase, Phase::Flow) {
            Phase::Waiting { leaving: None, .. } => {
                self.commands.push_back(CallCommand::LeaveQueue)
            }
            Phase::Talking {
                agent, agent_leg, ..
            } => {
                self.hang_up_opt(agent_leg.as_ref());
                self.release_agent(agent);
            }
            Phase::Transferring {
                agent,
                agent_leg,
                released,
                target,
                ..
            } => {
                self.hang_up_opt(agent_leg.as_ref());
                if !released {
                    self.release_agent(agent);
                }
                self.free_target(&target);
            }
            Phase::Outside { leg, .. } => self.hang_up(&leg),
            Phase::Flow | Phase::Waiting { .. } | Phase::Hosted { .. } => {}
        }
        self.sync_hold();
        let reason = if self.customer_hung_up && reason == EndReason::Completed {
            EndReason::CustomerHangup
        } else {
            reason
        };
        self.end(reason, now);
        let customer = self.customer.clone();
        self.hang_up(&customer);
        self.finished = true;
        if self.channel == Channel::Voice {
            let ended = self.ended_at.unwrap_or(now);
            #[allow(clippy::cast_precision_loss)]
            let minutes = ms(ended.duration_since(self.created_at)) as f64 / 60_000.0;
            self.events.push_back(EventKind::Usage {
                meter: "voice_minutes".to_owned(),
                quantity: minutes,
                channel: Some(Channel::Voice),
            });
            if !self.listened.is_zero() {
                self.events.push_back(EventKind::Usage {
                    meter: "asr_seconds".to_owned(),
                    quantity: self.listened.as_secs_f64(),
                    channel: Some(Channel::Voice),
                });
            }
        }
    }

    /// `agent` is now the call's agent (connected, transferred to): the one
    /// a wrap-up without a named agent is journaled for.
    pub(super) fn connected_agent(&mut self, agent: &AgentId) {
        self.last_agent = Some(agent.clone());
        self.took_part(agent);
    }

    /// `agent` took part in the call (also as a conference party).
    pub(super) fn took_part(&mut self, agent: &AgentId) {
        if !self.agents.contains(agent) {
            self.agents.push(agent.clone());
        }
    }

    /// Whose wrap-up this is: `by` when that agent took part in the call,
    /// else (no agent named) the last agent connected.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when no agent has been connected, or `by`
    /// never took part.
    pub(super) fn wrap_up_agent(&self, by: Option<&AgentId>) -> Result<AgentId, CoreError> {
        let agent = match by {
            Some(a) => self.agents.contains(a).then(|| a.clone()),
            None => self.last_agent.clone(),
        };
        agent.ok_or_else(|| CoreError::NotFound {
            what: "agent of interaction",
            id: self.id.to_string(),
        })
    }

    /// An agent (or supervisor) sets the disposition code: journaled for
    /// `by` (an agent who took part in the call, say the one who
    /// transferred it), or for the last agent connected when `None`.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] when no agent has been connected, or `by`
    /// never took part.
    pub fn handle_disposition(
        &mut self,
        disposition: Disposition,
        by: Option<&AgentId>,
    ) -> Result<(), CoreError> {
        let agent = self.wrap_up_agent(by)?;
        self.events.push_back(EventKind::DispositionSet {
            interaction: self.id.clone(),
            agent,
            disposition,
        });
        Ok(())
    }

    // ----- the router's inputs ----------------------------------------------

    /// A signal from the routing task about the current queue stay.
    pub fn handle_signal(&mut self, signal: RouterSignal, now: Timestamp) {
        let _ = now;
        let Phase::Waiting { leaving, .. } = &self.phase else {
            // not waiting: only a stray connection can need undoing
            if let RouterSignal::Connected { agent, leg, .. } = signal {
                self.refuse_agent(agent, leg);
            }
            return;
        };
        let leaving = *leaving;
        match signal {
            RouterSignal::Queued {
                position,
                estimated_wait_secs,
            } => {
                if leaving.is_none() && self.stay.announce_position {
                    self.commands.push_back(CallCommand::Announce(announcement(
                        position,
                        estimated_wait_secs,
                    )));
                }
            }
            RouterSignal::Connected { agent, queue, leg } => {
                if leaving == Some(Leaving::CustomerGone) {
                    self.refuse_agent(agent, leg);
                } else {
                    self.connect(agent, queue, leg);
                }
            }
            RouterSignal::Rejected(reason) => self.stay_over(QueueOutcome::Rejected(reason)),
            RouterSignal::Overflow(destination) => {
                self.stay_over(QueueOutcome::Overflow(destination));
            }
            RouterSignal::TimedOut => self.stay_over(QueueOutcome::TimedOut),
        }
    }

    /// The routing task let go of the interaction (its signal channel
    /// closed): nothing more comes for this stay.
    pub fn handle_released(&mut self, now: Timestamp) {
        if !matches!(self.phase, Phase::Waiting { .. }) {
            return;
        }
        let Phase::Waiting {
            queue,
            leaving,
            noted,
        } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            return;
        };
        match (leaving, noted) {
            (Some(Leaving::CustomerGone), noted) => {
                let reason = if noted.is_some() {
                    EndReason::CustomerHangup
                } else {
                    self.events.push_back(EventKind::Abandoned {
                        interaction: self.id.clone(),
                        queue,
                    });
                    EndReason::Abandoned
                };
                self.end(reason, now);
                self.outcome = Some(Ok(QueueOutcome::Abandoned));
            }
            (Some(Leaving::GaveUp | Leaving::Callback), Some(outcome)) => {
                self.outcome = Some(Ok(outcome));
            }
            (Some(Leaving::Callback), None) => {
                self.events.push_back(EventKind::QueueExited {
                    interaction: self.id.clone(),
                    queue: queue.clone(),
                    reason: "callback".to_owned(),
                });
                let waiting_since = self.template.as_ref().map_or(now, |t| t.enqueued_at);
                self.outcome = Some(Ok(QueueOutcome::CallbackRequested {
                    queue,
                    waiting_since,
                    kept_by_router: std::mem::take(&mut self.callback_kept),
                }));
            }
            (Some(Leaving::GaveUp), None) => {
                self.events.push_back(EventKind::QueueExited {
                    interaction: self.id.clone(),
                    queue,
                    reason: "connect_timeout".to_owned(),
                });
                self.outcome = Some(Ok(QueueOutcome::TimedOut));
            }
            (None, _) => self.outcome = Some(Err(CoreError::Shutdown)),
        }
    }

    // ----- the legs' inputs -------------------------------------------------

    /// `leg` ended (hung up by its far end, or failed). Legs the call hung up
    /// itself, or does not know, are ignored.
    pub fn handle_leg_ended(&mut self, leg: &LegId, now: Timestamp) {
        match self.legs.get_mut(leg) {
            Some(s) if !s.ended => s.ended = true,
            _ => return,
        }
        if *leg == self.customer {
            self.customer_left(now);
            return;
        }
        match std::mem::replace(&mut self.phase, Phase::Flow) {
            Phase::Talking {
                agent,
                queue,
                agent_leg: Some(l),
            } if l == *leg => {
                if self.agent_left_conference(&agent, &queue, &l, now) {
                    return;
                }
                if self.consulted_party_up() {
                    // hanging up during a consultation completes the transfer
                    self.phase = Phase::Talking {
                        agent,
                        queue,
                        agent_leg: Some(l),
                    };
                    let _ = self.handle_complete_transfer(now);
                    return;
                }
                self.close_control(now);
                self.sync_hold();
                self.release_agent(agent.clone());
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: false,
                }));
            }
            Phase::Transferring {
                agent,
                queue,
                agent_leg: Some(l),
                target,
                released,
                asked,
            } if l == *leg => {
                if !released {
                    self.release_agent(agent.clone());
                }
                self.phase = Phase::Transferring {
                    agent,
                    queue,
                    agent_leg: None,
                    target,
                    released: true,
                    asked,
                };
                self.sync_hold();
            }
            Phase::Outside { leg: l, target } if l == *leg => {
                let customer = self.customer.clone();
                self.hang_up(&customer);
                self.end(EndReason::Transferred, now);
                self.outcome = Some(Ok(QueueOutcome::Transferred { target }));
            }
            other => {
                self.phase = other;
                self.control_leg_ended(leg, now);
            }
        }
    }

    /// The far end of `leg` held, resumed or asked for a transfer.
    pub fn handle_leg_event(&mut self, leg: &LegId, input: LegInput, now: Timestamp) {
        if !self.is_live(leg) {
            return;
        }
        match input {
            LegInput::Held | LegInput::Resumed => {
                if let Some(s) = self.legs.get_mut(leg) {
                    s.held = input == LegInput::Held;
                }
                self.sync_hold();
            }
            LegInput::TransferRequested(target) => self.transfer_requested(leg, target, now),
        }
    }

    /// A bridge the call asked for is up; `recording` started with it.
    pub fn handle_bridged(&mut self, recording: Option<&RecordingStarted>) {
        if let Some(r) = recording
            && self.recordings.insert(r.id.clone())
        {
            self.events.push_back(EventKind::RecordingStarted {
                interaction: self.id.clone(),
                recording: r.id.clone(),
            });
        }
    }

    /// A recording's file is complete.
    pub fn handle_recording_stopped(&mut self, stopped: &RecordingStopped) {
        if self.recordings.remove(&stopped.id) {
            self.events.push_back(EventKind::RecordingStopped {
                interaction: self.id.clone(),
                recording: stopped.id.clone(),
                duration_ms: stopped.duration_ms,
            });
        }
    }

    /// The media engine gave up on a recording: it is closed without length.
    pub fn handle_recording_lost(&mut self, id: &callcore::RecordingId) {
        if self.recordings.remove(id) {
            self.events.push_back(EventKind::RecordingStopped {
                interaction: self.id.clone(),
                recording: id.clone(),
                duration_ms: 0,
            });
        }
    }

    // ----- transitions --------------------------------------------------------

    pub(super) fn is_live(&self, leg: &LegId) -> bool {
        self.legs.get(leg).is_some_and(|s| !s.ended)
    }

    pub(super) fn hang_up(&mut self, leg: &LegId) {
        if let Some(s) = self.legs.get_mut(leg)
            && !s.ended
        {
            s.ended = true;
            self.commands.push_back(CallCommand::HangUp(leg.clone()));
        }
    }

    pub(super) fn hang_up_opt(&mut self, leg: Option<&LegId>) {
        if let Some(l) = leg {
            self.hang_up(l);
        }
    }

    pub(super) fn report(&mut self, leg: &LegId, report: TransferReport) {
        if self.is_live(leg) {
            self.commands.push_back(CallCommand::ReportTransfer {
                leg: leg.clone(),
                report,
            });
        }
    }

    pub(super) fn end(&mut self, reason: EndReason, now: Timestamp) {
        if self.ended_at.is_none() {
            let reason = self.control.end_reason.take().unwrap_or(reason);
            self.ended_at = Some(now);
            self.events.push_back(EventKind::Ended {
                interaction: self.id.clone(),
                reason,
            });
        }
    }

    /// Emits `Held`/`Resumed` when the conversation's hold state changes: on
    /// hold while connected to an agent and either side's phone holds.
    pub(super) fn sync_hold(&mut self) {
        let agent_leg = match &self.phase {
            Phase::Talking { agent_leg, .. } | Phase::Transferring { agent_leg, .. } => {
                Some(agent_leg.clone())
            }
            _ => None,
        };
        let held = |leg: &LegId| self.legs.get(leg).is_some_and(|s| s.held && !s.ended);
        let control_holds = self.control.holds_customer() && self.is_live(&self.customer);
        let on_hold = agent_leg
            .is_some_and(|a| held(&self.customer) || a.as_ref().is_some_and(held) || control_holds);
        if on_hold != self.on_hold {
            self.on_hold = on_hold;
            let interaction = self.id.clone();
            self.events.push_back(if on_hold {
                EventKind::Held { interaction }
            } else {
                EventKind::Resumed { interaction }
            });
        }
    }

    pub(super) fn enter_queue(&mut self, request: RoutingRequest) {
        self.phase = Phase::Waiting {
            queue: request.queue.clone(),
            leaving: None,
            noted: None,
        };
        self.template = Some(request.clone());
        self.commands
            .push_back(CallCommand::Enqueue(Box::new(request)));
    }

    pub(super) fn connect(&mut self, agent: AgentId, queue: QueueId, leg: Option<LegId>) {
        if let Some(l) = &leg {
            self.legs.insert(l.clone(), LegState::default());
            self.commands.push_back(CallCommand::Bridge {
                leg: self.customer.clone(),
                to: l.clone(),
                record: self.record_calls,
            });
        }
        self.control.reset_for(&self.customer, leg.as_ref());
        self.connected_agent(&agent);
        self.events.push_back(EventKind::Connected {
            interaction: self.id.clone(),
            agent: agent.clone(),
            queue: queue.clone(),
        });
        self.phase = Phase::Talking {
            agent,
            queue,
            agent_leg: leg,
        };
        self.sync_hold();
    }

    /// An agent connected to a call that no longer wants one: their phone is
    /// hung up and they are released.
    fn refuse_agent(&mut self, agent: AgentId, leg: Option<LegId>) {
        if let Some(l) = leg {
            self.legs.insert(l.clone(), LegState::default());
            self.hang_up(&l);
        }
        self.release_agent(agent);
    }

    fn stay_over(&mut self, outcome: QueueOutcome) {
        match &mut self.phase {
            Phase::Waiting {
                leaving: Some(_),
                noted,
                ..
            } => *noted = Some(outcome),
            _ => {
                self.phase = Phase::Flow;
                self.outcome = Some(Ok(outcome));
            }
        }
    }

    pub(super) fn customer_left(&mut self, now: Timestamp) {
        self.customer_hung_up = true;
        self.close_control(now);
        match std::mem::replace(&mut self.phase, Phase::Flow) {
            // the flow notices (its media fails) and reports its reason
            Phase::Flow => {}
            Phase::Waiting {
                queue,
                leaving,
                noted,
            } => {
                if leaving.is_none() {
                    self.commands.push_back(CallCommand::LeaveQueue);
                }
                self.phase = Phase::Waiting {
                    queue,
                    leaving: Some(Leaving::CustomerGone),
                    noted,
                };
            }
            Phase::Talking {
                agent, agent_leg, ..
            } => {
                self.sync_hold();
                self.hang_up_opt(agent_leg.as_ref());
                self.release_agent(agent.clone());
                self.end(EndReason::CustomerHangup, now);
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: true,
                }));
            }
            Phase::Transferring {
                agent,
                agent_leg,
                released,
                asked,
                target,
                ..
            } => {
                self.free_target(&target);
                self.sync_hold();
                if let Some(l) = agent_leg.as_ref().filter(|_| asked) {
                    self.report(l, TransferReport::Failed(HangupCause::Remote));
                }
                self.hang_up_opt(agent_leg.as_ref());
                if !released {
                    self.release_agent(agent.clone());
                }
                self.end(EndReason::CustomerHangup, now);
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: true,
                }));
            }
            Phase::Outside { leg, target } => {
                self.hang_up(&leg);
                self.end(EndReason::Transferred, now);
                self.outcome = Some(Ok(QueueOutcome::Transferred { target }));
            }
            Phase::Hosted { agent, .. } => {
                self.end(EndReason::CustomerHangup, now);
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: true,
                }));
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a customer entering a queue is told.
fn announcement(position: u32, estimated_wait_secs: Option<u32>) -> String {
    let mut text = format!("You are number {position} in the queue.");
    if let Some(secs) = estimated_wait_secs {
        let minutes = secs.div_ceil(60).max(1);
        text.push_str(&format!(
            " The expected wait is about {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ));
    }
    text
}
