//! SIPp as a real peer on either side of a bridged call: a caller (SIPp UAC playing a
//! pcap into our media, answered by a minimal test UAS) and an agent (SIPp's built-in
//! UAS with `-rtp_echo`, called by a minimal test UAC). Every wait is bounded.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::have;

/// Debian's SIPp sample pcaps.
pub const PCAPS: &str = "/usr/share/sip-tester";

/// True when SIPp and its pcaps are installed (else a notice, or a panic when
/// CALLCORE_REQUIRE_PEERS=1).
pub fn pcaps_ready() -> bool {
    if !have("sipp", "plays RTP pcaps and echoes RTP") {
        return false;
    }
    if !Path::new(PCAPS).join("g711a.pcap").exists() {
        if std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{PCAPS}/g711a.pcap missing (package sip-tester)");
        }
        eprintln!("SKIPPED: {PCAPS}/*.pcap missing (package sip-tester)");
        return false;
    }
    true
}

/// A port the OS considers free now (for SIP and SIPp's control socket).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .filter(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .collect()
}

/// The audio address of an SDP body (`c=` and `m=audio`).
pub fn sdp_audio(msg: &str) -> Option<SocketAddr> {
    let body = msg.split("\r\n\r\n").nth(1)?;
    let ip = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

fn response(req: &str, status: &str, body: Option<SocketAddr>) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        for v in header(req, name) {
            r.push_str(v.trim_end());
            r.push_str("\r\n");
        }
    }
    for v in header(req, "To") {
        let v = v.trim_end();
        r.push_str(v);
        if !v.contains(";tag=") {
            r.push_str(";tag=cm1");
        }
        r.push_str("\r\n");
    }
    match body {
        Some(media) => {
            let (ip, port) = (media.ip(), media.port());
            let sdp = format!(
                "v=0\r\no=cc 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
            );
            r.push_str(&format!(
                "Contact: <sip:cc@{ip}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ));
        }
        None => r.push_str("Content-Length: 0\r\n\r\n"),
    }
    r
}

/// A SIPp caller's scenario: INVITE offering PCMA and telephone-event 101, ACK,
/// each `(pcap, pause_ms)` played from Debian's folder, then `tail_ms` more (none
/// when 0), then BYE.
pub fn uac_scenario(plays: &[(&str, u32)], tail_ms: u32) -> String {
    let mut actions = String::new();
    for (pcap, pause_ms) in plays {
        actions.push_str(&format!(
            "  <nop><action><exec play_pcap_audio=\"{PCAPS}/{pcap}\"/></action></nop>\n  <pause milliseconds=\"{pause_ms}\"/>\n"
        ));
    }
    if tail_ms > 0 {
        actions.push_str(&format!("  <pause milliseconds=\"{tail_ms}\"/>\n"));
    }
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callcore caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "sipp" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP[local_ip_type] [media_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
]]></send>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "sipp" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
{actions}  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "sipp" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"#
    )
}

/// SIPp calling us and playing a pcap into `media` (our leg's RTP address).
pub struct SippUac {
    answered: tokio::sync::oneshot::Receiver<SocketAddr>,
    uas: std::thread::JoinHandle<bool>,
    sipp: tokio::task::JoinHandle<std::io::Result<std::process::Output>>,
}

impl SippUac {
    /// Starts the caller: each `(pcap, pause_ms)` plays a pcap from Debian's folder
    /// and waits; then BYE. SIPp sends its RTP from `rtp_port`. (SIPp sends a pcap's
    /// RTP headers as recorded: a pcap played twice repeats its sequence numbers.)
    pub fn start(dir: &Path, media: SocketAddr, plays: &[(&str, u32)], rtp_port: u16) -> Self {
        let xml = dir.join(format!("uac-{rtp_port}.xml"));
        std::fs::write(&xml, uac_scenario(plays, 0)).expect("scenario");
        let sock = UdpSocket::bind("127.0.0.1:0").expect("uas socket");
        let uas_port = sock.local_addr().expect("addr").port();
        let (tx, answered) = tokio::sync::oneshot::channel();
        let uas = std::thread::spawn(move || run_test_uas(sock, media, tx));
        let (sip_port, ctrl_port) = (free_port(), free_port());
        let dir: PathBuf = dir.to_path_buf();
        let sipp = tokio::task::spawn_blocking(move || {
            Command::new("sipp")
                .arg(format!("127.0.0.1:{uas_port}"))
                .arg("-sf")
                .arg(&xml)
                .args([
                    "-s",
                    "agent",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &sip_port.to_string(),
                ])
                .args(["-mi", "127.0.0.1", "-mp", &rtp_port.to_string()])
                .args(["-ci", "127.0.0.1", "-cp", &ctrl_port.to_string()])
                .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
                .current_dir(&dir)
                .output()
        });
        SippUac {
            answered,
            uas,
            sipp,
        }
    }

    /// The caller's RTP address from its INVITE, once answered.
    pub async fn answered(&mut self) -> Option<SocketAddr> {
        tokio::time::timeout(Duration::from_secs(10), &mut self.answered)
            .await
            .ok()?
            .ok()
    }

