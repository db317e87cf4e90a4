//! Blind transfers, asked for by an agent's phone (REFER) or desktop: to a
//! queue (back to routing at once), to an agent taken directly (whatever
//! queues they serve: placed at their endpoint, then bridged), or to a
//! number (placed through a trunk, then bridged).

use super::control::CallTarget;
use super::machine::{Call, LegState, Phase};
use super::{CallCommand, TransferTarget};
use crate::QueueOutcome;
use callcore::{
    AgentId, EventKind, HangupCause, LegId, QueueId, Timestamp, TransferRefusal, TransferReport,
};

impl Call {
    /// The leg placed for a transfer answered: the customer is bridged to
    /// it — an agent's becomes the call's agent, a number's is outside.
    pub fn handle_placed(&mut self, leg: LegId, now: Timestamp) {
        let _ = now;
        self.legs.insert(leg.clone(), LegState::default());
        let Phase::Transferring {
            agent,
            queue,
            agent_leg,
            target,
            released,
            asked,
        } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            // the transfer is over (the customer left): too late
            self.hang_up(&leg);
            return;
        };
        if let Some(l) = agent_leg.as_ref().filter(|_| asked) {
            self.report(l, TransferReport::Succeeded);
        }
        self.hang_up_opt(agent_leg.as_ref());
        if !released {
            self.release_agent(agent);
        }
        self.sync_hold();
        // a number as it was dialled, an agent as `agent:<id>`
        let label = match &target {
            CallTarget::Number(n) => n.clone(),
            other => other.to_string(),
        };
        self.events.push_back(EventKind::Transferred {
            interaction: self.id.clone(),
            target: label,
        });
        self.commands.push_back(CallCommand::Bridge {
            leg: self.customer.clone(),
            to: leg.clone(),
            record: self.record_calls,
        });
        match target {
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
    }

    /// Placing the transfer's leg failed.
    pub fn handle_place_failed(&mut self, cause: HangupCause, now: Timestamp) {
        let _ = now;
        if !matches!(self.phase, Phase::Transferring { .. }) {
            return;
        }
        let Phase::Transferring {
            agent,
            queue,
            agent_leg,
            asked,
            released,
            target,
        } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            return;
        };
        self.free_target(&target);
        if agent_leg.is_none() && !released {
            // a desktop agent asked: they are still with the customer
            self.events.push_back(EventKind::FlowStep {
                interaction: self.id.clone(),
                step: "transfer_failed".to_owned(),
                detail: format!("{cause:?}"),
            });
            self.phase = Phase::Talking {
                agent,
                queue,
                agent_leg: None,
            };
            return;
        }
        match agent_leg {
            Some(l) => {
                if asked {
                    self.report(&l, TransferReport::Failed(cause));
                } else {
                    self.events.push_back(EventKind::FlowStep {
                        interaction: self.id.clone(),
                        step: "transfer_failed".to_owned(),
                        detail: format!("{cause:?}"),
                    });
                }
                self.phase = Phase::Talking {
                    agent,
                    queue,
                    agent_leg: Some(l),
                };
            }
            None => {
                self.sync_hold();
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: false,
                }));
            }
        }
    }

    pub(super) fn transfer_requested(
        &mut self,
        leg: &LegId,
        target: TransferTarget,
        now: Timestamp,
    ) {
        let _ = now;
        let refusal = match (&self.phase, &target) {
            (Phase::Transferring { .. }, _) => Some(TransferRefusal::Pending),
            (Phase::Talking { agent_leg, .. }, _) if agent_leg.as_ref() != Some(leg) => {
                Some(TransferRefusal::Forbidden)
            }
            (Phase::Talking { .. }, TransferTarget::Unknown) => {
                Some(TransferRefusal::UnknownTarget)
            }
            (Phase::Talking { .. }, TransferTarget::Attended) => {
                Some(TransferRefusal::NotSupported)
            }
            (Phase::Talking { .. }, _) if self.control.is_busy() => Some(TransferRefusal::Pending),
            (Phase::Talking { .. }, _) => None,
            _ => Some(TransferRefusal::Forbidden),
        };
        let refusal = refusal.or(match &target {
            TransferTarget::UnavailableAgent(_) => Some(TransferRefusal::Unavailable),
            _ => None,
        });
        if let Some(r) = refusal {
            if let TransferTarget::Agent(a) = &target {
                // the runtime reserved them for this transfer
                self.commands.push_back(CallCommand::FreeAgent(a.clone()));
            }
            self.report(leg, TransferReport::Refused(r));
            return;
        }
        if !matches!(self.phase, Phase::Talking { .. }) {
            return;
        }
        self.report(leg, TransferReport::Accepted);
        self.transfer_out(target, true, now);
    }

    /// Transfers the customer away from the agent (the phase is Talking):
    /// to a queue through routing at once; to a number, or to an agent the
    /// runtime reserved, once its leg answers (the agent stays with the
    /// customer meanwhile). `asked`: the agent's phone asked and hears how
    /// it went.
    pub(super) fn transfer_out(&mut self, target: TransferTarget, asked: bool, now: Timestamp) {
        let rebridge = !self.control.is_plain_bridge();
        self.close_control(now);
        let Phase::Talking {
            agent,
            queue,
            agent_leg,
        } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            return;
        };
        let (to, command) = match target {
            TransferTarget::Queue(q) => {
                self.transfer_to_queue(agent, agent_leg, q, asked, now);
                return;
            }
            TransferTarget::Agent(a) => (
                CallTarget::Agent(a.clone()),
                CallCommand::PlaceAgent { agent: a },
            ),
            TransferTarget::Number(number) => (
                CallTarget::Number(number.clone()),
                CallCommand::Place { number },
            ),
            TransferTarget::UnavailableAgent(_)
            | TransferTarget::Attended
            | TransferTarget::Unknown => {
                self.phase = Phase::Talking {
                    agent,
                    queue,
                    agent_leg,
                };
                return;
            }
        };
        if let Some(l) = agent_leg.clone().filter(|_| rebridge) {
            // the agent stays with the customer while the target rings
            self.commands.push_back(CallCommand::Bridge {
                leg: self.customer.clone(),
                to: l,
                record: false,
            });
        }
        self.take_target(&to);
        self.phase = Phase::Transferring {
            agent,
            queue,
            agent_leg,
            target: to,
            released: false,
            asked,
        };
        self.commands.push_back(command);
    }

    /// Into a queue: done as soon as asked; the agent leaves.
    fn transfer_to_queue(
        &mut self,
        agent: AgentId,
        agent_leg: Option<LegId>,
        queue: QueueId,
        asked: bool,
        now: Timestamp,
    ) {
        let request = self.template.clone().map(|mut r| {
            r.queue = queue.clone();
            r.preferred_agent = None;
            r.enqueued_at = now;
            r
        });
        if let Some(l) = agent_leg.as_ref().filter(|_| asked) {
            self.report(l, TransferReport::Succeeded);
        }
        self.hang_up_opt(agent_leg.as_ref());
        self.release_agent(agent.clone());
        self.sync_hold();
        self.events.push_back(EventKind::Transferred {
            interaction: self.id.clone(),
            target: format!("queue:{queue}"),
        });
        match request {
            Some(r) => {
                self.stay.give_up_at = None;
                self.stay.announce_position = false;
                self.enter_queue(r);
            }
            None => {
                self.outcome = Some(Ok(QueueOutcome::Served {
                    agent,
                    customer_hung_up: false,
                }));
            }
        }
    }
}
