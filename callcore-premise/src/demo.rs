//! `--demo-calls N`: the premise center shows itself without any external peer.
//! Every configured agent (but one rung at a fixed `contact`, whose phone is real) gets
//! a softphone built from callcore-sip's user agent and callcore-media's leg media; it
//! registers with its password (digest auth), answers what the ACD offers, talks (a
//! 600 Hz tone) for a few seconds and hangs up. N callers (our own UAC, same parts)
//! dial the IVR, wait for the menu to finish, press a key, talk (a 400 Hz tone) and
//! listen. The summary comes from the SQLite store and from what each side actually
//! heard over RTP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use callcore::{AgentState, Clock, EventKind};
use callcore_media::leg_port::negotiated;
use callcore_media::sip_leg::{LegMedia, LegMediaConfig};
use callcore_media::udp::{MediaSession, PortAllocator, SessionCommand, SessionEvent};
use callcore_runtime::{BusError, SystemClock};
use callcore_sip::auth::DigestAlgorithm;
use callcore_sip::media_seam::negotiated_media;
use callcore_sip::session::LocalMedia;
use callcore_sip::transaction::Peer;
use callcore_sip::trunk::{Trunk, TrunkKind, TrunkRegistration};
use callcore_sip::ua::{UaConfig, UaEvent, driver};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{Premise, PremiseError};

/// How long an agent talks before hanging up.
const TALK: Duration = Duration::from_secs(3);

/// What the demo calls did.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    /// Calls placed.
    pub calls: usize,
    /// Calls the IVR answered and played its menu to (the caller heard audio).
    pub heard_menu: usize,
    /// Calls on which the caller heard the agent.
    pub heard_agent: usize,
    /// Calls on which the agent heard the caller.
    pub agent_heard_caller: usize,
    /// Interaction records stored in SQLite.
    pub records: usize,
    /// Records with an agent who answered.
    pub answered: usize,
    /// Mean wait in queue of answered calls, ms.
    pub mean_wait_ms: u64,
    /// Mean talk time, ms.
    pub mean_talk_ms: u64,
    /// Calls per agent.
    pub per_agent: BTreeMap<String, usize>,
    /// Recording files filed, with their length in ms.
    pub recordings: Vec<(String, u64)>,
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "demo calls placed:        {}", self.calls)?;
        writeln!(f, "callers heard the menu:   {}", self.heard_menu)?;
        writeln!(f, "callers heard an agent:   {}", self.heard_agent)?;
        writeln!(f, "agents heard the caller:  {}", self.agent_heard_caller)?;
        writeln!(
            f,
            "records in SQLite:        {} ({} answered)",
            self.records, self.answered
        )?;
        writeln!(
            f,
            "mean wait / talk:         {} ms / {} ms",
            self.mean_wait_ms, self.mean_talk_ms
        )?;
        for (agent, n) in &self.per_agent {
            writeln!(f, "  agent {agent}: {n} call(s)")?;
        }
        writeln!(f, "recordings:               {}", self.recordings.len())?;
        for (path, ms) in &self.recordings {
            writeln!(f, "  {path} ({ms} ms)")?;
        }
        Ok(())
    }
}

fn tone(hz: f64, ms: u64) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((i as f64) * hz * std::f64::consts::TAU / 8000.0).sin() * 6000.0)
        .map(|s| s as i16)
        .collect()
}

fn loud(frame: &[i16]) -> bool {
    let p = callcore_media::level::mean_power(frame);
    callcore_media::level::power_to_dbm0(p) > -45.0
}

fn start_media(
    media: &LegMedia,
    audio: Option<&callcore_sip::session::NegotiatedAudio>,
) -> Option<MediaSession> {
    let far = negotiated(&negotiated_media(audio?)).ok()?;
    media.start_session(far).ok().flatten()
}

