//! Snapshot / restore with a fencing epoch, callbacks through the router
//! port, per-channel load in the agent status.
//!
//! The property: run random inputs on a primary, export its state (through
//! JSON) at a random point, restore a standby from it, then feed both the
//! same remaining inputs. The standby decides exactly what the primary
//! decides (reservation ids differ only by the standby's epoch tag), so it
//! neither loses nor repeats an offer.
#![allow(clippy::unwrap_used)]

mod common;

use callcore::{
    AgentProfile, AgentState, Channel, CustomerId, Destination, EscalationAction, EscalationStep,
    InteractionId, QueueDefinition, ReservationId, Router, RouterInput, RoutingDecision,
    RoutingRequest, Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine, AcdError, EngineState, StrategyRegistry};
use common::{Rig, offers, request, t};
use proptest::prelude::*;

const AGENTS: usize = 4;
/// Strategies whose choices depend only on the engine's state (no RNG, no
/// memory outside the snapshot).
const DETERMINISTIC: [&str; 6] = [
    "longest_idle",
    "least_occupied",
    "fewest_interactions",
    "linear",
    "best_proficiency",
    "ring_all",
];

#[derive(Debug, Clone)]
enum Op {
    SetState(usize, u8),
    Enqueue {
        queue: usize,
        chat: bool,
        priority: i32,
        customer: Option<u8>,
    },
    Accept(usize),
    Decline(usize),
    End(usize),
    Abandon(usize),
    Callback(usize),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..AGENTS, 0u8..3).prop_map(|(a, s)| Op::SetState(a, s)),
        4 => (0usize..2, any::<bool>(), 0i32..3, prop::option::of(0u8..3))
            .prop_map(|(queue, chat, priority, customer)| Op::Enqueue { queue, chat, priority, customer }),
        3 => (0usize..6).prop_map(Op::Accept),
        1 => (0usize..6).prop_map(Op::Decline),
        3 => (0usize..6).prop_map(Op::End),
        1 => (0usize..6).prop_map(Op::Abandon),
        1 => (0usize..6).prop_map(Op::Callback),
        2 => (1u32..30_000).prop_map(Op::Advance),
    ]
}

/// Applies inputs to one engine and remembers what is in flight, from the
/// decisions only.
#[derive(Debug, Clone)]
struct Driver {
    now: i64,
    next: u32,
    pending: Vec<(ReservationId, InteractionId)>,
    active: Vec<(InteractionId, callcore::AgentId)>,
    waiting: Vec<InteractionId>,
}

/// The reservation id without the epoch tag a restored engine adds.
fn canonical(id: &ReservationId) -> String {
    let s = id.as_str();
    match s.strip_prefix("res-e").and_then(|r| r.split_once('-')) {
        Some((_, rest)) => format!("res-{rest}"),
        None => s.to_owned(),
    }
}

/// A decision with its reservation id made comparable across epochs.
fn canon(d: &RoutingDecision) -> String {
    let mut d = d.clone();
    match &mut d {
        RoutingDecision::Offer { reservation, .. }
        | RoutingDecision::OfferEnded { reservation, .. }
        | RoutingDecision::Assigned { reservation, .. } => {
            *reservation = ReservationId::from(canonical(reservation));
        }
        _ => {}
    }
    format!("{d:?}")
}

impl Driver {
    fn new() -> Self {
        Self {
            now: 0,
            next: 0,
            pending: Vec::new(),
            active: Vec::new(),
            waiting: Vec::new(),
        }
    }

    fn ts(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    fn drain(&mut self, acd: &mut AcdEngine) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(d) = acd.poll_decision() {
            match &d {
                RoutingDecision::Queued { interaction, .. }
                    if !self.waiting.contains(interaction) =>
                {
                    self.waiting.push(interaction.clone());
                }
                RoutingDecision::Offer {
                    reservation,
                    interaction,
                    ..
                } => self
                    .pending
                    .push((reservation.clone(), interaction.clone())),
                RoutingDecision::OfferEnded { reservation, .. } => {
                    self.pending.retain(|(r, _)| r != reservation);
                }
                RoutingDecision::Assigned {
                    reservation,
                    interaction,
                    agent,
                    ..
                } => {
                    self.pending.retain(|(r, _)| r != reservation);
                    self.waiting.retain(|w| w != interaction);
                    self.active.push((interaction.clone(), agent.clone()));
                }
                RoutingDecision::TimedOut { interaction, .. }
                | RoutingDecision::Overflow { interaction, .. }
                | RoutingDecision::Rejected { interaction, .. } => {
                    self.waiting.retain(|w| w != interaction);
                    self.pending.retain(|(_, i)| i != interaction);
                }
                _ => {}
            }
            out.push(canon(&d));
        }
        out
    }

