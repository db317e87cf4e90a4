//! SRTP against published vectors and the rules of RFC 3711 (replay, rollover,
//! tampering). The crate under it proves RFC 3711 B.3's key derivation itself;
//! the packet vector here proves key derivation, the AES-CM keystream (B.2's
//! construction) and the HMAC tag together, as libsrtp computes them.

use super::*;

/// libsrtp's `srtp_driver` reference: the RFC 3711 B.3 master key and salt.
const VECTOR_KEY: [u8; MASTER_LEN] = [
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
];
const VECTOR_PLAIN: [u8; 28] = [
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
];
const VECTOR_SRTP: [u8; 38] = [
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c,
    0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc,
    0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
];

fn pair(profile: SrtpProfile) -> (SrtpSession, SrtpSession) {
    let (a, b) = ([0x11; MASTER_LEN], [0x22; MASTER_LEN]);
    let us = SrtpSession::new(&SrtpParams::new(profile, a, b)).expect("keys");
    let far = SrtpSession::new(&SrtpParams::new(profile, b, a)).expect("keys");
    (us, far)
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x55; 160]);
    p
}

#[test]
fn libsrtp_reference_packet_is_reproduced_and_read_back() {
    let params = SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, VECTOR_KEY, VECTOR_KEY);
    let mut s = SrtpSession::new(&params).expect("keys");
    let mut out = Vec::new();
    s.protect_rtp(&VECTOR_PLAIN, &mut out).expect("protected");
    assert_eq!(out, VECTOR_SRTP);
    s.unprotect_rtp(&VECTOR_SRTP, &mut out).expect("authentic");
    assert_eq!(out, VECTOR_PLAIN);
}

#[test]
fn tampered_wrong_key_and_replayed_packets_are_refused_and_counted() {
    let (mut us, mut far) = pair(SrtpProfile::AesCm128HmacSha1_80);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    us.protect_rtp(&rtp(1, 9), &mut wire).expect("protected");
    let mut bad = wire.clone();
    bad[20] ^= 1;
    assert!(far.unprotect_rtp(&bad, &mut out).is_err(), "tampered");
    far.unprotect_rtp(&wire, &mut out).expect("authentic");
    assert!(far.unprotect_rtp(&wire, &mut out).is_err(), "replayed");
    // a stranger with another key
    let stranger = SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, [0x33; 30], [0x11; 30]);
    let mut stranger = SrtpSession::new(&stranger).expect("keys");
    stranger
        .protect_rtp(&rtp(2, 9), &mut wire)
        .expect("protected");
    assert!(far.unprotect_rtp(&wire, &mut out).is_err(), "unknown key");
    // plain RTP and garbage
    assert!(
        far.unprotect_rtp(&rtp(3, 9), &mut out).is_err(),
        "plain RTP"
    );
    assert!(far.unprotect_rtp(&[0x80, 0, 0], &mut out).is_err(), "short");
    assert_eq!(far.rejected(), 5);
}

#[test]
fn the_rollover_counter_follows_sequence_numbers_past_65535() {
    let (mut us, mut far) = pair(SrtpProfile::AesCm128HmacSha1_80);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for seq in (65_530u32..65_546).map(|s| (s % 65_536) as u16) {
        let p = rtp(seq, 0xabc);
        us.protect_rtp(&p, &mut wire).expect("protected");
        far.unprotect_rtp(&wire, &mut out)
            .unwrap_or_else(|e| panic!("seq {seq} after the wrap: {e}"));
        assert_eq!(out, p);
    }
}

#[test]
fn the_32_bit_suite_tags_srtp_short_and_srtcp_long() {
    let (mut us, mut far) = pair(SrtpProfile::AesCm128HmacSha1_32);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let p = rtp(7, 1);
    us.protect_rtp(&p, &mut wire).expect("protected");
    assert_eq!(wire.len(), p.len() + 4);
    far.unprotect_rtp(&wire, &mut out).expect("authentic");
    // an RTCP receiver report: 8 bytes, + 4 (E flag and index) + 10 (tag)
    let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
    us.protect_rtcp(&rr, &mut wire).expect("protected");
    assert_eq!(wire.len(), rr.len() + 14);
    far.unprotect_rtcp(&wire, &mut out).expect("authentic");
    assert_eq!(out, rr);
    assert!(far.unprotect_rtcp(&wire, &mut out).is_err(), "replayed");
    assert!(far.unprotect_rtcp(&rr, &mut out).is_err(), "plain RTCP");
}

#[test]
fn debug_output_shows_no_key() {
    let params = SrtpParams::new(SrtpProfile::AesCm128HmacSha1_80, [0xab; 30], [0xcd; 30]);
    let shown = format!("{params:?} {:?}", SrtpSession::new(&params).expect("keys"));
    assert!(!shown.contains("171") && !shown.contains("ab, "), "{shown}");
    assert!(shown.contains("AesCm128HmacSha1_80"));
}
