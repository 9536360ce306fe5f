//! Blind transfer by REFER with real softphones (baresip's `transfer`)
//! through every service: alice calls bob (media phone to phone), one of
//! them transfers the other to 63 (`Dial(SIP/carol)`), and the transferee
//! ends up talking to carol — re-INVITEd onto a media session of its own,
//! then anchored to carol by the next Dial — while the transferer's phone
//! hangs up after the NOTIFY, as it does with Asterisk. With
//! `directmedia=no` the call is anchored already and the relay carries on.
//! Attended transfer (REFER with Replaces): bob (a scripted phone on raw
//! UDP, as baresip 1.0 has none) answers alice, calls carol and REFERs
//! alice with `Replaces` naming his dialog with carol; the edge bridges
//! alice and carol through a new relay and NOTIFYs bob `200 OK`.

mod common;

use common::baresip::{self, near, tones, until, until_one, Baresip};
use common::raw_call::{tag_in, RawCaller};
use common::sip::{header, status_code, Ua};
use common::{TempDir, Topology};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PLAN: &str = "[default]\n\
exten => 62,1,Dial(SIP/bob,20)\n\
exten => 63,1,Dial(SIP/carol,20)\n\
exten => 71,1,Answer()\n\
 same => n,Transfer(SIP/63)\n\
 same => n,Set(DB(test/xfer)=${TRANSFERSTATUS})\n";

fn phone(dir: &TempDir, t: &Topology, user: &str, pw: &str, freq: f64) -> Baresip {
    let params = "answermode=auto;audio_codecs=PCMU";
    baresip::tone_phone(&dir.0, t.sip_port, (user, pw), (freq, 30.0), params)
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

/// The next message on `ua`'s socket that `want` accepts (5 s at most).
fn next(ua: &Ua, what: &str, want: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65535];
    while Instant::now() < until {
        if let Ok((n, _)) = ua.sock.recv_from(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if want(&m) {
                return m;
            }
        }
    }
    panic!("no {what}");
}

/// The response to request `req` (its Via, From, To, Call-ID, CSeq), with
/// our To tag when it has none and `extra` lines.
fn answer(req: &str, code: u16, to_tag: &str, extra: &str) -> String {
    let h = |n| header(req, n).unwrap_or_default();
    let to = if h("To").contains("tag=") {
        h("To").to_owned()
    } else {
        format!("{};tag={to_tag}", h("To"))
    };
    let reason = if code == 200 { "OK" } else { "Whatever" };
    format!(
        "SIP/2.0 {code} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}",
        h("Via"),
        h("From"),
        h("Call-ID"),
        h("CSeq")
    )
}

