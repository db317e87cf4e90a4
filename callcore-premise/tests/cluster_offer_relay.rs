//! An offer to an agent whose phone is registered on another node is placed
//! through that node (`callcore_premise::cluster_offers`), against real
//! PostgreSQL, Redis, a SIPp caller, a SIPp phone that REGISTERs and a SIPp
//! agent UAS.
//!
//! `an_agent_registered_on_another_node_answers_through_it`: node A owns the
//! shard and takes the caller; agent 2001's phone registers on node B only.
//! The owner offers the caller to 2001 through B (a ticket), A sends its
//! INVITE to B, B claims the ticket, rings the phone at its registered
//! contact, answers A and bridges: exactly one record (A's, answered by
//! 2001, offered once), B relayed one offer, no ticket left; the same
//! offer's INVITE sent to B again, and one at an epoch the lease is not
//! at, are refused (480) and ring nobody.
//!
//! Needs `DATABASE_URL`, `REDIS_URL` and `sipp`: skipped with a notice
//! otherwise, failing when `CALLCORE_REQUIRE_PEERS=1`. The test has its own
//! schema (dropped after) and Redis prefix (its keys expire with their TTLs).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

#[path = "cluster_support/mod.rs"]
mod cluster_support;
use cluster_support::{free_port, ready};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use callcore::{AgentId, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use tokio::process::Command;

const DID: &str = "+15550100";
const AGENT: &str = "2001";
const PASSWORD: &str = "relay2001pw";

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("cluster_relay_{}_{nanos}", std::process::id())
}

struct Cluster {
    db: String,
    redis: String,
    schema: String,
}

impl Cluster {
    fn toml(&self, node: &str, rtp_first: u16) -> String {
        let dir = std::env::temp_dir().join(format!("callcore-{}-{node}", self.schema));
        format!(
            "[sip]\nbind = \"127.0.0.1:0\"\ndigest = [\"MD5\"]\n[http]\nenabled = false\n\
             [media]\nrtp_first = {rtp_first}\nrtp_last = {}\n\
             [storage]\ndata_dir = \"{}\"\ndatabase_url = \"{}\"\ndatabase_schema = \"{}\"\n\
             [cluster]\nnode = \"{node}\"\nredis_url = \"{}\"\nprefix = \"{}\"\n\
             [[dids]]\nnumber = \"{DID}\"\nqueue = \"support\"\n\
             [[agents]]\nid = \"{AGENT}\"\nname = \"Relayed\"\npassword = \"{PASSWORD}\"\n\
             skills = [\"support\"]\n",
            rtp_first + 79,
            dir.display(),
            self.db,
            self.schema,
            self.redis,
            self.schema,
        )
    }

    async fn start(&self, node: &str, rtp_first: u16) -> Premise {
        let toml = callcore_premise::with_demo_agents(&self.toml(node, rtp_first));
        Premise::start(PremiseConfig::from_toml(&toml).unwrap())
            .await
            .unwrap()
    }

    async fn drop_schema(&self) {
        let pool = sqlx::PgPool::connect(&self.db).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .execute(&pool)
            .await
            .unwrap();
    }
}

fn sipp(port: u16) -> Command {
    let mut c = Command::new("sipp");
    c.args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_port().to_string()])
        .args(["-ci", "127.0.0.1", "-cp", &free_port().to_string()])
        .args(["-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    c
}

fn harness(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/premise-load")
        .join(file)
}

/// A scenario of tests/sipp with `from` replaced by `to`, written to `dir`.
fn scenario(file: &str, replace: &[(&str, &str)], dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(file),
    )
    .unwrap();
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{}-{file}", free_port()));
    std::fs::write(&path, text).unwrap();
    path
}

