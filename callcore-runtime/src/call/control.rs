//! Call control while the customer is with an agent: what the agent asked
//! for, and the media arrangement every action leads to.
//!
//! The call keeps what the agent asked for (held, muted, a consultation, a
//! conference's parties, supervisors) and derives from it, after every
//! change, how the legs' media must be arranged ([`Call::arrange`]): the
//! customer bridged to the agent; apart (on hold, with music); the agent
//! bridged to a consulted party; or every leg in a mixing room with a role
//! (a muted agent listens, a whispering supervisor is heard by the agent
//! only). Only the difference to the current arrangement becomes commands.
//! The actions: hold, mute, blind transfer, hang-up and notes in `desk.rs`,
//! consultations in `consult.rs`, conferences in `conference.rs`,
//! supervisors in `supervision.rs`.

use super::CallCommand;
use super::machine::{Call, LegState, Phase};
use callcore::{
    AgentId, CoreError, EndReason, EventKind, HangupCause, LegId, MixRole, MonitorMode, QueueId,
    Timestamp,
};
use std::collections::BTreeSet;
use std::fmt;

/// Whom a call-control action reaches: an agent of the center (at their
/// endpoint), a queue, or a number a transport reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallTarget {
    /// An agent of the center.
    Agent(AgentId),
    /// A queue of the center.
    Queue(QueueId),
    /// A number (through a trunk).
    Number(String),
}

impl fmt::Display for CallTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Agent(a) => write!(f, "agent:{a}"),
            Self::Queue(q) => write!(f, "queue:{q}"),
            Self::Number(n) => write!(f, "number:{n}"),
        }
    }
}

impl CallTarget {
    /// The target for logs and error messages: a number masked
    /// ([`callcore::Masked`]), agents and queues as they are.
    pub fn masked(&self) -> String {
        match self {
            Self::Number(n) => format!("number:{}", callcore::Masked(n)),
            other => other.to_string(),
        }
    }
}

/// A transfer target as the runtime writes it (`queue:…`, `agent:…`, else a
/// number or address) for logs and error messages: numbers masked.
fn masked(target: &str) -> String {
    if target.starts_with("queue:") || target.starts_with("agent:") {
        target.to_owned()
    } else {
        callcore::Masked(target).to_string()
    }
}

/// What a leg placed for call control is for (see
/// [`CallCommand::PlaceFor`]): the glue hands it back with the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub(super) seq: u64,
    pub(super) purpose: Purpose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Purpose {
    Consult,
    Party,
    Monitor(AgentId),
}

/// How the legs' media are arranged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Media {
    /// Nobody bridged.
    #[default]
    Apart,
    /// Two legs bridged.
    Bridged(LegId, LegId),
    /// The call's mixing room with these members.
    Room(Vec<(LegId, MixRole)>),
}

#[derive(Debug, Clone)]
pub(super) struct Consult {
    pub(super) seq: u64,
    pub(super) target: CallTarget,
    /// Up once it answered.
    pub(super) leg: Option<LegId>,
    /// The agent talks to the customer (else to the consulted party).
    pub(super) with_customer: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Party {
    pub(super) leg: LegId,
    pub(super) target: CallTarget,
}

#[derive(Debug, Clone)]
pub(super) struct Monitor {
    pub(super) seq: u64,
    pub(super) supervisor: AgentId,
    pub(super) mode: MonitorMode,
    pub(super) leg: Option<LegId>,
}

/// What the agent asked for, and the media arrangement it led to.
#[derive(Debug, Default)]
pub(super) struct Control {
    pub(super) held: bool,
    pub(super) muted: bool,
    pub(super) consult: Option<Consult>,
    /// A conference is on (customer, agent and `parties` mixed).
    pub(super) conference: bool,
    pub(super) parties: Vec<Party>,
    /// Parties being placed, by placement.
    pub(super) pending_parties: Vec<(u64, CallTarget)>,
    pub(super) monitors: Vec<Monitor>,
    pub(super) media: Media,
    pub(super) music: bool,
    /// Agents the call took directly (not offered by the router): freed,
    /// not released to after-call work.
    pub(super) direct: BTreeSet<AgentId>,
    /// Why the call ends, whatever the path to the end says (the center
    /// hung up).
    pub(super) end_reason: Option<EndReason>,
    seq: u64,
}

impl Control {
    /// Whether the customer is on hold because of the agent's actions.
    pub(super) fn holds_customer(&self) -> bool {
        self.held || self.consult.as_ref().is_some_and(|k| !k.with_customer)
    }

