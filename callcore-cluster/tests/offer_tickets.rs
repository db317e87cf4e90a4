//! Offer tickets (offers placed through the node holding the agent's phone)
//! against the machine's PostgreSQL (`DATABASE_URL`), in a schema of their
//! own: the owner writes a ticket in its fenced transaction, the agent's
//! node claims it once, only at the lease's current epoch, and a new owner
//! voids the tickets of earlier epochs.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    clippy::disallowed_methods
)]

mod common;

use callcore_cluster::{
    AGENT_SEAT, ClaimRefused, Fence, OfferTicket, Seat, drop_offer_ticket_in,
    drop_stale_tickets_in, issue_offer_ticket_in, via_for,
};
use common::{TestDb, database_url};
use std::collections::HashSet;

const TTL: f64 = 3.0;

fn ticket(reservation: &str, epoch: u64) -> OfferTicket {
    OfferTicket {
        shard: "s".into(),
        reservation: reservation.into(),
        agent: "2001".into(),
        caller_node: "na".into(),
        via: "nb".into(),
        epoch,
    }
}

async fn issue(db: &callcore_cluster::ClusterDb, fence: &Fence, t: &OfferTicket) {
    let mut tx = db.begin_fenced(fence).await.unwrap();
    issue_offer_ticket_in(&mut tx, t).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_claimed_once_and_only_at_its_epoch() {
    let Some(url) = database_url() else { return };
    let t = TestDb::open(&url).await;
    let db = &t.db;
    assert_eq!(db.acquire("s", "na", TTL).await.unwrap(), Some(1));
    let fence = Fence::new("s", "na", 1);
    issue(db, &fence, &ticket("res-e1-1", 1)).await;
    assert_eq!(db.offer_tickets("s").await.unwrap().len(), 1);

    // only the node named, for the agent named, at the epoch written
    let refused = db
        .claim_offer_ticket("s", "res-e1-1", "2001", "nc", 1)
        .await
        .unwrap();
    assert_eq!(refused, Err(ClaimRefused::NoTicket));
    let refused = db
        .claim_offer_ticket("s", "res-e1-1", "2002", "nb", 1)
        .await
        .unwrap();
    assert_eq!(refused, Err(ClaimRefused::NoTicket));
    // once
    let claimed = db
        .claim_offer_ticket("s", "res-e1-1", "2001", "nb", 1)
        .await
        .unwrap();
    assert_eq!(claimed, Ok("na".to_owned()));
    let again = db
        .claim_offer_ticket("s", "res-e1-1", "2001", "nb", 1)
        .await
        .unwrap();
    assert_eq!(again, Err(ClaimRefused::NoTicket), "an offer rings once");

    // an offer that ended: its ticket is gone
    issue(db, &fence, &ticket("res-e1-2", 1)).await;
    let mut tx = db.begin_fenced(&fence).await.unwrap();
    drop_offer_ticket_in(&mut tx, "s", "res-e1-2")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ended = db
        .claim_offer_ticket("s", "res-e1-2", "2001", "nb", 1)
        .await
        .unwrap();
    assert_eq!(ended, Err(ClaimRefused::NoTicket));

    // a takeover: the old epoch's ticket can no longer be claimed, even
    // before the new owner voids it
    issue(db, &fence, &ticket("res-e1-3", 1)).await;
    assert_eq!(db.release("s", "na", 1).await.unwrap(), Some(1));
    assert_eq!(db.acquire("s", "nc", TTL).await.unwrap(), Some(2));
    let stale = db
        .claim_offer_ticket("s", "res-e1-3", "2001", "nb", 1)
        .await
        .unwrap();
    assert_eq!(stale, Err(ClaimRefused::Fenced));
    // the old owner cannot write a ticket any more
    assert!(db.begin_fenced(&fence).await.is_err());
    // the new owner's first pass voids the earlier epochs' tickets
    let fence2 = Fence::new("s", "nc", 2);
    issue(db, &fence2, &ticket("res-e2-1", 2)).await;
    let mut tx = db.begin_fenced(&fence2).await.unwrap();
    assert_eq!(drop_stale_tickets_in(&mut tx, "s", 2).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let left: Vec<String> = db
        .offer_tickets("s")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.reservation)
        .collect();
    assert_eq!(left, vec!["res-e2-1".to_owned()]);
    assert_eq!(
        db.claim_offer_ticket("s", "res-e2-1", "2001", "nb", 2)
            .await
            .unwrap(),
        Ok("na".to_owned())
    );
    t.drop_schema().await;
}

#[test]
fn an_offer_goes_through_another_node_only_when_the_callers_cannot_ring_the_agent() {
    let seat = |reachable_on: Option<Vec<&str>>| Seat {
        kind: AGENT_SEAT.into(),
        id: "2001".into(),
        body: serde_json::json!({}),
        state: None,
        reachable_on: reachable_on.map(|v| v.into_iter().map(str::to_owned).collect()),
    };
    let live: HashSet<String> = ["na", "nb"].into_iter().map(str::to_owned).collect();
    // a fixed contact: any node rings it
    assert_eq!(via_for(&[seat(None)], "2001", "na", Some(&live)), None);
    // registered on the caller's node
    assert_eq!(
        via_for(&[seat(Some(vec!["nb", "na"]))], "2001", "na", Some(&live)),
        None
    );
    // registered on nb only
    assert_eq!(
        via_for(&[seat(Some(vec!["nb"]))], "2001", "na", Some(&live)),
        Some("nb".into())
    );
    // on a node without a heartbeat, then on a live one
    assert_eq!(
        via_for(&[seat(Some(vec!["nx", "nb"]))], "2001", "na", Some(&live)),
        Some("nb".into())
    );
    assert_eq!(
        via_for(&[seat(Some(vec!["nx"]))], "2001", "na", Some(&live)),
        None
    );
    assert_eq!(via_for(&[seat(Some(vec!["nb"]))], "2002", "na", None), None);
}
