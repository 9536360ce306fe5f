//! Calls between phones through separate edge, registrar and router
//! processes with Redis, every phone a real sipp: the lab report's two
//! hang-up cases, cancel, busy, no answer, not registered, unknown number,
//! and a re-INVITE mid-call.

mod common;

use common::calls::{self, both, scenario, Sipp};
use common::{SippRun, Topology};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

const DIALPLAN: &str = "[general]
static=yes

[default]
exten => 61,1,Dial(SIP/alice,10)
exten => 62,1,Dial(SIP/bob,10)
exten => 63,1,Dial(SIP/carol,2)
exten => 64,1,Dial(SIP/dave)
exten => 65,1,Dial(Local/61@default)
";

fn callee(t: &Topology, user: &str, password: &str, sf: &str, hold_ms: u32) -> JoinHandle<SippRun> {
    Sipp::local(&t.dir.0).callee(t.sip_addr(), (user, password), sf, hold_ms)
}

fn call(t: &Topology, sf: &Path, number: &str, hold_ms: u32) -> SippRun {
    Sipp::local(&t.dir.0).call(t.sip_addr(), sf, ("bob", "bob62"), number, hold_ms)
}

fn refused_scenario(t: &Topology, code: u16) -> PathBuf {
    calls::refused_scenario(&t.dir.0, code)
}

fn lab() -> Topology {
    Topology::start_with(&[], Some(DIALPLAN))
}

#[test]
fn a_calls_b_and_a_hangs_up() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_answer.xml", 0);
    both(call(&t, &scenario("caller_hangs_up.xml"), "61", 300), b);
}

#[test]
fn a_calls_b_and_b_hangs_up() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_hangs_up.xml", 300);
    both(call(&t, &scenario("caller_waits.xml"), "61", 0), b);
}

#[test]
fn caller_cancels_while_ringing() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_rings.xml", 0);
    both(call(&t, &scenario("caller_cancels.xml"), "61", 300), b);
}

#[test]
fn a_local_channel_rings_the_phone_its_extension_dials() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_answer.xml", 0);
    both(call(&t, &scenario("caller_hangs_up.xml"), "65", 300), b);
}

#[test]
fn busy_callee_gives_486() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_busy.xml", 0);
    both(call(&t, &refused_scenario(&t, 486), "61", 0), b);
}

#[test]
fn unanswered_dial_times_out_with_480_and_cancels_the_callee() {
    let t = lab();
    let b = callee(&t, "carol", "carol63", "callee_rings.xml", 0);
    both(call(&t, &refused_scenario(&t, 480), "63", 0), b);
}

#[test]
fn unregistered_callee_gives_480_unknown_number_404_and_a_prefix_484() {
    let t = lab();
    let r = call(&t, &refused_scenario(&t, 480), "64", 0);
    assert!(r.success, "{}", r.output);
    let r = call(&t, &refused_scenario(&t, 404), "999", 0);
    assert!(r.success, "{}", r.output);
    // Overlap dialling: "6" could still become 61 (chan_sip: 484).
    let r = call(&t, &refused_scenario(&t, 484), "6", 0);
    assert!(r.success, "{}", r.output);
}

#[test]
fn re_invite_mid_call_is_relayed() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_reinvited.xml", 0);
    both(call(&t, &scenario("caller_reinvites.xml"), "61", 200), b);
}

#[test]
fn two_phones_for_one_user_both_ring_one_answers_the_other_is_cancelled() {
    let t = lab();
    let desk = callee(&t, "alice", "alice61", "callee_rings.xml", 0);
    let mobile = callee(&t, "alice", "alice61", "callee_answer.xml", 0);
    let caller = call(&t, &scenario("caller_hangs_up.xml"), "61", 300);
    both(caller, mobile);
    let desk = desk.join().unwrap();
    assert!(
        desk.success,
        "the phone that did not answer is cancelled:\n{}",
        desk.output
    );
}

