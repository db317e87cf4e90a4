//! Unit tests of the reference router.
use super::*;
use crate::{Channel, TenantId};

fn request(id: &str, at: Timestamp) -> RoutingRequest {
    RoutingRequest {
        interaction: id.into(),
        tenant: TenantId::default(),
        channel: Channel::Voice,
        queue: "support".into(),
        priority: 0,
        customer: None,
        preferred_agent: None,
        attributes: BTreeMap::new(),
        required_skills: Vec::new(),
        enqueued_at: at,
    }
}

#[test]
fn a_callback_request_keeps_its_place_past_the_maximum_wait() {
    let mut r = BasicRouter::new();
    let t0 = Timestamp::from_secs(0);
    let mut q = QueueDefinition::new("support");
    q.max_wait_secs = Some(60);
    r.handle(RouterInput::AddQueue(Box::new(q)), t0).unwrap();
    r.handle(RouterInput::Enqueue(Box::new(request("a", t0))), t0)
        .unwrap();
    r.handle(RouterInput::Enqueue(Box::new(request("b", t0))), t0)
        .unwrap();
    r.handle(
        RouterInput::RequestCallback {
            interaction: "a".into(),
        },
        t0,
    )
    .unwrap();
    assert!(
        r.handle(
            RouterInput::RequestCallback {
                interaction: "zz".into()
            },
            t0
        )
        .is_err()
    );
    while r.poll_decision().is_some() {}
    let later = Timestamp::from_secs(61);
    r.handle_timeout(later);
    let timed_out: Vec<InteractionId> = std::iter::from_fn(|| r.poll_decision())
        .filter_map(|d| match d {
            RoutingDecision::TimedOut { interaction, .. } => Some(interaction),
            _ => None,
        })
        .collect();
    assert_eq!(timed_out, vec![InteractionId::from("b")]);
    let snap = r.snapshot(later);
    assert_eq!(snap.queues[0].waiting, vec![InteractionId::from("a")]);
}

fn drain(r: &mut BasicRouter) -> Vec<RoutingDecision> {
    std::iter::from_fn(|| r.poll_decision()).collect()
}

fn offers(decisions: &[RoutingDecision]) -> Vec<(InteractionId, AgentId)> {
    decisions
        .iter()
        .filter_map(|d| match d {
            RoutingDecision::Offer {
                interaction, agent, ..
            } => Some((interaction.clone(), agent.clone())),
            _ => None,
        })
        .collect()
}

fn with_available_alice(t0: Timestamp) -> BasicRouter {
    let mut r = BasicRouter::new();
    let mut q = QueueDefinition::new("support");
    q.wrap_up_secs = 30;
    r.handle(RouterInput::AddQueue(Box::new(q)), t0).unwrap();
    r.handle(
        RouterInput::AddAgent(Box::new(AgentProfile::new("alice"))),
        t0,
    )
    .unwrap();
    r.handle(
        RouterInput::SetAgentState {
            agent: "alice".into(),
            state: AgentState::Available,
        },
        t0,
    )
    .unwrap();
    drain(&mut r);
    r
}

#[test]
fn an_unreachable_agent_keeps_their_state_and_is_offered_nothing() {
    let t0 = Timestamp::from_secs(0);
    let mut r = with_available_alice(t0);
    let unreachable = RouterInput::SetAgentReachable {
        agent: "alice".into(),
        reachable: false,
    };
    r.handle(unreachable.clone(), t0).unwrap();
    // said once; the same fact again changes nothing
    r.handle(unreachable, t0).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![RoutingDecision::AgentReachabilityChanged {
            agent: "alice".into(),
            reachable: false
        }]
    );
    r.handle(RouterInput::Enqueue(Box::new(request("c1", t0))), t0)
        .unwrap();
    assert!(offers(&drain(&mut r)).is_empty());
    let snap = r.snapshot(t0);
    assert_eq!(snap.agents[0].state, AgentState::Available);
    assert!(!snap.agents[0].reachable);
    // registered again: the waiting call is offered at once
    r.handle(
        RouterInput::SetAgentReachable {
            agent: "alice".into(),
            reachable: true,
        },
        t0,
    )
    .unwrap();
    let d = drain(&mut r);
    assert_eq!(offers(&d), vec![("c1".into(), "alice".into())]);
    assert!(r.snapshot(t0).agents[0].reachable);
}

