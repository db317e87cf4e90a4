//! Message channels of the premise (`[email]`, `[sms]` and `[chat]`): each channel's
//! inbox is a transport of the center whose conversations go to their queue
//! through the same ACD as calls, agents get capacity on the channel, and
//! the web API reads and answers conversations
//! (`/api/v1/interactions/{id}/messages`).

use std::sync::Arc;

use callcore::{Channel, Clock, IdSource, InteractionId, TenantId};
use callcore_channels::chat::ChatHub;
use callcore_channels::email::{EmailChannel, EmailConfig};
use callcore_channels::sms::{SmsChannel, SmsConfig};
use callcore_channels::{ChannelError, Inbox, Message, MessageDirection};
use callcore_web::messages::{DeskAttachment, DeskError, DeskFuture, DeskMessage, MessageDesk};

use callcore_ivr::flow::FlowSpec;

use crate::PremiseError;
use crate::config::PremiseConfig;

/// The entry (the `to` of interactions) and flow name of e-mail.
pub const EMAIL_ENTRY: &str = "channel:email";

/// The entry and flow name of SMS.
pub const SMS_ENTRY: &str = "channel:sms";

/// The entry and flow name of web chat.
pub const CHAT_ENTRY: &str = "channel:chat";

/// Checks `[email]` and `[sms]`; errors name the field (`email.queue`,
/// `sms.smsc` ...).
pub(crate) fn validate(config: &PremiseConfig) -> Result<(), PremiseError> {
    if let Some(s) = &config.sms {
        s.validate("sms").map_err(config_error)?;
        if !config.queues.iter().any(|q| q.id == s.queue) {
            return Err(PremiseError::Config {
                field: "sms.queue".into(),
                detail: format!("no queue `{}`", s.queue),
            });
        }
    }
    if let Some(c) = &config.chat {
        c.validate("chat").map_err(config_error)?;
        if c.flow.is_some() && c.ivr_menu {
            return Err(PremiseError::Config {
                field: "chat.flow".into(),
                detail: "a chat runs either its flow or the IVR menu (`ivr_menu`), not both".into(),
            });
        }
        if !config.queues.iter().any(|q| q.id == c.queue) {
            return Err(PremiseError::Config {
                field: "chat.queue".into(),
                detail: format!("no queue `{}`", c.queue),
            });
        }
    }
    for (i, a) in config.agents.iter().enumerate() {
        if a.chat_capacity.is_some_and(|n| n > 50) {
            return Err(PremiseError::Config {
                field: format!("agents[{i}].chat_capacity"),
                detail: "0-50 chats".into(),
            });
        }
    }
    crate::wechat::validate(config)?;
    if let Some(e) = &config.email {
        e.validate("email").map_err(config_error)?;
        if !config.queues.iter().any(|q| q.id == e.queue) {
            return Err(PremiseError::Config {
                field: "email.queue".into(),
                detail: format!("no queue `{}`", e.queue),
            });
        }
    }
    Ok(())
}

pub(crate) fn config_error(e: ChannelError) -> PremiseError {
    match e {
        ChannelError::Config { field, detail } => PremiseError::Config { field, detail },
        other => PremiseError::Config {
            field: "channels".into(),
            detail: other.to_string(),
        },
    }
}

/// The inboxes of the configured channels, made before the center (they are
/// its transports).
#[derive(Debug, Default)]
pub(crate) struct Inboxes {
    pub(crate) email: Option<Arc<Inbox>>,
    pub(crate) sms: Option<Arc<Inbox>>,
    /// Web chat's sessions over its inbox.
    pub(crate) chat: Option<Arc<ChatHub>>,
    /// `[wechat]` (crate::wechat).
    pub(crate) wechat: Option<Arc<Inbox>>,
}

