//! Behaviour of the engine, feature by feature, through its public API.

mod common;

use callcore::{
    AgentProfile, AgentState, Channel, Destination, EscalationAction, EscalationStep, OfferEnd,
    QueueDefinition, RejectReason, RoutingDecision,
};
use callcore_acd::{AcdConfig, AcdError, MISSED_OFFERS_REASON};
use common::{Rig, offers, request, state_of, t};

fn rig() -> Rig {
    Rig::new(AcdConfig::default())
}

#[test]
fn longest_idle_agent_gets_the_call_and_skills_filter() {
    let mut r = rig();
    r.queue(QueueDefinition::new("billing").requiring("billing", 5));
    r.agent(AgentProfile::new("novice").with_skill("billing", 3), 0);
    r.agent(AgentProfile::new("a").with_skill("billing", 6), 1);
    r.agent(AgentProfile::new("b").with_skill("billing", 9), 2);
    let ds = r.enqueue(request("c1", "billing", 10), 10);
    assert!(matches!(ds[0], RoutingDecision::Queued { position: 1, .. }));
    let o = offers(&ds);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].1, "a", "longest idle among the qualified");
    assert_eq!(state_of(&r.acd, "a"), AgentState::Reserved);
    r.acd.offer_accepted(&o[0].2, t(12)).unwrap();
    let ds = r.drain();
    assert!(
        ds.iter()
            .any(|d| matches!(d, RoutingDecision::Assigned { agent, .. } if agent.as_str() == "a"))
    );
    assert_eq!(state_of(&r.acd, "a"), AgentState::Busy);
    // Next call: b (a is busy; novice lacks proficiency).
    let o = offers(&r.enqueue(request("c2", "billing", 13), 13));
    assert_eq!(o[0].1, "b");
    // Third waits: nobody qualified is free.
    let ds = r.enqueue(request("c3", "billing", 14), 14);
    assert!(offers(&ds).is_empty());
    // a finishes: takes c3 at once (no wrap-up in this queue).
    r.acd
        .interaction_ended(&"c1".into(), &"a".into(), t(40))
        .unwrap();
    let o = offers(&r.drain());
    assert_eq!((o[0].0.as_str(), o[0].1.as_str()), ("c3", "a"));
}

#[test]
fn priority_then_age_vip_and_head_start() {
    let mut r = rig();
    r.queue(QueueDefinition::new("q"));
    for (i, id) in ["old", "new", "urgent"].iter().enumerate() {
        let mut req = request(id, "q", i64::try_from(i).unwrap());
        if *id == "urgent" {
            req.priority = 5;
        }
        r.enqueue(req, 3);
    }
    let mut vip = request("vip", "q", 4);
    vip.attributes.insert("vip".into(), "true".into());
    r.enqueue(vip, 4);
    // Head start of 60 s: counts as if enqueued at -55, ahead of "old".
    let mut hs = request("head", "q", 5);
    hs.attributes.insert("head_start_secs".into(), "60".into());
    let ds = r.enqueue(hs, 5);
    assert!(
        matches!(ds[0], RoutingDecision::Queued { position: 3, .. }),
        "{ds:?}"
    );
    let mut order = Vec::new();
    r.agent(AgentProfile::new("x"), 6);
    for i in 0..5 {
        let o = offers(&r.log);
        let last = o.last().unwrap().clone();
        order.push(last.0.clone());
        r.acd.offer_accepted(&last.2, t(7 + i)).unwrap();
        r.acd
            .interaction_ended(&last.0.as_str().into(), &"x".into(), t(8 + i))
            .unwrap();
        r.drain();
    }
    assert_eq!(order, ["vip", "urgent", "head", "old", "new"]);
    let mut bad = request("bad", "q", 9);
    bad.attributes
        .insert("head_start_secs".into(), "soon".into());
    assert!(matches!(
        r.acd.enqueue(bad, t(9)),
        Err(AcdError::InvalidAttribute { .. })
    ));
}

