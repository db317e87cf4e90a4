//! Assembling and running the premise center: SIP (UDP+TCP) with a registrar and
//! digest auth for the agents' phones, callcore-media on every leg (prompts, DTMF,
//! bridging, stereo call recording to a local folder), the IVR flow, callcore-acd's
//! engine as router, SQLite as the only store, and agents who become available when
//! their phone registers and offline when the registration lapses — or, with a fixed
//! `contact`, are available from the start and rung at that address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callcore::{
    AgentId, AgentProfile, AgentState, Clock, Endpoint, IdSource, InteractionRecord,
    QueueDefinition, Stores, TenantId, Timestamp, UuidV7Ids,
};
use callcore_acd::{AcdConfig, AcdEngine};
use callcore_media::leg_port::{RtpMedia, RtpMediaConfig};
use callcore_runtime::{Center, CenterHandle, Providers, SystemClock};
use callcore_sip::auth::{Accounts, DigestConfig};
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::contact::FixedContact;
use callcore_sip::ua::{IdSeed, UaConfig};
use callcore_store::SqliteStore;
use tokio::task::JoinHandle;

use crate::PremiseError;
use crate::config::PremiseConfig;
use crate::flow::premise_flow;
use crate::speech::{KeypadOnly, PremiseVoice};

/// A running premise center.
#[derive(Debug)]
pub struct Premise {
    config: PremiseConfig,
    center: CenterHandle,
    sip: Arc<SipTransport>,
    store: Arc<SqliteStore>,
    presence: JoinHandle<()>,
    voice: PremiseVoice,
    started_at: Timestamp,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PremiseError {
    let what = what.into();
    move |source| PremiseError::Io { what, source }
}

impl Premise {
    /// Opens the store, binds SIP and starts the center.
    ///
    /// # Errors
    /// The data folder, the database or the SIP address cannot be opened; the
    /// center refuses a queue or agent.
    pub async fn start(config: PremiseConfig) -> Result<Premise, PremiseError> {
        config.validate()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tenant = TenantId::new(config.tenant.clone());
        // the data and recordings folders, when new, are the owner's only (0700)
        let mut folders = std::fs::DirBuilder::new();
        folders.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folders, 0o700);
        folders
            .create(config.recordings_dir())
            .map_err(io(config.recordings_dir().display().to_string()))?;
        let store = Arc::new(
            SqliteStore::open(config.database_path())
                .map_err(|e| PremiseError::Store(e.to_string()))?,
        );
        let stores = Stores::all_in(store.clone());
        let voice = PremiseVoice::detect();
        // the greeting and the menu as callcore-ivr's menu node words it
        let menu: String = config
            .ivr
            .menu
            .iter()
            .map(|m| format!(" For {}, press {}.", m.label, m.key))
            .collect();
        voice.prewarm(&[config.ivr.greeting.clone(), menu]).await;

        let mut media = RtpMediaConfig::loopback(config.media.rtp_first..=config.media.rtp_last);
        media.ip = config.media.ip;
        media.recordings_dir = config.recordings_dir();
        media.prompts_dir = config.storage.data_dir.join("prompts");
        let media = RtpMedia::new(media)
            .with_recording_store(stores.recordings.clone(), clock.clone())
            .with_synthesizer(Arc::new(voice.clone()))
            .with_recognizer(Arc::new(KeypadOnly));

