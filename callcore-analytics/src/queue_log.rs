//! A `queue_log`-style flat journal, one line per queue or agent event, in
//! the format of Asterisk's `queue_log` so that existing tools can tail it:
//!
//! ```text
//! epoch|callid|queue|agent|EVENT|data1|data2|...
//! 1700038800|c1|support|NONE|ENTERQUEUE|||1
//! 1700038812|c1|support|alice|CONNECT|12||12
//! 1700038930|c1|support|alice|COMPLETECALLER|12|118|1
//! ```
//!
//! Asterisk's verbs are used with Asterisk's data fields where an event has
//! one (`ENTERQUEUE`, `CONNECT`, `RINGNOANSWER`, `RINGCANCELED`, `ABANDON`,
//! `EXITWITHTIMEOUT`, `EXITEMPTY`, `FULL`, `COMPLETECALLER`, `COMPLETEAGENT`,
//! `BLINDTRANSFER`, `AGENTLOGIN`, `AGENTLOGOFF`, `PAUSE`, `UNPAUSE`,
//! `ADDMEMBER`, `REMOVEMEMBER`, and `QUEUESTART` when a run starts);
//! callcore's other queue and agent events use these extra verbs, which
//! Asterisk tools skip: `OFFER`, `ACCEPT`, `HOLD`, `UNHOLD`, `WRAPUPSTART`,
//! `WRAPUPEND`, `DISPOSITION`, `AGENTSTATE`, `QUEUEADD`, `QUEUEREMOVE`.
//! `docs/queue_log.md` compares each line with what Asterisk writes. Caller numbers are never written (`ENTERQUEUE`
//! leaves the caller-id field empty): the file is for tools, not for personal
//! data.

use crate::AnalyticsError;
use callcore::{
    AgentState, EndReason, Event, EventKind, InteractionId, OfferEnd, QueueId, TenantId, Timestamp,
};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::str::FromStr;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLogLine {
    /// Unix time, seconds.
    pub time: i64,
    /// The interaction id, or `NONE`.
    pub call_id: String,
    /// The queue, or `NONE`.
    pub queue: String,
    /// The agent, or `NONE`.
    pub agent: String,
    /// The verb (`ENTERQUEUE`, `CONNECT` ...).
    pub event: String,
    /// The verb's data fields.
    pub data: Vec<String>,
}

fn clean(s: &str) -> String {
    s.replace(['|', '\n', '\r'], "_")
}

impl fmt::Display for QueueLogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}",
            self.time,
            clean(&self.call_id),
            clean(&self.queue),
            clean(&self.agent),
            clean(&self.event)
        )?;
        for d in &self.data {
            write!(f, "|{}", clean(d))?;
        }
        Ok(())
    }
}

impl FromStr for QueueLogLine {
    type Err = AnalyticsError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| AnalyticsError::QueueLogParse {
            line: 0,
            reason: reason.to_owned(),
        };
        let mut parts = line.trim_end_matches(['\r', '\n']).split('|');
        let time = parts
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("the first field must be a Unix time in seconds"))?;
        let mut field = |name: &str| {
            parts
                .next()
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("missing {name}")))
        };
        let call_id = field("call id")?;
        let queue = field("queue")?;
        let agent = field("agent")?;
        let event = field("event")?;
        if event.is_empty() {
            return Err(bad("empty event"));
        }
        Ok(Self {
            time,
            call_id,
            queue,
            agent,
            event,
            data: parts.map(str::to_owned).collect(),
        })
    }
}

