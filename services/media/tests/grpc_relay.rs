//! Relays over real gRPC and real UDP: two "phones" that share no codec
//! (PCMU caller, PCMA callee) talk through a relay both ways, events and
//! comfort noise go along, hold stops media towards the held phone without
//! losing the other direction, strangers are not forwarded, and Stats
//! counts both legs.

mod common;

use asterism_media::g711;
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::*;
use common::{port_of, rtp};
use std::net::UdpSocket;
use std::time::Duration;
use tonic::transport::Channel;

async fn serve() -> MediaClient<Channel> {
    common::serve(std::path::Path::new("/nonexistent"), 31000).await
}

fn sdp(port: u16, pts: &str, extra: &str) -> String {
    format!("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\na=rtpmap:101 telephone-event/8000\r\n{extra}")
}

fn phone() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn port(s: &UdpSocket) -> u16 {
    s.local_addr().unwrap().port()
}

/// One packet in at `from` towards `to_port`, what `at` receives (PT, payload).
fn through(from: &UdpSocket, to_port: u16, p: &[u8], at: &UdpSocket) -> Option<(u8, Vec<u8>)> {
    from.send_to(p, ("127.0.0.1", to_port)).unwrap();
    let mut buf = [0u8; 512];
    let n = at.recv(&mut buf).ok()?;
    Some((buf[1] & 0x7F, buf[12..n].to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_caller_and_pcma_callee_hear_each_other_through_the_relay() {
    let mut c = serve().await;
    let (alice, bob, stranger) = (phone(), phone(), phone());
    let r = c
        .open_relay(OpenRelayRequest {
            call_id: "relay-1".into(),
            caller_offer: sdp(port(&alice), "0 13 101", "a=rtpmap:13 CN/8000\r\n"),
            reached_at: "127.0.0.1:5060".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.codec, "PCMU");
    assert!(
        r.caller_answer.contains("m=audio ") && r.caller_answer.contains(" 0 13 101\r\n"),
        "{}",
        r.caller_answer
    );
    assert!(
        r.callee_offer.contains(" 0 8 13 101\r\n"),
        "both G.711, CN, events offered: {}",
        r.callee_offer
    );
    let (to_a, to_b) = (port_of(&r.caller_answer), port_of(&r.callee_offer));
    assert_ne!(to_a, to_b);
    // Bob answers PCMA only, with 96 for events and no comfort noise.
    let bob_answer = sdp(port(&bob), "8 96", "a=rtpmap:96 telephone-event/8000\r\n");
    let up = c
        .update_relay(UpdateRelayRequest {
            session_id: r.session_id.clone(),
            leg: RelayLeg::Callee as i32,
            sdp: bob_answer,
            offer: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(up.sdp_answer.is_empty());
    let tone_u: Vec<u8> = (0..160)
        .map(|i| g711::linear_to_ulaw(((i as f64 * 0.4).sin() * 8000.0) as i16))
        .collect();
    for seq in 0..5u16 {
        let (pt, payload) =
            through(&alice, to_a, &rtp(0, seq, &tone_u), &bob).expect("alice → bob");
        assert_eq!(pt, 8, "bob gets PCMA");
        let heard: Vec<i16> = payload.iter().map(|&b| g711::alaw_to_linear(b)).collect();
        let sent: Vec<i16> = tone_u.iter().map(|&b| g711::ulaw_to_linear(b)).collect();
        assert!(heard.iter().zip(&sent).all(|(x, y)| (x - y).abs() < 600));
        let (pt, payload) =
            through(&bob, to_b, &rtp(8, seq, &[0x2A; 160]), &alice).expect("bob → alice");
        assert_eq!(pt, 0, "alice gets PCMU");
        assert_eq!(payload.len(), 160);
    }
    let (pt, ev) = through(&alice, to_a, &rtp(101, 9, &[5, 0x8a, 0, 160]), &bob).unwrap();
    assert_eq!(
        (pt, ev[0]),
        (96, 5),
        "alice's digit 5 reaches bob as his event type"
    );
    // Comfort noise: bob did not take it, so it is not sent.
    alice
        .send_to(&rtp(13, 10, &[60]), ("127.0.0.1", to_a))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        bob.recv(&mut buf).is_err(),
        "CN not sent to a leg without it"
    );
    // A stranger's stream into bob's port is not forwarded to alice.
    for seq in 0..10u16 {
        stranger
            .send_to(&rtp(8, 100 + seq, &[1; 160]), ("127.0.0.1", to_b))
            .unwrap();
    }
    assert!(alice.recv(&mut buf).is_err(), "strangers are not relayed");
    // Bob holds (re-INVITE sendonly): the relay answers recvonly, stops
    // sending to bob, and alice still hears him.
    let hold = c
        .update_relay(UpdateRelayRequest {
            session_id: r.session_id.clone(),
            leg: RelayLeg::Callee as i32,
            sdp: sdp(
                port(&bob),
                "8 96",
                "a=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n",
            ),
            offer: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        hold.sdp_answer.contains("a=recvonly"),
        "{}",
        hold.sdp_answer
    );
    assert_eq!(port_of(&hold.sdp_answer), to_b, "same port");
    assert!(hold.sdp_answer.contains("m=audio ") && hold.sdp_answer.contains(" 8 96\r\n"));
    alice
        .send_to(&rtp(0, 20, &tone_u), ("127.0.0.1", to_a))
        .unwrap();
    assert!(bob.recv(&mut buf).is_err(), "nothing to the held phone");
    assert!(through(&bob, to_b, &rtp(8, 21, &[0x2A; 160]), &alice).is_some());
    // Resume.
    c.update_relay(UpdateRelayRequest {
        session_id: r.session_id.clone(),
        leg: RelayLeg::Callee as i32,
        sdp: sdp(
            port(&bob),
            "8 96",
            "a=rtpmap:96 telephone-event/8000\r\na=sendrecv\r\n",
        ),
        offer: true,
    })
    .await
    .unwrap();
    assert!(
        through(&alice, to_a, &rtp(0, 22, &tone_u), &bob).is_some(),
        "resumed"
    );
    // The relay counts a packet just after sending it: the phone may have
    // it a moment before the counter moves.
    let mut st = SessionStats::default();
    for _ in 0..50 {
        st = c
            .stats(StatsRequest {
                session_id: r.session_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if st.callee.as_ref().is_some_and(|b| b.packets_out >= 7) && st.packets_out >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callee = st.callee.clone().expect("a relay reports both legs");
    assert_eq!(
        st.packets_in,
        5 + 1 + 1 + 1 + 1,
        "alice's: 5 audio, event, CN, held, resumed"
    );
    assert_eq!(st.packets_out, 6, "to alice: 5 + 1 while bob held");
    assert_eq!(
        callee.packets_in, 6,
        "bob's (the stranger's are not counted)"
    );
    assert_eq!(callee.packets_out, 7, "to bob: 5 audio, the event, resumed");
    // A G.729-only re-offer is refused (488 at the edge), nothing changes.
    let e = c
        .update_relay(UpdateRelayRequest {
            session_id: r.session_id.clone(),
            leg: RelayLeg::Caller as i32,
            sdp: sdp(port(&alice), "18", ""),
            offer: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(through(&alice, to_a, &rtp(0, 23, &tone_u), &bob).is_some());
    common::close_and_check_gone(&mut c, &r.session_id).await;
    assert!(
        through(&alice, to_a, &rtp(0, 24, &tone_u), &bob).is_none(),
        "closed relays forward nothing"
    );
}

#[tokio::test]
async fn each_legs_allow_and_dtmfmode_shape_its_sdp() {
    let mut c = serve().await;
    let r = c
        .open_relay(OpenRelayRequest {
            call_id: "prefs".into(),
            caller_offer: sdp(4000, "0 8 101", ""),
            caller_codecs: vec!["PCMA".into()],
            callee_codecs: vec!["PCMU".into()],
            callee_no_rfc2833: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.codec, "PCMA", "the caller's allow order, not the offer's");
    assert!(
        r.caller_answer.contains(" RTP/AVP 8 101\r\n"),
        "{}",
        r.caller_answer
    );
    assert!(
        r.callee_offer.contains(" RTP/AVP 0\r\n"),
        "PCMU only, no events: {}",
        r.callee_offer
    );
    let none = c
        .open_relay(OpenRelayRequest {
            call_id: "none".into(),
            caller_offer: sdp(4000, "0", ""),
            callee_codecs: vec!["none".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        none.code(),
        tonic::Code::FailedPrecondition,
        "a callee allowing neither"
    );
}

#[tokio::test]
async fn an_offer_without_g711_is_refused_and_updates_need_a_relay() {
    let mut c = serve().await;
    let e = c
        .open_relay(OpenRelayRequest {
            call_id: "x".into(),
            caller_offer: sdp(4000, "18", ""),
            reached_at: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    let e = c
        .update_relay(UpdateRelayRequest {
            session_id: "m0".into(),
            leg: RelayLeg::Callee as i32,
            sdp: sdp(4000, "0", ""),
            offer: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
}