impl Inboxes {
    pub(crate) fn new(
        config: &PremiseConfig,
        tenant: &TenantId,
        clock: &Arc<dyn Clock>,
        ids: &Arc<dyn IdSource>,
    ) -> Self {
        Self {
            email: config.email.as_ref().map(|_| {
                Inbox::new(
                    Channel::Email,
                    tenant.clone(),
                    EMAIL_ENTRY,
                    clock.clone(),
                    ids.clone(),
                )
            }),
            sms: config.sms.as_ref().map(|_| {
                Inbox::new(
                    Channel::Sms,
                    tenant.clone(),
                    SMS_ENTRY,
                    clock.clone(),
                    ids.clone(),
                )
            }),
            chat: config.chat.as_ref().map(|c| {
                let inbox = Inbox::new(
                    Channel::Chat,
                    tenant.clone(),
                    CHAT_ENTRY,
                    clock.clone(),
                    ids.clone(),
                );
                let hub = ChatHub::new(inbox, c.limits(), c.max_sessions, clock.clone());
                if let Some(secret) = &c.identity_secret {
                    hub.set_identity_secret(secret.clone());
                }
                hub
            }),
            wechat: crate::wechat::inbox(config, tenant, clock, ids),
        }
    }

    /// Every inbox, as transports of the center.
    pub(crate) fn all(&self) -> Vec<Arc<Inbox>> {
        self.email
            .iter()
            .chain(self.sms.iter())
            .chain(self.chat.iter().map(|h| h.inbox()))
            .chain(self.wechat.iter())
            .cloned()
            .collect()
    }

    /// Each inbox with the flow its conversations run: straight to their
    /// queue, or the channel's own flow file (`[sms] flow`, `[email] flow`,
    /// `[chat] flow`), which makes the inbox converse by message
    /// (`InboxMedia`, or the chat hub: the flow's prompts go out as messages).
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming `sms.flow`, `email.flow` or
    /// `chat.flow` when the file cannot be read or is not a valid flow.
    pub(crate) fn routes(&self, config: &PremiseConfig) -> Result<Vec<ChannelRoute>, PremiseError> {
        let mut r = Vec::new();
        if let (Some(i), Some(c)) = (&self.email, &config.email) {
            match &c.flow {
                Some(path) => {
                    let spec = flow_file(path, "email.flow")?;
                    callcore_channels::InboxMedia::install(i);
                    r.push(ChannelRoute::Flow(i.clone(), Box::new(spec)));
                }
                None => r.push(ChannelRoute::Queue(
                    i.clone(),
                    c.queue.clone(),
                    "email.queue",
                )),
            }
        }
        if let (Some(i), Some(c)) = (&self.sms, &config.sms) {
            match &c.flow {
                Some(path) => {
                    let spec = flow_file(path, "sms.flow")?;
                    callcore_channels::InboxMedia::install(i);
                    r.push(ChannelRoute::Flow(i.clone(), Box::new(spec)));
                }
                None => r.push(ChannelRoute::Queue(i.clone(), c.queue.clone(), "sms.queue")),
            }
        }
        if let (Some(i), Some(c)) = (&self.wechat, &config.wechat) {
            match &c.flow {
                Some(path) => {
                    let spec = flow_file(path, "wechat.flow")?;
                    callcore_channels::InboxMedia::install(i);
                    r.push(ChannelRoute::Flow(i.clone(), Box::new(spec)));
                }
                None => r.push(ChannelRoute::Queue(
                    i.clone(),
                    c.queue.clone(),
                    "wechat.queue",
                )),
            }
        }
        if let (Some(h), Some(c)) = (&self.chat, &config.chat) {
            // the chat hub is its inbox's text media already (quick replies)
            match &c.flow {
                Some(path) => r.push(ChannelRoute::Flow(
                    h.inbox().clone(),
                    Box::new(flow_file(path, "chat.flow")?),
                )),
                None => r.push(ChannelRoute::Queue(
                    h.inbox().clone(),
                    c.queue.clone(),
                    "chat.queue",
                )),
            }
        }
        Ok(r)
    }

