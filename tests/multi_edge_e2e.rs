//! Several edges in front of one registrar, router and media (issue 7): a
//! phone registered through one edge is reached through it from a call that
//! enters through another (Record-Route with the phone's flow, in-dialog
//! requests the same way both ways); when that edge dies, calls to the
//! phone fail at once with 480 until it registers through a live edge.

mod common;

use asterism_testkit::free_port;
use common::calls::{self, both, scenario, Sipp};
use common::Topology;
use std::time::Duration;

/// No Dial timeout: an INVITE sent into a dead edge would hang for Timer B
/// (32 s, beyond sipp's 30 s) instead of failing at once.
const DIALPLAN: &str = "[general]
static=yes

[default]
exten => 61,1,Dial(SIP/alice)
exten => 62,1,Dial(SIP/bob)
";

const ALICE: (&str, &str) = ("alice", "alice61");
const BOB: (&str, &str) = ("bob", "bob62");

fn two_edges() -> (Topology, asterism_testkit::Service, std::net::SocketAddr) {
    let t = Topology::start_with(&[("ASTERISM_EDGE_ID", "edge-1")], Some(DIALPLAN));
    let (edge2, addr, _) = t.another_edge("edge-2");
    (t, edge2, addr)
}

#[test]
fn calls_cross_edges_both_ways_and_either_side_hangs_up() {
    let (t, _edge2, edge2) = two_edges();
    let (phone, edge1) = (Sipp::local(&t.dir.0), t.sip_addr());
    // bob is on edge 2; alice calls him through edge 1 and hangs up.
    let bob = phone.callee(edge2, BOB, "callee_answer_relayed.xml", 0);
    let caller = scenario("caller_hangs_up.xml");
    both(phone.call(edge1, &caller, ALICE, "62", 300), bob);
    // alice is on edge 1; bob calls her through edge 2 and she hangs up.
    let alice = phone.callee(edge1, ALICE, "callee_hangs_up_relayed.xml", 300);
    let caller = scenario("caller_waits.xml");
    both(phone.call(edge2, &caller, BOB, "61", 0), alice);
}

#[test]
fn a_dead_edge_fails_its_phones_calls_until_they_register_elsewhere() {
    let (t, mut edge2_proc, edge2) = two_edges();
    let (sipp, edge1) = (Sipp::local(&t.dir.0), t.sip_addr());
    let phone = free_port();
    sipp.register(edge2, "bob", "bob62", phone);
    edge2_proc.kill();
    // Its heartbeat lapses after asterism_edge::alive::TTL_SECS.
    std::thread::sleep(Duration::from_secs(
        u64::from(asterism_edge::alive::TTL_SECS) + 1,
    ));
    let refused = calls::refused_scenario(&t.dir.0, 480);
    let r = sipp.call(edge1, &refused, ALICE, "62", 0);
    assert!(r.success, "480 at once, not a hang:\n{}", r.output);
    assert_eq!(t.binding_keys("bob").len(), 1, "the binding is kept");
    // The phone registers again, through edge 1: reachable again.
    let bob = sipp.uas(edge1, &scenario("callee_answer.xml"), phone, 0);
    sipp.register(edge1, "bob", "bob62", phone);
    let caller = scenario("caller_hangs_up.xml");
    both(sipp.call(edge1, &caller, ALICE, "62", 300), bob);
}
