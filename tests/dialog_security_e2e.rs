//! Calls belong to their dialogs (issue 11, findings 7 and 8): a request
//! with the call's Call-ID but the wrong tags, a new INVITE reusing a live
//! Call-ID, an out-of-dialog request on it — each gets 481/482 and the call
//! goes on. And a challenge is sent once: a spoofed INVITE does not make
//! the edge send a dozen 401s to its victim.

mod common;

use common::calls::{scenario, Sipp};
use common::raw_call::RawCaller;
use common::sip::status_code;
use common::Topology;
use std::net::UdpSocket;
use std::time::Duration;

fn active_calls(t: &Topology) -> Option<String> {
    let (_, m) = common::http_get(t.edge_http, "/metrics")?;
    m.lines()
        .find(|l| l.starts_with("asterism_edge_calls_active "))
        .map(str::to_owned)
}

/// The answer `from` gets to `msg`.
fn exchange(from: &UdpSocket, t: &Topology, msg: &str) -> String {
    from.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    from.send_to(msg.as_bytes(), t.sip_addr()).unwrap();
    let mut buf = [0u8; 8192];
    loop {
        let (n, _) = from.recv_from(&mut buf).expect("an answer");
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        if status_code(&r).is_some_and(|c| c >= 200) {
            return r;
        }
    }
}

#[test]
fn forged_in_dialog_requests_and_a_second_invite_change_nothing() {
    let t = Topology::start(&[]);
    let alice =
        Sipp::local(&t.dir.0).callee(t.sip_addr(), ("alice", "alice61"), "callee_answer.xml", 0);
    let mut bob = RawCaller::new(t.sip_addr(), "bob", "bob62", "dialog-sec-1@test");
    bob.call("61");
    let to_tag = bob.to_tag.clone().expect("the edge's tag");
    assert_eq!(
        active_calls(&t).as_deref(),
        Some("asterism_edge_calls_active 1")
    );
    let mallory = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = mallory.local_addr().unwrap().port();
    // A BYE from another port with the Call-ID and the wrong tags.
    let bye = bob.in_dialog("BYE", "guessed", &to_tag, 10, port);
    let r = exchange(&mallory, &t, &bye);
    assert_eq!(status_code(&r), Some(481), "{r}");
    let bye = bob.in_dialog("BYE", &bob.from_tag, "guessed", 11, port);
    let r = exchange(&mallory, &t, &bye);
    assert_eq!(status_code(&r), Some(481), "{r}");
    // An out-of-dialog request reusing the Call-ID.
    let options = bob
        .in_dialog("OPTIONS", &bob.from_tag, "x", 12, port)
        .replace(";tag=x", "");
    let r = exchange(&mallory, &t, &options);
    assert_eq!(status_code(&r), Some(481), "{r}");
    // A new INVITE on the live Call-ID: no takeover of the call's routing.
    let mut other = RawCaller::new(t.sip_addr(), "carol", "carol63", "dialog-sec-1@test");
    other.cseq = 50;
    let r = exchange(&other.sock, &t, &other.invite("62", "z9hG4bK-hijack", ""));
    assert_eq!(status_code(&r), Some(482), "{r}");
    assert_eq!(
        active_calls(&t).as_deref(),
        Some("asterism_edge_calls_active 1"),
        "the call is still up"
    );
    // The real caller hangs up: answered, and alice gets her BYE.
    let bye = bob.in_dialog("BYE", &bob.from_tag, &to_tag, 3, bob.port());
    let r = exchange(&bob.sock, &t, &bye);
    assert_eq!(status_code(&r), Some(200), "{r}");
    let alice = alice.join().unwrap();
    assert!(
        alice.success,
        "alice's call ends by bob's BYE:\n{}",
        alice.output
    );
}

#[test]
fn a_challenge_is_sent_once_without_retransmissions() {
    // A short T1: the old code's Timer G would send many copies in 3 s.
    let t = Topology::start(&[("ASTERISM_SIP_T1_MS", "100")]);
    let victim = RawCaller::new(t.sip_addr(), "bob", "bob62", "spoofed-1@test");
    victim.send(&victim.invite("61", "z9hG4bK-spoof", ""));
    let mut got = Vec::new();
    while let Some(m) = victim.recv(Duration::from_secs(3)) {
        got.push(status_code(&m).unwrap_or(0));
    }
    assert_eq!(got, vec![401], "one 401, no 100, no retransmission");
    // The phone that did not get its 401 sends the INVITE again: answered.
    victim.send(&victim.invite("61", "z9hG4bK-spoof", ""));
    let r = victim
        .recv(Duration::from_secs(3))
        .expect("a new challenge");
    assert_eq!(status_code(&r), Some(401), "{r}");
    // sipp callers still get through (401, then 100/180/200).
    let alice =
        Sipp::local(&t.dir.0).callee(t.sip_addr(), ("alice", "alice61"), "callee_answer.xml", 0);
    let caller = Sipp::local(&t.dir.0).call(
        t.sip_addr(),
        &scenario("caller_hangs_up.xml"),
        ("bob", "bob62"),
        "61",
        200,
    );
    common::calls::both(caller, alice);
}