    /// A consultation or a conference is under way.
    pub(super) fn is_busy(&self) -> bool {
        self.consult.is_some() || !self.parties.is_empty() || !self.pending_parties.is_empty()
    }

    /// Nothing but the customer's bridge to the agent (or nothing at all).
    pub(super) fn is_plain_bridge(&self) -> bool {
        !self.music && !matches!(self.media, Media::Room(_)) && !self.is_busy()
    }

    /// A new agent is connected (bridged to `customer` on `leg`).
    pub(super) fn reset_for(&mut self, customer: &LegId, leg: Option<&LegId>) {
        self.held = false;
        self.muted = false;
        self.consult = None;
        self.conference = false;
        self.parties.clear();
        self.pending_parties.clear();
        self.monitors.clear();
        self.music = false;
        self.media = leg.map_or(Media::Apart, |l| {
            Media::Bridged(customer.clone(), l.clone())
        });
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl Call {
    // ----- helpers --------------------------------------------------------

    /// The call's state in words, for errors.
    pub(super) fn state_text(&self) -> String {
        if self.ended() {
            return "the call has ended".to_owned();
        }
        match &self.phase {
            Phase::Flow => "the call is not with an agent (in the flow)".to_owned(),
            Phase::Waiting { queue, .. } => format!("the call is waiting in queue {queue}"),
            Phase::Talking { agent, .. } => {
                let c = &self.control;
                if let Some(k) = &c.consult {
                    format!("agent {agent} is consulting {}", k.target.masked())
                } else if c.conference || !c.parties.is_empty() {
                    format!("agent {agent} is in a conference")
                } else if c.held {
                    format!("the call is on hold with agent {agent}")
                } else {
                    format!("the call is with agent {agent}")
                }
            }
            Phase::Transferring { target, .. } => {
                format!("the call is being transferred to {}", target.masked())
            }
            Phase::Outside { target, .. } => {
                format!("the call was transferred to {}", masked(target))
            }
            Phase::Hosted { .. } => "the call is a conference its agent left".to_owned(),
        }
    }

    pub(super) fn invalid(&self, action: &'static str, why: Option<&str>) -> CoreError {
        CoreError::InvalidState {
            action,
            state: why.map_or_else(|| self.state_text(), str::to_owned),
        }
    }

    /// The agent, queue and agent leg of a call with an agent.
    pub(super) fn talking(
        &self,
        action: &'static str,
    ) -> Result<(AgentId, QueueId, Option<LegId>), CoreError> {
        match &self.phase {
            Phase::Talking {
                agent,
                queue,
                agent_leg,
            } if !self.ended() => Ok((agent.clone(), queue.clone(), agent_leg.clone())),
            _ => Err(self.invalid(action, None)),
        }
    }

    /// Releases the agent: to after-call work when the router offered them
    /// the call, back to available when the call took them directly.
    pub(super) fn release_agent(&mut self, agent: AgentId) {
        if self.control.direct.remove(&agent) {
            self.commands.push_back(CallCommand::FreeAgent(agent));
        } else {
            self.commands.push_back(CallCommand::ReleaseAgent(agent));
        }
    }

    /// Frees an agent the call took directly for `target` (nothing for a
    /// number).
    pub(super) fn free_target(&mut self, target: &CallTarget) {
        if let CallTarget::Agent(a) = target
            && self.control.direct.remove(a)
        {
            self.commands.push_back(CallCommand::FreeAgent(a.clone()));
        }
    }

    /// Takes `target` directly (the glue reserved it).
    pub(super) fn take_target(&mut self, target: &CallTarget) {
        if let CallTarget::Agent(a) = target {
            self.control.direct.insert(a.clone());
        }
    }

    /// Places a leg for `purpose`.
    pub(super) fn place_for(&mut self, purpose: Purpose, to: CallTarget) -> u64 {
        let seq = self.control.next_seq();
        self.commands.push_back(CallCommand::PlaceFor {
            placement: Placement { seq, purpose },
            to,
        });
        seq
    }

    // ----- the media arrangement ------------------------------------------

    /// Derives the media arrangement from what the agent asked for and
    /// commands the difference.
    pub(super) fn arrange(&mut self) {
        let (agent_leg, hosted) = match &self.phase {
            Phase::Talking { agent_leg, .. } => (agent_leg.clone(), false),
            Phase::Hosted { .. } => (None, true),
            _ => return,
        };
        let customer = self.customer.clone();
        let c = &self.control;
        let customer_held = c.holds_customer() && !hosted;
        let consult_leg = c.consult.as_ref().and_then(|k| k.leg.clone());
        let with_consulted = c.consult.as_ref().is_some_and(|k| !k.with_customer);
        let monitors: Vec<_> = c
            .monitors
            .iter()
            .filter_map(|m| m.leg.clone().map(|l| (l, m.mode)))
            .collect();
        let room = hosted || c.conference || c.muted || !monitors.is_empty();
        let desired = if room {
            let mut members = Vec::new();
            if !customer_held {
                members.push((customer.clone(), MixRole::Party));
            }
            if let Some(a) = &agent_leg {
                let role = if c.muted {
                    MixRole::Listen
                } else {
                    MixRole::Party
                };
                members.push((a.clone(), role));
            }
            if with_consulted && let Some(k) = &consult_leg {
                members.push((k.clone(), MixRole::Party));
            }
            for p in &c.parties {
                members.push((p.leg.clone(), MixRole::Party));
            }
            for (leg, mode) in monitors {
                let role = match (mode, &agent_leg) {
                    (MonitorMode::Barge, _) => MixRole::Party,
                    (MonitorMode::Whisper, Some(a)) => MixRole::Whisper { to: a.clone() },
                    _ => MixRole::Listen,
                };
                members.push((leg, role));
            }
            members.retain(|(l, _)| self.is_live(l));
            Media::Room(members)
        } else if with_consulted {
            match (agent_leg, consult_leg) {
                (Some(a), Some(k)) => Media::Bridged(a, k),
                _ => Media::Apart,
            }
        } else if customer_held {
            Media::Apart
        } else {
            agent_leg.map_or(Media::Apart, |a| Media::Bridged(customer.clone(), a))
        };
        let music = customer_held && self.is_live(&customer);
        if !music && self.control.music {
            self.control.music = false;
            self.commands.push_back(CallCommand::Music(false));
        }
        self.apply_media(desired);
        if music && !self.control.music {
            self.control.music = true;
            self.commands.push_back(CallCommand::Music(true));
        }
    }

    fn apply_media(&mut self, desired: Media) {
        let old = std::mem::replace(&mut self.control.media, desired.clone());
        if old == desired {
            return;
        }
        if let Media::Room(_) = &old
            && !matches!(desired, Media::Room(_))
        {
            self.commands.push_back(CallCommand::CloseRoom);
        }
        if let Media::Bridged(a, b) = &old {
            self.unbridge(a, b);
        }
        match desired {
            Media::Room(members) => self.commands.push_back(CallCommand::Mix(members)),
            Media::Bridged(a, b) => {
                let record = self.record_calls && a == self.customer;
                self.commands.push_back(CallCommand::Bridge {
                    leg: a,
                    to: b,
                    record,
                });
            }
            Media::Apart => {}
        }
    }

    /// Takes the bridge of `a` and `b` apart, through a leg still up.
    fn unbridge(&mut self, a: &LegId, b: &LegId) {
        if let Some(l) = [a, b].into_iter().find(|l| self.is_live(l)) {
            self.commands.push_back(CallCommand::Unbridge(l.clone()));
        }
    }

    /// Ends every call-control extra: the consultation, the conference's
    /// parties, the supervisors, hold, mute, the room and the music (the
    /// customer's bridge to the agent stays as it is).
    pub(super) fn close_control(&mut self, now: Timestamp) {
        let _ = now;
        let plain = self.control.is_plain_bridge();
        if let Some(k) = self.control.consult.take() {
            self.hang_up_opt(k.leg.as_ref());
            self.free_target(&k.target);
            self.events.push_back(EventKind::ConsultEnded {
                interaction: self.id.clone(),
                target: k.target.to_string(),
                outcome: "ended".to_owned(),
            });
        }
        for p in std::mem::take(&mut self.control.parties) {
            self.hang_up(&p.leg);
            self.free_target(&p.target);
            self.events.push_back(EventKind::ConferenceLeft {
                interaction: self.id.clone(),
                leg: p.leg,
                party: p.target.to_string(),
                reason: "ended".to_owned(),
            });
        }
        for (_, target) in std::mem::take(&mut self.control.pending_parties) {
            self.free_target(&target);
        }
        for m in std::mem::take(&mut self.control.monitors) {
            self.hang_up_opt(m.leg.as_ref());
            self.events.push_back(EventKind::MonitorEnded {
                interaction: self.id.clone(),
                supervisor: m.supervisor,
            });
        }
        self.control.held = false;
        self.control.muted = false;
        self.control.conference = false;
        if self.control.music {
            self.control.music = false;
            self.commands.push_back(CallCommand::Music(false));
        }
        if !plain {
            match std::mem::take(&mut self.control.media) {
                Media::Room(_) => self.commands.push_back(CallCommand::CloseRoom),
                Media::Bridged(a, b) => self.unbridge(&a, &b),
                Media::Apart => {}
            }
        }
        self.sync_hold();
    }

    /// A call-control leg ended (its far end hung up).
    pub(super) fn control_leg_ended(&mut self, leg: &LegId, now: Timestamp) {
        if self
            .control
            .consult
            .as_ref()
            .is_some_and(|k| k.leg.as_ref() == Some(leg))
        {
            if let Some(k) = self.control.consult.take() {
                self.free_target(&k.target);
                self.events.push_back(EventKind::ConsultEnded {
                    interaction: self.id.clone(),
                    target: k.target.to_string(),
                    outcome: "hung_up".to_owned(),
                });
            }
            self.control.held = false;
        } else if let Some(i) = self.control.parties.iter().position(|p| p.leg == *leg) {
            let p = self.control.parties.remove(i);
            self.free_target(&p.target);
            self.events.push_back(EventKind::ConferenceLeft {
                interaction: self.id.clone(),
                leg: p.leg,
                party: p.target.to_string(),
                reason: "hung_up".to_owned(),
            });
            self.after_party_left(now);
        } else if let Some(i) = self
            .control
            .monitors
            .iter()
            .position(|m| m.leg.as_ref() == Some(leg))
        {
            let m = self.control.monitors.remove(i);
            self.events.push_back(EventKind::MonitorEnded {
                interaction: self.id.clone(),
                supervisor: m.supervisor,
            });
        } else {
            return;
        }
        self.arrange();
        self.sync_hold();
    }

    /// A leg placed for call control answered.
    pub fn handle_placed_for(&mut self, placement: Placement, leg: LegId, now: Timestamp) {
        self.legs.insert(leg.clone(), LegState::default());
        let Placement { seq, purpose } = placement;
        let used = match purpose {
            Purpose::Consult => self.consult_placed(seq, &leg),
            Purpose::Party => self.party_placed(seq, &leg),
            Purpose::Monitor(supervisor) => self.monitor_placed(seq, &supervisor, &leg),
        };
        if !used {
            // what it was for is over: too late
            self.hang_up(&leg);
        }
        let _ = now;
    }

    /// Placing a leg for call control failed.
    pub fn handle_place_failed_for(
        &mut self,
        placement: Placement,
        cause: HangupCause,
        now: Timestamp,
    ) {
        let _ = now;
        let Placement { seq, purpose } = placement;
        match purpose {
            Purpose::Consult => self.consult_failed(seq),
            Purpose::Party => self.party_failed(seq, &cause),
            Purpose::Monitor(supervisor) => {
                if let Some(i) = self
                    .control
                    .monitors
                    .iter()
                    .position(|m| m.seq == seq && m.supervisor == supervisor)
                {
                    self.control.monitors.remove(i);
                    self.events.push_back(EventKind::MonitorEnded {
                        interaction: self.id.clone(),
                        supervisor,
                    });
                }
            }
        }
    }
}
