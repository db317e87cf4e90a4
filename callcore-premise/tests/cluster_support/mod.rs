//! What the cluster tests share (`cluster_node_failure.rs`, `cluster_node_pause.rs`,
//! `cluster_routing.rs`): whether PostgreSQL, Redis and SIPp are there, a free port,
//! and a node's config (its own schema and Redis prefix).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::process::Stdio;

/// The PostgreSQL and Redis URLs when both are set and sipp is installed; else a
/// notice naming `test` (a failure under `CALLCORE_REQUIRE_PEERS=1`).
pub fn ready(test: &str) -> Option<(String, String)> {
    let sipp = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let db = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let redis = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    let why = match (db, redis, sipp) {
        (Some(d), Some(r), true) => return Some((d, r)),
        (None, ..) => "DATABASE_URL is not set",
        (_, None, _) => "REDIS_URL is not set",
        _ => "sipp is not installed (apt-get install -y sip-tester)",
    };
    assert!(
        std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "peers required (CALLCORE_REQUIRE_PEERS=1): {why}"
    );
    eprintln!("NOTICE: skipping {test}: {why}");
    None
}

pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn node_toml(
    node: &str,
    rtp_first: u16,
    db: &str,
    schema: &str,
    redis: &str,
    prefix: &str,
) -> String {
    let dir = std::env::temp_dir().join(format!("callcore-{schema}-{node}"));
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[http]\nenabled = false\n\
         [media]\nrtp_first = {rtp_first}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\ndatabase_url = \"{db}\"\ndatabase_schema = \"{schema}\"\n\
         [cluster]\nnode = \"{node}\"\nredis_url = \"{redis}\"\nprefix = \"{prefix}\"\n",
        rtp_first + 39,
        dir.display()
    );
    callcore_premise::with_demo_agents(&toml)
}
