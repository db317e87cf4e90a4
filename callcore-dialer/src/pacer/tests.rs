use super::*;
use crate::rules::{CallingWindows, DncLists, LeadZone};
use crate::strategy::{PowerStrategy, PreviewStrategy, ProgressiveStrategy};
use callcore::{DialMode, LeadStatus};
use proptest::prelude::*;
use std::collections::HashMap;

// 2026-01-05 17:00 UTC, a Monday.
const T0: i64 = 1_767_632_400;

fn lead(i: usize, zone: Option<&str>) -> Lead {
    Lead {
        id: LeadId::new(format!("l{i}")),
        campaign: "c".into(),
        tenant: callcore::TenantId::default(),
        phone: Pii::new(format!("+1415555{i:04}")),
        time_zone: zone.map(str::to_owned),
        attempts: 0,
        status: LeadStatus::Pending,
        next_attempt_at: None,
    }
}

fn pacer(mode: DialMode, leads: usize, strategy: Box<dyn PacingStrategy>) -> Pacer {
    let mut config = CampaignConfig::new("c", mode);
    config.windows = CallingWindows::always();
    config.power_ratio = 3.0;
    let mut book = LeadBook::new(config, DncLists::default());
    for i in 0..leads {
        book.add(lead(i, None), 0).unwrap();
    }
    Pacer::new(book, strategy)
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

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

#[test]
fn progressive_reserves_one_agent_per_line_and_connects_it() {
    let mut p = pacer(DialMode::Progressive, 10, Box::new(ProgressiveStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    p.handle_input(PacerInput::AgentReady("b".into()), at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|o| o.agent.is_some()));
    assert!(d.iter().all(|o| o.ring_timeout >= Duration::from_secs(15)));
    // Nothing more while both agents wait on their lines, however long.
    p.handle_timeout(at(5));
    assert!(dials(&drain(&mut p)).is_empty());
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[1].call,
            by: AnsweredBy::Person,
        },
        at(6),
    );
    let out = drain(&mut p);
    assert!(out.contains(&PacerOutput::Connect {
        call: d[1].call,
        agent: d[1].agent.clone().unwrap()
    }));
    assert!(out.iter().any(
        |o| matches!(o, PacerOutput::Attempt(a) if a.disposition == Disposition::AnsweredPerson)
    ));
    // The other line fails busy: its agent gets the next line at once.
    p.handle_input(
        PacerInput::CallFailed {
            call: d[0].call,
            disposition: Disposition::Busy,
        },
        at(7),
    );
    let next = dials(&drain(&mut p));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].agent, d[0].agent);
    assert_eq!(p.counters().abandoned, 0);
    // The busy lead comes back after five minutes, not before.
    let busy = p.leads().lead(&d[0].lead).unwrap();
    assert_eq!(busy.next_attempt_at, Some(at(7) + Duration::from_secs(300)));
}

#[test]
fn a_person_no_agent_can_take_hears_the_safe_harbor_message_after_two_seconds() {
    let mut p = pacer(DialMode::Power, 10, Box::new(PowerStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 3, "power ratio 3 per idle agent");
    assert!(d.iter().all(|o| o.agent.is_none()));
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[0].call,
            by: AnsweredBy::Person,
        },
        at(5),
    );
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[1].call,
            by: AnsweredBy::Person,
        },
        at(6),
    );
    drain(&mut p);
    assert_eq!(p.poll_timeout(), Some(at(7)).min(p.poll_timeout()));
    p.handle_timeout(at(7));
    assert!(
        !drain(&mut p)
            .iter()
            .any(|o| matches!(o, PacerOutput::SafeHarbor { .. })),
        "not before 2 s"
    );
    p.handle_timeout(at(8));
    let out = drain(&mut p);
    assert!(out.iter().any(|o| matches!(o, PacerOutput::SafeHarbor { call, message } if *call == d[1].call && message.contains("opt out"))));
    assert!(
        out.iter().any(
            |o| matches!(o, PacerOutput::Attempt(a) if a.disposition == Disposition::Abandoned)
        )
    );
    assert_eq!(p.counters().abandoned, 1);
    // Embargo: not again for a day under the US rules here.
    let l = p.leads().lead(&d[1].lead).unwrap();
    assert!(l.next_attempt_at.unwrap() >= at(8) + Duration::from_secs(86_400));
}

