//! `cargo bench --bench sip_parse`: parse a typical INVITE with SDP, a 200 OK and a
//! REGISTER and read the Via branch, From tag, To, Call-ID and CSeq — callcore-sip
//! beside two baselines on the same bytes in the same run: the `rsip` crate and a naive
//! `str::split` header scan.
//!
//! `callcore/*` is `Message::parse_lazy` (one pass over the message recording header
//! spans; the five headers read are parsed and checked on access) — like `rsip`, which
//! also splits headers first and parses typed values on access. `callcore_strict/*` is
//! `Message::parse`, which also checks the grammar of every Via, From, To, Contact,
//! Route... as the user agent does for every message it receives.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use callcore_sip::message::Message;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rsip::prelude::*;
use std::hint::black_box;

const INVITE: &str = "INVITE sip:support@cc.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.23:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Support Queue\" <sip:support@cc.example.com>\r\n\
From: \"Alice Caller\" <sip:+15551230001@carrier.example.net>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example.net\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+15551230001@198.51.100.23:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 288\r\n\
\r\n\
v=0\r\n\
o=sbc 2890844526 2890844526 IN IP4 198.51.100.23\r\n\
s=-\r\n\
c=IN IP4 198.51.100.23\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=maxptime:150\r\n\
a=label:callcore-bench-audio\r\n";

const OK200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.23:5060;branch=z9hG4bK776asdhds;rport=5060;received=198.51.100.23\r\n\
To: \"Support Queue\" <sip:support@cc.example.com>;tag=a6c85cf\r\n\
From: \"Alice Caller\" <sip:+15551230001@carrier.example.net>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example.net\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:callcore@203.0.113.5:5060>\r\n\
Server: callcore\r\n\
Content-Length: 0\r\n\
\r\n";

const REGISTER: &str = "REGISTER sip:cc.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKnashds7;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:1001@cc.example.com>\r\n\
From: <sip:1001@cc.example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:1001@10.0.0.7:5060>;expires=3600\r\n\
Authorization: Digest username=\"1001\", realm=\"cc.example.com\", nonce=\"19a8e2f.4b1c\", uri=\"sip:cc.example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

/// What every implementation extracts: (branch, from tag, to, call-id, cseq).
fn callcore(raw: &Bytes) -> usize {
    read_fields(&Message::parse_lazy(raw.clone()).unwrap())
}

fn callcore_strict(raw: &Bytes) -> usize {
    read_fields(&Message::parse(raw.clone()).unwrap())
}

fn read_fields(m: &Message) -> usize {
    let branch = m.top_via().unwrap().branch().unwrap().len();
    let tag = m.from().unwrap().tag().unwrap().len();
    let to = m.to().unwrap().uri().as_str().len();
    let cid = m.call_id().unwrap().len();
    let seq = m.cseq().unwrap().seq as usize;
    branch + tag + to + cid + seq
}

fn rsip_parse(raw: &[u8]) -> usize {
    let m = rsip::SipMessage::try_from(raw).unwrap();
    let branch = m
        .via_header()
        .unwrap()
        .typed()
        .unwrap()
        .branch()
        .unwrap()
        .to_string()
        .len();
    let tag = m
        .from_header()
        .unwrap()
        .tag()
        .unwrap()
        .unwrap()
        .to_string()
        .len();
    let to = m.to_header().unwrap().uri().unwrap().to_string().len();
    let cid = m.call_id_header().unwrap().value().len();
    let seq = m.cseq_header().unwrap().seq().unwrap() as usize;
    branch + tag + to + cid + seq
}

/// The quick-and-dirty scanner people write first: split lines, split at ':', match
/// names, find params by substring. No validation, no folding, no compact forms.
fn naive(raw: &[u8]) -> usize {
    let text = std::str::from_utf8(raw).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let (mut branch, mut tag, mut to, mut cid, mut seq) = (0, 0, 0, 0, 0);
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" if branch == 0 => {
                branch = value
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("branch="))
                    .unwrap()
                    .len();
            }
            "from" | "f" => {
                tag = value
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("tag="))
                    .unwrap()
                    .len()
            }
            "to" | "t" => {
                let uri = value
                    .split('<')
                    .nth(1)
                    .and_then(|r| r.split('>').next())
                    .unwrap_or(value);
                to = uri.len();
            }
            "call-id" | "i" => cid = value.len(),
            "cseq" => {
                seq = value
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            }
            _ => {}
        }
    }
    branch + tag + to + cid + seq
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sip_parse");
    g.throughput(Throughput::Elements(1));
    for (name, text) in [("invite", INVITE), ("ok200", OK200), ("register", REGISTER)] {
        let raw = Bytes::from_static(text.as_bytes());
        // All three must agree before their speed means anything.
        assert_eq!(callcore(&raw), naive(&raw), "{name}");
        assert_eq!(callcore(&raw), rsip_parse(&raw), "{name}");
        assert_eq!(callcore(&raw), callcore_strict(&raw), "{name}");
        g.bench_function(format!("callcore/{name}"), |b| {
            b.iter(|| callcore(black_box(&raw)))
        });
        g.bench_function(format!("rsip/{name}"), |b| {
            b.iter(|| rsip_parse(black_box(&raw)))
        });
        g.bench_function(format!("callcore_strict/{name}"), |b| {
            b.iter(|| callcore_strict(black_box(&raw)))
        });
        g.bench_function(format!("naive_split/{name}"), |b| {
            b.iter(|| naive(black_box(&raw)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
