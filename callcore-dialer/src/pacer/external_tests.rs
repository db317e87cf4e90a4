//! The pacer with an ACD doing the routing (`set_external_routing`).

use super::*;
use crate::rules::{CallingWindows, DncLists};
use crate::strategy::{PowerStrategy, ProgressiveStrategy};
use callcore::{DialMode, LeadStatus};

const T0: i64 = 1_767_632_400;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

fn pacer(mode: DialMode, leads: usize, strategy: Box<dyn PacingStrategy>) -> Pacer {
    let mut config = CampaignConfig::new("c", mode);
    config.windows = CallingWindows::always();
    config.power_ratio = 2.0;
    let mut book = LeadBook::new(config, DncLists::default());
    for i in 0..leads {
        let lead = Lead {
            id: LeadId::new(format!("l{i}")),
            campaign: "c".into(),
            tenant: callcore::TenantId::default(),
            phone: Pii::new(format!("+1415555{i:04}")),
            time_zone: None,
            attempts: 0,
            status: LeadStatus::Pending,
            next_attempt_at: None,
        };
        book.add(lead, 0).unwrap();
    }
    let mut p = Pacer::new(book, strategy);
    p.set_external_routing(true);
    p
}

fn drain(p: &mut Pacer) -> Vec<PacerOutput> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn dials(out: &[PacerOutput]) -> Vec<DialOrder> {
    out.iter()
        .filter_map(|o| match o {
            PacerOutput::Dial(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn dispositions(out: &[PacerOutput]) -> Vec<Disposition> {
    out.iter()
        .filter_map(|o| match o {
            PacerOutput::Attempt(a) => Some(a.disposition.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_person_is_routed_with_the_reserved_agent_preferred_and_settled_on_connect() {
    let mut p = pacer(DialMode::Progressive, 5, Box::new(ProgressiveStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 1);
    let call = d[0].call;
    p.handle_input(
        PacerInput::CallAnswered {
            call,
            by: AnsweredBy::Person,
        },
        at(5),
    );
    let out = drain(&mut p);
    assert_eq!(
        out,
        vec![PacerOutput::Route {
            call,
            preferred_agent: Some("a".into())
        }]
    );
    // Not settled yet: no attempt stored, no connect decided by the pacer,
    // and no safe-harbor deadline of its own however long the ACD takes.
    p.handle_timeout(at(20));
    let out = drain(&mut p);
    assert!(dispositions(&out).is_empty(), "{out:?}");
    assert!(
        !out.iter()
            .any(|o| matches!(o, PacerOutput::SafeHarbor { .. }))
    );
    p.handle_input(PacerInput::AgentBusy("a".into()), at(6));
    p.handle_input(
        PacerInput::CallConnected {
            call,
            agent: "a".into(),
        },
        at(6),
    );
    let out = drain(&mut p);
    assert_eq!(dispositions(&out), vec![Disposition::AnsweredPerson]);
    assert_eq!(p.counters().connected, 1);
    assert_eq!(p.counters().abandoned, 0);
}

#[test]
fn a_person_the_acd_could_not_connect_is_abandoned() {
    let mut p = pacer(DialMode::Power, 5, Box::new(PowerStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 2, "power ratio 2");
    for o in &d {
        p.handle_input(
            PacerInput::CallAnswered {
                call: o.call,
                by: AnsweredBy::Person,
            },
            at(4),
        );
    }
    let routes = drain(&mut p)
        .into_iter()
        .filter(|o| {
            matches!(
                o,
                PacerOutput::Route {
                    preferred_agent: None,
                    ..
                }
            )
        })
        .count();
    assert_eq!(routes, 2, "pooled lines prefer no one");
    p.handle_input(
        PacerInput::CallConnected {
            call: d[0].call,
            agent: "a".into(),
        },
        at(5),
    );
    // The ACD gave up on the second one (safe-harbor message played there).
    p.handle_input(PacerInput::CallEnded(d[1].call), at(6));
    let out = drain(&mut p);
    assert_eq!(
        dispositions(&out),
        vec![Disposition::AnsweredPerson, Disposition::Abandoned]
    );
    assert_eq!(p.counters().abandoned, 1);
    assert_eq!(p.stats().ledger.clone().counts(at(6)), (2, 1));
}

#[test]
fn agents_busy_with_other_work_are_not_paced_for() {
    let mut p = pacer(DialMode::Progressive, 5, Box::new(ProgressiveStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    p.handle_input(PacerInput::AgentReady("b".into()), at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 2);
    // An inbound call takes "b" while b's line rings: the line loses its
    // reservation, and nobody is free for more lines.
    p.handle_input(PacerInput::AgentBusy("b".into()), at(1));
    let line_b = d
        .iter()
        .find(|o| o.agent.as_ref().map(|a| a.as_str()) == Some("b"))
        .unwrap();
    p.handle_input(
        PacerInput::CallFailed {
            call: line_b.call,
            disposition: Disposition::Busy,
        },
        at(2),
    );
    assert!(dials(&drain(&mut p)).is_empty(), "b is on another call");
    // b's call ends; wrap-up; ready: a new line for b.
    p.handle_input(PacerInput::AgentWrapUp("b".into()), at(60));
    assert!(dials(&drain(&mut p)).is_empty());
    p.handle_input(PacerInput::AgentReady("b".into()), at(70));
    assert_eq!(dials(&drain(&mut p)).len(), 1);
    assert!(p.stats().wrap_time.mean_or(0.0) > 9.0);
}

#[test]
fn an_agent_free_again_before_the_call_end_arrives_stays_free() {
    let mut p = pacer(DialMode::Progressive, 5, Box::new(ProgressiveStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let call = dials(&drain(&mut p))[0].call;
    p.handle_input(
        PacerInput::CallAnswered {
            call,
            by: AnsweredBy::Person,
        },
        at(5),
    );
    p.handle_input(
        PacerInput::CallConnected {
            call,
            agent: "a".into(),
        },
        at(5),
    );
    drain(&mut p);
    // The Center's events (wrap-up, then available) overtake the call's end.
    p.handle_input(PacerInput::AgentWrapUp("a".into()), at(65));
    p.handle_input(PacerInput::AgentReady("a".into()), at(70));
    assert_eq!(dials(&drain(&mut p)).len(), 1, "a gets the next line");
    p.handle_input(PacerInput::CallEnded(call), at(71));
    let out = drain(&mut p);
    assert!(dials(&out).is_empty());
    assert_eq!(
        p.counts().idle + p.counts().reserved,
        1,
        "a is not put back in wrap-up"
    );
}

#[test]
fn agents_busy_when_first_seen_count_as_logged_in() {
    let mut p = pacer(DialMode::Progressive, 5, Box::new(ProgressiveStrategy));
    p.handle_input(PacerInput::AgentBusy("a".into()), at(0));
    p.handle_input(PacerInput::AgentWrapUp("b".into()), at(0));
    assert_eq!(p.counts().logged_in, 2);
    assert!(dials(&drain(&mut p)).is_empty());
    p.handle_input(PacerInput::AgentReady("b".into()), at(10));
    assert_eq!(dials(&drain(&mut p)).len(), 1);
}

#[derive(Debug, Clone)]
enum Step {
    Answer(usize, bool),
    Fail(usize),
    Connect(usize, u8),
    End(usize),
    Ready(u8),
    Busy(u8),
    WrapUp(u8),
    Away(u8),
    Wait(u16),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0usize..40, any::<bool>()).prop_map(|(i, p)| Step::Answer(i, p)),
        (0usize..40).prop_map(Step::Fail),
        (0usize..40, 0u8..4).prop_map(|(i, a)| Step::Connect(i, a)),
        (0usize..40).prop_map(Step::End),
        (0u8..4).prop_map(Step::Ready),
        (0u8..4).prop_map(Step::Busy),
        (0u8..4).prop_map(Step::WrapUp),
        (0u8..4).prop_map(Step::Away),
        (1u16..120).prop_map(Step::Wait),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// With an ACD routing, whatever order its reports and agent events come
    /// in: each line is settled (stored) at most once, a person's answer is
    /// settled only by the ACD's report, the pacer never connects or plays
    /// the safe-harbor message itself, every person counts as connected or
    /// abandoned once, and no lead gets more than the maximum attempts.
    #[test]
    fn external_routing_settles_each_line_once(
        mode in proptest::sample::select(vec![DialMode::Preview, DialMode::Progressive, DialMode::Power, DialMode::Predictive]),
        steps in proptest::collection::vec(step(), 1..250),
    ) {
        let mut p = pacer(mode, 30, crate::strategy_for(mode).unwrap());
        let max_attempts = p.leads().config().max_attempts;
        let mut now = at(0);
        let mut placed: Vec<DialOrder> = Vec::new();
        let mut settled: std::collections::HashMap<InteractionId, u32> = Default::default();
        let mut per_lead: std::collections::HashMap<LeadId, u32> = Default::default();
        let mut routed = std::collections::HashSet::new();
        let login = (0..4).map(Step::Ready);
        for s in login.chain(steps) {
            let call = |i: usize| placed.get(i).map(|d| d.call);
            let agent = |a: u8| AgentId::from(format!("a{a}"));
            match s {
                Step::Answer(i, person) => if let Some(call) = call(i) {
                    let by = if person { AnsweredBy::Person } else { AnsweredBy::Machine };
                    p.handle_input(PacerInput::CallAnswered { call, by }, now);
                },
                Step::Fail(i) => if let Some(call) = call(i) {
                    p.handle_input(PacerInput::CallFailed { call, disposition: Disposition::NoAnswer }, now);
                },
                Step::Connect(i, a) => if let Some(call) = call(i) {
                    p.handle_input(PacerInput::CallConnected { call, agent: agent(a) }, now);
                },
                Step::End(i) => if let Some(call) = call(i) {
                    p.handle_input(PacerInput::CallEnded(call), now);
                },
                Step::Ready(a) => p.handle_input(PacerInput::AgentReady(agent(a)), now),
                Step::Busy(a) => p.handle_input(PacerInput::AgentBusy(agent(a)), now),
                Step::WrapUp(a) => p.handle_input(PacerInput::AgentWrapUp(agent(a)), now),
                Step::Away(a) => p.handle_input(PacerInput::AgentAway(agent(a)), now),
                Step::Wait(secs) => {
                    now = now + Duration::from_secs(u64::from(secs));
                    p.handle_timeout(now);
                }
            }
            while let Some(out) = p.poll_output() {
                match out {
                    PacerOutput::Dial(d) => {
                        let n = per_lead.entry(d.lead.clone()).or_default();
                        *n += 1;
                        proptest::prop_assert!(*n <= max_attempts);
                        placed.push(d);
                    }
                    PacerOutput::Preview { agent, .. } => {
                        p.handle_input(PacerInput::PreviewAccepted(agent), now);
                    }
                    PacerOutput::Route { call, .. } => {
                        proptest::prop_assert!(routed.insert(call), "routed twice");
                    }
                    PacerOutput::Attempt(a) => {
                        let n = settled.entry(a.interaction.clone()).or_default();
                        *n += 1;
                        proptest::prop_assert!(*n == 1, "{} settled twice", a.interaction);
                        if matches!(a.disposition, Disposition::AnsweredPerson | Disposition::Abandoned) {
                            let call = placed.iter().find(|d| d.interaction == a.interaction).map(|d| d.call);
                            proptest::prop_assert!(call.is_some_and(|c| routed.contains(&c)), "settled without the ACD");
                        }
                    }
                    PacerOutput::Connect { .. } | PacerOutput::SafeHarbor { .. } => {
                        proptest::prop_assert!(false, "the pacer routed by itself: {out:?}");
                    }
                    _ => {}
                }
            }
            let c = p.counters();
            let waiting = u64::try_from(p.waiting.len()).unwrap();
            proptest::prop_assert_eq!(c.answered_by_person, c.connected + c.abandoned + waiting);
            proptest::prop_assert!(p.counts().logged_in <= 4);
        }
    }
}
