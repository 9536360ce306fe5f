//! Phones for the call tests: sipp as caller (UAC with digest) and as a
//! registered callee (UAS in its own thread), against any edge address, so
//! tests with several edges can register and call through different ones.

use super::SippRun;
use asterism_testkit::free_port;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// A one-user sipp CSV in `dir`.
pub fn csv(dir: &Path, user: &str, password: &str) -> PathBuf {
    let p = dir.join(format!("{user}.csv"));
    std::fs::write(
        &p,
        format!("SEQUENTIAL\n{user};{password};[authentication username={user} password={password}];x\n"),
    )
    .unwrap();
    p
}

/// One sipp run of scenario `sf` from local `port` to `target`.
pub fn sipp(dir: &Path, target: SocketAddr, sf: &Path, port: u16, args: &[&str]) -> SippRun {
    let err = dir.join(format!("sipp-{port}.err"));
    let out = Command::new("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(sf)
        .args(["-m", "1", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-timeout",
            "30s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .arg("-error_file")
        .arg(&err)
        .args(args)
        .output()
        .expect("sipp must be installed (Debian package sip-tester)");
    let errors = std::fs::read_to_string(&err).unwrap_or_default();
    SippRun {
        success: out.status.success(),
        output: format!("{}\n{errors}", String::from_utf8_lossy(&out.stdout)),
    }
}

/// Register `user` through `target` with its Contact on local `contact_port`.
pub fn register(dir: &Path, target: SocketAddr, user: &str, password: &str, contact_port: u16) {
    let csv = csv(dir, user, password).display().to_string();
    let reg = sipp(
        dir,
        target,
        &scenario("register_contact.xml"),
        free_port(),
        &[
            "-inf",
            &csv,
            "-key",
            "contact_port",
            &contact_port.to_string(),
            "-key",
            "expires",
            "60",
        ],
    );
    assert!(reg.success, "{user} registers:\n{}", reg.output);
}

/// A sipp UAS running scenario `sf` on `port` in its own thread (answering
/// whatever reaches that port; `target` is where it sends its own BYE).
pub fn uas(
    dir: &Path,
    target: SocketAddr,
    sf: &Path,
    port: u16,
    hold_ms: u32,
) -> JoinHandle<SippRun> {
    let (dir, sf) = (dir.to_owned(), sf.to_owned());
    std::thread::spawn(move || sipp(&dir, target, &sf, port, &["-d", &hold_ms.to_string()]))
}

/// A registered callee: `user` registered through `target`, answering
/// with scenario `sf` (from tests/sipp).
pub fn callee(
    dir: &Path,
    target: SocketAddr,
    user: &str,
    password: &str,
    sf: &str,
    hold_ms: u32,
) -> JoinHandle<SippRun> {
    let port = free_port();
    let handle = uas(dir, target, &scenario(sf), port, hold_ms);
    register(dir, target, user, password, port);
    handle
}

/// `user` calls `number` through `target` with scenario `sf`.
pub fn call(
    dir: &Path,
    target: SocketAddr,
    sf: &Path,
    (user, password): (&str, &str),
    number: &str,
    hold_ms: u32,
) -> SippRun {
    let csv = csv(dir, user, password).display().to_string();
    sipp(
        dir,
        target,
        sf,
        free_port(),
        &["-inf", &csv, "-s", number, "-d", &hold_ms.to_string()],
    )
}

/// caller_refused.xml expecting final response `code`.
pub fn refused_scenario(dir: &Path, code: u16) -> PathBuf {
    let text = std::fs::read_to_string(scenario("caller_refused.xml")).unwrap();
    let p = dir.join(format!("caller_refused_{code}.xml"));
    std::fs::write(&p, text.replace("EXPECTED_CODE", &code.to_string())).unwrap();
    p
}

/// Both phones' runs succeeded.
pub fn both(caller: SippRun, callee: JoinHandle<SippRun>) {
    let callee = callee.join().unwrap();
    assert!(caller.success, "caller failed:\n{}", caller.output);
    assert!(callee.success, "callee failed:\n{}", callee.output);
}