#[test]
fn losing_reachability_rescinds_a_ringing_offer() {
    let t0 = Timestamp::from_secs(0);
    let mut r = with_available_alice(t0);
    r.handle(RouterInput::Enqueue(Box::new(request("c1", t0))), t0)
        .unwrap();
    assert_eq!(offers(&drain(&mut r)).len(), 1);
    r.handle(
        RouterInput::SetAgentReachable {
            agent: "alice".into(),
            reachable: false,
        },
        t0,
    )
    .unwrap();
    let d = drain(&mut r);
    assert!(d.iter().any(|d| matches!(
        d,
        RoutingDecision::OfferEnded {
            outcome: OfferEnd::Rescinded,
            ..
        }
    )));
    assert!(offers(&d).is_empty(), "{d:?}");
    assert_eq!(r.snapshot(t0).queues[0].waiting.len(), 1);
}

#[test]
fn after_call_work_can_be_extended_and_ended_early() {
    let t0 = Timestamp::from_secs(0);
    let mut r = with_available_alice(t0);
    // no after-call work yet
    assert!(
        r.handle(
            RouterInput::EndWrapUp {
                agent: "alice".into()
            },
            t0
        )
        .is_err()
    );
    r.handle(RouterInput::Enqueue(Box::new(request("c1", t0))), t0)
        .unwrap();
    let reservation = drain(&mut r)
        .into_iter()
        .find_map(|d| match d {
            RoutingDecision::Offer { reservation, .. } => Some(reservation),
            _ => None,
        })
        .unwrap();
    r.handle(RouterInput::OfferAccepted { reservation }, t0)
        .unwrap();
    r.handle(
        RouterInput::InteractionEnded {
            interaction: "c1".into(),
            agent: "alice".into(),
        },
        t0,
    )
    .unwrap();
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(Timestamp::from_secs(30)));
    r.handle(
        RouterInput::ExtendWrapUp {
            agent: "alice".into(),
            secs: 90,
        },
        Timestamp::from_secs(10),
    )
    .unwrap();
    assert_eq!(r.poll_timeout(), Some(Timestamp::from_secs(100)));
    r.handle(
        RouterInput::EndWrapUp {
            agent: "alice".into(),
        },
        Timestamp::from_secs(20),
    )
    .unwrap();
    let d = drain(&mut r);
    assert!(
        d.iter()
            .any(|d| matches!(d, RoutingDecision::WrapUpEnded { .. }))
    );
    assert_eq!(r.snapshot(t0).agents[0].state, AgentState::Available);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn a_call_needing_french_waits_for_an_agent_who_speaks_it() {
    let mut r = BasicRouter::new();
    let t0 = Timestamp::from_secs(0);
    r.handle(
        RouterInput::AddQueue(Box::new(QueueDefinition::new("support"))),
        t0,
    )
    .unwrap();
    for (id, skill) in [("anna", "german"), ("rene", "french")] {
        let p = AgentProfile::new(id).with_skill(skill, 5);
        r.handle(RouterInput::AddAgent(Box::new(p)), t0).unwrap();
    }
    r.handle(
        RouterInput::SetAgentState {
            agent: "anna".into(),
            state: AgentState::Available,
        },
        t0,
    )
    .unwrap();
    let mut french = request("f", t0);
    french.required_skills = vec![crate::SkillRequirement {
        skill: "french".into(),
        min_proficiency: 1,
    }];
    r.handle(RouterInput::Enqueue(Box::new(french)), t0)
        .unwrap();
    let offers = |r: &mut BasicRouter| -> Vec<(InteractionId, AgentId)> {
        std::iter::from_fn(|| r.poll_decision())
            .filter_map(|d| match d {
                RoutingDecision::Offer {
                    interaction, agent, ..
                } => Some((interaction, agent)),
                _ => None,
            })
            .collect()
    };
    // Anna is free but does not speak French: nothing is offered.
    assert!(offers(&mut r).is_empty());
    assert_eq!(
        r.queue_position(&"f".into(), t0).map(|p| p.position),
        Some(1)
    );
    r.handle(
        RouterInput::SetAgentState {
            agent: "rene".into(),
            state: AgentState::Available,
        },
        t0,
    )
    .unwrap();
    assert_eq!(offers(&mut r), vec![("f".into(), "rene".into())]);
}
