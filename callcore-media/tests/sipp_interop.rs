//! Interop with SIPp: SIPp calls a minimal test UAS (below) whose SDP points at a
//! callcore-media session, then plays Debian's sample pcaps with `play_pcap_audio`:
//! G.711 A-law speech (30 ms packets) and RFC 2833/4733 DTMF. The tests assert the
//! digits received and the recorded audio's length and energy.
//!
//! Needs `sipp` (apt `sip-tester`) and root or CAP_NET_RAW; skipped with a notice
//! when absent, failing instead when CALLCORE_REQUIRE_PEERS=1.
#![cfg(feature = "udp")]

mod support;

use std::io::Cursor;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use callcore_media::dtmf::rfc4733::DigitEvent;
use callcore_media::endpoint::{EndpointConfig, EndpointEvent};
use callcore_media::g711::Law;
use callcore_media::jitter::FrameKind;
use callcore_media::level::{mean_power, power_to_dbm0};
use callcore_media::udp::{
    MediaSession, MediaSessionConfig, PortAllocator, SessionCommand, SessionEvent,
};
use callcore_media::wav::{ChannelLayout, WavRecorder, read_wav};
use support::scratch;
use support::sipp::{free_port, pcaps_ready, uac_scenario};

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .filter(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .collect()
}

