//! The premise center's configuration: TOML, every field optional, defaults embedded
//! ([`DEFAULT_CONFIG`]), validated at load with errors naming the field.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use callcore_sip::auth::DigestAlgorithm;
use callcore_sip::contact::FixedContact;
use serde::Deserialize;

use crate::PremiseError;
use crate::trunks::{DialPlanSection, DidSection, TrunkSection};

/// The embedded defaults, as a commented TOML file.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// The greeting of the embedded defaults, also for a file whose `[ivr]` names none.
const DEFAULT_GREETING: &str =
    "Welcome to the Example Bank and Telecom contact center. Calls are recorded.";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PremiseConfig {
    /// Tenant of everything stored.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// SIP.
    #[serde(default)]
    pub sip: SipSection,
    /// RTP media.
    #[serde(default)]
    pub media: MediaSection,
    /// Database and recordings.
    #[serde(default)]
    pub storage: StorageSection,
    /// The IVR menu.
    #[serde(default)]
    pub ivr: IvrSection,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<QueueSection>,
    /// Agents and their phones' accounts. A config file must list them: only the
    /// embedded defaults carry (demo) agents.
    #[serde(default)]
    pub agents: Vec<AgentSection>,
    /// Supervisors and administrators of the web API (see [`crate::web`]);
    /// agents log in with their `[[agents]]` entry.
    #[serde(default)]
    pub users: Vec<crate::web::UserSection>,
    /// Carriers' trunks (see [`crate::trunks`]).
    #[serde(default)]
    pub trunks: Vec<TrunkSection>,
    /// The outbound dial plan: number patterns → trunks in failover order.
    #[serde(default)]
    pub dial_plan: Vec<DialPlanSection>,
    /// Inbound numbers (DIDs) → flows; other numbers reach the IVR.
    #[serde(default)]
    pub dids: Vec<DidSection>,
    // -- operations: agent states, analytics, campaigns (see `crate::ops_config`) --
    /// Reason codes of agents' not-ready states.
    #[serde(default)]
    pub agent_states: crate::agent_states::AgentStatesSection,
    /// Live figures, the `queue_log` file and reports.
    #[serde(default)]
    pub analytics: crate::analytics::AnalyticsSection,
    /// Outbound campaigns run by callcore-dialer.
    #[serde(default)]
    pub campaigns: Vec<crate::campaigns::CampaignSection>,
    /// Proactive notifications by SMS or e-mail (`crate::notifications`).
    #[serde(default)]
    pub notifications: Vec<crate::notifications::NotificationSection>,
    /// Live quality inspection of answered calls from their audio
    /// ([`crate::quality`]).
    #[serde(default)]
    pub quality: crate::quality::QualitySection,
    /// Coaching: the thresholds of the items drawn from agents' scorecards,
    /// and the reviews of new agents' first scored calls ([`crate::coaching`]).
    #[serde(default)]
    pub coaching: callcore_analytics::coaching::CoachingConfig,
    // -- end of operations --
    /// The operations HTTP listener (`/metrics`, `/healthz`, `/readyz`).
    #[serde(default)]
    pub http: HttpSection,
    /// Which numbers callbacks may dial (toll fraud).
    #[serde(default)]
    pub callbacks: CallbacksSection,
    /// On SIGTERM or Ctrl-C, how long calls in progress may go on before they are
    /// hung up (new calls are refused at once).
    #[serde(default = "default_drain_secs")]
    pub drain_secs: u32,
    /// `[cluster]`: this center is one node of a cloud assembly
    /// ([`crate::cluster_node`]); absent: a lone premise.
    #[serde(default)]
    pub cluster: Option<crate::cluster_node::ClusterSection>,
    /// `[email]`: customers' e-mail (IMAP in, SMTP out) as interactions of a
    /// queue ([`crate::channels`]).
    #[serde(default)]
    pub email: Option<callcore_channels::email::EmailConfig>,
    /// `[sms]`: text messages through an SMPP message centre as interactions
    /// of a queue ([`crate::channels`]).
    #[serde(default)]
    pub sms: Option<callcore_channels::sms::SmsConfig>,
    /// `[chat]`: web chat (the widget at `/chat` on the HTTP listener) as
    /// interactions of a queue ([`crate::channels`]).
    #[serde(default)]
    pub chat: Option<callcore_channels::chat::ChatConfig>,
    /// `[wechat]`: a WeChat Official Account's users' messages as interactions
    /// of a queue ([`crate::wechat`]).
    #[serde(default)]
    pub wechat: Option<callcore_channels::wechat::WeChatConfig>,
    /// True for the embedded defaults: demo accounts with published passwords.
    #[serde(skip)]
    pub demo: bool,
}

fn default_drain_secs() -> u32 {
    30
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Serve HTTP at all (`--http off` turns it off).
    pub enabled: bool,
    /// The listener's address; left out: `127.0.0.1:8080`, or a free port when
    /// `sip.bind` asks for one (port 0, as tests do), see
    /// [`PremiseConfig::http_bind`].
    pub bind: Option<SocketAddr>,
    /// HTTPS: the certificate chain and key (`tls = { cert, key }`, see
    /// [`crate::web_tls`]); left out, plain HTTP.
    pub tls: Option<crate::web_tls::HttpTlsSection>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            enabled: true,
            bind: None,
            tls: None,
        }
    }
}

/// Where the HTTP listener goes when `[http] bind` is left out.
pub const DEFAULT_HTTP_BIND: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

