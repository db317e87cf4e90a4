//! The signalling seam between browser agents and the WebRTC transport,
//! independent of HTTP: [`BrowserPhones`] knows which agents have a browser
//! session open, hands each call's SDP offer to the agent's newest session and
//! brings back the browser's answer, decline or hang-up.
//!
//! ```
//! # async fn demo() {
//! use callcore::AgentId;
//! use callcore_webrtc::{BrowserPhones, FromBrowser, ToBrowser};
//! let phones = BrowserPhones::new();
//! let mut session = phones.connect(AgentId::new("1001"));
//! assert!(phones.is_connected(&AgentId::new("1001")));
//! // ... the transport offers a call; the page answers it:
//! if let Some(ToBrowser::Offer { call, .. }) = session.next().await {
//!     session.send(FromBrowser::Answer { call, sdp: "v=0 ...".into() });
//! }
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use callcore::AgentId;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

/// A message from the center to a browser phone (JSON over the WebSocket:
/// `{"type":"offer","call":"…","sdp":"…","from":"…"}`, `{"type":"hangup","call":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToBrowser {
    /// A call rings: answer it with the SDP answer to `sdp` (non-trickle: every
    /// candidate is in the offer), or decline it.
    Offer {
        /// The call's id, named in every later message about it.
        call: String,
        /// The SDP offer.
        sdp: String,
        /// Who calls, as the center presents it.
        from: String,
    },
    /// The call ended on the center's side (the caller hung up, the offer
    /// timed out or went to another agent).
    Hangup {
        /// The call.
        call: String,
    },
}

/// A message from a browser phone to the center (JSON:
/// `{"type":"answer","call":"…","sdp":"…"}`, `{"type":"decline","call":"…"}`,
/// `{"type":"hangup","call":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FromBrowser {
    /// The agent accepted the call: the SDP answer (with its candidates).
    Answer {
        /// The call.
        call: String,
        /// The SDP answer.
        sdp: String,
    },
    /// The agent declined the ringing call.
    Decline {
        /// The call.
        call: String,
    },
    /// The agent hung up (or the page closed the call).
    Hangup {
        /// The call.
        call: String,
    },
}

/// What the browser made of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Answered with this SDP.
    Answered(String),
    /// Declined.
    Declined,
    /// Hung up before answering, or the session closed.
    Gone,
}

/// Where a connected browser session of an agent receives offers and hang-ups
/// and sends its replies. Dropping it disconnects the session: its calls end.
pub struct BrowserSession {
    agent: AgentId,
    id: u64,
    rx: mpsc::UnboundedReceiver<ToBrowser>,
    phones: BrowserPhones,
}

impl fmt::Debug for BrowserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserSession")
            .field("agent", &self.agent)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl BrowserSession {
    /// The agent whose browser this is.
    pub fn agent(&self) -> &AgentId {
        &self.agent
    }

    /// The next message for the browser; `None` once the registry dropped the
    /// session (a newer one does not replace it: both stay, the newest rings).
    pub async fn next(&mut self) -> Option<ToBrowser> {
        self.rx.recv().await
    }

    /// Hands the browser's message to the call it names. Messages about calls
    /// this session was not offered are ignored.
    pub fn send(&self, message: FromBrowser) {
        self.phones.reply(&self.agent, self.id, message);
    }
}

impl Drop for BrowserSession {
    fn drop(&mut self) {
        self.phones.disconnect(&self.agent, self.id);
    }
}

/// One call offered to a browser session.
struct CallSlot {
    agent: AgentId,
    session: u64,
    /// Until the browser replies.
    reply: Option<oneshot::Sender<Reply>>,
    /// Set once the browser hung up (or its session closed) after answering.
    gone: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    /// Each agent's open sessions, oldest first.
    sessions: HashMap<AgentId, Vec<(u64, mpsc::UnboundedSender<ToBrowser>)>>,
    calls: HashMap<String, CallSlot>,
    next_session: u64,
}

/// The registry of browser phones (cheap to clone; every clone is the same
/// registry): the WebRTC transport offers calls through it, the WebSocket
/// route ([`crate::phone_routes`]) connects browsers to it.
#[derive(Clone)]
pub struct BrowserPhones {
    inner: Arc<Mutex<Inner>>,
    connected: Arc<watch::Sender<BTreeSet<AgentId>>>,
}

