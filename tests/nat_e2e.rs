//! A phone behind NAT: alice sits on a private LAN (her own network
//! namespace) behind a router that masquerades her behind its WAN address
//! (nftables SNAT on a veth); the PBX and bob are on the WAN. Her SDP and
//! Contact name 192.168.77.2, which the WAN cannot reach, so phone-to-phone
//! media could not work; Asterism sees the address differ from where her
//! packets come from, anchors the call on a media relay, latches onto her
//! NAT mapping, and both hear each other.

mod common;

use common::baresip::{self, near, sine_wav, tones, until, Mic};
use common::netns::{self, NatLab, LAN_PHONE, WAN_PBX};
use common::{http_get, TempDir, Topology};
use std::time::Duration;

#[test]
fn a_phone_behind_nat_and_a_public_one_hear_each_other_through_the_relay() {
    let lab = NatLab::create();
    netns::enter(&lab.wan);
    // The LAN is private: nothing on the WAN routes to it.
    let route = std::process::Command::new("ip")
        .args(["route", "get", LAN_PHONE])
        .output()
        .unwrap();
    assert!(
        !route.status.success(),
        "the WAN has no route to the LAN phone"
    );
    let sip_port = asterism_testkit::free_port();
    let t = Topology::start_full(
        &[
            ("ASTERISM_SIP_BIND", &format!("{WAN_PBX}:{sip_port}")),
            ("ASTERISM_RTP_BIND", WAN_PBX),
            ("ASTERISM_MEDIA_ADVERTISE", WAN_PBX),
        ],
        None,
        ("", ""),
    );
    let dir = TempDir::new("nat");
    let start = |user: &str, pw: &str, freq: f64, ns: Option<&str>, at: &str| {
        let home = dir.0.join(user);
        std::fs::create_dir_all(&home).unwrap();
        let mic = home.join("mic.wav");
        sine_wav(&mic, freq, 20.0);
        let accounts =
            format!("<sip:{user}@{WAN_PBX}:{sip_port}>;auth_pass={pw};regint=60;answermode=auto\n");
        let p = baresip::start_at(ns, at, &home, Mic::Wav(&mic), &accounts);
        assert!(p.registered(), "{user} did not register:\n{}", p.log());
        p
    };
    let alice = start("alice", "alice61", 1000.0, Some(&lab.lan), LAN_PHONE);
    let bob = start("bob", "bob62", 600.0, None, WAN_PBX);
    alice.ctrl("dial", "62").unwrap();
    until(&alice, &bob, "call from behind NAT established", |c| {
        c.contains("ESTABLISHED")
    });
    std::thread::sleep(Duration::from_secs(3));
    let (_, m) = http_get(t.media_http, "/metrics").unwrap();
    assert!(
        m.contains("asterism_media_sessions_active 1"),
        "anchored on a relay:\n{m}"
    );
    alice.ctrl("hangup", "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (heard_a, heard_b) = (tones(&alice.heard()), tones(&bob.heard()));
    assert!(
        near(&heard_a, 600) >= 20,
        "alice behind NAT hears bob: {heard_a:?}"
    );
    assert!(
        near(&heard_b, 1000) >= 20,
        "bob hears alice behind NAT: {heard_b:?}"
    );
    drop(t);
    drop(lab);
}
