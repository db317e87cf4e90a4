//! `cargo run --release -p callcore-sip --example tx_memory`: heap held by a transaction layer answering
//! calls as the example UAS does (INVITE → 100/200, ACK, BYE → 200) at 4,000 calls/s
//! in virtual time, measured as the process's resident memory (VmRSS) after 32 s, when the first
//! call's transactions are about to end (RFC 3261 Timer J, RFC 6026 Timer L) and the
//! most are held. Deterministic and independent of the machine's load: it isolates
//! the layer's bookkeeping from the sockets, the driver's threads and SIPp
//! (see `scripts/sip-calls-memory.sh` and docs/sip-load.md for the whole process).
//!
//! `CALLS_PER_SEC` (4000) and `SECS` (32) change the load.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use callcore_sip::message::{Message, ResponseSpec};
use callcore_sip::transaction::{Peer, Timers, TransactionLayer, TxOutput};

/// This process's resident memory (kB), from /proc/self/status.
fn rss_kb(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A SIPp `uac`-like request (same header set and sizes).
fn request(method: &str, n: u64, branch: u64, seq: u32, to_tag: &str, body: &str) -> Message {
    let text = format!(
        "{method} sip:service@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15061;branch=z9hG4bK-{n}-1-{branch}\r\n\
From: sipp <sip:sipp@127.0.0.1:15061>;tag={n}SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5080>{to_tag}\r\n\
Call-ID: {n}-4321@127.0.0.1\r\n\
CSeq: {seq} {method}\r\n\
Contact: sip:sipp@127.0.0.1:15061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Message::parse(text.into_bytes().into()).unwrap()
}

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn drain(l: &mut TransactionLayer) -> Vec<TxOutput> {
    std::iter::from_fn(|| l.poll_output()).collect()
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rate = env("CALLS_PER_SEC", 4000);
    let secs = env("SECS", 32);
    let peer = Peer::udp("127.0.0.1:15061".parse().unwrap());
    let mut l = TransactionLayer::new(Timers::default());
    l.set_limits(callcore_sip::transaction::TxLimits::UNLIMITED);
    let start = rss_kb("VmRSS:");
    let calls = rate * secs;
    for n in 0..calls {
        let now = Duration::from_micros(n * 1_000_000 / rate);
        let invite = request("INVITE", n, 0, 1, "", SDP);
        l.handle_message(invite.clone(), peer, now);
        let tx = drain(&mut l)
            .into_iter()
            .find_map(|o| match o {
                TxOutput::Request { tx, .. } => Some(tx),
                _ => None,
            })
            .unwrap();
        let ok = invite.build_response(
            ResponseSpec::code(200)
                .to_tag("uas1")
                .header(
                    callcore_sip::message::HeaderName::Contact,
                    "<sip:uas@127.0.0.1:5080>",
                )
                .body("application/sdp", SDP.as_bytes().to_vec().into()),
        );
        l.send_response(tx, &ok, now).unwrap();
        l.handle_message(request("ACK", n, 2, 1, ";tag=uas1", ""), peer, now);
        let bye = request("BYE", n, 3, 2, ";tag=uas1", "");
        l.handle_message(bye.clone(), peer, now);
        let bye_tx = drain(&mut l)
            .into_iter()
            .find_map(|o| match o {
                TxOutput::Request { tx, .. } => Some(tx),
                _ => None,
            })
            .unwrap();
        l.send_response(bye_tx, &bye.build_response(ResponseSpec::code(200)), now)
            .unwrap();
        l.handle_timeout(now);
        drain(&mut l);
    }
    let held = rss_kb("VmRSS:").saturating_sub(start) * 1024;
    println!(
        "{calls} calls at {rate}/s for {secs} s: {} transactions held, RSS +{:.1} MiB \
         ({:.0} B per call), VmHWM {:.1} MiB",
        l.len(),
        held as f64 / 1_048_576.0,
        held as f64 / calls as f64,
        rss_kb("VmHWM:") as f64 / 1024.0
    );
}
