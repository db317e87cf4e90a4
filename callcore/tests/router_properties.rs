//! Property tests of the reference router over random input sequences:
//! every agent state change is one the state machine allows, nothing is offered
//! to an agent who was not available, an agent holds at most one voice
//! interaction, no interaction waits while an eligible agent is idle, and every
//! enqueued interaction ends in exactly one way.

#![allow(clippy::unwrap_used)]

use callcore::{
    AgentProfile, AgentState, BasicRouter, Channel, InteractionId, OfferEnd, QueueDefinition,
    ReservationId, Router, RouterInput, RoutingDecision, RoutingRequest, Timestamp,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Enqueue { queue: u8, priority: i8 },
    Abandon(u8),
    SetState { agent: u8, state: u8 },
    Accept(u8),
    Fail(u8),
    End(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, -1i8..2).prop_map(|(queue, priority)| Op::Enqueue { queue, priority }),
        1 => (0u8..20).prop_map(Op::Abandon),
        2 => (0u8..5, 0u8..4).prop_map(|(agent, state)| Op::SetState { agent, state }),
        3 => (0u8..8).prop_map(Op::Accept),
        1 => (0u8..8).prop_map(Op::Fail),
        2 => (0u8..20).prop_map(Op::End),
        2 => (1u16..40).prop_map(Op::Advance),
    ]
}

#[derive(Default)]
struct Model {
    states: BTreeMap<String, AgentState>,
    pending: Vec<(ReservationId, InteractionId, String)>,
    assigned: HashMap<InteractionId, String>,
    enqueued: Vec<InteractionId>,
    outcomes: HashMap<InteractionId, &'static str>,
    /// Interactions per agent (reserved or assigned).
    load: HashMap<String, u32>,
}

impl Model {
    fn finish(&mut self, id: &InteractionId, how: &'static str) {
        let previous = self.outcomes.insert(id.clone(), how);
        assert!(
            previous.is_none(),
            "{id} ended twice: {previous:?} then {how}"
        );
    }

    fn apply(&mut self, d: RoutingDecision) {
        match d {
            RoutingDecision::AgentStateChanged { agent, from, to } => {
                let current = self.states.get(agent.as_str()).cloned().unwrap();
                assert_eq!(current, from, "router reported a wrong `from` for {agent}");
                assert!(from.can_become(&to), "forbidden transition {from} -> {to}");
                self.states.insert(agent.to_string(), to);
            }
            RoutingDecision::Offer {
                reservation,
                interaction,
                agent,
                ..
            } => {
                // The Reserved transition is reported just before the offer.
                assert_eq!(
                    self.states.get(agent.as_str()),
                    Some(&AgentState::Reserved),
                    "offer to {agent} who was not available"
                );
                let load = self.load.entry(agent.to_string()).or_default();
                *load += 1;
                assert!(*load <= 1, "{agent} over capacity");
                self.pending
                    .push((reservation, interaction, agent.to_string()));
            }
            RoutingDecision::OfferEnded {
                reservation,
                interaction,
                agent,
                outcome,
            } => {
                self.pending.retain(|(r, _, _)| r != &reservation);
                *self.load.get_mut(agent.as_str()).unwrap() -= 1;
                if outcome == OfferEnd::Canceled {
                    self.finish(&interaction, "abandoned");
                }
            }
            RoutingDecision::Assigned {
                reservation,
                interaction,
                agent,
                ..
            } => {
                self.pending.retain(|(r, _, _)| r != &reservation);
                self.assigned.insert(interaction.clone(), agent.to_string());
                self.finish(&interaction, "answered");
            }
            RoutingDecision::TimedOut { interaction, .. } => self.finish(&interaction, "timed_out"),
            RoutingDecision::Rejected { interaction, .. } => self.finish(&interaction, "rejected"),
            RoutingDecision::Overflow { interaction, .. } => {
                self.finish(&interaction, "overflowed");
            }
            _ => {}
        }
    }
}

