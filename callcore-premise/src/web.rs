//! The web API (callcore-web) on the premise's HTTP listener: who may log in
//! (`[[agents]]` with their phone's password, or its digest HA1 hashes;
//! supervisors and administrators from `[[users]]`), the tenant's agents and
//! queues, and the configuration it shows (trunk passwords left out).
//!
//! One listener serves the operations routes (`/metrics`, `/healthz`,
//! `/readyz`) and the API (`/api/v1/...`, `/api/openapi.json`): `--web ADDR`
//! sets its address, `--http ADDR` is the same option under its older name.

use callcore::TenantId;
use callcore_web::{
    CampaignConfig, Configuration, QueueConfig, Role, TrunkConfig, UserAccount, WebApi,
};
use serde::Deserialize;

use crate::PremiseError;
use crate::config::PremiseConfig;

/// `[[users]]`: a supervisor or administrator of the web API (agents log in
/// with their `[[agents]]` entry). Its `Debug` never shows the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// The login id.
    pub id: String,
    /// The password (hashed with argon2 at start, never kept in clear by the
    /// API); or give `password_hash`.
    #[serde(default)]
    pub password: Option<String>,
    /// An argon2 PHC string (`$argon2id$v=19$...`) instead of a password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// `agent`, `supervisor` or `administrator`.
    pub role: String,
    /// The tenant (default: the center's).
    #[serde(default)]
    pub tenant: Option<String>,
    /// A supervisor limited to these queues (`[[queues]]` ids) and the
    /// agents serving them: the event feed, the lists, the wallboard
    /// figures and the scorecards show only those, and actions elsewhere
    /// are refused (403). Absent: the whole tenant.
    #[serde(default)]
    pub queues: Option<Vec<String>>,
}

impl std::fmt::Debug for UserSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSection")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("tenant", &self.tenant)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

fn field(field: String, detail: impl Into<String>) -> PremiseError {
    PremiseError::Config {
        field,
        detail: detail.into(),
    }
}