#[test]
fn max_forwards_zero_gets_483() {
    let t = lab();
    let invite = format!(
        "INVITE sip:61@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-mf0;rport\r\nMax-Forwards: 0\r\nFrom: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:61@127.0.0.1>\r\nCall-ID: mf0@test\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n",
        addr = t.sip_addr()
    );
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    sock.send_to(invite.as_bytes(), t.sip_addr()).unwrap();
    let mut codes = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        codes.push(common::sip::status_code(&text).unwrap_or(0));
        if codes.last().is_some_and(|c| *c >= 200) {
            break;
        }
    }
    assert_eq!(codes.last(), Some(&483), "{codes:?}");
}

#[test]
fn list_calls_shows_the_call_with_both_legs() {
    let t = lab();
    let b = callee(&t, "alice", "alice61", "callee_answer.xml", 0);
    let caller = call_in_background(&t, "61", 1500);
    let list = || list_calls(&t);
    let mut calls = Vec::new();
    let answered = common::wait_until(Duration::from_secs(3), || {
        calls = list();
        calls.first().is_some_and(|c| c.state == "answered")
    });
    assert!(answered, "the call shows as answered: {calls:?}");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].caller.as_str(), calls[0].dialled.as_str()),
        ("bob", "61")
    );
    assert_eq!(calls[0].legs.len(), 2);
    assert!(
        calls[0].legs.iter().all(|l| l.state == "confirmed"),
        "{calls:?}"
    );
    both(caller.join().unwrap(), b);
    // The callee's 200 to our BYE may still be on its way when sipp exits.
    let mut after = Vec::new();
    let gone = common::wait_until(Duration::from_secs(2), || {
        after = list();
        after.is_empty()
    });
    assert!(gone, "ended calls leave the list: {after:?}");
}

#[test]
fn sigterm_during_a_call_lets_it_finish_then_the_edge_exits() {
    let mut t = lab();
    let b = callee(&t, "alice", "alice61", "callee_answer.xml", 0);
    // Held long enough to be up still when a loaded machine gets round to
    // the checks below.
    let caller = call_in_background(&t, "61", 5000);
    // Once the call is answered (not merely challenged: the 401 has a
    // call task of its own), ask the edge to stop.
    let up = common::wait_until(Duration::from_secs(10), || {
        list_calls(&t)
            .first()
            .is_some_and(|c| c.state == "answered")
    });
    if !up {
        let run = caller.join().unwrap();
        panic!("the call did not start:\n{}", run.output);
    }
    t.edge.signal("TERM");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        common::http_get(t.edge_http, "/ready").map(|r| r.0),
        Some(503),
        "not ready while draining"
    );
    // The call in progress finishes normally (BYE answered, both sides happy).
    both(caller.join().unwrap(), b);
    let mut exited = None;
    common::wait_until(Duration::from_secs(5), || {
        exited = t.edge.try_exit();
        exited.is_some()
    });
    assert!(
        exited.is_some_and(|s| s.success()),
        "edge exits 0 once drained: {exited:?}"
    );
}

/// The edge's calls, as `ListCalls` on its admin port shows them.
fn list_calls(t: &Topology) -> Vec<asterism_proto::edge::CallInfo> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{}", t.admin_port);
        let mut c = asterism_proto::edge::edge_admin_client::EdgeAdminClient::connect(url)
            .await
            .unwrap();
        c.list_calls(asterism_proto::edge::ListCallsRequest {})
            .await
            .unwrap()
            .into_inner()
            .calls
    })
}

/// bob calls `number` from a sipp in its own thread, holding `hold_ms`.
fn call_in_background(t: &Topology, number: &'static str, hold_ms: u32) -> JoinHandle<SippRun> {
    Sipp::local(&t.dir.0).call_in_background(
        t.sip_addr(),
        &scenario("caller_hangs_up.xml"),
        ("bob", "bob62"),
        number,
        hold_ms,
    )
}
