//! Attended (consultative) transfer: the agent puts the customer on hold and
//! places a consultation call, swaps between the two, then completes the
//! transfer (customer bridged to the consulted party, the first agent
//! released), cancels it, or makes it a conference (`conference.rs`).

use super::CallCommand;
use super::control::{CallTarget, Consult, Purpose};
use super::machine::{Call, Phase};
use callcore::{CoreError, EventKind, LegId, Timestamp};

impl Call {
    /// Checks that the agent may start a consultation now.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when the call is not with an agent on a
    /// phone, or a consultation or conference is under way.
    pub fn can_consult(&self) -> Result<(), CoreError> {
        let (_, _, agent_leg) = self.talking("consult")?;
        if agent_leg.is_none() {
            return Err(self.invalid("consult", Some("the agent has no phone leg")));
        }
        if self.control.is_busy() {
            return Err(self.invalid("consult", None));
        }
        Ok(())
    }

    /// The agent consults `target` (an agent the glue reserved, or a
    /// number): the customer goes on hold with music, a leg is placed to the
    /// target and bridged to the agent once it answers.
    ///
    /// # Errors
    /// As [`can_consult`](Self::can_consult); [`CoreError::Unsupported`] for
    /// a queue (the glue consults one of its agents instead);
    /// [`CoreError::InvalidState`] for the call's own agent.
    pub fn handle_consult(&mut self, target: CallTarget, now: Timestamp) -> Result<(), CoreError> {
        let _ = now;
        self.can_consult()?;
        let (agent, _, _) = self.talking("consult")?;
        match &target {
            CallTarget::Queue(_) => {
                return Err(CoreError::Unsupported(
                    "consulting a queue: transfer the call to it, or consult one of its agents",
                ));
            }
            CallTarget::Agent(a) if *a == agent => {
                return Err(self.invalid("consult", Some("the agent cannot consult themselves")));
            }
            _ => {}
        }
        self.take_target(&target);
        let seq = self.place_for(Purpose::Consult, target.clone());
        self.events.push_back(EventKind::ConsultStarted {
            interaction: self.id.clone(),
            agent,
            target: target.to_string(),
        });
        self.control.consult = Some(Consult {
            seq,
            target,
            leg: None,
            with_customer: false,
        });
        self.arrange();
        self.sync_hold();
        Ok(())
    }

    /// The consulted party answered.
    pub(super) fn consult_placed(&mut self, seq: u64, leg: &LegId) -> bool {
        match &mut self.control.consult {
            Some(k) if k.seq == seq && k.leg.is_none() => {
                k.leg = Some(leg.clone());
                let target = k.target.to_string();
                self.arrange();
                // after `arrange`: the consulted party is bridged to the agent
                // when the desktop hears of it
                if let Phase::Talking { agent, .. } = &self.phase {
                    self.events.push_back(EventKind::ConsultAnswered {
                        interaction: self.id.clone(),
                        agent: agent.clone(),
                        target,
                    });
                }
                true
            }
            _ => false,
        }
    }

    /// The consulted party was not reached: the agent is back with the
    /// customer.
    pub(super) fn consult_failed(&mut self, seq: u64) {
        if self.control.consult.as_ref().is_none_or(|k| k.seq != seq) {
            return;
        }
        if let Some(k) = self.control.consult.take() {
            self.free_target(&k.target);
            self.events.push_back(EventKind::ConsultEnded {
                interaction: self.id.clone(),
                target: k.target.to_string(),
                outcome: "failed".to_owned(),
            });
        }
        self.arrange();
        self.sync_hold();
    }

    /// Whether a consulted party is on the line.
    pub(super) fn consulted_party_up(&self) -> bool {
        self.control
            .consult
            .as_ref()
            .is_some_and(|k| k.leg.as_ref().is_some_and(|l| self.is_live(l)))
    }

