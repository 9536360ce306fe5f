//! Any bytes, read as the edge reads them: as one UDP datagram (framing,
//! parsing, triage with its header checks), then as a TCP stream cut into
//! every message it holds. Must never panic or hang.
#![no_main]

use asterism_sip::framing::{frame_datagram, frame_stream, leading_crlf};
use asterism_sip::transport::InboundEvent;
use asterism_sip::triage::triage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = &data[leading_crlf(data)..];
    let event = match frame_datagram(d) {
        Ok(frame) => InboundEvent::parse_frame(d, frame),
        Err(e) => InboundEvent::frame_error(d, e),
    };
    let _ = triage(event);
    let mut stream = data;
    loop {
        stream = &stream[leading_crlf(stream)..];
        match frame_stream(stream) {
            Ok(frame) if frame.total() > 0 => {
                let _ = triage(InboundEvent::parse_frame(stream, frame));
                stream = &stream[frame.total()..];
            }
            Ok(_) => break,
            Err(e) => {
                let _ = triage(InboundEvent::frame_error(stream, e));
                break;
            }
        }
    }
});
