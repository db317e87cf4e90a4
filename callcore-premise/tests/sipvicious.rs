//! SIPVicious (Debian's `sipvicious` 0.3.3) against the premise center on 127.0.0.1,
//! the way a scanner on the public network would try it:
//! - `svwar` enumerating extensions 1000-1010 with REGISTER, OPTIONS and INVITE cannot
//!   tell the configured agents (1001-1003) from numbers that are no one: every
//!   extension gets the same answer;
//! - `svcrack` with a password dictionary against agent 1001 gets nowhere: the lockout
//!   engages after a few failures and the right password, placed after that point in
//!   the dictionary, is not found; the lockout is seen to hold for a correct attempt
//!   right after;
//! - svcrack waiting a lockout out gets one guess on the probation after it, which
//!   locks it out again for twice as long (the lockout escalates), while the agent's
//!   phone at another address registers all along.
//!
//! Skipped with a notice when the tools are missing (`apt-get install -y sipvicious`),
//! failing instead when `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Real peers and sockets run in wall-clock time: the test waits for them.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use callcore_premise::{Premise, PremiseConfig};
use callcore_sip::auth::authorization_for;
use callcore_sip::message::{AuthValue, HeaderName, Message};

/// The tool, under its Debian name or the upstream one.
fn tool(name: &str) -> Option<String> {
    [format!("sipvicious_{name}"), name.to_owned()]
        .into_iter()
        .find(|t| {
            std::process::Command::new(t)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
}

fn tools() -> Option<(String, String)> {
    match (tool("svwar"), tool("svcrack")) {
        (Some(w), Some(c)) => Some((w, c)),
        _ => {
            assert!(
                std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "sipvicious is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
            );
            eprintln!(
                "NOTICE: sipvicious not found; skipping the scanner tests (apt-get install -y sipvicious)"
            );
            None
        }
    }
}

/// A free UDP port in `lo..hi` (this test's ranges: SIP 29000-29499, RTP
/// 29500-29979), starting at a place that depends on the process and `salt`.
fn port_in(lo: u16, hi: u16, salt: u16) -> u16 {
    let span = hi - lo;
    let start = (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(salt.wrapping_mul(101))
        % span;
    (0..span)
        .map(|i| lo + (start + i) % span)
        .find(|p| UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

const AGENTS: [(&str, &str); 3] = [
    ("1001", "Curly-Lemur-7"),
    ("1002", "Quiet-Heron-3"),
    ("1003", "Brave-Otter-9"),
];

async fn start_premise(name: &str, salt: u16) -> (Premise, SocketAddr) {
    start_premise_with(name, salt, "").await
}

/// The premise with extra `[sip]` settings (`sip`: TOML lines).
async fn start_premise_with(name: &str, salt: u16, sip: &str) -> (Premise, SocketAddr) {
    let dir = std::env::temp_dir().join(format!(
        "callcore-premise-sipvicious-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    // Below the kernel's ephemeral range (32768-60999 here): a port checked free there
    // was once taken by another socket's port-0 bind before the premise bound it.
    let port = port_in(29000, 29500, salt);
    let rtp = 29500 + (port_in(0, 24, salt) * 20);
    let mut toml = format!(
        "[sip]\nbind = \"127.0.0.1:{port}\"\ntcp = false\n{sip}[http]\nenabled = false\n\
         [media]\nrtp_first = {rtp}\nrtp_last = {}\n\
         [storage]\ndata_dir = \"{}\"\n",
        rtp + 19,
        dir.display()
    );
    for (id, password) in AGENTS {
        toml += &format!(
            "[[agents]]\nid = \"{id}\"\nname = \"Agent {id}\"\npassword = \"{password}\"\nskills = [\"support\"]\n"
        );
    }
    let premise = Premise::start(
        PremiseConfig::from_toml(&callcore_premise::with_demo_agents(&toml)).unwrap(),
    )
    .await
    .unwrap();
    let addr = premise.sip_addr();
    (premise, addr)
}

/// Runs a SIPVicious tool to completion (bounded), returning what it printed.
async fn run(tool: &str, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(tool)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the tool finished within 120 s")
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- {tool} {}\n{text}", args.join(" "));
    text
}

/// Extensions svwar lists in its result table (`| 1001 | reqauth |`).
fn listed_extensions(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() >= 3
                && cells[1].chars().all(|c| c.is_ascii_digit())
                && !cells[1].is_empty())
            .then(|| cells[1].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svwar_cannot_tell_agents_from_other_extensions() {
    let Some((svwar, _)) = tools() else { return };
    let (premise, addr) = start_premise("svwar", 1).await;
    let agents: BTreeSet<String> = AGENTS.iter().map(|(id, _)| (*id).to_owned()).collect();
    for method in ["REGISTER", "OPTIONS", "INVITE"] {
        // --force: scan even though the sanity check (a random extension) already
        // shows every extension answered alike
        let report = run(
            &svwar,
            &[
                "-e1000-1010",
                "-m",
                method,
                "--force",
                "-b",
                "127.0.0.1",
                "-t",
                "0.05",
                &format!("udp://{}:{}", addr.ip(), addr.port()),
            ],
        )
        .await;
        let found = listed_extensions(&report);
        // an extension list that names exactly the agents, or any part of them, is
        // an enumeration; every extension or none is not
        let all: BTreeSet<String> = (1000..=1010).map(|e: u32| e.to_string()).collect();
        assert!(
            found.is_empty() || found == all,
            "{method}: svwar told extensions apart: {found:?} (agents {agents:?})"
        );
    }
    // What svwar reads, checked directly: a REGISTER without credentials gets the same
    // status and the same challenge (algorithms, qop; nonces aside) for every extension.
    let shapes = tokio::task::spawn_blocking(move || {
        (1000..=1010)
            .map(|e: u32| {
                let r = register(addr, &e.to_string(), None, e).expect("an answer");
                let challenge: Vec<String> = r
                    .header_values(&HeaderName::WwwAuthenticate)
                    .map(|v| {
                        let v = AuthValue::parse(v).unwrap();
                        format!("{:?} {:?}", v.param("algorithm"), v.param("qop"))
                    })
                    .collect();
                (r.status(), challenge)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(
        shapes.windows(2).all(|w| w[0] == w[1]),
        "REGISTER answers differ between extensions: {shapes:?}"
    );
    premise.shutdown().await;
}

/// One REGISTER from a fresh socket; the response, if any came in time.
fn register(to: SocketAddr, user: &str, authorization: Option<&str>, n: u32) -> Option<Message> {
    register_from("127.0.0.1", to, user, authorization, n)
}

/// One REGISTER from a fresh socket on `ip` (another loopback address is another
/// source).
fn register_from(
    ip: &str,
    to: SocketAddr,
    user: &str,
    authorization: Option<&str>,
    n: u32,
) -> Option<Message> {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let local = sock.local_addr().unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "REGISTER sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKsv{n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{to}>;tag=sv{n}\r\nTo: <sip:{user}@{to}>\r\nCall-ID: sv{n}@{local}\r\nCSeq: {n} REGISTER\r\nContact: <sip:{user}@{local}>\r\n{auth}Content-Length: 0\r\n\r\n",
        to = to.ip()
    );
    sock.send_to(req.as_bytes(), to).unwrap();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).ok()?;
        if m.status().is_some_and(|s| s >= 200) {
            return Some(m);
        }
    }
}

/// A dictionary for `user` with the right password 9th, after the lockout point (5
/// failures by default).
fn dictionary(password: &str, name: &str) -> std::path::PathBuf {
    let mut words: Vec<String> = (1..=8).map(|i| format!("wrong-{i}")).collect();
    words.push(password.to_owned());
    words.extend((10..=12).map(|i| format!("wrong-{i}")));
    let dict = std::env::temp_dir().join(format!(
        "callcore-svcrack-{name}-{}.txt",
        std::process::id()
    ));
    std::fs::write(&dict, words.join("\n") + "\n").unwrap();
    dict
}

/// What a correct REGISTER of `user` from this address gets now: 200, or 403 while
/// the address is locked out.
async fn correct_register(to: SocketAddr, user: &str, password: &str) -> Option<u16> {
    correct_register_from("127.0.0.1", to, user, password).await
}

/// [`correct_register`] from another loopback address.
async fn correct_register_from(
    ip: &str,
    to: SocketAddr,
    user: &str,
    password: &str,
) -> Option<u16> {
    let (ip, user, password) = (ip.to_owned(), user.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || {
        let challenge = register_from(&ip, to, &user, None, 1).expect("an answer");
        let Some(www) = challenge
            .header(&HeaderName::WwwAuthenticate)
            .map(str::to_owned)
        else {
            return challenge.status(); // refused before any challenge
        };
        let ch = AuthValue::parse(&www).unwrap();
        let uri = format!("sip:{}", to.ip());
        let cred = authorization_for(&ch, &user, &password, "REGISTER", &uri, "5eed", 1).unwrap();
        register_from(&ip, to, &user, Some(&cred), 2).and_then(|m| m.status())
    })
    .await
    .unwrap()
}

/// svcrack within one lockout window (30 s of its run): the lockout engages after the
/// dictionary's first failures, and the right password (9th) is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lockout_engages_while_svcrack_runs() {
    use tokio::io::AsyncReadExt;
    let Some((_, svcrack)) = tools() else { return };
    let (premise, addr) = start_premise("lockout", 3).await;
    let (user, password) = AGENTS[0];
    let dict = dictionary(password, "lockout");
    let mut scan = tokio::process::Command::new(&svcrack)
        .args([
            &format!("-u{user}"),
            "-v",
            "-d",
            dict.to_str().unwrap(),
            "-t",
            "0.05",
            &format!("udp://{}:{}", addr.ip(), addr.port()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // svcrack gets through its first five passwords in well under 5 s
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = correct_register(addr, user, password).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    scan.kill().await.unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    scan.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    scan.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let _ = std::fs::remove_file(&dict);
    eprintln!("--- svcrack for 30 s\n{out}{err}");
    assert_eq!(
        during,
        Some(403),
        "after the dictionary's first failures this address is locked out"
    );
    assert!(
        !out.contains(password) && !err.contains(password),
        "svcrack found agent {user}'s password within the lockout window"
    );
    premise.shutdown().await;
}

/// svcrack run to its end: its dictionary is used up against the lockout (each
/// locked attempt gets 403) and the right password (9th) is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svcrack_gets_nowhere_before_the_lockout() {
    let Some((_, svcrack)) = tools() else { return };
    let (premise, addr) = start_premise("svcrack", 2).await;
    let (user, password) = AGENTS[0];
    let dict = dictionary(password, "crack");
    let report = run(
        &svcrack,
        &[
            &format!("-u{user}"),
            "-d",
            dict.to_str().unwrap(),
            "-t",
            "0.05",
            &format!("udp://{}:{}", addr.ip(), addr.port()),
        ],
    )
    .await;
    let _ = std::fs::remove_file(&dict);
    assert!(
        !report.contains(password),
        "svcrack found agent {user}'s password: {report}"
    );
    assert_eq!(
        correct_register(addr, user, password).await,
        Some(403),
        "the lockout holds for a correct password right after the dictionary"
    );
    premise.shutdown().await;
}

/// Runs svcrack with `dict` for `secs` seconds, then stops it; what it printed.
async fn svcrack_for(
    svcrack: &str,
    user: &str,
    dict: &std::path::Path,
    addr: SocketAddr,
    secs: u64,
) -> String {
    use tokio::io::AsyncReadExt;
    let mut scan = tokio::process::Command::new(svcrack)
        .args([
            &format!("-u{user}"),
            "-v",
            "-d",
            dict.to_str().unwrap(),
            "-t",
            "0.05",
            &format!("udp://{}:{}", addr.ip(), addr.port()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let _ = scan.kill().await;
    let (mut out, mut err) = (String::new(), String::new());
    let _ = scan.stdout.take().unwrap().read_to_string(&mut out).await;
    let _ = scan.stderr.take().unwrap().read_to_string(&mut err).await;
    format!("{out}{err}")
}

/// svcrack waiting a lockout out gets one guess, which locks it out again for twice as
/// long: a first run locks agent 1001 from this address (lockout 8 s here); a second
/// run after the lockout, within the probation, tries one wrong password and then the
/// right one, which is refused. The phone at another address registers all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svcrack_waiting_the_lockout_out_is_locked_out_longer() {
    let Some((_, svcrack)) = tools() else { return };
    let (premise, addr) = start_premise_with("escalate", 4, "lockout_secs = 8\n").await;
    let (user, password) = AGENTS[0];
    let started = std::time::Instant::now();
    let wrong: Vec<String> = (1..=8).map(|i| format!("wrong-{i}")).collect();
    let dict1 =
        std::env::temp_dir().join(format!("callcore-svcrack-esc1-{}.txt", std::process::id()));
    std::fs::write(&dict1, wrong.join("\n") + "\n").unwrap();
    let first = svcrack_for(&svcrack, user, &dict1, addr, 3).await;
    eprintln!("--- svcrack, first run\n{first}");
    assert_eq!(
        correct_register_from("127.0.0.2", addr, user, password).await,
        Some(200),
        "the agent's phone at another address is not locked out"
    );
    // the first lockout (8 s from the dictionary's 5th failure, within ~1 s of the
    // start) is over; its probation lasts another 8 s
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(started.elapsed())).await;
    let dict2 =
        std::env::temp_dir().join(format!("callcore-svcrack-esc2-{}.txt", std::process::id()));
    std::fs::write(&dict2, format!("wrong-9\n{password}\n")).unwrap();
    let second = svcrack_for(&svcrack, user, &dict2, addr, 4).await;
    eprintln!("--- svcrack, second run\n{second}");
    let _ = std::fs::remove_file(&dict1);
    let _ = std::fs::remove_file(&dict2);
    assert!(
        started.elapsed() < Duration::from_secs(16),
        "the second run ended within the probation ({:?})",
        started.elapsed()
    );
    assert!(
        !second.contains(password),
        "svcrack found agent {user}'s password after waiting the lockout out"
    );
    assert_eq!(
        correct_register(addr, user, password).await,
        Some(403),
        "this address is locked out again (16 s)"
    );
    premise.shutdown().await;
}
