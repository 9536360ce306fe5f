//! Message waiting (issue 17): phones subscribe to `message-summary` as
//! sip.conf's `mailbox=` allows, through any edge, and every subscriber of
//! a mailbox gets a NOTIFY when `asterism mwi set` changes its counts;
//! what chan_sip refuses is refused with its codes.

mod common;

use asterism_testkit::bin_path;
use common::calls::{scenario, Sipp};
use common::sip::{md5_hex, nonce_of, rand_u32, status_code};
use common::{http_get, wait_until, Topology};
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// carl and erin share mailbox 61 (erin also has 70); fred may not
/// subscribe; the generated users (alice…) have no mailbox.
const PEERS: &str = "[carl]\ntype=friend\nsecret=carl65\nhost=dynamic\nmailbox=61\n\n\
[erin]\ntype=friend\nsecret=erin66\nhost=dynamic\nmailbox=61@default, 70\nvmexten=*97\n\n\
[fred]\ntype=friend\nsecret=fred67\nhost=dynamic\nmailbox=62\nallowsubscribe=no\n\n";

fn mwi(t: &Topology, args: &[&str]) -> (Option<i32>, String) {
    let registrar = format!("http://127.0.0.1:{}", t.grpc_port);
    let out = Command::new(bin_path("asterism"))
        .args(["mwi", "--registrar", &registrar])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// What sipp's `-trace_err` logged in the test's directory.
fn sipp_errors(t: &Topology) -> String {
    let Ok(dir) = std::fs::read_dir(&t.dir.0) else {
        return String::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("errors"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn subscriptions(http: u16) -> Option<u64> {
    let (_, text) = http_get(http, "/metrics")?;
    text.lines()
        .find_map(|l| l.strip_prefix("asterism_edge_subscriptions "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn subscribers_on_two_edges_hear_the_counts_set_by_the_cli() {
    let t = Topology::start_full(&[("ASTERISM_EDGE_ID", "edge-1")], None, ("", PEERS));
    let (_edge2, edge2, edge2_http) = t.another_edge("edge-2");
    let sipp = Sipp::local(&t.dir.0);
    let sf = scenario("mwi_subscribe.xml");
    let run = |target: SocketAddr, user: &'static str, password: &'static str| {
        let (sipp, sf) = (sipp.clone(), sf.clone());
        let csv = sipp.csv(user, password).display().to_string();
        // sipp's digest names the Request-URI only when told.
        let uri = format!("{user}@{target}");
        std::thread::spawn(move || {
            let args = ["-inf", &csv, "-auth_uri", &uri, "-trace_err"];
            sipp.run(target, &sf, sipp.port(), &args)
        })
    };
    let carl = run(t.sip_addr(), "carl", "carl65");
    let erin = run(edge2, "erin", "erin66");
    let both = wait_until(Duration::from_secs(15), || {
        subscriptions(t.edge_http) == Some(1) && subscriptions(edge2_http) == Some(1)
    });
    if !both {
        let (c, e) = (carl.join().unwrap(), erin.join().unwrap());
        panic!(
            "a subscription on each edge:\n{}\n{}\n{}",
            c.output,
            e.output,
            sipp_errors(&t)
        );
    }
    let (code, out) = mwi(&t, &["set", "61", "2/1"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "Mailbox 61@default set: 2 new, 1 old\n");
    for (who, r) in [("carl", carl), ("erin", erin)] {
        let r = r.join().unwrap();
        assert!(
            r.success,
            "{who}: NOTIFY 0/0, then 2/1, then terminated:\n{}\n{}",
            r.output,
            sipp_errors(&t)
        );
    }
    let (code, out) = mwi(&t, &["show"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("61@default") && out.ends_with("1 mailboxes.\n"),
        "{out}"
    );
    assert_eq!(subscriptions(t.edge_http), Some(0), "unsubscribed");
}

#[test]
fn a_phone_that_never_subscribes_gets_unsolicited_notifies() {
    let t = Topology::start_full(&[], None, ("", PEERS));
    let sipp = Sipp::local(&t.dir.0);
    let port = sipp.port();
    let log = t.dir.0.join("unsolicited.log");
    let phone = {
        let (sipp, sf, log) = (sipp.clone(), scenario("mwi_unsolicited.xml"), log.clone());
        let edge = t.sip_addr();
        std::thread::spawn(move || {
            let log = log.display().to_string();
            let args = ["-trace_msg", "-message_file", &log];
            sipp.run_calls(edge, &sf, port, &["-m", "2"], &args)
        })
    };
    sipp.register(t.sip_addr(), "carl", "carl65", port);
    // Its first NOTIFY (0/0) comes shortly after the 200.
    let first = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Voice-Message"))
    });
    assert!(first, "a NOTIFY after the registration");
    let (code, out) = mwi(&t, &["set", "61@default", "2/1"]);
    assert_eq!(code, Some(0), "{out}");
    let r = phone.join().unwrap();
    assert!(r.success, "two NOTIFYs answered:\n{}", r.output);
    let text = std::fs::read_to_string(&log).unwrap();
    let bodies: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Voice-Message:") || l.starts_with("Messages-Waiting:"))
        .collect();
    assert_eq!(
        bodies,
        [
            "Messages-Waiting: no",
            "Voice-Message: 0/0 (0/0)",
            "Messages-Waiting: yes",
            "Voice-Message: 2/1 (0/0)"
        ],
        "{text}"
    );
    assert!(
        !text.contains("Subscription-State"),
        "out of any subscription"
    );
}

/// A SUBSCRIBE from `user` on its own socket, answered with digest when
/// challenged: the final response.
fn subscribe(edge: SocketAddr, (user, password): (&str, &str), extra: &str) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let uri = format!("sip:{user}@{edge}");
    let call_id = format!("mwi-{}", rand_u32());
    let message = |cseq: u32, auth: &str| {
        format!(
            "SUBSCRIBE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{};rport\r\nFrom: <sip:{user}@127.0.0.1>;tag=t{port}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{extra}{auth}Content-Length: 0\r\n\r\n",
            rand_u32()
        )
    };
    let exchange = |m: String| {
        sock.send_to(m.as_bytes(), edge).unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = sock.recv_from(&mut buf).expect("an answer");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = exchange(message(1, ""));
    if status_code(&first) != Some(401) {
        return first;
    }
    let nonce = nonce_of(&first).unwrap();
    let ha1 = md5_hex(&format!("{user}:asterisk:{password}"));
    let ha2 = md5_hex(&format!("SUBSCRIBE:{uri}"));
    let resp = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
    let auth = format!("Authorization: Digest username=\"{user}\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5\r\n");
    exchange(message(2, &auth))
}

fn first_line(r: &str) -> &str {
    r.lines().next().unwrap_or_default()
}

#[test]
fn what_chan_sip_refuses_is_refused() {
    let t = Topology::start_full(&[], None, ("", PEERS));
    let edge = t.sip_addr();
    let mwi_event = "Event: message-summary\r\n";
    let r = subscribe(edge, ("alice", "alice61"), mwi_event);
    assert_eq!(first_line(&r), "SIP/2.0 404 Not found (no mailbox)", "{r}");
    let r = subscribe(edge, ("fred", "fred67"), mwi_event);
    assert_eq!(first_line(&r), "SIP/2.0 403 Forbidden (policy)", "{r}");
    let r = subscribe(edge, ("carl", "wrong"), mwi_event);
    assert_eq!(status_code(&r), Some(403), "{r}");
    let r = subscribe(edge, ("carl", "carl65"), "Event: presence\r\n");
    assert_eq!(status_code(&r), Some(489), "{r}");
    assert!(r.contains("Allow-Events: message-summary"), "{r}");
    let r = subscribe(edge, ("carl", "carl65"), "");
    assert_eq!(status_code(&r), Some(489), "no Event: {r}");
    let r = subscribe(
        edge,
        ("carl", "carl65"),
        "Event: message-summary\r\nAccept: application/pidf+xml\r\n",
    );
    assert_eq!(status_code(&r), Some(406), "{r}");
    let r = subscribe(
        edge,
        ("carl", "carl65"),
        "Event: message-summary\r\nExpires: 30\r\n",
    );
    assert_eq!(status_code(&r), Some(423), "{r}");
    assert!(r.contains("Min-Expires: 60"), "{r}");
    let r = subscribe(
        edge,
        ("carl", "carl65"),
        "Event: message-summary\r\nExpires: 0\r\n",
    );
    assert_eq!(status_code(&r), Some(200), "an unsubscribe of nothing: {r}");
    let (code, out) = mwi(&t, &["set", "6 1", "1"]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = mwi(&t, &["set", "61", "many"]);
    assert_eq!(code, Some(64), "{out}");
}
