//! The RFC 4475 / RFC 5118 torture messages sent to a running edge (separate
//! edge and registrar processes, Redis) over the transport the manifest
//! names: each answer must be one the manifest's `strict` column allows, and
//! the edge must still answer OPTIONS after every single one.

mod common;

use common::sip::{options_udp, status_code, tcp_exchange, udp_exchange, udp_exchange_on};
use common::Topology;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

fn allowed(strict: &str, code: Option<u16>) -> bool {
    strict.split('|').any(|opt| match (opt, code) {
        ("any", _) => true,
        ("drop", None) => true,
        ("!400", Some(c)) => c != 400,
        (want, Some(c)) => want.parse::<u16>().ok() == Some(c),
        _ => false,
    })
}

#[test]
fn torture_messages_get_allowed_answers_and_the_edge_keeps_serving() {
    let t = Topology::start(&[]);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let wait = Duration::from_millis(500);
    let mut failures = Vec::new();
    let mut rows = 0;
    // Kept open to the end (see udp_exchange_on).
    let mut sockets = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (case, file, transport, strict) = (cols[0], cols[1], cols[4], cols[5]);
        let bytes = std::fs::read(dir.join("messages").join(file)).unwrap();
        let answer = match transport {
            "tcp" => tcp_exchange(t.sip_addr(), &bytes, wait),
            _ => {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                let answer = udp_exchange_on(&s, t.sip_addr(), &bytes, wait);
                sockets.push(s);
                answer
            }
        };
        let code = answer.as_deref().and_then(status_code);
        rows += 1;
        if !allowed(strict, code) {
            failures.push(format!(
                "{case} over {transport}: got {code:?}, allowed {strict}\n{}",
                answer.unwrap_or_default()
            ));
        }
        assert!(
            options_udp(t.sip_addr()).is_some(),
            "edge stopped answering after {case}"
        );
    }
    assert!(rows >= 60, "{rows} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn garbage_and_truncated_input_never_stop_the_edge() {
    let t = Topology::start(&[]);
    let junk: [&[u8]; 6] = [
        b"",
        b"\r\n\r\n",
        b"\x00\x01\x02\xff\xfe",
        b"INVITE",
        b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP [::1\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
    ];
    for j in junk {
        let _ = udp_exchange(t.sip_addr(), j, Duration::from_millis(100));
        let _ = tcp_exchange(t.sip_addr(), j, Duration::from_millis(100));
    }
    assert!(options_udp(t.sip_addr()).is_some());
}
