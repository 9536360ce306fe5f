//! Trunks end to end against a sipp "provider": a phone's call to
//! `9<number>` goes out through `Dial(SIP/itsp/<number>)` with the trunk's
//! From, the provider's challenge is answered with the trunk's credentials
//! (the provider checks the digest), and the call completes; the
//! provider's own INVITE from the trunk's address is not challenged and
//! lands in the trunk's context, while the same INVITE from another port
//! is challenged. A qualified trunk that does not answer its OPTIONS is
//! UNREACHABLE (`asterism sip show peers`) and a Dial to it fails at once
//! with CHANUNAVAIL; once it answers it is OK again.

mod common;

use common::calls::{refused_scenario, scenario, Sipp};
use common::{wait_until, TempDir, Topology};
use std::process::{Command, Stdio};
use std::time::Duration;

const EXTENSIONS: &str = r#"[default]
exten => _9X.,1,Dial(SIP/itsp/${EXTEN:1},20)
exten => _9X.,n,Hangup()
exten => _8X.,1,Dial(SIP/${EXTEN:1}@itsp,20)
exten => _7X.,1,Dial(SIP/itsp/${EXTEN:1},20)
exten => _7X.,n,ExecIf($["${DIALSTATUS}" = "CHANUNAVAIL"]?Congestion():Busy())
[from-itsp]
exten => 4930123,1,Answer()
exten => 4930123,n,Wait(10)
"#;

fn trunk(port: u16) -> String {
    format!(
        "[itsp]\ntype=peer\nhost=127.0.0.1\nport={port}\ndefaultuser=4930123\nsecret=s3cret\nfromuser=4930123\nfromdomain=itsp.test\ninsecure=invite\ncontext=from-itsp\n"
    )
}

/// provider_calls_in.xml expecting `code`, written to `dir`.
fn calls_in(dir: &std::path::Path, code: u16) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("provider_calls_in.xml")).unwrap();
    let jump = if code == 200 {
        ""
    } else {
        "<nop hide=\"true\" next=\"end\"/>"
    };
    let text = text
        .replace("EXPECTED_CODE", &code.to_string())
        .replace("<nop hide=\"true\" test=\"refused\" next=\"end\"/>", jump);
    let p = dir.join(format!("provider_calls_in_{code}.xml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn calls_out_through_a_trunk_that_challenges_complete() {
    let provider_port = asterism_testkit::free_port();
    let t = Topology::start_full(&[], Some(EXTENSIONS), ("", &trunk(provider_port)));
    let sipp = Sipp::local(&t.dir.0);
    for number in ["90301234567", "80301234567"] {
        let provider = sipp.uas(
            t.sip_addr(),
            &scenario("provider_challenges.xml"),
            provider_port,
            0,
        );
        let caller = sipp.call(
            t.sip_addr(),
            &scenario("caller_hangs_up.xml"),
            ("bob", "bob62"),
            number,
            500,
        );
        let provider = provider.join().unwrap();
        assert!(
            provider.success,
            "{number}: provider's side:\n{}",
            provider.output
        );
        assert!(
            caller.success,
            "{number}: caller's side:\n{}",
            caller.output
        );
    }
}

#[test]
fn the_providers_invite_is_known_by_its_address_and_not_challenged() {
    let provider_port = asterism_testkit::free_port();
    let t = Topology::start_full(&[], Some(EXTENSIONS), ("", &trunk(provider_port)));
    let dir = TempDir::new("trunk-in");
    let sipp = Sipp::local(&dir.0);
    let run = sipp.run(
        t.sip_addr(),
        &calls_in(&dir.0, 200),
        provider_port,
        &["-s", "4930123", "-d", "300"],
    );
    assert!(
        run.success,
        "from the trunk's address: answered in from-itsp\n{}",
        run.output
    );
    // The same INVITE from another port: a stranger, challenged.
    let other = sipp.port();
    let run = sipp.run(
        t.sip_addr(),
        &calls_in(&dir.0, 401),
        other,
        &["-s", "4930123"],
    );
    assert!(run.success, "from elsewhere: challenged\n{}", run.output);
}

/// `asterism sip show peers` against the edge admin on `port`.
fn show_peers(port: u16) -> String {
    let out = Command::new(asterism_testkit::bin_path("asterism"))
        .args([
            "sip",
            "show",
            "peers",
            "--edge",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_qualified_trunk_that_does_not_answer_is_unreachable_and_not_dialled() {
    let provider_port = asterism_testkit::free_port();
    let peers = format!("{}qualify=300\nqualifyfreq=1\n", trunk(provider_port));
    let t = Topology::start_full(&[], Some(EXTENSIONS), ("", &peers));
    let down = wait_until(Duration::from_secs(10), || {
        show_peers(t.admin_port).contains("UNREACHABLE")
    });
    assert!(down, "nobody answers: {}", show_peers(t.admin_port));
    let text = show_peers(t.admin_port);
    assert!(
        text.contains("itsp") && text.contains("0 online, 1 offline"),
        "{text}"
    );
    // CHANUNAVAIL at once, not a 20 s wait for an INVITE nobody answers.
    let dir = TempDir::new("qualify");
    let sipp = Sipp::local(&dir.0);
    let caller = sipp.call(
        t.sip_addr(),
        &refused_scenario(&dir.0, 503),
        ("bob", "bob62"),
        "70301234567",
        0,
    );
    assert!(
        caller.success,
        "CHANUNAVAIL → Congestion (503):\n{}",
        caller.output
    );
    // The provider comes up: OK again, with its round trip.
    let mut provider = Command::new("sipp")
        .arg("-sf")
        .arg(scenario("provider_options.xml"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &provider_port.to_string(),
            "-nostdin",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    let up = wait_until(Duration::from_secs(15), || {
        show_peers(t.admin_port).contains("OK (")
    });
    let _ = provider.kill();
    let _ = provider.wait();
    assert!(up, "answering again: {}", show_peers(t.admin_port));
}
