//! The premise center's registrar over real UDP: an account registers only its own
//! address of record (a REGISTER for 1002 authenticated with 1001's credentials gets
//! 403 and 1002 stays offline), an account given as an HA1 hash registers with the
//! password it was made from, and the banner prints no password.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Wall-clock test of a real-time center.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::auth::{DigestAlgorithm, authorization_for, choose_challenge, ha1};
use callcore_sip::message::Message;

struct Phone {
    sock: UdpSocket,
    center: SocketAddr,
    n: u32,
}

impl Phone {
    async fn new(center: SocketAddr) -> Self {
        Phone {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            center,
            n: 0,
        }
    }

    async fn send(&mut self, aor: &str, auth: Option<String>) -> Message {
        self.n += 1;
        let me = self.sock.local_addr().unwrap();
        let n = self.n;
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "REGISTER sip:{center} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg{n}{aor};rport\r\n\
             From: <sip:{aor}@{center}>;tag=r{aor}\r\nTo: <sip:{aor}@{center}>\r\nCall-ID: reg-{aor}-{me}\r\n\
             CSeq: {n} REGISTER\r\nMax-Forwards: 70\r\nContact: <sip:{aor}@{me}>\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
            center = self.center
        );
        self.sock
            .send_to(req.as_bytes(), self.center)
            .await
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        let n = timeout(Duration::from_secs(3), self.sock.recv(&mut buf))
            .await
            .expect("the registrar answers")
            .unwrap();
        Message::parse(buf[..n].to_vec().into()).unwrap()
    }

    /// REGISTER for `aor`, answering the challenge as `user` with `password`.
    async fn register(&mut self, aor: &str, user: &str, password: &str) -> u16 {
        let challenge = self.send(aor, None).await;
        assert_eq!(challenge.status(), Some(401));
        let offered = challenge.www_authenticate().unwrap();
        let chosen = choose_challenge(&offered, &[DigestAlgorithm::Md5]).unwrap();
        let uri = format!("sip:{}", self.center);
        let auth =
            authorization_for(chosen, user, password, "REGISTER", &uri, "c0ffee", 1).unwrap();
        self.send(aor, Some(auth)).await.status().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_for_1002_with_1001s_credentials_gets_403() {
    let dir =
        std::env::temp_dir().join(format!("callcore-premise-registrar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = 36900;
    let hash = ha1(DigestAlgorithm::Md5, "1003", "callcore", "carol1003");
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\n[media]\nrtp_first = {base}\nrtp_last = {}\n[storage]\ndata_dir = \"{}\"\n\
         [[agents]]\nid = \"1001\"\nname = \"Alice\"\npassword = \"alice1001\"\nskills = [\"support\"]\n\
         [[agents]]\nid = \"1002\"\nname = \"Bob\"\npassword = \"bob1002\"\nskills = [\"support\"]\n\
         [[agents]]\nid = \"1003\"\nname = \"Carol\"\nha1 = {{ MD5 = \"{hash}\" }}\nskills = [\"support\"]\n",
        base + 9,
        dir.display()
    );
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let banner = premise.banner();
    for secret in ["alice1001", "bob1002", hash.as_str()] {
        assert!(
            !banner.contains(secret),
            "the banner prints a secret: {banner}"
        );
    }
    assert!(
        !banner.contains("DEMO"),
        "a config file's agents are not the demo's"
    );
    #[cfg(unix)]
    {
        // the database and the recordings folder are the owner's only
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.join("center.db")), 0o600);
        assert_eq!(mode(dir.join("recordings")), 0o700);
    }
    let mut attacker = Phone::new(premise.sip_addr()).await;

    // 1001's credentials for 1002's address of record: refused.
    assert_eq!(attacker.register("1002", "1001", "alice1001").await, 403);
    // 1001's own address of record: fine, with the same credentials.
    assert_eq!(attacker.register("1001", "1001", "alice1001").await, 200);
    // 1003 is stored as an HA1 hash only and registers with its password.
    let mut carol = Phone::new(premise.sip_addr()).await;
    assert_eq!(carol.register("1003", "1003", "carol1003").await, 200);
    assert_eq!(carol.register("1003", "1003", "wrong-guess").await, 401);

    // 1001 becomes reachable at its contact; 1002 never does at the attacker's
    // (agents log in at start; only a registration makes one reachable).
    let mut reachable = (None, None);
    for _ in 0..30 {
        let snapshot = premise.center().snapshot().await.unwrap();
        let of = |id: &str| {
            snapshot
                .agents
                .iter()
                .find(|a| a.agent.as_str() == id)
                .map(|a| a.reachable)
        };
        reachable = (of("1001"), of("1002"));
        if reachable.0 == Some(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reachable, (Some(true), Some(false)));
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
