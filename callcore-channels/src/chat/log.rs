//! The sans-IO record of one web-chat session: every message numbered in
//! order (`seq`, from 1) so that a client that reconnects asks for what
//! came after the last number it saw and loses nothing; the visitor's own
//! message ids (`client_id`) so that a message sent again after a dropped
//! connection is kept once; delivery and read marks per side; typing.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The website's visitor (the customer).
    Visitor,
    /// The agent (or the bot) on the center's side.
    Agent,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Visitor => 0,
            Side::Agent => 1,
        }
    }

    /// The other side.
    #[must_use]
    pub fn other(self) -> Side {
        match self {
            Side::Visitor => Side::Agent,
            Side::Agent => Side::Visitor,
        }
    }
}

/// A file sent in a chat (its content stays on the server; the desktop
/// downloads it).
#[derive(Clone, Serialize)]
pub struct ChatFile {
    /// Its name as the visitor's browser gave it (at most 200 characters).
    pub name: String,
    /// Its MIME type as given (only stored and echoed; never served inline).
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
    /// Its content.
    #[serde(skip)]
    pub data: Arc<[u8]>,
}

impl std::fmt::Debug for ChatFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatFile")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// One numbered entry of a chat.
#[derive(Clone, Serialize)]
pub struct ChatEntry {
    /// Its number in the session, from 1, without gaps.
    pub seq: u64,
    /// When (milliseconds since the epoch).
    pub at_ms: i64,
    /// What it is.
    #[serde(flatten)]
    pub kind: EntryKind,
}

impl std::fmt::Debug for ChatEntry {
    // the text is the customer's words: not in logs
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatEntry")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// What an entry is.
#[derive(Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    /// A message.
    Message {
        /// Who wrote it.
        from: Side,
        /// Its text (may be empty when a file came alone).
        text: String,
        /// The sender's own id of it (the visitor's page numbers its
        /// messages), echoed so that the page matches it to its draft.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// A file that came with it.
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<ChatFile>,
        /// Quick replies offered with it (a menu's options).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        quick_replies: Vec<String>,
        /// Written by the center's bot (a flow), not by an agent.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        bot: bool,
    },
    /// An agent took the conversation.
    Joined {
        /// The agent's display name or id.
        agent: String,
    },
    /// The conversation ended (a later message starts a new one).
    Ended,
}

impl std::fmt::Debug for EntryKind {
    // the text is the customer's words: not in logs
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryKind::Message { from, file, .. } => f
                .debug_struct("Message")
                .field("from", from)
                .field("file", &file.is_some())
                .finish_non_exhaustive(),
            EntryKind::Joined { .. } => f.write_str("Joined"),
            EntryKind::Ended => f.write_str("Ended"),
        }
    }
}

/// The delivery and read marks of a session: for each side, the highest
/// `seq` of the other side's messages it has received and has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Receipts {
    /// The visitor's page received the agent's messages up to this seq.
    pub visitor_delivered: u64,
    /// The visitor read them up to this seq.
    pub visitor_read: u64,
    /// The agent's desktop received the visitor's messages up to this seq.
    pub agent_delivered: u64,
    /// The agent read them up to this seq.
    pub agent_read: u64,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No text and no file.
    #[error("text: a message needs text or a file")]
    Empty,
    /// The text is longer than the limit.
    #[error("text: at most {0} characters")]
    TooLong(usize),
    /// The file is larger than the limit.
    #[error("file: {size} bytes, over the {limit} byte limit")]
    FileTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The `client_id` is unusable (empty or over 64 characters).
    #[error("client_id: 1-64 characters")]
    BadClientId,
    /// The session holds as many entries as it may.
    #[error("the chat is full ({0} entries)")]
    Full(usize),
}

/// What [`ChatLog::post`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// A new entry with this seq.
    New(u64),
    /// The same `client_id` was posted before, as this seq: nothing added.
    Again(u64),
}

impl Posted {
    /// The message's seq.
    #[must_use]
    pub fn seq(self) -> u64 {
        match self {
            Posted::New(s) | Posted::Again(s) => s,
        }
    }
}

/// Limits of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest text, in characters.
    pub max_text_chars: usize,
    /// The largest file, in bytes.
    pub max_file_bytes: usize,
    /// The most entries a session keeps.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_chars: 4000,
            max_file_bytes: 1 << 20,
            max_entries: 5000,
        }
    }
}

