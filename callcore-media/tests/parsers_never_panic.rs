//! Property tests: the wire parsers never panic and round-trip what they write; the
//! sans-IO engines (jitter buffer, detectors, relay) never panic on arbitrary input.

use callcore_media::rtcp::{self, ReportBlock, RtcpPacket, SenderReport};
use callcore_media::rtp::{RtpExtension, RtpPacket};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rtp_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = RtpPacket::parse(&data);
    }

    #[test]
    fn rtp_parse_never_panics_on_plausible_headers(mut data in proptest::collection::vec(any::<u8>(), 12..200), b0 in 0x80u8..0xC0) {
        data[0] = b0;
        if let Ok(p) = RtpPacket::parse(&data) {
            prop_assert!(p.payload.len() <= data.len());
        }
    }

    #[test]
    fn rtcp_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = rtcp::parse_compound(&data);
    }

    #[test]
    fn rtcp_parse_never_panics_on_plausible_headers(mut data in proptest::collection::vec(any::<u8>(), 4..400), pt in 200u8..205, b0 in 0x80u8..0xC0) {
        data[0] = b0;
        data[1] = pt;
        let _ = rtcp::parse_compound(&data);
    }

    #[test]
    fn telephone_event_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..12)) {
        let _ = callcore_media::dtmf::TelephoneEvent::parse(&data);
    }

    #[test]
    fn telephone_event_receiver_never_panics(pkts in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..8), 0u64..10_000), 0..40)) {
        let mut rx = callcore_media::dtmf::TelephoneEventReceiver::new(8000);
        for (ts, payload, at) in pkts {
            let _ = rx.on_packet(ts, false, &payload, std::time::Duration::from_millis(at));
            while rx.poll_event().is_some() {}
        }
    }

    #[test]
    fn rtp_round_trip(pt in 0u8..128, seq: u16, ts: u32, ssrc: u32, marker: bool,
                      csrcs in proptest::collection::vec(any::<u32>(), 0..16),
                      ext in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
                      payload in proptest::collection::vec(any::<u8>(), 0..200), padding in 0u8..8) {
        let ext = ext.map(|mut e| { e.truncate(e.len() / 4 * 4); e });
        let mut p = RtpPacket::new(pt, seq, ts, ssrc, &payload);
        p.marker = marker;
        p.csrcs = csrcs;
        p.extension = ext.as_deref().map(|data| RtpExtension { profile: 0xBEDE, data });
        p.padding = padding;
        let mut wire = Vec::new();
        p.write_to(&mut wire).unwrap();
        let q = RtpPacket::parse(&wire).unwrap();
        prop_assert_eq!(p, q);
    }

    #[test]
    fn rtcp_round_trip(ssrc: u32, ntp: u64, n in 0usize..31, lost in -0x80_0000i32..0x80_0000, jitter: u32) {
        let blocks = (0..n).map(|i| ReportBlock { ssrc: i as u32, fraction_lost: i as u8, cumulative_lost: lost, highest_seq: 7, jitter, lsr: 1, dlsr: 2 }).collect();
        let pkts = vec![RtcpPacket::SenderReport(SenderReport { ssrc, ntp_time: ntp, rtp_time: 1, packet_count: 2, octet_count: 3, reports: blocks })];
        let mut wire = Vec::new();
        rtcp::write_compound(&pkts, &mut wire).unwrap();
        prop_assert_eq!(rtcp::parse_compound(&wire).unwrap(), pkts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn jitter_buffer_never_panics_and_frames_are_whole(ops in proptest::collection::vec((any::<u16>(), any::<u32>(), 0usize..400, 0u64..5_000, any::<bool>()), 0..200)) {
        let mut jb = callcore_media::jitter::JitterBuffer::new(callcore_media::jitter::JitterConfig::default()).unwrap();
        let mut out = Vec::new();
        let mut t = 0u64;
        for (seq, ts, len, dt, pop) in ops {
            t += dt;
            jb.push(seq, ts, vec![1; len], std::time::Duration::from_millis(t));
            if pop {
                jb.pop(&mut out, std::time::Duration::from_millis(t));
                prop_assert_eq!(out.len(), 160);
            }
        }
        let st = jb.stats();
        prop_assert!(st.played <= st.received);
    }

    #[test]
    fn detectors_never_panic(audio in proptest::collection::vec(any::<i16>(), 0..4000)) {
        let mut dtmf = callcore_media::dtmf::inband::DtmfDetector::new(callcore_media::dtmf::inband::DetectorConfig::default());
        let _ = dtmf.process(&audio);
        let mut sit = callcore_media::sit::SitDetector::new();
        let _ = sit.process(&audio);
        let mut vad = callcore_media::vad::Vad::new(callcore_media::vad::VadConfig::default());
        for f in audio.chunks(160) {
            let _ = vad.process_frame(f);
        }
    }

    #[test]
    fn relay_never_panics(data in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
        use callcore_media::bridge::{Bridge, LegConfig, Side};
        use callcore_media::g711::Law;
        let mut b = Bridge::new(LegConfig::new(Law::Ulaw, 1), LegConfig::new(Law::Alaw, 2));
        let mut out = Vec::new();
        for (i, d) in data.iter().enumerate() {
            let side = if i % 2 == 0 { Side::A } else { Side::B };
            let _ = b.relay(side, d, std::time::Duration::from_millis(i as u64 * 20), &mut out);
        }
    }
}