impl Default for BrowserPhones {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BrowserPhones {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserPhones")
            .field("connected", &*self.connected.borrow())
            .finish_non_exhaustive()
    }
}

/// A call offered to a browser, as the transport waits on it.
pub(crate) struct Offered {
    pub(crate) reply: oneshot::Receiver<Reply>,
    pub(crate) gone: watch::Receiver<bool>,
}

impl BrowserPhones {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            connected: Arc::new(watch::channel(BTreeSet::new()).0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a browser session for `agent` (after the caller authenticated it).
    #[must_use]
    pub fn connect(&self, agent: AgentId) -> BrowserSession {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut inner = self.lock();
            inner.next_session += 1;
            let id = inner.next_session;
            inner
                .sessions
                .entry(agent.clone())
                .or_default()
                .push((id, tx));
            id
        };
        self.publish();
        tracing::debug!(agent = %agent, session = id, "browser phone connected");
        BrowserSession {
            agent,
            id,
            rx,
            phones: self.clone(),
        }
    }

    /// Whether `agent` has a browser session open.
    pub fn is_connected(&self, agent: &AgentId) -> bool {
        self.lock()
            .sessions
            .get(agent)
            .is_some_and(|s| !s.is_empty())
    }

    /// The agents with a browser open, now and as it changes (presence: an
    /// assembly makes them reachable while connected).
    pub fn watch_connected(&self) -> watch::Receiver<BTreeSet<AgentId>> {
        self.connected.subscribe()
    }

