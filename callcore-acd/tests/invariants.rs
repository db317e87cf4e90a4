//! Property tests: random input sequences against the invariants of the
//! issue, checked after every step by a model that only reads decisions.
//!
//! 1. an agent is never offered more than its capacity (per channel, voice
//!    exclusive);
//! 2. nothing is offered to an agent who is not available (presence,
//!    wrap-up);
//! 3. within a queue, priority and channel, waiting interactions are offered
//!    oldest first;
//! 4. no waiting interaction starves while an eligible agent stays idle;
//! 5. every enqueued interaction ends in exactly one of answered / abandoned /
//!    overflowed / timed out (or rejected at the door).

use callcore::{
    AgentProfile, AgentState, Channel, Destination, EscalationAction, EscalationStep, OfferEnd,
    QueueDefinition, ReservationId, RoutingDecision, RoutingRequest, Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine, BUILTIN_STRATEGIES};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const AGENTS: usize = 5;
const QUEUES: usize = 3;
const SKILLS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    SetState(usize, u8),
    Enqueue {
        queue: usize,
        chat: bool,
        priority: i32,
    },
    Accept(usize),
    Decline(usize),
    End(usize),
    Abandon(usize),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..AGENTS, 0u8..3).prop_map(|(a, s)| Op::SetState(a, s)),
        4 => (0..QUEUES, any::<bool>(), 0i32..3).prop_map(|(queue, chat, priority)| Op::Enqueue { queue, chat, priority }),
        3 => (0usize..8).prop_map(Op::Accept),
        1 => (0usize..8).prop_map(Op::Decline),
        3 => (0usize..8).prop_map(Op::End),
        1 => (0usize..8).prop_map(Op::Abandon),
        2 => (1u32..40).prop_map(Op::Advance),
    ]
}

/// Required skill and minimum, wrap-up, strategy index.
type QueueSetup = (Option<(usize, u8)>, u32, usize);

#[derive(Debug, Clone)]
struct Setup {
    /// Per agent: skills (index → proficiency) and chat capacity.
    agents: Vec<(Vec<(usize, u8)>, u32)>,
    /// Per queue: required skill and minimum, wrap-up, strategy.
    queues: Vec<QueueSetup>,
}

fn setup() -> impl Strategy<Value = Setup> {
    let agent = (
        prop::collection::vec((0..SKILLS.len(), 1u8..10), 0..3),
        0u32..3,
    );
    let queue = (
        prop::option::of((0..SKILLS.len(), 1u8..6)),
        0u32..8,
        0..BUILTIN_STRATEGIES.len(),
    );
    (
        prop::collection::vec(agent, AGENTS),
        prop::collection::vec(queue, QUEUES),
    )
        .prop_map(|(agents, queues)| Setup { agents, queues })
}

#[derive(Debug, Default)]
struct Model {
    /// Requested presence is available and no missed-offer not-ready since.
    available: Vec<bool>,
    in_wrap: Vec<usize>,
    /// Missed offers in a row (the engine's rule: 3 → not ready).
    missed: Vec<u32>,
    /// Pending offers: reservation → (interaction, agent, channel).
    offers: BTreeMap<ReservationId, (String, usize, usize)>,
    /// Accepted: interaction → (agent, channel).
    accepted: BTreeMap<String, (usize, usize)>,
    /// Waiting (not ringing) interactions: id → (queue, priority, seq, channel).
    waiting: BTreeMap<String, (usize, i32, u64, usize)>,
    ringing: BTreeMap<String, (usize, i32, u64, usize)>,
    /// Terminal outcomes seen per interaction.
    ends: BTreeMap<String, Vec<&'static str>>,
    enqueued: BTreeSet<String>,
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

struct World {
    setup: Setup,
    acd: AcdEngine,
    m: Model,
    now: i64,
    seq: u64,
}

impl World {
    fn new(setup: Setup) -> Self {
        let mut cfg = AcdConfig::default();
        cfg.sticky_wait_secs = 0;
        let mut acd = AcdEngine::new(cfg);
        for (i, (req, wrap, strategy)) in setup.queues.iter().enumerate() {
            let mut q = QueueDefinition::new(format!("q{i}")).with_wrap_up_secs(*wrap);
            if let Some((s, min)) = req {
                q = q.requiring(SKILLS[*s], *min);
            }
            q.strategy = BUILTIN_STRATEGIES[*strategy].to_owned();
            q.max_wait_secs = Some(300);
            q.offer_timeout_secs = 15;
            if i == 2 {
                q.escalation = vec![EscalationStep {
                    after_secs: 120,
                    action: EscalationAction::Overflow {
                        destination: Destination::Voicemail,
                    },
                }];
            }
            acd.add_queue(q, t(0)).expect("queue");
        }
        for (i, (skills, chat)) in setup.agents.iter().enumerate() {
            let mut p = AgentProfile::new(format!("ag{i}")).with_capacity(Channel::Chat, *chat);
            for (s, prof) in skills {
                p = p.with_skill(SKILLS[*s], *prof);
            }
            acd.add_agent(p, t(0)).expect("agent");
        }
        let m = Model {
            available: vec![false; AGENTS],
            in_wrap: vec![0; AGENTS],
            missed: vec![0; AGENTS],
            ..Model::default()
        };
        Self {
            setup,
            acd,
            m,
            now: 0,
            seq: 0,
        }
    }