fn default_tenant() -> String {
    "default".into()
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSection {
    /// UDP (and TCP) address.
    pub bind: SocketAddr,
    /// Listen on TCP too.
    pub tcp: bool,
    /// Digest realm.
    pub realm: String,
    /// Digest algorithms agents' phones are challenged with (`MD5`, `SHA-256`),
    /// preferred first, unless the agent names its own (`agents[].digest`).
    pub digest: Vec<String>,
    /// Digest lockout: five failures of one account from one address within this
    /// many seconds lock that pair out for as long; each further lockout of the pair
    /// doubles, up to an hour. 60 by default.
    pub lockout_secs: u64,
    /// SIP over TLS for phones: `{ bind, cert, key }` ([`crate::sip_edge`]).
    pub tls: Option<crate::sip_edge::TlsListenSection>,
    /// `[sip.connections]`: TCP/TLS connection caps and timeouts.
    pub connections: crate::sip_edge::ConnectionsSection,
    /// The DNS server (`IP:port`) trunk host names are looked up at (RFC 3263,
    /// [`crate::trunk_dns`]); default: the system's.
    pub dns: Option<SocketAddr>,
    /// SRTP (SDES keys in SDP) for phones and softphones: `"off"` (default, plain
    /// RTP), `"offer"` (SRTP when the phone takes it) or `"require"` (488 for a
    /// phone without it); an agent may name its own (`agents[].srtp`). See
    /// [`crate::srtp`].
    pub srtp: String,
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            bind: SocketAddr::from(([127, 0, 0, 1], 5060)),
            tcp: true,
            realm: "callcore".into(),
            digest: vec!["MD5".into()],
            lockout_secs: 60,
            tls: None,
            connections: Default::default(),
            dns: None,
            srtp: "off".into(),
        }
    }
}

/// `[callbacks]`: a callback dials the caller's number through the trunks, and the
/// number of a call is only what its `From` header claims; so callbacks go only to
/// numbers a trusted (IP-authenticated) trunk asserted, or to those listed here.
/// Callers with other numbers are not offered the callback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksSection {
    /// Numbers that may be called back whatever the call came from: exact, or a
    /// prefix ending in `*` (`"+4930*"`).
    pub allow: Vec<String>,
    /// Calls to a customer who asked for a callback, in all, when they do not
    /// answer (default 3).
    pub attempts: Option<u32>,
    /// Seconds between those calls (default 300).
    pub retry_after_secs: Option<u32>,
}

impl CallbacksSection {
    /// The center's policy for kept callbacks.
    #[must_use]
    pub fn policy(&self) -> callcore::CallbackPolicy {
        let d = callcore::CallbackPolicy::default();
        callcore::CallbackPolicy {
            attempts: self.attempts.unwrap_or(d.attempts),
            retry_after_secs: self.retry_after_secs.unwrap_or(d.retry_after_secs),
        }
    }
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// RTP address.
    pub ip: IpAddr,
    /// First RTP port.
    pub rtp_first: u16,
    /// Last RTP port.
    pub rtp_last: u16,
}

impl Default for MediaSection {
    fn default() -> Self {
        MediaSection {
            ip: IpAddr::from([127, 0, 0, 1]),
            rtp_first: 20000,
            rtp_last: 20999,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// Folder of `center.db` and `recordings/`.
    pub data_dir: PathBuf,
    /// Record bridged calls.
    pub record_calls: bool,
    /// `"sqlite"` (default: `center.db` in `data_dir`) or `"postgres"`
    /// (see [`crate::storage`]).
    pub database: String,
    /// PostgreSQL's URL; implies `database = "postgres"`. Without it, a
    /// PostgreSQL center reads `DATABASE_URL`.
    pub database_url: Option<String>,
    /// PostgreSQL only: every table in this schema (created if missing).
    pub database_schema: Option<String>,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            data_dir: "premise-data".into(),
            record_calls: true,
            database: "sqlite".into(),
            database_url: None,
            database_schema: None,
        }
    }
}

/// One menu entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuEntry {
    /// The key (`1`).
    pub key: String,
    /// What the caller hears ("For billing, press 1").
    pub label: String,
    /// The queue it leads to.
    pub queue: String,
    // -- the caller's wait (queue-wait) --
    /// Skills the agent needs for this choice, on top of the queue's own
    /// (`["french"]`: the queue's agents who speak French, any proficiency).
    #[serde(default)]
    pub skills: Vec<String>,
    /// Words or phrases that pick this choice when the caller says them (with
    /// speech recognition on, see [`crate::listening`]); the label counts too.
    #[serde(default)]
    pub words: Vec<String>,
    /// The intent (of `[ivr] intents`) that picks this choice when spoken.
    #[serde(default)]
    pub intent: Option<String>,
}

