//! The discrete-event loop: a time-ordered heap of simulation events plus the
//! ACD engine's own timers, advanced in virtual time. Same scenario and seed,
//! same report, bit for bit.

use crate::error::SimError;
use crate::report::{Counts, QueueReport, SimReport};
use crate::scenario::Scenario;
use callcore::{
    AgentId, AgentState, InteractionId, ReservationId, RoutingDecision, RoutingRequest, SeededRng,
    Timestamp,
};
use callcore_acd::{AcdConfig, AcdEngine, AcdError};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival(u32),
    Patience(u32),
    TalkEnd(u32),
    Answer(u32),
    ShiftStart(u32, u32),
    ShiftEnd(u32),
    BreakStart(u32),
    BreakEnd(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Answered,
    Done,
}

#[derive(Debug, Clone)]
struct Call {
    queue: u32,
    arrived_ms: i64,
    handle_secs: f64,
    answered_ms: Option<i64>,
    agent: u32,
    fate: Fate,
}

#[derive(Debug, Clone)]
struct AgentTrack {
    state: AgentState,
    since_ms: i64,
    logout_pending: bool,
    on_shift: bool,
}

/// A simulation of one scenario (see the crate docs).
#[derive(Debug)]
pub struct Simulation {
    scenario: Scenario,
    acd: AcdEngine,
    heap: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    seq: u64,
    calls: Vec<Call>,
    ids: Vec<InteractionId>,
    agents: Vec<AgentTrack>,
    agent_ids: Vec<AgentId>,
    reservations: Vec<ReservationId>,
    arrival_rngs: Vec<SeededRng>,
    per_queue: Vec<Vec<Counts>>,
    staffed_ms: Vec<f64>,
    busy_ms: Vec<f64>,
    events: u64,
    decisions: u64,
}

fn ms(t: f64) -> i64 {
    #[allow(clippy::cast_possible_truncation)]
    let v = (t * 1000.0).round() as i64;
    v
}

