//! RFC 4475 / RFC 5118 torture messages through framing, parsing and triage:
//! every row of the manifest must get an answer its `strict` column allows
//! (the TU's final answer to accepted requests is checked end to end by the
//! edge's conformance test).

use asterism_sip::framing::{frame_datagram, frame_stream, leading_crlf};
use asterism_sip::transport::InboundEvent;
use asterism_sip::triage::{triage, Triage};
use asterism_sip::FrameError;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/conformance")
}

#[derive(Debug)]
enum Verdict {
    Drop,
    Code(u16),
    /// Accepted: the TU answers, never with 400 at this layer.
    Accepted,
    /// A stream still waiting for bytes.
    Waiting,
}

fn verdict(bytes: &[u8], tcp: bool) -> Verdict {
    let data = &bytes[leading_crlf(bytes)..];
    let framed = if tcp {
        frame_stream(data)
    } else {
        frame_datagram(data)
    };
    let event = match framed {
        Ok(f) => InboundEvent::parse_frame(data, f),
        Err(FrameError::Incomplete) => return Verdict::Waiting,
        Err(e) => InboundEvent::frame_error(data, e),
    };
    match triage(event) {
        Triage::Drop | Triage::Response(_) => Verdict::Drop,
        Triage::Refuse { reject, .. } => Verdict::Code(reject.code),
        Triage::Accept(_) => Verdict::Accepted,
    }
}

fn allowed(strict: &str, v: &Verdict) -> bool {
    strict.split('|').any(|opt| match (opt, v) {
        ("any", Verdict::Drop | Verdict::Waiting) => opt == "any",
        ("any", _) => true,
        ("drop", Verdict::Drop | Verdict::Waiting) => true,
        ("!400", Verdict::Code(c)) => *c != 400,
        ("!400", Verdict::Accepted) => true,
        (code, Verdict::Code(c)) => code.parse::<u16>().ok() == Some(*c),
        _ => false,
    })
}

#[test]
fn every_torture_message_gets_an_allowed_answer() {
    let manifest = std::fs::read_to_string(data_dir().join("manifest.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (case, file, transport, strict) = (cols[0], cols[1], cols[4], cols[5]);
        let bytes = std::fs::read(data_dir().join("messages").join(file)).unwrap();
        let v = verdict(&bytes, transport == "tcp");
        rows += 1;
        if !allowed(strict, &v) {
            failures.push(format!("{case} ({transport}): got {v:?}, allowed {strict}"));
        }
    }
    assert!(rows >= 60, "manifest read: {rows} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
