//! Assembling and running the premise center: SIP (UDP+TCP) with a registrar and
//! digest auth for the agents' phones, callcore-media on every leg (prompts, DTMF,
//! bridging, stereo call recording to a local folder), the IVR flow, callcore-acd's
//! engine as router, SQLite as the only store, and agents who log in with the state
//! their config gives (`login`) and are reachable while their phone is registered —
//! or, with a fixed `contact`, always, rung at that address. Every event feeds the
//! live figures and the `queue_log` ([`crate::analytics`]); campaigns of the config
//! run with the center ([`crate::campaigns`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callcore::{
    AgentId, AgentProfile, AgentState, Clock, Destination, Endpoint, EscalationAction,
    EscalationStep, IdSource, InteractionRecord, Prompt, QueueDefinition, Stores, TenantId,
    Timestamp, UuidV7Ids,
};
use callcore_ivr::flow::{
    CallbackBook, CallbackDialer, CallbackNumbers, CallbackPolicy, SharedCallbackBook, is_chinese,
    spoken_choice,
};
use callcore_media::leg_port::{RtpMedia, RtpMediaConfig};
use callcore_runtime::{Center, CenterHandle, Providers, SystemClock, WaitOptions};
use callcore_sip::auth::{Accounts, DigestConfig};
use callcore_sip::center::{SipCenterConfig, SipTransport};
use callcore_sip::contact::FixedContact;
use callcore_sip::ua::{IdSeed, UaConfig};
use tokio::task::JoinHandle;

use crate::PremiseError;
use crate::channels::ChannelRoute;
use crate::cluster_node::ClusterNode;
use crate::config::{Overflow, PremiseConfig, QueueSection};
use crate::flow::premise_flow;
use crate::ops::meters::{MeteredJournal, MeteredMedia};
use crate::ops::{OpsParts, PremiseOps};
use crate::speech::PremiseVoice;

