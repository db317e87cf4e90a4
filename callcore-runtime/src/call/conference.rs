//! Conferences: a consultation made a three-party room, more parties added,
//! the agent leaving (the others stay while the customer and one other
//! remain), a party kicked.

use super::control::{CallTarget, Consult, Party, Purpose};
use super::machine::{Call, Phase};
use crate::QueueOutcome;
use callcore::{AgentId, CoreError, EndReason, EventKind, HangupCause, LegId, QueueId, Timestamp};

impl Call {
    /// Makes the consultation a conference: customer, agent and consulted
    /// party in one room.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] without a consulted party on the line.
    pub fn handle_conference(&mut self, now: Timestamp) -> Result<(), CoreError> {
        let _ = now;
        self.talking("conference")?;
        let leg = match &self.control.consult {
            Some(Consult { leg: Some(l), .. }) => l.clone(),
            _ => {
                return Err(self.invalid("conference", Some("no consulted party is on the line")));
            }
        };
        let Some(k) = self.control.consult.take() else {
            return Err(self.invalid("conference", None));
        };
        self.events.push_back(EventKind::ConsultEnded {
            interaction: self.id.clone(),
            target: k.target.to_string(),
            outcome: "conference".to_owned(),
        });
        self.control.held = false;
        self.join_party(leg, k.target);
        self.arrange();
        self.sync_hold();
        Ok(())
    }

    /// Checks that a party may be added now.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent on a
    /// phone, or a consultation is under way.
    pub fn can_add_party(&self) -> Result<(), CoreError> {
        let (_, _, agent_leg) = self.talking("add_to_conference")?;
        if agent_leg.is_none() {
            return Err(self.invalid("add_to_conference", Some("the agent has no phone leg")));
        }
        if self.control.consult.is_some() {
            return Err(self.invalid("add_to_conference", None));
        }
        Ok(())
    }

    /// Adds `target` to the call's conference (a two-party call becomes one):
    /// a leg is placed and joins the room once it answers.
    ///
    /// # Errors
    /// As [`can_add_party`](Self::can_add_party); [`CoreError::Unsupported`]
    /// for a queue; [`CoreError::InvalidState`] for the call's own agent.
    pub fn handle_add_to_conference(
        &mut self,
        target: CallTarget,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let _ = now;
        self.can_add_party()?;
        let (agent, _, _) = self.talking("add_to_conference")?;
        match &target {
            CallTarget::Queue(_) => {
                return Err(CoreError::Unsupported(
                    "adding a queue to a conference: add one of its agents",
                ));
            }
            CallTarget::Agent(a) if *a == agent => {
                return Err(self.invalid(
                    "add_to_conference",
                    Some("the agent is in the call already"),
                ));
            }
            _ => {}
        }
        self.take_target(&target);
        let seq = self.place_for(Purpose::Party, target.clone());
        self.control.pending_parties.push((seq, target));
        Ok(())
    }

    pub(super) fn party_placed(&mut self, seq: u64, leg: &LegId) -> bool {
        let Some(i) = self
            .control
            .pending_parties
            .iter()
            .position(|(s, _)| *s == seq)
        else {
            return false;
        };
        let (_, target) = self.control.pending_parties.remove(i);
        if !matches!(self.phase, Phase::Talking { .. }) {
            self.free_target(&target);
            return false;
        }
        self.join_party(leg.clone(), target);
        self.arrange();
        self.sync_hold();
        true
    }

    pub(super) fn party_failed(&mut self, seq: u64, cause: &HangupCause) {
        let Some(i) = self
            .control
            .pending_parties
            .iter()
            .position(|(s, _)| *s == seq)
        else {
            return;
        };
        let (_, target) = self.control.pending_parties.remove(i);
        self.free_target(&target);
        self.events.push_back(EventKind::FlowStep {
            interaction: self.id.clone(),
            step: "conference_add_failed".to_owned(),
            detail: format!("{}: {cause:?}", target.masked()),
        });
    }

    /// `leg` joins the conference (started now if it was not on).
    fn join_party(&mut self, leg: LegId, target: CallTarget) {
        if !self.control.conference {
            self.control.conference = true;
            self.events.push_back(EventKind::ConferenceJoined {
                interaction: self.id.clone(),
                leg: self.customer.clone(),
                party: "customer".to_owned(),
            });
            if let Phase::Talking {
                agent,
                agent_leg: Some(a),
                ..
            } = &self.phase
            {
                self.events.push_back(EventKind::ConferenceJoined {
                    interaction: self.id.clone(),
                    leg: a.clone(),
                    party: CallTarget::Agent(agent.clone()).to_string(),
                });
            }
        }
        if let CallTarget::Agent(agent) = &target {
            self.took_part(agent);
        }
        self.events.push_back(EventKind::ConferenceJoined {
            interaction: self.id.clone(),
            leg: leg.clone(),
            party: target.to_string(),
        });
        self.control.parties.push(Party { leg, target });
    }

