//! Fuzzes TCP stream framing with arbitrary chunking.
#![no_main]

use callcore_sip::message::StreamFramer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut f = StreamFramer::new(4096);
    for chunk in data.chunks(7) {
        f.push(chunk);
        loop {
            match f.next_frame() {
                Ok(Some(frame)) => {
                    let _ = callcore_sip::message::Message::parse(frame);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
});
