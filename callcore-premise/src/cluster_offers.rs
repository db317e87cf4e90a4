//! Offers placed through the node that holds the agent's phone or browser
//! (the cloud assembly; design in `docs/cloud.md`, "Offers through the
//! agent's node").
//!
//! The caller's node (A) keeps the caller's leg, the bridge and the record;
//! the node where the agent's phone is registered or browser connected (B)
//! rings the agent and bridges that leg to a SIP leg from A:
//!
//! ```text
//! caller ──SIP/RTP── A ──SIP/RTP (one leg per offer)── B ──SIP/RTP or WebRTC── agent
//! ```
//!
//! - The owner mails the offer to A with `via = B` and writes its ticket
//!   in the same fenced transaction (`callcore_cluster::OfferTicket`).
//! - A's [`RelayTransport`] (first among A's transports, so it answers for
//!   an agent only while such an offer is pending) sends the INVITE to B's
//!   SIP address (its heartbeat in Redis) with the Request-URI
//!   `sip:<agent>@<B>;cc-offer=<reservation>;cc-shard=<shard>;cc-epoch=<E>;cc-ring=<s>`.
//! - B's SIP transport diverts INVITEs carrying `cc-offer` to
//!   [`serve_relayed_offers`]: B claims the ticket (refused for an earlier
//!   epoch, an expired lease, or a ticket already claimed or deleted: 480),
//!   rings the agent's phone or browser with its own transports, answers
//!   A's leg once the agent answered and bridges the two in its media
//!   engine. A's CANCEL (the offer withdrawn) cancels the agent's ringing;
//!   either side's hang-up hangs up the other.
//! - B creates no interaction and journals nothing: the call's one record
//!   is A's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use callcore::{Channel, CoreError, Endpoint, HangupCause, Inbound, Leg, PlaceRequest, Transport};
use callcore_cluster::{ClaimRefused, ClusterDb, Presence};
use callcore_sip::center::{DivertedCall, SipTransport};
use callcore_sip::message::Uri;
use callcore_sip::transaction::Peer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use crate::cluster_node::OFFER_PARAM;

/// How long B rings an agent when the INVITE does not say.
const DEFAULT_RING_SECS: u32 = 30;

/// An offer this node places through another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRoute {
    /// The offer's reservation.
    pub reservation: String,
    /// The node holding the agent's phone.
    pub via: String,
    /// The owner's epoch.
    pub epoch: u64,
}

/// The offers this node places through other nodes, by agent (written by
/// the node's routing link from its mail, read by [`RelayTransport`]).
#[derive(Debug, Clone, Default)]
pub struct RelayRoutes(Arc<Mutex<HashMap<String, RelayRoute>>>);

impl RelayRoutes {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, RelayRoute>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An offer to `agent` goes through `route.via`.
    pub fn insert(&self, agent: &str, route: RelayRoute) {
        self.map().insert(agent.to_owned(), route);
    }

    /// The offer of `reservation` ended (assigned, withdrawn).
    pub fn remove_reservation(&self, reservation: &str) {
        self.map().retain(|_, r| r.reservation != reservation);
    }

    /// The offers of epochs before `epoch` are void.
    pub fn remove_before(&self, epoch: u64) {
        self.map().retain(|_, r| r.epoch >= epoch);
    }

    /// The route of an offer to `agent`, if one is pending.
    #[must_use]
    pub fn get(&self, agent: &str) -> Option<RelayRoute> {
        self.map().get(agent).cloned()
    }
}

/// The agent an endpoint rings: an AOR's user, a browser's agent id.
fn agent_of(endpoint: &Endpoint) -> Option<String> {
    match endpoint {
        Endpoint::Sip(aor) => Uri::parse(aor)
            .ok()
            .and_then(|u| u.user().map(str::to_owned)),
        Endpoint::WebRtc(id) => Some(id.clone()),
        _ => None,
    }
}

