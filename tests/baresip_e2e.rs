//! A real softphone: baresip (headless, `ctrl_tcp`) registers against the
//! all-in-one `asterism` binary and reports the registration OK; an account
//! with a wrong password does not.

mod common;

use asterism_testkit::{free_port, Service};
use common::TempDir;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Baresip(Child);

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_baresip(dir: &std::path::Path, ctrl_port: u16, accounts: &str) -> Baresip {
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nsip_transports udp\naudio_player aufile,/dev/null\naudio_source ausine,440\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule ausine.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
        free_port()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), accounts).unwrap();
    let child = Command::new("baresip")
        .arg("-f")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip must be installed (Debian package baresip)");
    Baresip(child)
}

/// One ctrl_tcp command (netstring-framed JSON); returns the `data` text.
fn ctrl(port: u16, command: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let body = format!("{{\"command\":\"{command}\",\"token\":\"t\"}}");
    s.write_all(format!("{}:{body},", body.len()).as_bytes())
        .ok()?;
    let mut buf = vec![0u8; 16384];
    let n = s.read(&mut buf).ok()?;
    // The data is a JSON string: undo its escapes for line-wise reading.
    Some(String::from_utf8_lossy(&buf[..n]).replace("\\n", "\n"))
}

#[test]
fn baresip_registers_against_the_all_in_one() {
    let dir = TempDir::new("baresip");
    let sip_port = free_port();
    let _pbx = Service::start(
        "asterism",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip_port}")),
            (
                "ASTERISM_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples").to_string(),
            ),
        ],
    );
    let ctrl_port = free_port();
    let accounts = format!(
        "<sip:alice@127.0.0.1:{sip_port}>;auth_pass=alice61;regint=60\n<sip:bob@127.0.0.1:{sip_port}>;auth_pass=not-bobs;regint=60\n"
    );
    let _phone = start_baresip(&dir.0, ctrl_port, &accounts);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(info) = ctrl(ctrl_port, "reginfo") {
            last = info;
            let alice = last.lines().find(|l| l.contains("sip:alice@"));
            let bob = last.lines().find(|l| l.contains("sip:bob@"));
            if let (Some(a), Some(b)) = (alice, bob) {
                if a.contains("OK") && !b.contains("OK") && b.contains("ERR") {
                    eprintln!("{last}");
                    assert!(a.contains("Asterism PBX"), "{a}");
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("alice should be registered and bob refused; baresip says:\n{last}");
}