    fn capacity(&self, agent: usize, ch: usize) -> u32 {
        if ch == 0 {
            1
        } else {
            self.setup.agents[agent].1
        }
    }

    fn eligible(&self, agent: usize, queue: usize) -> bool {
        match self.setup.queues[queue].0 {
            None => true,
            // The profile keeps the last proficiency given for a skill.
            Some((s, min)) => self.setup.agents[agent]
                .0
                .iter()
                .rev()
                .find(|(k, _)| *k == s)
                .is_some_and(|(_, p)| *p >= min),
        }
    }

    fn used(&self, agent: usize, ch: usize) -> u32 {
        let offers = self
            .m
            .offers
            .values()
            .filter(|o| o.1 == agent && o.2 == ch)
            .count();
        let acc = self
            .m
            .accepted
            .values()
            .filter(|o| o.0 == agent && o.1 == ch)
            .count();
        u32::try_from(offers + acc).unwrap_or(u32::MAX)
    }

    fn free(&self, agent: usize, ch: usize) -> bool {
        let other = usize::from(ch == 0);
        let blocked = if ch == 0 {
            self.used(agent, 1) > 0
        } else {
            self.used(agent, 0) > 0
        };
        let _ = other;
        !blocked && self.used(agent, ch) < self.capacity(agent, ch)
    }

    fn end(&mut self, interaction: &str, how: &'static str) {
        self.m.waiting.remove(interaction);
        self.m.ringing.remove(interaction);
        self.m
            .ends
            .entry(interaction.to_owned())
            .or_default()
            .push(how);
    }

    fn agent_index(id: &str) -> usize {
        id.trim_start_matches("ag").parse().expect("agent index")
    }