        let mut ua = UaConfig::new(config.sip.bind);
        ua.user_agent = "callcore-premise".into();
        ua.registrar = true;
        // Each phone is challenged with its agent's algorithms (`sip.digest` unless
        // the agent names its own); the nonce key comes from the OS at start.
        let mut digest = DigestConfig::new(&config.sip.realm);
        digest.algorithms = config.sip.digest_algorithms();
        let mut accounts = Accounts::default();
        // an agent at a fixed contact may have no credentials: it has no account then
        for a in config.agents.iter().filter(|a| a.has_credentials()) {
            if a.password.is_empty() {
                accounts.insert_ha1(&a.id, &a.ha1_hashes(), &a.digest_algorithms(&config.sip));
            } else {
                accounts.insert(&a.id, &a.password, &a.digest_algorithms(&config.sip));
            }
        }
        ua.auth = Some((digest, Arc::new(accounts)));
        // Interaction, leg (and so recording) ids are UUIDv7: unique across
        // restarts on the same data directory, so no run replaces another's records.
        let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
        let sip = SipTransport::start_with_ids(
            SipCenterConfig {
                ua,
                seed: IdSeed::Os,
                tcp: config.sip.tcp,
                tenant: tenant.clone(),
                media_addr: SocketAddr::new(config.media.ip, config.media.rtp_first),
                trunks: Vec::new(),
                from_domain: config.sip.bind.ip().to_string(),
            },
            clock.clone(),
            Some(Arc::new(media)),
            ids,
        )
        .await
        .map_err(io(format!("SIP on {}", config.sip.bind)))?;
        let sip = Arc::new(sip);

        let center = Center::builder()
            .clock(clock.clone())
            .stores(stores)
            .providers(Providers {
                asr: Some(Arc::new(KeypadOnly)),
                nlu: None,
                tts: Some(Arc::new(voice.clone())),
            })
            .transport(sip.clone())
            .router(Box::new(AcdEngine::new(AcdConfig::default())))
            .flow("ivr", Arc::new(premise_flow(&config.ivr)?))
            .route("*", "ivr")
            // every conversation with an agent, in stereo in the recordings folder
            .record_calls(config.storage.record_calls)
            .build()?
            .start()
            .await?;
        for q in &config.queues {
            let mut def = QueueDefinition::new(q.id.as_str()).with_wrap_up_secs(q.wrap_up_secs);
            def.tenant = tenant.clone();
            if let Some(skill) = &q.skill {
                def = def.requiring(skill.as_str(), 1);
            }
            center.add_queue(def).await?;
        }
        let host = config.sip.bind.ip();
        for (i, a) in config.agents.iter().enumerate() {
            let aor = format!("sip:{}@{host}", a.id);
            let mut p = AgentProfile::new(a.id.as_str()).with_endpoint(Endpoint::Sip(aor.clone()));
            p.tenant = tenant.clone();
            p.name = a.name.clone();
            for s in &a.skills {
                p = p.with_skill(s.as_str(), 5);
            }
            center.add_agent(p).await?;
            if let Some(contact) = &a.contact {
                let fixed = FixedContact::parse(contact).map_err(|e| PremiseError::Config {
                    field: format!("agents[{i}].contact"),
                    detail: e.to_string(),
                })?;
                sip.set_fixed_contact(&aor, fixed);
                center
                    .set_agent_state(&AgentId::new(a.id.as_str()), AgentState::Available)
                    .await?;
            }
        }
        // agents with a fixed contact are available from the start; the others follow
        // their phone's registration
        let presence = tokio::spawn(presence(
            center.clone(),
            sip.clone(),
            config
                .agents
                .iter()
                .filter(|a| a.contact.is_none())
                .map(|a| (AgentId::new(a.id.as_str()), format!("sip:{}@{host}", a.id)))
                .collect(),
        ));
        Ok(Premise {
            started_at: clock.now(),
            config,
            center,
            sip,
            store,
            presence,
            voice,
        })
    }

