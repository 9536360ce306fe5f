//! Dialplans that answer before they dial, and music on hold, with real
//! softphones (baresip) through every service: `Answer`, `Playback`, then
//! `Dial` — the caller hears the prompt, then the callee, on the SDP it
//! was answered with — and the held phone hears the class's music until
//! the other resumes; `Dial(…,m)` plays music instead of ringing until
//! the callee answers; `Dial(…,L(x:y))` says the time left to the caller
//! and ends the call at the limit; a Local channel that answers and
//! plays before it dials does so on the caller's channel; with
//! `Dial(…,t)` the called party's `#` and an extension transfer the caller,
//! with `T` the caller's transfer the called party; `MusicOnHold(,2)`
//! plays the caller's class for two seconds, then the dialplan goes on.

mod common;

use common::baresip::{self, near, sine_wav, tones, until, Baresip};
use common::{TempDir, Topology};
use std::time::Duration;

const PLAN: &str = "[default]\n\
exten => 63,1,Answer()\n\
 same => n,Playback(beep)\n\
 same => n,Dial(SIP/alice,20)\n\
exten => 64,1,Dial(SIP/alice,20,m)\n\
exten => 65,1,Dial(SIP/alice,20,L(4000:2000))\n\
exten => 66,1,Dial(Local/ivr@local)\n\
exten => 67,1,Dial(SIP/alice,20,t)\n\
exten => 69,1,Dial(SIP/alice,20,T)\n\
exten => 68,1,Playback(beep)\n\
 same => n,Hangup()\n\
exten => 70,1,Answer()\n\
 same => n,MusicOnHold(,2)\n\
 same => n,Playback(beep)\n\
 same => n,Hangup()\n\
[local]\n\
exten => ivr,1,Answer()\n\
 same => n,Playback(beep)\n\
 same => n,Dial(SIP/alice,20)\n";

fn phone(dir: &TempDir, t: &Topology, user: &str, pw: &str, freq: f64, answer: &str) -> Baresip {
    let params = format!("answermode={answer};audio_codecs=PCMU");
    baresip::tone_phone(&dir.0, t.sip_port, (user, pw), (freq, 30.0), &params)
}

/// A PBX with a 300 Hz `beep` prompt and 1500 Hz music in the default class.
fn pbx() -> Topology {
    let t = Topology::start_with(&[], Some(PLAN));
    let sounds = t.dir.0.join("sounds/en");
    std::fs::create_dir_all(&sounds).unwrap();
    sine_wav(&sounds.join("beep.wav"), 300.0, 1.0);
    // "You have 2 seconds": 700 Hz, 2 kHz, 700 Hz.
    std::fs::create_dir_all(sounds.join("digits")).unwrap();
    sine_wav(&sounds.join("vm-youhave.wav"), 700.0, 0.4);
    sine_wav(&sounds.join("digits/2.wav"), 2000.0, 0.4);
    sine_wav(&sounds.join("queue-seconds.wav"), 700.0, 0.4);
    sine_wav(&sounds.join("pbx-transfer.wav"), 2000.0, 0.6);
    std::fs::create_dir_all(t.dir.0.join("moh")).unwrap();
    sine_wav(&t.dir.0.join("moh/tune.wav"), 1500.0, 5.0);
    t
}