#[test]
fn agent_in_several_queues_takes_the_longest_waiting_and_wraps_up_per_queue() {
    let mut r = rig();
    r.queue(QueueDefinition::new("sales").with_wrap_up_secs(30));
    r.queue(QueueDefinition::new("support").with_wrap_up_secs(5));
    r.enqueue(request("s1", "sales", 10), 10);
    r.enqueue(request("p1", "support", 5), 10);
    r.enqueue(request("s2", "sales", 12), 12);
    r.agent(AgentProfile::new("x"), 20);
    let o = offers(&r.log);
    assert_eq!(o[0].0, "p1", "support's caller waited longest");
    r.acd.offer_accepted(&o[0].2, t(21)).unwrap();
    r.acd
        .interaction_ended(&"p1".into(), &"x".into(), t(60))
        .unwrap();
    let ds = r.drain();
    assert!(ds.iter().any(|d| matches!(
        d,
        RoutingDecision::WrapUpStarted {
            duration_secs: 5,
            ..
        }
    )));
    assert_eq!(state_of(&r.acd, "x"), AgentState::WrapUp);
    assert_eq!(r.acd.next_timeout(), Some(t(65)).min(r.acd.next_timeout()));
    let ds = r.tick(65);
    assert!(matches!(ds[0], RoutingDecision::WrapUpEnded { .. }));
    assert_eq!(offers(&ds)[0].0, "s1");
}

#[test]
fn missed_offers_make_the_agent_not_ready_and_the_call_goes_elsewhere() {
    let mut r = rig();
    let mut q = QueueDefinition::new("q");
    q.offer_timeout_secs = 10;
    r.queue(q);
    r.agent(AgentProfile::new("sleepy"), 0);
    for i in 0..3 {
        let id = format!("c{i}");
        let at = 100 * i64::from(i) + 1;
        let o = offers(&r.enqueue(request(&id, "q", at), at));
        assert_eq!(o[0].1, "sleepy");
        let ds = r.tick(at + 10);
        assert!(ds.iter().any(|d| matches!(
            d,
            RoutingDecision::OfferEnded {
                outcome: OfferEnd::TimedOut,
                ..
            }
        )));
        if i < 2 {
            // Re-offered to the same (only) agent, answered this time? No: abandon.
            r.acd.abandon(&id.as_str().into(), t(at + 11));
            r.drain();
        }
    }
    assert_eq!(
        state_of(&r.acd, "sleepy"),
        AgentState::NotReady(MISSED_OFFERS_REASON.into())
    );
    r.agent(AgentProfile::new("awake"), 300);
    assert_eq!(offers(&r.log).last().unwrap().1, "awake");
}

#[test]
fn per_cause_delays_hold_the_agent_back() {
    let mut cfg = AcdConfig::default();
    cfg.reject_delay_secs = 30;
    cfg.no_answer_delay_secs = 60;
    let mut r = Rig::new(cfg);
    r.queue(QueueDefinition::new("q"));
    r.agent(AgentProfile::new("a"), 0);
    let o = offers(&r.enqueue(request("c1", "q", 1), 1));
    r.acd.offer_declined(&o[0].2, t(2)).unwrap();
    let ds = r.drain();
    assert!(
        offers(&ds).is_empty(),
        "declined: not re-offered during the delay"
    );
    assert_eq!(state_of(&r.acd, "a"), AgentState::Available);
    assert!(offers(&r.tick(31)).is_empty());
    let o = offers(&r.tick(32));
    assert_eq!(o[0].0, "c1");
    // No answer: 60 s.
    r.tick(32 + 20);
    assert!(offers(&r.tick(32 + 20 + 59)).is_empty());
    assert_eq!(offers(&r.tick(32 + 20 + 60)).len(), 1);
}

