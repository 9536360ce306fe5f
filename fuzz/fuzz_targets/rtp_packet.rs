//! Any datagram as an RTP packet, its payload as an RFC 4733 event, and the
//! strict-RTP learning that decides whose packets a session takes.
#![no_main]

use asterism_media::rtp;
use asterism_media::session::strict::StrictRtp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut strict = StrictRtp::new(std::net::SocketAddr::from(([192, 0, 2, 1], 4000)));
    if let Some((h, range)) = rtp::parse(data) {
        let payload = &data[range];
        if let Some((event, _end)) = rtp::telephone_event(payload) {
            let _ = rtp::dtmf_char(event);
        }
        let from = std::net::SocketAddr::from(([198, 51, 100, data[0]], u16::from(data[1])));
        let _ = strict.on_packet(from, h.seq);
        let mut out = Vec::new();
        rtp::build(&h, payload, &mut out);
        assert!(rtp::parse(&out).is_some(), "what we build we read");
    }
});
