//! Web chat: visitors of a website chat with agents through the same ACD as
//! calls. Each visitor session (a page's secret token, made by the web
//! layer) keeps a numbered [`ChatLog`]; the visitor's first message opens a
//! conversation of the chat [`Inbox`] (an interaction routed to a queue),
//! later ones join it, and the agent's replies (through
//! [`Inbox::reply`](crate::Inbox::reply), the web API's
//! `POST /api/v1/interactions/{id}/messages`) come back into the log.
//! Updates (entries, typing, delivery and read marks) go to every page
//! watching the session — the visitor's and the agent's — through a
//! broadcast channel; a page that reconnects reads the entries after the
//! last seq it saw.
//!
//! When the conversation ends (the agent closes it, the visitor leaves) an
//! `ended` entry is added; a later message from the same visitor opens a new
//! conversation. Every message is journaled as a `TranscriptSegment` event of
//! its interaction (customer or agent speaking) when a journal is set
//! ([`ChatHub::set_journal`]), so the transcript stays with the interaction's
//! record after the session is gone.

mod config;
mod log;
mod media;
mod transcript;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use callcore::{Clock, EventKind, HangupCause, InteractionId, Pii, Speaker, TenantId};
use serde::Serialize;
use tokio::sync::broadcast;

pub use config::ChatConfig;
pub use log::{
    ChatEntry, ChatFile, ChatLog, EntryKind, Limits, Post, Posted, Receipts, Refusal, Side,
};
pub use transcript::{
    MAILS_PER_ADDRESS, MAILS_PER_HUB, MAILS_PER_SESSION, Transcript, TranscriptLine,
    TranscriptRefusal, TranscriptSender, check_address, render as render_transcript,
};

use crate::message::{Attachment, Message, MessageDirection, Outgoing, Received};
use crate::{ChannelError, Delivered, Inbox, Outbox};

/// Updates a session's watchers are sent: entries (numbered) and states.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ChatUpdate {
    /// A new entry (a message, an agent joining, the end).
    Entry(ChatEntry),
    /// A change of state (not numbered: a reconnecting page is sent the
    /// current state).
    State(ChatState),
}

/// A change of a session's state.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatState {
    /// A side started or stopped typing.
    Typing {
        /// Who.
        side: Side,
        /// Typing now.
        on: bool,
    },
    /// The delivery and read marks moved.
    Receipts(Receipts),
}

/// A session as a page (re)attaches to it: what to replay and what follows.
#[derive(Debug)]
pub struct Attached {
    /// The visitor's public id (the conversation's customer address).
    pub visitor: String,
    /// Entries after the seq the page asked from.
    pub entries: Vec<ChatEntry>,
    /// The current marks.
    pub receipts: Receipts,
    /// Whether the other side types now.
    pub typing: [bool; 2],
    /// The open conversation's interaction, if one is open.
    pub interaction: Option<InteractionId>,
    /// Updates from now on.
    pub updates: broadcast::Receiver<ChatUpdate>,
}

/// A journal for transcript lines (the center's `journal_event`).
pub type Journal = Arc<dyn Fn(&TenantId, EventKind) + Send + Sync>;

struct Session {
    visitor: String,
    log: ChatLog,
    tx: broadcast::Sender<ChatUpdate>,
    /// The open conversation and when it started (ms).
    open: Option<(InteractionId, i64)>,
    /// Who joined the open conversation.
    joined: Option<String>,
    /// The last seq a flow said or read (its listening starts after it).
    bot_mark: u64,
    /// When the visitor last wrote or attached (ms): the idlest goes first
    /// when the hub is full.
    last_ms: i64,
    /// Identities the visitor proved (`proven.email` → address), given to
    /// each conversation it opens.
    proven: BTreeMap<String, String>,
    /// The conversations it opened, oldest first (at most
    /// [`MAX_INTERACTIONS`]): a transcript's sensitive slots are theirs.
    interactions: Vec<InteractionId>,
    /// When its transcript was last e-mailed (within the hour).
    transcript_mails: Vec<i64>,
}

/// Conversations remembered per session (for its transcript).
const MAX_INTERACTIONS: usize = 100;

#[derive(Default)]
struct HubState {
    sessions: HashMap<String, Session>,
    by_visitor: HashMap<String, String>,
    by_interaction: HashMap<InteractionId, String>,
    mail_budget: transcript::MailBudget,
}

