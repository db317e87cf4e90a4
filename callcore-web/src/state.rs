//! The state every handler shares, and the checks that scope a request to
//! its user's tenant (and, for an agent, to their own calls).

use std::collections::{HashMap, HashSet};
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
    /// The queues each agent serves (for supervisors limited to queues).
    pub(crate) serving: HashMap<AgentId, Vec<QueueId>>,
    /// The coaching rules' thresholds.
    pub(crate) coaching: callcore_analytics::coaching::CoachingConfig,
}

/// What a supervisor limited to some queues sees: those queues and the
/// agents serving them (themselves too).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    pub(crate) queues: HashSet<QueueId>,
    pub(crate) agents: HashSet<AgentId>,
}

impl Scope {
    /// A call or record of `queue` with `agents`: in scope when its queue
    /// is, or (not queued: a dial, a direct call) when one of its agents is.
    pub(crate) fn covers<'a>(
        &self,
        queue: Option<&QueueId>,
        mut agents: impl Iterator<Item = &'a AgentId>,
    ) -> bool {
        match queue {
            Some(q) => self.queues.contains(q),
            None => agents.any(|a| self.agents.contains(a)),
        }
    }
}

/// Refused: outside the supervisor's queues.
pub(crate) fn outside_scope() -> ApiError {
    ApiError::forbidden("outside the queues this supervisor is limited to")
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
    /// agent of their tenant (of their queues, when limited to some: 403
    /// otherwise).
    pub(crate) fn agent_for(&self, p: &Principal, raw: &str) -> Result<AgentId, ApiError> {
        let id = self.agent_of_tenant(p, raw, "agent")?;
        if p.agent.as_ref() == Some(&id) {
            return Ok(id);
        }
        if p.role >= Role::Supervisor {
            if self.scope(p).is_some_and(|s| !s.agents.contains(&id)) {
                return Err(outside_scope());
            }
            Ok(id)
        } else {
            Err(ApiError::forbidden("an agent acts only for themselves"))
        }
    }

    /// The queues and agents `p` is limited to: `None` for the whole tenant
    /// (agents are limited to their own calls elsewhere; administrators
    /// and supervisors without `queues` see everything).
    pub(crate) fn scope(&self, p: &Principal) -> Option<Scope> {
        if p.role != Role::Supervisor {
            return None;
        }
        let queues: HashSet<QueueId> = p.queues.as_ref()?.iter().cloned().collect();
        let mut agents: HashSet<AgentId> = self
            .0
            .serving
            .iter()
            .filter(|(_, qs)| qs.iter().any(|q| queues.contains(q)))
            .map(|(a, _)| a.clone())
            .collect();
        agents.extend(p.agent.clone());
        Some(Scope { queues, agents })
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

    /// The live call `raw` as `p` may act on it; 404 otherwise (403 for a
    /// call outside a limited supervisor's queues).
    pub(crate) fn call_for(&self, p: &Principal, raw: &str) -> Result<InteractionId, ApiError> {
        let id = InteractionId::new(raw);
        match self.0.live.call(&id) {
            Some(c) if Self::may_see(p, &c) => {
                if self
                    .scope(p)
                    .is_some_and(|s| !s.covers(c.queue.as_ref(), c.agents.iter().chain(&c.agent)))
                {
                    return Err(outside_scope());
                }
                Ok(id)
            }
            _ => Err(ApiError::not_found("live call", "interaction")),
        }
    }
}