    fn publish(&self) {
        let now: BTreeSet<AgentId> = self
            .lock()
            .sessions
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(a, _)| a.clone())
            .collect();
        self.connected.send_if_modified(|c| {
            let changed = *c != now;
            *c = now;
            changed
        });
    }

    /// Offers `call` to the newest session of `agent`; `None` when it has none.
    pub(crate) fn offer(
        &self,
        agent: &AgentId,
        call: &str,
        sdp: &str,
        from: &str,
    ) -> Option<Offered> {
        let mut inner = self.lock();
        let (session, tx) = inner.sessions.get(agent)?.last()?.clone();
        let (reply_tx, reply_rx) = oneshot::channel();
        let (gone_tx, gone_rx) = watch::channel(false);
        tx.send(ToBrowser::Offer {
            call: call.to_owned(),
            sdp: sdp.to_owned(),
            from: from.to_owned(),
        })
        .ok()?;
        inner.calls.insert(
            call.to_owned(),
            CallSlot {
                agent: agent.clone(),
                session,
                reply: Some(reply_tx),
                gone: gone_tx,
            },
        );
        Some(Offered {
            reply: reply_rx,
            gone: gone_rx,
        })
    }

    /// The center ended `call` (or gave up ringing): the browser is told, and
    /// the call is forgotten.
    pub(crate) fn end(&self, call: &str) {
        let mut inner = self.lock();
        let Some(slot) = inner.calls.remove(call) else {
            return;
        };
        if let Some((_, tx)) = inner
            .sessions
            .get(&slot.agent)
            .and_then(|s| s.iter().find(|(id, _)| *id == slot.session))
        {
            let _ = tx.send(ToBrowser::Hangup {
                call: call.to_owned(),
            });
        }
    }

    fn reply(&self, agent: &AgentId, session: u64, message: FromBrowser) {
        let (call, reply) = match message {
            FromBrowser::Answer { call, sdp } => (call, Reply::Answered(sdp)),
            FromBrowser::Decline { call } => (call, Reply::Declined),
            FromBrowser::Hangup { call } => (call, Reply::Gone),
        };
        let mut inner = self.lock();
        let Some(slot) = inner.calls.get_mut(&call) else {
            return;
        };
        if slot.agent != *agent || slot.session != session {
            return;
        }
        match slot.reply.take() {
            Some(tx) => {
                let answered = matches!(reply, Reply::Answered(_));
                let _ = tx.send(reply);
                if !answered {
                    inner.calls.remove(&call);
                }
            }
            None if reply == Reply::Gone => {
                let _ = slot.gone.send(true);
                inner.calls.remove(&call);
            }
            None => {} // a second answer: ignored
        }
    }

    fn disconnect(&self, agent: &AgentId, session: u64) {
        {
            let mut inner = self.lock();
            if let Some(s) = inner.sessions.get_mut(agent) {
                s.retain(|(id, _)| *id != session);
                if s.is_empty() {
                    inner.sessions.remove(agent);
                }
            }
            // its calls end: ringing ones are gone, answered ones hang up
            let calls: Vec<String> = inner
                .calls
                .iter()
                .filter(|(_, c)| c.session == session && c.agent == *agent)
                .map(|(k, _)| k.clone())
                .collect();
            for call in calls {
                if let Some(mut slot) = inner.calls.remove(&call) {
                    match slot.reply.take() {
                        Some(tx) => {
                            let _ = tx.send(Reply::Gone);
                        }
                        None => {
                            let _ = slot.gone.send(true);
                        }
                    }
                }
            }
        }
        self.publish();
        tracing::debug!(agent = %agent, session, "browser phone disconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn an_offer_reaches_the_newest_session_and_its_answer_comes_back() {
        let phones = BrowserPhones::new();
        let agent = AgentId::new("1001");
        assert!(
            phones.offer(&agent, "c1", "sdp", "x").is_none(),
            "no browser"
        );
        let old = phones.connect(agent.clone());
        let mut new = phones.connect(agent.clone());
        let offered = phones
            .offer(&agent, "c1", "offer-sdp", "caller")
            .expect("offered");
        let Some(ToBrowser::Offer { call, sdp, .. }) = new.next().await else {
            panic!("the newest session rings");
        };
        assert_eq!((call.as_str(), sdp.as_str()), ("c1", "offer-sdp"));
        // the old session cannot answer a call it was not offered
        old.send(FromBrowser::Answer {
            call: "c1".into(),
            sdp: "bogus".into(),
        });
        new.send(FromBrowser::Answer {
            call: "c1".into(),
            sdp: "answer-sdp".into(),
        });
        assert_eq!(
            offered.reply.await.ok(),
            Some(Reply::Answered("answer-sdp".into()))
        );
        // the browser hangs up later
        let mut gone = offered.gone;
        new.send(FromBrowser::Hangup { call: "c1".into() });
        gone.wait_for(|g| *g).await.expect("hung up");
        drop(old);
        assert!(phones.is_connected(&agent));
        drop(new);
        assert!(!phones.is_connected(&agent));
        assert!(phones.watch_connected().borrow().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_decline_and_a_closed_session_end_the_offer() {
        let phones = BrowserPhones::new();
        let agent = AgentId::new("7");
        let mut s = phones.connect(agent.clone());
        let offered = phones.offer(&agent, "a", "sdp", "x").expect("offered");
        s.send(FromBrowser::Decline { call: "a".into() });
        assert_eq!(offered.reply.await.ok(), Some(Reply::Declined));
        let offered = phones.offer(&agent, "b", "sdp", "x").expect("offered");
        phones.end("b");
        for call in ["a", "b"] {
            assert!(matches!(s.next().await, Some(ToBrowser::Offer { call: c, .. }) if c == call));
        }
        assert_eq!(
            s.next().await,
            Some(ToBrowser::Hangup { call: "b".into() }),
            "the center's end reaches the page"
        );
        drop(offered);
        let offered = phones.offer(&agent, "c", "sdp", "x").expect("offered");
        drop(s);
        assert_eq!(offered.reply.await.ok(), Some(Reply::Gone));
    }

    #[test]
    fn messages_are_the_documented_json() {
        let m: FromBrowser =
            serde_json::from_str(r#"{"type":"answer","call":"c","sdp":"v=0"}"#).expect("json");
        assert_eq!(
            m,
            FromBrowser::Answer {
                call: "c".into(),
                sdp: "v=0".into()
            }
        );
        let out = serde_json::to_string(&ToBrowser::Hangup { call: "c".into() }).expect("json");
        assert_eq!(out, r#"{"type":"hangup","call":"c"}"#);
        assert!(serde_json::from_str::<FromBrowser>(r#"{"type":"dance"}"#).is_err());
    }
}
