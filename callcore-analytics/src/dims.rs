//! What metrics are broken down by.

use callcore::{AgentId, CampaignId, Channel, QueueId, TenantId};
use serde::{Deserialize, Serialize};

/// One breakdown of the metrics: a tenant as a whole, or one of its queues,
/// agents, channels or campaigns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "dimension", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Dimension {
    /// The whole tenant.
    Tenant {
        /// The tenant.
        tenant: TenantId,
    },
    /// One queue.
    Queue {
        /// The tenant.
        tenant: TenantId,
        /// The queue.
        queue: QueueId,
    },
    /// One agent.
    Agent {
        /// The tenant.
        tenant: TenantId,
        /// The agent.
        agent: AgentId,
    },
    /// One channel.
    Channel {
        /// The tenant.
        tenant: TenantId,
        /// The channel.
        channel: Channel,
    },
    /// One outbound campaign.
    Campaign {
        /// The tenant.
        tenant: TenantId,
        /// The campaign.
        campaign: CampaignId,
    },
    /// One channel of one queue (its service level against the channel's
    /// target, e-mail's in business hours).
    QueueChannel {
        /// The tenant.
        tenant: TenantId,
        /// The queue.
        queue: QueueId,
        /// The channel.
        channel: Channel,
    },
}

impl Dimension {
    /// The kind of breakdown (`"tenant"`, `"queue"`, `"agent"`, `"channel"`,
    /// `"queue_channel"`, `"campaign"`).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Tenant { .. } => "tenant",
            Self::Queue { .. } => "queue",
            Self::Agent { .. } => "agent",
            Self::Channel { .. } => "channel",
            Self::QueueChannel { .. } => "queue_channel",
            Self::Campaign { .. } => "campaign",
        }
    }

    /// The tenant.
    #[must_use]
    pub const fn tenant(&self) -> &TenantId {
        match self {
            Self::Tenant { tenant }
            | Self::Queue { tenant, .. }
            | Self::Agent { tenant, .. }
            | Self::Channel { tenant, .. }
            | Self::QueueChannel { tenant, .. }
            | Self::Campaign { tenant, .. } => tenant,
        }
    }

    /// The queue, agent, channel or campaign name (the tenant's own name for a
    /// tenant; the queue's for a queue's channel).
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::Tenant { tenant } => tenant.as_str(),
            Self::Queue { queue, .. } | Self::QueueChannel { queue, .. } => queue.as_str(),
            Self::Agent { agent, .. } => agent.as_str(),
            Self::Channel { channel, .. } => channel.as_str(),
            Self::Campaign { campaign, .. } => campaign.as_str(),
        }
    }

    /// A queue dimension.
    #[must_use]
    pub fn queue(tenant: impl Into<TenantId>, queue: impl Into<QueueId>) -> Self {
        Self::Queue {
            tenant: tenant.into(),
            queue: queue.into(),
        }
    }

    /// An agent dimension.
    #[must_use]
    pub fn agent(tenant: impl Into<TenantId>, agent: impl Into<AgentId>) -> Self {
        Self::Agent {
            tenant: tenant.into(),
            agent: agent.into(),
        }
    }

    /// A tenant dimension.
    #[must_use]
    pub fn tenant_of(tenant: impl Into<TenantId>) -> Self {
        Self::Tenant {
            tenant: tenant.into(),
        }
    }

    /// A channel dimension.
    #[must_use]
    pub fn channel(tenant: impl Into<TenantId>, channel: Channel) -> Self {
        Self::Channel {
            tenant: tenant.into(),
            channel,
        }
    }

    /// One channel of a queue.
    #[must_use]
    pub fn queue_channel(
        tenant: impl Into<TenantId>,
        queue: impl Into<QueueId>,
        channel: Channel,
    ) -> Self {
        Self::QueueChannel {
            tenant: tenant.into(),
            queue: queue.into(),
            channel,
        }
    }

    /// A campaign dimension.
    #[must_use]
    pub fn campaign(tenant: impl Into<TenantId>, campaign: impl Into<CampaignId>) -> Self {
        Self::Campaign {
            tenant: tenant.into(),
            campaign: campaign.into(),
        }
    }
}

/// Small integer ids for dimensions, so that hot paths hash a `u32`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    dims: Vec<Dimension>,
    ids: crate::engine::HashMap<Dimension, u32>,
}

impl Interner {
    pub fn id(&mut self, dim: Dimension) -> u32 {
        if let Some(id) = self.ids.get(&dim) {
            return *id;
        }
        let id = u32::try_from(self.dims.len()).unwrap_or(u32::MAX);
        self.dims.push(dim.clone());
        self.ids.insert(dim, id);
        id
    }

    pub fn lookup(&self, dim: &Dimension) -> Option<u32> {
        self.ids.get(dim).copied()
    }

    pub fn get(&self, id: u32) -> Option<&Dimension> {
        self.dims.get(id as usize)
    }
}