/// One agent's softphone: registers, then answers every call it is offered.
async fn phone(
    center: SocketAddr,
    user: String,
    password: String,
    digest: Vec<DigestAlgorithm>,
    ports: Arc<PortAllocator>,
    heard_caller: Arc<AtomicU64>,
) -> Result<(), PremiseError> {
    let (sip, mut events) = driver::start(
        UaConfig::new("127.0.0.1:0".parse().unwrap_or(center)),
        7,
        false,
    )
    .await
    .map_err(|source| PremiseError::Io {
        what: format!("phone {user}"),
        source,
    })?;
    let mut registrar = Trunk::new(&format!("pbx-{user}"), TrunkKind::Virtual, center, &[]);
    registrar.keepalive = None;
    // the phone answers only the algorithms its agent is configured for
    let mut account = TrunkRegistration::new(&user, &password, 300);
    account.digest = digest;
    registrar.registration = Some(account);
    sip.register(registrar);
    let registered = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = events.recv().await {
            match ev {
                UaEvent::TrunkRegistered { .. } => return true,
                UaEvent::TrunkRegistrationFailed { .. } => return false,
                _ => {}
            }
        }
        false
    })
    .await;
    if registered != Ok(true) {
        return Err(PremiseError::Config {
            field: format!("agents[{user}]"),
            detail: "the demo phone could not register".into(),
        });
    }
    tokio::spawn(answer_calls(sip, events, user, ports, heard_caller));
    Ok(())
}

/// Answers every call `sip` is offered: talks (a 600 Hz tone) for [`TALK`]
/// from the moment the caller is heard, then hangs up.
async fn answer_calls(
    sip: callcore_sip::ua::driver::SipHandle,
    mut events: UnboundedReceiver<UaEvent>,
    user: String,
    ports: Arc<PortAllocator>,
    heard_caller: Arc<AtomicU64>,
) {
    {
        let mut n = 0u64;
        while let Some(ev) = events.recv().await {
            let UaEvent::IncomingCall { call, .. } = ev else {
                continue;
            };
            n += 1;
            tracing::debug!(phone = %user, call = n, "offered a call");
            sip.ring(call);
            let Ok(media) = LegMedia::reserve(
                &ports,
                LegMediaConfig {
                    ssrc: 0xA6E0_0000 + n as u32,
                    ..LegMediaConfig::default()
                },
            )
            .await
            else {
                sip.reject(call, 503);
                continue;
            };
            let audio = sip
                .answer(call, LocalMedia::g711(media.local_rtp(), n))
                .await
                .ok()
                .flatten();
            let Some(mut session) = start_media(&media, audio.as_ref()) else {
                sip.hangup(call);
                continue;
            };
            // talk from the moment the caller is heard (the bridge is up), for TALK
            let talk_frames = TALK.as_millis() as u64 / 20;
            session.command(SessionCommand::Play(tone(
                600.0,
                3 * TALK.as_millis() as u64,
            )));
            let (mut loud_frames, mut since_heard) = (0u64, None::<u64>);
            let _ = tokio::time::timeout(TALK * 3, async {
                while let Some(e) = session.next_event().await {
                    if let SessionEvent::Audio(f, _) = e {
                        if loud(&f) {
                            loud_frames += 1;
                            since_heard.get_or_insert(0);
                        }
                        if let Some(n) = since_heard.as_mut() {
                            *n += 1;
                            if *n >= talk_frames {
                                return;
                            }
                        }
                    }
                }
            })
            .await;
            tracing::debug!(phone = %user, loud_frames, "agent hangs up");
            if loud_frames >= 25 {
                heard_caller.fetch_add(1, Ordering::Relaxed);
            }
            sip.hangup(call);
            media.close();
        }
    }
}

/// Demo phones at one fixed contact (the cloud example's agents, `contact =
/// "sip:<id>@<returned address>"`): a user agent bound to `bind` that
/// answers every call, whoever it is for, as the demo's registered phones
/// do. Returns its address and the count of calls on which the agent heard
/// the caller.
///
/// # Errors
/// The socket cannot be bound.
pub async fn spawn_demo_phones(
    bind: SocketAddr,
    ports: Arc<PortAllocator>,
) -> Result<(SocketAddr, Arc<AtomicU64>), PremiseError> {
    let (sip, events) = driver::start(UaConfig::new(bind), 7, false)
        .await
        .map_err(|source| PremiseError::Io {
            what: "demo phones".into(),
            source,
        })?;
    let addr = sip.local_addr();
    let heard = Arc::new(AtomicU64::new(0));
    tokio::spawn(answer_calls(
        sip,
        events,
        "contact".into(),
        ports,
        heard.clone(),
    ));
    Ok((addr, heard))
}