fn drain(router: &mut BasicRouter, model: &mut Model) {
    while let Some(d) = router.poll_decision() {
        model.apply(d);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn router_invariants_hold(ops in prop::collection::vec(op(), 1..120)) {
        let mut router = BasicRouter::new();
        let mut model = Model::default();
        let mut now = Timestamp::from_secs(1_000);
        let mut sales = QueueDefinition::new("sales").requiring("sales", 5);
        sales.max_wait_secs = Some(60);
        sales.max_size = Some(3);
        let queues = [
            QueueDefinition::new("support").with_wrap_up_secs(5),
            sales,
            QueueDefinition::new("vip").requiring("vip", 1),
        ];
        for q in &queues {
            router.handle(RouterInput::AddQueue(Box::new(q.clone())), now).unwrap();
        }
        for i in 0..5u8 {
            let mut p = AgentProfile::new(format!("a{i}").as_str());
            if i % 2 == 0 {
                p = p.with_skill("sales", 3 + i);
            }
            if i == 4 {
                p = p.with_skill("vip", 9);
            }
            model.states.insert(p.id.to_string(), AgentState::Offline);
            router.handle(RouterInput::AddAgent(Box::new(p)), now).unwrap();
        }
        drain(&mut router, &mut model);
        for op in ops {
            match op {
                Op::Enqueue { queue, priority } => {
                    let id = InteractionId::new(format!("i{}", model.enqueued.len()));
                    model.enqueued.push(id.clone());
                    let request = RoutingRequest {
                        interaction: id,
                        tenant: "default".into(),
                        channel: Channel::Voice,
                        queue: queues[usize::from(queue)].id.clone(),
                        priority: i32::from(priority),
                        customer: None,
                        preferred_agent: None,
                        attributes: BTreeMap::new(),
                        required_skills: Vec::new(),
                        enqueued_at: now,
                    };
                    router.handle(RouterInput::Enqueue(Box::new(request)), now).unwrap();
                }
                Op::Abandon(i) => {
                    if let Some(id) = model.enqueued.get(usize::from(i)).cloned() {
                        let waiting = !model.outcomes.contains_key(&id);
                        let offered = model.pending.iter().any(|(_, p, _)| p == &id);
                        router.handle(RouterInput::Abandon { interaction: id.clone() }, now).unwrap();
                        if waiting && !offered {
                            model.finish(&id, "abandoned");
                        }
                    }
                }
                Op::SetState { agent, state } => {
                    let state = match state {
                        0 => AgentState::Available,
                        1 => AgentState::NotReady("break".into()),
                        2 => AgentState::NotReady("lunch".into()),
                        _ => AgentState::Offline,
                    };
                    let agent = format!("a{agent}");
                    let before = model.states[&agent].clone();
                    let result = router.handle(
                        RouterInput::SetAgentState { agent: agent.as_str().into(), state: state.clone() },
                        now,
                    );
                    // Refused exactly when the state machine forbids it, or when
                    // it would end a call or re-offer a ringing one.
                    let allowed = before == state
                        || (before.can_become(&state)
                            && before != AgentState::Busy
                            && !(before == AgentState::Reserved && state == AgentState::Available));
                    prop_assert_eq!(result.is_ok(), allowed);
                }
                Op::Accept(k) => {
                    if let Some((r, _, _)) = model.pending.get(usize::from(k)).cloned() {
                        router.handle(RouterInput::OfferAccepted { reservation: r }, now).unwrap();
                    }
                }
                Op::Fail(k) => {
                    if let Some((r, _, _)) = model.pending.get(usize::from(k)).cloned() {
                        router
                            .handle(RouterInput::OfferFailed { reservation: r, outcome: OfferEnd::Declined }, now)
                            .unwrap();
                    }
                }
                Op::End(i) => {
                    if let Some(id) = model.enqueued.get(usize::from(i)).cloned()
                        && let Some(agent) = model.assigned.remove(&id)
                    {
                        *model.load.get_mut(&agent).unwrap() -= 1;
                        router
                            .handle(RouterInput::InteractionEnded { interaction: id, agent: agent.as_str().into() }, now)
                            .unwrap();
                    }
                }
                Op::Advance(secs) => {
                    now = now + Duration::from_secs(u64::from(secs));
                    if router.poll_timeout().is_some_and(|t| t <= now) {
                        router.handle_timeout(now);
                    }
                }
            }
            drain(&mut router, &mut model);
            // The router's snapshot agrees with the states it reported.
            let snap = router.snapshot(now);
            for a in &snap.agents {
                prop_assert_eq!(&model.states[a.agent.as_str()], &a.state);
            }
            // No interaction waits while an eligible agent is available.
            for q in &snap.queues {
                if q.waiting.is_empty() {
                    continue;
                }
                let def = queues.iter().find(|d| d.id == q.queue).unwrap();
                for (agent, state) in &model.states {
                    if *state != AgentState::Available {
                        continue;
                    }
                    let i: u8 = agent[1..].parse().unwrap();
                    let eligible = def.requirements.iter().all(|r| match r.skill.as_str() {
                        "sales" => i.is_multiple_of(2) && 3 + i >= r.min_proficiency,
                        "vip" => i == 4,
                        _ => false,
                    });
                    prop_assert!(!eligible, "{} waits in {} while {} is available", q.waiting[0], q.queue, agent);
                }
            }
        }
        // Every interaction is waiting, ringing, or ended in exactly one way.
        let snap = router.snapshot(now);
        let waiting: HashSet<_> = snap.queues.iter().flat_map(|q| q.waiting.iter().cloned()).collect();
        for id in &model.enqueued {
            let ringing = model.pending.iter().any(|(_, p, _)| p == id);
            let ended = model.outcomes.contains_key(id);
            prop_assert_eq!(
                u8::from(waiting.contains(id)) + u8::from(ringing) + u8::from(ended),
                1,
                "{} is in more or fewer than one place", id
            );
        }
    }
}
