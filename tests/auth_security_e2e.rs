//! Credentials are good for one request (issue 11, finding 6): a captured
//! authenticated INVITE replayed from elsewhere does not reach the
//! dialplan, and a digest computed for one Request-URI does not ring
//! another number.

mod common;

use common::raw_call::RawCaller;
use common::sip::{nonce_of, status_code};
use common::Topology;
use std::time::Duration;

/// alice calls 62 (bob, not registered: 480 once the dialplan ran): the
/// authenticated INVITE as sent, and the final answer it got.
fn authenticated_invite(t: &Topology, call_id: &str) -> (RawCaller, String, String) {
    let mut alice = RawCaller::new(t.sip_addr(), "alice", "alice61", call_id);
    let (r, invite) = alice.invite_with_digest("62", None);
    (alice, invite, r)
}

#[test]
fn a_replayed_invite_from_another_port_is_challenged_not_run() {
    let t = Topology::start(&[]);
    let (alice, invite, first) = authenticated_invite(&t, "replay-1@test");
    assert_eq!(status_code(&first), Some(480), "the dialplan ran: {first}");
    // Mallory captured it and sends it again from her own port, as a new
    // transaction (the digest does not cover the Via; the same Via would
    // only get the old transaction's answer again).
    let mallory = RawCaller::new(t.sip_addr(), "alice", "x", "replay-1@test");
    let via = format!("127.0.0.1:{};branch=z9hG4bK-replay-1-test-2", alice.port());
    let mine = format!("127.0.0.1:{};branch=z9hG4bK-mallory", mallory.port());
    mallory.send(&invite.replace(&via, &mine));
    let r = mallory
        .final_response(Duration::from_secs(5))
        .expect("an answer");
    assert_eq!(status_code(&r), Some(401), "challenged, not run: {r}");
    assert!(r.contains("stale=true"), "{r}");
    // And as a new transaction from the very same port, too.
    let again = invite.replace("z9hG4bK-replay-1-test-2", "z9hG4bK-replay-1-test-9");
    alice.send(&again);
    let r = alice
        .final_response(Duration::from_secs(5))
        .expect("an answer");
    assert_eq!(status_code(&r), Some(401), "{r}");
}

#[test]
fn a_digest_for_one_number_does_not_ring_another() {
    let t = Topology::start(&[]);
    let mut alice = RawCaller::new(t.sip_addr(), "alice", "alice61", "uri-swap@test");
    // The digest names 62, the INVITE goes to 3666.
    let uri = format!("sip:62@{}", t.sip_addr());
    let (r, _) = alice.invite_with_digest("3666", Some(&uri));
    assert_eq!(status_code(&r), Some(403), "{r}");
}

#[test]
fn a_register_digest_must_name_its_request_uri() {
    let t = Topology::start(&[]);
    let ua = common::sip::Ua::new(t.sip_addr(), "alice", "alice61");
    let mut reg = common::sip::Register {
        call_id: "reg-uri@test",
        cseq: 1,
        contacts: vec![format!("<sip:alice@127.0.0.1:{}>", ua.port())],
        expires: Some(60),
        auth: None,
        branch: "z9hG4bK-ru-1".into(),
    };
    let first = ua.send(&reg);
    assert_eq!(status_code(&first), Some(401), "{first}");
    reg.cseq = 2;
    reg.branch = "z9hG4bK-ru-2".into();
    reg.auth = Some((nonce_of(&first).unwrap(), "00000001".into()));
    // The digest is computed for the right URI, then the Request-URI changes.
    let msg = ua.build(&reg).replacen(
        &format!("REGISTER sip:{}", t.sip_addr()),
        "REGISTER sip:elsewhere.example",
        1,
    );
    let r = ua.send_raw(&msg);
    assert_eq!(status_code(&r), Some(403), "{r}");
    assert!(t.binding_keys("alice").is_empty());
}