    /// The consulted party's leg, when it is up.
    fn consult_leg(&self, action: &'static str) -> Result<LegId, CoreError> {
        self.talking(action)?;
        match &self.control.consult {
            Some(Consult { leg: Some(l), .. }) => Ok(l.clone()),
            Some(_) => Err(self.invalid(action, Some("the consulted party has not answered yet"))),
            None => Err(self.invalid(action, Some("no consultation is under way"))),
        }
    }

    /// The agent switches between the customer and the consulted party (the
    /// one left waits: the customer with music).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] without a consulted party on the line.
    pub fn handle_swap(&mut self) -> Result<(), CoreError> {
        self.consult_leg("swap")?;
        let (agent, _, _) = self.talking("swap")?;
        let Some(k) = &mut self.control.consult else {
            return Err(self.invalid("swap", None));
        };
        k.with_customer = !k.with_customer;
        let with_customer = k.with_customer;
        self.events.push_back(EventKind::ConsultSwapped {
            interaction: self.id.clone(),
            agent,
            with_customer,
        });
        self.arrange();
        self.sync_hold();
        Ok(())
    }

    /// Completes the attended transfer: the customer is bridged to the
    /// consulted party, the first agent's leg hung up and the agent released
    /// to after-call work. A consulted agent becomes the call's agent (the
    /// record lists both).
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] without a consulted party on the line.
    pub fn handle_complete_transfer(&mut self, now: Timestamp) -> Result<(), CoreError> {
        let leg = self.consult_leg("complete_transfer")?;
        let Some(k) = self.control.consult.take() else {
            return Err(self.invalid("complete_transfer", None));
        };
        let Phase::Talking {
            agent,
            queue,
            agent_leg,
        } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            return Err(self.invalid("complete_transfer", None));
        };
        self.events.push_back(EventKind::ConsultEnded {
            interaction: self.id.clone(),
            target: k.target.to_string(),
            outcome: "completed".to_owned(),
        });
        self.hang_up_opt(agent_leg.as_ref());
        self.release_agent(agent);
        // whatever else was going on (supervisors, music) ends with the
        // first agent
        self.close_control(now);
        self.events.push_back(EventKind::Transferred {
            interaction: self.id.clone(),
            target: k.target.to_string(),
        });
        self.commands.push_back(CallCommand::Bridge {
            leg: self.customer.clone(),
            to: leg.clone(),
            record: self.record_calls,
        });
        match k.target {
            CallTarget::Agent(b) => {
                self.control.reset_for(&self.customer, Some(&leg));
                self.connected_agent(&b);
                self.events.push_back(EventKind::Connected {
                    interaction: self.id.clone(),
                    agent: b.clone(),
                    queue: queue.clone(),
                });
                self.phase = Phase::Talking {
                    agent: b,
                    queue,
                    agent_leg: Some(leg),
                };
            }
            CallTarget::Number(number) => {
                self.phase = Phase::Outside {
                    leg,
                    target: number,
                };
            }
            CallTarget::Queue(q) => {
                self.phase = Phase::Outside {
                    leg,
                    target: q.to_string(),
                };
            }
        }
        self.sync_hold();
        Ok(())
    }

    /// Cancels the consultation: its leg is hung up, the agent is back with
    /// the customer.
    ///
    /// # Errors
    /// [`CoreError::InvalidState`] when no consultation is under way.
    pub fn handle_cancel_consult(&mut self, now: Timestamp) -> Result<(), CoreError> {
        let _ = now;
        self.talking("cancel_consult")?;
        let Some(k) = self.control.consult.take() else {
            return Err(self.invalid("cancel_consult", Some("no consultation is under way")));
        };
        self.hang_up_opt(k.leg.as_ref());
        self.free_target(&k.target);
        self.events.push_back(EventKind::ConsultEnded {
            interaction: self.id.clone(),
            target: k.target.to_string(),
            outcome: "canceled".to_owned(),
        });
        self.control.held = false;
        self.arrange();
        self.sync_hold();
        Ok(())
    }
}