/// Which session: the visitor's token, or an interaction the agent has.
#[derive(Debug, Clone, Copy)]
pub enum SessionKey<'a> {
    /// The visitor's secret token.
    Token(&'a str),
    /// An interaction of the session (the agent's view).
    Interaction(&'a InteractionId),
}

/// Web-chat sessions over a chat [`Inbox`]; see the module documentation.
pub struct ChatHub {
    inbox: Arc<Inbox>,
    limits: Limits,
    max_sessions: usize,
    clock: Arc<dyn Clock>,
    state: Mutex<HubState>,
    journal: OnceLock<Journal>,
    identity_secret: OnceLock<callcore::Pii<String>>,
    transcript_sender: OnceLock<Arc<dyn TranscriptSender>>,
    me: Weak<ChatHub>,
}

impl std::fmt::Debug for ChatHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatHub")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Updates buffered per watcher before it lags (then it re-reads the log).
const UPDATES: usize = 256;

impl ChatHub {
    /// A hub over `inbox` (a [`Channel::Chat`](callcore::Channel::Chat)
    /// inbox), which it becomes the outbox of.
    pub fn new(
        inbox: Arc<Inbox>,
        limits: Limits,
        max_sessions: usize,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let hub = Arc::new_cyclic(|me| Self {
            inbox: inbox.clone(),
            limits,
            max_sessions,
            clock,
            state: Mutex::new(HubState::default()),
            journal: OnceLock::new(),
            identity_secret: OnceLock::new(),
            transcript_sender: OnceLock::new(),
            me: me.clone(),
        });
        inbox.set_outbox(Arc::new(ChatOutbox(Arc::downgrade(&hub))));
        inbox.set_text_media(Arc::new(media::ChatMedia(Arc::downgrade(&hub))));
        hub
    }

    /// The chat inbox (a transport of the center).
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// The clock (milliseconds for rate windows and entries).
    pub fn now_ms(&self) -> i64 {
        self.clock.now().as_millis()
    }

    /// The limits of messages and files.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Journals transcript lines from now on (once; later calls are ignored).
    pub fn set_journal(&self, journal: Journal) {
        let _ = self.journal.set(journal);
    }

    /// Sets the secret websites sign visitors' identities with (once;
    /// later calls are ignored): `[chat] identity_secret`.
    pub fn set_identity_secret(&self, secret: callcore::Pii<String>) {
        let _ = self.identity_secret.set(secret);
    }

    /// The secret visitors' identities are signed with, if set.
    pub fn identity_secret(&self) -> Option<&str> {
        self.identity_secret.get().map(|s| s.expose().as_str())
    }

    /// The visitor of session `token` proved `value` as their identity of
    /// `kind` (the web layer checked the website's signature): each
    /// conversation the session opens from now on carries it as the
    /// `proven.<kind>` attribute, and the center files it under the profile
    /// known by it ([`callcore::PROVEN_IDENTITY`]).
    ///
    /// # Errors
    /// [`ChannelError::NoConversation`] for an unknown token.
    pub fn prove(
        &self,
        token: &str,
        kind: callcore::IdentityKind,
        value: &str,
    ) -> Result<(), ChannelError> {
        let mut st = self.state();
        let s = st
            .sessions
            .get_mut(token)
            .ok_or_else(|| ChannelError::NoConversation("chat session".into()))?;
        s.proven.insert(
            format!("{}{}", callcore::PROVEN_IDENTITY, kind.as_str()),
            value.to_owned(),
        );
        tracing::info!(kind = kind.as_str(), "chat visitor proved an identity");
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a session has this token.
    pub fn knows(&self, token: &str) -> bool {
        self.state().sessions.contains_key(token)
    }

    /// Starts a session for a new visitor: `token` (secret, from the web
    /// layer) and `visitor` (public) must both be new. When the hub holds its
    /// most sessions, the idlest one without an open conversation and
    /// without a page attached gives way.
    ///
    /// # Errors
    /// [`ChannelError::Unsendable`] when the hub holds its most sessions and
    /// none can give way, or the token or visitor id is taken.
    pub fn create(&self, token: &str, visitor: &str) -> Result<(), ChannelError> {
        let mut st = self.state();
        if st.sessions.len() >= self.max_sessions && !Self::evict_one(&mut st) {
            return Err(ChannelError::Unsendable(format!(
                "the chat holds its most sessions ({})",
                self.max_sessions
            )));
        }
        if st.sessions.contains_key(token) || st.by_visitor.contains_key(visitor) {
            return Err(ChannelError::Unsendable("session id taken".into()));
        }
        let (tx, _) = broadcast::channel(UPDATES);
        st.sessions.insert(
            token.to_owned(),
            Session {
                visitor: visitor.to_owned(),
                log: ChatLog::new(self.limits),
                tx,
                open: None,
                joined: None,
                bot_mark: 0,
                last_ms: self.now_ms(),
                proven: BTreeMap::new(),
                interactions: Vec::new(),
                transcript_mails: Vec::new(),
            },
        );
        st.by_visitor.insert(visitor.to_owned(), token.to_owned());
        Ok(())
    }

    /// Drops the idlest session with no open conversation and no page
    /// attached; false when there is none.
    fn evict_one(st: &mut HubState) -> bool {
        let idlest = st
            .sessions
            .iter()
            .filter(|(_, s)| s.open.is_none() && s.tx.receiver_count() == 0)
            .min_by_key(|(_, s)| s.last_ms)
            .map(|(t, _)| t.clone());
        let Some(token) = idlest else {
            return false;
        };
        if let Some(s) = st.sessions.remove(&token) {
            st.by_visitor.remove(&s.visitor);
        }
        st.by_interaction.retain(|_, t| *t != token);
        true
    }

    fn token_of(st: &HubState, key: SessionKey<'_>) -> Option<String> {
        match key {
            SessionKey::Token(t) => st.sessions.contains_key(t).then(|| t.to_owned()),
            SessionKey::Interaction(i) => st.by_interaction.get(i).cloned(),
        }
    }

    /// Attaches a page to a session: the entries after `since`, the state,
    /// and a receiver of what follows (taken together: nothing falls between).
    pub fn attach(&self, key: SessionKey<'_>, since: u64) -> Option<Attached> {
        let st = self.state();
        let token = Self::token_of(&st, key)?;
        let s = st.sessions.get(&token)?;
        Some(Attached {
            visitor: s.visitor.clone(),
            entries: s.log.since(since).to_vec(),
            receipts: s.log.receipts(),
            typing: [s.log.is_typing(Side::Visitor), s.log.is_typing(Side::Agent)],
            interaction: s.open.as_ref().map(|(i, _)| i.clone()),
            updates: s.tx.subscribe(),
        })
    }

    /// The open conversation of a session.
    pub fn interaction_of(&self, key: SessionKey<'_>) -> Option<InteractionId> {
        let st = self.state();
        let token = Self::token_of(&st, key)?;
        st.sessions
            .get(&token)?
            .open
            .as_ref()
            .map(|(i, _)| i.clone())
    }

    /// A file of a session's entry `seq`.
    pub fn file(&self, key: SessionKey<'_>, seq: u64) -> Option<ChatFile> {
        let st = self.state();
        let token = Self::token_of(&st, key)?;
        match &st.sessions.get(&token)?.log.entry(seq)?.kind {
            EntryKind::Message { file, .. } => file.clone(),
            _ => None,
        }
    }

    /// Posts a visitor's message: kept in the log (once per `client_id`),
    /// sent to the watchers, and handed to the inbox (a new conversation, or
    /// the open one).
    ///
    /// # Errors
    /// [`ChannelError::NoConversation`] for an unknown token,
    /// [`ChannelError::Refused`] for a refused message (what and why).
    pub fn visitor_post(&self, token: &str, mut post: Post) -> Result<Posted, ChannelError> {
        post.from = Side::Visitor;
        post.bot = false;
        let at = self.clock.now();
        let (posted, visitor, entry, proven) = {
            let mut st = self.state();
            let s = st
                .sessions
                .get_mut(token)
                .ok_or_else(|| ChannelError::NoConversation("chat session".into()))?;
            s.last_ms = at.as_millis();
            let posted = s
                .log
                .post(post, at.as_millis())
                .map_err(|e| ChannelError::refused("chat", e.to_string()))?;
            let entry = s.log.entry(posted.seq()).cloned();
            if let (Posted::New(_), Some(e)) = (posted, &entry) {
                let _ = s.tx.send(ChatUpdate::Entry(e.clone()));
            }
            (posted, s.visitor.clone(), entry, s.proven.clone())
        };
        let (Posted::New(seq), Some(entry)) = (posted, entry) else {
            return Ok(posted);
        };
        let EntryKind::Message { text, file, .. } = entry.kind else {
            return Ok(posted);
        };
        let attachments = file
            .into_iter()
            .map(|f| Attachment {
                name: f.name,
                content_type: f.content_type,
                size: f.size,
                data: f.data,
            })
            .collect();
        let opened = |id: &InteractionId| {
            let mut st = self.state();
            if let Some(s) = st.sessions.get_mut(token) {
                s.open = Some((id.clone(), at.as_millis()));
                s.joined = None;
                if s.interactions.len() >= MAX_INTERACTIONS {
                    s.interactions.remove(0);
                }
                s.interactions.push(id.clone());
            }
            st.by_interaction.insert(id.clone(), token.to_owned());
        };
        let delivered = self.inbox.receive_with(
            Received {
                customer: visitor.clone(),
                thread: vec![format!("chat:{visitor}")],
                message: Message {
                    id: format!("{visitor}#{seq}"),
                    direction: MessageDirection::Inbound,
                    at,
                    subject: None,
                    text: text.clone(),
                    attachments,
                },
            },
            proven,
            opened,
        );
        let id = delivered.interaction().clone();
        if let Delivered::New(_) = &delivered {
            self.watch_end(id.clone());
        }
        self.journal(&id, Speaker::Customer, &text);
        Ok(posted)
    }

    fn journal(&self, id: &InteractionId, speaker: Speaker, text: &str) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let started = {
            let st = self.state();
            st.by_interaction
                .get(id)
                .and_then(|t| st.sessions.get(t))
                .and_then(|s| s.open.as_ref().filter(|(i, _)| i == id).map(|(_, at)| *at))
        };
        let Some(tenant) = self.inbox.tenant_of(id) else {
            return;
        };
        let offset =
            u64::try_from(self.now_ms() - started.unwrap_or_else(|| self.now_ms())).unwrap_or(0);
        journal(
            &tenant,
            EventKind::TranscriptSegment {
                interaction: id.clone(),
                speaker,
                text: Pii::new(text.to_owned()),
                offset_ms: offset,
            },
        );
    }

    /// Adds the `ended` entry when the conversation ends (however it ends).
    fn watch_end(&self, id: InteractionId) {
        let Some(mut ended) = self.inbox.ended(&id) else {
            return;
        };
        let hub = self.me.clone();
        tokio::spawn(async move {
            loop {
                if ended.borrow_and_update().is_some() {
                    break;
                }
                if ended.changed().await.is_err() {
                    break;
                }
            }
            if let Some(hub) = hub.upgrade() {
                hub.conversation_ended(&id);
            }
        });
    }

    fn conversation_ended(&self, id: &InteractionId) {
        let mut st = self.state();
        let Some(token) = st.by_interaction.get(id).cloned() else {
            return;
        };
        let now = self.now_ms();
        if let Some(s) = st.sessions.get_mut(&token)
            && s.open.as_ref().is_some_and(|(i, _)| i == id)
        {
            s.open = None;
            s.joined = None;
            let _ = s.log.typing(Side::Agent, false);
            if let Ok(seq) = s.log.push(EntryKind::Ended, now)
                && let Some(e) = s.log.entry(seq)
            {
                let _ = s.tx.send(ChatUpdate::Entry(e.clone()));
            }
        }
    }

    /// An agent (or bot) writes in the session's open conversation.
    fn agent_post(
        &self,
        visitor: &str,
        text: &str,
        quick_replies: Vec<String>,
        bot: bool,
    ) -> Result<(InteractionId, u64), ChannelError> {
        let now = self.now_ms();
        let mut st = self.state();
        let token = st
            .by_visitor
            .get(visitor)
            .cloned()
            .ok_or_else(|| ChannelError::NoConversation("chat session".into()))?;
        let s = st
            .sessions
            .get_mut(&token)
            .ok_or_else(|| ChannelError::NoConversation("chat session".into()))?;
        let id = s
            .open
            .as_ref()
            .map(|(i, _)| i.clone())
            .ok_or_else(|| ChannelError::NoConversation("chat conversation".into()))?;
        let posted = s
            .log
            .post(
                Post {
                    from: Side::Agent,
                    text: text.to_owned(),
                    client_id: None,
                    file: None,
                    quick_replies,
                    bot,
                },
                now,
            )
            .map_err(|e| ChannelError::Unsendable(e.to_string()))?;
        if let Some(e) = s.log.entry(posted.seq()) {
            let _ = s.tx.send(ChatUpdate::Entry(e.clone()));
        }
        Ok((id, posted.seq()))
    }

    /// Says that `agent` took the session's open conversation (once per
    /// agent and conversation); the visitor's page shows it.
    pub fn joined(&self, interaction: &InteractionId, agent: &str) {
        let now = self.now_ms();
        let mut st = self.state();
        let Some(token) = st.by_interaction.get(interaction).cloned() else {
            return;
        };
        let Some(s) = st.sessions.get_mut(&token) else {
            return;
        };
        if s.open.as_ref().is_none_or(|(i, _)| i != interaction)
            || s.joined.as_deref() == Some(agent)
        {
            return;
        }
        s.joined = Some(agent.to_owned());
        if let Ok(seq) = s.log.push(
            EntryKind::Joined {
                agent: agent.to_owned(),
            },
            now,
        ) && let Some(e) = s.log.entry(seq)
        {
            let _ = s.tx.send(ChatUpdate::Entry(e.clone()));
        }
    }

    /// `side` started or stopped typing.
    pub fn typing(&self, key: SessionKey<'_>, side: Side, on: bool) {
        let mut st = self.state();
        let Some(token) = Self::token_of(&st, key) else {
            return;
        };
        if let Some(s) = st.sessions.get_mut(&token)
            && s.log.typing(side, on)
        {
            let _ = s.tx.send(ChatUpdate::State(ChatState::Typing { side, on }));
        }
    }

    /// `side` received (`read` false) or read everything up to `seq`.
    pub fn mark(&self, key: SessionKey<'_>, side: Side, seq: u64, read: bool) {
        let mut st = self.state();
        let Some(token) = Self::token_of(&st, key) else {
            return;
        };
        if let Some(s) = st.sessions.get_mut(&token) {
            let moved = if read {
                s.log.read(side, seq)
            } else {
                s.log.delivered(side, seq)
            };
            if moved {
                let _ =
                    s.tx.send(ChatUpdate::State(ChatState::Receipts(s.log.receipts())));
            }
        }
    }

    /// The visitor leaves: the open conversation ends.
    pub fn visitor_leaves(&self, token: &str) {
        if let Some(id) = self.interaction_of(SessionKey::Token(token)) {
            self.inbox.close(&id, HangupCause::Remote);
        }
    }

    /// A message of the bot (the IVR's menu on chat) with quick replies.
    ///
    /// # Errors
    /// [`ChannelError::NoConversation`] without an open conversation.
    pub fn bot_say(
        &self,
        interaction: &InteractionId,
        text: &str,
        quick_replies: Vec<String>,
    ) -> Result<u64, ChannelError> {
        let visitor = {
            let st = self.state();
            st.by_interaction
                .get(interaction)
                .and_then(|t| st.sessions.get(t))
                .map(|s| s.visitor.clone())
                .ok_or_else(|| ChannelError::NoConversation(interaction.to_string()))?
        };
        let (id, seq) = self.agent_post(&visitor, text, quick_replies, true)?;
        self.journal(&id, Speaker::Bot, text);
        Ok(seq)
    }

    /// The last seq a flow said or read in the session of `interaction`.
    pub(crate) fn bot_mark(&self, interaction: &InteractionId) -> Option<u64> {
        let st = self.state();
        let token = st.by_interaction.get(interaction)?;
        st.sessions.get(token).map(|s| s.bot_mark)
    }

    pub(crate) fn set_bot_mark(&self, interaction: &InteractionId, seq: u64) {
        let mut st = self.state();
        if let Some(token) = st.by_interaction.get(interaction).cloned()
            && let Some(s) = st.sessions.get_mut(&token)
        {
            s.bot_mark = s.bot_mark.max(seq);
        }
    }

    /// Sessions held.
    pub fn sessions(&self) -> usize {
        self.state().sessions.len()
    }
}

/// The chat inbox's outbox: an agent's reply goes into the visitor's log.
#[derive(Debug)]
struct ChatOutbox(Weak<ChatHub>);

#[async_trait]
impl Outbox for ChatOutbox {
    async fn send(&self, reply: &Outgoing) -> Result<String, ChannelError> {
        let hub = self
            .0
            .upgrade()
            .ok_or_else(|| ChannelError::Unsendable("the chat has stopped".into()))?;
        let (id, seq) = hub.agent_post(&reply.customer, &reply.text, Vec::new(), false)?;
        hub.journal(&id, Speaker::Agent, &reply.text);
        Ok(format!("{}#{seq}", reply.customer))
    }
}

#[cfg(test)]
mod tests;
