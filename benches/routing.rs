//! Routing throughput (B2): one measured decision = an interaction enqueued,
//! offered to an agent, accepted, and the agent freed again (index updates
//! included), so the center stays in steady state.
//!
//! Workload: 50 skills; agents hold 1–5 skills at proficiency 1–10; 100
//! queues each require 1–2 skills (minimum proficiency 1–5). Every
//! interaction goes to a queue that has at least one qualified agent.
//!
//! Cases: `<strategy>/<agents>` for every built-in strategy of callcore-acd at
//! 100, 1,000 and 10,000 agents, and `naive_scan/<agents>`: callcore's
//! reference `BasicRouter`, which applies the same longest-idle rule by
//! scanning every agent, driven through the same `Router` port.

use callcore::{
    AgentProfile, AgentState, BasicRouter, Channel, InteractionId, QueueDefinition, QueueId,
    Router, RouterInput, RoutingDecision, RoutingRequest, SeededRng, TenantId, Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine, BUILTIN_STRATEGIES};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const SKILLS: u64 = 50;
const QUEUES: u64 = 100;

struct Workload {
    agents: Vec<AgentProfile>,
    queues: Vec<QueueDefinition>,
    /// Queues with at least one qualified agent, in a fixed random order.
    targets: Vec<QueueId>,
}

fn workload(agents: usize, seed: u64) -> Workload {
    let mut rng = SeededRng::new(seed);
    let skill = |i: u64| format!("skill{i}");
    let agents: Vec<AgentProfile> = (0..agents)
        .map(|i| {
            let mut p = AgentProfile::new(format!("agent{i}"));
            for _ in 0..=rng.below(5) {
                let prof = u8::try_from(1 + rng.below(10)).unwrap_or(1);
                p = p.with_skill(skill(rng.below(SKILLS)), prof);
            }
            p
        })
        .collect();
    let queues: Vec<QueueDefinition> = (0..QUEUES)
        .map(|i| {
            let mut q = QueueDefinition::new(format!("queue{i}"));
            for _ in 0..=rng.below(2) {
                let min = u8::try_from(1 + rng.below(5)).unwrap_or(1);
                q = q.requiring(skill(rng.below(SKILLS)), min);
            }
            q
        })
        .collect();
    let served: Vec<QueueId> = queues
        .iter()
        .filter(|q| {
            agents.iter().any(|a| {
                q.requirements.iter().all(|r| {
                    a.proficiency(&r.skill)
                        .is_some_and(|p| p >= r.min_proficiency)
                })
            })
        })
        .map(|q| q.id.clone())
        .collect();
    let targets = (0..4096)
        .map(|_| served[usize::try_from(rng.below(served.len() as u64)).unwrap_or(0)].clone())
        .collect();
    Workload {
        agents,
        queues,
        targets,
    }
}

/// A router loaded with the workload, every agent available.
fn loaded(mut router: Box<dyn Router>, w: &Workload, strategy: &str) -> Box<dyn Router> {
    let now = Timestamp::EPOCH;
    for q in &w.queues {
        let mut q = q.clone();
        q.strategy = strategy.to_owned();
        router
            .handle(RouterInput::AddQueue(Box::new(q)), now)
            .expect("queue");
    }
    for a in &w.agents {
        router
            .handle(RouterInput::AddAgent(Box::new(a.clone())), now)
            .expect("agent");
        router
            .handle(
                RouterInput::SetAgentState {
                    agent: a.id.clone(),
                    state: AgentState::Available,
                },
                now,
            )
            .expect("available");
    }
    while router.poll_decision().is_some() {}
    router
}

/// The measured loop state: which target and interaction id come next.
struct Driver {
    ids: Vec<InteractionId>,
    next: usize,
    now: Timestamp,
    tenant: TenantId,
}

impl Driver {
    fn new() -> Self {
        Self {
            ids: (0..4096)
                .map(|i| InteractionId::new(format!("int{i}")))
                .collect(),
            next: 0,
            now: Timestamp::from_secs(1),
            tenant: TenantId::default(),
        }
    }

    /// One decision: enqueue → offer → accept → end (agent free again).
    fn decide(&mut self, router: &mut dyn Router, targets: &[QueueId]) {
        let i = self.next % self.ids.len();
        self.next += 1;
        self.now = self.now + Duration::from_millis(1);
        let interaction = self.ids[i].clone();
        let request = RoutingRequest {
            interaction: interaction.clone(),
            tenant: self.tenant.clone(),
            channel: Channel::Voice,
            queue: targets[i % targets.len()].clone(),
            priority: 0,
            customer: None,
            preferred_agent: None,
            attributes: Default::default(),
            required_skills: Vec::new(),
            enqueued_at: self.now,
        };
        let _ = router.handle(RouterInput::Enqueue(Box::new(request)), self.now);
        let mut offer = None;
        while let Some(d) = router.poll_decision() {
            if let RoutingDecision::Offer {
                reservation, agent, ..
            } = d
            {
                offer.get_or_insert((reservation, agent));
            }
        }
        let Some((reservation, agent)) = offer else {
            panic!("no agent was offered {interaction}");
        };
        let _ = router.handle(RouterInput::OfferAccepted { reservation }, self.now);
        while router.poll_decision().is_some() {}
        let _ = router.handle(
            RouterInput::InteractionEnded { interaction, agent },
            self.now,
        );
        while let Some(d) = router.poll_decision() {
            black_box(d);
        }
    }
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    for agents in [100usize, 1_000, 10_000] {
        let w = workload(agents, 42);
        for strategy in BUILTIN_STRATEGIES {
            let mut router = loaded(Box::new(AcdEngine::new(AcdConfig::default())), &w, strategy);
            let mut driver = Driver::new();
            group.bench_function(BenchmarkId::new(strategy, agents), |b| {
                b.iter(|| driver.decide(router.as_mut(), &w.targets));
            });
        }
        let mut router = loaded(Box::new(BasicRouter::new()), &w, "longest_idle");
        let mut driver = Driver::new();
        group.bench_function(BenchmarkId::new("naive_scan", agents), |b| {
            b.iter(|| driver.decide(router.as_mut(), &w.targets));
        });
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