#[test]
fn ring_all_first_accept_wins_the_others_are_rescinded() {
    let mut r = rig();
    let mut q = QueueDefinition::new("q");
    q.strategy = "ring_all".into();
    r.queue(q);
    for (i, a) in ["a", "b", "c"].iter().enumerate() {
        r.agent(AgentProfile::new(*a), i64::try_from(i).unwrap());
    }
    let o = offers(&r.enqueue(request("c1", "q", 5), 5));
    assert_eq!(o.len(), 3);
    r.acd.offer_accepted(&o[1].2, t(6)).unwrap();
    let ds = r.drain();
    let rescinded = ds
        .iter()
        .filter(|d| {
            matches!(
                d,
                RoutingDecision::OfferEnded {
                    outcome: OfferEnd::Rescinded,
                    ..
                }
            )
        })
        .count();
    assert_eq!(rescinded, 2);
    assert_eq!(state_of(&r.acd, "a"), AgentState::Available);
    assert_eq!(state_of(&r.acd, &o[1].1), AgentState::Busy);
}

#[test]
fn sticky_routing_waits_for_the_last_agent_for_a_bounded_time() {
    let mut cfg = AcdConfig::default();
    cfg.sticky_wait_secs = 20;
    let mut r = Rig::new(cfg);
    r.queue(QueueDefinition::new("q"));
    r.agent(AgentProfile::new("other"), 0);
    r.agent(AgentProfile::new("last"), 1);
    // "last" serves the customer once.
    let mut first = request("c1", "q", 2);
    first.customer = Some("cust".into());
    first.preferred_agent = Some("last".into());
    let o = offers(&r.enqueue(first, 2));
    assert_eq!(o[0].1, "last");
    r.acd.offer_accepted(&o[0].2, t(3)).unwrap();
    // The customer calls again while "last" is busy: waits for "last".
    let mut again = request("c2", "q", 10);
    again.customer = Some("cust".into());
    assert!(
        offers(&r.enqueue(again, 10)).is_empty(),
        "other is free but c2 waits for last"
    );
    r.acd
        .interaction_ended(&"c1".into(), &"last".into(), t(15))
        .unwrap();
    assert_eq!(offers(&r.drain())[0].1, "last");
    // Bounded: a third call, last busy, goes to "other" after 20 s.
    let o = offers(&r.log);
    r.acd.offer_accepted(&o.last().unwrap().2, t(16)).unwrap();
    let mut third = request("c3", "q", 20);
    third.customer = Some("cust".into());
    assert!(offers(&r.enqueue(third, 20)).is_empty());
    assert_eq!(offers(&r.tick(40))[0].1, "other");
}

#[test]
fn escalation_relaxes_adds_queues_then_overflows() {
    let mut r = rig();
    let mut q = QueueDefinition::new("expert").requiring("tax", 8);
    q.escalation = vec![
        EscalationStep {
            after_secs: 30,
            action: EscalationAction::RelaxProficiency { min_proficiency: 5 },
        },
        EscalationStep {
            after_secs: 60,
            action: EscalationAction::AddQueues {
                queues: vec!["general".into()],
            },
        },
        EscalationStep {
            after_secs: 120,
            action: EscalationAction::Overflow {
                destination: Destination::Voicemail,
            },
        },
    ];
    r.queue(q);
    r.queue(QueueDefinition::new("general").requiring("general", 1));
    r.agent(AgentProfile::new("mid").with_skill("tax", 6), 0);
    r.agent(AgentProfile::new("gen").with_skill("general", 3), 0);
    // 1: relax at 30 s.
    assert!(offers(&r.enqueue(request("c1", "expert", 0), 0)).is_empty());
    assert!(offers(&r.tick(29)).is_empty());
    let o = offers(&r.tick(30));
    assert_eq!(o[0].1, "mid");
    r.acd.offer_accepted(&o[0].2, t(31)).unwrap();
    // 2: mid is busy; at 60 s the general queue's agents may take it.
    assert!(offers(&r.enqueue(request("c2", "expert", 40), 40)).is_empty());
    assert!(offers(&r.tick(99)).is_empty());
    let o = offers(&r.tick(100));
    assert_eq!(o[0].1, "gen");
    r.acd.offer_accepted(&o[0].2, t(101)).unwrap();
    // 3: nobody free: overflow to voicemail at 120 s.
    r.enqueue(request("c3", "expert", 200), 200);
    let ds = r.tick(320);
    assert!(
        ds.iter().any(|d| matches!(
            d,
            RoutingDecision::Overflow {
                destination: Destination::Voicemail,
                ..
            }
        )),
        "{ds:?}"
    );
    assert_eq!(r.acd.waiting_count(), 0);
}

