//! Phones for the call tests: sipp as caller (UAC with digest) and as a
//! registered callee (UAS in its own thread), against any edge address and
//! from any host (loopback, or a network namespace of `scripts/topology`),
//! so tests with several edges can register and call through different ones.

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

/// Where sipp runs: its working directory (CSVs, error logs), the address
/// it binds, and the network namespace it runs in, if any.
#[derive(Clone)]
pub struct Sipp {
    pub dir: PathBuf,
    pub ip: String,
    pub netns: Option<String>,
}

impl Sipp {
    /// sipp on 127.0.0.1 of this host.
    pub fn local(dir: &Path) -> Sipp {
        Sipp {
            dir: dir.to_owned(),
            ip: "127.0.0.1".into(),
            netns: None,
        }
    }

    /// sipp inside network namespace `netns`, bound to `ip`.
    pub fn inside(dir: &Path, netns: &str, ip: &str) -> Sipp {
        Sipp {
            dir: dir.to_owned(),
            ip: ip.into(),
            netns: Some(netns.into()),
        }
    }

    /// A free port (namespaces have all ports free; loopback asks the kernel).
    pub fn port(&self) -> u16 {
        free_port()
    }

    /// A one-user sipp CSV.
    pub fn csv(&self, user: &str, password: &str) -> PathBuf {
        let p = self.dir.join(format!("{user}.csv"));
        std::fs::write(
            &p,
            format!("SEQUENTIAL\n{user};{password};[authentication username={user} password={password}];x\n"),
        )
        .unwrap();
        p
    }

    fn command(&self) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "sipp"]);
                c
            }
            None => Command::new("sipp"),
        }
    }

    /// One sipp run of scenario `sf` from local `port` to `target`.
    pub fn run(&self, target: SocketAddr, sf: &Path, port: u16, args: &[&str]) -> SippRun {
        self.run_calls(target, sf, port, &["-m", "1"], args)
    }

    /// `calls` runs of scenario `sf` at `rate` per second, users from `csv`
    /// (`[expires]` 60 for REGISTER scenarios).
    pub fn load(
        &self,
        target: SocketAddr,
        sf: &Path,
        csv: &Path,
        calls: usize,
        rate: u32,
    ) -> SippRun {
        let csv = csv.display().to_string();
        let (calls, rate) = (calls.to_string(), rate.to_string());
        let count = ["-m", calls.as_str(), "-r", rate.as_str()];
        let args = ["-inf", &csv, "-key", "expires", "60"];
        self.run_calls(target, sf, self.port(), &count, &args)
    }

    pub fn run_calls(
        &self,
        target: SocketAddr,
        sf: &Path,
        port: u16,
        count: &[&str],
        args: &[&str],
    ) -> SippRun {
        let err = self.dir.join(format!("sipp-{}-{port}.err", self.ip));
        let out = self
            .command()
            .current_dir(&self.dir)
            .arg(target.to_string())
            .arg("-sf")
            .arg(sf)
            .args(count)
            .args(["-i", &self.ip, "-p", &port.to_string()])
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

    /// Register `user` through `target` with its Contact on `contact_port`.
    pub fn register(&self, target: SocketAddr, user: &str, password: &str, contact_port: u16) {
        self.register_for(target, (user, password), contact_port, 60);
    }

    /// [`Sipp::register`] with `expires` (0 removes the binding).
    pub fn register_for(
        &self,
        target: SocketAddr,
        (user, password): (&str, &str),
        contact_port: u16,
        expires: u32,
    ) {
        let expires = expires.to_string();
        let csv = self.csv(user, password).display().to_string();
        let reg = self.run(
            target,
            &scenario("register_contact.xml"),
            self.port(),
            &[
                "-inf",
                &csv,
                "-key",
                "contact_port",
                &contact_port.to_string(),
                "-key",
                "expires",
                &expires,
            ],
        );
        assert!(reg.success, "{user} registers:\n{}", reg.output);
    }

    /// A UAS running scenario `sf` on `port` in its own thread (answering
    /// whatever reaches that port; `target` is where it sends its own BYE).
    pub fn uas(
        &self,
        target: SocketAddr,
        sf: &Path,
        port: u16,
        hold_ms: u32,
    ) -> JoinHandle<SippRun> {
        let (me, sf) = (self.clone(), sf.to_owned());
        std::thread::spawn(move || me.run(target, &sf, port, &["-d", &hold_ms.to_string()]))
    }

    /// A registered callee: `user` registered through `target`, answering
    /// with scenario `sf` (from tests/sipp).
    pub fn callee(
        &self,
        target: SocketAddr,
        (user, password): (&str, &str),
        sf: &str,
        hold_ms: u32,
    ) -> JoinHandle<SippRun> {
        let port = self.port();
        let handle = self.uas(target, &scenario(sf), port, hold_ms);
        self.register(target, user, password, port);
        handle
    }

    /// `user` calls `number` through `target` with scenario `sf`.
    pub fn call(
        &self,
        target: SocketAddr,
        sf: &Path,
        (user, password): (&str, &str),
        number: &str,
        hold_ms: u32,
    ) -> SippRun {
        let csv = self.csv(user, password).display().to_string();
        // sipp's digest names remote_ip:port unless told (it adds "sip:"); phones name the
        // Request-URI, which the registrar requires (RFC 3261 §22.4).
        let auth_uri = format!("{number}@{target}");
        self.run(
            target,
            sf,
            self.port(),
            &[
                "-inf",
                &csv,
                "-s",
                number,
                "-d",
                &hold_ms.to_string(),
                "-auth_uri",
                &auth_uri,
            ],
        )
    }

    /// [`Sipp::call`] in its own thread.
    pub fn call_in_background(
        &self,
        target: SocketAddr,
        sf: &Path,
        (user, password): (&'static str, &'static str),
        number: &'static str,
        hold_ms: u32,
    ) -> JoinHandle<SippRun> {
        let (me, sf) = (self.clone(), sf.to_owned());
        std::thread::spawn(move || me.call(target, &sf, (user, password), number, hold_ms))
    }
}

/// caller_refused.xml expecting final response `code`, written to `dir`.
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
