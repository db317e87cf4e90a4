//! Skills an interaction brings on top of its queue's requirements (an IVR
//! choice such as French).

mod common;

use callcore::{AgentProfile, OfferEnd, QueueDefinition, SkillRequirement};
use callcore_acd::AcdConfig;
use common::{Rig, offers, request, t};

fn french() -> Vec<SkillRequirement> {
    vec![SkillRequirement {
        skill: "french".into(),
        min_proficiency: 1,
    }]
}

#[test]
fn a_call_sent_with_french_only_goes_to_agents_who_speak_it() {
    let mut r = Rig::new(AcdConfig::default());
    r.queue(QueueDefinition::new("support"));
    r.agent(AgentProfile::new("anna").with_skill("german", 5), 0);
    let mut f = request("f", "support", 10);
    f.required_skills = french();
    // Anna is free (and longest idle) but speaks no French: the call waits.
    assert!(offers(&r.enqueue(f, 10)).is_empty());
    assert_eq!(r.acd.position(&"f".into()).map(|p| p.position), Some(1));
    // A caller without the skill behind it is not held up by it.
    let plain = offers(&r.enqueue(request("p", "support", 11), 11));
    assert_eq!(plain.len(), 1);
    assert_eq!((plain[0].0.as_str(), plain[0].1.as_str()), ("p", "anna"));
    // The French speaker takes the French call as soon as they are free.
    r.agent(AgentProfile::new("rene").with_skill("french", 2), 12);
    let to_rene = offers(&r.log);
    assert!(
        to_rene.iter().any(|(i, a, _)| i == "f" && a == "rene"),
        "{to_rene:?}"
    );
    assert!(!to_rene.iter().any(|(i, a, _)| i == "f" && a == "anna"));
}

#[test]
fn a_freed_agent_skips_the_call_it_cannot_take_and_a_declined_one_waits_for_a_speaker() {
    let mut r = Rig::new(AcdConfig::default());
    r.queue(QueueDefinition::new("support"));
    r.agent(AgentProfile::new("rene").with_skill("french", 5), 0);
    // Rene takes a first call; then a French call and a plain call wait.
    let first = offers(&r.enqueue(request("a", "support", 1), 1));
    r.acd.offer_accepted(&first[0].2, t(2)).unwrap();
    r.drain();
    let mut f = request("f", "support", 3);
    f.required_skills = french();
    assert!(offers(&r.enqueue(f, 3)).is_empty());
    assert!(offers(&r.enqueue(request("p", "support", 4), 4)).is_empty());
    // Anna logs in: she cannot take the older French call, so she takes the
    // plain one behind it.
    r.agent(AgentProfile::new("anna"), 5);
    let to_anna = offers(&r.log);
    assert!(to_anna.iter().any(|(i, a, _)| i == "p" && a == "anna"));
    assert!(!to_anna.iter().any(|(i, a, _)| i == "f" && a == "anna"));
    // Rene is freed: the French call is his.
    r.acd
        .interaction_ended(&"a".into(), &"rene".into(), t(6))
        .unwrap();
    let ds = r.drain();
    let to_rene = offers(&ds);
    assert_eq!(to_rene.len(), 1);
    assert_eq!(to_rene[0].0, "f");
    // He declines: the call goes back and is not offered to anyone else.
    r.acd
        .offer_failed(&to_rene[0].2, OfferEnd::Declined, t(7))
        .unwrap();
    let again = offers(&r.drain());
    assert!(again.iter().all(|(_, a, _)| a == "rene"), "{again:?}");
}
