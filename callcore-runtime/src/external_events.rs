//! Events from beside the center (a dialer's attempts, an integration) joined
//! to its stream: journaled and published with the center's own sequence
//! numbers, so analytics and reports see them with everything else.

use crate::CenterHandle;
use callcore::{EventKind, TenantId};

impl CenterHandle {
    /// Journals and publishes `kind` as an event of `tenant`, timestamped by
    /// the center's clock (for example the `DialAttempted` events a
    /// callcore-dialer `CampaignRunner` sends).
    pub fn journal_event(&self, tenant: &TenantId, kind: EventKind) {
        self.shared.emitter.emit(tenant, kind);
    }
}