/// `[ivr]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvrSection {
    /// First words of the call.
    pub greeting: String,
    /// The DTMF menu.
    pub menu: Vec<MenuEntry>,
    /// Queue for callers who choose nothing.
    pub default_queue: String,
    /// A Whisper model folder (CTranslate2): callers may say a menu option as well
    /// as press its key. Needs the `asr-whisper` feature; without this field such a
    /// build uses the folder `CALLCORE_WHISPER_MODEL` names, if any.
    pub asr_model: Option<std::path::PathBuf>,
    /// The language the menu speaks and hears: `"en"` (absent) or `"zh"`
    /// (Mandarin; `zh-CN`, `cmn` too). In Chinese the menu reads its keys out
    /// the Chinese way ("账单查询请按1。"), prompts with Chinese text are spoken
    /// by espeak-ng's Mandarin voice, and callers are heard in Mandarin: the
    /// model must be multilingual (Whisper base, `scripts/fetch-asr-model-zh.sh`;
    /// without `asr_model` the folder `CALLCORE_WHISPER_MODEL_ZH` names, else
    /// `CALLCORE_WHISPER_MODEL`'s).
    pub language: Option<String>,
    /// An intents file (callcore-ivr's JSON): spoken answers are classified and
    /// a menu entry's `intent` picks it.
    pub intents: Option<std::path::PathBuf>,
    /// Knowledge bases (callcore-ivr's JSON) by name, for flows' `bot` nodes
    /// (the bot answers first: `[sms] flow`, DIDs' flows, builder flows).
    pub knowledge_bases: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// A spoken menu answer the recognizer is less sure of than this (0–1)
    /// picks no entry, even when it holds an entry's words: the caller is asked
    /// again, the keys read out once more. 0 takes every answer; the default
    /// is [`DEFAULT_MIN_CONFIDENCE`].
    pub min_confidence: f32,
}

impl Default for IvrSection {
    fn default() -> Self {
        IvrSection {
            greeting: DEFAULT_GREETING.into(),
            menu: Vec::new(),
            default_queue: String::new(),
            asr_model: None,
            language: None,
            intents: None,
            knowledge_bases: std::collections::BTreeMap::new(),
            min_confidence: DEFAULT_MIN_CONFIDENCE,
        }
    }
}

/// `[ivr] min_confidence` when absent. Whisper tiny.en (with the menu's words as
/// hints) gives its few-word guesses at noise or a line without speech ("you.",
/// "buy.", "internet.") a confidence of 0.04–0.09, and every request it got
/// right, clean, noisy (10–0 dB SNR) or cut short, 0.145 or more
/// (docs/premise.md, "How sure is sure"): 0.1 turns the guesses that name a menu
/// word into a question again and keeps the answers.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.1;

/// `[[queues]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    /// Queue id.
    pub id: String,
    /// Skill an agent needs (any proficiency).
    #[serde(default)]
    pub skill: Option<String>,
    /// Wrap-up after each call.
    #[serde(default)]
    pub wrap_up_secs: u32,
    /// The routing strategy (callcore-acd's): a built-in name (`longest_idle`,
    /// `round_robin`, `best_proficiency`, …) or one registered with
    /// [`crate::PremiseBuilder::strategy`]; absent: the builder's default
    /// strategy, or `longest_idle`.
    #[serde(default)]
    pub strategy: Option<String>,
    // -- the caller's wait (queue-wait): music, announcements, callback, overflow --
    /// Music while waiting: an audio file (WAV, MP3, OGG, FLAC; relative to
    /// `<data_dir>/prompts` or absolute), looped; absent: the built-in music
    /// on hold.
    #[serde(default)]
    pub music_on_hold: Option<String>,
    /// Interrupt the music this often with the caller's position and expected
    /// wait (and the callback offer); absent: no announcements.
    #[serde(default)]
    pub announce_every_secs: Option<u32>,
    /// The key (`"1"`) a waiting caller presses to be called back instead,
    /// keeping their place; absent: no callback offer.
    #[serde(default)]
    pub callback_key: Option<String>,
    /// Longest wait before the caller is sent to `overflow` (or, without
    /// one, told nobody is available).
    #[serde(default)]
    pub max_wait_secs: Option<u32>,
    /// Where callers go after `max_wait_secs`: another queue's id, or
    /// `"voicemail"` (they leave a message, delivered to this queue's agents
    /// through the queue `<id>-voicemail`, made for it).
    #[serde(default)]
    pub overflow: Option<String>,
    // -- service levels (crate::service_levels) --
    /// The queue's service-level threshold in seconds (default 20): answered
    /// within it counts as met, for channels without a target of their own.
    #[serde(default)]
    pub service_level_secs: Option<u32>,
    /// Targets per channel (`{ channel = "email", target_secs = 14400,
    /// business_hours = true, goal = 0.9 }`).
    #[serde(default)]
    pub service_levels: Vec<callcore::ChannelServiceLevel>,
    /// Business hours (time zone, weekly spans, holidays) that targets with
    /// `business_hours = true` count in.
    #[serde(default)]
    pub hours: Option<callcore::WorkingHours>,
}

/// Where a queue's callers go after its maximum wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// Another queue.
    Queue(String),
    /// A voicemail, delivered to the queue's agents.
    Voicemail,
}

impl QueueSection {
    /// The overflow destination (of a validated config).
    pub fn overflow_to(&self) -> Option<Overflow> {
        self.overflow.as_deref().map(|o| {
            if o == "voicemail" {
                Overflow::Voicemail
            } else {
                Overflow::Queue(o.to_owned())
            }
        })
    }

    /// The callback key (of a validated config).
    pub fn callback_key_char(&self) -> Option<char> {
        self.callback_key.as_deref().and_then(|k| k.chars().next())
    }

