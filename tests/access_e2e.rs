//! Who may register and call (issue 11, findings 5, 9 and 10): password
//! guessing gets its source banned (counted in Redis, logged the way
//! Asterisk logs it so fail2ban's asterisk filter reads it) while phones
//! that know their passwords are never slowed; contacts per user are
//! capped; `permit`/`deny`, `host=`, `allowguest` and `alwaysauthreject`
//! do what they do in Asterisk.

mod common;

use common::raw_call::RawCaller;
use common::sip::{nonce_of, status_code, Register, Ua};
use common::Topology;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A UA bound to `ip` (any 127/8 address is this machine).
fn ua_on(ip: &str, target: SocketAddr, user: &str, password: &str) -> Ua {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    Ua {
        sock,
        target,
        user: user.into(),
        password: password.into(),
    }
}

fn register_once(ua: &Ua, call_id: &str) -> Option<String> {
    let port = ua.sock.local_addr().unwrap().port();
    let mut r = Register {
        call_id,
        cseq: 1,
        contacts: vec![format!("<sip:{}@127.0.0.1:{port}>", ua.user)],
        expires: Some(60),
        auth: None,
        branch: format!("z9hG4bK-{call_id}-1"),
    };
    ua.sock.send_to(ua.build(&r).as_bytes(), ua.target).ok()?;
    let first = recv(ua)?;
    if status_code(&first) != Some(401) {
        return Some(first);
    }
    r.cseq = 2;
    r.branch = format!("z9hG4bK-{call_id}-2");
    r.auth = Some((nonce_of(&first)?, "00000001".into()));
    ua.sock.send_to(ua.build(&r).as_bytes(), ua.target).ok()?;
    recv(ua)
}

fn recv(ua: &Ua) -> Option<String> {
    let mut buf = vec![0u8; 65535];
    let (n, _) = ua.sock.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A REGISTER without credentials: answered with a challenge, never a failure.
fn challenge_only(call_id: &str) -> Register<'_> {
    Register {
        call_id,
        cseq: 1,
        contacts: vec![],
        expires: None,
        auth: None,
        branch: format!("z9hG4bK-{call_id}"),
    }
}

fn metric(t: &Topology, start: &str) -> Option<String> {
    let (_, m) = common::http_get(t.edge_http, "/metrics")?;
    m.lines().find(|l| l.starts_with(start)).map(str::to_owned)
}

#[test]
fn password_guessing_bans_the_source_and_is_logged_like_asterisk() {
    let dir = common::TempDir::new("seclog");
    let log = dir.0.join("security.log");
    let t = Topology::start(&[
        ("ASTERISM_BAN_THRESHOLD", "5"),
        ("ASTERISM_SECURITY_LOG", log.to_str().unwrap()),
    ]);
    // An office behind one address, every phone with its password: 100
    // registrations, well past the threshold, none refused.
    let office = t.sipp("register_auth.xml", "udp", 100, 60);
    assert!(office.success, "{}", office.output);
    // A guesser on 127.0.0.2: 403 five times, then nothing at all.
    let guesser = ua_on("127.0.0.2", t.sip_addr(), "alice", "guess");
    for i in 0..5 {
        let r = register_once(&guesser, &format!("guess-{i}")).expect("an answer");
        assert_eq!(status_code(&r), Some(403), "{r}");
    }
    assert_eq!(register_once(&guesser, "guess-5"), None, "banned: dropped");
    // Even the right password from there is refused now.
    let banned = ua_on("127.0.0.2", t.sip_addr(), "alice", "alice61");
    assert_eq!(register_once(&banned, "right-from-banned"), None);
    // alice's own phone elsewhere is untouched.
    let phone = ua_on("127.0.0.3", t.sip_addr(), "alice", "alice61");
    let r = register_once(&phone, "alice-phone").unwrap();
    assert_eq!(status_code(&r), Some(200), "{r}");
    assert_eq!(
        metric(
            &t,
            "asterism_edge_auth_failures_total{reason=\"wrong_password\"}"
        )
        .as_deref(),
        Some("asterism_edge_auth_failures_total{reason=\"wrong_password\"} 5")
    );
    // The log reads like Asterisk's, and fail2ban's asterisk filter finds
    // the guesser's five failures in it.
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].contains("NOTICE[")
            && lines[0].contains(
                "chan_sip.c: Registration from '<sip:alice@127.0.0.1>' failed for '127.0.0.2:"
            )
            && lines[0].ends_with(" - Wrong password"),
        "{text}"
    );
    let filter = std::path::Path::new("/etc/fail2ban/filter.d/asterisk.conf");
    if filter.exists() {
        let out = std::process::Command::new("fail2ban-regex")
            .arg("-v")
            .arg(&log)
            .arg(filter)
            .output()
            .expect("fail2ban-regex");
        let report = String::from_utf8_lossy(&out.stdout);
        // -v lists the host each match names.
        assert!(report.matches("127.0.0.2").count() >= 5, "{report}");
        assert!(
            report.contains("Lines: 5 lines, 0 ignored, 5 matched"),
            "{report}"
        );
    } else {
        panic!("fail2ban is not installed (scripts/test installs it)");
    }
}

