//! Blind transfer by REFER with real softphones (baresip's `transfer`)
//! through every service: alice calls bob (media phone to phone), one of
//! them transfers the other to 63 (`Dial(SIP/carol)`), and the transferee
//! ends up talking to carol — re-INVITEd onto a media session of its own,
//! then anchored to carol by the next Dial — while the transferer's phone
//! hangs up after the NOTIFY, as it does with Asterisk. With
//! `directmedia=no` the call is anchored already and the relay carries on.

mod common;

use common::baresip::{self, tones, until, Baresip};
use common::{TempDir, Topology};
use std::time::Duration;

const PLAN: &str = "[default]\n\
exten => 62,1,Dial(SIP/bob,20)\n\
exten => 63,1,Dial(SIP/carol,20)\n";

fn phone(dir: &TempDir, t: &Topology, user: &str, pw: &str, freq: f64) -> Baresip {
    let params = "answermode=auto;audio_codecs=PCMU";
    baresip::tone_phone(&dir.0, t.sip_port, (user, pw), (freq, 30.0), params)
}

/// How many 100 ms windows of `t` are near `freq`.
fn near(t: &[u32], freq: u32) -> usize {
    t.iter().filter(|&&f| f.abs_diff(freq) <= 60).count()
}

/// Poll until `p`'s call list satisfies `check` (10 s at most).
fn until_one(p: &Baresip, what: &str, check: impl Fn(&str) -> bool) {
    let ok = common::wait_until(Duration::from_secs(10), || check(&p.calls()));
    assert!(ok, "{what}: {}\n{}", p.calls(), p.log());
}

/// alice (1000 Hz) calls bob (600 Hz); `by_bob`: bob (the called party)
/// transfers alice to carol (2000 Hz), else alice transfers bob. The
/// tones heard by (transferee, carol), and the transferer's log.
/// `general`: lines for sip.conf's `[general]`.
fn transfer(by_bob: bool, general: &str) -> (Vec<u32>, Vec<u32>, String) {
    let t = Topology::start_full(&[], Some(PLAN), (general, ""));
    let dir = TempDir::new("refer");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0);
    let bob = phone(&dir, &t, "bob", "bob62", 600.0);
    let carol = phone(&dir, &t, "carol", "carol63", 2000.0);
    alice.ctrl("dial", "62").unwrap();
    until(&alice, &bob, "answered", |c| c.contains("ESTABLISHED"));
    std::thread::sleep(Duration::from_millis(1500));
    let (transferer, transferee) = if by_bob { (bob, alice) } else { (alice, bob) };
    transferer.ctrl("transfer", "63").unwrap();
    until_one(&carol, "carol rings and answers", |c| {
        c.contains("ESTABLISHED")
    });
    until_one(
        &transferer,
        "the transferer hangs up after the NOTIFY",
        |c| c.contains("Active calls (0)"),
    );
    std::thread::sleep(Duration::from_millis(2000));
    until_one(&transferee, "still talking", |c| c.contains("ESTABLISHED"));
    transferee.ctrl("hangup", "").unwrap();
    until(&transferee, &carol, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    let log = transferer.log();
    (tones(&transferee.heard()), tones(&carol.heard()), log)
}

#[test]
fn the_called_party_transfers_the_caller_to_a_third_phone() {
    let (alice, carol, bob_log) = transfer(true, "");
    assert!(near(&alice, 600) >= 8, "alice heard bob first: {alice:?}");
    assert!(near(&alice, 2000) >= 10, "then carol: {alice:?}");
    let first = |f| alice.iter().position(|&x: &u32| x.abs_diff(f) <= 60);
    assert!(first(600) < first(2000), "{alice:?}");
    assert!(near(&carol, 1000) >= 10, "carol hears alice: {carol:?}");
    assert_eq!(near(&carol, 600), 0, "not bob: {carol:?}");
    assert!(
        bob_log.contains("63"),
        "bob's phone sent the REFER:\n{bob_log}"
    );
}

#[test]
fn the_caller_transfers_the_called_party_to_a_third_phone() {
    let (bob, carol, _) = transfer(false, "");
    assert!(near(&bob, 1000) >= 8, "bob heard alice first: {bob:?}");
    assert!(near(&bob, 2000) >= 10, "then carol: {bob:?}");
    assert!(near(&carol, 600) >= 10, "carol hears bob: {carol:?}");
    assert_eq!(near(&carol, 1000), 0, "not alice: {carol:?}");
}

#[test]
fn transfers_of_anchored_calls_keep_the_relay() {
    // directmedia=no: the call is anchored before the REFER, so no
    // re-INVITE; the relay's caller leg goes on to carol.
    let (alice, carol, _) = transfer(true, "directmedia=no\n");
    assert!(near(&alice, 600) >= 8, "alice heard bob first: {alice:?}");
    assert!(near(&alice, 2000) >= 10, "then carol: {alice:?}");
    assert!(near(&carol, 1000) >= 10, "carol hears alice: {carol:?}");
    let (bob, carol, _) = transfer(false, "directmedia=no\n");
    assert!(near(&bob, 2000) >= 10, "bob then hears carol: {bob:?}");
    assert!(near(&carol, 600) >= 10, "carol hears bob: {carol:?}");
}
