use super::{Scenario, SimReport, mode_name};
use crate::rules::{CampaignConfig, DncLists, LeadBook};
use crate::{AnsweredBy, CallId, DialerError, Pacer, PacerInput, PacerOutput, strategy_for};
use callcore::{
    AgentId, DialMode, Disposition, Lead, LeadId, LeadStatus, Pii, SeededRng, Timestamp,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

/// 2026-01-05 09:00 UTC, a Monday: the simulated day starts inside the
/// default 08:00–21:00 calling window of the (UTC) leads.
const DAY_START_SECS: i64 = 1_767_603_600;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Answer(CallId),
    Fail(CallId, bool),
    CustomerHangsUp(CallId),
    WrapDone(u32),
    PreviewRead(u32),
}

struct World {
    rng: SeededRng,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Happening)>>,
    seq: u64,
    agent_ids: Vec<AgentId>,
    agent_index: HashMap<AgentId, u32>,
    busy_since: HashMap<u32, Timestamp>,
    busy_ms: i64,
    day_end: Timestamp,
    call_agent: HashMap<CallId, u32>,
    wrap_up_secs: f64,
}

impl World {
    fn at(&mut self, t: Timestamp, h: Happening) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, h)));
    }

    fn busy_until(&mut self, agent: u32, end: Timestamp) {
        if let Some(start) = self.busy_since.remove(&agent) {
            let end = end.min(self.day_end);
            self.busy_ms += (end.as_millis() - start.as_millis()).max(0);
        }
    }
}

fn ms(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.max(0.0))
}

/// Runs one simulated day of `scenario` in `mode` with `seed`.
///
/// # Errors
/// [`DialerError::Config`] when the scenario is out of range (no agents,
/// probabilities outside 0..=1, non-positive times).
pub fn simulate(scenario: &Scenario, mode: DialMode, seed: u64) -> Result<SimReport, DialerError> {
    check(scenario)?;
    if !matches!(
        mode,
        DialMode::Preview | DialMode::Progressive | DialMode::Power | DialMode::Predictive
    ) {
        return Err(DialerError::Config {
            field: "mode",
            reason: "the simulator runs agent campaigns only".into(),
        });
    }
    let start = Timestamp::from_secs(DAY_START_SECS);
    let day = ms(scenario.hours * 3600.0);
    let day_end = start + day;
    let mut config = CampaignConfig::new("sim", mode);
    config.ring_timeout = ms(scenario.ring_no_answer_secs).max(config.min_ring_time);
    config.power_ratio = scenario.power_ratio;
    config.validate()?;
    let mut book = LeadBook::new(config, DncLists::default());
    // Enough fresh leads for the busiest mode: ten attempts per agent-minute.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lead_count = (f64::from(scenario.agents) * scenario.hours * 60.0 * 10.0).ceil() as u64;
    for i in 0..lead_count {
        book.add(
            Lead {
                id: LeadId::new(format!("lead-{i}")),
                campaign: "sim".into(),
                tenant: callcore::TenantId::default(),
                phone: Pii::new(format!("+1415{:07}", i % 10_000_000)),
                time_zone: None,
                attempts: 0,
                status: LeadStatus::Pending,
                next_attempt_at: None,
            },
            0,
        )?;
    }
    let strategy = strategy_for(mode).ok_or_else(|| DialerError::Config {
        field: "mode",
        reason: "the simulator runs agent campaigns only".into(),
    })?;
    let mut pacer = Pacer::new(book, strategy);
    pacer.set_answer_prior(scenario.answer_prob);
    let mut w = World {
        rng: SeededRng::new(seed),
        queue: BinaryHeap::new(),
        seq: 0,
        agent_ids: (0..scenario.agents)
            .map(|i| AgentId::new(format!("agent-{i}")))
            .collect(),
        agent_index: HashMap::new(),
        busy_since: HashMap::new(),
        busy_ms: 0,
        day_end,
        call_agent: HashMap::new(),
        wrap_up_secs: scenario.wrap_up_secs,
    };
    for (i, a) in w.agent_ids.iter().enumerate() {
        w.agent_index
            .insert(a.clone(), u32::try_from(i).unwrap_or(u32::MAX));
    }
    let mut now = start;
    for a in w.agent_ids.clone() {
        pacer.handle_input(PacerInput::AgentReady(a), now);
    }
    let mut open = true;
    loop {
        drain(&mut pacer, &mut w, scenario, now, start, day);
        if open && now >= day_end {
            open = false;
            pacer.set_running(false);
        }
        let next_event = w.queue.peek().map(|Reverse((t, ..))| *t);
        let next_timer = if open || pacer.calls_in_progress() > 0 {
            pacer.poll_timeout()
        } else {
            None
        };
        let next = match (next_event, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let next = if open { next.min(day_end) } else { next };
        now = now.max(next);
        if next_timer.is_some_and(|t| t <= now) {
            pacer.handle_timeout(now);
            continue;
        }
        if next_event.is_some_and(|t| t <= now) {
            if let Some(Reverse((_, _, h))) = w.queue.pop() {
                happen(&mut pacer, &mut w, h, now);
            }
        } else {
            pacer.handle_timeout(now);
        }
    }
    let c = pacer.counters();
    let agent_ms = f64::from(scenario.agents) * day.as_secs_f64() * 1000.0;
    #[allow(clippy::cast_precision_loss)]
    Ok(SimReport {
        mode: mode_name(mode).to_owned(),
        occupancy: w.busy_ms as f64 / agent_ms,
        abandonment_rate: if c.answered_by_person == 0 {
            0.0
        } else {
            c.abandoned as f64 / c.answered_by_person as f64
        },
        connects_per_agent_hour: c.connected as f64 / (f64::from(scenario.agents) * scenario.hours),
        attempts: c.dialed,
        answered_by_person: c.answered_by_person,
        abandoned: c.abandoned,
    })
}

fn check(s: &Scenario) -> Result<(), DialerError> {
    let bad = |field, reason: &str| {
        Err(DialerError::Config {
            field,
            reason: reason.to_owned(),
        })
    };
    let prob = |p: f64| (0.0..=1.0).contains(&p);
    if s.agents == 0 || s.agents > 100_000 {
        return bad("agents", "must be within 1..=100000");
    }
    if !prob(s.answer_prob) || !s.answer_prob_end.is_none_or(prob) || !prob(s.busy_share) {
        return bad("answer_prob", "probabilities must be within 0..=1");
    }
    for (field, v) in [
        ("talk_mean_secs", s.talk_mean_secs),
        ("ring_no_answer_secs", s.ring_no_answer_secs),
        ("hours", s.hours),
        ("answer_delay_mean_secs", s.answer_delay_mean_secs),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return bad(field, "must be a positive number");
        }
    }
    if s.hours > 24.0 * 31.0 {
        return bad("hours", "at most a month");
    }
    if !(s.wrap_up_secs.is_finite()
        && s.wrap_up_secs >= 0.0
        && s.talk_sd_secs.is_finite()
        && s.talk_sd_secs >= 0.0)
    {
        return bad("wrap_up_secs", "must be zero or positive");
    }
    Ok(())
}