/// Checks `users` (cheap: no hashing).
pub(crate) fn validate(config: &PremiseConfig) -> Result<(), PremiseError> {
    for (i, u) in config.users.iter().enumerate() {
        let at = |f: &str| format!("users[{i}].{f}");
        if u.id.is_empty()
            || u.id.len() > 64
            || !u
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(field(
                at("id"),
                "1-64 letters, digits, `.`, `_`, `-` or `@`",
            ));
        }
        if config.agents.iter().any(|a| a.id == u.id)
            || config.users[..i].iter().any(|x| x.id == u.id)
        {
            return Err(field(
                at("id"),
                format!("`{}` is taken (an agent or another user)", u.id),
            ));
        }
        if Role::parse(&u.role).is_none() {
            return Err(field(
                at("role"),
                "`agent`, `supervisor` or `administrator`",
            ));
        }
        match (&u.password, &u.password_hash) {
            (Some(p), None) if p.chars().count() >= 6 => {}
            (Some(_), None) => return Err(field(at("password"), "at least 6 characters")),
            (None, Some(h)) if h.starts_with("$argon2") => {}
            (None, Some(_)) => {
                return Err(field(
                    at("password_hash"),
                    "an argon2 PHC string ($argon2id$v=19$...)",
                ));
            }
            _ => {
                return Err(field(
                    at("password"),
                    "give `password` or `password_hash`, one of them",
                ));
            }
        }
        if u.tenant.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(field(at("tenant"), "must not be empty"));
        }
        if let Some(queues) = &u.queues {
            if u.role != "supervisor" {
                return Err(field(
                    at("queues"),
                    "only a supervisor is limited to queues",
                ));
            }
            if queues.is_empty() {
                return Err(field(
                    at("queues"),
                    "name at least one queue, or leave it out",
                ));
            }
            for (j, q) in queues.iter().enumerate() {
                if !config.queues.iter().any(|c| &c.id == q) {
                    return Err(field(
                        format!("users[{i}].queues[{j}]"),
                        format!("`{q}` is not a configured queue"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The queues an agent serves: those without a skill, and those whose
/// skill they have (with each one's voicemail queue).
fn served_queues(config: &PremiseConfig, skills: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for q in &config.queues {
        if q.skill.as_ref().is_none_or(|s| skills.contains(s)) {
            out.push(q.id.clone());
            if q.overflow_to() == Some(crate::config::Overflow::Voicemail) {
                out.push(crate::assembly::voicemail_queue(&q.id));
            }
        }
    }
    out
}

/// A limited supervisor's queues, with their voicemail queues.
fn with_voicemail(config: &PremiseConfig, queues: &[String]) -> Vec<callcore::QueueId> {
    let mut out = Vec::new();
    for q in queues {
        out.push(callcore::QueueId::new(q.as_str()));
        if config
            .queues
            .iter()
            .any(|c| &c.id == q && c.overflow_to() == Some(crate::config::Overflow::Voicemail))
        {
            out.push(callcore::QueueId::new(crate::assembly::voicemail_queue(q)));
        }
    }
    out
}

/// The accounts of the config: agents with credentials, then `[[users]]`.
fn accounts(config: &PremiseConfig, tenant: &TenantId) -> Result<Vec<UserAccount>, PremiseError> {
    let user_err = |at: String| move |e: callcore_web::WebError| field(at, e.to_string());
    let mut out = Vec::new();
    for (i, a) in config.agents.iter().enumerate() {
        let at = format!("agents[{i}]");
        // an agent who is a supervisor (may monitor) supervises on the web too
        let role = if a.supervisor {
            Role::Supervisor
        } else {
            Role::Agent
        };
        let account = if !a.password.is_empty() {
            UserAccount::with_password(&a.id, role, tenant.clone(), &a.password)
                .map_err(user_err(format!("{at}.password")))?
        } else if !a.ha1.is_empty() {
            UserAccount::with_digest_ha1(
                &a.id,
                tenant.clone(),
                &config.sip.realm,
                &a.ha1.clone().into_iter().collect::<Vec<_>>(),
            )
            .map_err(user_err(format!("{at}.ha1")))?
        } else {
            continue; // an agent at a fixed contact without credentials
        };
        out.push(account.as_agent(callcore::AgentId::new(a.id.as_str())));
    }
    for (i, u) in config.users.iter().enumerate() {
        let role = Role::parse(&u.role).unwrap_or(Role::Agent);
        let t = u
            .tenant
            .as_deref()
            .map_or_else(|| tenant.clone(), TenantId::new);
        let account = match (&u.password, &u.password_hash) {
            (Some(p), _) => UserAccount::with_password(&u.id, role, t, p),
            (None, Some(h)) => UserAccount::with_password_hash(&u.id, role, t, h),
            (None, None) => continue,
        }
        .map_err(user_err(format!("users[{i}]")))?;
        // a supervisor is the center's agent of the same id (a browser phone
        // for monitoring, crate::browser_agents)
        let account = if role >= Role::Supervisor {
            account.as_agent(callcore::AgentId::new(u.id.as_str()))
        } else {
            account
        };
        let account = match &u.queues {
            Some(queues) => account.with_queues(with_voicemail(config, queues)),
            None => account,
        };
        out.push(account);
    }
    Ok(out)
}

/// What the configuration routes show.
fn configuration(config: &PremiseConfig) -> Configuration {
    let mut skills: Vec<String> = config
        .agents
        .iter()
        .flat_map(|a| a.skills.iter().cloned())
        .chain(config.queues.iter().filter_map(|q| q.skill.clone()))
        .collect();
    skills.sort();
    skills.dedup();
    Configuration {
        queues: config
            .queues
            .iter()
            .map(|q| QueueConfig {
                id: q.id.clone(),
                skill: q.skill.clone(),
                wrap_up_secs: q.wrap_up_secs,
                max_wait_secs: q.max_wait_secs,
                overflow: q.overflow.clone(),
            })
            .collect(),
        skills,
        reason_codes: config.agent_states.reasons.clone(),
        campaigns: config
            .campaigns
            .iter()
            .map(|c| CampaignConfig {
                name: c.name.clone(),
                queue: c.queue.clone(),
                mode: serde_json::to_value(c.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                autostart: c.autostart,
            })
            .collect(),
        trunks: config
            .trunks
            .iter()
            .map(|t| TrunkConfig {
                name: t.name.clone(),
                host: t.host.clone(),
                transport: t.transport.clone(),
                username: t.username.clone(),
                has_password: t.password.is_some(),
            })
            .collect(),
    }
}

/// Builds the web API of a started premise center.
///
/// # Errors
/// A user entry the API refuses (named).
pub(crate) fn build(
    config: &PremiseConfig,
    center: &callcore_runtime::CenterHandle,
    messages: Option<std::sync::Arc<dyn callcore_web::messages::MessageDesk>>,
    chat: Option<std::sync::Arc<callcore_channels::chat::ChatHub>>,
    notifications: std::sync::Arc<crate::notification_reports::NotificationBook>,
) -> Result<WebApi, PremiseError> {
    let tenant = TenantId::new(config.tenant.clone());
    let mut b = WebApi::builder()
        .center(center.clone())
        .users(accounts(config, &tenant)?)
        .configuration(&tenant, configuration(config))
        .coaching(config.coaching.clone())
        .secure_cookies(config.http.tls.is_some());
    for a in &config.agents {
        b = b.agent(&a.id, &tenant);
        let served = served_queues(config, &a.skills);
        b = b.serving(
            &a.id,
            &served.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    // supervising users' own phones (crate::browser_agents)
    for p in crate::browser_agents::supervisor_profiles(config, &tenant) {
        b = b.agent(p.id.as_str(), &p.tenant);
    }
    for q in &config.queues {
        let mut definition = callcore::QueueDefinition::new(q.id.as_str());
        definition.tenant = tenant.clone();
        crate::service_levels::apply(&mut definition, q);
        b = b.queue_definition(definition);
        if q.overflow_to() == Some(crate::config::Overflow::Voicemail) {
            b = b.queue(&crate::assembly::voicemail_queue(&q.id), &tenant);
        }
    }
    if let Some(desk) = messages {
        b = b.messages(desk);
    }
    if let Some(hub) = chat {
        b = b.chat(hub);
    }
    b = b.notifications(notifications);
    b.build().map_err(|e| field("users".into(), e.to_string()))
}

impl crate::Premise {
    /// The web API served on the HTTP listener (`None` with `--web off`):
    /// its router, OpenAPI document and the [`authenticator`](WebApi::authenticator)
    /// other routes (a browser phone) check requests with.
    pub fn web(&self) -> Option<&WebApi> {
        self.web.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(toml: &str) -> Option<String> {
        PremiseConfig::from_toml(&crate::config::with_demo_agents(toml))
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn users_are_checked_with_errors_naming_the_field() {
        let user =
            |extra: &str| format!("[[users]]\nid = \"ops\"\nrole = \"administrator\"\n{extra}");
        assert_eq!(error_of(&user("password = \"long-enough\"\n")), None);
        assert_eq!(
            error_of(&user("password = \"short\"\n")).as_deref(),
            Some("config field `users[0].password`: at least 6 characters")
        );
        assert_eq!(
            error_of(&user("password_hash = \"md5:abc\"\n")).as_deref(),
            Some(
                "config field `users[0].password_hash`: an argon2 PHC string ($argon2id$v=19$...)"
            )
        );
        assert!(
            error_of(&user("")).is_some_and(|e| e.starts_with("config field `users[0].password`"))
        );
        assert!(
            error_of("[[users]]\nid = \"x\"\nrole = \"boss\"\npassword = \"long-enough\"\n")
                .is_some_and(|e| e.starts_with("config field `users[0].role`"))
        );
        // queues: a supervisor's, configured ones
        let limited = |role: &str, queues: &str| {
            format!(
                "[[users]]\nid = \"lead\"\nrole = \"{role}\"\npassword = \"long-enough\"\nqueues = {queues}\n"
            )
        };
        assert_eq!(error_of(&limited("supervisor", "[\"billing\"]")), None);
        assert_eq!(
            error_of(&limited("supervisor", "[\"billing\", \"nowhere\"]")).as_deref(),
            Some("config field `users[0].queues[1]`: `nowhere` is not a configured queue")
        );
        assert!(
            error_of(&limited("administrator", "[\"billing\"]"))
                .is_some_and(|e| e.starts_with("config field `users[0].queues`"))
        );
        // an agent's id is taken (the demo agents are 1001 and 1002)
        assert!(
            error_of(
                "[[users]]\nid = \"1001\"\nrole = \"supervisor\"\npassword = \"long-enough\"\n"
            )
            .is_some_and(|e| e.starts_with("config field `users[0].id`"))
        );
        // the demo defaults have the supervisor `super`
        let d = PremiseConfig::defaults();
        assert!(
            d.users
                .iter()
                .any(|u| u.id == "super" && u.role == "supervisor")
        );
        assert!(!format!("{:?}", d.users).contains("super1234"));
    }

    #[test]
    fn the_configuration_shown_never_holds_a_trunk_password() {
        let c = PremiseConfig::from_toml(&crate::config::with_demo_agents(
            "[[trunks]]\nname = \"carrier-a\"\nhost = \"192.0.2.10:5060\"\nusername = \"centre42\"\npassword = \"s3cret-trunk\"\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = configuration(&c);
        assert!(shown.trunks[0].has_password);
        let json = serde_json::to_string(&shown).unwrap_or_default();
        assert!(
            json.contains("centre42") && !json.contains("s3cret-trunk"),
            "{json}"
        );
        assert_eq!(shown.reason_codes, c.agent_states.reasons);
    }
}