/// One demo caller (as `--demo-calls` places them) dialling the IVR at
/// `center` (a node, or a proxy in front of nodes): waits for the menu,
/// presses `key`, talks until the agent hangs up. Returns whether it heard
/// the menu and the agent.
///
/// # Errors
/// The socket or the RTP ports cannot be had; the call cannot be placed.
pub async fn demo_caller(
    center: SocketAddr,
    i: usize,
    key: String,
    ports: Arc<PortAllocator>,
) -> Result<(bool, bool), PremiseError> {
    let r = caller(center, i, key, ports).await?;
    Ok((r.heard_menu, r.heard_agent))
}

/// What one caller experienced.
#[derive(Debug, Default, Clone, Copy)]
struct CallerReport {
    heard_menu: bool,
    heard_agent: bool,
}

async fn wait_answer(
    events: &mut UnboundedReceiver<UaEvent>,
) -> Option<Option<callcore_sip::session::NegotiatedAudio>> {
    while let Some(ev) = events.recv().await {
        match ev {
            UaEvent::Answered { audio, .. } => return Some(audio),
            UaEvent::Failed { .. } => return None,
            _ => {}
        }
    }
    None
}

/// One caller: dial the IVR, wait for the menu, press `key`, talk until the agent
/// hangs up.
async fn caller(
    center: SocketAddr,
    i: usize,
    key: String,
    ports: Arc<PortAllocator>,
) -> Result<CallerReport, PremiseError> {
    let mut report = CallerReport::default();
    let (sip, mut events) = driver::start(
        UaConfig::new(SocketAddr::new(center.ip(), 0)),
        100 + i as u64,
        false,
    )
    .await
    .map_err(|source| PremiseError::Io {
        what: format!("demo caller {i}"),
        source,
    })?;
    let media = LegMedia::reserve(
        &ports,
        LegMediaConfig {
            ssrc: 0xCA11_0000 + i as u32,
            ..LegMediaConfig::default()
        },
    )
    .await
    .map_err(|e| PremiseError::Store(e.to_string()))?;
    let call = sip
        .place_call(
            &format!("sip:ivr@{center}"),
            Peer::udp(center),
            &format!("sip:+1555000{i:04}@{}", center.ip()),
            LocalMedia::g711(media.local_rtp(), i as u64),
        )
        .await
        .map_err(|e| PremiseError::Config {
            field: "sip".into(),
            detail: e.to_string(),
        })?;
    let answered = tokio::time::timeout(Duration::from_secs(10), wait_answer(&mut events)).await;
    tracing::debug!(caller = i, answered = ?answered.as_ref().map(Option::is_some), "IVR answer");
    let Some(mut session) = answered
        .ok()
        .flatten()
        .and_then(|a| start_media(&media, a.as_ref()))
    else {
        sip.hangup(call);
        return Ok(report);
    };
    // The menu: audio, then 1.5 s of silence while the IVR waits for a key.
    let (mut voiced, mut quiet) = (0u32, 0u32);
    let _ = tokio::time::timeout(Duration::from_secs(40), async {
        while let Some(e) = session.next_event().await {
            if let SessionEvent::Audio(f, _) = e {
                if loud(&f) {
                    voiced += 1;
                    quiet = 0;
                } else {
                    quiet += 1;
                }
                // callcore-ivr drops a key pressed during a prompt: wait for the
                // listening pause after the last prompt
                if voiced >= 25 && quiet >= 75 {
                    return;
                }
            }
        }
    })
    .await;
    report.heard_menu = voiced >= 25;
    tracing::debug!(caller = i, voiced, quiet, key = %key, "menu heard: pressing the key");
    session.command(SessionCommand::Digits(key));
    session.command(SessionCommand::Play(tone(400.0, 60_000)));
    // Until the agent hangs up (or a minute passes).
    let mut agent_frames = 0u32;
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(UaEvent::Ended { by_remote, .. }) => {
                        tracing::debug!(caller = i, by_remote, "call ended");
                        return;
                    }
                    None => return,
                    _ => {}
                },
                e = session.next_event() => match e {
                    Some(SessionEvent::Audio(f, _)) if loud(&f) => agent_frames += 1,
                    None => {
                        tracing::debug!(caller = i, "media session ended");
                        return;
                    }
                    Some(other) => tracing::trace!(caller = i, event = ?other, "media event"),
                },
            }
        }
    })
    .await;
    tracing::debug!(
        caller = i,
        agent_frames,
        timed_out = ended.is_err(),
        "caller done"
    );
    if ended.is_err() {
        sip.hangup(call);
    }
    report.heard_agent = agent_frames >= 25;
    media.close();
    Ok(report)
}