async fn until(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if ok().await {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within {within:?}");
}

/// An offer INVITE to node B (as a caller's node sends it) for
/// `reservation` at `epoch`; B must refuse it with 480.
fn replayed_offer(reservation: &str, shard: &str, epoch: u64) -> String {
    let uri = format!(
        "sip:{AGENT}@[remote_ip]:[remote_port];cc-offer={reservation};cc-shard={shard};\
         cc-epoch={epoch};cc-ring=5"
    );
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="replayed offer">
  <send retrans="500">
    <![CDATA[

      INVITE {uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:replay@[local_ip]:[local_port]>;tag=[pid]r[call_number]
      To: <sip:{AGENT}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:replay@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=replay 1 1 IN IP[local_ip_type] [local_ip]
      s=replay
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="480" timeout="10000"/>
</scenario>
"#
    )
}

async fn routing_epoch(p: &Premise) -> Option<u64> {
    p.cluster()
        .and_then(|c| c.owner_status())
        .and_then(|s| s.routing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registered_on_another_node_answers_through_it() {
    let Some((db, redis)) = ready("the offer relay test") else {
        return;
    };
    let schema = unique();
    let cluster = Cluster {
        db,
        redis,
        schema: schema.clone(),
    };
    let dir = std::env::temp_dir().join(&schema);
    // A first: it takes the shard's lease and will hold the caller
    let a = cluster.start("na", 26_400).await;
    until("A routes the shard", Duration::from_secs(10), async || {
        routing_epoch(&a).await.is_some()
    })
    .await;
    let b = cluster.start("nb", 26_500).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        routing_epoch(&b).await,
        None,
        "B never routes while A renews"
    );

    // the agent's phone: a SIPp UAS, registered by a second SIPp on B only
    let phone = free_port();
    let mut agent_phone = sipp(phone)
        .arg("-sf")
        .arg(harness("agents.xml"))
        .arg("-rtp_echo")
        .args(["-m", "1", "-timeout", "90s"])
        .spawn()
        .expect("sipp agent phone");
    let register = scenario("agent_register.xml", &[("1001", AGENT)], &dir);
    let registered = sipp(free_port())
        .arg("-sf")
        .arg(&register)
        .args(["-ap", PASSWORD, "-key", "uas_port", &phone.to_string()])
        .args(["-m", "1", "-timeout", "20s"])
        .arg(b.sip_addr().to_string())
        .status()
        .await
        .unwrap();
    assert!(registered.success(), "the phone registered on B");
    // the owner sees the phone on B (and not on A)
    let db = a.cluster().unwrap().db().clone();
    let shard = a.cluster().unwrap().shard().unwrap().to_owned();
    until(
        "the agent's phone is on B",
        Duration::from_secs(10),
        async || {
            db.seats(&shard)
                .await
                .unwrap()
                .iter()
                .any(|s| s.id == AGENT && s.reachable_on.as_deref() == Some(&["nb".to_owned()][..]))
        },
    )
    .await;

    let mut events = a.center().subscribe();
    let caller_xml = scenario(
        "ops_caller.xml",
        &[(
            "<pause milliseconds=\"3000\"/>",
            "<pause milliseconds=\"6000\"/>",
        )],
        &dir,
    );
    let mut caller = sipp(free_port())
        .arg(a.sip_addr().to_string())
        .arg("-sf")
        .arg(&caller_xml)
        .args(["-s", DID, "-m", "1", "-timeout", "60s"])
        .spawn()
        .expect("sipp caller");
    let mut records = Vec::new();
    until("the call's record", Duration::from_secs(40), async || {
        records = a.records().await.unwrap();
        records.iter().any(|r| r.end_reason.is_some())
    })
    .await;
    assert!(caller.wait().await.unwrap().success(), "the SIPp caller");
    assert!(
        agent_phone.wait().await.unwrap().success(),
        "the agent's phone"
    );
    // A and B share the store: one record in all
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = &records[0];
    assert_eq!(record.agent, Some(AgentId::new(AGENT)), "{record:#?}");
    assert!(record.answered_at.is_some(), "{record:#?}");
    assert_eq!(record.offers, 1, "offered once: {record:#?}");
    let mut offered = Vec::new();
    while let Ok(Some(e)) = events.try_recv() {
        if let EventKind::Offered { reservation, .. } = &e.kind {
            offered.push(reservation.clone());
        }
    }
    assert_eq!(offered.len(), 1, "A placed the one offer");
    assert!(
        a.cluster().unwrap().owner_status().unwrap().offers >= 1,
        "A made the offer"
    );
    assert_eq!(
        b.cluster().unwrap().offers_relayed(),
        1,
        "B rang the agent once"
    );
    assert_eq!(a.cluster().unwrap().offers_relayed(), 0);
    assert!(
        db.offer_tickets(&shard).await.unwrap().is_empty(),
        "the ticket was claimed"
    );
    // the same offer's INVITE again, and one of an epoch the lease is not
    // at: B refuses both (480) and rings nobody
    let epoch = routing_epoch(&a).await.unwrap();
    for (reservation, at) in [(offered[0].as_str(), epoch), ("res-e0-1", epoch + 1)] {
        let replay = dir.join(format!("replay-{at}.xml"));
        std::fs::write(&replay, replayed_offer(reservation, &shard, at)).unwrap();
        let refused = sipp(free_port())
            .arg(b.sip_addr().to_string())
            .arg("-sf")
            .arg(&replay)
            .args(["-m", "1", "-timeout", "20s"])
            .status()
            .await
            .unwrap();
        assert!(
            refused.success(),
            "B answered 480 to {reservation} at epoch {at}"
        );
    }
    assert_eq!(
        b.cluster().unwrap().offers_relayed(),
        1,
        "nothing rung twice"
    );
    println!(
        "caller on A, agent's phone on B: record {:?}, agent {:?}, offers {}",
        record.end_reason, record.agent, record.offers
    );
    a.shutdown().await;
    b.shutdown().await;
    cluster.drop_schema().await;
    let _ = std::fs::remove_dir_all(&dir);
}
