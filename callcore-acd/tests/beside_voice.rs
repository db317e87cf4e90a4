//! Chats beside a voice call: by default a call is the agent's only work;
//! a profile's `beside_voice` channels go on beside it, each within its own
//! capacity.

#![allow(clippy::unwrap_used)]

mod common;

use callcore::{AgentProfile, Channel, QueueDefinition};
use callcore_acd::AcdConfig;
use common::{Rig, offers, request};

fn chat(id: &str, at: i64) -> callcore::RoutingRequest {
    let mut r = request(id, "chat", at);
    r.channel = Channel::Chat;
    r
}

fn rig(profile: AgentProfile) -> Rig {
    let mut r = Rig::new(AcdConfig::default());
    r.queue(QueueDefinition::new("chat"));
    r.queue(QueueDefinition::new("voice"));
    r.agent(profile, 0);
    r
}

#[test]
fn by_default_a_call_blocks_new_chats() {
    let mut r = rig(AgentProfile::new("a").with_capacity(Channel::Chat, 3));
    let o = offers(&r.enqueue(request("call", "voice", 1), 1));
    r.acd.offer_accepted(&o[0].2, common::t(1)).unwrap();
    assert!(
        offers(&r.enqueue(chat("chat0", 2), 2)).is_empty(),
        "no chat beside a call"
    );
    r.acd
        .interaction_ended(&"call".into(), &"a".into(), common::t(10))
        .unwrap();
    assert_eq!(
        offers(&r.drain())[0].0,
        "chat0",
        "the chat once the call ends"
    );
}

#[test]
fn chats_beside_voice_go_on_during_a_call_within_their_capacity() {
    let mut r = rig(AgentProfile::new("a")
        .with_capacity(Channel::Chat, 2)
        .with_beside_voice(Channel::Chat));
    let o = offers(&r.enqueue(chat("chat0", 1), 1));
    r.acd.offer_accepted(&o[0].2, common::t(1)).unwrap();
    // a call beside the open chat
    let o = offers(&r.enqueue(request("call", "voice", 2), 2));
    assert_eq!(o.len(), 1, "a call beside a chat");
    r.acd.offer_accepted(&o[0].2, common::t(2)).unwrap();
    // a second chat during the call; a third waits (capacity 2)
    let o = offers(&r.enqueue(chat("chat1", 3), 3));
    assert_eq!(o.len(), 1, "a chat beside the call");
    r.acd.offer_accepted(&o[0].2, common::t(3)).unwrap();
    assert!(offers(&r.enqueue(chat("chat2", 4), 4)).is_empty());
    assert_eq!(r.acd.agent_status(&"a".into()).unwrap().active, 3);
}