#[test]
fn a_user_guessed_from_everywhere_bans_each_further_source_at_once() {
    let t = Topology::start(&[
        ("ASTERISM_BAN_THRESHOLD", "100"),
        ("ASTERISM_BAN_USER_THRESHOLD", "3"),
    ]);
    // Three sources fail once each: bob is at his threshold, not past it,
    // and none of them is banned (a challenge still answers them).
    let mut sources = Vec::new();
    for i in 2..5 {
        let ua = ua_on(&format!("127.0.0.{i}"), t.sip_addr(), "bob", "guess");
        let r = register_once(&ua, &format!("d{i}")).unwrap();
        assert_eq!(status_code(&r), Some(403), "{r}");
        sources.push(ua);
    }
    for (i, ua) in sources.iter().enumerate() {
        let r = ua.send(&challenge_only(&format!("c{i}")));
        assert_eq!(status_code(&r), Some(401), "not banned: {r}");
    }
    // The fourth failure for bob: its source is banned at once.
    let ua = ua_on("127.0.0.9", t.sip_addr(), "bob", "guess");
    let r = register_once(&ua, "d9").unwrap();
    assert_eq!(status_code(&r), Some(403), "{r}");
    ua.sock
        .send_to(ua.build(&challenge_only("c9")).as_bytes(), t.sip_addr())
        .unwrap();
    assert_eq!(recv(&ua), None, "banned at its first failure");
    // bob himself still registers from his own address.
    let bob = ua_on("127.0.0.1", t.sip_addr(), "bob", "bob62");
    let r = register_once(&bob, "bob-real").unwrap();
    assert_eq!(status_code(&r), Some(200), "{r}");
}

#[test]
fn contacts_per_user_are_capped() {
    let t = Topology::start_full(
        &[("ASTERISM_MAX_CONTACTS", "3")],
        None,
        (
            "",
            "[erin]\ntype=friend\nsecret=erin65\nhost=dynamic\nmax_contacts=1\n",
        ),
    );
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let contacts: Vec<String> = (0..301)
        .map(|i| format!("<sip:alice@127.0.0.1:{}>", 20000 + i))
        .collect();
    let r = ua.register("many@test", 1, contacts, Some(60));
    assert_eq!(status_code(&r), Some(403), "{r}");
    assert!(r.contains("max_contacts 3"), "{r}");
    assert!(t.binding_keys("alice").is_empty());
    let three: Vec<String> = (0..3)
        .map(|i| format!("<sip:alice@127.0.0.1:{}>", 21000 + i))
        .collect();
    let r = ua.register("three@test", 1, three, Some(60));
    assert_eq!(status_code(&r), Some(200), "{r}");
    let r = ua.register(
        "fourth@test",
        1,
        vec!["<sip:alice@127.0.0.1:21009>".into()],
        Some(60),
    );
    assert_eq!(status_code(&r), Some(403), "{r}");
    assert_eq!(t.binding_keys("alice").len(), 3);
    // sip.conf's max_contacts=1 for erin: her second phone is refused.
    let erin = Ua::new(t.sip_addr(), "erin", "erin65");
    let r = erin.register(
        "e1@test",
        1,
        vec!["<sip:erin@127.0.0.1:22001>".into()],
        Some(60),
    );
    assert_eq!(status_code(&r), Some(200), "{r}");
    let r = erin.register(
        "e2@test",
        1,
        vec!["<sip:erin@127.0.0.1:22002>".into()],
        Some(60),
    );
    assert_eq!(status_code(&r), Some(403), "{r}");
}

#[test]
fn permit_deny_and_static_hosts_are_enforced() {
    let t = Topology::start_full(
        &[],
        None,
        (
            "",
            "[lan]\ntype=friend\nsecret=lan66\nhost=dynamic\ndeny=0.0.0.0/0.0.0.0\npermit=127.0.0.2/255.255.255.255\n\n[trunk]\ntype=peer\nsecret=trunk67\nhost=203.0.113.5\n",
        ),
    );
    let outside = ua_on("127.0.0.1", t.sip_addr(), "lan", "lan66");
    let r = register_once(&outside, "acl-1").unwrap();
    assert_eq!(status_code(&r), Some(403), "denied address: {r}");
    let inside = ua_on("127.0.0.2", t.sip_addr(), "lan", "lan66");
    let r = register_once(&inside, "acl-2").unwrap();
    assert_eq!(status_code(&r), Some(200), "permitted address: {r}");
    // An INVITE from the denied address with the right password: refused.
    let mut call = RawCaller::new(t.sip_addr(), "lan", "lan66", "acl-call@test");
    let (r, _) = call.invite_with_digest("3666", None);
    assert_eq!(status_code(&r), Some(403), "{r}");
    // host=203.0.113.5: a peer that does not register.
    let trunk = ua_on("127.0.0.1", t.sip_addr(), "trunk", "trunk67");
    let r = register_once(&trunk, "trunk-1").unwrap();
    assert_eq!(status_code(&r), Some(403), "{r}");
    assert!(t.binding_keys("trunk").is_empty());
}

