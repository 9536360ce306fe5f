//! Any text as an SDP offer, and the answer built from what it accepts.
#![no_main]

use asterism_media::sdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(offer) = sdp::parse_offer(&text) {
        let _ = sdp::answer(1, std::net::IpAddr::from([192, 0, 2, 1]), 10_000, &offer);
    }
});
