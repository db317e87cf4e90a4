//! Phones over TLS (`[sip] tls = { bind, cert, key }`), against real peers:
//! Debian's baresip registers agent 1001 over TLS (`;transport=tls`, trusting the
//! test's CA with `sip_cafile`) and answers automatically with a 440 Hz tone; a
//! SIPp caller over UDP calls the DID `5000`, which goes straight to the billing
//! queue, so the center rings 1001 — over the TLS connection the phone registered
//! on (its contact route is TLS; the contact names baresip's TLS port, where
//! nothing listens for UDP) — and bridges the call: baresip answers, the
//! recording carries the phone's tone, SIPp hangs up after 3 s (its run passes).
//!
//! The certificate and key are made at test time (rcgen); the key file is 0600
//! (a world-readable one is refused, see `sip_edge`'s unit test).
//! Fixed ports in 22500-22699 (helper range); the center's own are OS-picked.
//! Skipped with a notice without baresip or sipp, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers run in wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use callcore::{AgentState, EventKind};
use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::transaction::TransportKind;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use tokio::process::Command;

fn found(bin: &str, arg: &str) -> bool {
    std::process::Command::new(bin)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn peers_here() -> bool {
    if found("baresip", "-h") && found("sipp", "-v") {
        return true;
    }
    assert!(
        std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "baresip and sipp are required (CALLCORE_REQUIRE_PEERS=1)"
    );
    eprintln!(
        "NOTICE: baresip or sipp not found; skipping (apt-get install -y baresip sip-tester)"
    );
    false
}

/// Writes `ca.pem`, `cert.pem` (for 127.0.0.1 and localhost, signed by the CA) and
/// `key.pem` (0600) into `dir`.
fn make_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    let key_file = dir.join("key.pem");
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Mean absolute sample of each channel of a 16-bit stereo WAV.
fn channel_levels(wav: &[u8]) -> (f64, f64) {
    let Some(data) = wav.windows(4).position(|w| w == b"data") else {
        return (0.0, 0.0);
    };
    let (mut left, mut right, mut frames) = (0f64, 0f64, 0f64);
    for frame in wav[data + 8..].chunks_exact(4) {
        left += f64::from(i16::from_le_bytes([frame[0], frame[1]])).abs();
        right += f64::from(i16::from_le_bytes([frame[2], frame[3]])).abs();
        frames += 1.0;
    }
    (left / frames.max(1.0), right / frames.max(1.0))
}

async fn wait_reachable(premise: &Premise, agent: &str) -> bool {
    let mut events = premise.center().subscribe();
    let snapshot = premise.center().snapshot().await.unwrap();
    if snapshot
        .agents
        .iter()
        .any(|a| a.agent.as_str() == agent && a.state == AgentState::Available && a.reachable)
    {
        return true;
    }
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(e) = events.recv().await {
            if let EventKind::AgentReachabilityChanged {
                agent: a,
                reachable: true,
                ..
            } = &e.kind
                && a.as_str() == agent
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_over_tls_is_rung_over_tls_for_a_udp_caller() {
    if !peers_here() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("callcore-phones-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("baresip")).unwrap();
    make_certificates(&dir);
    let toml = format!(
        "[sip]\nbind = \"127.0.0.1:0\"\ntcp = true\n\
         tls = {{ bind = \"127.0.0.1:0\", cert = \"{cert}\", key = \"{key}\" }}\n\
         [http]\nenabled = false\n\
         [media]\nrtp_first = 22600\nrtp_last = 22619\n\
         [storage]\ndata_dir = \"{data}\"\n\
         [[agents]]\nid = \"1001\"\nname = \"Alice\"\npassword = \"alice1001\"\nskills = [\"billing\"]\n\
         [[dids]]\nnumber = \"5000\"\nqueue = \"billing\"\n",
        cert = dir.join("cert.pem").display(),
        key = dir.join("key.pem").display(),
        data = dir.join("data").display(),
    );
    let premise = Premise::start(PremiseConfig::from_toml(&toml).unwrap())
        .await
        .unwrap();
    let sip = premise.sip_addr();
    let tls = premise.sip().sip().tls_addr().expect("a TLS listener");
    assert!(
        premise
            .banner()
            .contains(&format!("TLS for phones on {tls}")),
        "{}",
        premise.banner()
    );

    // baresip: a TLS account; sip_cafile trusts the test's CA
    let bdir = dir.join("baresip");
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:22650\nnet_interface 127.0.0.1\n\
         sip_cafile {ca}\n\
         audio_source ausine,440\nausrc_srate 48000\nausrc_channels 2\n\
         audio_player aubridge,nil\naudio_alert aubridge,nil\n\
         rtp_ports 22620-22639\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule ausine.so\nmodule aubridge.so\n\
         module_tmp uuid.so\nmodule_tmp account.so\n",
        ca = dir.join("ca.pem").display(),
    );
    std::fs::write(bdir.join("config"), config).unwrap();
    let account = format!(
        "<sip:1001@127.0.0.1;transport=tls>;auth_pass=alice1001;\
         outbound=\"sip:{tls};transport=tls\";regint=60;answermode=auto\n"
    );
    std::fs::write(bdir.join("accounts"), account).unwrap();
    let log = std::fs::File::create(bdir.join("baresip.log")).unwrap();
    let mut baresip = Command::new("baresip")
        .args(["-f", bdir.to_str().unwrap(), "-t", "60"])
        .current_dir(&bdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let said = || std::fs::read_to_string(bdir.join("baresip.log")).unwrap_or_default();

    assert!(
        wait_reachable(&premise, "1001").await,
        "1001 did not register over TLS: {}",
        said()
    );
    let aor = format!("sip:1001@{}", sip.ip());
    let routes = premise.sip().sip().contact_routes(&aor).await;
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(
        routes[0].peer.transport,
        TransportKind::Tls,
        "rung over the TLS connection it registered on: {routes:?}"
    );
    assert!(
        routes[0].uri.contains("transport=tls"),
        "baresip's contact is its TLS port: {routes:?}"
    );
    assert!(premise.sip().sip().connection_stats().open() >= 1);

    // the caller: SIPp over UDP, 3 s of call once answered
    let caller = Command::new("sipp")
        .arg(sip.to_string())
        .args(["-sn", "uac", "-s", "5000", "-d", "3000"])
        .args(["-i", "127.0.0.1", "-p", "22660"])
        .args(["-mi", "127.0.0.1", "-mp", "22670"])
        .args(["-ci", "127.0.0.1", "-cp", "22680"])
        .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let caller = tokio::time::timeout(Duration::from_secs(45), caller)
        .await
        .expect("sipp finished")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = baresip.kill().await;
    let log = said();
    assert!(
        caller.status.success(),
        "the UDP caller's call failed: {}\nbaresip: {log}",
        String::from_utf8_lossy(&caller.stderr)
    );
    assert!(log.contains("Call established"), "baresip answered: {log}");
    assert!(
        log.contains("session closed"),
        "the call ended at baresip: {log}"
    );

    // the recording of the bridged call holds the phone's tone
    let recordings = premise.config().recordings_dir();
    let mut loudest = 0f64;
    for e in std::fs::read_dir(&recordings).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "wav") {
            let (l, r) = channel_levels(&std::fs::read(e.path()).unwrap());
            loudest = loudest.max(l).max(r);
        }
    }
    assert!(
        loudest > 200.0,
        "the phone's 440 Hz tone in the recording (mean level {loudest:.0})"
    );
    premise.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