    /// The agent leaves the conference: their leg is hung up and they are
    /// released; the customer and the other parties stay.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not a conference with
    /// another party than the customer and the agent.
    pub fn handle_leave_conference(&mut self, now: Timestamp) -> Result<(), CoreError> {
        let (_, _, agent_leg) = self.talking("leave_conference")?;
        if self.control.parties.is_empty() {
            return Err(self.invalid(
                "leave_conference",
                Some("the call is not a conference with another party"),
            ));
        }
        let Some(leg) = agent_leg else {
            return Err(self.invalid("leave_conference", Some("the agent has no phone leg")));
        };
        self.hang_up(&leg);
        let Phase::Talking { agent, queue, .. } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            return Err(self.invalid("leave_conference", None));
        };
        self.host_leaves(agent, queue, &leg, "left", now);
        Ok(())
    }

    /// The agent's leg ended during a conference with other parties: the
    /// conference goes on without them (`true`); `false` when there is no
    /// such conference.
    pub(super) fn agent_left_conference(
        &mut self,
        agent: &AgentId,
        queue: &QueueId,
        leg: &LegId,
        now: Timestamp,
    ) -> bool {
        if self.control.parties.is_empty() || self.control.consult.is_some() {
            return false;
        }
        self.host_leaves(agent.clone(), queue.clone(), leg, "hung_up", now);
        true
    }

    fn host_leaves(
        &mut self,
        agent: AgentId,
        queue: QueueId,
        leg: &LegId,
        reason: &str,
        now: Timestamp,
    ) {
        let _ = now;
        self.events.push_back(EventKind::ConferenceLeft {
            interaction: self.id.clone(),
            leg: leg.clone(),
            party: CallTarget::Agent(agent.clone()).to_string(),
            reason: reason.to_owned(),
        });
        self.release_agent(agent.clone());
        self.control.muted = false;
        self.control.held = false;
        self.phase = Phase::Hosted { agent, queue };
        self.arrange();
        self.sync_hold();
    }

    /// Takes a party (or a monitoring supervisor) off the call: their leg is
    /// hung up.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent or a
    /// conference; [`CoreError::NotFound`] when `leg` is no party of it.
    /// A monitoring supervisor is named by their leg or their agent id.
    pub fn handle_kick(&mut self, leg: &LegId, now: Timestamp) -> Result<(), CoreError> {
        if self.ended() || !matches!(self.phase, Phase::Talking { .. } | Phase::Hosted { .. }) {
            return Err(self.invalid("kick", None));
        }
        if let Some(i) = self.control.parties.iter().position(|p| p.leg == *leg) {
            let p = self.control.parties.remove(i);
            self.hang_up(&p.leg);
            self.free_target(&p.target);
            self.events.push_back(EventKind::ConferenceLeft {
                interaction: self.id.clone(),
                leg: p.leg,
                party: p.target.to_string(),
                reason: "kicked".to_owned(),
            });
            self.after_party_left(now);
        } else if let Some(i) = self.control.monitors.iter().position(|m| {
            // a supervisor's leg is named by no event: their agent id names it too
            m.leg.is_some()
                && (m.leg.as_ref() == Some(leg) || m.supervisor.as_str() == leg.as_str())
        }) {
            let m = self.control.monitors.remove(i);
            if let Some(l) = &m.leg {
                self.hang_up(l);
            }
            self.events.push_back(EventKind::MonitorEnded {
                interaction: self.id.clone(),
                supervisor: m.supervisor,
            });
        } else {
            return Err(CoreError::NotFound {
                what: "conference party",
                id: leg.to_string(),
            });
        }
        self.arrange();
        self.sync_hold();
        Ok(())
    }

    /// A party left: a conference with no other party than the customer is
    /// over — back to a two-party call with the agent, or, when the agent
    /// left before, the end of the call.
    pub(super) fn after_party_left(&mut self, now: Timestamp) {
        if !self.control.parties.is_empty() {
            return;
        }
        match std::mem::replace(&mut self.phase, Phase::Flow) {
            Phase::Hosted { agent, .. } => {
                self.control.conference = false;
                self.close_control(now);
                let customer = self.customer.clone();
                self.hang_up(&customer);
                self.end(EndReason::Completed, now);
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: false,
                }));
            }
            other => {
                self.phase = other;
                if self.control.conference {
                    self.control.conference = false;
                }
            }
        }
    }
}
