//! Agents who take calls in a browser (`[[agents]] contact = "webrtc"`): the
//! WebRTC transport that rings them (callcore-webrtc, media on the premise's
//! RTP engine so that their legs bridge to SIP callers), their phone's
//! WebSocket and page on the HTTP listener, and their presence (reachable
//! while a browser is connected).
//!
//! The browser authenticates with the agent's id and password from the config
//! ([`callcore_webrtc::password_auth`]) until an assembly sets its own with
//! [`crate::Premise::set_phone_auth`] (web sessions).
//!
//! Supervisors of the web API (`[[users]]` with the role `supervisor` or
//! `administrator`) have a browser phone too, for listen, whisper and barge
//! from the wallboard: the center knows each as an agent who is a supervisor,
//! rung at `Endpoint::WebRtc(<user id>)`, without skills and offline (no queue
//! routes calls to them; only the monitoring they ask for rings them), in
//! their user's tenant. Their browser logs in with their web session.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};

use callcore::{AgentId, AgentProfile, Endpoint, IdSource, MediaAttach, TenantId};
use callcore_runtime::CenterHandle;
use callcore_webrtc::{BrowserPhones, PhoneAuth, WebRtcConfig, WebRtcTransport};
use tokio::task::JoinHandle;

use crate::config::PremiseConfig;

/// The profiles of the config's supervising `[[users]]` (see the module's
/// documentation): a supervisor with a browser phone, in their user's tenant
/// (`tenant` when the entry names none), no skills.
pub(crate) fn supervisor_profiles(config: &PremiseConfig, tenant: &TenantId) -> Vec<AgentProfile> {
    config
        .users
        .iter()
        .filter(|u| {
            callcore_web::Role::parse(&u.role).is_some_and(|r| r >= callcore_web::Role::Supervisor)
        })
        .map(|u| {
            let mut p = AgentProfile::new(u.id.as_str())
                .with_endpoint(Endpoint::WebRtc(u.id.clone()))
                .as_supervisor();
            p.tenant = u
                .tenant
                .as_deref()
                .map_or_else(|| tenant.clone(), TenantId::new);
            p
        })
        .collect()
}

/// The premise's browser agents.
#[derive(Clone)]
pub(crate) struct BrowserAgents {
    pub(crate) phones: BrowserPhones,
    pub(crate) transport: Arc<WebRtcTransport>,
    auth: Arc<RwLock<PhoneAuth>>,
}

impl std::fmt::Debug for BrowserAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserAgents")
            .field("phones", &self.phones)
            .finish_non_exhaustive()
    }
}

impl BrowserAgents {
    /// The transport and the phones' registry, with password logins for the
    /// config's browser agents.
    pub(crate) fn new(
        config: &PremiseConfig,
        media: Arc<dyn MediaAttach>,
        ids: Arc<dyn IdSource>,
        tenant: TenantId,
    ) -> Self {
        let phones = BrowserPhones::new();
        let ip = match config.media.ip {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let transport = Arc::new(WebRtcTransport::new(
            phones.clone(),
            media,
            ids,
            WebRtcConfig { ip, tenant },
        ));
        let passwords: HashMap<AgentId, String> = config
            .agents
            .iter()
            .filter(|a| a.is_webrtc())
            .map(|a| (AgentId::new(a.id.as_str()), a.password.clone()))
            .collect();
        Self {
            phones,
            transport,
            auth: Arc::new(RwLock::new(callcore_webrtc::password_auth(passwords))),
        }
    }

    /// The phone's routes, authenticated by the current [`PhoneAuth`].
    pub(crate) fn routes(&self) -> axum::Router {
        let auth = self.auth.clone();
        let current: PhoneAuth = Arc::new(move |headers| {
            let auth = auth
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            auth(headers)
        });
        callcore_webrtc::phone_routes(self.phones.clone(), current)
    }

    /// Replaces how browsers authenticate.
    pub(crate) fn set_auth(&self, auth: PhoneAuth) {
        *self
            .auth
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = auth;
    }

    /// Also accepts browsers that `sessions` authenticates (web API
    /// sessions), before the current way.
    pub(crate) fn accept_sessions(&self, sessions: PhoneAuth) {
        let mut auth = self
            .auth
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = auth.clone();
        *auth = Arc::new(move |h| sessions(h).or_else(|| before(h)));
    }

    /// Keeps `agents` reachable while their browser is connected.
    pub(crate) fn follow_presence(
        &self,
        center: CenterHandle,
        agents: BTreeSet<AgentId>,
    ) -> JoinHandle<()> {
        let mut connected = self.phones.watch_connected();
        tokio::spawn(async move {
            let mut reachable = BTreeSet::new();
            loop {
                let now: BTreeSet<AgentId> = connected
                    .borrow_and_update()
                    .intersection(&agents)
                    .cloned()
                    .collect();
                for a in now.symmetric_difference(&reachable) {
                    let on = now.contains(a);
                    if let Err(e) = center.set_agent_reachable(a, on).await {
                        tracing::warn!(agent = %a, error = %e, "browser presence not applied");
                    }
                }
                reachable = now;
                if connected.changed().await.is_err() {
                    break;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervising_users_get_a_browser_phone_in_their_tenant_and_no_skills() {
        let toml = crate::config::with_demo_agents(
            "[[users]]\nid = \"ops\"\npassword = \"long-enough\"\nrole = \"administrator\"\ntenant = \"acme\"\n\
             [[users]]\nid = \"viewer\"\npassword = \"long-enough\"\nrole = \"agent\"\n",
        );
        let config = PremiseConfig::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
        let profiles = supervisor_profiles(&config, &TenantId::new("default"));
        let ids: Vec<&str> = profiles.iter().map(|p| p.id.as_str()).collect();
        // the administrator and the demo supervisor; not the agent-role user
        assert_eq!(ids, ["ops", "super"]);
        for p in &profiles {
            assert!(p.supervisor);
            assert!(p.skills.is_empty());
            assert_eq!(p.endpoints, [Endpoint::WebRtc(p.id.to_string())]);
        }
        assert_eq!(profiles[0].tenant, TenantId::new("acme"));
        assert_eq!(profiles[1].tenant, TenantId::new("default"));
    }
}