/// One of them hangs up; once both phones see no call, the tones each heard
/// (alice's, bob's).
fn hang_up(alice: Baresip, bob: Baresip, by_alice: bool) -> (Vec<u32>, Vec<u32>) {
    let who = if by_alice { &alice } else { &bob };
    who.ctrl("hangup", "").unwrap();
    until(&alice, &bob, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    (tones(&alice.heard()), tones(&bob.heard()))
}

#[test]
fn answer_playback_then_dial_and_music_while_held() {
    let t = pbx();
    let dir = TempDir::new("music-hold");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "auto");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "auto");
    bob.ctrl("dial", "63").unwrap();
    until(
        &alice,
        &bob,
        "answered, prompt played, alice dialled",
        |c| c.contains("ESTABLISHED"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Alice holds: bob hears the music; alice resumes: bob hears her.
    alice.ctrl("hold", "").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    alice.ctrl("resume", "").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (heard_a, heard_b) = hang_up(alice, bob, false);
    assert!(
        near(&heard_b, 300) >= 5,
        "bob hears the prompt: {heard_b:?}"
    );
    assert!(near(&heard_b, 1000) >= 15, "then alice: {heard_b:?}");
    assert!(near(&heard_b, 1500) >= 8, "music while held: {heard_b:?}");
    // baresip stops recording a phone that holds: alice's recording ends
    // there (her side after the resume is covered by the relay's tests).
    assert!(near(&heard_a, 600) >= 8, "alice hears bob: {heard_a:?}");
    assert_eq!(near(&heard_a, 1500), 0, "the holder hears no music");
    // The music came between alice's audio: before and after it.
    let first = |f| heard_b.iter().position(|&x| x.abs_diff(f) <= 60);
    let last = |f| heard_b.iter().rposition(|&x| x.abs_diff(f) <= 60);
    assert!(first(300) < first(1000), "prompt first: {heard_b:?}");
    assert!(
        first(1000) < first(1500) && last(1500) < last(1000),
        "{heard_b:?}"
    );
}

#[test]
fn music_on_hold_plays_for_its_duration_then_the_dialplan_goes_on() {
    let t = pbx();
    let dir = TempDir::new("music-app");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "auto");
    bob.ctrl("dial", "70").unwrap();
    until(&bob, &bob, "answered", |c| c.contains("ESTABLISHED"));
    until(&bob, &bob, "the PBX hung up after the beep", |c| {
        c.contains("Active calls (0)")
    });
    let heard = tones(&bob.heard());
    assert!(near(&heard, 1500) >= 10, "two seconds of music: {heard:?}");
    assert!(near(&heard, 1500) <= 30, "not more: {heard:?}");
    assert!(near(&heard, 300) >= 5, "then the beep: {heard:?}");
    let last_music = heard.iter().rposition(|&x| x.abs_diff(1500) <= 60);
    let first_beep = heard.iter().position(|&x| x.abs_diff(300) <= 60);
    assert!(
        last_music < first_beep,
        "the music stopped first: {heard:?}"
    );
}

#[test]
fn dial_m_plays_music_until_the_callee_answers() {
    let t = pbx();
    let dir = TempDir::new("music-m");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "manual");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "auto");
    bob.ctrl("dial", "64").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    alice.ctrl("accept", "").unwrap();
    until(&alice, &bob, "alice answered", |c| {
        c.contains("ESTABLISHED")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (heard_a, heard_b) = hang_up(alice, bob, false);
    assert!(
        near(&heard_b, 1500) >= 10,
        "music while ringing: {heard_b:?}"
    );
    assert!(near(&heard_b, 1000) >= 8, "then alice: {heard_b:?}");
    let last_music = heard_b.iter().rposition(|&x| x.abs_diff(1500) <= 60);
    let first_alice = heard_b.iter().position(|&x| x.abs_diff(1000) <= 60);
    assert!(
        last_music < first_alice,
        "the music stops on the answer: {heard_b:?}"
    );
    assert!(near(&heard_a, 600) >= 8, "alice hears bob: {heard_a:?}");
    assert_eq!(near(&heard_a, 1500), 0, "and no music: {heard_a:?}");
}

#[test]
fn dial_l_says_the_time_left_then_ends_the_call() {
    let t = pbx();
    let dir = TempDir::new("music-l");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "auto");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "auto");
    bob.ctrl("dial", "65").unwrap();
    until(&alice, &bob, "answered", |c| c.contains("ESTABLISHED"));
    // Nobody hangs up: the limit ends the call on both phones.
    until(&alice, &bob, "cut at the limit", |c| {
        c.contains("Active calls (0)")
    });
    let (heard_a, heard_b) = (tones(&alice.heard()), tones(&bob.heard()));
    assert!(near(&heard_b, 2000) >= 2, "bob hears \"2\": {heard_b:?}");
    assert!(
        near(&heard_b, 700) >= 4,
        "\"you have … seconds\": {heard_b:?}"
    );
    assert!(
        near(&heard_b, 1000) >= 10,
        "and alice around it: {heard_b:?}"
    );
    assert_eq!(
        near(&heard_a, 2000),
        0,
        "the callee is not told: {heard_a:?}"
    );
    assert!(near(&heard_a, 600) >= 10, "alice hears bob: {heard_a:?}");
}

