//! Offers and capacity: chat agents freed of one chat, agents passed over
//! after a miss.

mod common;

use callcore::{AgentProfile, AgentState, Channel, QueueDefinition};
use callcore_acd::AcdConfig;
use common::{Rig, offers, request, t};

fn rig() -> Rig {
    Rig::new(AcdConfig::default())
}

#[test]
fn a_chat_agent_freed_of_one_chat_takes_the_next() {
    let mut r = rig();
    r.queue(QueueDefinition::new("q0"));
    r.acd
        .add_agent(AgentProfile::new("a").with_capacity(Channel::Chat, 2), t(0))
        .unwrap();
    for i in 0..2 {
        let mut req = request(&format!("c{i}"), "q0", 0);
        req.channel = Channel::Chat;
        r.enqueue(req, 0);
    }
    r.acd
        .set_agent_state(&"a".into(), AgentState::Available, t(0))
        .unwrap();
    let o = offers(&r.drain());
    assert_eq!(o.len(), 2, "{:?}", r.log);
    r.acd.offer_accepted(&o[0].2, t(0)).unwrap();
    r.acd.offer_accepted(&o[1].2, t(0)).unwrap();
    r.acd
        .interaction_ended(&"c0".into(), &"a".into(), t(0))
        .unwrap();
    r.drain();
    let mut req = request("c2", "q0", 0);
    req.channel = Channel::Chat;
    let ds = r.enqueue(req, 0);
    assert_eq!(offers(&ds).len(), 1, "{ds:?}");
}

#[test]
fn an_agent_who_missed_the_offer_is_passed_over_while_another_can_take_it() {
    let mut r = rig();
    let mut q = QueueDefinition::new("q").requiring("s", 3);
    q.strategy = "best_proficiency".into();
    q.offer_timeout_secs = 12;
    r.queue(q);
    r.agent(AgentProfile::new("expert").with_skill("s", 9), 0);
    r.agent(AgentProfile::new("good").with_skill("s", 6), 0);
    let o = offers(&r.enqueue(request("c1", "q", 1), 1));
    assert_eq!(o[0].1, "expert");
    let o = offers(&r.tick(13));
    assert_eq!(o[0].1, "good", "{:?}", r.log);
    // Alone in the pool, a passed-over agent is still offered (no starvation).
    r.acd.offer_declined(&o[0].2, t(14)).unwrap();
    let o = offers(&r.drain());
    assert_eq!(o[0].1, "expert");
}
