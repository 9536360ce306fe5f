//! Anchored media end to end: two real softphones (baresip) with
//! `directmedia=no` talk through the media service, one speaking only
//! PCMU and the other only PCMA (transcoded), each hearing the other's
//! tone and never its own; the caller holds (the relay stops sending to
//! it) and resumes (both ways again).

mod common;

use common::baresip::{self, near, tones, until, Baresip};
use common::{http_get, TempDir, Topology};
use std::time::Duration;

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

/// A phone registered as `user` with a microphone playing `freq`, speaking
/// only `codec`.
fn phone(dir: &TempDir, t: &Topology, user: &str, pw: &str, freq: f64, codec: &str) -> Baresip {
    let params = format!("answermode=auto;audio_codecs={codec}");
    baresip::tone_phone(&dir.0, t.sip_port, (user, pw), (freq, 20.0), &params)
}

/// Packets the media service sends per second, over one second.
fn sent_per_second(t: &Topology) -> f64 {
    let out = || {
        let (_, m) = http_get(t.media_http, "/metrics").unwrap();
        metric(&m, "asterism_media_rtp_packets_total{direction=\"out\"}")
    };
    let before = out();
    std::thread::sleep(Duration::from_secs(1));
    out() - before
}

#[test]
fn directmedia_no_relays_both_ways_transcodes_and_holds() {
    let t = Topology::start_full(&[], None, ("directmedia=no\n", ""));
    let dir = TempDir::new("anchor");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0, "PCMU");
    let bob = phone(&dir, &t, "bob", "bob62", 600.0, "PCMA");
    // bob (PCMA only) calls 61; alice (PCMU only) answers by herself.
    bob.ctrl("dial", "61").unwrap();
    until(&alice, &bob, "call established", |c| {
        c.contains("ESTABLISHED")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (_, live) = http_get(t.media_http, "/metrics").unwrap();
    assert!(
        live.contains("asterism_media_sessions_active 1"),
        "one relay:\n{live}"
    );
    let relayed = metric(&live, "asterism_media_rtp_packets_total{direction=\"out\"}");
    assert!(
        relayed >= 100.0,
        "both phones' audio goes through media: {relayed}\n{live}"
    );
    let talking = sent_per_second(&t);
    assert!(talking >= 80.0, "50 packets/s each way: {talking}");
    // bob holds (re-INVITE sendonly): the relay answers it and stops
    // sending to him; alice is not re-INVITEd at all.
    bob.ctrl("hold", "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let holding = sent_per_second(&t);
    assert!(
        holding <= 60.0,
        "nothing towards the holding phone: {holding} packets/s"
    );
    bob.ctrl("resume", "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let resumed = sent_per_second(&t);
    assert!(resumed >= 80.0, "both ways again after resume: {resumed}");
    bob.ctrl("hangup", "").unwrap();
    until(&alice, &bob, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    let freed = common::wait_until(Duration::from_secs(5), || {
        http_get(t.media_http, "/metrics")
            .is_some_and(|(_, m)| m.contains("asterism_media_sessions_active 0"))
    });
    let (_, after) = http_get(t.media_http, "/metrics").unwrap();
    assert!(freed, "relay freed when the call ends:\n{after}");
    let (heard_a, heard_b) = (tones(&alice.heard()), tones(&bob.heard()));
    assert!(
        near(&heard_a, 600) >= 25,
        "alice (PCMU) hears bob's 600 Hz (PCMA): {heard_a:?}"
    );
    assert!(
        near(&heard_b, 1000) >= 12,
        "bob (PCMA) hears alice's 1 kHz (PCMU): {heard_b:?}"
    );
    assert_eq!(
        near(&heard_a, 1000),
        0,
        "alice never hears herself: {heard_a:?}"
    );
    assert_eq!(
        near(&heard_b, 600),
        0,
        "bob never hears himself: {heard_b:?}"
    );
}

#[test]
fn allow_and_dtmfmode_shape_the_answer_a_phone_gets() {
    use common::phone::{sdp, Phone};
    // Every phone: alaw only, SIP INFO for DTMF (no RFC 4733 offered).
    let t = Topology::start_full(&[], None, ("disallow=all\nallow=alaw\ndtmfmode=info\n", ""));
    let mut bob = Phone::new(t.sip_addr(), "bob", "bob62");
    let maps =
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let (code, answer) = bob.call("3666", &sdp(bob.rtp_port(), "0 8 101", maps));
    assert_eq!(code, 200);
    assert!(
        answer.contains("m=audio ") && answer.contains(" RTP/AVP 8\r\n"),
        "PCMA, no events: {answer}"
    );
    bob.hang_up();
    // A phone that offers only what sip.conf does not allow: 488.
    let mut bob = Phone::new(t.sip_addr(), "bob", "bob62");
    let (code, _) = bob.call(
        "3666",
        &sdp(bob.rtp_port(), "0", "a=rtpmap:0 PCMU/8000\r\n"),
    );
    assert_eq!(code, 488, "PCMU only, alaw allowed");
}