/// A URI parameter value as it may be written unescaped.
fn token(s: &str) -> Option<&str> {
    (!s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'".contains(&b)))
    .then_some(s)
}

/// The caller node's side: rings an agent through the node holding their
/// phone while the owner's offer says so (see the module docs).
#[derive(Debug)]
pub struct RelayTransport {
    routes: RelayRoutes,
    sip: Arc<SipTransport>,
    presence: Presence,
    shard: String,
}

impl RelayTransport {
    /// A relay over `sip` for the offers in `routes`; nodes' SIP addresses
    /// come from their heartbeats in `presence`.
    #[must_use]
    pub fn new(
        routes: RelayRoutes,
        sip: Arc<SipTransport>,
        presence: Presence,
        shard: &str,
    ) -> Self {
        RelayTransport {
            routes,
            sip,
            presence,
            shard: shard.to_owned(),
        }
    }

    async fn node_addr(&self, node: &str) -> Result<SocketAddr, CoreError> {
        let nodes = self
            .presence
            .live_nodes()
            .await
            .map_err(|e| CoreError::Transport(format!("node addresses: {e}")))?;
        nodes
            .into_iter()
            .find(|n| n.node == node)
            .and_then(|n| n.sip.parse().ok())
            .ok_or_else(|| CoreError::Unreachable(format!("node {node} has no live heartbeat")))
    }
}

#[async_trait]
impl Transport for RelayTransport {
    fn name(&self) -> &str {
        "cluster-relay"
    }

    async fn accept(&self) -> Option<Inbound> {
        // places legs only; inbound calls come through the SIP transport
        std::future::pending().await
    }

    fn can_reach(&self, endpoint: &Endpoint) -> bool {
        agent_of(endpoint).is_some_and(|a| self.routes.get(&a).is_some())
    }

    async fn place(&self, request: PlaceRequest) -> Result<Box<dyn Leg>, CoreError> {
        let agent = agent_of(&request.to)
            .ok_or_else(|| CoreError::Unreachable("not an agent's endpoint".into()))?;
        let route = self
            .routes
            .get(&agent)
            .ok_or_else(|| CoreError::Unreachable("no offer through another node".into()))?;
        let (Some(user), Some(reservation), Some(shard)) =
            (token(&agent), token(&route.reservation), token(&self.shard))
        else {
            return Err(CoreError::Unreachable(
                "an agent, reservation or shard id not fit for a SIP URI".into(),
            ));
        };
        let addr = self.node_addr(&route.via).await?;
        let uri = format!(
            "sip:{user}@{addr};{OFFER_PARAM}={reservation};cc-shard={shard};cc-epoch={};cc-ring={}",
            route.epoch, request.ring_timeout_secs
        );
        tracing::info!(%agent, via = %route.via, %reservation, "offer placed through the agent's node");
        self.sip.place_at(request, &uri, Peer::udp(addr)).await
    }
}

/// What an offer INVITE from another node asks.
#[derive(Debug, PartialEq, Eq)]
struct RelayedOffer {
    agent: String,
    reservation: String,
    shard: String,
    epoch: u64,
    ring_secs: u32,
}

fn parse_offer(request_uri: &str) -> Option<RelayedOffer> {
    let uri = Uri::parse(request_uri).ok()?;
    let params = uri.params();
    let get = |name: &str| params.get(name).flatten().map(str::to_owned);
    Some(RelayedOffer {
        agent: uri.user()?.to_owned(),
        reservation: get(OFFER_PARAM)?,
        shard: get("cc-shard")?,
        epoch: get("cc-epoch")?.parse().ok()?,
        ring_secs: get("cc-ring")
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_RING_SECS),
    })
}

/// The agent's node's side: what it needs to ring its agents for other
/// nodes' callers.
#[derive(Debug, Clone)]
pub struct RelayService {
    /// The cluster's tables (the tickets).
    pub db: ClusterDb,
    /// This node.
    pub node: String,
    /// The transports that reach this node's phones and browsers (not the
    /// relay).
    pub transports: Vec<Arc<dyn Transport>>,
    /// Each agent's endpoints, as this node's config has them.
    pub endpoints: HashMap<String, Vec<Endpoint>>,
    /// Offers this node rang an agent for (claimed tickets).
    pub relayed: Arc<AtomicU64>,
}

/// Serves the offer INVITEs other nodes divert to this one (see the module
/// docs), each in its own task.
pub fn serve_relayed_offers(
    mut diverted: mpsc::UnboundedReceiver<DivertedCall>,
    service: RelayService,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(call) = diverted.recv().await {
            tokio::spawn(relay_one(service.clone(), call));
        }
    })
}

async fn refuse(leg: Box<dyn Leg>) {
    // an unanswered inbound leg hung up: 480
    let _ = leg.hangup(HangupCause::Local).await;
}

