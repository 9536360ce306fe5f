//! The hop between edges is no open relay (issue 11, finding 1): a request
//! naming this edge in its top Route with a flow token is forwarded only
//! when the token is signed with the cluster secret for this edge; a
//! response with a relay branch only when we signed that branch for where
//! it goes. Anything else gets 403 (or is dropped) and nothing leaves the
//! edge towards the address an attacker chose.

mod common;

use common::sip::{status_code, udp_exchange};
use common::Topology;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// A socket that must hear nothing: the victim of a relay attempt.
fn victim() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

fn hears_nothing(s: &UdpSocket) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    match s.recv_from(&mut buf) {
        Ok((n, from)) => Err(format!(
            "got from {from}:\n{}",
            String::from_utf8_lossy(&buf[..n])
        )),
        Err(_) => Ok(()),
    }
}

fn request(method: &str, ruri: &str, route: &str, n: u32) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-attack{n};rport\r\nRoute: {route}\r\nFrom: <sip:mallory@evil.example>;tag=m{n}\r\nTo: <sip:900@127.0.0.1>\r\nCall-ID: relay-attack-{n}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContact: <sip:mallory@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n"
    )
}

fn expect_403(t: &Topology, msg: &str) {
    let r = udp_exchange(t.sip_addr(), msg.as_bytes(), Duration::from_secs(2)).expect("an answer");
    assert_eq!(status_code(&r), Some(403), "{r}");
}

#[test]
fn unsigned_or_forged_flow_tokens_are_refused_and_nothing_is_forwarded() {
    let t = Topology::start(&[]);
    let edge = t.sip_addr();
    let (victim, v) = victim();
    let flow = format!("udp-{}-{}", v.ip(), v.port());
    // The token format of old (unsigned), a token with a made-up tag, and
    // a token naming the victim signed for another secret: all refused.
    let tokens = [
        flow.clone(),
        format!("{flow}~~00112233445566778899"),
        format!("{flow}~~"),
    ];
    for (i, token) in tokens.iter().enumerate() {
        let route = format!("<sip:{edge};lr;asterism-flow={token}>");
        expect_403(
            &t,
            &request("INVITE", "sip:900@127.0.0.1", &route, i as u32),
        );
        hears_nothing(&victim).unwrap();
    }
}

#[test]
fn a_token_naming_the_sender_does_not_make_the_edge_a_proxy() {
    let t = Topology::start(&[]);
    let edge = t.sip_addr();
    let (victim, v) = victim();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let me = attacker.local_addr().unwrap();
    // "From the phone itself, onward by Request-URI": a free proxy to any
    // number at any host once.
    let route = format!("<sip:{edge};lr;asterism-flow=udp-127.0.0.1-{}>", me.port());
    let invite = request("INVITE", &format!("sip:0900123456@{v}"), &route, 10);
    attacker.send_to(invite.as_bytes(), edge).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = attacker.recv_from(&mut buf).expect("an answer");
    let r = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(status_code(&r), Some(403), "{r}");
    hears_nothing(&victim).unwrap();
}

#[test]
fn nothing_is_written_into_a_tcp_phones_connection() {
    let t = Topology::start(&[]);
    let edge = t.sip_addr();
    let mut phone = TcpStream::connect(edge).unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let p = phone.local_addr().unwrap();
    // Let the edge accept the connection before naming it.
    std::thread::sleep(Duration::from_millis(200));
    let route = format!("<sip:{edge};lr;asterism-flow=tcp-{}-{}>", p.ip(), p.port());
    expect_403(&t, &request("MESSAGE", "sip:alice@127.0.0.1", &route, 20));
    let mut buf = [0u8; 1024];
    match phone.read(&mut buf) {
        Ok(n) if n > 0 => panic!(
            "written into the phone's connection:\n{}",
            String::from_utf8_lossy(&buf[..n])
        ),
        _ => {}
    }
}

fn response(vias: &[String]) -> String {
    let mut m = String::from("SIP/2.0 200 OK\r\n");
    for v in vias {
        m.push_str(&format!("Via: {v}\r\n"));
    }
    m.push_str("From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: reflect@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    m
}

#[test]
fn forged_relay_responses_are_dropped_not_reflected_or_looped() {
    let t = Topology::start(&[]);
    let edge = t.sip_addr();
    let (victim, v) = victim();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A relay branch we never signed, then the victim.
    let reflected = response(&[
        format!("SIP/2.0/UDP {edge};branch=z9hG4bK-asr-0123456789abcdef0123"),
        format!("SIP/2.0/UDP {v};branch=z9hG4bKvictim"),
    ]);
    attacker.send_to(reflected.as_bytes(), edge).unwrap();
    hears_nothing(&victim).unwrap();
    // 800 Vias naming the edge: one look, no bounce through ourselves.
    let mut vias: Vec<String> = (0..800)
        .map(|i| format!("SIP/2.0/UDP {edge};branch=z9hG4bK-asr-{i:020}"))
        .collect();
    vias.push(format!("SIP/2.0/UDP {v};branch=z9hG4bKvictim"));
    let looped = response(&vias);
    for _ in 0..20 {
        attacker.send_to(looped.as_bytes(), edge).unwrap();
    }
    hears_nothing(&victim).unwrap();
    // The edge keeps serving.
    assert!(common::sip::options_udp(edge).is_some());
}