fn agent_index(id: &AgentId) -> u32 {
    id.as_str()
        .rsplit('#')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Simulation {
    /// Prepares a simulation: the engine gets the scenario's queues and agents.
    ///
    /// # Errors
    /// An invalid scenario, or a queue the engine refuses.
    pub fn new(scenario: Scenario) -> Result<Self, SimError> {
        scenario.validate()?;
        let mut config = AcdConfig::default();
        config.seed = scenario.seed;
        config.sticky_wait_secs = 0;
        let mut acd = AcdEngine::new(config);
        let t0 = Timestamp::EPOCH;
        for q in &scenario.queues {
            acd.add_queue(q.definition.clone(), t0)?;
        }
        let mut agent_ids = Vec::new();
        for (i, a) in scenario.agents.iter().enumerate() {
            // The simulator keys agents by index: "name#index".
            let mut p = a.profile.clone();
            p.id = AgentId::new(format!("{}#{i}", a.profile.id));
            agent_ids.push(p.id.clone());
            acd.add_agent(p, t0)?;
        }
        let intervals =
            (scenario.duration_secs / f64::from(scenario.interval_secs)).ceil() as usize + 1;
        let mut sim = Self {
            arrival_rngs: (0..scenario.queues.len() as u64)
                .map(|q| {
                    SeededRng::new(scenario.seed ^ (q + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                })
                .collect(),
            per_queue: vec![vec![Counts::default(); intervals]; scenario.queues.len()],
            staffed_ms: vec![0.0; intervals],
            busy_ms: vec![0.0; intervals],
            agents: vec![
                AgentTrack {
                    state: AgentState::Offline,
                    since_ms: 0,
                    logout_pending: false,
                    on_shift: false,
                };
                scenario.agents.len()
            ],
            agent_ids,
            acd,
            heap: BinaryHeap::new(),
            seq: 0,
            calls: Vec::new(),
            ids: Vec::new(),
            reservations: Vec::new(),
            events: 0,
            decisions: 0,
            scenario,
        };
        for q in 0..sim.scenario.queues.len() {
            sim.schedule_arrival(u32::try_from(q).unwrap_or(0), 0.0);
        }
        for (i, a) in sim.scenario.agents.clone().iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(0);
            if a.shifts.is_empty() {
                sim.push(0, Ev::ShiftStart(i, 0));
            }
            for (s, shift) in a.shifts.iter().enumerate() {
                sim.push(
                    ms(shift.span.start),
                    Ev::ShiftStart(i, u32::try_from(s).unwrap_or(0)),
                );
                sim.push(ms(shift.span.end), Ev::ShiftEnd(i));
                for b in &shift.breaks {
                    sim.push(ms(b.start), Ev::BreakStart(i));
                    sim.push(ms(b.end), Ev::BreakEnd(i));
                }
            }
        }
        Ok(sim)
    }

    fn push(&mut self, at_ms: i64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at_ms, self.seq, ev)));
    }

    fn schedule_arrival(&mut self, q: u32, from_secs: f64) {
        let Some(spec) = self.scenario.queues.get(q as usize) else {
            return;
        };
        let max = spec.arrivals.max_rate();
        if max <= 0.0 {
            return;
        }
        let rng = &mut self.arrival_rngs[q as usize];
        let mut t = from_secs;
        // Thinning (Lewis–Shedler) for time-varying rates.
        loop {
            t += rng.exponential(1.0 / max);
            if t >= self.scenario.duration_secs {
                return;
            }
            if rng.next_f64() * max <= spec.arrivals.rate_at(t) {
                break;
            }
        }
        self.push(ms(t), Ev::Arrival(q));
    }

    fn interval_of(&self, at_ms: i64) -> usize {
        let i = at_ms.max(0) / (i64::from(self.scenario.interval_secs) * 1000);
        usize::try_from(i)
            .unwrap_or(0)
            .min(self.staffed_ms.len() - 1)
    }

    /// Runs to the end and reports.
    ///
    /// # Errors
    /// An input the engine refuses (a bug in the scenario, such as a
    /// malformed attribute).
    pub fn run(mut self) -> Result<SimReport, SimError> {
        let end_ms = ms(self.scenario.duration_secs);
        // Let calls in progress at the end finish (up to two hours).
        let drain_ms = end_ms + 2 * 3600 * 1000;
        loop {
            let next_ev = self.heap.peek().map(|r| r.0.0);
            let next_acd = self.acd.next_timeout().map(Timestamp::as_millis);
            let (t, engine) = match (next_ev, next_acd) {
                (None, None) => break,
                (Some(e), None) => (e, false),
                (None, Some(a)) => (a, true),
                (Some(e), Some(a)) => {
                    if a <= e {
                        (a, true)
                    } else {
                        (e, false)
                    }
                }
            };
            if t > drain_ms {
                break;
            }
            self.events += 1;
            let now = Timestamp::from_millis(t);
            if engine {
                self.acd.tick(now);
            } else if let Some(Reverse((_, _, ev))) = self.heap.pop() {
                self.on_event(ev, t)?;
            }
            self.drain(t)?;
        }
        Ok(self.report(end_ms.min(drain_ms)))
    }

    fn on_event(&mut self, ev: Ev, t: i64) -> Result<(), SimError> {
        let now = Timestamp::from_millis(t);
        match ev {
            Ev::Arrival(q) => {
                let c = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
                let spec = &self.scenario.queues[q as usize];
                let channel = spec.channel;
                let queue_id = spec.definition.id.clone();
                let mut rng = SeededRng::new(
                    self.scenario.seed ^ u64::from(c).wrapping_mul(0xD134_2543_DE82_EF95),
                );
                let handle_secs = spec.handle.sample(&mut rng);
                let patience = spec.patience.as_ref().map(|p| p.sample(&mut rng));
                let id = InteractionId::new(format!("c{c}"));
                self.calls.push(Call {
                    queue: q,
                    arrived_ms: t,
                    handle_secs,
                    answered_ms: None,
                    agent: 0,
                    fate: Fate::Waiting,
                });
                self.ids.push(id.clone());
                let i = self.interval_of(t);
                self.per_queue[q as usize][i].offered += 1;
                if let Some(p) = patience {
                    self.push(t + ms(p), Ev::Patience(c));
                }
                let request = RoutingRequest {
                    interaction: id,
                    tenant: callcore::TenantId::default(),
                    channel,
                    queue: queue_id,
                    priority: 0,
                    customer: None,
                    preferred_agent: None,
                    attributes: Default::default(),
                    required_skills: Vec::new(),
                    enqueued_at: now,
                };
                self.acd.enqueue(request, now)?;
                self.schedule_arrival(q, t as f64 / 1000.0);
            }
            Ev::Patience(c) => {
                if self.calls[c as usize].fate == Fate::Waiting {
                    self.acd.abandon(&self.ids[c as usize], now);
                    self.close(c, t, Outcome::Abandoned);
                }
            }
            Ev::Answer(r) => {
                let id = self.reservations[r as usize].clone();
                if self.acd.reservation_state(&id).is_some() {
                    self.acd.offer_accepted(&id, now)?;
                }
            }
            Ev::TalkEnd(c) => {
                let call = &self.calls[c as usize];
                let a = call.agent;
                self.acd.interaction_ended(
                    &self.ids[c as usize],
                    &self.agent_ids[a as usize],
                    now,
                )?;
                if self.agents[a as usize].logout_pending {
                    self.try_logout(a, now);
                }
            }
            Ev::ShiftStart(a, _) => {
                self.agents[a as usize].on_shift = true;
                self.agents[a as usize].logout_pending = false;
                let _ = self.acd.set_agent_state(
                    &self.agent_ids[a as usize],
                    AgentState::Available,
                    now,
                );
            }
            Ev::ShiftEnd(a) => {
                self.agents[a as usize].on_shift = false;
                self.try_logout(a, now);
            }
            Ev::BreakStart(a) => {
                if self.agents[a as usize].on_shift {
                    let _ = self.acd.set_agent_state(
                        &self.agent_ids[a as usize],
                        AgentState::NotReady("break".into()),
                        now,
                    );
                }
            }
            Ev::BreakEnd(a) => {
                if self.agents[a as usize].on_shift {
                    let _ = self.acd.set_agent_state(
                        &self.agent_ids[a as usize],
                        AgentState::Available,
                        now,
                    );
                }
            }
        }
        Ok(())
    }

    fn try_logout(&mut self, a: u32, now: Timestamp) {
        let id = &self.agent_ids[a as usize];
        match self.acd.set_agent_state(id, AgentState::Offline, now) {
            Ok(()) => self.agents[a as usize].logout_pending = false,
            Err(AcdError::AgentBusy(_) | AcdError::AgentState(_)) => {
                // Finish the call first; take no more.
                let _ =
                    self.acd
                        .set_agent_state(id, AgentState::NotReady("end_of_shift".into()), now);
                self.agents[a as usize].logout_pending = true;
            }
            Err(e) => tracing::warn!(error = %e, "logout refused"),
        }
    }

    fn close(&mut self, c: u32, t: i64, outcome: Outcome) {
        let call = &mut self.calls[c as usize];
        call.fate = Fate::Done;
        let arrived = call.arrived_ms;
        let q = call.queue as usize;
        let i = self.interval_of(arrived);
        let counts = &mut self.per_queue[q][i];
        let wait = (t - arrived) as f64 / 1000.0;
        counts.wait_all_secs += wait;
        if t > arrived {
            counts.waited += 1;
        }
        match outcome {
            Outcome::Abandoned => counts.abandoned += 1,
            Outcome::Other => counts.other += 1,
        }
    }

    fn drain(&mut self, t: i64) -> Result<(), SimError> {
        let now = Timestamp::from_millis(t);
        while let Some(d) = self.acd.poll_decision() {
            self.decisions += 1;
            match d {
                RoutingDecision::Offer { reservation, .. } => {
                    if self.scenario.answer_secs <= 0.0 {
                        self.acd.offer_accepted(&reservation, now)?;
                    } else {
                        let r = u32::try_from(self.reservations.len()).unwrap_or(u32::MAX);
                        self.reservations.push(reservation);
                        self.push(t + ms(self.scenario.answer_secs), Ev::Answer(r));
                    }
                }
                RoutingDecision::Assigned {
                    interaction, agent, ..
                } => {
                    let c = call_index(&interaction);
                    let a = agent_index(&agent);
                    let q = self.calls[c as usize].queue as usize;
                    let sl = f64::from(self.scenario.queues[q].definition.service_level_secs);
                    let wrap = f64::from(self.scenario.queues[q].definition.wrap_up_secs);
                    let factor = self.speed_factor(q, a);
                    let call = &mut self.calls[c as usize];
                    call.handle_secs *= factor;
                    call.fate = Fate::Answered;
                    call.answered_ms = Some(t);
                    call.agent = a;
                    let arrived = call.arrived_ms;
                    let handle = call.handle_secs;
                    let i = self.interval_of(arrived);
                    let counts = &mut self.per_queue[q][i];
                    let wait = (t - arrived) as f64 / 1000.0;
                    counts.answered += 1;
                    counts.wait_answered_secs += wait;
                    counts.wait_all_secs += wait;
                    counts.handle_secs += handle + wrap;
                    if wait <= sl {
                        counts.answered_in_sl += 1;
                    }
                    if t > arrived {
                        counts.waited += 1;
                    }
                    self.push(t + ms(handle), Ev::TalkEnd(c));
                }
                RoutingDecision::TimedOut { interaction, .. }
                | RoutingDecision::Overflow { interaction, .. }
                | RoutingDecision::Rejected { interaction, .. } => {
                    let c = call_index(&interaction);
                    if self.calls[c as usize].fate == Fate::Waiting {
                        self.close(c, t, Outcome::Other);
                    }
                }
                RoutingDecision::AgentStateChanged { agent, to, .. } => {
                    let a = agent_index(&agent) as usize;
                    let from = std::mem::replace(&mut self.agents[a].state, to);
                    let since = std::mem::replace(&mut self.agents[a].since_ms, t);
                    self.account(&from, since, t);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Talk-time multiplier of agent `a` on queue `q` (proficiency effect).
    fn speed_factor(&self, q: usize, a: u32) -> f64 {
        let effect = self.scenario.proficiency_effect;
        if effect == 0.0 {
            return 1.0;
        }
        let spec = &self.scenario.queues[q];
        let Some(req) = spec.definition.requirements.first() else {
            return 1.0;
        };
        let proficiency = self
            .scenario
            .agents
            .get(a as usize)
            .and_then(|s| s.profile.proficiency(&req.skill))
            .map_or(5.5, f64::from);
        (1.0 - effect * (proficiency - 5.5)).clamp(0.5, 1.5)
    }

    /// Adds a state's time to the staffed / busy totals, split by interval.
    fn account(&mut self, state: &AgentState, from: i64, to: i64) {
        let staffed = matches!(
            state,
            AgentState::Available | AgentState::Reserved | AgentState::Busy | AgentState::WrapUp
        );
        if !staffed || to <= from {
            return;
        }
        let busy = !matches!(state, AgentState::Available);
        let len = i64::from(self.scenario.interval_secs) * 1000;
        let mut t = from;
        while t < to {
            let i = self.interval_of(t);
            let boundary = ((t / len) + 1) * len;
            let until = boundary.min(to);
            let d = (until - t) as f64;
            self.staffed_ms[i] += d;
            if busy {
                self.busy_ms[i] += d;
            }
            t = until;
        }
    }

    fn report(mut self, end_ms: i64) -> SimReport {
        for a in 0..self.agents.len() {
            let state = self.agents[a].state.clone();
            let since = self.agents[a].since_ms;
            self.account(&state, since, end_ms);
        }
        let n = self.staffed_ms.len() - 1;
        let queues: Vec<QueueReport> = self
            .scenario
            .queues
            .iter()
            .zip(&self.per_queue)
            .map(|(spec, counts)| {
                let mut total = Counts::default();
                for c in counts {
                    total.add(c);
                }
                QueueReport {
                    queue: spec.definition.id.to_string(),
                    total: total.figures(),
                    intervals: counts[..n].iter().map(Counts::figures).collect(),
                }
            })
            .collect();
        let mut center = vec![Counts::default(); n + 1];
        for counts in &self.per_queue {
            for (i, c) in counts.iter().enumerate() {
                center[i].add(c);
            }
        }
        let mut total = Counts::default();
        for c in &center {
            total.add(c);
        }
        let occ = |b: f64, s: f64| if s > 0.0 { b / s } else { 0.0 };
        SimReport {
            queues,
            total: total.figures(),
            intervals: center[..n].iter().map(Counts::figures).collect(),
            occupancy: occ(self.busy_ms.iter().sum(), self.staffed_ms.iter().sum()),
            occupancy_by_interval: self.busy_ms[..n]
                .iter()
                .zip(&self.staffed_ms[..n])
                .map(|(b, s)| occ(*b, *s))
                .collect(),
            interval_secs: self.scenario.interval_secs,
            events: self.events,
            decisions: self.decisions,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Abandoned,
    Other,
}

fn call_index(id: &InteractionId) -> u32 {
    id.as_str()
        .get(1..)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Runs one scenario.
///
/// # Errors
/// See [`Simulation::new`] and [`Simulation::run`].
pub fn simulate(scenario: Scenario) -> Result<SimReport, SimError> {
    Simulation::new(scenario)?.run()
}

/// Runs the same scenario (same seed, so the same arrivals, handle times and
/// patience) once per strategy.
///
/// # Errors
/// See [`simulate`]; an unknown strategy name is refused by the engine.
pub fn compare_strategies(
    scenario: &Scenario,
    strategies: &[&str],
) -> Result<Vec<(String, SimReport)>, SimError> {
    strategies
        .iter()
        .map(|s| {
            Ok((
                (*s).to_owned(),
                simulate(scenario.clone().with_strategy(s))?,
            ))
        })
        .collect()
}
