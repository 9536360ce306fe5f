//! Strict RTP (issue 11, finding 2): once a call's media has its source, a
//! stranger's packets — even a steady stream in sequence — are dropped; the
//! stream and the echo stay with the phone.

mod common;

use common::raw_call::RawCaller;
use common::Topology;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xFFu8, 160));
    p
}

/// The audio port of an SDP body.
fn media_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("m=audio in the answer")
}

/// RTP packets `s` hears within `wait`.
fn heard(s: &UdpSocket, wait: Duration) -> usize {
    let until = Instant::now() + wait;
    let mut n = 0;
    let mut buf = [0u8; 2048];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.recv_from(&mut buf) {
            Ok(_) => n += 1,
            Err(_) => break,
        }
    }
    n
}

#[test]
fn a_strangers_rtp_does_not_take_over_the_echo() {
    let t = Topology::start(&[]);
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut bob = RawCaller::new(t.sip_addr(), "bob", "bob62", "strict-rtp@test");
    bob.rtp_port = phone.local_addr().unwrap().port();
    let ok = bob.call("3666");
    let media = SocketAddr::from(([127, 0, 0, 1], media_port(&ok)));
    // The phone talks: the echo comes back to it.
    for seq in 1..=25u16 {
        phone.send_to(&rtp(seq, 0xB0B), media).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(heard(&phone, Duration::from_millis(500)) > 0, "no echo");
    // Mallory streams into the same port, in sequence, well past any
    // probation, while the phone goes on talking.
    let mallory = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0..50u16 {
        mallory.send_to(&rtp(1000 + seq, 0xBAD), media).unwrap();
        phone.send_to(&rtp(26 + seq, 0xB0B), media).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        heard(&mallory, Duration::from_millis(500)),
        0,
        "media answered a stranger"
    );
    assert!(
        heard(&phone, Duration::from_millis(500)) > 0,
        "the phone's echo stopped"
    );
    let to_tag = bob.to_tag.clone().unwrap();
    bob.send(&bob.in_dialog("BYE", &bob.from_tag, &to_tag, 3, bob.port()));
}