async fn relay_one(service: RelayService, call: DivertedCall) {
    let DivertedCall {
        request_uri,
        from,
        leg,
        ..
    } = call;
    let Some(offer) = parse_offer(&request_uri) else {
        tracing::warn!("an offer INVITE without shard, reservation or epoch: refused");
        return refuse(leg).await;
    };
    let claim = service
        .db
        .claim_offer_ticket(
            &offer.shard,
            &offer.reservation,
            &offer.agent,
            &service.node,
            offer.epoch,
        )
        .await;
    let caller_node = match claim {
        Ok(Ok(node)) => node,
        Ok(Err(why)) => {
            let why = match why {
                ClaimRefused::Fenced => "the offer's owner is fenced (another epoch)",
                _ => "no such offer ticket",
            };
            tracing::info!(reservation = %offer.reservation, agent = %offer.agent, why,
                "an offer through this node refused");
            return refuse(leg).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "offer ticket not claimed: refused");
            return refuse(leg).await;
        }
    };
    service.relayed.fetch_add(1, Ordering::Relaxed);
    let endpoints = service
        .endpoints
        .get(&offer.agent)
        .cloned()
        .unwrap_or_default();
    let Some((to, transport)) = endpoints.iter().find_map(|e| {
        service
            .transports
            .iter()
            .find(|t| t.can_reach(e))
            .map(|t| (e.clone(), t.clone()))
    }) else {
        tracing::warn!(agent = %offer.agent, "an agent this node cannot ring: refused");
        return refuse(leg).await;
    };
    let caller = Uri::parse(&from)
        .ok()
        .and_then(|u| u.user().map(str::to_owned))
        .unwrap_or_default();
    let request = PlaceRequest {
        to,
        from: caller,
        channel: Channel::Voice,
        ring_timeout_secs: offer.ring_secs,
    };
    // the caller's node may withdraw the offer meanwhile (CANCEL)
    let agent_leg = tokio::select! {
        placed = transport.place(request) => placed,
        _ = leg.ended() => {
            tracing::info!(reservation = %offer.reservation, "offer withdrawn by the caller's node");
            return;
        }
    };
    let agent_leg = match agent_leg {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(agent = %offer.agent, error = %e, "the agent did not answer the relayed offer");
            return refuse(leg).await;
        }
    };
    let bridged = async {
        leg.answer().await?;
        agent_leg.bridge(leg.as_ref()).await
    }
    .await;
    if let Err(e) = bridged {
        tracing::warn!(error = %e, "relayed offer not bridged");
        let _ = agent_leg.hangup(HangupCause::Local).await;
        return refuse(leg).await;
    }
    tracing::info!(agent = %offer.agent, reservation = %offer.reservation, %caller_node,
        "relayed offer answered and bridged");
    tokio::select! {
        _ = leg.ended() => { let _ = agent_leg.hangup(HangupCause::Local).await; }
        _ = agent_leg.ended() => { let _ = leg.hangup(HangupCause::Local).await; }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_uri_says_agent_reservation_shard_epoch_and_ring_time() {
        let uri =
            "sip:2001@127.0.0.1:5070;cc-offer=res-e3-7;cc-shard=default;cc-epoch=3;cc-ring=20";
        assert_eq!(
            parse_offer(uri),
            Some(RelayedOffer {
                agent: "2001".into(),
                reservation: "res-e3-7".into(),
                shard: "default".into(),
                epoch: 3,
                ring_secs: 20,
            })
        );
        assert_eq!(
            parse_offer("sip:2001@127.0.0.1;cc-offer=r;cc-shard=s"),
            None
        );
        assert_eq!(
            parse_offer("sip:2001@127.0.0.1;cc-offer=r;cc-shard=s;cc-epoch=x"),
            None
        );
    }

    #[test]
    fn routes_follow_offers_and_epochs() {
        let routes = RelayRoutes::default();
        let route = |r: &str, e| RelayRoute {
            reservation: r.into(),
            via: "nb".into(),
            epoch: e,
        };
        routes.insert("2001", route("res-e1-1", 1));
        routes.insert("2002", route("res-e2-1", 2));
        assert_eq!(
            agent_of(&Endpoint::Sip("sip:2001@127.0.0.1".into())).as_deref(),
            Some("2001")
        );
        routes.remove_before(2);
        assert!(routes.get("2001").is_none());
        routes.remove_reservation("res-e2-1");
        assert!(routes.get("2002").is_none());
        assert_eq!(token("a b"), None);
        assert_eq!(token("res-e2-1"), Some("res-e2-1"));
    }
}