#[test]
fn guests_and_alwaysauthreject_as_configured() {
    // Defaults: no guests, unknown users refused like wrong passwords.
    let t = Topology::start(&[]);
    let mut stranger = RawCaller::new(t.sip_addr(), "nobody", "x", "guest-0@test");
    stranger.send(&stranger.invite("3666", "z9hG4bK-g0", ""));
    let r = stranger.final_response(Duration::from_secs(5)).unwrap();
    assert_eq!(status_code(&r), Some(401), "{r}");
    let unknown = Ua::new(t.sip_addr(), "nobody", "x");
    let r = unknown.register("unknown-0@test", 1, vec![], None);
    assert_eq!(status_code(&r), Some(403), "{r}");
    drop(t);
    // allowguest=yes, alwaysauthreject=no: a stranger's call runs in the
    // [general] context unchallenged; an unknown REGISTER gets 404.
    let t = Topology::start_full(&[], None, ("allowguest=yes\nalwaysauthreject=no\n", ""));
    stranger = RawCaller::new(t.sip_addr(), "nobody", "x", "guest-1@test");
    stranger.send(&stranger.invite("3666", "z9hG4bK-g1", ""));
    let r = stranger.final_response(Duration::from_secs(5)).unwrap();
    assert_eq!(
        status_code(&r),
        Some(200),
        "the echo test answers a guest: {r}"
    );
    let unknown = Ua::new(t.sip_addr(), "nobody", "x");
    let first = unknown.send(&Register {
        call_id: "unknown-1@test",
        cseq: 1,
        contacts: vec![],
        expires: None,
        auth: None,
        branch: "z9hG4bK-u1".into(),
    });
    assert_eq!(status_code(&first), Some(404), "{first}");
    // A known user still authenticates.
    let mut bob = RawCaller::new(t.sip_addr(), "bob", "bob62", "guest-2@test");
    bob.call("3666");
}

const LIMITED: &str = "[general]
static=yes

[default]
exten => 68,1,Dial(SIP/gina,5)
exten => 3666,1,Answer
exten => 3666,2,Echo
";

#[test]
fn call_limit_refuses_a_second_call_in_and_does_not_ring_out() {
    let t = Topology::start_full(
        &[],
        Some(LIMITED),
        (
            "",
            "[gina]\ntype=friend\nsecret=gina68\nhost=dynamic\ncall-limit=1\n",
        ),
    );
    // gina's phone is registered on a socket of its own.
    let phone = Ua::new(t.sip_addr(), "gina", "gina68");
    let contact = format!("<sip:gina@127.0.0.1:{}>", phone.port());
    let r = phone.register("gina-reg@test", 1, vec![contact], Some(60));
    assert_eq!(status_code(&r), Some(200), "{r}");
    // gina's first call is up; her second is refused as Asterisk does.
    let mut first = RawCaller::new(t.sip_addr(), "gina", "gina68", "limit-1@test");
    first.call("3666");
    let mut second = RawCaller::new(t.sip_addr(), "gina", "gina68", "limit-2@test");
    let (r, _) = second.invite_with_digest("3666", None);
    assert!(
        r.starts_with("SIP/2.0 480 Temporarily Unavailable (Call limit)"),
        "{r}"
    );
    // bob calls gina: at her limit she is not rung (CHANUNAVAIL → 480).
    let mut bob = RawCaller::new(t.sip_addr(), "bob", "bob62", "limit-3@test");
    let (r, _) = bob.invite_with_digest("68", None);
    assert_eq!(status_code(&r), Some(480), "{r}");
    phone
        .sock
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        recv(&phone).is_none(),
        "gina's phone rang past her call-limit"
    );
    // Her first call ends: the slot is free, and bob's next call rings her.
    let to_tag = first.to_tag.clone().unwrap();
    first.send(&first.in_dialog("BYE", &first.from_tag, &to_tag, 3, first.port()));
    let r = first.final_response(Duration::from_secs(5)).unwrap();
    assert_eq!(status_code(&r), Some(200), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    let mut again = RawCaller::new(t.sip_addr(), "bob", "bob62", "limit-4@test");
    std::thread::spawn(move || again.invite_with_digest("68", None));
    phone
        .sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let invite = recv(&phone).expect("gina's phone rings");
    assert!(invite.starts_with("INVITE "), "{invite}");
}
