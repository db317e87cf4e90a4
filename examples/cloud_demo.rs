//! `--demo-calls N` of the `cloud` example: self-made agents and callers, as
//! the premise's `--demo-calls` makes them, spread over the nodes by
//! Kamailio. The agents' phones are one user agent of this process at a
//! fixed contact (every node's config gets `contact = "sip:<id>@…"` for each
//! agent, so any node can ring any agent); the callers dial the IVR through
//! Kamailio, which hashes their Call-IDs over the nodes. The summary counts
//! what the callers and agents heard and the records the nodes stored in
//! PostgreSQL.

// the demo's callers run in wall-clock time
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use callcore::{EndReason, InteractionStore, TenantId, Timestamp};
use callcore_media::udp::PortAllocator;
use callcore_premise::PremiseConfig;
use callcore_premise::demo::{demo_caller, spawn_demo_phones};
use callcore_store::PgStore;

/// The demo's phones, ready before the nodes start.
pub struct Demo {
    /// Where every agent's phone answers.
    pub phones: SocketAddr,
    heard_caller: Arc<AtomicU64>,
    ports: Arc<PortAllocator>,
}

impl Demo {
    /// Binds the phones; callers and phones take RTP ports from `first_rtp` on.
    pub async fn start(first_rtp: u16) -> Result<Self, String> {
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ports = Arc::new(PortAllocator::new(
            local,
            first_rtp..=first_rtp.saturating_add(399),
        ));
        let (phones, heard_caller) = spawn_demo_phones(SocketAddr::new(local, 0), ports.clone())
            .await
            .map_err(|e| format!("demo phones: {e}"))?;
        Ok(Self {
            phones,
            heard_caller,
            ports,
        })
    }

    /// Places `calls` callers through `proxy` 300 ms apart, waits for them
    /// and summarises (one JSON value, `{"demo": …}`).
    pub async fn run(
        self,
        proxy: SocketAddr,
        calls: usize,
        config: PremiseConfig,
    ) -> serde_json::Value {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let keys: Vec<String> = config.ivr.menu.iter().map(|m| m.key.clone()).collect();
        let mut tasks = Vec::new();
        let mut every = tokio::time::interval(Duration::from_millis(300));
        for i in 0..calls {
            every.tick().await;
            let key = keys.get(i % keys.len().max(1)).cloned().unwrap_or_default();
            tasks.push(tokio::spawn(demo_caller(proxy, i, key, self.ports.clone())));
        }
        let (mut heard_menu, mut heard_agent, mut failed) = (0usize, 0usize, 0usize);
        for t in tasks {
            match t.await {
                Ok(Ok((menu, agent))) => {
                    heard_menu += usize::from(menu);
                    heard_agent += usize::from(agent);
                }
                _ => failed += 1,
            }
        }
        // the last hang-ups reach the journals
        tokio::time::sleep(Duration::from_secs(1)).await;
        let records = records_since(&config, since).await;
        serde_json::json!({"demo": {
            "calls": calls,
            "callers_failed": failed,
            "heard_menu": heard_menu,
            "heard_agent": heard_agent,
            "agents_heard_caller": self.heard_caller.load(Ordering::Relaxed),
            "records": records.as_ref().map_or(serde_json::Value::Null, |r| r.0.into()),
            "answered": records.as_ref().map_or(serde_json::Value::Null, |r| r.1.into()),
            "node_failure": records.as_ref().map_or(serde_json::Value::Null, |r| r.2.into()),
            "records_error": records.err(),
        }})
    }
}

/// Records created since `since` (epoch seconds): all, answered by an agent,
/// closed as `node_failure`.
async fn records_since(
    config: &PremiseConfig,
    since: u64,
) -> Result<(usize, usize, usize), String> {
    let url = match &config.storage.database_url {
        Some(u) => u.clone(),
        None => std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?,
    };
    let store = match &config.storage.database_schema {
        Some(s) => PgStore::connect_in_schema(&url, s).await,
        None => PgStore::connect(&url).await,
    }
    .map_err(|e| e.to_string())?;
    let records = store
        .between(
            &TenantId::new(config.tenant.clone()),
            Timestamp::from_secs(i64::try_from(since).unwrap_or(0)),
            Timestamp::from_secs(i64::from(u32::MAX)),
        )
        .await
        .map_err(|e| e.to_string())?;
    let answered = records
        .iter()
        .filter(|r| r.agent.is_some() && r.answered_at.is_some())
        .count();
    let node_failure = records
        .iter()
        .filter(|r| r.end_reason == Some(EndReason::NodeFailure))
        .count();
    Ok((records.len(), answered, node_failure))
}