    /// Checks the waiting fields of `queues[i]`.
    fn check_waiting(&self, i: usize, cfg: &PremiseConfig) -> Result<(), PremiseError> {
        let at = |f: &str| format!("queues[{i}].{f}");
        if let Some(file) = &self.music_on_hold {
            let path = cfg.prompts_dir().join(file);
            if file.trim().is_empty() || !path.is_file() {
                return Err(field(
                    at("music_on_hold"),
                    format!("no audio file at {}", path.display()),
                ));
            }
        }
        if self.announce_every_secs.is_some_and(|s| s < 5) {
            return Err(field(at("announce_every_secs"), "at least 5 seconds"));
        }
        if let Some(k) = &self.callback_key
            && (k.len() != 1
                || !k
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#'))
        {
            return Err(field(at("callback_key"), "one key, 0-9, * or #"));
        }
        if self.max_wait_secs == Some(0) {
            return Err(field(at("max_wait_secs"), "must be above 0"));
        }
        if let Some(o) = &self.overflow {
            if self.max_wait_secs.is_none() {
                return Err(field(at("overflow"), "needs max_wait_secs"));
            }
            if o != "voicemail" && !cfg.queues.iter().any(|q| &q.id == o) {
                return Err(field(
                    at("overflow"),
                    format!("no queue `{o}` (a queue id or \"voicemail\")"),
                ));
            }
            if *o == self.id {
                return Err(field(at("overflow"), "a queue cannot overflow to itself"));
            }
            let messages = format!("{}-voicemail", self.id);
            if o == "voicemail" && cfg.queues.iter().any(|q| q.id == messages) {
                return Err(field(
                    at("overflow"),
                    format!("voicemails need the queue id `{messages}`, which is taken"),
                ));
            }
        }
        Ok(())
    }
}

/// The `contact` of an agent who takes calls in a browser over WebRTC.
pub const WEBRTC_CONTACT: &str = "webrtc";

/// `[[agents]]`. Its `Debug` output never shows the password or the HA1 hashes.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Agent id, also the SIP user name of the phone.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The phone's digest password; needed unless the agent has a `contact`, an
    /// `ha1` for each of its algorithms, or a `password_env`.
    #[serde(default)]
    pub password: String,
    /// The name of an environment variable holding the password (read at load, so
    /// the file holds none).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Digest HA1 hashes, H(id:realm:password), by algorithm:
    /// `ha1 = { MD5 = "…", "SHA-256" = "…" }` (the file holds no password). Each
    /// algorithm the phone is challenged with needs one, unless a password is given.
    #[serde(default)]
    pub ha1: BTreeMap<String, String>,
    /// A fixed address to ring (`sip:user@IP:port`, optionally `;transport=tcp`): a
    /// desk phone, a PBX extension or a load tool. Such an agent needs no
    /// registration, is available from the start and is rung there. `"webrtc"`: the
    /// agent takes calls in a browser (`/phone.html` on the HTTP listener, logging
    /// in with its id and password), reachable while the browser is connected.
    #[serde(default)]
    pub contact: Option<String>,
    /// Skills (proficiency 5).
    #[serde(default)]
    pub skills: Vec<String>,
    /// Digest algorithms this agent's phone is challenged with, preferred first
    /// (`["SHA-256", "MD5"]` for a phone that speaks RFC 8760); absent: `sip.digest`.
    #[serde(default)]
    pub digest: Option<Vec<String>>,
    /// The state the agent is logged in with at start: `"available"` (the
    /// default), `"not_ready:<reason>"` (a code of `agent_states.reasons`) or
    /// `"offline"`. Independent of the phone's registration, which only says
    /// whether the agent can be reached.
    #[serde(default)]
    pub login: Option<String>,
    /// A supervisor: may listen to, whisper to and barge into agents' calls
    /// (`CenterHandle::monitor`).
    #[serde(default)]
    pub supervisor: bool,
    /// SRTP for this agent's phone (`"off"`, `"offer"`, `"require"`); absent:
    /// `sip.srtp`.
    #[serde(default)]
    pub srtp: Option<String>,
    /// How many web chats this agent holds at once; absent:
    /// `chat.agent_capacity`.
    #[serde(default)]
    pub chat_capacity: Option<u32>,
}

impl std::fmt::Debug for AgentSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSection")
            .field("id", &self.id)
            .field("name", &self.name)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { ".." },
            )
            .field("password_env", &self.password_env)
            .field("ha1", &self.ha1.keys().collect::<Vec<_>>())
            .field("contact", &self.contact)
            .field("skills", &self.skills)
            .field("digest", &self.digest)
            .field("srtp", &self.srtp)
            .finish()
    }
}

impl AgentSection {
    /// True when the phone has credentials (a password or HA1 hashes) and so an
    /// account it registers with.
    pub fn has_credentials(&self) -> bool {
        !self.password.is_empty() || !self.ha1.is_empty()
    }

    /// True when the agent takes calls in a browser (`contact = "webrtc"`).
    pub fn is_webrtc(&self) -> bool {
        self.contact.as_deref() == Some(WEBRTC_CONTACT)
    }

    /// The HA1 hashes given, by algorithm (names validated at load).
    pub fn ha1_hashes(&self) -> Vec<(DigestAlgorithm, String)> {
        self.ha1
            .iter()
            .filter_map(|(a, h)| Some((DigestAlgorithm::parse(Some(a))?, h.to_ascii_lowercase())))
            .collect()
    }

    /// The algorithms this agent's phone is challenged with (its own, else `sip`'s).
    pub fn digest_algorithms(&self, sip: &SipSection) -> Vec<DigestAlgorithm> {
        algorithms(self.digest.as_deref().unwrap_or(&sip.digest))
    }
}

impl SipSection {
    /// The default algorithms for agents' phones.
    pub fn digest_algorithms(&self) -> Vec<DigestAlgorithm> {
        algorithms(&self.digest)
    }
}

/// The known algorithms of a validated list.
fn algorithms(names: &[String]) -> Vec<DigestAlgorithm> {
    names
        .iter()
        .filter_map(|d| DigestAlgorithm::parse(Some(d)))
        .collect()
}

