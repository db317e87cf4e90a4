//! The inbox of one message channel: inbound messages become interactions
//! (or join the open conversation they continue), and it is the channel's
//! [`Transport`] for the center: [`Transport::accept`] hands the center each
//! new conversation, whose [`Leg`](callcore::Leg) ends when the agent closes it.
//!
//! Agents are offered message interactions on their desktop (the runtime never
//! rings a phone for them) and answer through [`Inbox::reply`], which the
//! channel's [`Outbox`] sends threaded.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use callcore::{
    Channel, Clock, CoreError, Direction, Endpoint, HangupCause, IdSource, Inbound, Interaction,
    InteractionId, PlaceRequest, TenantId, Transport,
};
use tokio::sync::{mpsc, watch};

use crate::ChannelError;
use crate::leg::MessageLeg;
use crate::message::{Message, MessageDirection, Outgoing, Received};

/// Sends replies out on a channel (SMTP, SMPP).
#[async_trait]
pub trait Outbox: Send + Sync + fmt::Debug {
    /// Sends `reply`; returns the sent message's id (its Message-ID, the
    /// SMSC's id).
    ///
    /// # Errors
    /// [`ChannelError::Peer`] when the server refuses or cannot be reached,
    /// [`ChannelError::OptedOut`] when the customer opted out.
    async fn send(&self, reply: &Outgoing) -> Result<String, ChannelError>;
}

/// The text media of a conversational channel (web chat; SMS with a flow,
/// [`InboxMedia`](crate::InboxMedia)): a flow's prompts
/// reach the customer as messages and its listening reads the customer's
/// next message, so the IVR's menus run on it. Channels without one (e-mail,
/// SMS) keep their flows quiet.
#[async_trait]
pub trait TextMedia: Send + Sync + fmt::Debug {
    /// Sends the flow's `text` to the customer of `interaction`.
    ///
    /// # Errors
    /// [`CoreError::LegEnded`] when the conversation is over.
    async fn say(&self, interaction: &InteractionId, text: &str) -> Result<(), CoreError>;

    /// The customer's next message after what the flow last said, or `None`
    /// after `timeout` without one.
    ///
    /// # Errors
    /// [`CoreError::LegEnded`] when the conversation ends first.
    async fn listen(
        &self,
        interaction: &InteractionId,
        timeout: std::time::Duration,
    ) -> Result<Option<String>, CoreError>;
}

/// Where an inbound message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// It opened a new conversation (a new interaction for the router).
    New(InteractionId),
    /// It joined the open conversation of this interaction.
    Joined(InteractionId),
}

impl Delivered {
    /// The interaction it belongs to.
    pub fn interaction(&self) -> &InteractionId {
        match self {
            Self::New(i) | Self::Joined(i) => i,
        }
    }
}

struct Conversation {
    tenant: TenantId,
    customer: String,
    subject: Option<String>,
    messages: Vec<Message>,
    /// The thread keys that point at it (removed when it closes).
    keys: Vec<String>,
    open: bool,
    ended: watch::Sender<Option<HangupCause>>,
    /// Inbound messages a flow has read (through [`InboxMedia`](crate::InboxMedia)).
    read: usize,
    /// Counts inbound messages, to wake a flow listening for the next one.
    arrived: watch::Sender<usize>,
}

#[derive(Default)]
struct State {
    conversations: HashMap<InteractionId, Conversation>,
    threads: HashMap<String, InteractionId>,
}

