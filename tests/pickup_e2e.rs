//! Call pickup with real softphones: alice (baresip) calls 62, bob's phone
//! rings and is not answered, carol dials `**62` (`Pickup(${EXTEN:2})`):
//! bob's phone stops ringing, alice is answered and she and carol hear
//! each other. With nothing ringing, `Pickup()` lets the dialplan go on.
//! By group: erin (`callgroup=1`) rings, frank (`pickupgroup=1,3`) dials
//! `*8` and gets the call; carol, in no pickup group, gets 403.

mod common;

use common::baresip::{self, near, tones, until, until_one, Baresip};
use common::{TempDir, Topology};
use std::time::Duration;

const PLAN: &str = "[default]\n\
exten => 62,1,Dial(SIP/bob,30)\n\
exten => 65,1,Dial(SIP/erin,30)\n\
exten => _**.,1,Pickup(${EXTEN:2})\n\
 same => n,Hangup(17)\n";

fn phone(dir: &TempDir, t: &Topology, user: &str, pw: &str, freq: f64, answer: &str) -> Baresip {
    let params = format!("answermode={answer};audio_codecs=PCMU");
    baresip::tone_phone(&dir.0, t.sip_port, (user, pw), (freq, 30.0), &params)
}

#[test]
fn carol_picks_up_the_call_ringing_bob() {
    let t = Topology::start_with(&[], Some(PLAN));
    let dir = TempDir::new("pickup");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "auto");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "manual");
    let carol = phone(&dir, &t, "carol", "carol63", 2000.0, "auto");
    alice.ctrl("dial", "62").unwrap();
    until_one(&bob, "bob's phone rings", |c| {
        c.contains("Active calls (1)")
    });
    carol.ctrl("dial", "**62").unwrap();
    until(&alice, &carol, "alice and carol talk", |c| {
        c.contains("ESTABLISHED")
    });
    until_one(&bob, "bob's phone stops ringing", |c| {
        c.contains("Active calls (0)")
    });
    std::thread::sleep(Duration::from_millis(2500));
    carol.ctrl("hangup", "").unwrap();
    until(&alice, &carol, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    let (heard_a, heard_c) = (tones(&alice.heard()), tones(&carol.heard()));
    assert!(near(&heard_a, 2000) >= 10, "alice hears carol: {heard_a:?}");
    assert!(near(&heard_c, 1000) >= 10, "carol hears alice: {heard_c:?}");
    assert_eq!(near(&heard_a, 600), 0, "never bob: {heard_a:?}");
}

#[test]
fn nothing_ringing_lets_the_dialplan_go_on() {
    let t = Topology::start_with(&[], Some(PLAN));
    let dir = TempDir::new("pickup-none");
    let carol = phone(&dir, &t, "carol", "carol63", 2000.0, "auto");
    carol.ctrl("dial", "**62").unwrap();
    // Pickup finds nothing, then Hangup(17): busy, never answered.
    let ok = common::wait_until(Duration::from_secs(10), || {
        carol.log().contains("486") || carol.log().contains("Busy")
    });
    assert!(ok, "{}", carol.log());
    until_one(&carol, "the call is over", |c| {
        c.contains("Active calls (0)")
    });
}

const GROUPS: &str = "[erin]\ntype=friend\nsecret=erin65\nhost=dynamic\ncallgroup=1\n\n\
[frank]\ntype=friend\nsecret=frank66\nhost=dynamic\npickupgroup=1,3\n\n";

#[test]
fn star_8_picks_up_a_phone_ringing_in_the_pickers_group() {
    let t = Topology::start_full(&[], Some(PLAN), ("", GROUPS));
    let dir = TempDir::new("pickup-group");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "auto");
    let erin = phone(&dir, &t, "erin", "erin65", 600.0, "manual");
    let frank = phone(&dir, &t, "frank", "frank66", 2000.0, "auto");
    let carol = phone(&dir, &t, "carol", "carol63", 1500.0, "auto");
    alice.ctrl("dial", "65").unwrap();
    until_one(&erin, "erin's phone rings", |c| {
        c.contains("Active calls (1)")
    });
    // Carol is in no pickup group: refused, erin still rings.
    carol.ctrl("dial", "*8").unwrap();
    let refused = common::wait_until(Duration::from_secs(10), || carol.log().contains("403"));
    assert!(refused, "{}", carol.log());
    assert!(
        erin.calls().contains("Active calls (1)"),
        "{}",
        erin.calls()
    );
    frank.ctrl("dial", "*8").unwrap();
    until(&alice, &frank, "alice and frank talk", |c| {
        c.contains("ESTABLISHED")
    });
    until_one(&erin, "erin's phone stops ringing", |c| {
        c.contains("Active calls (0)")
    });
    std::thread::sleep(Duration::from_millis(2500));
    alice.ctrl("hangup", "").unwrap();
    until(&alice, &frank, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    let (heard_a, heard_f) = (tones(&alice.heard()), tones(&frank.heard()));
    assert!(near(&heard_a, 2000) >= 10, "alice hears frank: {heard_a:?}");
    assert!(near(&heard_f, 1000) >= 10, "frank hears alice: {heard_f:?}");
}
