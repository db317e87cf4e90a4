//! One customer across channels through a running center: message
//! customers get a profile on first contact (`create_customers`), an
//! identity proven on a channel (`proven.email` on a chat) joins that
//! profile, a later e-mail from the proven address is filed under it, and a
//! proof naming two known profiles merges them (journaled as
//! `CustomersMerged`).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use callcore::{
    Channel, Clock, CoreError, CustomerProfile, EndReason, EventKind, IdSource, IdentityKind,
    Stores, TenantId, Timestamp, UuidV7Ids, VirtualClock,
};
use callcore_channels::{Inbox, Message, MessageDirection, Received};
use callcore_runtime::{Center, CenterHandle, EventSubscriber, Flow, FlowContext, FlowOutcome};

/// Ends every conversation at once: only who the customer is matters here.
#[derive(Debug)]
struct Done;

#[async_trait]
impl Flow for Done {
    async fn run(&self, _call: &mut FlowContext) -> Result<FlowOutcome, CoreError> {
        Ok(FlowOutcome::Done(EndReason::Completed))
    }
}

fn received(customer: &str, id: &str) -> Received {
    Received {
        customer: customer.into(),
        thread: vec![format!("t:{id}")],
        message: Message {
            id: id.into(),
            direction: MessageDirection::Inbound,
            at: Timestamp::from_secs(1),
            subject: None,
            text: "hello".into(),
            attachments: Vec::new(),
        },
    }
}

/// The customer of the next interaction created.
async fn customer_of_next(events: &mut EventSubscriber) -> String {
    loop {
        let e = events.recv().await.unwrap();
        if let EventKind::InteractionCreated { interaction } = &e.kind {
            return interaction.customer.as_ref().unwrap().to_string();
        }
    }
}

async fn rig() -> (Arc<Inbox>, Arc<Inbox>, CenterHandle, Stores) {
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new(Timestamp::from_secs(1_700_000_000)));
    let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::seeded(clock.clone(), 7));
    let tenant = TenantId::new("default");
    let chat = Inbox::new(
        Channel::Chat,
        tenant.clone(),
        "chat",
        clock.clone(),
        ids.clone(),
    );
    let mail = Inbox::new(Channel::Email, tenant, "email", clock.clone(), ids);
    let stores = Stores::in_memory();
    let center = Center::builder()
        .clock(clock)
        .stores(stores.clone())
        .transport(chat.clone())
        .transport(mail.clone())
        .flow("done", Arc::new(Done))
        .route("*", "done")
        .create_customers([Channel::Chat, Channel::Email])
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    (chat, mail, center, stores)
}

#[tokio::test]
async fn a_proven_identity_joins_and_merges_profiles_across_channels() {
    let (chat, mail, center, stores) = rig().await;
    let tenant = TenantId::new("default");
    let mut events = center.subscribe();

    // an anonymous visitor: a profile of their own
    chat.receive(received("v-anon", "c0"));
    let anon = customer_of_next(&mut events).await;
    let p = stores
        .customers
        .get(&tenant, &anon.as_str().into())
        .await
        .unwrap()
        .unwrap();
    assert!(p.has_identity(IdentityKind::ChatId, "v-anon"));

    // a logged-in visitor: one profile with the chat id and the proven address
    let proven = BTreeMap::from([("proven.email".to_owned(), "ann@example.org".to_owned())]);
    chat.receive_with(received("v-ann", "c1"), proven, |_| {});
    let ann = customer_of_next(&mut events).await;
    assert_ne!(ann, anon);
    let p = stores
        .customers
        .get(&tenant, &ann.as_str().into())
        .await
        .unwrap()
        .unwrap();
    assert!(p.has_identity(IdentityKind::ChatId, "v-ann"));
    assert!(p.has_identity(IdentityKind::Email, "ann@example.org"));

    // her e-mail is filed under the same profile
    mail.receive(received("ann@example.org", "m1"));
    assert_eq!(customer_of_next(&mut events).await, ann);

    // a profile known by her phone (made elsewhere); a new chat session that
    // proves both her address and her phone merges the two into hers
    let phone = CustomerProfile::with_identity(
        "cus-phone".into(),
        tenant.clone(),
        IdentityKind::Phone,
        "+4930111",
    );
    stores.customers.save(&phone).await.unwrap();
    let proven = BTreeMap::from([
        ("proven.email".to_owned(), "ann@example.org".to_owned()),
        ("proven.phone".to_owned(), "+4930111".to_owned()),
    ]);
    chat.receive_with(received("v-ann-2", "c2"), proven, |_| {});
    let mut merged = None;
    let mut created = None;
    while merged.is_none() || created.is_none() {
        let e = events.recv().await.unwrap();
        match &e.kind {
            EventKind::CustomersMerged { kept, absorbed } => {
                merged = Some((kept.to_string(), absorbed.to_string()));
            }
            EventKind::InteractionCreated { interaction } => {
                created = interaction.customer.as_ref().map(ToString::to_string);
            }
            _ => {}
        }
    }
    let (kept, absorbed) = merged.unwrap();
    assert_eq!(created.as_deref(), Some(kept.as_str()));
    // the profile kept is the one the last proof named (the phone's), with
    // every identity; the other is gone
    assert_eq!(kept, "cus-phone");
    assert_eq!(absorbed, ann);
    let p = stores
        .customers
        .get(&tenant, &kept.as_str().into())
        .await
        .unwrap()
        .unwrap();
    for (kind, value) in [
        (IdentityKind::Phone, "+4930111"),
        (IdentityKind::Email, "ann@example.org"),
        (IdentityKind::ChatId, "v-ann"),
        (IdentityKind::ChatId, "v-ann-2"),
    ] {
        assert!(p.has_identity(kind, value), "{kind:?} {value}");
    }
    assert!(
        stores
            .customers
            .get(&tenant, &ann.as_str().into())
            .await
            .unwrap()
            .is_none()
    );
}