/// A message to post.
#[derive(Debug, Clone)]
pub struct Post {
    /// Who writes it.
    pub from: Side,
    /// Its text (trimmed).
    pub text: String,
    /// The sender's id of it (dedupes a resend).
    pub client_id: Option<String>,
    /// A file.
    pub file: Option<ChatFile>,
    /// Quick replies offered with it.
    pub quick_replies: Vec<String>,
    /// Written by the center's bot.
    pub bot: bool,
}

/// The numbered record of one chat session; see the module documentation.
#[derive(Debug, Default)]
pub struct ChatLog {
    limits: Limits,
    entries: Vec<ChatEntry>,
    client_ids: HashMap<String, u64>,
    delivered: [u64; 2],
    read: [u64; 2],
    typing: [bool; 2],
}

impl ChatLog {
    /// An empty log with these limits.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The last seq (0 when empty).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Checks and appends a message, or finds the earlier one with the same
    /// `client_id` (a page sending again what it sent before a reconnect).
    ///
    /// # Errors
    /// A [`Refusal`] naming what is wrong; nothing is added then.
    pub fn post(&mut self, post: Post, at_ms: i64) -> Result<Posted, Refusal> {
        if let Some(id) = &post.client_id {
            if id.is_empty() || id.chars().count() > 64 {
                return Err(Refusal::BadClientId);
            }
            if let Some(seq) = self.client_ids.get(id) {
                return Ok(Posted::Again(*seq));
            }
        }
        let text = post.text.trim().to_owned();
        if text.is_empty() && post.file.is_none() {
            return Err(Refusal::Empty);
        }
        if text.chars().count() > self.limits.max_text_chars {
            return Err(Refusal::TooLong(self.limits.max_text_chars));
        }
        if let Some(f) = &post.file
            && f.size > self.limits.max_file_bytes
        {
            return Err(Refusal::FileTooLarge {
                size: f.size,
                limit: self.limits.max_file_bytes,
            });
        }
        let seq = self.push(
            EntryKind::Message {
                from: post.from,
                text,
                client_id: post.client_id.clone(),
                file: post.file,
                quick_replies: post.quick_replies,
                bot: post.bot,
            },
            at_ms,
        )?;
        if let Some(id) = post.client_id {
            self.client_ids.insert(id, seq);
        }
        // writing ends one's typing
        self.typing[post.from.index()] = false;
        Ok(Posted::New(seq))
    }

    /// Appends an entry that is not a message (joined, ended).
    ///
    /// # Errors
    /// [`Refusal::Full`] when the session holds its most entries.
    pub fn push(&mut self, kind: EntryKind, at_ms: i64) -> Result<u64, Refusal> {
        if self.entries.len() >= self.limits.max_entries {
            return Err(Refusal::Full(self.limits.max_entries));
        }
        let seq = self.last_seq() + 1;
        self.entries.push(ChatEntry { seq, at_ms, kind });
        Ok(seq)
    }

    /// The entries after `seq`, oldest first (a reconnecting page's resume).
    #[must_use]
    pub fn since(&self, seq: u64) -> &[ChatEntry] {
        let from = usize::try_from(seq)
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        &self.entries[from..]
    }