    fn absorb(&mut self) -> Result<(), TestCaseError> {
        while let Some(d) = self.acd.poll_decision() {
            if std::env::var_os("ACD_TRACE").is_some() {
                eprintln!("{d:?}");
            }
            match d {
                RoutingDecision::Queued {
                    interaction, queue, ..
                } => {
                    let i = interaction.to_string();
                    if let Some(w) = self.m.waiting.get_mut(&i) {
                        w.0 = queue.as_str()[1..].parse().expect("queue index");
                    }
                }
                RoutingDecision::Rejected { interaction, .. } => {
                    self.end(interaction.as_str(), "rejected")
                }
                RoutingDecision::Offer {
                    reservation,
                    interaction,
                    agent,
                    queue,
                    ..
                } => {
                    let a = Self::agent_index(agent.as_str());
                    let i = interaction.to_string();
                    let entry = self
                        .m
                        .waiting
                        .remove(&i)
                        .or_else(|| self.m.ringing.get(&i).copied());
                    let Some(entry) = entry else {
                        return Err(TestCaseError::fail(format!("offer of unknown {i}")));
                    };
                    let ch = entry.3;
                    // 2: available.
                    prop_assert!(
                        self.m.available[a] && self.m.in_wrap[a] == 0,
                        "{agent} not available for {i}"
                    );
                    // 1: capacity (counting this offer).
                    prop_assert!(self.free(a, ch), "{agent} over capacity with {i}");
                    // 3: oldest first within queue, priority, channel.
                    let q: usize = queue.as_str()[1..].parse().expect("queue");
                    prop_assert!(q == entry.0);
                    let older = self.m.waiting.iter().find(|(_, w)| {
                        w.0 == entry.0 && w.1 == entry.1 && w.3 == ch && w.2 < entry.2
                    });
                    prop_assert!(older.is_none(), "{i} offered before older {older:?}");
                    self.m.ringing.insert(i.clone(), entry);
                    self.m.offers.insert(reservation, (i, a, ch));
                }
                RoutingDecision::OfferEnded {
                    reservation,
                    interaction,
                    outcome,
                    agent,
                } => {
                    self.m.offers.remove(&reservation);
                    if matches!(outcome, OfferEnd::TimedOut | OfferEnd::Failed) {
                        let a = Self::agent_index(agent.as_str());
                        self.m.missed[a] += 1;
                        if self.m.missed[a] >= 3 {
                            self.m.missed[a] = 0;
                            self.m.available[a] = false;
                        }
                    }
                    let i = interaction.to_string();
                    let still = self.m.offers.values().any(|o| o.0 == i);
                    if !still
                        && outcome != OfferEnd::Canceled
                        && !self.m.accepted.contains_key(&i)
                        && let Some(e) = self.m.ringing.remove(&i)
                    {
                        self.m.waiting.insert(i, e);
                    }
                }
                RoutingDecision::Assigned {
                    reservation,
                    interaction,
                    agent,
                    ..
                } => {
                    let (_, _, ch) = self.m.offers.remove(&reservation).expect("assigned offer");
                    let i = interaction.to_string();
                    self.end(&i, "answered");
                    let a = Self::agent_index(agent.as_str());
                    self.m.missed[a] = 0;
                    self.m.accepted.insert(i, (a, ch));
                }
                RoutingDecision::Overflow { interaction, .. } => {
                    self.end(interaction.as_str(), "overflowed")
                }
                RoutingDecision::TimedOut { interaction, .. } => {
                    self.end(interaction.as_str(), "timed_out")
                }
                RoutingDecision::AgentStateChanged {
                    agent,
                    to: AgentState::NotReady(r),
                    ..
                } if r == callcore_acd::MISSED_OFFERS_REASON => {
                    self.m.available[Self::agent_index(agent.as_str())] = false;
                }
                RoutingDecision::WrapUpStarted { agent, .. } => {
                    self.m.in_wrap[Self::agent_index(agent.as_str())] += 1
                }
                RoutingDecision::WrapUpEnded { agent, .. } => {
                    let a = Self::agent_index(agent.as_str());
                    self.m.in_wrap[a] = self.m.in_wrap[a].saturating_sub(1);
                }
                _ => {}
            }
        }
        // 4: no starvation while an eligible agent idles.
        for (i, w) in &self.m.waiting {
            for a in 0..AGENTS {
                let idle = self.m.available[a] && self.m.in_wrap[a] == 0 && self.free(a, w.3);
                prop_assert!(
                    !(idle && self.eligible(a, w.0)),
                    "{i} waits while ag{a} idles"
                );
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = t(self.now);
        match op {
            Op::SetState(a, s) => {
                let state = match s {
                    0 => AgentState::Available,
                    1 => AgentState::NotReady("break".into()),
                    _ => AgentState::Offline,
                };
                if self
                    .acd
                    .set_agent_state(&format!("ag{a}").into(), state.clone(), now)
                    .is_ok()
                {
                    self.m.available[*a] = state == AgentState::Available;
                    self.m.missed[*a] = 0;
                    if state == AgentState::Offline {
                        self.m.in_wrap[*a] = 0;
                    }
                }
            }
            Op::Enqueue {
                queue,
                chat,
                priority,
            } => {
                self.seq += 1;
                let id = format!("i{}", self.seq);
                let ch = usize::from(*chat);
                let r = RoutingRequest {
                    interaction: id.as_str().into(),
                    tenant: Default::default(),
                    channel: if *chat { Channel::Chat } else { Channel::Voice },
                    queue: format!("q{queue}").into(),
                    priority: *priority,
                    customer: None,
                    preferred_agent: None,
                    attributes: Default::default(),
                    required_skills: Vec::new(),
                    enqueued_at: now,
                };
                self.m.enqueued.insert(id.clone());
                self.m.waiting.insert(id, (*queue, *priority, self.seq, ch));
                self.acd.enqueue(r, now).expect("enqueue");
            }
            Op::Accept(k) | Op::Decline(k) => {
                if let Some(res) = self
                    .m
                    .offers
                    .keys()
                    .nth(k % self.m.offers.len().max(1))
                    .cloned()
                {
                    if matches!(op, Op::Accept(_)) {
                        self.acd.offer_accepted(&res, now).expect("accept");
                    } else {
                        self.acd.offer_declined(&res, now).expect("decline");
                    }
                }
            }
            Op::End(k) => {
                if let Some((i, (a, _))) =
                    self.m.accepted.iter().nth(k % self.m.accepted.len().max(1))
                {
                    let (i, a) = (i.clone(), *a);
                    self.acd
                        .interaction_ended(&i.as_str().into(), &format!("ag{a}").into(), now)
                        .expect("end");
                    self.m.accepted.remove(&i);
                }
            }
            Op::Abandon(k) => {
                let live: Vec<String> = self
                    .m
                    .waiting
                    .keys()
                    .chain(self.m.ringing.keys())
                    .cloned()
                    .collect();
                if let Some(i) = live.get(k % live.len().max(1)).cloned() {
                    self.acd.abandon(&i.as_str().into(), now);
                    self.end(&i, "abandoned");
                }
            }
            Op::Advance(s) => {
                self.now += i64::from(*s) * 1000;
                self.acd.tick(t(self.now));
            }
        }
        self.absorb()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_invariants_hold(setup in setup(), ops in prop::collection::vec(op(), 1..120)) {
        let mut w = World::new(setup);
        for op in &ops {
            w.apply(op)?;
        }
        // Drain: time passes until nothing is pending; every offer rings out
        // and every waiting interaction reaches its maximum wait.
        for _ in 0..200 {
            let Some(next) = w.acd.next_timeout() else { break };
            w.now = w.now.max(next.as_millis());
            w.acd.tick(t(w.now));
            w.absorb()?;
        }
        prop_assert_eq!(w.acd.waiting_count(), 0);
        // 5: exactly one end per enqueued interaction.
        for i in &w.m.enqueued {
            let ends = w.m.ends.get(i).cloned().unwrap_or_default();
            prop_assert_eq!(ends.len(), 1, "{} ended {:?}", i, ends);
        }
    }
}
