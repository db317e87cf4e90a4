//! SDES offer/answer under each policy (RFC 4568 with RFC 3264).

use super::*;

const KEY_A: MasterKey = MasterKey::new([0xa1; 30]);
const KEY_B: MasterKey = MasterKey::new([0xb2; 30]);

fn ours(policy: SrtpPolicy, key: MasterKey) -> LocalMedia {
    LocalMedia::g711("127.0.0.1:40000".parse().expect("addr"), 7).with_srtp(policy, key)
}

/// baresip's offers: `srtp-mand` is RTP/SAVP, `srtp` RTP/AVP, both with a=crypto.
fn baresip_offer(proto: &str, crypto: &str) -> SessionDescription {
    let text = format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 6000 {proto} 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n{crypto}"
    );
    SessionDescription::parse(text.as_bytes()).expect("offer parses")
}

fn crypto_lines(key: &MasterKey) -> String {
    let c32 = SdpCrypto::new(1, CryptoSuite::AesCm128HmacSha1_32, key);
    let c80 = SdpCrypto::new(2, CryptoSuite::AesCm128HmacSha1_80, key);
    format!(
        "a=crypto:{}\r\na=crypto:{}\r\n",
        c32.to_value(),
        c80.to_value()
    )
}

#[test]
fn a_savp_offer_is_answered_with_the_first_suite_we_carry_and_our_own_key() {
    let offer = baresip_offer("RTP/SAVP", &crypto_lines(&KEY_B));
    for policy in [SrtpPolicy::Offer, SrtpPolicy::Require] {
        let (answer, neg) = answer_offer(&offer, &ours(policy, KEY_A), 1).expect("answered");
        let srtp = neg.srtp.expect("SRTP negotiated");
        assert_eq!(
            srtp.suite,
            CryptoSuite::AesCm128HmacSha1_32,
            "offerer's order"
        );
        assert_eq!((srtp.send, srtp.receive), (KEY_A, KEY_B));
        let m = &answer.media[0];
        assert_eq!(m.proto, "RTP/SAVP");
        assert_eq!(m.crypto.len(), 1);
        assert_eq!(m.crypto[0].tag, 1);
        assert_eq!(m.crypto[0].usable(), Some((srtp.suite, KEY_A)));
        // the body carries it and reads back
        let back = SessionDescription::parse(answer.to_body().as_bytes()).expect("parses");
        assert_eq!(back, answer);
    }
}

#[test]
fn offers_we_cannot_meet_are_refused_with_a_reason() {
    // SRTP off: RTP/SAVP is not met
    let savp = baresip_offer("RTP/SAVP", &crypto_lines(&KEY_B));
    let e = answer_offer(&savp, &ours(SrtpPolicy::Off, KEY_A), 1).expect_err("488");
    assert!(e.to_string().contains("SRTP is off"), "{e}");
    let e = answer_offer(
        &savp,
        &LocalMedia::g711("127.0.0.1:1".parse().expect("a"), 1),
        1,
    );
    assert!(e.is_err(), "no SRTP at all");
    // SAVP with only suites we do not carry
    let f8 = "a=crypto:1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw\r\n";
    let e = answer_offer(
        &baresip_offer("RTP/SAVP", f8),
        &ours(SrtpPolicy::Offer, KEY_A),
        1,
    );
    assert!(e.expect_err("488").to_string().contains("suite and key"));
    // required, and the offer is plain RTP
    let plain = baresip_offer("RTP/AVP", "");
    let e = answer_offer(&plain, &ours(SrtpPolicy::Require, KEY_A), 1).expect_err("488");
    assert!(e.to_string().contains("required"), "{e}");
}

#[test]
fn best_effort_srtp_follows_the_offer() {
    // RTP/AVP with a=crypto (baresip `srtp`): SRTP under offer and require
    let avp = baresip_offer("RTP/AVP", &crypto_lines(&KEY_B));
    let (answer, neg) = answer_offer(&avp, &ours(SrtpPolicy::Offer, KEY_A), 1).expect("ok");
    assert!(neg.srtp.is_some());
    assert_eq!(answer.media[0].proto, "RTP/AVP");
    let (_, neg) = answer_offer(&avp, &ours(SrtpPolicy::Require, KEY_A), 1).expect("ok");
    assert!(neg.srtp.is_some());
    // ... ignored when SRTP is off (as before SRTP existed)
    let (answer, neg) = answer_offer(&avp, &ours(SrtpPolicy::Off, KEY_A), 1).expect("ok");
    assert!(neg.srtp.is_none() && answer.media[0].crypto.is_empty());
    // a plain offer under `offer` stays plain
    let plain = baresip_offer("RTP/AVP", "");
    let (_, neg) = answer_offer(&plain, &ours(SrtpPolicy::Offer, KEY_A), 1).expect("ok");
    assert!(neg.srtp.is_none());
}

#[test]
fn our_offers_carry_both_suites_and_read_the_answer() {
    let offer = create_offer(&ours(SrtpPolicy::Require, KEY_A), 1);
    let m = &offer.media[0];
    assert_eq!(m.proto, "RTP/SAVP");
    let suites: Vec<_> = m.crypto.iter().filter_map(SdpCrypto::usable).collect();
    assert_eq!(
        suites,
        [
            (CryptoSuite::AesCm128HmacSha1_80, KEY_A),
            (CryptoSuite::AesCm128HmacSha1_32, KEY_A)
        ]
    );
    assert_eq!(
        create_offer(&ours(SrtpPolicy::Offer, KEY_A), 1).media[0].proto,
        "RTP/AVP"
    );
    assert!(
        create_offer(&ours(SrtpPolicy::Off, KEY_A), 1).media[0]
            .crypto
            .is_empty()
    );
    // the far end answers with its own key
    let (answer, far) = answer_offer(&offer, &ours(SrtpPolicy::Require, KEY_B), 1).expect("ok");
    let neg = process_answer(&offer, &answer).expect("read");
    let (ours_srtp, far_srtp) = (neg.srtp.expect("srtp"), far.srtp.expect("srtp"));
    assert_eq!((ours_srtp.send, ours_srtp.receive), (KEY_A, KEY_B));
    assert_eq!((far_srtp.send, far_srtp.receive), (KEY_B, KEY_A));
    assert_eq!(ours_srtp.suite, CryptoSuite::AesCm128HmacSha1_80);
    // an answer without a=crypto to our SAVP offer is refused
    let (plain_answer, _) = answer_offer(
        &create_offer(&ours(SrtpPolicy::Off, KEY_B), 1),
        &ours(SrtpPolicy::Off, KEY_B),
        1,
    )
    .expect("ok");
    assert!(process_answer(&offer, &plain_answer).is_err());
}

#[test]
fn malformed_crypto_is_a_clear_sdp_error_and_keys_stay_out_of_debug() {
    let e = SessionDescription::parse(
        b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/SAVP 0\r\na=crypto:one AES_CM_128_HMAC_SHA1_80 inline:x\r\n",
    )
    .expect_err("bad tag");
    assert!(
        e.to_string().contains("line 4") && e.to_string().contains("a=crypto"),
        "{e}"
    );
    let offer = baresip_offer("RTP/SAVP", &crypto_lines(&KEY_B));
    let (answer, neg) = answer_offer(&offer, &ours(SrtpPolicy::Offer, KEY_A), 1).expect("ok");
    let body = answer.to_body();
    let key_text = body
        .split("inline:")
        .nth(1)
        .and_then(|k| k.get(..40))
        .expect("a key");
    let shown = format!("{answer:?} {neg:?} {offer:?}");
    assert!(!shown.contains(key_text), "{shown}");
}