    /// The entry numbered `seq`.
    #[must_use]
    pub fn entry(&self, seq: u64) -> Option<&ChatEntry> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.entries.get(i)
    }

    /// `side` received everything up to `seq`; true when its mark moved.
    /// Marks only move forward and never past the last entry.
    pub fn delivered(&mut self, side: Side, seq: u64) -> bool {
        let seq = seq.min(self.last_seq());
        let i = side.index();
        if seq > self.delivered[i] {
            self.delivered[i] = seq;
            true
        } else {
            false
        }
    }

    /// `side` read everything up to `seq` (reading implies receiving); true
    /// when a mark moved.
    pub fn read(&mut self, side: Side, seq: u64) -> bool {
        let seq = seq.min(self.last_seq());
        let i = side.index();
        let moved = self.delivered(side, seq);
        if seq > self.read[i] {
            self.read[i] = seq;
            true
        } else {
            moved
        }
    }

    /// The delivery and read marks.
    #[must_use]
    pub fn receipts(&self) -> Receipts {
        Receipts {
            visitor_delivered: self.delivered[0],
            visitor_read: self.read[0],
            agent_delivered: self.delivered[1],
            agent_read: self.read[1],
        }
    }

    /// `side` started or stopped typing; true when that changed.
    pub fn typing(&mut self, side: Side, on: bool) -> bool {
        let i = side.index();
        let changed = self.typing[i] != on;
        self.typing[i] = on;
        changed
    }

    /// Whether `side` is typing.
    #[must_use]
    pub fn is_typing(&self, side: Side) -> bool {
        self.typing[side.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(from: Side, t: &str, id: Option<&str>) -> Post {
        Post {
            from,
            text: t.into(),
            client_id: id.map(str::to_owned),
            file: None,
            quick_replies: Vec::new(),
            bot: false,
        }
    }

    fn file(size: usize) -> ChatFile {
        ChatFile {
            name: "a.png".into(),
            content_type: "image/png".into(),
            size,
            data: vec![0u8; size].into(),
        }
    }

    #[test]
    fn messages_are_numbered_and_a_resend_is_kept_once() {
        let mut log = ChatLog::new(Limits::default());
        assert_eq!(
            log.post(text(Side::Visitor, " hi ", Some("c1")), 1),
            Ok(Posted::New(1))
        );
        assert_eq!(
            log.post(text(Side::Agent, "hello", None), 2),
            Ok(Posted::New(2))
        );
        // the page lost its connection before the ack and sends c1 again
        assert_eq!(
            log.post(text(Side::Visitor, "hi", Some("c1")), 3),
            Ok(Posted::Again(1))
        );
        assert_eq!(log.last_seq(), 2);
        let seqs: Vec<u64> = log.since(1).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2]);
        assert!(log.since(2).is_empty());
        assert!(log.since(u64::MAX).is_empty());
        assert_eq!(log.since(0).len(), 2);
        let json = serde_json::to_value(&log.since(0)[0]).unwrap_or_default();
        assert_eq!(json["type"], "message");
        assert_eq!(json["from"], "visitor");
        assert_eq!(json["text"], "hi");
        assert_eq!(json["client_id"], "c1");
    }

    #[test]
    fn bad_messages_are_refused_and_add_nothing() {
        let limits = Limits {
            max_text_chars: 5,
            max_file_bytes: 10,
            max_entries: 3,
        };
        let mut log = ChatLog::new(limits);
        assert_eq!(
            log.post(text(Side::Visitor, "   ", None), 1),
            Err(Refusal::Empty)
        );
        assert_eq!(
            log.post(text(Side::Visitor, "123456", None), 1),
            Err(Refusal::TooLong(5))
        );
        assert_eq!(
            log.post(text(Side::Visitor, "x", Some("")), 1),
            Err(Refusal::BadClientId)
        );
        let mut big = text(Side::Visitor, "", None);
        big.file = Some(file(11));
        assert_eq!(
            log.post(big, 1),
            Err(Refusal::FileTooLarge {
                size: 11,
                limit: 10
            })
        );
        let mut ok = text(Side::Visitor, "", Some("f"));
        ok.file = Some(file(10));
        assert_eq!(log.post(ok, 1), Ok(Posted::New(1)));
        assert_eq!(log.last_seq(), 1);
        assert!(log.push(EntryKind::Ended, 2).is_ok());
        assert!(log.push(EntryKind::Ended, 2).is_ok());
        assert_eq!(
            log.post(text(Side::Agent, "x", None), 3),
            Err(Refusal::Full(3))
        );
    }

    #[test]
    fn receipts_move_forward_only_and_reading_implies_delivery() {
        let mut log = ChatLog::new(Limits::default());
        for i in 0..4 {
            let _ = log.post(text(Side::Agent, "m", None), i);
        }
        assert!(log.delivered(Side::Visitor, 2));
        assert!(!log.delivered(Side::Visitor, 1));
        assert!(log.read(Side::Visitor, 3));
        // past the end: clamped
        assert!(log.read(Side::Visitor, 99));
        assert_eq!(
            log.receipts(),
            Receipts {
                visitor_delivered: 4,
                visitor_read: 4,
                agent_delivered: 0,
                agent_read: 0
            }
        );
        assert!(!log.read(Side::Visitor, 4));
    }

    #[test]
    fn typing_changes_and_ends_with_a_message() {
        let mut log = ChatLog::new(Limits::default());
        assert!(log.typing(Side::Visitor, true));
        assert!(!log.typing(Side::Visitor, true));
        assert!(log.is_typing(Side::Visitor));
        let _ = log.post(text(Side::Visitor, "done", None), 1);
        assert!(!log.is_typing(Side::Visitor));
    }
}
