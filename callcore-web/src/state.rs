//! The state every handler shares, and the checks that scope a request to
//! its user's tenant (and, for an agent, to their own calls).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use callcore::{AgentId, InteractionId, QueueId, TenantId};
use callcore_runtime::CenterHandle;

use crate::config_view::Configuration;
use crate::error::ApiError;
use crate::limits::LoginLimiter;
use crate::live::{Live, LiveCall};
use crate::sessions::Sessions;
use crate::users::{Principal, Role, Users};

pub(crate) struct Inner {
    pub(crate) center: CenterHandle,
    pub(crate) users: Users,
    pub(crate) sessions: Sessions,
    pub(crate) limiter: Mutex<LoginLimiter>,
    pub(crate) live: Arc<Live>,
    pub(crate) config: HashMap<TenantId, Configuration>,
    pub(crate) secure_cookies: bool,
    /// Message conversations (e-mail, SMS), when the assembly runs channels.
    pub(crate) messages: Option<Arc<dyn crate::messages::MessageDesk>>,
    /// Notification runs, when the assembly runs them.
    pub(crate) notifications: Option<Arc<dyn crate::notifications::NotificationReports>>,
    /// Web chat sessions, when the assembly runs web chat.
    pub(crate) chat: Option<Arc<callcore_channels::chat::ChatHub>>,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Inner>);

impl AppState {
    /// The configuration view of `tenant`.
    pub(crate) fn configuration(&self, tenant: &TenantId) -> Configuration {
        self.0.config.get(tenant).cloned().unwrap_or_default()
    }

    /// `raw` as an agent of `p`'s tenant: 404 otherwise (another tenant's
    /// agents do not exist for them).
    pub(crate) fn agent_of_tenant(
        &self,
        p: &Principal,
        raw: &str,
        field: &str,
    ) -> Result<AgentId, ApiError> {
        let id = AgentId::new(raw);
        match self.0.live.agent_tenant(&id) {
            Some(t) if t == p.tenant => Ok(id),
            _ => Err(ApiError::not_found("agent", field)),
        }
    }

    /// `raw` as an agent `p` may act for: themselves, or (supervisors) any
    /// agent of their tenant.
    pub(crate) fn agent_for(&self, p: &Principal, raw: &str) -> Result<AgentId, ApiError> {
        let id = self.agent_of_tenant(p, raw, "agent")?;
        if p.role >= Role::Supervisor || p.agent.as_ref() == Some(&id) {
            Ok(id)
        } else {
            Err(ApiError::forbidden("an agent acts only for themselves"))
        }
    }

    /// `raw` as a queue of `p`'s tenant.
    pub(crate) fn queue_of_tenant(
        &self,
        p: &Principal,
        raw: &str,
        field: &str,
    ) -> Result<QueueId, ApiError> {
        let id = QueueId::new(raw);
        match self.0.live.queue_tenant(&id) {
            Some(t) if t == p.tenant => Ok(id),
            _ => Err(ApiError::not_found("queue", field)),
        }
    }

    /// Whether `p` may see or act on `call`: their tenant's, and for an
    /// agent, a call they are part of.
    pub(crate) fn may_see(p: &Principal, call: &LiveCall) -> bool {
        call.tenant == p.tenant
            && (p.role >= Role::Supervisor
                || p.agent
                    .as_ref()
                    .is_some_and(|a| call.agent.as_ref() == Some(a) || call.agents.contains(a)))
    }

    /// The live call `raw` as `p` may act on it; 404 otherwise.
    pub(crate) fn call_for(&self, p: &Principal, raw: &str) -> Result<InteractionId, ApiError> {
        let id = InteractionId::new(raw);
        match self.0.live.call(&id) {
            Some(c) if Self::may_see(p, &c) => Ok(id),
            _ => Err(ApiError::not_found("live call", "interaction")),
        }
    }
}
