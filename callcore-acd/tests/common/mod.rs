//! Helpers shared by the engine tests.
#![allow(dead_code, clippy::unwrap_used)]

use callcore::{
    AgentProfile, AgentState, Channel, QueueDefinition, ReservationId, RoutingDecision,
    RoutingRequest, Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine};

pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

pub fn request(id: &str, queue: &str, at: i64) -> RoutingRequest {
    RoutingRequest {
        interaction: id.into(),
        tenant: callcore::TenantId::default(),
        channel: Channel::Voice,
        queue: queue.into(),
        priority: 0,
        customer: None,
        preferred_agent: None,
        attributes: Default::default(),
        required_skills: Vec::new(),
        enqueued_at: t(at),
    }
}

pub struct Rig {
    pub acd: AcdEngine,
    pub log: Vec<RoutingDecision>,
}

impl Rig {
    pub fn new(config: AcdConfig) -> Self {
        Self {
            acd: AcdEngine::new(config),
            log: Vec::new(),
        }
    }

    pub fn queue(&mut self, def: QueueDefinition) {
        self.acd.add_queue(def, t(0)).unwrap();
    }

    pub fn agent(&mut self, profile: AgentProfile, at: i64) {
        let id = profile.id.clone();
        self.acd.add_agent(profile, t(at)).unwrap();
        self.acd
            .set_agent_state(&id, AgentState::Available, t(at))
            .unwrap();
        self.drain();
    }

    pub fn drain(&mut self) -> Vec<RoutingDecision> {
        let out: Vec<_> = std::iter::from_fn(|| self.acd.poll_decision()).collect();
        self.log.extend(out.iter().cloned());
        out
    }

    pub fn enqueue(&mut self, r: RoutingRequest, at: i64) -> Vec<RoutingDecision> {
        self.acd.enqueue(r, t(at)).unwrap();
        self.drain()
    }

    pub fn tick(&mut self, at: i64) -> Vec<RoutingDecision> {
        self.acd.tick(t(at));
        self.drain()
    }
}

/// (interaction, agent, reservation) of every offer in the decisions.
pub fn offers(ds: &[RoutingDecision]) -> Vec<(String, String, ReservationId)> {
    ds.iter()
        .filter_map(|d| match d {
            RoutingDecision::Offer {
                interaction,
                agent,
                reservation,
                ..
            } => Some((
                interaction.to_string(),
                agent.to_string(),
                reservation.clone(),
            )),
            _ => None,
        })
        .collect()
}

pub fn state_of(acd: &AcdEngine, agent: &str) -> AgentState {
    acd.agent_status(&agent.into()).unwrap().state
}