#[test]
fn an_agent_freed_within_the_connect_time_takes_the_waiting_person() {
    let mut p = pacer(DialMode::Power, 10, Box::new(PowerStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let d = dials(&drain(&mut p));
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[0].call,
            by: AnsweredBy::Person,
        },
        at(5),
    );
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[1].call,
            by: AnsweredBy::Person,
        },
        at(5),
    );
    p.handle_input(PacerInput::AgentReady("b".into()), at(6));
    let out = drain(&mut p);
    assert!(out.contains(&PacerOutput::Connect {
        call: d[1].call,
        agent: "b".into()
    }));
    p.handle_timeout(at(20));
    assert_eq!(p.counters().abandoned, 0);
}

#[test]
fn machines_are_hung_up_and_invalid_numbers_never_retried() {
    let mut p = pacer(DialMode::Power, 2, Box::new(PowerStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 2);
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[0].call,
            by: AnsweredBy::Machine,
        },
        at(4),
    );
    p.handle_input(
        PacerInput::CallFailed {
            call: d[1].call,
            disposition: crate::rules::disposition_for_sip_status(404),
        },
        at(1),
    );
    let out = drain(&mut p);
    assert!(out.contains(&PacerOutput::HangUp(d[0].call)));
    assert_eq!(
        p.leads().lead(&d[1].lead).unwrap().status,
        LeadStatus::Closed
    );
    let m = p.leads().lead(&d[0].lead).unwrap();
    assert_eq!(m.status, LeadStatus::Pending);
    assert_eq!(
        m.next_attempt_at,
        Some(at(4) + Duration::from_secs(4 * 3600))
    );
    // A day later only the machine lead is dialed again.
    p.handle_timeout(at(86_400));
    let again = dials(&drain(&mut p));
    assert_eq!(
        again.iter().map(|o| o.lead.clone()).collect::<Vec<_>>(),
        vec![d[0].lead.clone()]
    );
}

#[test]
fn preview_waits_for_the_agent_and_a_skip_uncounts_the_attempt() {
    let mut p = pacer(DialMode::Preview, 3, Box::new(PreviewStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let out = drain(&mut p);
    assert!(dials(&out).is_empty());
    let PacerOutput::Preview { lead: first, .. } = out[0].clone() else {
        panic!("{out:?}")
    };
    p.handle_input(PacerInput::PreviewSkipped("a".into()), at(3));
    let out = drain(&mut p);
    assert_eq!(p.leads().lead(&first).unwrap().attempts, 0);
    assert!(
        out.iter()
            .any(|o| matches!(o, PacerOutput::Preview { lead, .. } if *lead != first))
    );
    p.handle_input(PacerInput::PreviewAccepted("a".into()), at(5));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].agent, Some("a".into()));
}

#[test]
fn agents_going_away_stop_the_dialing() {
    let mut p = pacer(DialMode::Progressive, 10, Box::new(ProgressiveStrategy));
    p.handle_input(PacerInput::AgentReady("a".into()), at(0));
    let d = dials(&drain(&mut p));
    p.handle_input(PacerInput::AgentAway("a".into()), at(1));
    p.handle_input(
        PacerInput::CallFailed {
            call: d[0].call,
            disposition: Disposition::NoAnswer,
        },
        at(25),
    );
    assert!(dials(&drain(&mut p)).is_empty());
}