fn response(req: &str, status: &str, to_tag: &str, body: Option<(&str, u16)>) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for v in header(req, "Via") {
        r.push_str(v.trim_end());
        r.push_str("\r\n");
    }
    for name in ["From", "Call-ID", "CSeq"] {
        for v in header(req, name) {
            r.push_str(v.trim_end());
            r.push_str("\r\n");
        }
    }
    for v in header(req, "To") {
        let v = v.trim_end();
        if v.contains(";tag=") {
            r.push_str(v);
        } else {
            r.push_str(&format!("{v};tag={to_tag}"));
        }
        r.push_str("\r\n");
    }
    match body {
        Some((ip, port)) => {
            let sdp = format!(
                "v=0\r\no=ivr 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
            );
            r.push_str(&format!("Contact: <sip:ivr@{ip}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len()));
        }
        None => r.push_str("Content-Length: 0\r\n\r\n"),
    }
    r
}

/// A test-only UAS: answers one INVITE with our media port, acknowledges BYE.
fn run_uas(sock: UdpSocket, media: SocketAddr) -> bool {
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = vec![0u8; 8192];
    // bounded: 60 × 500 ms
    for _ in 0..60 {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        let reply = if msg.starts_with("INVITE ") {
            Some(response(
                &msg,
                "200 OK",
                "cm1",
                Some(("127.0.0.1", media.port())),
            ))
        } else if msg.starts_with("BYE ") {
            let r = response(&msg, "200 OK", "cm1", None);
            let _ = sock.send_to(r.as_bytes(), from);
            return true;
        } else {
            None
        };
        if let Some(r) = reply {
            let _ = sock.send_to(r.as_bytes(), from);
        }
    }
    false
}

struct CallResult {
    digits: Vec<(char, u32)>,
    played_frames: usize,
    wav: Vec<u8>,
    sipp_ok: bool,
}

/// Runs SIPp against a media session; records the caller's audio (left) and what
/// the session sent (silence, right) to a stereo WAV.
async fn call_with_sipp(name: &str, plays: &[(&str, u32)], tail_ms: u32) -> CallResult {
    let dir = scratch(name);
    let xml = dir.join("scenario.xml");
    std::fs::write(&xml, uac_scenario(plays, tail_ms)).expect("scenario");
    let ports = PortAllocator::new("127.0.0.1".parse().expect("ip"), 34000..=34999);
    let cfg = MediaSessionConfig {
        endpoint: EndpointConfig {
            law: Law::Alaw,
            ssrc: 77,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut session = MediaSession::start(&ports, cfg).await.expect("session");
    let media = session.local_rtp();
    let uas_sock = UdpSocket::bind("127.0.0.1:0").expect("uas");
    let uas_port = uas_sock.local_addr().expect("addr").port();
    let uas = std::thread::spawn(move || run_uas(uas_sock, media));
    let (sip_port, rtp_port, ctrl_port) = (free_port(), free_port() & !1, free_port());
    let sipp = tokio::task::spawn_blocking(move || {
        Command::new("sipp")
            .arg(format!("127.0.0.1:{uas_port}"))
            .arg("-sf")
            .arg(&xml)
            .args([
                "-s",
                "ivr",
                "-i",
                "127.0.0.1",
                "-p",
                &sip_port.to_string(),
                "-mi",
                "127.0.0.1",
                "-mp",
                &rtp_port.to_string(),
            ])
            .args([
                "-ci",
                "127.0.0.1",
                "-cp",
                &ctrl_port.to_string(),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "40s",
                "-timeout_error",
            ])
            .current_dir(&dir)
            .output()
    });
    let mut rec =
        WavRecorder::new(Cursor::new(Vec::new()), ChannelLayout::Stereo).expect("recorder");
    let (mut digits, mut played_frames) = (Vec::new(), 0usize);
    let silence = [0i16; 160];
    // bounded: 20 ms events for at most 40 s
    for _ in 0..2000 {
        if sipp.is_finished() {
            break;
        }
        let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(1), session.next_event()).await
        else {
            continue;
        };
        match ev {
            SessionEvent::Audio(frame, kind) => {
                if kind == FrameKind::Played {
                    played_frames += 1;
                }
                if kind != FrameKind::Silence || rec.info().frames > 0 {
                    rec.write_frame(&frame, &silence).expect("record");
                }
            }
            SessionEvent::Endpoint(EndpointEvent::Digit(DigitEvent::Ended {
                digit,
                duration_ms,
                ..
            })) => digits.push((digit.to_char(), duration_ms)),
            _ => {}
        }
    }
    let out = sipp.await.expect("join").expect("sipp ran");
    let sipp_ok = out.status.success();
    if !sipp_ok {
        eprintln!(
            "sipp: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    session.command(SessionCommand::Hangup);
    let uas_ok = uas.join().unwrap_or(false);
    assert!(uas_ok, "the UAS saw the BYE");
    let (_, cursor) = rec.finish().expect("wav");
    CallResult {
        digits,
        played_frames,
        wav: cursor.into_inner(),
        sipp_ok,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_plays_rfc2833_digits_into_a_session() {
    if !pcaps_ready() {
        return;
    }
    let r = call_with_sipp(
        "sipp-dtmf",
        &[
            ("dtmf_2833_1.pcap", 500),
            ("dtmf_2833_5.pcap", 500),
            ("dtmf_2833_pound.pcap", 500),
        ],
        500,
    )
    .await;
    assert!(r.sipp_ok, "sipp reported a failed call");
    let digits: String = r.digits.iter().map(|d| d.0).collect();
    assert_eq!(digits, "15#");
    // each pcap's end packets say 2240 samples = 280 ms
    assert!(r.digits.iter().all(|d| d.1 == 280), "{:?}", r.digits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_plays_g711a_speech_that_is_recorded() {
    if !pcaps_ready() {
        return;
    }
    let r = call_with_sipp("sipp-audio", &[("g711a.pcap", 7500)], 200).await;
    assert!(r.sipp_ok, "sipp reported a failed call");
    // 236 packets of 30 ms = 7.08 s of audio, played out as 20 ms frames
    let audio_ms = r.played_frames as i64 * 20;
    assert!((audio_ms - 7080).abs() <= 60, "played {audio_ms} ms");
    let wav = read_wav(&r.wav).expect("a readable WAV");
    assert_eq!((wav.sample_rate, wav.channels), (8000, 2));
    let left: Vec<i16> = wav.samples.chunks(2).map(|lr| lr[0]).collect();
    let secs = left.len() as f64 / 8000.0;
    assert!((7.0..8.5).contains(&secs), "recording lasts {secs:.2} s");
    let level = power_to_dbm0(mean_power(&left));
    assert!(level > -40.0, "speech energy {level:.1} dBm0");
    let right: Vec<i16> = wav.samples.chunks(2).map(|lr| lr[1]).collect();
    assert!(
        right.iter().all(|&s| s == 0),
        "the agent side stayed silent"
    );
}