    /// Waits for SIPp to hang up; true if SIPp and our UAS both saw a clean call.
    pub async fn finished(self) -> bool {
        let out = self.sipp.await.expect("join").expect("sipp ran");
        if !out.status.success() {
            eprintln!(
                "sipp caller: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let uas_ok = tokio::task::spawn_blocking(move || self.uas.join().unwrap_or(false))
            .await
            .unwrap_or(false);
        out.status.success() && uas_ok
    }
}

/// A test-only UAS: answers one INVITE with `media`, reports the caller's RTP
/// address, acknowledges BYE.
fn run_test_uas(
    sock: UdpSocket,
    media: SocketAddr,
    answered: tokio::sync::oneshot::Sender<SocketAddr>,
) -> bool {
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut answered = Some(answered);
    let mut buf = vec![0u8; 8192];
    // bounded: 80 × 500 ms
    for _ in 0..80 {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if msg.starts_with("INVITE ") {
            if let (Some(tx), Some(far)) = (answered.take(), sdp_audio(&msg)) {
                let _ = tx.send(far);
            }
            let r = response(&msg, "200 OK", Some(media));
            let _ = sock.send_to(r.as_bytes(), from);
        } else if msg.starts_with("BYE ") {
            let r = response(&msg, "200 OK", None);
            let _ = sock.send_to(r.as_bytes(), from);
            return true;
        }
    }
    false
}

/// SIPp's built-in UAS (answers PCMU) with `-rtp_echo`: an agent phone that says
/// back whatever it hears.
pub struct SippUas {
    child: Child,
    sip: SocketAddr,
    sock: UdpSocket,
    dialog: std::sync::Mutex<Option<Dialog>>,
}

struct Dialog {
    to: String,
    call_id: String,
}

impl SippUas {
    /// Starts SIPp's UAS; it echoes RTP on `echo_port` (and `echo_port + 2`).
    pub fn start(dir: &Path, echo_port: u16) -> std::io::Result<Self> {
        let (sip_port, ctrl_port) = (free_port(), free_port());
        let child = Command::new("sipp")
            .args(["-sn", "uas", "-rtp_echo", "-i", "127.0.0.1"])
            .args(["-p", &sip_port.to_string()])
            .args(["-mi", "127.0.0.1", "-mp", &echo_port.to_string()])
            .args(["-ci", "127.0.0.1", "-cp", &ctrl_port.to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "40s"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(250)))?;
        Ok(SippUas {
            child,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            sock,
            dialog: std::sync::Mutex::new(None),
        })
    }

    fn request(&self, method: &str, cseq: u32, to: &str, call_id: &str, body: &str) -> String {
        let me = self.sock.local_addr().expect("addr");
        let ctype = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_string()
        };
        format!(
            "{method} sip:agent@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}\r\nFrom: <sip:center@{me}>;tag=cc1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:center@{me}>\r\nMax-Forwards: 70\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            sip = self.sip,
        )
    }

    /// Calls the agent with our leg's RTP address `media` (PCMU offered); returns the
    /// agent's RTP address from its answer.
    pub async fn call(&self, media: SocketAddr) -> Option<SocketAddr> {
        let call_id = format!("agent-{}@callcore", media.port());
        let (ip, port) = (media.ip(), media.port());
        let sdp = format!(
            "v=0\r\no=cc 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        );
        let to = format!("<sip:agent@{}>", self.sip);
        let invite = self.request("INVITE", 1, &to, &call_id, &sdp);
        // bounded: 40 × 250 ms, re-sending the INVITE every second until answered
        let sock = self.sock.try_clone().ok()?;
        let sip = self.sip;
        let (answer, to) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 8192];
            for i in 0..40 {
                if i % 4 == 0 {
                    let _ = sock.send_to(invite.as_bytes(), sip);
                }
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                if msg.starts_with("SIP/2.0 200") {
                    let to = header(&msg, "To")
                        .first()?
                        .split_once(':')?
                        .1
                        .trim()
                        .to_string();
                    return Some((msg, to));
                }
            }
            None
        })
        .await
        .ok()??;
        let far = sdp_audio(&answer)?;
        let ack = self.request("ACK", 1, &to, &call_id, "");
        let _ = self.sock.send_to(ack.as_bytes(), self.sip);
        // the dialog's fields for the BYE
        *self.dialog.lock().expect("dialog") = Some(Dialog { to, call_id });
        Some(far)
    }

    /// Hangs up (BYE) and waits for SIPp to exit.
    pub async fn hang_up(self) {
        let dialog = self.dialog.lock().expect("dialog").take();
        if let Some(d) = dialog {
            let bye = self.request("BYE", 2, &d.to, &d.call_id, "");
            let _ = self.sock.send_to(bye.as_bytes(), self.sip);
        }
        let mut child = self.child;
        let _ = tokio::task::spawn_blocking(move || {
            // bounded: 40 × 250 ms, then killed
            for _ in 0..40 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            let _ = child.kill();
            let _ = child.wait();
        })
        .await;
    }
}
