//! What an agent controls beside their chosen state: reachability (the phone's
//! registration) that never changes the state, and after-call work ended early
//! or given more time.
#![allow(clippy::unwrap_used)]

mod common;

use callcore::{AgentProfile, AgentState, OfferEnd, QueueDefinition, RoutingDecision};
use callcore_acd::{AcdConfig, AcdEngine, AcdError, EngineState, StrategyRegistry};
use common::{Rig, offers, request, state_of, t};

fn rig() -> Rig {
    let mut r = Rig::new(AcdConfig::default());
    let mut q = QueueDefinition::new("q");
    q.wrap_up_secs = 30;
    r.queue(q);
    r
}

fn set_reachable(r: &mut Rig, agent: &str, reachable: bool, at: i64) -> Vec<RoutingDecision> {
    r.acd
        .set_agent_reachable(&agent.into(), reachable, t(at))
        .unwrap();
    r.drain()
}

#[test]
fn an_available_agent_who_is_unreachable_is_never_offered() {
    let mut r = rig();
    r.agent(AgentProfile::new("a"), 0);
    let ds = set_reachable(&mut r, "a", false, 1);
    assert_eq!(
        ds,
        vec![RoutingDecision::AgentReachabilityChanged {
            agent: "a".into(),
            reachable: false
        }]
    );
    // the same fact twice is said once
    assert!(set_reachable(&mut r, "a", false, 1).is_empty());
    assert!(offers(&r.enqueue(request("c1", "q", 2), 2)).is_empty());
    // the chosen state is kept
    assert_eq!(state_of(&r.acd, "a"), AgentState::Available);
    let status = r.acd.agent_status(&"a".into()).unwrap();
    assert!(!status.reachable);
    assert!(!r.acd.snapshot(t(2)).agents[0].reachable);
    // registered again: offered at once, still the same state machine
    let ds = set_reachable(&mut r, "a", true, 5);
    let o = offers(&ds);
    assert_eq!(o.len(), 1, "{ds:?}");
    assert_eq!((o[0].0.as_str(), o[0].1.as_str()), ("c1", "a"));
}

#[test]
fn a_not_ready_agent_stays_not_ready_through_a_registration_lapse() {
    let mut r = rig();
    r.agent(AgentProfile::new("a"), 0);
    r.acd
        .set_agent_state(&"a".into(), AgentState::NotReady("lunch".into()), t(1))
        .unwrap();
    set_reachable(&mut r, "a", false, 2);
    set_reachable(&mut r, "a", true, 3);
    assert_eq!(state_of(&r.acd, "a"), AgentState::NotReady("lunch".into()));
    assert!(offers(&r.enqueue(request("c1", "q", 4), 4)).is_empty());
}

#[test]
fn losing_reachability_rescinds_the_offer_and_another_agent_gets_it() {
    let mut r = rig();
    r.agent(AgentProfile::new("a"), 0);
    r.agent(AgentProfile::new("b"), 1);
    let o = offers(&r.enqueue(request("c1", "q", 2), 2));
    assert_eq!(o[0].1, "a");
    let ds = set_reachable(&mut r, "a", false, 3);
    assert!(ds.iter().any(|d| matches!(
        d,
        RoutingDecision::OfferEnded {
            outcome: OfferEnd::Rescinded,
            ..
        }
    )));
    let o = offers(&ds);
    assert_eq!(o.len(), 1, "{ds:?}");
    assert_eq!(o[0].1, "b");
    assert_eq!(state_of(&r.acd, "a"), AgentState::Available);
}

#[test]
fn reachability_survives_a_snapshot_and_restore() {
    let mut r = rig();
    r.agent(AgentProfile::new("a"), 0);
    set_reachable(&mut r, "a", false, 1);
    let state: EngineState = r.acd.export_state(t(1)).unwrap();
    let mut restored =
        AcdEngine::restore(AcdConfig::default(), StrategyRegistry::builtin(), state).unwrap();
    assert!(!restored.agent_status(&"a".into()).unwrap().reachable);
    restored.enqueue(request("c1", "q", 2), t(2)).unwrap();
    let ds: Vec<_> = std::iter::from_fn(|| restored.poll_decision()).collect();
    assert!(offers(&ds).is_empty(), "{ds:?}");
}

fn in_wrap_up(r: &mut Rig) {
    r.agent(AgentProfile::new("a"), 0);
    let o = offers(&r.enqueue(request("c1", "q", 1), 1));
    r.acd.offer_accepted(&o[0].2, t(2)).unwrap();
    r.acd
        .interaction_ended(&"c1".into(), &"a".into(), t(10))
        .unwrap();
    r.drain();
    assert_eq!(state_of(&r.acd, "a"), AgentState::WrapUp);
}

#[test]
fn after_call_work_ends_early_when_the_agent_says_so() {
    let mut r = rig();
    assert!(matches!(
        r.acd.end_wrap_up(&"nobody".into(), t(0)),
        Err(AcdError::UnknownAgent(_))
    ));
    in_wrap_up(&mut r);
    // a call waiting meanwhile is not offered during after-call work
    assert!(offers(&r.enqueue(request("c2", "q", 11), 11)).is_empty());
    r.acd.end_wrap_up(&"a".into(), t(15)).unwrap();
    let ds = r.drain();
    assert!(
        ds.iter()
            .any(|d| matches!(d, RoutingDecision::WrapUpEnded { .. }))
    );
    assert_eq!(offers(&ds).len(), 1, "{ds:?}");
    // nothing to end any more
    assert!(matches!(
        r.acd.end_wrap_up(&"a".into(), t(16)),
        Err(AcdError::NotInWrapUp(_))
    ));
}

#[test]
fn after_call_work_can_be_given_more_time() {
    let mut r = rig();
    in_wrap_up(&mut r);
    assert_eq!(r.acd.next_timeout(), Some(t(40)));
    r.acd.extend_wrap_up(&"a".into(), 120, t(20)).unwrap();
    assert_eq!(r.acd.next_timeout(), Some(t(140)));
    assert!(r.tick(40).is_empty());
    assert_eq!(state_of(&r.acd, "a"), AgentState::WrapUp);
    let ds = r.tick(140);
    assert!(
        ds.iter()
            .any(|d| matches!(d, RoutingDecision::WrapUpEnded { .. }))
    );
    assert_eq!(state_of(&r.acd, "a"), AgentState::Available);
}

#[test]
fn a_caller_kept_for_an_agent_who_becomes_unreachable_goes_to_the_queue() {
    let mut r = rig();
    r.agent(AgentProfile::new("a"), 0);
    let o = offers(&r.enqueue(request("c0", "q", 1), 1));
    r.acd.offer_accepted(&o[0].2, t(1)).unwrap();
    r.agent(AgentProfile::new("b"), 2);
    // c1 prefers a, who is busy: kept for a while b idles
    let mut c1 = request("c1", "q", 3);
    c1.preferred_agent = Some("a".into());
    assert!(offers(&r.enqueue(c1, 3)).is_empty());
    let ds = set_reachable(&mut r, "a", false, 4);
    let o = offers(&ds);
    assert_eq!(o.len(), 1, "{ds:?}");
    assert_eq!((o[0].0.as_str(), o[0].1.as_str()), ("c1", "b"));
}
