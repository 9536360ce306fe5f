//! Floods leave nothing behind (issue 11, findings 3 and 4): every request
//! gets an answer or is dropped by design, and what a stranger can make the
//! edge hold is bounded and freed — the edge's resident memory stays flat
//! under each flood.

mod common;

use common::raw_call::RawCaller;
use common::sip::status_code;
use common::Topology;
use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Answers counted by status code, from a thread draining `sock`.
fn count_answers(
    sock: UdpSocket,
) -> (Arc<Mutex<HashMap<u16, usize>>>, std::thread::JoinHandle<()>) {
    let counts = Arc::new(Mutex::new(HashMap::new()));
    let c = counts.clone();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let h = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let code = status_code(&String::from_utf8_lossy(&buf[..n])).unwrap_or(0);
            *c.lock().unwrap().entry(code).or_insert(0) += 1;
        }
    });
    (counts, h)
}

fn bye(call_id: &str, n: usize, port: u16) -> String {
    format!(
        "BYE sip:61@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-junk{n};rport\r\nFrom: <sip:x@127.0.0.1>;tag=junk{n}\r\nTo: <sip:61@127.0.0.1>;tag=nope\r\nCall-ID: {call_id}\r\nCSeq: {n} BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn junk_byes_are_all_answered_and_leave_no_state() {
    let t = Topology::start(&[]);
    let alice = common::calls::Sipp::local(&t.dir.0).callee(
        t.sip_addr(),
        ("alice", "alice61"),
        "callee_answer.xml",
        0,
    );
    let mut bob = RawCaller::new(t.sip_addr(), "bob", "bob62", "flood-call@test");
    bob.call("61");
    let before = rss_kib(t.edge.pid());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let (counts, reader) = count_answers(sock.try_clone().unwrap());
    // Half at the live call (its task answers 481, or 503 when its queue
    // is full), half at Call-IDs nobody has (481 from the core).
    const N: usize = 30_000;
    for n in 0..N {
        let call_id = if n % 2 == 0 {
            "flood-call@test".to_owned()
        } else {
            format!("junk-{n}@flood")
        };
        sock.send_to(bye(&call_id, n, port).as_bytes(), t.sip_addr())
            .unwrap();
        // ~10,000/s: a flood a debug build takes without socket drops.
        if n % 50 == 49 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    reader.join().unwrap();
    let counts = counts.lock().unwrap().clone();
    let answered: usize = counts.values().sum();
    assert_eq!(answered, N, "every BYE answered: {counts:?}");
    assert!(counts.keys().all(|c| matches!(c, 481 | 503)), "{counts:?}");
    let after = rss_kib(t.edge.pid());
    eprintln!("edge RSS {before} KiB → {after} KiB after {N} junk BYEs");
    assert!(
        after < before + 16 * 1024,
        "edge RSS {before} KiB → {after} KiB after {N} junk BYEs"
    );
    // The call survived it all; bob hangs up.
    let to_tag = bob.to_tag.clone().unwrap();
    bob.send(&bob.in_dialog("BYE", &bob.from_tag, &to_tag, 3, bob.port()));
    let r = bob.final_response(Duration::from_secs(5)).expect("200");
    assert_eq!(status_code(&r), Some(200), "{r}");
    let alice = alice.join().unwrap();
    assert!(alice.success, "{}", alice.output);
}