/// Parses a whole `queue_log` file, naming the line of the first error.
///
/// # Errors
/// [`AnalyticsError::QueueLogParse`] with the 1-based line number.
pub fn parse(text: &str) -> Result<Vec<QueueLogLine>, AnalyticsError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            l.parse().map_err(|e| match e {
                AnalyticsError::QueueLogParse { reason, .. } => AnalyticsError::QueueLogParse {
                    line: n + 1,
                    reason,
                },
                other => other,
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Call {
    queue: Option<QueueId>,
    position: u32,
    queued_at: Option<Timestamp>,
    offered_at: Option<Timestamp>,
    wait_secs: u64,
    connected_at: Option<Timestamp>,
    agent: Option<String>,
    /// A consultation is open: a transfer now is an attended one.
    consulting: bool,
    /// Transferred: as in Asterisk, the call has left the queue's agent
    /// (no CONNECT or COMPLETE lines follow for it).
    transferred: bool,
}

/// Turns events into `queue_log` lines (sans-IO: no files, no clock). Keeps
/// what it needs per call (queue, position, times) to fill the data fields.
#[derive(Debug, Default, Clone)]
pub struct QueueLog {
    calls: HashMap<(TenantId, InteractionId), Call>,
    logins: HashMap<(TenantId, callcore::AgentId), Timestamp>,
}

fn secs(later: Timestamp, earlier: Option<Timestamp>) -> u64 {
    earlier.map_or(0, |e| later.duration_since(e).as_secs())
}

impl QueueLog {
    /// A translator with no calls in progress.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The lines for one event (none for events that are not about queues or
    /// agents).
    #[allow(clippy::too_many_lines)]
    pub fn lines(&mut self, e: &Event) -> Vec<QueueLogLine> {
        let time = e.at.as_millis().div_euclid(1000);
        let line =
            |call: &str, queue: &str, agent: &str, event: &str, data: Vec<String>| QueueLogLine {
                time,
                call_id: call.to_owned(),
                queue: queue.to_owned(),
                agent: agent.to_owned(),
                event: event.to_owned(),
                data,
            };
        let key = |i: &InteractionId| (e.tenant.clone(), i.clone());
        let none = "NONE";
        match &e.kind {
            EventKind::Queued {
                interaction,
                queue,
                position,
                ..
            } => {
                let call = self.calls.entry(key(interaction)).or_insert(Call {
                    queue: None,
                    position: *position,
                    queued_at: None,
                    offered_at: None,
                    wait_secs: 0,
                    connected_at: None,
                    agent: None,
                    consulting: false,
                    transferred: false,
                });
                call.queue = Some(queue.clone());
                call.position = *position;
                call.queued_at = Some(e.at);
                vec![line(
                    interaction.as_str(),
                    queue.as_str(),
                    none,
                    "ENTERQUEUE",
                    vec![String::new(), String::new(), position.to_string()],
                )]
            }
            EventKind::Offered {
                interaction,
                queue,
                agent,
                reservation,
                ..
            } => {
                if let Some(c) = self.calls.get_mut(&key(interaction)) {
                    c.offered_at = Some(e.at);
                }
                vec![line(
                    interaction.as_str(),
                    queue.as_str(),
                    agent.as_str(),
                    "OFFER",
                    vec![reservation.to_string()],
                )]
            }
            EventKind::OfferAccepted {
                interaction,
                agent,
                reservation,
            } => {
                let q = self.queue_of(&key(interaction));
                vec![line(
                    interaction.as_str(),
                    &q,
                    agent.as_str(),
                    "ACCEPT",
                    vec![reservation.to_string()],
                )]
            }
            EventKind::OfferEnded {
                interaction,
                agent,
                outcome,
                ..
            } => {
                let ring_ms = self
                    .calls
                    .get(&key(interaction))
                    .and_then(|c| c.offered_at)
                    .map_or(0, |o| e.at.duration_since(o).as_millis());
                let verb = match outcome {
                    OfferEnd::Canceled | OfferEnd::Rescinded => "RINGCANCELED",
                    _ => "RINGNOANSWER",
                };
                let q = self.queue_of(&key(interaction));
                vec![line(
                    interaction.as_str(),
                    &q,
                    agent.as_str(),
                    verb,
                    vec![ring_ms.to_string()],
                )]
            }
            EventKind::Connected {
                interaction,
                agent,
                queue,
            } => {
                if let Some(c) = self.calls.get_mut(&key(interaction))
                    && c.transferred
                    && c.queued_at.is_none()
                {
                    // an agent took the transferred call directly: Asterisk
                    // writes nothing more for it
                    return vec![];
                }
                let (wait, ring) = self.calls.get_mut(&key(interaction)).map_or((0, 0), |c| {
                    c.transferred = false;
                    let wait = secs(e.at, c.queued_at.take());
                    c.wait_secs = wait;
                    c.connected_at = Some(e.at);
                    c.agent = Some(agent.as_str().to_owned());
                    (wait, secs(e.at, c.offered_at))
                });
                vec![line(
                    interaction.as_str(),
                    queue.as_str(),
                    agent.as_str(),
                    "CONNECT",
                    vec![wait.to_string(), String::new(), ring.to_string()],
                )]
            }
            EventKind::Abandoned { interaction, queue } => {
                let (wait, pos) = self.leave(&key(interaction), e.at);
                vec![line(
                    interaction.as_str(),
                    queue.as_str(),
                    none,
                    "ABANDON",
                    vec![pos.to_string(), pos.to_string(), wait.to_string()],
                )]
            }
            EventKind::QueueExited {
                interaction,
                queue,
                reason,
            } => {
                let (wait, pos) = self.leave(&key(interaction), e.at);
                let mut data = vec![pos.to_string(), pos.to_string(), wait.to_string()];
                let verb = match reason.as_str() {
                    "no_agents" => "EXITEMPTY",
                    "full" => "FULL",
                    "callback" => {
                        // EXITWITHKEY(key|position|origposition|waittime);
                        // the event does not say which key was pressed
                        data.insert(0, String::new());
                        "EXITWITHKEY"
                    }
                    _ => "EXITWITHTIMEOUT",
                };
                vec![line(interaction.as_str(), queue.as_str(), none, verb, data)]
            }
            EventKind::Overflowed {
                interaction, queue, ..
            } => {
                let (wait, pos) = self.leave(&key(interaction), e.at);
                vec![line(
                    interaction.as_str(),
                    queue.as_str(),
                    none,
                    "EXITWITHTIMEOUT",
                    vec![pos.to_string(), pos.to_string(), wait.to_string()],
                )]
            }
            EventKind::Held { interaction } | EventKind::Resumed { interaction } => {
                let verb = if matches!(e.kind, EventKind::Held { .. }) {
                    "HOLD"
                } else {
                    "UNHOLD"
                };
                let q = self.queue_of(&key(interaction));
                let a = self.agent_of(&key(interaction));
                vec![line(interaction.as_str(), &q, &a, verb, vec![])]
            }
            EventKind::Transferred {
                interaction,
                target,
            } => {
                let Some(c) = self.calls.get_mut(&key(interaction)) else {
                    return vec![];
                };
                let Some(agent) = c.agent.take() else {
                    return vec![]; // not answered from a queue
                };
                let q = c.queue.as_ref().map_or(none, |q| q.as_str()).to_owned();
                let times = [
                    c.wait_secs.to_string(),
                    secs(e.at, c.connected_at.take()).to_string(),
                    c.position.to_string(),
                ];
                // BLINDTRANSFER(extension|context|holdtime|calltime|origposition),
                // ATTENDEDTRANSFER(method|method-data|holdtime|calltime|origposition)
                let (verb, mut data) = if std::mem::take(&mut c.consulting) {
                    (
                        "ATTENDEDTRANSFER",
                        vec!["BRIDGE".to_owned(), target.clone()],
                    )
                } else {
                    ("BLINDTRANSFER", vec![target.clone(), String::new()])
                };
                data.extend(times);
                c.transferred = true;
                vec![line(interaction.as_str(), &q, &agent, verb, data)]
            }
            EventKind::ConsultStarted { interaction, .. } => {
                if let Some(c) = self.calls.get_mut(&key(interaction)) {
                    c.consulting = true;
                }
                vec![]
            }
            EventKind::ConsultEnded {
                interaction,
                outcome,
                ..
            } if outcome != "completed" => {
                if let Some(c) = self.calls.get_mut(&key(interaction)) {
                    c.consulting = false;
                }
                vec![]
            }
            EventKind::Ended {
                interaction,
                reason,
            } => {
                let Some(c) = self.calls.remove(&key(interaction)) else {
                    return vec![];
                };
                let Some(connected) = c.connected_at else {
                    return vec![];
                };
                let verb = if *reason == EndReason::CustomerHangup {
                    "COMPLETECALLER"
                } else {
                    "COMPLETEAGENT"
                };
                let q = c.queue.as_ref().map_or(none, |q| q.as_str());
                let data = vec![
                    c.wait_secs.to_string(),
                    e.at.duration_since(connected).as_secs().to_string(),
                    c.position.to_string(),
                ];
                let a = c.agent.as_deref().unwrap_or(none);
                vec![line(interaction.as_str(), q, a, verb, data)]
            }
            EventKind::WrapUpStarted {
                interaction,
                agent,
                duration_secs,
            } => {
                vec![line(
                    interaction.as_str(),
                    none,
                    agent.as_str(),
                    "WRAPUPSTART",
                    vec![duration_secs.to_string()],
                )]
            }
            EventKind::WrapUpEnded { interaction, agent } => {
                vec![line(
                    interaction.as_str(),
                    none,
                    agent.as_str(),
                    "WRAPUPEND",
                    vec![],
                )]
            }
            EventKind::DispositionSet {
                interaction,
                agent,
                disposition,
            } => {
                let code = match disposition {
                    callcore::Disposition::Agent(code) => code.clone(),
                    other => serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                };
                vec![line(
                    interaction.as_str(),
                    none,
                    agent.as_str(),
                    "DISPOSITION",
                    vec![code],
                )]
            }
            EventKind::AgentStateChanged { agent, from, to } => {
                let agent_key = (e.tenant.clone(), agent.clone());
                let mut out = Vec::new();
                let mut say = |verb: &str, data: Vec<String>| {
                    out.push(line(none, none, agent.as_str(), verb, data));
                };
                match (from, to) {
                    (AgentState::Offline, to) => {
                        self.logins.insert(agent_key, e.at);
                        // Asterisk's one field is the agent's channel: none here
                        say("AGENTLOGIN", vec![String::new()]);
                        // logged in not ready: paused from the start
                        if let AgentState::NotReady(reason) = to {
                            say("PAUSE", vec![reason.clone()]);
                        }
                    }
                    (_, AgentState::Offline) => {
                        let since = self.logins.remove(&agent_key);
                        say(
                            "AGENTLOGOFF",
                            vec![String::new(), secs(e.at, since).to_string()],
                        );
                    }
                    (_, AgentState::NotReady(reason)) => say("PAUSE", vec![reason.clone()]),
                    // as Asterisk, the unpause names the reason of the pause it ends
                    (AgentState::NotReady(reason), AgentState::Available) => {
                        say("UNPAUSE", vec![reason.clone()]);
                    }
                    (from, to) => say(
                        "AGENTSTATE",
                        vec![from.name().to_owned(), to.name().to_owned()],
                    ),
                }
                out
            }
            EventKind::AgentAdded { profile } => vec![line(
                none,
                none,
                profile.id.as_str(),
                "ADDMEMBER",
                vec![String::new()],
            )],
            EventKind::AgentRemoved { agent } => vec![line(
                none,
                none,
                agent.as_str(),
                "REMOVEMEMBER",
                vec![String::new()],
            )],
            // Asterisk's QUEUESTART marks a restart of the whole system (tools
            // close the calls left open): see `QueueLog::start_line`.
            EventKind::QueueAdded { definition } => {
                vec![line(none, definition.id.as_str(), none, "QUEUEADD", vec![])]
            }
            EventKind::QueueRemoved { queue } => {
                vec![line(none, queue.as_str(), none, "QUEUEREMOVE", vec![])]
            }
            _ => vec![],
        }
    }

    /// The line that opens a run of the center, as Asterisk writes when it
    /// starts (`epoch|NONE|NONE|NONE|QUEUESTART|`): tools reading the file
    /// close the calls a previous run left open.
    #[must_use]
    pub fn start_line(at: Timestamp) -> QueueLogLine {
        QueueLogLine {
            time: at.as_millis().div_euclid(1000),
            call_id: "NONE".to_owned(),
            queue: "NONE".to_owned(),
            agent: "NONE".to_owned(),
            event: "QUEUESTART".to_owned(),
            data: vec![String::new()],
        }
    }

    fn queue_of(&self, key: &(TenantId, InteractionId)) -> String {
        self.calls
            .get(key)
            .and_then(|c| c.queue.as_ref())
            .map_or_else(|| "NONE".to_owned(), |q| q.as_str().to_owned())
    }

    fn agent_of(&self, key: &(TenantId, InteractionId)) -> String {
        self.calls
            .get(key)
            .and_then(|c| c.agent.clone())
            .unwrap_or_else(|| "NONE".to_owned())
    }

    fn leave(&mut self, key: &(TenantId, InteractionId), at: Timestamp) -> (u64, u32) {
        self.calls.get_mut(key).map_or((0, 1), |c| {
            c.wait_secs = secs(at, c.queued_at.take());
            (c.wait_secs, c.position)
        })
    }
}

/// Writes the journal to any `Write` (a file opened for append, usually),
/// flushing after every event so that `tail -f` sees lines at once.
#[derive(Debug)]
pub struct QueueLogWriter<W: Write> {
    log: QueueLog,
    out: W,
}

impl QueueLogWriter<std::fs::File> {
    /// Opens (creating if needed) `path` for appending. A new file is
    /// readable by its owner and group only (mode 0640 on Unix): its lines
    /// carry callers' numbers.
    ///
    /// # Errors
    /// [`AnalyticsError::Io`] when the file cannot be opened.
    pub fn append_to(path: impl AsRef<std::path::Path>) -> Result<Self, AnalyticsError> {
        let mut open = std::fs::OpenOptions::new();
        open.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o640);
        let file = open.open(path)?;
        Ok(Self::new(file))
    }
}

impl<W: Write> QueueLogWriter<W> {
    /// A writer to `out`.
    pub fn new(out: W) -> Self {
        Self {
            log: QueueLog::new(),
            out,
        }
    }

    /// Writes the lines of one event; returns how many.
    ///
    /// # Errors
    /// [`AnalyticsError::Io`] when writing fails.
    pub fn write_event(&mut self, event: &Event) -> Result<usize, AnalyticsError> {
        let lines = self.log.lines(event);
        for l in &lines {
            writeln!(self.out, "{l}")?;
        }
        if !lines.is_empty() {
            self.out.flush()?;
        }
        Ok(lines.len())
    }

    /// Writes the line that opens a run ([`QueueLog::start_line`]).
    ///
    /// # Errors
    /// [`AnalyticsError::Io`] when writing fails.
    pub fn write_start(&mut self, at: Timestamp) -> Result<(), AnalyticsError> {
        writeln!(self.out, "{}", QueueLog::start_line(at))?;
        self.out.flush()?;
        Ok(())
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}
