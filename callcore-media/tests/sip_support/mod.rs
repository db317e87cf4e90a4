//! Helpers shared by the real-peer media tests (`#[path]`-included): peer discovery
//! that skips with a notice or fails under `CALLCORE_REQUIRE_PEERS=1`, free ports,
//! and the media files the peers play (an RFC 4733 pcap for SIPp, a tone WAV for
//! baresip).

#![allow(dead_code)]

use std::process::Stdio;

/// Whether `bin` runs; prints a notice and returns false when it does not, panics
/// when `CALLCORE_REQUIRE_PEERS=1`.
pub fn peer_available(bin: &str, version_arg: &str, apt: &str) -> bool {
    let found = std::process::Command::new(bin)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CALLCORE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{bin} is required (CALLCORE_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!("NOTICE: {bin} not found; skipping (apt-get install -y {apt})");
    }
    found
}

/// A free UDP port on 127.0.0.1 (also free for TCP in practice).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A port for SIPp's `-mp`: SIPp binds it and the port two above (its video
/// socket), so both (and their RTCP neighbours) must be free, not just the first.
pub fn free_media_port() -> u16 {
    for _ in 0..200 {
        let base = free_port();
        if base == 0 || base % 2 == 1 || base > 65_000 {
            continue;
        }
        let held: Vec<_> = (0..4)
            .map_while(|i| std::net::UdpSocket::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == 4 {
            return base;
        }
    }
    0
}

/// A fresh temporary folder.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "callcore-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_default();
    dir
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x00C0_FFEEu32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum >> 16) + (sum & 0xFFFF);
    }
    !(sum as u16)
}

/// An Ethernet/IPv4/UDP pcap of one RTP stream for SIPp's `play_pcap_audio`:
/// 200 ms of µ-law silence, then each digit as RFC 4733 events on payload type 101
/// (160 ms, marker on the first packet, three end packets) followed by 200 ms of
/// silence. SIPp rewrites addresses and ports and keeps the packets' timing.
pub fn dtmf_pcap(digits: &str) -> Vec<u8> {
    let mut packets: Vec<(u64, Vec<u8>)> = Vec::new();
    let (mut seq, mut ts, mut t_us) = (1u16, 0u32, 0u64);
    let silence = |n: usize, seq: &mut u16, ts: &mut u32, t: &mut u64, out: &mut Vec<_>| {
        for _ in 0..n {
            out.push((*t, rtp(0, false, *seq, *ts, &[0xFF; 160])));
            *seq = seq.wrapping_add(1);
            *ts = ts.wrapping_add(160);
            *t += 20_000;
        }
    };
    silence(10, &mut seq, &mut ts, &mut t_us, &mut packets);
    for d in digits.chars() {
        let event: u8 = match d {
            '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => d as u8 - b'A' + 12,
            _ => continue,
        };
        for i in 1..=8u16 {
            let dur = (i * 160).to_be_bytes();
            packets.push((
                t_us,
                rtp(101, i == 1, seq, ts, &[event, 10, dur[0], dur[1]]),
            ));
            seq = seq.wrapping_add(1);
            t_us += 20_000;
        }
        let dur = 1280u16.to_be_bytes();
        for _ in 0..3 {
            packets.push((
                t_us,
                rtp(101, false, seq, ts, &[event, 0x80 | 10, dur[0], dur[1]]),
            ));
            seq = seq.wrapping_add(1);
        }
        ts = ts.wrapping_add(1280);
        silence(10, &mut seq, &mut ts, &mut t_us, &mut packets);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (t, payload) in packets {
        let udp_len = (8 + payload.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let c = ip_checksum(&ip).to_be_bytes();
        ip[10] = c[0];
        ip[11] = c[1];
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&20000u16.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&payload);
        out.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// A 16-bit mono 8 kHz WAV of a `hz` tone at about -12 dBFS.
pub fn tone_wav(hz: f64, secs: u32) -> Vec<u8> {
    let n = 8000 * secs;
    let mut out = Vec::with_capacity(44 + 2 * n as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let s = (f64::from(i) * hz * std::f64::consts::TAU / 8000.0).sin() * 8000.0;
        out.extend_from_slice(&(s as i16).to_le_bytes());
    }
    out
}

/// Mean power (dBFS-ish, 0 = full scale square) of each channel of a 16-bit WAV.
pub fn wav_channel_power(bytes: &[u8], channels: usize) -> Vec<f64> {
    let data = bytes.get(44..).unwrap_or_default();
    let mut sums = vec![0f64; channels];
    let mut counts = vec![0usize; channels];
    for (i, s) in data.chunks_exact(2).enumerate() {
        let v = f64::from(i16::from_le_bytes([s[0], s[1]]));
        sums[i % channels] += v * v;
        counts[i % channels] += 1;
    }
    sums.iter()
        .zip(&counts)
        .map(|(s, &c)| {
            if c == 0 {
                -120.0
            } else {
                10.0 * (s / c as f64 / (32768.0 * 32768.0)).max(1e-12).log10()
            }
        })
        .collect()
}
