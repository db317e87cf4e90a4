//! Fuzzes the datagram parser, every typed accessor and the error-response builder.
#![no_main]

use bytes::Bytes;
use callcore_sip::message::{AdmissionPolicy, Message, error_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = Bytes::copy_from_slice(data);
    match Message::parse(raw.clone()) {
        Ok(m) => {
            let _ = (m.vias(), m.from(), m.to(), m.call_id(), m.cseq(), m.contacts());
            let _ = (m.routes(), m.record_routes(), m.max_forwards(), m.content_type());
            let _ = (m.authorization(), m.www_authenticate(), m.refer_to(), m.replaces());
            let _ = (m.session_expires(), m.reasons(), m.expires(), m.rack());
            let _ = AdmissionPolicy::default().admit(&m);
            let again = Message::parse(m.to_bytes());
            assert!(again.is_ok(), "a parsed message must re-parse after serialization");
        }
        Err(e) => {
            let _ = error_response(&raw, &e, "fuzz");
        }
    }
});
