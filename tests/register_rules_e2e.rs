//! The registrar's rules seen on the wire, against separate edge and
//! registrar processes with Redis: retransmissions, qop=auth and RFC 2069
//! digests, replays, several contacts per AOR, fetches, 423, CSeq order,
//! `Contact: *`, stale nonces, unknown users, the cap on Expires.

mod common;

use common::sip::{contacts_of, header, nonce_of, rand_u32, status_code, Register, Ua};
use common::Topology;

fn branch() -> String {
    format!("z9hG4bK-{}", rand_u32())
}

#[test]
fn retransmission_gets_the_same_answer_without_a_second_registrar_call() {
    let t = Topology::start(&[]);
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let msg = ua.build(&Register {
        call_id: "rtx@test",
        cseq: 1,
        contacts: vec![format!("<sip:alice@127.0.0.1:{}>", ua.port())],
        expires: None,
        auth: None,
        branch: branch(),
    });
    let first = ua.send_raw(&msg);
    let again = ua.send_raw(&msg);
    assert_eq!(status_code(&first), Some(401));
    // A second registrar call would carry a new nonce and a new To tag.
    assert_eq!(first, again);
}

#[test]
fn qop_auth_registration_looks_like_asterisks_200() {
    let t = Topology::start(&[]);
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let contact = format!("<sip:alice@127.0.0.1:{};transport=UDP>", ua.port());
    let ok = ua.register("a1@test", 1, vec![contact.clone()], Some(3600));
    assert_eq!(status_code(&ok), Some(200), "{ok}");
    assert_eq!(
        contacts_of(&ok),
        vec![format!("{contact};expires=60")],
        "capped at 60"
    );
    assert_eq!(header(&ok, "Expires"), Some("60"));
    assert!(header(&ok, "Date").is_some_and(|d| d.ends_with("GMT")));
    let via = header(&ok, "Via").unwrap();
    assert!(
        via.contains(&format!(";received=127.0.0.1;rport={}", ua.port())),
        "{via}"
    );
    assert!(header(&ok, "To").unwrap().contains(";tag="));
}

#[test]
fn rfc2069_digest_without_qop_works_like_zoiper() {
    let t = Topology::start(&[]);
    let ua = Ua::new(t.sip_addr(), "bob", "bob62");
    let mut r = Register {
        call_id: "zoiper@test",
        cseq: 1,
        contacts: vec![format!("<sip:bob@127.0.0.1:{};rinstance=2b32>", ua.port())],
        expires: Some(60),
        auth: None,
        branch: branch(),
    };
    let challenge = ua.send(&r);
    let www = header(&challenge, "WWW-Authenticate").unwrap();
    assert!(
        www.starts_with("Digest realm=\"asterisk\", nonce=\""),
        "{www}"
    );
    assert!(
        www.contains("algorithm=MD5") && www.contains("qop=\"auth\""),
        "{www}"
    );
    r.cseq = 2;
    r.branch = branch();
    r.auth = Some((nonce_of(&challenge).unwrap(), String::new()));
    let ok = ua.send(&r);
    assert_eq!(status_code(&ok), Some(200), "{ok}");
}

#[test]
fn a_replayed_response_is_refused() {
    let t = Topology::start(&[]);
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let contacts = vec![format!("<sip:alice@127.0.0.1:{}>", ua.port())];
    let mut r = Register {
        call_id: "replay@test",
        cseq: 1,
        contacts,
        expires: None,
        auth: None,
        branch: branch(),
    };
    let challenge = ua.send(&r);
    r.auth = Some((nonce_of(&challenge).unwrap(), "00000001".into()));
    r.cseq = 2;
    r.branch = branch();
    assert_eq!(status_code(&ua.send(&r)), Some(200));
    // Same nonce and nc, new transaction: a replay.
    r.cseq = 3;
    r.branch = branch();
    let again = ua.send(&r);
    assert_eq!(status_code(&again), Some(401), "{again}");
    // A new nc on the same nonce is fine.
    r.cseq = 4;
    r.branch = branch();
    r.auth = Some((nonce_of(&challenge).unwrap(), "00000002".into()));
    assert_eq!(status_code(&ua.send(&r)), Some(200));
}

#[test]
fn two_phones_one_user_fetch_and_wildcard_removal() {
    let t = Topology::start(&[]);
    let desk = Ua::new(t.sip_addr(), "alice", "alice61");
    let mobile = Ua::new(t.sip_addr(), "alice", "alice61");
    // The contact's user part need not be the AOR (baresip randomises it).
    let c1 = format!("<sip:desk-x1@127.0.0.1:{}>", desk.port());
    let c2 = format!("<sip:mob-9z@127.0.0.1:{}>", mobile.port());
    assert_eq!(
        status_code(&desk.register("desk@test", 1, vec![c1.clone()], None)),
        Some(200)
    );
    let ok = mobile.register("mobile@test", 1, vec![c2.clone()], None);
    assert_eq!(contacts_of(&ok).len(), 2, "{ok}");
    // No Contact: a fetch lists both.
    let fetch = desk.register("desk@test", 10, vec![], None);
    assert_eq!(status_code(&fetch), Some(200));
    assert_eq!(contacts_of(&fetch).len(), 2, "{fetch}");
    // Refreshed at CSeq 21, an older CSeq on the same Call-ID is refused.
    assert_eq!(
        status_code(&desk.register("desk@test", 20, vec![c1.clone()], None)),
        Some(200)
    );
    let old = desk.register("desk@test", 3, vec![c1.clone()], None);
    assert_eq!(status_code(&old), Some(400), "{old}");
    // Expires 0 on one contact removes it.
    let gone = desk.register("desk@test", 25, vec![format!("{c1};expires=0")], None);
    assert_eq!(contacts_of(&gone).len(), 1, "{gone}");
    // Contact: * with Expires: 0 removes all.
    let all = desk.register("desk@test", 30, vec!["*".into()], Some(0));
    assert_eq!(status_code(&all), Some(200), "{all}");
    assert!(contacts_of(&all).is_empty(), "{all}");
    assert!(t.binding_keys("alice").is_empty());
}

#[test]
fn too_brief_unknown_user_and_stale_nonce() {
    let t = Topology::start(&[
        ("ASTERISM_MIN_EXPIRES", "30"),
        ("ASTERISM_NONCE_LIFETIME", "1"),
    ]);
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let brief = ua.register(
        "brief@test",
        1,
        vec![format!("<sip:alice@127.0.0.1:{}>", ua.port())],
        Some(10),
    );
    assert_eq!(status_code(&brief), Some(423), "{brief}");
    assert_eq!(header(&brief, "Min-Expires"), Some("30"));

    let mallory = Ua::new(t.sip_addr(), "mallory", "guess");
    let r = mallory.register(
        "m@test",
        1,
        vec![format!("<sip:mallory@127.0.0.1:{}>", mallory.port())],
        None,
    );
    assert_eq!(
        status_code(&r),
        Some(403),
        "unknown users look like wrong passwords"
    );

    let mut req = Register {
        call_id: "stale@test",
        cseq: 1,
        contacts: vec![],
        expires: None,
        auth: None,
        branch: branch(),
    };
    let challenge = ua.send(&req);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    req.cseq = 2;
    req.branch = branch();
    req.auth = Some((nonce_of(&challenge).unwrap(), "00000001".into()));
    let stale = ua.send(&req);
    assert_eq!(status_code(&stale), Some(401));
    assert!(
        header(&stale, "WWW-Authenticate")
            .unwrap()
            .contains("stale=true"),
        "{stale}"
    );
}