    fn apply(&mut self, acd: &mut AcdEngine, op: &Op) -> Vec<String> {
        let now = self.ts();
        let result = match op {
            Op::SetState(a, s) => {
                let state = match s {
                    0 => AgentState::Available,
                    1 => AgentState::NotReady("break".into()),
                    _ => AgentState::Offline,
                };
                acd.set_agent_state(&format!("agent{a}").into(), state, now)
                    .map_err(|e| e.to_string())
            }
            Op::Enqueue {
                queue,
                chat,
                priority,
                customer,
            } => {
                self.next += 1;
                let mut r = request(&format!("int{}", self.next), &format!("q{queue}"), 0);
                r.enqueued_at = now;
                r.priority = *priority;
                r.customer = customer.map(|c| CustomerId::from(format!("cust{c}").as_str()));
                if *chat {
                    r.channel = Channel::Chat;
                }
                acd.enqueue(r, now).map_err(|e| e.to_string())
            }
            Op::Accept(k) => match self.pending.get(*k).cloned() {
                Some((r, _)) => acd.offer_accepted(&r, now).map_err(|e| e.to_string()),
                None => Ok(()),
            },
            Op::Decline(k) => match self.pending.get(*k).cloned() {
                Some((r, _)) => acd.offer_declined(&r, now).map_err(|e| e.to_string()),
                None => Ok(()),
            },
            Op::End(k) => {
                if *k < self.active.len() {
                    let (i, a) = self.active.remove(*k);
                    acd.interaction_ended(&i, &a, now)
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                }
            }
            Op::Abandon(k) => {
                if *k < self.waiting.len() {
                    let i = self.waiting.remove(*k);
                    self.pending.retain(|(_, x)| *x != i);
                    acd.abandon(&i, now);
                }
                Ok(())
            }
            Op::Callback(k) => match self.waiting.get(*k).cloned() {
                Some(i) => acd.request_callback(&i, now).map_err(|e| e.to_string()),
                None => Ok(()),
            },
            Op::Advance(ms) => {
                self.now += i64::from(*ms);
                acd.tick(self.ts());
                Ok(())
            }
        };
        let mut out = vec![format!("{op:?} -> {result:?}")];
        out.extend(self.drain(acd));
        out
    }
}

fn engine(strategies: (usize, usize)) -> AcdEngine {
    let mut acd = AcdEngine::new(AcdConfig::default());
    let skills = [("billing", 7u8), ("billing", 3), ("sales", 8), ("sales", 4)];
    for (i, strategy) in [strategies.0, strategies.1].into_iter().enumerate() {
        let skill = if i == 0 { "billing" } else { "sales" };
        let mut q = QueueDefinition::new(format!("q{i}")).requiring(skill, 5);
        q.strategy = DETERMINISTIC[strategy].to_owned();
        q.wrap_up_secs = 5;
        q.max_wait_secs = Some(90);
        q.escalation = vec![
            EscalationStep {
                after_secs: 20,
                action: EscalationAction::RelaxProficiency { min_proficiency: 1 },
            },
            EscalationStep {
                after_secs: 45,
                action: EscalationAction::Overflow {
                    destination: Destination::Queue(format!("q{}", 1 - i).into()),
                },
            },
        ];
        acd.add_queue(q, t(0)).unwrap();
    }
    for (a, (skill, prof)) in skills.into_iter().enumerate() {
        let mut p = AgentProfile::new(format!("agent{a}")).with_skill(skill, prof);
        p.capacity.insert(Channel::Chat, 2);
        acd.add_agent(p, t(0)).unwrap();
        acd.set_agent_state(&format!("agent{a}").into(), AgentState::Available, t(0))
            .unwrap();
    }
    while acd.poll_decision().is_some() {}
    acd
}