    /// The SIP address (the real port when the config asked for port 0).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip.local_addr()
    }

    /// The running center (events, agents, queues at run time).
    pub fn center(&self) -> &CenterHandle {
        &self.center
    }

    /// The configuration in force.
    pub fn config(&self) -> &PremiseConfig {
        &self.config
    }

    /// Whether prompts are spoken by espeak-ng (otherwise chimes).
    pub fn speaks(&self) -> bool {
        self.voice.is_speech()
    }

    /// What to tell a person who wants to call this center.
    pub fn banner(&self) -> String {
        let addr = self.sip_addr();
        let mut s = format!(
            "callcore premise center on sip:{addr} (UDP{}), data in {}\n",
            if self.config.sip.tcp { "+TCP" } else { "" },
            self.config.storage.data_dir.display()
        );
        s.push_str(&format!(
            "IVR prompts: {}\n",
            if self.speaks() {
                "espeak-ng speech"
            } else {
                "chimes (install espeak-ng for speech)"
            }
        ));
        if self.config.demo {
            s.push_str(
                "DEMO accounts from the embedded defaults (their passwords are published in \
                 default.toml): give a config file with your own [[agents]] before exposing \
                 this center\n",
            );
        }
        s.push_str("Agent phones (register with digest auth, or rung at a fixed contact):\n");
        for a in &self.config.agents {
            if let Some(contact) = &a.contact {
                s.push_str(&format!(
                    "  {:<6} {:<8} rung at {contact}  skills {}\n",
                    a.id,
                    a.name,
                    a.skills.join(",")
                ));
                continue;
            }
            let digest: Vec<&str> = a
                .digest_algorithms(&self.config.sip)
                .iter()
                .map(|d| d.as_str())
                .collect();
            // never the password itself: the banner ends up in logs
            let secret = if a.password.is_empty() {
                "ha1 from the config"
            } else {
                "password from the config"
            };
            s.push_str(&format!(
                "  {:<6} {:<8} user {} {secret}  skills {}  digest {}\n",
                a.id,
                a.name,
                a.id,
                a.skills.join(","),
                digest.join(",")
            ));
        }
        if let Some(a) = self.config.agents.iter().find(|a| a.contact.is_none()) {
            s.push_str(&format!(
                "baresip as agent {id}: accounts line (put the agent's password in)\n  <sip:{id}@{ip}>;auth_pass=PASSWORD;outbound=\"sip:{addr}\";regint=60;answermode=auto\n",
                id = a.id,
                ip = addr.ip(),
            ));
        }
        s.push_str(&format!(
            "Call the IVR (menu: {}):\n  baresip: dial sip:ivr@{addr}\n  sipp:    sipp {addr} -sn uac_pcap -s ivr -m 1 -i 127.0.0.1 -p 15062 -mi 127.0.0.1\n",
            self.config
                .ivr
                .menu
                .iter()
                .map(|m| format!("{} {}", m.key, m.queue))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s
    }

    /// Interaction records stored since the center started, from SQLite.
    ///
    /// # Errors
    /// The store failed.
    pub async fn records(&self) -> Result<Vec<InteractionRecord>, PremiseError> {
        self.center.flush().await;
        let far = Timestamp::from_secs(i64::from(u32::MAX));
        Ok(callcore::InteractionStore::between(
            &*self.store,
            &TenantId::new(self.config.tenant.clone()),
            self.started_at,
            far,
        )
        .await?)
    }

    /// Recording files filed for `records`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn recordings(
        &self,
        records: &[InteractionRecord],
    ) -> Result<Vec<callcore::RecordingMeta>, PremiseError> {
        let mut out = Vec::new();
        for r in records {
            out.extend(
                callcore::RecordingStore::for_interaction(&*self.store, &r.tenant, &r.id).await?,
            );
        }
        Ok(out)
    }

    /// Stops the center (calls in progress drop) and flushes the store.
    pub async fn shutdown(self) {
        self.presence.abort();
        self.center.flush().await;
        self.center.shutdown().await;
    }
}

/// Agents are available while their phone is registered, offline when it is not.
async fn presence(center: CenterHandle, sip: Arc<SipTransport>, agents: Vec<(AgentId, String)>) {
    let mut registered: HashMap<AgentId, bool> = HashMap::new();
    loop {
        for (agent, aor) in &agents {
            let now = !sip.sip().lookup(aor).await.is_empty();
            if registered.get(agent).copied() == Some(now) {
                continue;
            }
            let state = if now {
                AgentState::Available
            } else {
                AgentState::Offline
            };
            match center.set_agent_state(agent, state.clone()).await {
                Ok(()) => {
                    tracing::info!(agent = %agent, ?state, "phone registration changed");
                    registered.insert(agent.clone(), now);
                }
                // busy or wrapping up: try again on the next round
                Err(e) => tracing::debug!(agent = %agent, error = %e, "state change deferred"),
            }
        }
        callcore_runtime::SystemClock
            .sleep(Duration::from_millis(500))
            .await;
    }
}