#[test]
fn overflow_to_another_queue_moves_inside_the_engine() {
    let mut r = rig();
    let mut q = QueueDefinition::new("a");
    q.escalation = vec![EscalationStep {
        after_secs: 10,
        action: EscalationAction::Overflow {
            destination: Destination::Queue("b".into()),
        },
    }];
    r.queue(q.requiring("x", 1));
    r.queue(QueueDefinition::new("b").requiring("y", 1));
    r.agent(AgentProfile::new("yy").with_skill("y", 1), 0);
    r.enqueue(request("c", "a", 0), 0);
    let ds = r.tick(10);
    assert!(matches!(&ds[0], RoutingDecision::Queued { queue, .. } if queue.as_str() == "b"));
    assert_eq!(offers(&ds)[0].1, "yy");
}

#[test]
fn position_and_estimated_wait() {
    let mut cfg = AcdConfig::default();
    cfg.default_handle_secs = Some(120);
    let mut r = Rig::new(cfg);
    r.queue(QueueDefinition::new("q"));
    r.agent(AgentProfile::new("a"), 0);
    r.agent(AgentProfile::new("b"), 0);
    r.enqueue(request("c1", "q", 1), 1);
    r.enqueue(request("c2", "q", 2), 2);
    let ds = r.enqueue(request("c3", "q", 3), 3);
    // Two agents busy ringing; c3 is first in line: 1 × 120 / 2 = 60 s.
    assert!(
        matches!(
            ds[0],
            RoutingDecision::Queued {
                position: 1,
                estimated_wait_secs: Some(60),
                ..
            }
        ),
        "{ds:?}"
    );
    let ds = r.enqueue(request("c4", "q", 4), 4);
    assert!(matches!(
        ds[0],
        RoutingDecision::Queued {
            position: 2,
            estimated_wait_secs: Some(120),
            ..
        }
    ));
    let status = r.acd.queue_status(&"q".into(), t(10)).unwrap();
    let line: Vec<_> = status
        .waiting
        .iter()
        .map(|w| (w.interaction.to_string(), w.position))
        .collect();
    assert_eq!(line[2..], [("c3".into(), 3), ("c4".into(), 4)]);
    assert_eq!(status.longest_wait_secs, 9);
}