/// Checks a list of digest algorithm names; errors name `at` or `at[i]`.
fn check_digest(at: &str, names: &[String]) -> Result<(), PremiseError> {
    if names.is_empty() {
        return Err(field(
            at,
            "name at least one algorithm: \"MD5\" or \"SHA-256\"",
        ));
    }
    for (i, d) in names.iter().enumerate() {
        let Some(a) = DigestAlgorithm::parse(Some(d)) else {
            return Err(field(
                format!("{at}[{i}]"),
                format!("`{d}` is not a digest algorithm: \"MD5\" or \"SHA-256\""),
            ));
        };
        if algorithms(&names[..i]).contains(&a) {
            return Err(field(
                format!("{at}[{i}]"),
                format!("`{d}` is listed twice"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn field(field: impl Into<String>, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field: field.into(),
        detail: detail.into(),
    }
}

/// The embedded defaults' demo accounts as TOML — `[[agents]]` 1001 (Alice) and
/// 1002 (Bob), and the web API's supervisor `super` (`[[users]]`), whose
/// passwords are published: for trials and tests, never for a center on a
/// network.
pub const DEMO_AGENTS_TOML: &str = "[[agents]]\nid = \"1001\"\nname = \"Alice\"\n\
password = \"alice1001\"\nskills = [\"billing\", \"support\"]\n\n\
[[agents]]\nid = \"1002\"\nname = \"Bob\"\npassword = \"bob1002\"\nskills = [\"support\"]\n\n\
[[users]]\nid = \"super\"\npassword = \"super1234\"\nrole = \"supervisor\"\n";

/// `toml` with [`DEMO_AGENTS_TOML`] appended when it lists no `[[agents]]`
/// itself: for trials and tests, never for a center on a network.
#[must_use]
pub fn with_demo_agents(toml: &str) -> String {
    if toml.contains("[[agents]]") {
        toml.to_owned()
    } else {
        format!("{toml}\n{DEMO_AGENTS_TOML}")
    }
}

impl PremiseConfig {
    /// The embedded defaults.
    ///
    /// # Panics
    /// Never: the embedded file is checked by the tests.
    pub fn defaults() -> Self {
        #[allow(clippy::expect_used)] // a compile-time constant, tested
        let mut cfg = Self::from_toml(DEFAULT_CONFIG).expect("embedded default config is valid");
        cfg.demo = true;
        cfg
    }

    /// Parses and validates TOML; fields left out take the built-in defaults (for
    /// `queues` and `ivr.menu`, a file that names none keeps the embedded demo ones).
    /// `agents` has no default: a file without `[[agents]]` is an error (the demo
    /// accounts' passwords are published). `password_env` is read here.
    ///
    /// # Errors
    /// [`PremiseError::ConfigSyntax`] or [`PremiseError::Config`] naming the field.
    pub fn from_toml(text: &str) -> Result<Self, PremiseError> {
        let mut cfg: PremiseConfig =
            toml::from_str(text).map_err(|e| PremiseError::ConfigSyntax(e.to_string()))?;
        if text != DEFAULT_CONFIG {
            let base = Self::defaults();
            if cfg.queues.is_empty() {
                cfg.queues = base.queues;
            }
            if cfg.ivr.menu.is_empty() {
                cfg.ivr.menu = base.ivr.menu;
                if cfg.ivr.default_queue.is_empty() {
                    cfg.ivr.default_queue = base.ivr.default_queue;
                }
            }
        }
        for (i, a) in cfg.agents.iter_mut().enumerate() {
            if let Some(var) = &a.password_env {
                let at = format!("agents[{i}].password_env");
                if !a.password.is_empty() {
                    return Err(field(at, "give `password` or `password_env`, not both"));
                }
                a.password = std::env::var(var).map_err(|_| {
                    field(at, format!("the environment variable `{var}` is not set"))
                })?;
            }
        }
        cfg.validate()?;
        if cfg.agents.is_empty() {
            return Err(field(
                "agents",
                "list the agents ([[agents]] with id and password, ha1 or contact); \
                 only the embedded demo defaults have agents of their own",
            ));
        }
        Ok(cfg)
    }

    /// Reads `path`, or the embedded defaults when `None`.
    ///
    /// # Errors
    /// As [`from_toml`](Self::from_toml), or the file cannot be read.
    pub fn load(path: Option<&Path>) -> Result<Self, PremiseError> {
        match path {
            None => Ok(Self::defaults()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| PremiseError::Io {
                    what: p.display().to_string(),
                    source,
                })?;
                Self::from_toml(&text)
            }
        }
    }

    /// Checks every cross-reference.
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming the first wrong field.
    pub fn validate(&self) -> Result<(), PremiseError> {
        if self.tenant.trim().is_empty() {
            return Err(field("tenant", "must not be empty"));
        }
        check_digest("sip.digest", &self.sip.digest)?;
        crate::sip_edge::validate(&self.sip)?;
        crate::web_tls::validate(self.http.tls.as_ref())?;
        crate::listening::validate(&self.ivr)?;
        self.quality.validate()?;
        crate::coaching::validate(&self.coaching)?;
        if self.media.rtp_first >= self.media.rtp_last || self.media.rtp_first < 1024 {
            return Err(field(
                "media.rtp_first",
                "must be 1024 or more and below media.rtp_last",
            ));
        }
        if self.drain_secs > 3600 {
            return Err(field("drain_secs", "at most 3600 (one hour)"));
        }
        if self.queues.is_empty() {
            return Err(field("queues", "define at least one queue"));
        }
        let queue_known = |q: &str| self.queues.iter().any(|x| x.id == q);
        for (i, q) in self.queues.iter().enumerate() {
            if q.id.trim().is_empty() {
                return Err(field(format!("queues[{i}].id"), "must not be empty"));
            }
            if self.queues[..i].iter().any(|x| x.id == q.id) {
                return Err(field(format!("queues[{i}].id"), "duplicate queue id"));
            }
        }
        for (i, q) in self.queues.iter().enumerate() {
            q.check_waiting(i, self)?;
            crate::service_levels::check(i, q)?;
        }
        for (i, m) in self.ivr.menu.iter().enumerate() {
            if m.key.len() != 1 || !m.key.chars().all(|c| c.is_ascii_digit() || c == '*') {
                return Err(field(format!("ivr.menu[{i}].key"), "one key, 0-9 or *"));
            }
            if !queue_known(&m.queue) {
                return Err(field(
                    format!("ivr.menu[{i}].queue"),
                    format!("no queue `{}`", m.queue),
                ));
            }
        }
        if !queue_known(&self.ivr.default_queue) {
            return Err(field(
                "ivr.default_queue",
                format!("no queue `{}`", self.ivr.default_queue),
            ));
        }
        for (i, a) in self.agents.iter().enumerate() {
            if a.id.is_empty() || !a.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                return Err(field(format!("agents[{i}].id"), "letters, digits and dots"));
            }
            if let Some(contact) = a.contact.as_ref().filter(|_| !a.is_webrtc()) {
                FixedContact::parse(contact)
                    .map_err(|e| field(format!("agents[{i}].contact"), e.to_string()))?;
            }
            for (name, hash) in &a.ha1 {
                let at = format!("agents[{i}].ha1.{name}");
                let len = match DigestAlgorithm::parse(Some(name)) {
                    Some(DigestAlgorithm::Md5) => 32,
                    Some(DigestAlgorithm::Sha256) => 64,
                    None => {
                        return Err(field(at, "not a digest algorithm: \"MD5\" or \"SHA-256\""));
                    }
                };
                if hash.len() != len || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(field(at, format!("{len} hex digits: H(id:realm:password)")));
                }
            }
            let hashes_only = a.password.is_empty() && !a.ha1.is_empty();
            // a browser agent logs in to its phone with its password
            let needs_password =
                !hashes_only && (a.contact.is_none() || a.is_webrtc() || !a.password.is_empty());
            if needs_password && a.password.len() < 6 {
                return Err(field(
                    format!("agents[{i}].password"),
                    "at least 6 characters (or give the agent a `contact`)",
                ));
            }
            if hashes_only {
                let have: Vec<DigestAlgorithm> =
                    a.ha1_hashes().into_iter().map(|(d, _)| d).collect();
                if let Some(missing) = a
                    .digest_algorithms(&self.sip)
                    .iter()
                    .find(|d| !have.contains(d))
                {
                    return Err(field(
                        format!("agents[{i}].ha1"),
                        format!(
                            "no {} hash, and the phone is challenged with it",
                            missing.as_str()
                        ),
                    ));
                }
            }
            if self.agents[..i].iter().any(|x| x.id == a.id) {
                return Err(field(format!("agents[{i}].id"), "duplicate agent id"));
            }
            if let Some(d) = &a.digest {
                check_digest(&format!("agents[{i}].digest"), d)?;
            }
        }
        crate::trunks::validate(&self.trunks, &self.dial_plan, &self.dids, queue_known)?;
        crate::ops_config::validate(self)?;
        crate::srtp::validate(self)?;
        crate::web::validate(self)?;
        crate::channels::validate(self)?;
        Ok(())
    }

    /// The HTTP listener's address, `None` when it is off: `http.bind`, else
    /// [`DEFAULT_HTTP_BIND`] — or port 0 on the same host when `sip.bind` has
    /// port 0, so that centers started on free ports (tests) never collide.
    pub fn http_bind(&self) -> Option<SocketAddr> {
        if !self.http.enabled {
            return None;
        }
        Some(match self.http.bind {
            Some(b) => b,
            None if self.sip.bind.port() == 0 => SocketAddr::new(DEFAULT_HTTP_BIND.ip(), 0),
            None => DEFAULT_HTTP_BIND,
        })
    }

    /// Where the SQLite database lives.
    pub fn database_path(&self) -> PathBuf {
        self.storage.data_dir.join("center.db")
    }

    /// Where recordings go.
    pub fn recordings_dir(&self) -> PathBuf {
        self.storage.data_dir.join("recordings")
    }

    /// Where prompt and music files are looked up.
    pub fn prompts_dir(&self) -> PathBuf {
        self.storage.data_dir.join("prompts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_allow_list_is_read_and_empty_by_default() {
        let agent = "[[agents]]\nid = \"1001\"\nname = \"A\"\npassword = \"pw-1001-x\"\n";
        let c = PremiseConfig::from_toml(&format!(
            "[callbacks]\nallow = [\"+4930*\", \"+15550100\"]\n{agent}"
        ))
        .unwrap();
        assert_eq!(c.callbacks.allow, vec!["+4930*", "+15550100"]);
        let c = PremiseConfig::from_toml(agent).unwrap();
        assert!(c.callbacks.allow.is_empty());
        assert_eq!(c.callbacks.policy(), callcore::CallbackPolicy::default());
        let c = PremiseConfig::from_toml(&format!(
            "[callbacks]\nattempts = 5\nretry_after_secs = 60\n{agent}"
        ))
        .unwrap();
        assert_eq!(
            c.callbacks.policy(),
            callcore::CallbackPolicy {
                attempts: 5,
                retry_after_secs: 60
            }
        );
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let c = PremiseConfig::defaults();
        assert_eq!(c.sip.bind.port(), 5060);
        assert_eq!(c.agents.len(), 2);
        assert_eq!(c.ivr.menu.len(), 2);
        assert_eq!(c.http_bind(), Some(DEFAULT_HTTP_BIND));
        assert_eq!(c.drain_secs, 30);
    }

    #[test]
    fn http_follows_an_ephemeral_sip_port_unless_given() {
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[sip]\nbind = \"127.0.0.1:0\"\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.http_bind().map(|a| a.port()), Some(0));
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[http]\nbind = \"127.0.0.1:9100\"\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.http_bind().map(|a| a.port()), Some(9100));
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[http]\nenabled = false\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.http_bind(), None);
        assert_eq!(
            error_of("drain_secs = 7200\n").as_deref(),
            Some("config field `drain_secs`: at most 3600 (one hour)")
        );
    }

    #[test]
    fn a_file_without_agents_is_an_error_naming_the_field() {
        let e = PremiseConfig::from_toml("[sip]\nbind = \"127.0.0.1:5070\"\n")
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("config field `agents`: list the agents")),
            "{e:?}"
        );
        assert!(PremiseConfig::defaults().demo);
    }

    #[test]
    fn a_partial_file_keeps_the_demo_queues() {
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[sip]\nbind = \"127.0.0.1:5070\"\n[[agents]]\nid = \"7\"\npassword = \"secret7\"\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.demo);
        assert_eq!(c.sip.bind.port(), 5070);
        assert_eq!(c.queues.len(), 2);
        // ...and says the same greeting (not a placeholder)
        assert_eq!(c.ivr.greeting, PremiseConfig::defaults().ivr.greeting);
        assert_eq!(c.ivr.greeting, DEFAULT_GREETING);
    }

    #[test]
    fn an_agent_with_a_contact_needs_no_password() {
        let toml = "[[agents]]\nid = \"2001\"\ncontact = \"sip:2001@127.0.0.1:5090;transport=tcp\"\n\
                    skills = [\"support\"]\n";
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.agents.len(), 1);
        assert!(c.agents[0].password.is_empty());
        // a password given anyway is still checked: the phone may register too
        let short = format!("{toml}password = \"abc\"\n");
        let e = PremiseConfig::from_toml(&crate::config::with_demo_agents(&short))
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("agents[0].password")));
    }

    #[test]
    fn a_browser_agent_needs_a_password_to_log_in() {
        let toml = "[[agents]]\nid = \"3001\"\ncontact = \"webrtc\"\n";
        let e = PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("agents[0].password")),
            "{e:?}"
        );
        let ok = format!("{toml}password = \"carol3001\"\n");
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(&ok))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.agents[0].is_webrtc());
    }

    #[test]
    fn errors_name_the_field() {
        let bad = "[ivr]\ndefault_queue = \"sales\"\n";
        let e = PremiseConfig::from_toml(&crate::config::with_demo_agents(bad))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("config field `ivr.default_queue`: no queue `sales`")
        );
        let bad = "[[agents]]\nid = \"9\"\npassword = \"x\"\n";
        let e = PremiseConfig::from_toml(&crate::config::with_demo_agents(bad))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "config field `agents[0].password`: at least 6 characters (or give the agent a `contact`)"
            )
        );
        let bad = "[[agents]]\nid = \"9\"\ncontact = \"sip:9@pbx.example.com\"\n";
        let e = PremiseConfig::from_toml(&crate::config::with_demo_agents(bad))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("config field `agents[0].contact`: contact: the host must be an IP address")
        );
        let e =
            PremiseConfig::from_toml(&crate::config::with_demo_agents("[sip]\nport = 1\n")).err();
        assert!(matches!(e, Some(PremiseError::ConfigSyntax(m)) if m.contains("port")));
    }

    #[test]
    fn waiting_fields_are_read_and_their_errors_name_the_field() {
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents("[[queues]]\nid = \"sales\"\nannounce_every_secs = 30\ncallback_key = \"1\"\n\
             max_wait_secs = 120\noverflow = \"voicemail\"\n\
             [[queues]]\nid = \"support\"\nmax_wait_secs = 60\noverflow = \"sales\"\n\
             [ivr]\ndefault_queue = \"support\"\n\
             menu = [{ key = \"3\", label = \"French\", queue = \"support\", skills = [\"french\"] }]\n"))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.queues[0].overflow_to(), Some(Overflow::Voicemail));
        assert_eq!(c.queues[0].callback_key_char(), Some('1'));
        assert_eq!(
            c.queues[1].overflow_to(),
            Some(Overflow::Queue("sales".into()))
        );
        assert_eq!(c.ivr.menu[0].skills, ["french"]);
        let q = |extra: &str| format!("[[queues]]\nid = \"support\"\n{extra}");
        assert_eq!(
            error_of(&q("callback_key = \"12\"\n")).as_deref(),
            Some("config field `queues[0].callback_key`: one key, 0-9, * or #")
        );
        assert_eq!(
            error_of(&q("overflow = \"voicemail\"\n")).as_deref(),
            Some("config field `queues[0].overflow`: needs max_wait_secs")
        );
        assert_eq!(
            error_of(&q("max_wait_secs = 9\noverflow = \"nowhere\"\n")).as_deref(),
            Some(
                "config field `queues[0].overflow`: no queue `nowhere` (a queue id or \"voicemail\")"
            )
        );
        assert_eq!(
            error_of(&q("announce_every_secs = 1\n")).as_deref(),
            Some("config field `queues[0].announce_every_secs`: at least 5 seconds")
        );
        assert!(
            error_of(&q("music_on_hold = \"no-such.wav\"\n")).is_some_and(
                |e| e.starts_with("config field `queues[0].music_on_hold`: no audio file")
            )
        );
    }

    #[test]
    fn credentials_as_ha1_or_from_the_environment_are_never_printed() {
        let md5 = "0123456789abcdef0123456789abcdef";
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(&format!(
            "[[agents]]\nid = \"7\"\nha1 = {{ MD5 = \"{md5}\" }}\n"
        )))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.agents[0].has_credentials());
        assert_eq!(
            c.agents[0].ha1_hashes(),
            [(DigestAlgorithm::Md5, md5.to_owned())]
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains(md5), "{shown}");
        // an algorithm the phone is challenged with needs its hash
        assert_eq!(
            error_of(&format!(
                "[[agents]]\nid = \"7\"\ndigest = [\"SHA-256\", \"MD5\"]\nha1 = {{ MD5 = \"{md5}\" }}\n"
            ))
            .as_deref(),
            Some("config field `agents[0].ha1`: no SHA-256 hash, and the phone is challenged with it")
        );
        assert!(
            error_of("[[agents]]\nid = \"7\"\nha1 = { MD5 = \"abc\" }\n")
                .is_some_and(|e| e.starts_with("config field `agents[0].ha1.MD5`: 32 hex digits"))
        );
        // a password from the environment, never shown
        let var = format!("CALLCORE_TEST_PW_{}", std::process::id());
        let toml = format!("[[agents]]\nid = \"8\"\npassword_env = \"{var}\"\n");
        assert_eq!(
            error_of(&toml).as_deref(),
            Some(format!("config field `agents[0].password_env`: the environment variable `{var}` is not set").as_str())
        );
        // (`PATH` stands in for a password variable: tests may not set variables)
        let path = std::env::var("PATH").unwrap_or_default();
        if path.len() >= 6 {
            let toml = "[[agents]]\nid = \"8\"\npassword_env = \"PATH\"\n";
            let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.agents[0].password, path);
            let shown = format!("{:?}", c.agents[0]);
            assert!(!shown.contains(&path), "{shown}");
        }
        let demo = format!("{:?}", PremiseConfig::defaults());
        assert!(!demo.contains("alice1001"), "{demo}");
    }

    #[test]
    fn the_demo_agents_toml_is_the_embedded_defaults_agents() {
        let demo = PremiseConfig::from_toml(DEMO_AGENTS_TOML).unwrap_or_else(|e| panic!("{e}"));
        let defaults = PremiseConfig::defaults();
        let ids = |c: &PremiseConfig| -> Vec<(String, String)> {
            c.agents
                .iter()
                .map(|a| (a.id.clone(), a.password.clone()))
                .collect()
        };
        assert_eq!(ids(&demo), ids(&defaults));
    }

    fn error_of(toml: &str) -> Option<String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn phones_are_challenged_with_md5_unless_the_agent_names_more() {
        let c = PremiseConfig::defaults();
        assert_eq!(c.sip.digest_algorithms(), [DigestAlgorithm::Md5]);
        for a in &c.agents {
            assert_eq!(
                a.digest_algorithms(&c.sip),
                [DigestAlgorithm::Md5],
                "{}",
                a.id
            );
        }
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[[agents]]\nid = \"7\"\npassword = \"secret7\"\ndigest = [\"SHA-256\", \"MD5\"]\n\
             [[agents]]\nid = \"8\"\npassword = \"secret8\"\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.agents[0].digest_algorithms(&c.sip),
            [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
        );
        assert_eq!(
            c.agents[1].digest_algorithms(&c.sip),
            [DigestAlgorithm::Md5]
        );
    }

    #[test]
    fn digest_errors_name_the_field() {
        assert_eq!(
            error_of("[sip]\ndigest = []\n").as_deref(),
            Some("config field `sip.digest`: name at least one algorithm: \"MD5\" or \"SHA-256\"")
        );
        assert_eq!(
            error_of("[sip]\ndigest = [\"MD5\", \"SHA-512\"]\n").as_deref(),
            Some(
                "config field `sip.digest[1]`: `SHA-512` is not a digest algorithm: \"MD5\" or \"SHA-256\""
            )
        );
        let agent = |digest: &str| {
            format!(
                "[[agents]]\nid = \"1\"\npassword = \"secret1\"\n[[agents]]\nid = \"2\"\npassword = \"secret2\"\ndigest = {digest}\n"
            )
        };
        assert_eq!(
            error_of(&agent("[\"SHA1\"]")).as_deref(),
            Some(
                "config field `agents[1].digest[0]`: `SHA1` is not a digest algorithm: \"MD5\" or \"SHA-256\""
            )
        );
        assert_eq!(
            error_of(&agent("[\"MD5\", \"md5\"]")).as_deref(),
            Some("config field `agents[1].digest[1]`: `md5` is listed twice")
        );
        assert!(
            error_of(&agent("[]"))
                .is_some_and(|e| e.starts_with("config field `agents[1].digest`: name at least"))
        );
        assert!(error_of(&agent("\"MD5\"")).is_some_and(|e| e.contains("digest")));
    }
}