/// The inbox of one channel; see the module documentation. Cheap to share
/// (`Arc<Inbox>`).
pub struct Inbox {
    name: String,
    channel: Channel,
    tenant: TenantId,
    entry: String,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    state: Mutex<State>,
    accept_tx: mpsc::UnboundedSender<Inbound>,
    accept_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Inbound>>,
    outbox: OnceLock<Arc<dyn Outbox>>,
    text_media: OnceLock<Arc<dyn TextMedia>>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("name", &self.name)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// An inbox for `channel` of `tenant`, whose interactions are addressed
    /// to `entry` (the center routes them by it to a flow: `email`, `sms`).
    pub fn new(
        channel: Channel,
        tenant: TenantId,
        entry: impl Into<String>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Arc<Self> {
        let entry = entry.into();
        let (accept_tx, accept_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            name: entry.clone(),
            channel,
            tenant,
            entry,
            clock,
            ids,
            state: Mutex::new(State::default()),
            accept_tx,
            accept_rx: tokio::sync::Mutex::new(accept_rx),
            outbox: OnceLock::new(),
            text_media: OnceLock::new(),
        })
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The address interactions are routed by.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// Sets the outbox replies go through (once; later calls are ignored).
    pub fn set_outbox(&self, outbox: Arc<dyn Outbox>) {
        let _ = self.outbox.set(outbox);
    }

    /// Sets the text media flows talk through (once; later calls are ignored).
    pub fn set_text_media(&self, media: Arc<dyn TextMedia>) {
        let _ = self.text_media.set(media);
    }

    /// The text media, if the channel has one.
    pub(crate) fn text_media(&self) -> Option<&Arc<dyn TextMedia>> {
        self.text_media.get()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes an inbound message: it joins the open conversation one of its
    /// thread keys names, or opens a new one (an interaction the center
    /// routes). Its own id becomes a thread key of the conversation.
    pub fn receive(self: &Arc<Self>, received: Received) -> Delivered {
        self.receive_then(received, |_| {})
    }

    /// [`receive`](Self::receive), calling `before_offer` with a new
    /// conversation's id before the center is handed it (so that the
    /// channel knows the id before a flow runs on it).
    pub fn receive_then(
        self: &Arc<Self>,
        received: Received,
        before_offer: impl FnOnce(&InteractionId),
    ) -> Delivered {
        self.receive_with(received, BTreeMap::new(), before_offer)
    }

    /// [`receive_then`](Self::receive_then), giving a new conversation's
    /// interaction `attributes` (e.g. identities the customer proved on the
    /// channel, `proven.email`: see [`callcore::PROVEN_IDENTITY`]); a
    /// message that joins an open conversation leaves its attributes as
    /// they are.
    pub fn receive_with(
        self: &Arc<Self>,
        received: Received,
        attributes: BTreeMap<String, String>,
        before_offer: impl FnOnce(&InteractionId),
    ) -> Delivered {
        let mut guard = self.state();
        let st = &mut *guard;
        let found = received
            .thread
            .iter()
            .find_map(|k| st.threads.get(k).cloned())
            .filter(|id| st.conversations.get(id).is_some_and(|c| c.open));
        if let Some(id) = found {
            let mut new_keys = Vec::new();
            if let Some(c) = st.conversations.get_mut(&id) {
                for k in received.thread.iter().chain([&received.message.id]) {
                    if !c.keys.contains(k) {
                        c.keys.push(k.clone());
                        new_keys.push(k.clone());
                    }
                }
                c.messages.push(received.message);
                c.arrived.send_modify(|n| *n += 1);
            }
            for k in new_keys {
                st.threads.insert(k, id.clone());
            }
            tracing::info!(interaction = %id, channel = ?self.channel, "message joined its conversation");
            return Delivered::Joined(id);
        }
        let id = self.ids.interaction_id();
        let now = self.clock.now();
        let mut interaction = Interaction::new(
            id.clone(),
            self.tenant.clone(),
            self.channel,
            Direction::Inbound,
            received.customer.clone(),
            self.entry.clone(),
            now,
        );
        interaction.attributes.extend(attributes);
        if let Some(s) = &received.message.subject {
            interaction
                .attributes
                .insert("subject".to_owned(), s.clone());
        }
        let (ended, _) = watch::channel(None);
        let mut keys: Vec<String> = received.thread.clone();
        keys.push(received.message.id.clone());
        keys.dedup();
        for k in &keys {
            st.threads.insert(k.clone(), id.clone());
        }
        st.conversations.insert(
            id.clone(),
            Conversation {
                tenant: self.tenant.clone(),
                customer: received.customer,
                subject: received.message.subject.clone(),
                messages: vec![received.message],
                keys,
                open: true,
                ended,
                read: 0,
                arrived: watch::channel(1).0,
            },
        );
        drop(guard);
        let leg = MessageLeg::new(
            self.ids.leg_id(),
            self.channel,
            id.clone(),
            Arc::clone(self),
        );
        tracing::info!(interaction = %id, channel = ?self.channel, "message opened a conversation");
        before_offer(&id);
        let _ = self.accept_tx.send(Inbound {
            interaction,
            leg: Box::new(leg),
        });
        Delivered::New(id)
    }

    /// The messages of a conversation (open or closed), oldest first; `None`
    /// when this inbox has no such conversation.
    pub fn messages(&self, interaction: &InteractionId) -> Option<Vec<Message>> {
        self.state()
            .conversations
            .get(interaction)
            .map(|c| c.messages.clone())
    }

    /// The tenant of a conversation of this inbox.
    pub fn tenant_of(&self, interaction: &InteractionId) -> Option<TenantId> {
        self.state()
            .conversations
            .get(interaction)
            .map(|c| c.tenant.clone())
    }

    /// Whether the conversation is open.
    pub fn is_open(&self, interaction: &InteractionId) -> bool {
        self.state()
            .conversations
            .get(interaction)
            .is_some_and(|c| c.open)
    }

    /// Sends `text` to the customer of an open conversation, threaded after
    /// its last message, and keeps it with the conversation; `close` then
    /// ends the conversation (the interaction ends, the agent is released).
    ///
    /// # Errors
    /// [`ChannelError::NoConversation`] when it is not open here,
    /// [`ChannelError::Unsendable`] without an outbox, the outbox's errors.
    pub async fn reply(
        &self,
        interaction: &InteractionId,
        text: &str,
        close: bool,
    ) -> Result<Message, ChannelError> {
        self.send(interaction, text, close, false).await
    }

    /// Sends a message to `customer` outside any conversation (a
    /// notification: a reminder, a delivery notice), marked as automatic; the
    /// outbox's rules hold (opt-outs). Returns the sent message's id (an SMS
    /// in several segments: their ids, comma-separated).
    ///
    /// # Errors
    /// [`ChannelError::Unsendable`] without an outbox,
    /// [`ChannelError::OptedOut`], the outbox's errors.
    pub async fn notify(
        &self,
        customer: &str,
        subject: Option<&str>,
        text: &str,
    ) -> Result<String, ChannelError> {
        let outbox = self
            .outbox
            .get()
            .ok_or_else(|| ChannelError::Unsendable("this channel has no outbox".into()))?;
        outbox
            .send(&Outgoing {
                customer: customer.to_owned(),
                subject: subject.map(str::to_owned),
                text: text.to_owned(),
                in_reply_to: None,
                references: Vec::new(),
                auto: true,
            })
            .await
    }

    async fn send(
        &self,
        interaction: &InteractionId,
        text: &str,
        close: bool,
        auto: bool,
    ) -> Result<Message, ChannelError> {
        let mut outgoing = self.outgoing(interaction, text)?;
        outgoing.auto = auto;
        let outbox = self
            .outbox
            .get()
            .ok_or_else(|| ChannelError::Unsendable("this channel has no outbox".into()))?;
        let id = outbox.send(&outgoing).await?;
        let message = Message {
            id: id.clone(),
            direction: MessageDirection::Outbound,
            at: self.clock.now(),
            subject: outgoing.subject,
            text: text.to_owned(),
            attachments: Vec::new(),
        };
        {
            let mut guard = self.state();
            let st = &mut *guard;
            if let Some(c) = st.conversations.get_mut(interaction) {
                c.messages.push(message.clone());
                if c.open {
                    c.keys.push(id.clone());
                    st.threads.insert(id, interaction.clone());
                }
            }
        }
        tracing::info!(%interaction, channel = ?self.channel, "reply sent");
        if close {
            self.close(interaction, HangupCause::Local);
        }
        Ok(message)
    }

    /// What a reply to the conversation looks like (its addressing and
    /// threading).
    fn outgoing(&self, interaction: &InteractionId, text: &str) -> Result<Outgoing, ChannelError> {
        let st = self.state();
        let c = st
            .conversations
            .get(interaction)
            .filter(|c| c.open)
            .ok_or_else(|| ChannelError::NoConversation(interaction.to_string()))?;
        let last_in = c
            .messages
            .iter()
            .rev()
            .find(|m| m.direction == MessageDirection::Inbound)
            .map(|m| m.id.clone());
        let references = c.messages.iter().map(|m| m.id.clone()).collect();
        let subject = c.subject.as_ref().map(|s| {
            if s.to_ascii_lowercase().starts_with("re:") {
                s.clone()
            } else {
                format!("Re: {s}")
            }
        });
        Ok(Outgoing {
            customer: c.customer.clone(),
            subject,
            text: text.to_owned(),
            in_reply_to: last_in,
            references,
            auto: false,
        })
    }

    /// Sends an automatic message (an acknowledgement) in the conversation,
    /// kept with it like a reply; failures are logged, not returned.
    pub async fn acknowledge(&self, interaction: &InteractionId, text: &str) {
        if let Err(e) = self.send(interaction, text, false, true).await {
            tracing::warn!(%interaction, error = %e, "acknowledgement not sent");
        }
    }

    /// Keeps a message the channel already sent in the conversation (WeChat's
    /// passive reply, which goes out in the callback's answer), as a reply.
    pub fn keep_sent(&self, interaction: &InteractionId, id: &str, text: &str) {
        let message = Message {
            id: id.to_owned(),
            direction: MessageDirection::Outbound,
            at: self.clock.now(),
            subject: None,
            text: text.to_owned(),
            attachments: Vec::new(),
        };
        if let Some(c) = self.state().conversations.get_mut(interaction) {
            c.messages.push(message);
        }
    }

    /// Ends a conversation: its thread keys no longer find it (a later
    /// message opens a new one) and its leg ends with `cause`.
    pub fn close(&self, interaction: &InteractionId, cause: HangupCause) {
        let mut guard = self.state();
        let st = &mut *guard;
        let keys = match st.conversations.get_mut(interaction) {
            Some(c) if c.open => {
                c.open = false;
                c.ended.send_replace(Some(cause));
                std::mem::take(&mut c.keys)
            }
            _ => return,
        };
        for k in keys {
            if st.threads.get(&k) == Some(interaction) {
                st.threads.remove(&k);
            }
        }
    }

    /// The customer's oldest message a flow has not read yet, marked read.
    pub(crate) fn take_unread(&self, interaction: &InteractionId) -> Option<String> {
        let mut st = self.state();
        let c = st.conversations.get_mut(interaction)?;
        let inbound: Vec<&Message> = c
            .messages
            .iter()
            .filter(|m| m.direction == MessageDirection::Inbound)
            .collect();
        let text = inbound.get(c.read).map(|m| m.text.clone())?;
        c.read += 1;
        Some(text)
    }

    /// How many messages of `direction` the conversation has.
    fn count(&self, interaction: &InteractionId, direction: MessageDirection) -> usize {
        self.state().conversations.get(interaction).map_or(0, |c| {
            c.messages
                .iter()
                .filter(|m| m.direction == direction)
                .count()
        })
    }

    /// Whether the center has sent anything in the conversation yet.
    pub(crate) fn has_outbound(&self, interaction: &InteractionId) -> bool {
        self.count(interaction, MessageDirection::Outbound) > 0
    }

    /// Whether the customer wrote something a flow has not read yet.
    pub(crate) fn has_unread(&self, interaction: &InteractionId) -> bool {
        let read = self
            .state()
            .conversations
            .get(interaction)
            .map_or(0, |c| c.read);
        self.count(interaction, MessageDirection::Inbound) > read
    }

    /// A receiver that changes with each inbound message of the conversation.
    pub(crate) fn arrivals(&self, interaction: &InteractionId) -> Option<watch::Receiver<usize>> {
        self.state()
            .conversations
            .get(interaction)
            .map(|c| c.arrived.subscribe())
    }

    /// Sends a flow's text (the bot's answer) in the conversation, marked
    /// as automatic.
    pub(crate) async fn say(
        &self,
        interaction: &InteractionId,
        text: &str,
    ) -> Result<Message, ChannelError> {
        self.send(interaction, text, false, true).await
    }

    /// The clock conversations are timed by.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A receiver of the conversation's end.
    pub(crate) fn ended(
        &self,
        interaction: &InteractionId,
    ) -> Option<watch::Receiver<Option<HangupCause>>> {
        self.state()
            .conversations
            .get(interaction)
            .map(|c| c.ended.subscribe())
    }

    /// Open conversations.
    pub fn open_count(&self) -> usize {
        self.state()
            .conversations
            .values()
            .filter(|c| c.open)
            .count()
    }
}

#[async_trait]
impl Transport for Inbox {
    fn name(&self) -> &str {
        &self.name
    }

    async fn accept(&self) -> Option<Inbound> {
        self.accept_rx.lock().await.recv().await
    }

    fn can_reach(&self, _endpoint: &Endpoint) -> bool {
        // agents take message conversations on their desktop
        false
    }

    async fn place(&self, _request: PlaceRequest) -> Result<Box<dyn callcore::Leg>, CoreError> {
        Err(CoreError::Unreachable(format!(
            "{} places no legs: agents answer on the desktop",
            self.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{Timestamp, UuidV7Ids, VirtualClock};

    #[derive(Debug, Default)]
    struct Sent(Mutex<Vec<Outgoing>>);

    #[async_trait]
    impl Outbox for Sent {
        async fn send(&self, reply: &Outgoing) -> Result<String, ChannelError> {
            let mut s = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.push(reply.clone());
            Ok(format!("out{}@center", s.len()))
        }
    }

    fn mail(id: &str, thread: &[&str]) -> Received {
        Received {
            customer: "ann@example.org".into(),
            thread: thread.iter().map(|s| (*s).to_owned()).collect(),
            message: Message {
                id: id.into(),
                direction: MessageDirection::Inbound,
                at: Timestamp::from_secs(1),
                subject: Some("Order".into()),
                text: "hi".into(),
                attachments: Vec::new(),
            },
        }
    }

    fn inbox() -> (Arc<Inbox>, Arc<Sent>) {
        let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new(Timestamp::from_secs(1)));
        let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
        let inbox = Inbox::new(Channel::Email, "t".into(), "email", clock, ids);
        let sent = Arc::new(Sent::default());
        inbox.set_outbox(sent.clone());
        (inbox, sent)
    }

    #[tokio::test]
    async fn replies_thread_and_a_closed_conversation_takes_no_more() {
        let (inbox, sent) = inbox();
        let Delivered::New(id) = inbox.receive(mail("c1@x", &[])) else {
            panic!("a new conversation");
        };
        let offered = inbox.accept().await.map(|i| i.interaction.id);
        assert_eq!(offered.as_ref(), Some(&id));
        let r = inbox.reply(&id, "answer", false).await.map(|m| m.id);
        assert_eq!(r.ok().as_deref(), Some("out1@center"));
        {
            let s = sent
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            assert_eq!(s[0].subject.as_deref(), Some("Re: Order"));
            assert_eq!(s[0].in_reply_to.as_deref(), Some("c1@x"));
            assert_eq!(s[0].references, ["c1@x"]);
        }
        // the customer answers the reply: same conversation
        assert_eq!(
            inbox.receive(mail("c2@x", &["out1@center"])),
            Delivered::Joined(id.clone())
        );
        assert_eq!(inbox.messages(&id).map(|m| m.len()), Some(3));
        inbox.close(&id, HangupCause::Local);
        assert!(matches!(
            inbox.reply(&id, "late", false).await,
            Err(ChannelError::NoConversation(_))
        ));
        // after the close, the thread opens a new conversation
        assert!(matches!(inbox.receive(mail("c3@x", &["c2@x"])), Delivered::New(n) if n != id));
    }

    #[tokio::test]
    async fn the_leg_ends_with_the_conversation() {
        let (inbox, _) = inbox();
        let id = inbox.receive(mail("c1@x", &[])).interaction().clone();
        let leg = inbox.accept().await.map(|i| i.leg);
        let Some(leg) = leg else { panic!("a leg") };
        assert!(leg.answer().await.is_ok());
        assert!(leg.media().say("hold on", false).await.is_ok());
        let ended = tokio::spawn(async move { leg.ended().await });
        inbox.close(&id, HangupCause::Remote);
        assert_eq!(ended.await.ok(), Some(HangupCause::Remote));
    }
}