fn restore_via_json(primary: &AcdEngine, at: Timestamp) -> AcdEngine {
    let state = primary.export_state(at).unwrap();
    let json = serde_json::to_string(&state).unwrap();
    let back: EngineState = serde_json::from_str(&json).unwrap();
    AcdEngine::restore(AcdConfig::default(), StrategyRegistry::builtin(), back).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_standby_decides_exactly_what_the_primary_decides(
        strategies in (0..DETERMINISTIC.len(), 0..DETERMINISTIC.len()),
        before in prop::collection::vec(op(), 0..60),
        after in prop::collection::vec(op(), 1..60),
    ) {
        let mut primary = engine(strategies);
        let mut d = Driver::new();
        for op in &before {
            d.apply(&mut primary, op);
        }
        let mut standby = restore_via_json(&primary, d.ts());
        prop_assert_eq!(standby.epoch(), primary.epoch() + 1);
        prop_assert_eq!(standby.waiting_count(), primary.waiting_count());
        prop_assert!(standby.poll_decision().is_none(), "restore emits nothing");
        let mut ds = d.clone();
        for op in &after {
            let a = d.apply(&mut primary, op);
            let b = ds.apply(&mut standby, op);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(
            format!("{:?}", primary.snapshot(d.ts())),
            format!("{:?}", standby.snapshot(ds.ts()))
        );
    }
}

#[test]
fn a_ringing_offer_is_not_offered_again_by_the_standby_and_the_old_primary_is_fenced() {
    let mut rig = Rig::new(AcdConfig::default());
    rig.queue(QueueDefinition::new("billing"));
    rig.agent(AgentProfile::new("alice"), 0);
    rig.agent(AgentProfile::new("bob"), 0);
    let ds = rig.enqueue(request("c1", "billing", 1), 1);
    let (_, first_agent, res) = offers(&ds).remove(0);
    assert!(rig.acd.export_state(t(1)).is_ok());

    let mut standby = restore_via_json(&rig.acd, t(1));
    assert_eq!(standby.epoch(), 1);
    // The other agent is free, yet the ringing interaction is not offered again.
    standby.tick(t(2));
    assert!(standby.poll_decision().is_none());
    let status = standby.agent_status(&first_agent.as_str().into()).unwrap();
    assert_eq!(status.state, AgentState::Reserved);
    // New offers carry the epoch; the old reservation resolves as before.
    standby.enqueue(request("c2", "billing", 2), t(2)).unwrap();
    let new = offers(&std::iter::from_fn(|| standby.poll_decision()).collect::<Vec<_>>());
    assert_eq!(new.len(), 1);
    assert!(new[0].2.as_str().starts_with("res-e1-"), "{}", new[0].2);
    assert_eq!(standby.reservation_epoch(&new[0].2), Some(1));
    assert_eq!(standby.reservation_epoch(&res), Some(0));
    standby.offer_accepted(&res, t(3)).unwrap();
    assert!(
        std::iter::from_fn(|| standby.poll_decision())
            .any(|d| matches!(d, RoutingDecision::Assigned { interaction, .. } if interaction.as_str() == "c1"))
    );

    // The old primary learns of epoch 1: it refuses everything and says nothing.
    assert!(rig.acd.fence(standby.epoch()));
    assert!(matches!(
        rig.acd.enqueue(request("c3", "billing", 3), t(3)),
        Err(AcdError::Fenced { epoch: 0, newer: 1 })
    ));
    assert!(rig.acd.offer_accepted(&res, t(3)).is_err());
    rig.acd.tick(t(100));
    assert!(rig.acd.poll_decision().is_none());
    assert!(rig.acd.export_state(t(100)).is_err());
    // An equal or older epoch does not fence.
    assert!(!standby.fence(1));
}

#[test]
fn a_snapshot_needs_drained_decisions_and_a_bad_state_is_refused() {
    let mut rig = Rig::new(AcdConfig::default());
    rig.queue(QueueDefinition::new("billing"));
    rig.acd.add_agent(AgentProfile::new("alice"), t(0)).unwrap();
    rig.acd
        .set_agent_state(&"alice".into(), AgentState::Available, t(0))
        .unwrap();
    assert!(matches!(
        rig.acd.export_state(t(0)),
        Err(AcdError::Snapshot(_))
    ));
    rig.drain();
    let state = rig.acd.export_state(t(0)).unwrap();
    let mut json: serde_json::Value = serde_json::to_value(&state).unwrap();
    // An agent pointing at a lane that does not exist.
    json["agents"]["items"][0]["lanes"] = serde_json::json!([99]);
    let broken: EngineState = serde_json::from_value(json).unwrap();
    assert!(matches!(
        AcdEngine::restore(AcdConfig::default(), StrategyRegistry::builtin(), broken),
        Err(AcdError::Snapshot(_))
    ));
    // A free list that names a live slot.
    let mut json: serde_json::Value = serde_json::to_value(&state).unwrap();
    json["agents"]["free"] = serde_json::json!([0]);
    let broken: EngineState = serde_json::from_value(json).unwrap();
    assert!(matches!(
        AcdEngine::restore(AcdConfig::default(), StrategyRegistry::builtin(), broken),
        Err(AcdError::Snapshot(_))
    ));
    // A registry without the queue's strategy.
    let mut q = QueueDefinition::new("vip");
    q.strategy = "mine".into();
    let mut reg = StrategyRegistry::builtin();
    reg.register("mine", || Box::new(callcore_acd::strategies::LongestIdle));
    let mut acd = AcdEngine::with_strategies(AcdConfig::default(), reg);
    acd.add_queue(q, t(0)).unwrap();
    let state = acd.export_state(t(0)).unwrap();
    assert!(matches!(
        AcdEngine::restore(AcdConfig::default(), StrategyRegistry::builtin(), state),
        Err(AcdError::UnknownStrategy { .. })
    ));
}

#[test]
fn a_callback_request_through_the_router_port_keeps_the_place_past_the_maximum_wait() {
    let mut acd = AcdEngine::new(AcdConfig::default());
    let mut q = QueueDefinition::new("billing");
    q.max_wait_secs = Some(60);
    acd.handle(RouterInput::AddQueue(Box::new(q)), t(0))
        .unwrap();
    for (id, at) in [("first", 0), ("second", 1)] {
        let r: RoutingRequest = request(id, "billing", at);
        acd.handle(RouterInput::Enqueue(Box::new(r)), t(at))
            .unwrap();
    }
    acd.handle(
        RouterInput::RequestCallback {
            interaction: "first".into(),
        },
        t(5),
    )
    .unwrap();
    assert!(
        acd.handle(
            RouterInput::RequestCallback {
                interaction: "nobody".into()
            },
            t(5)
        )
        .is_err()
    );
    while acd.poll_decision().is_some() {}
    acd.tick(t(120));
    let timed_out: Vec<String> = std::iter::from_fn(|| acd.poll_decision())
        .filter_map(|d| match d {
            RoutingDecision::TimedOut { interaction, .. } => Some(interaction.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(timed_out, vec!["second".to_owned()]);
    let status = acd.queue_status(&"billing".into(), t(120)).unwrap();
    assert_eq!(status.waiting.len(), 1);
    assert!(status.waiting[0].callback);
    assert_eq!(status.waiting[0].position, 1);
    // The first agent to come in gets the callback.
    acd.handle(
        RouterInput::AddAgent(Box::new(AgentProfile::new("alice"))),
        t(121),
    )
    .unwrap();
    acd.handle(
        RouterInput::SetAgentState {
            agent: "alice".into(),
            state: AgentState::Available,
        },
        t(121),
    )
    .unwrap();
    let ds: Vec<_> = std::iter::from_fn(|| acd.poll_decision()).collect();
    assert_eq!(offers(&ds)[0].0, "first");
}

#[test]
fn agent_status_reports_load_and_offers_per_channel() {
    let mut rig = Rig::new(AcdConfig::default());
    rig.queue(QueueDefinition::new("chat"));
    let mut p = AgentProfile::new("alice");
    p.capacity.clear();
    p.capacity.insert(Channel::Chat, 3);
    rig.agent(p, 0);
    let mut ids = Vec::new();
    for i in 0..2 {
        let mut r = request(&format!("chat{i}"), "chat", 1);
        r.channel = Channel::Chat;
        ids.extend(offers(&rig.enqueue(r, 1)));
    }
    rig.acd.offer_accepted(&ids[0].2, t(2)).unwrap();
    let s = rig.acd.agent_status(&"alice".into()).unwrap();
    assert_eq!(s.load.get(&Channel::Chat), Some(&1));
    assert_eq!(s.offered.get(&Channel::Chat), Some(&1));
    assert_eq!(s.capacity.get(&Channel::Chat), Some(&3));
    assert_eq!(s.load.get(&Channel::Voice), None);
    assert_eq!(rig.acd.agent_statuses().len(), 1);
}