#[derive(Debug, Clone)]
enum Step {
    Answer(usize, bool),
    Fail(usize, u16),
    End(usize),
    Ready(usize),
    Wait(u32),
    Dnc(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..64usize, any::<bool>()).prop_map(|(i, p)| Step::Answer(i, p)),
        (
            0..64usize,
            prop::sample::select(vec![404u16, 486, 480, 503, 487])
        )
            .prop_map(|(i, s)| Step::Fail(i, s)),
        (0..64usize).prop_map(Step::End),
        (0..4usize).prop_map(Step::Ready),
        (1..20_000u32).prop_map(Step::Wait),
        (0..30usize).prop_map(Step::Dnc),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever happens, the pacer never dials a lead outside its calling
    /// window, never one on a DNC list, and never more than the maximum
    /// attempts.
    #[test]
    fn never_dials_outside_window_dnc_or_attempts(
        mode in prop::sample::select(vec![DialMode::Progressive, DialMode::Power, DialMode::Predictive]),
        zones in prop::collection::vec(prop::sample::select(vec!["America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo"]), 30),
        dnc_at_import in prop::collection::vec(any::<bool>(), 30),
        max_attempts in 1u32..4,
        steps in prop::collection::vec(step(), 1..200),
    ) {
        let mut config = CampaignConfig::new("c", mode);
        config.max_attempts = max_attempts;
        config.windows = CallingWindows::every_day(9 * 60, 17 * 60).unwrap();
        config.retry.no_answer = Some(Duration::from_secs(600));
        let lists = DncLists::default();
        let mut book = LeadBook::new(config.clone(), lists.clone());
        let mut zone_of = HashMap::new();
        for (i, z) in zones.iter().enumerate() {
            let l = lead(i, Some(z));
            if dnc_at_import[i] && i % 3 == 0 {
                lists.global.add(l.phone.expose());
            }
            zone_of.insert(l.id.clone(), LeadZone::named(z).unwrap());
            book.add(l, 0).unwrap();
        }
        let mut p = Pacer::new(book, crate::strategy_for(mode).unwrap());
        let mut now = at(0);
        let mut placed: Vec<DialOrder> = Vec::new();
        let mut dialed: HashMap<LeadId, u32> = HashMap::new();
        let login = (0..4).map(Step::Ready);
        for s in login.chain(steps) {
            match s {
                Step::Answer(i, person) => if let Some(d) = placed.get(i) {
                    let by = if person { AnsweredBy::Person } else { AnsweredBy::Machine };
                    p.handle_input(PacerInput::CallAnswered { call: d.call, by }, now);
                },
                Step::Fail(i, status) => if let Some(d) = placed.get(i) {
                    p.handle_input(PacerInput::CallFailed { call: d.call, disposition: crate::rules::disposition_for_sip_status(status) }, now);
                },
                Step::End(i) => if let Some(d) = placed.get(i) {
                    p.handle_input(PacerInput::CallEnded(d.call), now);
                },
                Step::Ready(a) => p.handle_input(PacerInput::AgentReady(format!("a{a}").into()), now),
                Step::Wait(secs) => {
                    now = now + Duration::from_secs(u64::from(secs));
                    p.handle_timeout(now);
                }
                Step::Dnc(i) => lists.campaign.add(&format!("+1415555{i:04}")),
            }
            while let Some(out) = p.poll_output() {
                if let PacerOutput::Dial(d) = out {
                    prop_assert!(!lists.blocks(d.phone.expose()), "dialed a DNC number");
                    prop_assert!(config.windows.allows(&zone_of[&d.lead], now), "dialed outside the window");
                    let n = dialed.entry(d.lead.clone()).or_default();
                    *n += 1;
                    prop_assert!(*n <= max_attempts, "more than {max_attempts} attempts");
                    prop_assert!(d.attempt <= max_attempts);
                    prop_assert!(d.ring_timeout >= config.min_ring_time);
                    placed.push(d);
                }
            }
        }
    }
}

#[test]
fn notification_campaigns_need_no_agent_and_play_the_message() {
    let mut p = pacer(
        DialMode::Notification,
        5,
        crate::strategy_for(DialMode::Notification).unwrap(),
    );
    p.handle_timeout(at(0));
    let d = dials(&drain(&mut p));
    assert_eq!(d.len(), 5, "ten lines, five leads");
    p.handle_input(
        PacerInput::CallAnswered {
            call: d[0].call,
            by: AnsweredBy::Person,
        },
        at(4),
    );
    let out = drain(&mut p);
    assert!(out.iter().any(|o| matches!(o, PacerOutput::PlayMessage { call, message } if *call == d[0].call && message.contains("reminder"))));
    assert!(out.iter().any(
        |o| matches!(o, PacerOutput::Attempt(a) if a.disposition == Disposition::AnsweredPerson)
    ));
    p.handle_input(PacerInput::CallEnded(d[0].call), at(20));
    assert_eq!(p.calls_in_progress(), 4);
    assert_eq!(p.counters().abandoned, 0);
    assert_eq!(p.leads().lead(&d[0].lead).unwrap().status, LeadStatus::Done);
}