    /// The capacity agents get on each configured channel.
    pub(crate) fn capacities(config: &PremiseConfig) -> Vec<(Channel, u32)> {
        let mut c: Vec<(Channel, u32)> = config
            .email
            .iter()
            .map(|e| (Channel::Email, e.agent_capacity))
            .collect();
        c.extend(config.sms.iter().map(|s| (Channel::Sms, s.agent_capacity)));
        c.extend(
            config
                .wechat
                .iter()
                .map(|w| (Channel::WeChat, w.agent_capacity)),
        );
        c.extend(
            config
                .chat
                .iter()
                .map(|s| (Channel::Chat, s.agent_capacity)),
        );
        c
    }

    /// The capacities and the channels worked beside a voice call of `agent`:
    /// the channels' capacities, its own `chat_capacity` over the chat's,
    /// chats beside calls unless `chat.voice_blocks_chats`.
    pub(crate) fn agent_profile(
        config: &PremiseConfig,
        agent: &crate::config::AgentSection,
        mut profile: callcore::AgentProfile,
    ) -> callcore::AgentProfile {
        for (channel, slots) in Self::capacities(config) {
            let slots = match (channel, agent.chat_capacity) {
                (Channel::Chat, Some(own)) => own,
                _ => slots,
            };
            profile = profile.with_capacity(channel, slots);
        }
        if config.chat.as_ref().is_some_and(|c| !c.voice_blocks_chats) {
            profile = profile.with_beside_voice(Channel::Chat);
        }
        profile
    }
}