/// Registers a softphone for every configured agent, places `calls` calls into the
/// IVR (pressing the menu keys in turn), waits for them to end and summarises.
///
/// # Errors
/// A phone cannot register or a socket cannot be bound.
pub async fn run_demo_calls(premise: &Premise, calls: usize) -> Result<DemoSummary, PremiseError> {
    let center = premise.sip_addr();
    let cfg = premise.config();
    // the phones' and callers' RTP: as many ports again, just above the center's
    let first = cfg.media.rtp_last.saturating_add(2).max(1024);
    let width = cfg
        .media
        .rtp_last
        .saturating_sub(cfg.media.rtp_first)
        .max(99);
    let ports = Arc::new(PortAllocator::new(
        center.ip(),
        first..=first.saturating_add(width),
    ));
    let heard_caller = Arc::new(AtomicU64::new(0));
    // calls start once the center has every agent's phone registered (the event,
    // or already so when a phone of the agent was registered before)
    let mut events = premise.center().subscribe();
    let mut waiting: BTreeSet<String> = cfg.agents.iter().map(|a| a.id.clone()).collect();
    let ready = |snapshot: callcore::RouterSnapshot, waiting: &mut BTreeSet<String>| {
        for a in snapshot
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Available && a.reachable)
        {
            waiting.remove(a.agent.as_str());
        }
    };
    if let Ok(now) = premise.center().snapshot().await {
        ready(now, &mut waiting);
    }
    // an agent at a fixed contact is rung there, not at a demo phone
    for a in cfg.agents.iter().filter(|a| a.contact.is_none()) {
        phone(
            center,
            a.id.clone(),
            a.password.clone(),
            a.digest_algorithms(&cfg.sip),
            ports.clone(),
            heard_caller.clone(),
        )
        .await?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !waiting.is_empty() {
            match events.recv().await {
                // available by login, reachable once the phone registered
                Ok(e) => {
                    if matches!(
                        e.kind,
                        EventKind::AgentStateChanged { .. }
                            | EventKind::AgentReachabilityChanged { .. }
                    ) && let Ok(now) = premise.center().snapshot().await
                    {
                        ready(now, &mut waiting);
                    }
                }
                Err(BusError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    })
    .await;
    if !waiting.is_empty() {
        return Err(PremiseError::Config {
            field: format!(
                "agents[{}]",
                waiting.into_iter().collect::<Vec<_>>().join(",")
            ),
            detail: "registered, but the center did not make the agent available and reachable"
                .into(),
        });
    }
    let keys: Vec<String> = cfg.ivr.menu.iter().map(|m| m.key.clone()).collect();
    let mut tasks = Vec::new();
    for i in 0..calls {
        let key = keys.get(i % keys.len().max(1)).cloned().unwrap_or_default();
        tasks.push(tokio::spawn(caller(center, i, key, ports.clone())));
        SystemClock.sleep(Duration::from_millis(300)).await;
    }
    let mut summary = DemoSummary {
        calls,
        ..DemoSummary::default()
    };
    for t in tasks {
        if let Ok(Ok(r)) = t.await {
            summary.heard_menu += usize::from(r.heard_menu);
            summary.heard_agent += usize::from(r.heard_agent);
        }
    }
    // let the last wrap-ups and recordings land
    SystemClock.sleep(Duration::from_millis(500)).await;
    summary.agent_heard_caller = heard_caller.load(Ordering::Relaxed) as usize;
    let records = premise.records().await?;
    summary.records = records.len();
    let answered: Vec<_> = records
        .iter()
        .filter(|r| r.agent.is_some() && r.answered_at.is_some())
        .collect();
    summary.answered = answered.len();
    if !answered.is_empty() {
        let n = answered.len() as u64;
        summary.mean_wait_ms = answered.iter().map(|r| r.wait_ms).sum::<u64>() / n;
        summary.mean_talk_ms = answered.iter().map(|r| r.talk_ms).sum::<u64>() / n;
    }
    for r in &answered {
        if let Some(a) = &r.agent {
            *summary.per_agent.entry(a.to_string()).or_default() += 1;
        }
    }
    summary.recordings = premise
        .recordings(&records)
        .await?
        .into_iter()
        .map(|m| (m.path, m.duration_ms))
        .collect();
    Ok(summary)
}