#[test]
fn a_local_channel_answers_plays_then_dials() {
    let t = pbx();
    let dir = TempDir::new("music-local");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "auto");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "auto");
    bob.ctrl("dial", "66").unwrap();
    until(&alice, &bob, "the Local channel dialled alice", |c| {
        c.contains("ESTABLISHED")
    });
    std::thread::sleep(Duration::from_millis(1500));
    // No g: alice hanging up ends the Local channel, then bob's call.
    let (heard_a, heard_b) = hang_up(alice, bob, true);
    let first = |f| heard_b.iter().position(|&x: &u32| x.abs_diff(f) <= 60);
    assert!(
        near(&heard_b, 300) >= 5,
        "bob hears the Local channel's prompt: {heard_b:?}"
    );
    assert!(near(&heard_b, 1000) >= 8, "then alice: {heard_b:?}");
    assert!(first(300) < first(1000), "{heard_b:?}");
    assert!(near(&heard_a, 600) >= 8, "alice hears bob: {heard_a:?}");
}

/// Bob dials `exten` (a Dial with t or T) and alice answers; then the
/// transferer (alice with t, bob with T) presses # 6 8: it is hung up and
/// the other party hears 68's prompt after the transferer's tone.
fn blind_transfer(exten: &str, by_callee: bool) {
    let t = pbx();
    let dir = TempDir::new("transfer");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "auto");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "auto");
    bob.ctrl("dial", exten).unwrap();
    until(&alice, &bob, "answered", |c| c.contains("ESTABLISHED"));
    std::thread::sleep(Duration::from_millis(1000));
    let (transferer, tone) = if by_callee {
        (&alice, 1000)
    } else {
        (&bob, 600)
    };
    for digit in ["#", "6", "8"] {
        transferer.ctrl("sndcode", digit).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    until(&alice, &bob, "transferred, then hung up by 68", |c| {
        c.contains("Active calls (0)")
    });
    let (heard_a, heard_b) = (tones(&alice.heard()), tones(&bob.heard()));
    let (by, other) = if by_callee {
        (heard_a, heard_b)
    } else {
        (heard_b, heard_a)
    };
    assert!(
        near(&by, 2000) >= 3,
        "the transferer hears pbx-transfer: {by:?}"
    );
    let first = |f| other.iter().position(|&x: &u32| x.abs_diff(f) <= 60);
    assert!(
        near(&other, tone) >= 8,
        "the other hears the transferer: {other:?}"
    );
    assert!(near(&other, 300) >= 5, "then 68's prompt: {other:?}");
    assert!(first(tone) < first(300), "{other:?}");
    assert_eq!(
        near(&other, 2000),
        0,
        "pbx-transfer is the transferer's alone"
    );
    assert_eq!(near(&by, 300), 0, "68's prompt is the transferee's alone");
}

#[test]
fn dial_t_lets_the_called_party_transfer_the_caller() {
    blind_transfer("67", true);
}

#[test]
fn dial_cap_t_lets_the_caller_transfer_the_called_party() {
    blind_transfer("69", false);
}