#[test]
fn callback_keeps_the_callers_place() {
    let mut r = rig();
    let mut q = QueueDefinition::new("q");
    q.max_wait_secs = Some(60);
    r.queue(q);
    r.enqueue(request("c1", "q", 0), 0);
    r.enqueue(request("c2", "q", 10), 10);
    r.enqueue(request("c3", "q", 20), 20);
    // c1 asks for a callback: no patience timeout, same place.
    r.acd.request_callback(&"c1".into(), t(30)).unwrap();
    assert!(r.acd.is_callback(&"c1".into()));
    // c2 hangs up and calls back later through the port: it passes its
    // original enqueue time and gets its place back.
    r.acd.abandon(&"c2".into(), t(31));
    let ds = r.enqueue(request("c2", "q", 10), 50);
    assert!(
        matches!(ds[0], RoutingDecision::Queued { position: 2, .. }),
        "{ds:?}"
    );
    let ds = r.tick(70);
    let timed_out: Vec<_> = ds
        .iter()
        .filter_map(|d| match d {
            RoutingDecision::TimedOut { interaction, .. } => Some(interaction.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        timed_out,
        ["c2"],
        "c1 is a callback and c3 has not waited 60 s"
    );
    r.agent(AgentProfile::new("a"), 71);
    assert_eq!(offers(&r.log)[0].0, "c1");
}

#[test]
fn limits_full_join_and_leave_when_empty() {
    let mut r = rig();
    let mut q = QueueDefinition::new("small");
    q.max_size = Some(1);
    r.queue(q);
    let mut strict = QueueDefinition::new("strict");
    strict.join_when_empty = false;
    strict.leave_when_empty = true;
    r.queue(strict);
    r.enqueue(request("c1", "small", 0), 0);
    let ds = r.enqueue(request("c2", "small", 0), 0);
    assert!(matches!(
        ds[0],
        RoutingDecision::Rejected {
            reason: RejectReason::Full,
            ..
        }
    ));
    let ds = r.enqueue(request("c3", "strict", 0), 0);
    assert!(matches!(
        ds[0],
        RoutingDecision::Rejected {
            reason: RejectReason::NoAgents,
            ..
        }
    ));
    let ds = r.enqueue(request("c4", "nowhere", 0), 0);
    assert!(matches!(
        ds[0],
        RoutingDecision::Rejected {
            reason: RejectReason::UnknownQueue,
            ..
        }
    ));
    // An agent on break still counts as logged in for join-when-empty.
    r.acd
        .add_agent(
            AgentProfile::new("a").with_capacity(Channel::Voice, 0),
            t(1),
        )
        .unwrap();
    r.acd
        .set_agent_state(&"a".into(), AgentState::NotReady("lunch".into()), t(1))
        .unwrap();
    r.drain();
    let ds = r.enqueue(request("c5", "strict", 2), 2);
    assert!(matches!(ds[0], RoutingDecision::Queued { .. }));
    r.acd
        .set_agent_state(&"a".into(), AgentState::Offline, t(3))
        .unwrap();
    let ds = r.drain();
    assert!(ds.iter().any(|d| matches!(
        d,
        RoutingDecision::Rejected {
            reason: RejectReason::NoAgents,
            ..
        }
    )));
}

#[test]
fn abandon_while_ringing_cancels_the_offer() {
    let mut r = rig();
    r.queue(QueueDefinition::new("q"));
    r.agent(AgentProfile::new("a"), 0);
    let o = offers(&r.enqueue(request("c1", "q", 1), 1));
    r.acd.abandon(&"c1".into(), t(2));
    let ds = r.drain();
    assert!(matches!(
        ds[0],
        RoutingDecision::OfferEnded {
            outcome: OfferEnd::Canceled,
            ..
        }
    ));
    assert_eq!(state_of(&r.acd, "a"), AgentState::Available);
    assert!(matches!(
        r.acd.offer_accepted(&o[0].2, t(3)),
        Err(AcdError::UnknownReservation(_))
    ));
}

#[test]
fn chat_capacity_and_voice_exclusive() {
    let mut r = rig();
    r.queue(QueueDefinition::new("chat"));
    r.queue(QueueDefinition::new("voice"));
    r.agent(AgentProfile::new("a").with_capacity(Channel::Chat, 3), 0);
    for i in 0..4 {
        let mut req = request(&format!("chat{i}"), "chat", 1 + i);
        req.channel = Channel::Chat;
        let o = offers(&r.enqueue(req, 1 + i));
        if i < 3 {
            r.acd.offer_accepted(&o[0].2, t(1 + i)).unwrap();
        } else {
            assert!(o.is_empty(), "a fourth chat waits");
        }
    }
    assert!(
        offers(&r.enqueue(request("call", "voice", 10), 10)).is_empty(),
        "no call beside chats"
    );
    assert_eq!(r.acd.agent_status(&"a".into()).unwrap().active, 3);
    r.acd
        .interaction_ended(&"chat0".into(), &"a".into(), t(20))
        .unwrap();
    // The longest waiting: the call (10) waited less than chat3 (4).
    assert_eq!(offers(&r.drain())[0].0, "chat3");
}

#[test]
fn supervisor_not_ready_during_a_call_applies_after_it_and_snapshot_shows_reason_and_since() {
    let mut r = rig();
    r.queue(QueueDefinition::new("q").with_wrap_up_secs(10));
    r.agent(AgentProfile::new("a"), 0);
    let o = offers(&r.enqueue(request("c1", "q", 1), 1));
    r.acd.offer_accepted(&o[0].2, t(2)).unwrap();
    r.acd
        .set_agent_state(&"a".into(), AgentState::NotReady("lunch".into()), t(5))
        .unwrap();
    assert_eq!(state_of(&r.acd, "a"), AgentState::Busy);
    r.acd
        .interaction_ended(&"c1".into(), &"a".into(), t(60))
        .unwrap();
    assert_eq!(state_of(&r.acd, "a"), AgentState::WrapUp);
    r.tick(70);
    let snap = r.acd.snapshot(t(80));
    assert_eq!(snap.agents[0].state, AgentState::NotReady("lunch".into()));
    assert_eq!(snap.agents[0].since, t(70));
    assert_eq!(snap.queues[0].agents_by_state.get("not_ready"), Some(&1));
    // Offline while busy is refused.
    let o = offers(&r.enqueue(request("c2", "q", 81), 81));
    assert!(o.is_empty());
    assert!(
        r.acd
            .set_agent_state(&"a".into(), AgentState::Busy, t(82))
            .is_err()
    );
}

#[test]
fn unknown_strategy_and_bad_ladders_are_clear_errors() {
    let mut r = rig();
    let mut q = QueueDefinition::new("q");
    q.strategy = "telepathy".into();
    let e = r.acd.add_queue(q, t(0)).unwrap_err();
    assert_eq!(e.to_string(), "queue q: unknown strategy `telepathy`");
    let mut q = QueueDefinition::new("q");
    q.escalation = vec![
        EscalationStep {
            after_secs: 60,
            action: EscalationAction::RelaxProficiency { min_proficiency: 1 },
        },
        EscalationStep {
            after_secs: 30,
            action: EscalationAction::RelaxProficiency { min_proficiency: 1 },
        },
    ];
    assert!(matches!(
        r.acd.add_queue(q, t(0)),
        Err(AcdError::InvalidQueue {
            field: "escalation",
            ..
        })
    ));
}

#[test]
fn a_callback_request_through_the_router_port_is_no_abandonment() {
    use callcore::{Router, RouterInput};
    let mut r = rig();
    r.queue(QueueDefinition::new("q"));
    r.enqueue(request("c1", "q", 0), 0);
    r.enqueue(request("c2", "q", 5), 5);
    // c2 presses the callback key: the runtime asks the router to keep the place
    Router::handle(
        &mut r.acd,
        RouterInput::RequestCallback {
            interaction: "c2".into(),
        },
        t(30),
    )
    .unwrap();
    r.drain();
    // c1 hangs up: that one is an abandonment
    Router::handle(
        &mut r.acd,
        RouterInput::Abandon {
            interaction: "c1".into(),
        },
        t(40),
    )
    .unwrap();
    let status = r.acd.queue_status(&"q".into(), t(41)).unwrap();
    assert_eq!(status.abandoned, 1, "only c1 abandoned: {status:?}");
    let waiting: Vec<_> = status
        .waiting
        .iter()
        .map(|w| (w.interaction.to_string(), w.callback))
        .collect();
    assert_eq!(waiting, [("c2".to_owned(), true)], "c2's place is kept");
    // an agent takes the kept place: answered, still one abandonment
    r.agent(AgentProfile::new("a"), 50);
    let (interaction, _, reservation) = offers(&r.log).pop().unwrap();
    assert_eq!(interaction, "c2");
    r.acd.offer_accepted(&reservation, t(52)).unwrap();
    r.drain();
    let status = r.acd.queue_status(&"q".into(), t(53)).unwrap();
    assert_eq!((status.answered, status.abandoned), (1, 1), "{status:?}");
    assert!(status.waiting.is_empty());
}