#[test]
fn bob_transfers_alice_to_carol_after_talking_to_her() {
    let t = Topology::start_with(&[], Some(PLAN));
    let edge: SocketAddr = format!("127.0.0.1:{}", t.sip_port).parse().unwrap();
    let dir = TempDir::new("attended");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0);
    let carol = phone(&dir, &t, "carol", "carol63", 2000.0);
    // Bob registers his raw phone.
    let bob = Ua::new(edge, "bob", "bob62");
    let contact = format!("<sip:bob@127.0.0.1:{}>", bob.port());
    let ok = bob.register("bob-reg", 1, vec![contact.clone()], Some(60));
    assert_eq!(status_code(&ok), Some(200), "{ok}");
    // Alice calls 62: bob answers.
    alice.ctrl("dial", "62").unwrap();
    let invite = next(&bob, "INVITE", |m| m.starts_with("INVITE "));
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = format!(
        "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        rtp.local_addr().unwrap().port()
    );
    let extra = format!(
        "Contact: {contact}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    bob.sock
        .send_to(answer(&invite, 200, "bob1", &extra).as_bytes(), edge)
        .unwrap();
    next(&bob, "ACK", |m| m.starts_with("ACK "));
    until_one(&alice, "alice talks to bob", |c| c.contains("ESTABLISHED"));
    // Bob calls carol (63) from a second line.
    let mut line2 = RawCaller::new(edge, "bob", "bob62", "bob-to-carol@127.0.0.1");
    line2.call("63");
    until_one(&carol, "carol answers bob", |c| c.contains("ESTABLISHED"));
    std::thread::sleep(Duration::from_millis(1000));
    // Bob REFERs alice's dialog, replacing his dialog with carol.
    let edge_contact = header(&invite, "Contact").unwrap_or_default();
    let target = edge_contact.trim_matches(['<', '>']);
    let replaces = format!(
        "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
        line2.call_id.replace('@', "%40"),
        line2.to_tag.clone().unwrap_or_default(),
        line2.from_tag
    );
    // A request of bob in alice's dialog.
    let in_dialog = |method: &str, cseq: u32, extra: &str| {
        let h = |n| header(&invite, n).unwrap_or_default();
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{method}-{cseq};rport\r\nFrom: {from};tag=bob1\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
            port = bob.port(),
            from = h("To"),
            to = h("From"),
            cid = h("Call-ID"),
        )
    };
    let refer = in_dialog(
        "REFER",
        7,
        &format!("Contact: {contact}\r\nRefer-To: <sip:63@127.0.0.1?Replaces={replaces}>\r\nReferred-By: <sip:bob@127.0.0.1>\r\n"),
    );
    // A REFER outside any dialog is declined as chan_sip declines it.
    let stray = format!(
        "REFER sip:62@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-stray;rport\r\nFrom: <sip:bob@127.0.0.1>;tag=s1\r\nTo: <sip:62@127.0.0.1>\r\nCall-ID: stray-refer\r\nCSeq: 1 REFER\r\nRefer-To: <sip:63@127.0.0.1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        bob.port()
    );
    bob.sock.send_to(stray.as_bytes(), edge).unwrap();
    let declined = next(&bob, "603", |m| m.contains("stray-refer"));
    assert!(
        declined.starts_with("SIP/2.0 603 Declined (No dialog)"),
        "{declined}"
    );
    bob.sock.send_to(refer.as_bytes(), edge).unwrap();
    let accepted = next(&bob, "202", |m| {
        m.contains("REFER") && status_code(m).is_some()
    });
    assert_eq!(status_code(&accepted), Some(202), "{accepted}");
    let notify = next(&bob, "NOTIFY", |m| m.starts_with("NOTIFY "));
    bob.sock
        .send_to(
            answer(&notify, 200, "x", "Content-Length: 0\r\n\r\n").as_bytes(),
            edge,
        )
        .unwrap();
    assert!(notify.contains("SIP/2.0 200 OK"), "{notify}");
    assert!(notify.contains("refer;id=7"), "{notify}");
    // Bob hangs up the line to alice, as a phone does after the NOTIFY.
    let bye = in_dialog("BYE", 8, "");
    bob.sock.send_to(bye.as_bytes(), edge).unwrap();
    let bye_ok = next(&bob, "BYE's 200", |m| {
        m.contains("BYE") && status_code(m).is_some()
    });
    assert_eq!(status_code(&bye_ok), Some(200), "{bye_ok}");
    assert!(header(&bye_ok, "To").and_then(tag_in).is_some(), "{bye_ok}");
    // Alice and carol talk.
    std::thread::sleep(Duration::from_millis(2500));
    until(&alice, &carol, "alice and carol talk", |c| {
        c.contains("ESTABLISHED")
    });
    alice.ctrl("hangup", "").unwrap();
    until(&alice, &carol, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    let (heard_a, heard_c) = (tones(&alice.heard()), tones(&carol.heard()));
    assert!(near(&heard_a, 2000) >= 10, "alice hears carol: {heard_a:?}");
    assert!(near(&heard_c, 1000) >= 10, "carol hears alice: {heard_c:?}");
}

#[test]
fn transfer_app_sends_the_callers_phone_elsewhere() {
    let t = Topology::start_with(&[], Some(PLAN));
    let dir = TempDir::new("transfer-app");
    let alice = phone(&dir, &t, "alice", "alice61", 1000.0);
    let carol = phone(&dir, &t, "carol", "carol63", 2000.0);
    // 71 answers, then Transfer(SIP/63): alice's phone is REFERred to
    // 63 and calls carol itself.
    alice.ctrl("dial", "71").unwrap();
    until_one(&carol, "carol rings and answers", |c| {
        c.contains("ESTABLISHED")
    });
    std::thread::sleep(Duration::from_millis(2000));
    until_one(&alice, "alice talks to carol", |c| {
        c.contains("ESTABLISHED")
    });
    alice.ctrl("hangup", "").unwrap();
    until(&alice, &carol, "both hung up", |c| {
        c.contains("Active calls (0)")
    });
    let log = alice.log();
    let (heard_a, heard_c) = (tones(&alice.heard()), tones(&carol.heard()));
    assert!(near(&heard_a, 2000) >= 10, "alice hears carol: {heard_a:?}");
    assert!(near(&heard_c, 1000) >= 10, "carol hears alice: {heard_c:?}");
    assert!(
        log.contains("63"),
        "alice's phone was referred to 63:\n{log}"
    );
    // The dialplan went on after Transfer() with its status.
    let out = std::process::Command::new(asterism_testkit::bin_path("asterism"))
        .args([
            "database",
            "--router",
            &format!("http://127.0.0.1:{}", t.router_port),
        ])
        .args(["get", "test", "xfer"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Value: SUCCESS\n");
}