/// How an inbox's conversations are routed.
#[derive(Debug)]
pub(crate) enum ChannelRoute {
    /// Straight to the queue (with the config field that names it).
    Queue(Arc<Inbox>, String, &'static str),
    /// Through a flow of the channel's own.
    Flow(Arc<Inbox>, Box<FlowSpec>),
}

/// Reads a flow file (JSON, or TOML by its extension); errors name `field`.
pub(crate) fn flow_file(path: &std::path::Path, field: &str) -> Result<FlowSpec, PremiseError> {
    let bad = |detail: String| PremiseError::Config {
        field: field.into(),
        detail: format!("{}: {detail}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let spec = if toml {
        FlowSpec::from_toml(&text)
    } else {
        FlowSpec::from_json(&text)
    };
    spec.map_err(|e| bad(e.to_string()))
}

/// The running channels (their pollers and links stop when dropped).
#[derive(Debug)]
pub(crate) struct Channels {
    pub(crate) email: Option<EmailChannel>,
    pub(crate) sms: Option<SmsChannel>,
    /// `[wechat]` (crate::wechat).
    pub(crate) wechat: Option<Arc<callcore_channels::wechat::WeChatChannel>>,
    /// `[[notifications]]` runs and those started since (crate::notifications),
    /// shared with the web API's reports.
    pub(crate) notifications: Arc<crate::notification_reports::NotificationBook>,
}

impl crate::Premise {
    /// The e-mail channel's inbox (`[email]`): its conversations and messages.
    pub fn email_inbox(&self) -> Option<&Arc<Inbox>> {
        self.inboxes.email.as_ref()
    }

    /// What the `[[notifications]]` run `name` did so far, one result per
    /// lead in order, SMS delivery receipts included; `None` for no such run.
    pub fn notification_report(
        &self,
        name: &str,
    ) -> Option<Vec<crate::notifications::NotificationResult>> {
        self.channels.notifications.report(name)
    }

    /// Starts a notification run now, as a `[[notifications]]` section
    /// would at start (the next campaign): numbers and addresses that opted
    /// out since are skipped. Its results are read with
    /// [`notification_report`](Self::notification_report) by its name (the
    /// newest run of that name).
    ///
    /// # Errors
    /// [`PremiseError::Config`] naming the section's field
    /// (`notifications[new]...`) when it is invalid or its leads unreadable.
    pub fn start_notifications(
        &self,
        section: crate::notifications::NotificationSection,
    ) -> Result<(), PremiseError> {
        let run = crate::notifications::load_one(
            &self.config,
            "notifications[new]",
            &section,
            self.center.clock().now(),
        )?;
        let runs = crate::notifications::start(
            vec![run],
            self.inboxes.sms.clone(),
            self.inboxes.email.clone(),
            self.center.clock().clone(),
            self.config.storage.data_dir.clone(),
        );
        self.channels
            .notifications
            .runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(runs);
        Ok(())
    }

    /// Web chat's sessions (`[chat]`): its inbox, sessions and logs.
    pub fn chat(&self) -> Option<&Arc<ChatHub>> {
        self.inboxes.chat.as_ref()
    }

    /// The SMS channel's inbox (`[sms]`).
    pub fn sms_inbox(&self) -> Option<&Arc<Inbox>> {
        self.inboxes.sms.as_ref()
    }

    /// The running SMS channel (`[sms]`): its counters and opt-outs.
    pub fn sms(&self) -> Option<&SmsChannel> {
        self.channels.sms.as_ref()
    }

    /// What the e-mail channel did so far: mails routed, automatic mails not
    /// answered, mails refused (and why).
    pub fn email_counters(&self) -> Option<&Arc<callcore_channels::email::MailCounters>> {
        self.channels.email.as_ref().map(EmailChannel::counters)
    }
}

/// Starts the channels' pollers and links.
pub(crate) fn start(
    config: &PremiseConfig,
    inboxes: &Inboxes,
    clock: &Arc<dyn Clock>,
    ids: &Arc<dyn IdSource>,
    notifications: Arc<crate::notification_reports::NotificationBook>,
) -> Result<Channels, PremiseError> {
    let email = match (&config.email, &inboxes.email) {
        (Some(c), Some(inbox)) => Some(
            EmailChannel::start(
                EmailConfig::clone(c),
                inbox.clone(),
                ids.clone(),
                clock.clone(),
            )
            .map_err(config_error)?,
        ),
        _ => None,
    };
    let sms = match (&config.sms, &inboxes.sms) {
        (Some(c), Some(inbox)) => {
            let mut c = SmsConfig::clone(c);
            // opt-outs are kept with the center's data unless placed elsewhere
            c.opt_out_file
                .get_or_insert_with(|| config.storage.data_dir.join("sms-opt-outs.txt"));
            Some(SmsChannel::start(c, inbox.clone(), clock.clone()).map_err(config_error)?)
        }
        _ => None,
    };
    if let Some(s) = &sms {
        let _ = notifications.sms.set(s.counters().clone());
    }
    let runs = crate::notifications::load(config, clock.now())?;
    let started = crate::notifications::start(
        runs,
        inboxes.sms.clone(),
        inboxes.email.clone(),
        clock.clone(),
        config.storage.data_dir.clone(),
    );
    let wechat = crate::wechat::start(config, inboxes.wechat.as_ref(), clock)?;
    Ok(Channels {
        email,
        sms,
        wechat,
        notifications: {
            notifications
                .runs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(started);
            notifications
        },
    })
}

/// The conversations of every inbox, for the web API.
#[derive(Debug)]
pub(crate) struct Desk {
    inboxes: Vec<Arc<Inbox>>,
}

impl Desk {
    pub(crate) fn new(inboxes: &Inboxes) -> Self {
        Self {
            inboxes: inboxes.all(),
        }
    }

    fn inbox_of(&self, interaction: &InteractionId) -> Option<&Arc<Inbox>> {
        self.inboxes
            .iter()
            .find(|i| i.messages(interaction).is_some())
    }
}

fn desk_message(m: Message) -> DeskMessage {
    DeskMessage {
        id: m.id,
        direction: match m.direction {
            MessageDirection::Inbound => "inbound",
            MessageDirection::Outbound => "outbound",
        }
        .to_owned(),
        at_ms: m.at.as_millis(),
        subject: m.subject,
        text: m.text,
        attachments: m
            .attachments
            .into_iter()
            .map(|a| DeskAttachment {
                name: a.name,
                content_type: a.content_type,
                size: a.size as u64,
            })
            .collect(),
    }
}

impl MessageDesk for Desk {
    fn messages(&self, interaction: &InteractionId) -> Option<Vec<DeskMessage>> {
        self.inboxes
            .iter()
            .find_map(|i| i.messages(interaction))
            .map(|ms| ms.into_iter().map(desk_message).collect())
    }

    fn reply<'a>(
        &'a self,
        interaction: &'a InteractionId,
        text: &'a str,
        close: bool,
    ) -> DeskFuture<'a, Result<DeskMessage, DeskError>> {
        Box::pin(async move {
            let inbox = self.inbox_of(interaction).ok_or(DeskError::NotFound)?;
            match inbox.reply(interaction, text, close).await {
                Ok(m) => Ok(desk_message(m)),
                Err(ChannelError::NoConversation(_)) => Err(DeskError::NotFound),
                Err(e @ (ChannelError::OptedOut | ChannelError::Unsendable(_))) => {
                    Err(DeskError::Refused(e.to_string()))
                }
                Err(e) => Err(DeskError::Peer(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PremiseConfig;

    fn config(chat: &str) -> Result<PremiseConfig, PremiseError> {
        PremiseConfig::from_toml(&format!(
            "[ivr]\nmenu = [{{ key = \"1\", label = \"web\", queue = \"web\" }}]\n\
             default_queue = \"web\"\n[[queues]]\nid = \"web\"\n[[agents]]\nid = \"a\"\npassword = \"secret-a\"\n\
             [[agents]]\nid = \"b\"\npassword = \"secret-b\"\nchat_capacity = 5\n{chat}"
        ))
    }

    #[test]
    fn chat_capacity_per_tenant_and_agent_and_voice_blocking() {
        let c = config("[chat]\nqueue = \"web\"\n").unwrap_or_else(|e| panic!("{e}"));
        let profile =
            |i: usize| Inboxes::agent_profile(&c, &c.agents[i], callcore::AgentProfile::new("x"));
        assert_eq!(profile(0).capacity_for(Channel::Chat), 3, "the default");
        assert_eq!(profile(1).capacity_for(Channel::Chat), 5, "the agent's own");
        assert_eq!(profile(0).capacity_for(Channel::Voice), 1);
        assert!(profile(0).beside_voice.is_empty(), "a call blocks chats");
        let c = config("[chat]\nqueue = \"web\"\nagent_capacity = 2\nvoice_blocks_chats = false\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let p = Inboxes::agent_profile(&c, &c.agents[0], callcore::AgentProfile::new("x"));
        assert_eq!(p.capacity_for(Channel::Chat), 2);
        assert_eq!(p.beside_voice, [Channel::Chat]);
        // no [chat]: no chat capacity
        let c = config("").unwrap_or_else(|e| panic!("{e}"));
        let p = Inboxes::agent_profile(&c, &c.agents[1], callcore::AgentProfile::new("x"));
        assert_eq!(p.capacity_for(Channel::Chat), 0);
    }

    #[test]
    fn bad_chat_settings_name_the_field() {
        for (chat, field) in [
            ("[chat]\nqueue = \"nowhere\"\n", "chat.queue"),
            (
                "[chat]\nqueue = \"web\"\nagent_capacity = 0\n",
                "chat.agent_capacity",
            ),
            (
                "[chat]\nqueue = \"web\"\nmax_attachment_bytes = 999999999\n",
                "chat.max_attachment_bytes",
            ),
        ] {
            let e = config(chat)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(field), "{chat}: {e}");
        }
    }
}