fn drain(
    pacer: &mut Pacer,
    w: &mut World,
    s: &Scenario,
    now: Timestamp,
    start: Timestamp,
    day: Duration,
) {
    while let Some(out) = pacer.poll_output() {
        match out {
            PacerOutput::Dial(order) => {
                let elapsed = now.duration_since(start).as_secs_f64() / day.as_secs_f64().max(1.0);
                let p = s.answer_prob_end.map_or(s.answer_prob, |end| {
                    s.answer_prob + (end - s.answer_prob) * elapsed.min(1.0)
                });
                let ring = s.ring_no_answer_secs;
                if w.rng.next_f64() < p {
                    let delay = w
                        .rng
                        .lognormal(s.answer_delay_mean_secs, s.answer_delay_sd_secs);
                    if delay < ring {
                        w.at(now + ms(delay), Happening::Answer(order.call));
                        continue;
                    }
                }
                if w.rng.next_f64() < s.busy_share {
                    let delay = w.rng.lognormal(3.0, 1.0).min(ring);
                    w.at(now + ms(delay), Happening::Fail(order.call, true));
                } else {
                    w.at(now + ms(ring), Happening::Fail(order.call, false));
                }
            }
            PacerOutput::Preview { agent, .. } => {
                let i = w.agent_index[&agent];
                w.at(now + ms(s.preview_secs), Happening::PreviewRead(i));
            }
            PacerOutput::Connect { call, agent } => {
                let i = w.agent_index[&agent];
                w.busy_since.insert(i, now);
                let talk = w.rng.lognormal(s.talk_mean_secs, s.talk_sd_secs);
                w.at(now + ms(talk), Happening::CustomerHangsUp(call));
                // Remember which agent: the wrap-up follows the hang-up.
                w.call_agent.insert(call, i);
            }
            _ => {}
        }
    }
}

fn happen(pacer: &mut Pacer, w: &mut World, h: Happening, now: Timestamp) {
    match h {
        Happening::Answer(call) => pacer.handle_input(
            PacerInput::CallAnswered {
                call,
                by: AnsweredBy::Person,
            },
            now,
        ),
        Happening::Fail(call, busy) => pacer.handle_input(
            PacerInput::CallFailed {
                call,
                disposition: if busy {
                    Disposition::Busy
                } else {
                    Disposition::NoAnswer
                },
            },
            now,
        ),
        Happening::CustomerHangsUp(call) => {
            pacer.handle_input(PacerInput::CallEnded(call), now);
            if let Some(agent) = w.call_agent.remove(&call) {
                w.at(now + ms(w.wrap_up_secs), Happening::WrapDone(agent));
            }
        }
        Happening::WrapDone(agent) => {
            w.busy_until(agent, now);
            let id = w.agent_ids[agent as usize].clone();
            pacer.handle_input(PacerInput::AgentReady(id), now);
        }
        Happening::PreviewRead(agent) => {
            let id = w.agent_ids[agent as usize].clone();
            pacer.handle_input(PacerInput::PreviewAccepted(id), now);
        }
    }
}