/// A running premise center.
#[derive(Debug)]
pub struct Premise {
    pub(crate) config: PremiseConfig,
    pub(crate) center: CenterHandle,
    pub(crate) sip: Arc<SipTransport>,
    /// The database's stores, unmetered (SQLite or PostgreSQL, crate::storage).
    pub(crate) store: Stores,
    database: crate::storage::Database,
    /// `[cluster]`: heartbeat and the closing of dead nodes' calls.
    cluster: Option<ClusterNode>,
    presence: JoinHandle<()>,
    callback_dialer: Option<JoinHandle<()>>,
    callbacks: SharedCallbackBook,
    voice: PremiseVoice,
    /// The Whisper model the IVR hears callers with (`None`: keys only).
    asr_model: Option<std::path::PathBuf>,
    /// `[ivr] language` is Chinese: callers are heard in Mandarin.
    chinese_menu: bool,
    /// `[quality]`: answered calls measured (and transcribed) from their audio.
    quality: Option<Arc<crate::quality::QualityInspection>>,
    pub(crate) started_at: Timestamp,
    /// Live figures, `queue_log`, campaigns (see `crate::center_ops`).
    pub(crate) center_ops: crate::center_ops::CenterOps,
    /// Metrics, health, the HTTP listener (crate::ops).
    pub(crate) ops: crate::ops::PremiseOps,
    /// Agents in a browser (crate::browser_agents) and their presence.
    pub(crate) browser: crate::browser_agents::BrowserAgents,
    browser_presence: JoinHandle<()>,
    /// The web API on the HTTP listener (crate::web).
    pub(crate) web: Option<callcore_web::WebApi>,
    /// `[email]`, `[sms]`: the channels' pollers and links (crate::channels).
    pub(crate) channels: crate::channels::Channels,
    /// Their inboxes (transports of the center).
    pub(crate) inboxes: crate::channels::Inboxes,
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
        Self::builder(config).start().await
    }

    /// The center of `config` with the builder's router and flows.
    pub(crate) async fn assemble(
        config: PremiseConfig,
        plugins: crate::builder::Plugins,
    ) -> Result<Premise, PremiseError> {
        config.validate()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tenant = TenantId::new(config.tenant.clone());
        // the data folder and its recordings: the owner's only (0700 on Unix)
        callcore_media::wav::create_private_dir(&config.recordings_dir())
            .map_err(io(config.recordings_dir().display().to_string()))?;
        let (mut store, database) = crate::storage::open(&config).await?;
        // a node of the cloud assembly tracks its calls and heartbeats
        let mut cluster = match &config.cluster {
            Some(c) => Some(ClusterNode::join(c, &database, &mut store).await?),
            None => None,
        };
        // a node routes through its shard's owner (crate::cluster_routing)
        let (router, orphans): (Box<dyn callcore::Router>, _) = match cluster.as_mut() {
            Some(c) => {
                let (router, orphans) = c.start_routing(&config.tenant, clock.clone())?;
                (router, Some(orphans))
            }
            None => (plugins.router, None),
        };
        let mut stores = store.clone();
        // the operations view counts what reaches the journal (journal lag)
        let journal = MeteredJournal::new(stores.events.clone());
        stores.events = Arc::new(journal.clone());
        let voice = PremiseVoice::detect();
        let listening = crate::listening::load(&config.ivr)?;
        // the greeting and the menu as callcore-ivr's menu node words it
        let menu: String = config
            .ivr
            .menu
            .iter()
            .map(|m| spoken_choice(config.ivr.language.as_deref(), &m.label, &m.key))
            .collect();
        voice.prewarm(&[config.ivr.greeting.clone(), menu]).await;

        let mut media = RtpMediaConfig::loopback(config.media.rtp_first..=config.media.rtp_last);
        media.ip = config.media.ip;
        media.recordings_dir = config.recordings_dir();
        media.prompts_dir = config.storage.data_dir.join("prompts");
        let media = RtpMedia::new(media)
            .with_recording_store(stores.recordings.clone(), clock.clone())
            .with_synthesizer(Arc::new(voice.clone()))
            .with_recognizer(listening.asr.clone());
        // the operations view sums the legs' RTP counters
        let media = MeteredMedia::new(Arc::new(media));

        let mut ua = UaConfig::new(config.sip.bind);
        // a cluster node's first reply is its answer, once the call is
        // journaled (below): the proxy fails a silent node's calls over
        ua.auto_trying = config.cluster.is_none();
        ua.user_agent = "callcore-premise".into();
        ua.registrar = true;
        // Each phone is challenged with its agent's algorithms (`sip.digest` unless
        // the agent names its own); the nonce key comes from the OS at start.
        let mut digest = DigestConfig::new(&config.sip.realm);
        digest.algorithms = config.sip.digest_algorithms();
        digest.failure_window = std::time::Duration::from_secs(config.sip.lockout_secs.max(1));
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
        ua.limits.streams = config.sip.connections.limits();
        // Interaction, leg (and so recording) ids are UUIDv7: unique across
        // restarts on the same data directory, so no run replaces another's records.
        let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
        // browser agents' legs: media on the same engine, so they bridge to SIP legs
        let browser = crate::browser_agents::BrowserAgents::new(
            &config,
            Arc::new(media.clone()),
            ids.clone(),
            tenant.clone(),
        );
        // TLS trunks: their CA bundles and host names; the phones' TLS listener
        let mut trunks = crate::trunks::sip_trunks(&config.trunks);
        // trunks whose host is a domain: RFC 3263 lookups (crate::trunk_dns)
        let dns = crate::trunk_dns::start(&config.sip, &config.trunks, &mut trunks).await?;
        let mut trunk_tls = crate::trunk_tls::tls_options(&config.trunks)?;
        if let Some(d) = &dns {
            trunk_tls = d.with_tls_names(trunk_tls);
        }
        let opts = callcore_sip::ua::driver::DriverOptions {
            tcp: config.sip.tcp,
            tls: crate::sip_edge::tls_options(&config.sip, trunk_tls)?,
        };
        let sip = SipTransport::start_with_options(
            SipCenterConfig {
                ua,
                seed: IdSeed::Os,
                tcp: config.sip.tcp,
                tenant: tenant.clone(),
                media_addr: SocketAddr::new(config.media.ip, config.media.rtp_first),
                trunks,
                from_domain: config.sip.bind.ip().to_string(),
            },
            opts,
            clock.clone(),
            Some(Arc::new(media.clone())),
            ids.clone(),
        )
        .await
        .map_err(io(format!("SIP on {}", config.sip.bind)))?;
        let sip = Arc::new(sip);
        // a cluster node rings its agents for other nodes' callers (crate::cluster_offers)
        let diverted = cluster
            .as_ref()
            .map(|_| sip.divert_inbound(crate::cluster_node::OFFER_PARAM));
        if let Some(d) = dns {
            sip.set_trunk_lookup(d.lookup, d.domains);
        }
        // numbers go out through the dial plan's trunks; trunks register and are probed
        sip.set_dial_plan(crate::trunks::dial_plan(&config.dial_plan));
        sip.maintain_trunks();
        // a cluster node says nothing to a caller before the call's start is
        // journaled (then answers): a node that dies first has not replied,
        // and the proxy gives the call to another node (docs/cloud.md)
        sip.set_ring_inbound(config.cluster.is_none());
        // SRTP for phones and agents (trunks carry theirs); warns when keys would
        // cross the network in clear-text SIP
        crate::srtp::apply(&config, &sip);

        // the IVR, with each queue's waiting (music, announcements, callback
        // key) and a book for the callbacks asked for while waiting
        let callbacks: SharedCallbackBook =
            Arc::new(std::sync::Mutex::new(CallbackBook::new(CallbackPolicy {
                caller_id: config.sip.bind.ip().to_string(),
                // toll fraud: trusted trunks' numbers and the allow-list only
                numbers: CallbackNumbers::allowing(config.callbacks.allow.clone()),
                ..CallbackPolicy::default()
            })));
        // every flow that queues callers (the IVR, a DID straight to a queue)
        // gives them the queue's waiting, callbacks and voicemail
        // `[ivr] knowledge_bases`, for every flow's `bot` nodes
        let knowledge = crate::flow::knowledge_bases(&config.ivr)?;
        let knowing = |mut flow: callcore_ivr::flow::IvrFlow| {
            for (name, kb) in &knowledge {
                flow = flow.with_knowledge_base(name, kb.clone());
            }
            flow
        };
        let waiting = |mut flow: callcore_ivr::flow::IvrFlow| {
            flow = knowing(flow).with_callbacks(callbacks.clone());
            for q in &config.queues {
                flow = flow.with_waiting(&q.id, waiting_of(q));
                if q.overflow_to() == Some(Overflow::Voicemail) {
                    flow = flow.with_voicemail_queue(&q.id, &voicemail_queue(&q.id));
                }
            }
            flow
        };
        let ivr = waiting(premise_flow(&config.ivr)?);
        // the center mints its own interactions' ids (click-to-dial) as SIP does
        // [email] / [sms] / [wechat]: each channel's inbox is a transport whose
        // conversations go straight to their queue
        let inboxes = crate::channels::Inboxes::new(&config, &tenant, &clock, &ids);
        let channel_ids = ids.clone();
        let mut builder = Center::builder().ids(ids);
        // first: it answers for an agent only while an offer goes through another node
        if let Some(relay) = cluster
            .as_ref()
            .and_then(|c| c.relay_transport(sip.clone()))
        {
            builder = builder.transport(relay);
        }
        // the builder's flows and routes first: its routes win over the DIDs' and `*`
        for (name, flow) in plugins.flows {
            builder = builder.flow(name, flow);
        }
        for (to, flow) in plugins.routes {
            builder = builder.route(to, flow);
        }
        for route in inboxes.routes(&config)? {
            let (inbox, flow) = match route {
                // `[chat] ivr_menu`: the IVR's menu first, its choices as quick replies
                ChannelRoute::Queue(inbox, _, _)
                    if inbox.entry() == crate::channels::CHAT_ENTRY
                        && config.chat.as_ref().is_some_and(|c| c.ivr_menu) =>
                {
                    (inbox, waiting(premise_flow(&config.ivr)?))
                }
                ChannelRoute::Queue(inbox, queue, at) => {
                    (inbox, waiting(crate::trunks::queue_flow(at, &queue)?))
                }
                // the channel's own flow (the bot answers first); its queues'
                // announcements would go out as messages, so no waiting options
                ChannelRoute::Flow(inbox, spec) => {
                    (inbox, knowing(callcore_ivr::flow::IvrFlow::new(*spec)))
                }
            };
            let entry = inbox.entry().to_owned();
            builder = builder
                .transport(inbox)
                .flow(entry.as_str(), Arc::new(flow))
                .route(entry.as_str(), entry.as_str());
        }
        // inbound numbers (DIDs) to their flows; any other number reaches the IVR
        for (i, did) in config.dids.iter().enumerate() {
            if let Some(q) = &did.queue {
                let at = format!("dids[{i}].queue");
                builder = builder.flow(
                    crate::trunks::queue_flow_name(q),
                    Arc::new(waiting(crate::trunks::queue_flow(&at, q)?)),
                );
            }
            builder = builder.route(did.number.as_str(), did.flow_name());
        }
        // [quality]: both legs of every answered call measured (and transcribed)
        let quality = if config.quality.enabled {
            let asr = plugins
                .transcriber
                .clone()
                .or_else(|| listening.model.is_some().then(|| listening.asr.clone()));
            let asr = asr.filter(|_| config.quality.transcribe);
            if config.quality.transcribe && asr.is_none() {
                tracing::warn!(
                    "quality.transcribe: no speech recognition (feature asr-whisper and a \
                     model): calls are measured, not transcribed"
                );
            }
            // the rules and assist on the transcripts (crate::live_qa)
            let rules = config
                .quality
                .live_rules(knowledge.clone(), listening.nlu.is_some())?;
            Some(Arc::new(crate::quality::QualityInspection::new(
                &config.quality,
                asr,
                clock.clone(),
                Some(rules),
                listening.nlu.clone(),
            )))
        } else {
            None
        };
        if let Some(q) = &quality {
            builder = builder.conversations(q.clone());
        }
        let center = builder
            .clock(clock.clone())
            .stores(stores.clone())
            .providers(Providers {
                asr: Some(listening.asr.clone()),
                nlu: listening.nlu.clone(),
                tts: Some(Arc::new(voice.clone())),
            })
            .transport(sip.clone())
            .transport(browser.transport.clone())
            .router(router)
            .flow(crate::trunks::IVR_FLOW, Arc::new(ivr))
            .route("*", "ivr")
            // every conversation with an agent, in stereo in the recordings folder
            .record_calls(config.storage.record_calls)
            .callbacks(config.callbacks.policy())
            .answer_when_journaled(config.cluster.is_some())
            // one customer across channels: message customers get a profile on
            // first contact, joined with the identities they prove (chat login)
            .create_customers(
                crate::channels::Inboxes::capacities(&config)
                    .into_iter()
                    .map(|(c, _)| c),
            )
            .build()?
            .start()
            .await?;
        // web chat's messages are journaled as transcript lines of their interactions
        if let Some(hub) = &inboxes.chat {
            let journal = center.clone();
            hub.set_journal(Arc::new(move |tenant, kind| {
                journal.journal_event(tenant, kind)
            }));
            // "e-mail me the transcript" goes through the [email] channel
            if let Some(email) = &inboxes.email {
                hub.set_transcript_sender(Arc::new(crate::chat_transcript::MailedTranscripts {
                    center: center.clone(),
                    email: email.clone(),
                    tenant: tenant.clone(),
                }));
            }
        }
        // subscribed before the queues and agents come, so the queue_log has them
        let analytics = crate::analytics::Analytics::start(
            &center,
            &config.analytics,
            &config.storage.data_dir,
            clock.clone(),
        )?;
        // before any queue or agent is added: the figures see them all
        let events = center.subscribe();
        if let Some(q) = &quality {
            q.attach(center.clone());
        }
        for q in &config.queues {
            let mut def = QueueDefinition::new(q.id.as_str()).with_wrap_up_secs(q.wrap_up_secs);
            def.tenant = tenant.clone();
            if let Some(strategy) = q.strategy.as_ref().or(plugins.default_strategy.as_ref()) {
                def.strategy.clone_from(strategy);
            }
            if let Some(skill) = &q.skill {
                def = def.requiring(skill.as_str(), 1);
            }
            crate::service_levels::apply(&mut def, q);
            if q.overflow_to() == Some(Overflow::Voicemail) {
                // the messages wait for the queue's agents without its maximum
                // wait, after the live callers
                let mut messages = def.clone();
                messages.id = voicemail_queue(&q.id).as_str().into();
                messages.priority = def.priority.saturating_sub(1);
                center.add_queue(messages).await?;
            }
            with_overflow(&mut def, q);
            center.add_queue(def).await?;
        }
        // a cluster node calls back the waiting callers of a dead node
        if let (Some(c), Some(orphans)) = (cluster.as_mut(), orphans) {
            c.call_back_orphans(
                orphans,
                stores.events.clone(),
                callbacks.clone(),
                clock.clone(),
            );
        }
        let callback_dialer = (config.cluster.is_some()
            || config.queues.iter().any(|q| q.callback_key.is_some()))
        .then(|| {
            CallbackDialer::spawn(
                center.clone(),
                sip.clone() as Arc<dyn callcore::Transport>,
                callbacks.clone(),
            )
        });
        let host = config.sip.bind.ip();
        let mut endpoints = std::collections::HashMap::new();
        for (i, a) in config.agents.iter().enumerate() {
            let aor = format!("sip:{}@{host}", a.id);
            let endpoint = if a.is_webrtc() {
                Endpoint::WebRtc(a.id.clone())
            } else {
                Endpoint::Sip(aor.clone())
            };
            endpoints.insert(a.id.clone(), vec![endpoint.clone()]);
            let mut p = AgentProfile::new(a.id.as_str()).with_endpoint(endpoint);
            p.tenant = tenant.clone();
            p.name = a.name.clone();
            p.supervisor = a.supervisor;
            for s in &a.skills {
                p = p.with_skill(s.as_str(), 5);
            }
            p = crate::channels::Inboxes::agent_profile(&config, a, p);
            center.add_agent(p).await?;
            let id = AgentId::new(a.id.as_str());
            if a.is_webrtc() {
                // reachable while the browser is connected
                center.set_agent_reachable(&id, false).await?;
            } else if let Some(contact) = &a.contact {
                let fixed = FixedContact::parse(contact).map_err(|e| PremiseError::Config {
                    field: format!("agents[{i}].contact"),
                    detail: e.to_string(),
                })?;
                sip.set_fixed_contact(&aor, fixed);
            } else {
                // reachable once the phone registers
                center.set_agent_reachable(&id, false).await?;
            }
            let login = config
                .agent_states
                .parse_state(a.login.as_deref().unwrap_or("available"))
                .map_err(|detail| PremiseError::Config {
                    field: format!("agents[{i}].login"),
                    detail,
                })?;
            if login != AgentState::Offline {
                center.set_agent_state(&id, login).await?;
            }
        }
        if let (Some(c), Some(diverted)) = (cluster.as_mut(), diverted) {
            let transports: Vec<Arc<dyn callcore::Transport>> =
                vec![sip.clone(), browser.transport.clone()];
            c.serve_relayed_offers(diverted, transports, endpoints);
        }
        // supervising `[[users]]`: a browser phone each, for monitoring from the
        // wallboard (reachable while connected)
        let supervisors = crate::browser_agents::supervisor_profiles(&config, &tenant);
        for p in &supervisors {
            center.add_agent(p.clone()).await?;
            center.set_agent_reachable(&p.id, false).await?;
        }
        // [coaching]: a new agent's first scored calls flagged for review (the
        // task ends with the center's events)
        if config.quality.enabled && config.coaching.new_agent_reviews > 0 {
            tokio::spawn(crate::coaching::flag_reviews(
                center.clone(),
                tenant.clone(),
                config.coaching.new_agent_reviews,
            ));
        }
        // agents with a fixed contact are always reachable; the others while their
        // phone is registered
        let presence = tokio::spawn(crate::agent_states::follow_registrations(
            center.clone(),
            sip.clone(),
            clock.clone(),
            config
                .agents
                .iter()
                .filter(|a| a.contact.is_none())
                .map(|a| (AgentId::new(a.id.as_str()), format!("sip:{}@{host}", a.id)))
                .collect(),
        ));
        let browser_presence = browser.follow_presence(
            center.clone(),
            config
                .agents
                .iter()
                .filter(|a| a.is_webrtc())
                .map(|a| AgentId::new(a.id.as_str()))
                .chain(supervisors.iter().map(|p| p.id.clone()))
                .collect(),
        );
        let http = config.http_bind();
        let https = match (&config.http.tls, http) {
            (Some(tls), Some(_)) => Some(crate::web_tls::server_config(tls)?),
            _ => None,
        };
        let ops = PremiseOps::start(
            OpsParts {
                journal,
                media,
                sip: sip.sip().clone(),
                center: center.clone(),
                tenant,
                transcription: quality
                    .as_ref()
                    .filter(|q| q.transcribes())
                    .map(|q| q.transcription_meter()),
            },
            events,
            http,
            https,
        )
        .await
        .map_err(io(format!(
            "HTTP on {}",
            http.map(|a| a.to_string()).unwrap_or_default()
        )))?;
        // notification runs, reported by the web API
        let notifications = Arc::new(crate::notification_reports::NotificationBook::new(
            TenantId::new(config.tenant.clone()),
        ));
        // the web API on the same listener, while it is on
        let web = match &ops.http {
            Some(http) => {
                let desk = (!inboxes.all().is_empty()).then(|| {
                    Arc::new(crate::channels::Desk::new(&inboxes))
                        as Arc<dyn callcore_web::messages::MessageDesk>
                });
                let api = crate::web::build(
                    &config,
                    &center,
                    desk,
                    inboxes.chat.clone(),
                    notifications.clone(),
                )?;
                http.mount(api.router());
                Some(api)
            }
            None => None,
        };
        let channels =
            crate::channels::start(&config, &inboxes, &clock, &channel_ids, notifications)?;
        let chinese_menu = is_chinese(config.ivr.language.as_deref());
        let premise = Premise {
            web,
            channels,
            inboxes,
            ops,
            started_at: clock.now(),
            center_ops: crate::center_ops::CenterOps::new(
                analytics,
                stores.campaigns.clone(),
                clock.clone(),
            ),
            config,
            center,
            sip,
            store,
            database,
            cluster,
            presence,
            callback_dialer,
            callbacks,
            voice,
            asr_model: listening.model.clone(),
            chinese_menu,
            quality,
            browser,
            browser_presence,
        };
        if premise.http_addr().is_some() {
            // the browser phone's WebSocket and page; a browser logged in to
            // the web API as an agent is that agent's phone too
            if let Some(web) = &premise.web {
                let sessions = web.authenticator().into_fn();
                premise
                    .browser
                    .accept_sessions(Arc::new(move |h| sessions(h).and_then(|p| p.agent)));
            }
            premise.mount_http(premise.browser.routes())?;
        }
        // [wechat]: WeChat's callbacks on the HTTP listener (crate::wechat)
        if let Some(channel) = premise.channels.wechat.clone() {
            let tenant = TenantId::new(premise.config.tenant.clone());
            premise.mount_http(crate::wechat::routes(&tenant, channel))?;
        }
        if let Some(c) = &premise.cluster {
            c.advertise(premise.sip_addr(), premise.http_addr());
        }
        premise.start_autostart_campaigns()?;
        Ok(premise)
    }

    /// The SIP address (the real port when the config asked for port 0).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip.local_addr()
    }

    /// Places a call from the center to `to` and waits up to `ring` for the answer:
    /// a number (`Endpoint::Phone`) goes out through the dial plan's trunks with
    /// failover, an agent's address (`Endpoint::Sip`) rings every phone the agent
    /// registered, each over its own transport. The answered leg is the caller's
    /// to bridge, play to or hang up; for a number, its
    /// [`SipLeg::trunk_attempts`](callcore_sip::center::SipLeg::trunk_attempts)
    /// say which trunks were tried (downcast with `Leg::as_any`).
    ///
    /// # Errors
    /// [`PremiseError::Center`]: no trunk routes the number, the agent is not
    /// registered, or nobody answered (with the cause).
    pub async fn place_call(
        &self,
        to: Endpoint,
        caller_id: &str,
        ring: Duration,
    ) -> Result<Box<dyn callcore::Leg>, PremiseError> {
        use callcore::Transport;
        let request = callcore::PlaceRequest {
            to,
            from: caller_id.to_owned(),
            channel: callcore::Channel::Voice,
            ring_timeout_secs: u32::try_from(ring.as_secs()).unwrap_or(u32::MAX).max(1),
        };
        Ok(self.sip.place(request).await?)
    }

    /// The registry of browser agents' phones (`contact = "webrtc"`): who is
    /// connected; the WebSocket at `/api/v1/phone` connects browsers to it.
    pub fn browser_phones(&self) -> &callcore_webrtc::BrowserPhones {
        &self.browser.phones
    }

    /// Sets how browsers authenticate on `/api/v1/phone` (web sessions), in
    /// place of the agents' id and password from the config.
    pub fn set_phone_auth(&self, auth: callcore_webrtc::PhoneAuth) {
        self.browser.set_auth(auth);
    }

    /// This center's place in a cloud assembly (`[cluster]`), if any.
    pub fn cluster(&self) -> Option<&ClusterNode> {
        self.cluster.as_ref()
    }

    /// The SIP transport (registered contacts and their routes, trunk health).
    pub fn sip(&self) -> &SipTransport {
        &self.sip
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

    /// `https` when the HTTP listener speaks TLS (`[http] tls`), else `http`.
    pub fn http_scheme(&self) -> &'static str {
        if self.config.http.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// What to tell a person who wants to call this center.
    pub fn banner(&self) -> String {
        let addr = self.sip_addr();
        let mut s = format!(
            "callcore premise center on sip:{addr} (UDP{}), data in {}, records in {}\n",
            if self.config.sip.tcp { "+TCP" } else { "" },
            self.config.storage.data_dir.display(),
            self.database.describe(&self.config)
        );
        if let Some(tls) = self.sip.sip().tls_addr() {
            s.push_str(&format!(
                "SIP over TLS for phones on {tls} (;transport=tls)\n"
            ));
        }
        if let Some(http) = self.http_addr() {
            let scheme = self.http_scheme();
            s.push_str(&format!(
                "Web API: {scheme}://{http}/api/v1  (OpenAPI: {scheme}://{http}/api/openapi.json)\n\
                 Operations: {scheme}://{http}/metrics  /healthz  /readyz\n"
            ));
        }
        s.push_str(&match &self.asr_model {
            Some(m) => format!(
                "IVR menus: spoken or keyed{} (Whisper model {})\n",
                if self.chinese_menu {
                    ", in Mandarin"
                } else {
                    ""
                },
                m.display()
            ),
            None => "IVR menus: keys only\n".to_owned(),
        });
        if let Some(q) = &self.quality {
            s.push_str(&if q.transcribes() {
                format!(
                    "Quality: answered calls measured from their audio and transcribed ({})\n",
                    q.queue_summary()
                )
            } else {
                "Quality: answered calls measured from their audio (not transcribed)\n".to_owned()
            });
        }
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
            if a.is_webrtc() {
                let page = self.http_addr().map_or_else(
                    || "(HTTP off)".to_owned(),
                    |h| format!("{}://{h}/phone.html", self.http_scheme()),
                );
                s.push_str(&format!(
                    "  {:<6} {:<8} in a browser at {page}  skills {}\n",
                    a.id,
                    a.name,
                    a.skills.join(",")
                ));
                continue;
            }
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

    /// Interaction records stored since the center started, from the
    /// database (SQLite or PostgreSQL).
    ///
    /// # Errors
    /// The store failed.
    pub async fn records(&self) -> Result<Vec<InteractionRecord>, PremiseError> {
        self.center.flush().await;
        let far = Timestamp::from_secs(i64::from(u32::MAX));
        Ok(callcore::InteractionStore::between(
            &*self.store.interactions,
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
                callcore::RecordingStore::for_interaction(
                    &*self.store.recordings,
                    &r.tenant,
                    &r.id,
                )
                .await?,
            );
        }
        Ok(out)
    }

    /// Callbacks asked for by waiting callers (the callback key), placed when
    /// an agent is free.
    pub fn callbacks(&self) -> &SharedCallbackBook {
        &self.callbacks
    }

    /// Stops the center (calls in progress drop) and flushes the store.
    pub async fn shutdown(self) {
        self.presence.abort();
        self.browser_presence.abort();
        if let Some(c) = &self.cluster {
            c.stop();
        }
        self.center_ops.stop();
        self.ops.stop().await;
        if let Some(d) = &self.callback_dialer {
            d.abort();
        }
        self.center.flush().await;
        self.center.shutdown().await;
    }
}

/// What callers hear while waiting in queue `q`.
fn waiting_of(q: &QueueSection) -> WaitOptions {
    WaitOptions {
        music: Some(
            q.music_on_hold
                .clone()
                .map_or(Prompt::MusicOnHold, Prompt::File),
        ),
        announce_every: q
            .announce_every_secs
            .map(|s| Duration::from_secs(u64::from(s))),
        callback_key: q.callback_key_char(),
        ..WaitOptions::default()
    }
}

/// The queue of the voicemails left by callers of queue `id`.
pub fn voicemail_queue(id: &str) -> String {
    format!("{id}-voicemail")
}

/// Queue `q`'s maximum wait: an escalation step to its overflow, or a plain
/// time-out without one.
fn with_overflow(def: &mut QueueDefinition, q: &QueueSection) {
    let Some(max) = q.max_wait_secs else {
        return;
    };
    let destination = match q.overflow_to() {
        None => {
            def.max_wait_secs = Some(max);
            return;
        }
        Some(Overflow::Voicemail) => Destination::Voicemail,
        Some(Overflow::Queue(other)) => Destination::Queue(other.as_str().into()),
    };
    def.escalation.push(EscalationStep {
        after_secs: max,
        action: EscalationAction::Overflow { destination },
    });
}
