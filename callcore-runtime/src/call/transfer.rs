//! Transfers an agent's phone asks for: to a queue or an agent (back to
//! routing at once), or to a number (placed through a trunk, then bridged).

use super::machine::{Call, LegState, Phase};
use super::{CallCommand, TransferTarget};
use crate::QueueOutcome;
use callcore::{
    AgentId, EventKind, HangupCause, LegId, QueueId, RoutingRequest, Timestamp, TransferRefusal,
    TransferReport,
};

impl Call {
    /// The leg placed for a transfer answered.
    pub fn handle_placed(&mut self, leg: LegId, now: Timestamp) {
        let _ = now;
        self.legs.insert(leg.clone(), LegState::default());
        if !matches!(self.phase, Phase::Transferring { .. }) {
            // the transfer is over (the customer left): too late
            self.hang_up(&leg);
            return;
        }
        let Phase::Transferring {
            agent,
            agent_leg,
            number,
            released,
            asked,
            ..
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
        self.phase = Phase::Outside {
            leg: leg.clone(),
            target: number.clone(),
        };
        self.sync_hold();
        self.events.push_back(EventKind::Transferred {
            interaction: self.id.clone(),
            target: number,
        });
        self.commands.push_back(CallCommand::Bridge {
            leg: self.customer.clone(),
            to: leg,
            record: self.record_calls,
        });
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
            ..
        } = std::mem::replace(&mut self.phase, Phase::Flow)
        else {
            return;
        };
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
        if let Some(r) = refusal {
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
    /// to a queue or an agent through routing at once, to a number once its
    /// leg answers. `asked`: the agent's phone asked and hears how it went.
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
        let request =
            |queue: QueueId, preferred: Option<AgentId>, template: &Option<RoutingRequest>| {
                template.clone().map(|mut r| {
                    r.queue = queue;
                    r.preferred_agent = preferred;
                    r.enqueued_at = now;
                    r
                })
            };
        let (label, request) = match target {
            TransferTarget::Queue(q) => (format!("queue:{q}"), request(q, None, &self.template)),
            TransferTarget::Agent(a) => (
                format!("agent:{a}"),
                request(queue.clone(), Some(a), &self.template),
            ),
            TransferTarget::Number(number) => {
                if let Some(l) = agent_leg.clone().filter(|_| rebridge) {
                    // the agent stays with the customer while the number rings
                    self.commands.push_back(CallCommand::Bridge {
                        leg: self.customer.clone(),
                        to: l,
                        record: false,
                    });
                }
                self.phase = Phase::Transferring {
                    agent,
                    queue,
                    agent_leg,
                    number: number.clone(),
                    released: false,
                    asked,
                };
                self.commands.push_back(CallCommand::Place { number });
                return;
            }
            TransferTarget::Attended | TransferTarget::Unknown => return,
        };
        // into a queue: done as soon as asked; the agent leaves
        if let Some(l) = agent_leg.as_ref().filter(|_| asked) {
            self.report(l, TransferReport::Succeeded);
        }
        self.hang_up_opt(agent_leg.as_ref());
        self.release_agent(agent.clone());
        self.sync_hold();
        self.events.push_back(EventKind::Transferred {
            interaction: self.id.clone(),
            target: label,
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
