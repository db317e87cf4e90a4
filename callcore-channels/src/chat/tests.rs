use super::*;
use callcore::{Channel, IdSource, Timestamp, Transport, UuidV7Ids, VirtualClock};

fn hub() -> Arc<ChatHub> {
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new(Timestamp::from_secs(100)));
    let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    let inbox = Inbox::new(Channel::Chat, "t".into(), "chat", clock.clone(), ids);
    ChatHub::new(inbox, Limits::default(), 2, clock)
}

fn says(text: &str, id: &str) -> Post {
    Post {
        from: Side::Visitor,
        text: text.into(),
        client_id: Some(id.into()),
        file: None,
        quick_replies: Vec::new(),
        bot: false,
    }
}

fn texts(entries: &[ChatEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::Message { from, text, .. } => format!("{from:?}:{text}"),
            EntryKind::Joined { agent } => format!("joined:{agent}"),
            EntryKind::Ended => "ended".into(),
        })
        .collect()
}

#[tokio::test]
async fn a_visitor_chat_becomes_one_interaction_and_the_agent_replies_into_the_log() {
    let hub = hub();
    let lines: Arc<Mutex<Vec<(Speaker, String)>>> = Arc::default();
    let sink = lines.clone();
    hub.set_journal(Arc::new(move |_, kind| {
        if let EventKind::TranscriptSegment { speaker, text, .. } = kind {
            sink.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((speaker, text.expose().clone()));
        }
    }));
    assert!(hub.create("tok-a", "v1").is_ok());
    assert!(hub.create("tok-a", "v2").is_err(), "a token is used once");
    let mut watcher = hub
        .attach(SessionKey::Token("tok-a"), 0)
        .map(|a| a.updates)
        .expect("the session");
    assert_eq!(
        hub.visitor_post("tok-a", says("hello", "c1")).ok(),
        Some(Posted::New(1))
    );
    let inbound = hub
        .inbox()
        .accept()
        .await
        .expect("a conversation for the center");
    let id = inbound.interaction.id.clone();
    assert_eq!(inbound.interaction.channel, Channel::Chat);
    assert_eq!(inbound.interaction.from.expose(), "v1");
    // a second message joins it; the resend of c1 is kept once
    assert_eq!(
        hub.visitor_post("tok-a", says("are you there?", "c2")).ok(),
        Some(Posted::New(2))
    );
    assert_eq!(
        hub.visitor_post("tok-a", says("hello", "c1")).ok(),
        Some(Posted::Again(1))
    );
    assert_eq!(hub.inbox().open_count(), 1);
    hub.joined(&id, "1001");
    hub.joined(&id, "1001");
    let reply = hub.inbox().reply(&id, "yes, how can I help?", false).await;
    assert_eq!(reply.map(|m| m.id).ok().as_deref(), Some("v1#4"));
    // the watcher saw every entry once, in order
    let mut seen = Vec::new();
    while let Ok(u) = watcher.try_recv() {
        if let ChatUpdate::Entry(e) = u {
            seen.push(e);
        }
    }
    assert_eq!(
        texts(&seen),
        [
            "Visitor:hello",
            "Visitor:are you there?",
            "joined:1001",
            "Agent:yes, how can I help?"
        ]
    );
    // a page that saw up to seq 2 resumes with the rest
    let again = hub
        .attach(SessionKey::Interaction(&id), 2)
        .expect("the agent's view");
    assert_eq!(
        texts(&again.entries),
        ["joined:1001", "Agent:yes, how can I help?"]
    );
    assert_eq!(again.interaction.as_ref(), Some(&id));
    // the transcript is in the inbox (the messages API) and journaled
    assert_eq!(hub.inbox().messages(&id).map(|m| m.len()), Some(3));
    let journaled = lines
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(
        journaled,
        [
            (Speaker::Customer, "hello".to_owned()),
            (Speaker::Customer, "are you there?".to_owned()),
            (Speaker::Agent, "yes, how can I help?".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_end_is_an_entry_and_a_later_message_opens_a_new_conversation() {
    let hub = hub();
    assert!(hub.create("tok", "v1").is_ok());
    let _ = hub.visitor_post("tok", says("one", "c1"));
    let first = hub.inbox().accept().await.map(|i| i.interaction.id);
    let Some(first) = first else {
        panic!("a conversation")
    };
    let mut updates = hub
        .attach(SessionKey::Token("tok"), 1)
        .map(|a| a.updates)
        .expect("the session");
    hub.visitor_leaves("tok");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), updates.recv()).await;
    assert!(
        matches!(
            ended,
            Ok(Ok(ChatUpdate::Entry(ChatEntry {
                seq: 2,
                kind: EntryKind::Ended,
                ..
            })))
        ),
        "the end reaches the watchers"
    );
    assert!(hub.interaction_of(SessionKey::Token("tok")).is_none());
    assert!(hub.inbox().reply(&first, "late", false).await.is_err());
    let _ = hub.visitor_post("tok", says("two", "c2"));
    let second = hub.inbox().accept().await.map(|i| i.interaction.id);
    assert!(second.is_some_and(|s| s != first));
}

#[tokio::test]
async fn marks_typing_files_and_limits() {
    let hub = hub();
    assert!(hub.create("t1", "v1").is_ok());
    assert!(hub.create("t2", "v2").is_ok());
    let mut u = hub
        .attach(SessionKey::Token("t1"), 0)
        .map(|a| a.updates)
        .expect("the session");
    let page2 = hub.attach(SessionKey::Token("t2"), 0).map(|a| a.updates);
    assert!(
        hub.create("t3", "v3").is_err(),
        "at most 2 sessions, both with a page"
    );
    drop(page2);
    assert!(hub.create("t3", "v3").is_ok(), "an idle session gives way");
    assert!(!hub.knows("t2") && hub.knows("t1") && hub.knows("t3"));
    hub.typing(SessionKey::Token("t1"), Side::Visitor, true);
    hub.typing(SessionKey::Token("t1"), Side::Visitor, true);
    let mut post = says("", "f1");
    post.file = Some(ChatFile {
        name: "photo.png".into(),
        content_type: "image/png".into(),
        size: 3,
        data: vec![1u8, 2, 3].into(),
    });
    assert!(hub.visitor_post("t1", post).is_ok());
    let mut big = says("", "f2");
    big.file = Some(ChatFile {
        name: "huge.bin".into(),
        content_type: "application/octet-stream".into(),
        size: (1 << 20) + 1,
        data: vec![0u8; (1 << 20) + 1].into(),
    });
    assert!(matches!(
        hub.visitor_post("t1", big),
        Err(ChannelError::Refused { part: "chat", .. })
    ));
    let id = hub.inbox().accept().await.map(|i| i.interaction.id);
    let Some(id) = id else {
        panic!("a conversation")
    };
    let file = hub.file(SessionKey::Interaction(&id), 1);
    assert_eq!(file.map(|f| f.data.to_vec()), Some(vec![1u8, 2, 3]));
    assert_eq!(
        hub.inbox().messages(&id).map(|m| m[0].attachments.len()),
        Some(1)
    );
    let _ = hub.inbox().reply(&id, "got it", false).await;
    hub.mark(SessionKey::Token("t1"), Side::Visitor, 2, false);
    hub.mark(SessionKey::Token("t1"), Side::Visitor, 2, true);
    hub.mark(SessionKey::Interaction(&id), Side::Agent, 1, true);
    let mut kinds = Vec::new();
    while let Ok(x) = u.try_recv() {
        kinds.push(match x {
            ChatUpdate::Entry(e) => format!("entry{}", e.seq),
            ChatUpdate::State(ChatState::Typing { on, .. }) => format!("typing:{on}"),
            ChatUpdate::State(ChatState::Receipts(r)) => format!(
                "receipts:{}/{}/{}/{}",
                r.visitor_delivered, r.visitor_read, r.agent_delivered, r.agent_read
            ),
        });
    }
    assert_eq!(
        kinds,
        [
            "typing:true",
            "entry1",
            "entry2",
            "receipts:2/0/0/0",
            "receipts:2/2/0/0",
            "receipts:2/2/1/1"
        ]
    );
    let json = serde_json::to_value(ChatUpdate::State(ChatState::Receipts(Receipts::default())))
        .unwrap_or_default();
    assert_eq!(json["type"], "receipts");
}

#[tokio::test]
async fn a_flow_talks_through_the_chat_with_quick_replies() {
    let hub = hub();
    assert!(hub.create("tok", "v1").is_ok());
    let _ = hub.visitor_post("tok", says("hi", "c1"));
    let leg = hub.inbox().accept().await.map(|i| i.leg).expect("a leg");
    let mut page = hub
        .attach(SessionKey::Token("tok"), 1)
        .map(|a| a.updates)
        .expect("the session");
    assert!(
        leg.media()
            .say("Hello.\n1. billing\n2. support", false)
            .await
            .is_ok()
    );
    let prompt = page.recv().await.expect("the bot's message");
    let ChatUpdate::Entry(ChatEntry {
        kind:
            EntryKind::Message {
                from,
                text,
                quick_replies,
                ..
            },
        ..
    }) = prompt
    else {
        panic!("a message")
    };
    assert_eq!((from, text.as_str()), (Side::Agent, "Hello."));
    assert_eq!(quick_replies, ["billing", "support"]);
    // the visitor answers before the flow listens: not lost
    let _ = hub.visitor_post("tok", says("support", "c2"));
    let spec = callcore::ListenSpec {
        no_input_timeout: std::time::Duration::from_secs(5),
        ..callcore::ListenSpec::default()
    };
    let heard = leg.media().listen(&spec).await;
    assert!(
        matches!(&heard, Ok(callcore::Utterance::Text { text, .. }) if text == "support"),
        "{heard:?}"
    );
    // nothing more: no input after the timeout
    let spec = callcore::ListenSpec {
        no_input_timeout: std::time::Duration::from_millis(50),
        ..callcore::ListenSpec::default()
    };
    assert!(matches!(
        leg.media().listen(&spec).await,
        Ok(callcore::Utterance::NoInput)
    ));
}
