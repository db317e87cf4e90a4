//! Property tests: the parser never panics on any input, and serialize → parse
//! round-trips generated messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use callcore_sip::message::{
    HeaderName, Message, Method, ParseOptions, StreamFramer, error_response,
};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        (1u16..0xffff, 1u16..0xffff).prop_map(|(a, b)| format!("[2001:db8::{a:x}:{b:x}]")),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Options),
        Just(Method::Bye),
        Just(Method::Register),
        Just(Method::Refer),
        "[A-Z]{3,9}".prop_map(|m| Method::from_token(&m)),
    ]
}

prop_compose! {
    fn request()(m in method(), user in "[a-z0-9+]{1,12}", h in host(), port in proptest::option::of(1u16..65535),
                 branch in "[a-zA-Z0-9]{4,16}", tag in token(), call_id in "[a-zA-Z0-9.@-]{1,30}",
                 seq in 0u32..(1 << 31), mf in 0u8..=255, display in proptest::option::of("[A-Za-z ]{1,12}"),
                 extra in proptest::collection::vec(("X-[A-Za-z]{1,8}", "[ -~]{0,30}"), 0..4),
                 body in proptest::collection::vec(any::<u8>(), 0..200)) -> (Message, u32) {
        let uri = match port { Some(p) => format!("sip:{user}@{h}:{p}"), None => format!("sip:{user}@{h}") };
        let mut msg = Message::request(m.clone(), &uri);
        msg.push_header(HeaderName::Via, &format!("SIP/2.0/UDP {h};branch=z9hG4bK{branch};rport"));
        msg.push_header(HeaderName::MaxForwards, &mf.to_string());
        let disp = display.map(|d| format!("\"{}\" ", d.trim())).unwrap_or_default();
        msg.push_header(HeaderName::From, &format!("{disp}<sip:caller@{h}>;tag={tag}"));
        msg.push_header(HeaderName::To, &format!("<{uri}>"));
        msg.push_header(HeaderName::CallId, &call_id);
        msg.push_header(HeaderName::CSeq, &format!("{seq} {m}"));
        for (n, v) in extra {
            msg.push_header(HeaderName::from_name(&n), v.trim());
        }
        if !body.is_empty() {
            msg.set_body("application/octet-stream", Bytes::from(body));
        }
        (msg, seq)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let b = Bytes::from(data);
        if let Err(e) = Message::parse(b.clone()) {
            let _ = e.verdict();
            let _ = error_response(&b, &e, "t");
        }
        let _ = Message::parse_with(b.clone(), ParseOptions { max_size: 300, datagram: false, ..ParseOptions::default() });
        let mut f = StreamFramer::new(400);
        f.push(&b);
        let _ = f.next_frame();
    }

    #[test]
    fn parser_never_panics_on_mutated_messages((msg, _) in request(), cut in 0usize..1000, flip in 0usize..1000, byte in any::<u8>()) {
        let mut raw = msg.to_bytes().to_vec();
        let n = raw.len();
        raw[flip % n] = byte;
        raw.truncate(cut.max(1) % (n + 1));
        let b = Bytes::from(raw);
        match Message::parse(b.clone()) {
            Ok(m) => {
                // Every typed accessor must cope with whatever survived.
                let _ = (m.vias(), m.from(), m.to(), m.cseq(), m.contacts(), m.routes(), m.max_forwards(), m.content_type());
                prop_assert!(Message::parse(m.to_bytes()).is_ok(), "accepted message must re-parse");
            }
            Err(e) => { let _ = error_response(&b, &e, "t"); }
        }
    }

    #[test]
    fn serialize_then_parse_round_trips((msg, seq) in request()) {
        let wire = msg.to_bytes();
        let parsed = Message::parse(wire.clone()).expect("generated message must parse");
        prop_assert_eq!(parsed.method(), msg.method());
        prop_assert_eq!(parsed.request_uri_str(), msg.request_uri_str());
        prop_assert_eq!(parsed.cseq().unwrap().seq, seq);
        prop_assert_eq!(parsed.call_id().unwrap(), msg.call_id().unwrap());
        prop_assert_eq!(parsed.from().unwrap().tag(), msg.from().unwrap().tag());
        prop_assert_eq!(parsed.top_via().unwrap().branch(), msg.top_via().unwrap().branch());
        prop_assert_eq!(parsed.body(), msg.body());
        // And the re-serialized bytes are identical.
        prop_assert_eq!(parsed.to_bytes(), wire);
    }

    #[test]
    fn stream_framer_reassembles_any_split((a, _) in request(), (b, _) in request(), split in 1usize..2000) {
        let mut stream = a.to_bytes().to_vec();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(&b.to_bytes());
        let cut = split % stream.len();
        let mut f = StreamFramer::new(1 << 20);
        f.push(&stream[..cut]);
        let mut frames = Vec::new();
        while let Some(fr) = f.next_frame().unwrap() { frames.push(fr); }
        f.push(&stream[cut..]);
        while let Some(fr) = f.next_frame().unwrap() { frames.push(fr); }
        prop_assert_eq!(frames.len(), 2);
        prop_assert_eq!(&frames[0], &a.to_bytes());
        prop_assert_eq!(&frames[1], &b.to_bytes());
    }
}
