//! The cluster on one machine (issue 7): `scripts/topology` puts Redis and
//! two of every Asterism service in network namespaces of their own, each
//! with its own address, and the phones (sipp, baresip) in theirs. Calls cross the
//! edges both ways; one registrar, one router and one media instance are
//! killed with SIGKILL while registrations and echo calls run; then the
//! edge a phone registered through is killed. Needs root (ip netns).

mod common;

use common::calls::{both, refused_scenario, scenario, Sipp};
use common::{write_config, SippRun, TempDir, USERS};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const ALICE: (&str, &str) = ("alice", "alice61");
const BOB: (&str, &str) = ("bob", "bob62");

/// One `scripts/topology` instance, taken down on drop.
struct Cluster {
    name: String,
    dir: TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/topology")
}

impl Cluster {
    fn up() -> Cluster {
        let dir = TempDir::new("topology");
        write_config(&dir.0, USERS);
        // 2 s of PCMU for sipp's rtpstream, where the phones run.
        let audio: Vec<u8> = (0..16_000)
            .map(|i| if i % 16 < 8 { 0x1F } else { 0x9F })
            .collect();
        std::fs::write(dir.0.join("echo-audio.ulaw"), audio).unwrap();
        let name = format!("t{}", std::process::id() % 100_000);
        let bin = asterism_testkit::bin_path("asterism-edge");
        let out = Command::new(script())
            .args(["up", &name])
            .env("ASTERISM_BIN_DIR", bin.parent().unwrap())
            .env("ASTERISM_CONFIG_DIR", &dir.0)
            .env(
                "ASTERISM_LOG",
                std::env::var("ASTERISM_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .output()
            .expect("run scripts/topology");
        let c = Cluster { name, dir };
        assert!(
            out.status.success(),
            "scripts/topology up failed (root and ip netns are needed):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    fn ip(host: &str) -> String {
        let out = Command::new(script())
            .args(["addr", host])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The "public" SIP address phones use for `edge` (edges reach each
    /// other on their internal addresses).
    fn sip(edge: &str) -> SocketAddr {
        let out = Command::new(script()).args(["sip", edge]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn phone(&self, host: &str) -> Sipp {
        Sipp::inside(
            &self.dir.0,
            &format!("{}-{host}", self.name),
            &Self::ip(host),
        )
    }

    fn kill9(&self, host: &str) {
        let out = Command::new(script())
            .args(["pid", &self.name, host])
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success(), "kill -9 {host} ({pid})");
        eprintln!("killed {host} (pid {pid})");
    }

    /// Run a command inside `host`'s namespace; its standard output.
    fn exec(&self, host: &str, args: &[&str]) -> String {
        let out = Command::new(script())
            .args(["exec", &self.name, host])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Binding keys of the generated users in Redis.
    fn user_bindings(&self) -> usize {
        let redis = Self::ip("redis");
        self.exec(
            "redis",
            &[
                "redis-cli",
                "-h",
                &redis,
                "--scan",
                "--pattern",
                "asterism:{user*}:b:*",
            ],
        )
        .lines()
        .filter(|l| !l.is_empty())
        .count()
    }

    /// `asterism_media_sessions_active` of a media instance.
    fn media_sessions(&self, host: &str) -> Option<u32> {
        let get = format!(
            "exec 3<>/dev/tcp/{}/9090 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 2 cat <&3",
            Self::ip(host)
        );
        self.exec(host, &["bash", "-c", &get])
            .lines()
            .find_map(|l| l.strip_prefix("asterism_media_sessions_active "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u32)
    }
}

/// A baresip softphone (auto-answer, ctrl_tcp) inside a phone's namespace.
struct Softphone {
    child: std::process::Child,
    host: String,
    ctrl: String,
}

impl Drop for Softphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cluster {
    /// baresip in `host`'s namespace with `account` (an accounts line).
    fn softphone(&self, host: &str, account: &str) -> Softphone {
        let ip = Self::ip(host);
        let dir = self.dir.0.join(format!("baresip-{host}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "poll_method epoll\nsip_listen {ip}:5062\nsip_transports udp\nnet_interface eth0\naudio_player aufile,/dev/null\naudio_source ausine,440\nausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule ausine.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen {ip}:4444\n"
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(dir.join("accounts"), account).unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new(script())
            .args(["exec", &self.name, host, "baresip", "-f"])
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip must be installed (Debian package baresip)");
        Softphone {
            child,
            host: host.to_owned(),
            ctrl: format!("{ip}:4444"),
        }
    }

    /// One ctrl_tcp command to a softphone (netstring JSON, sent from its
    /// own namespace); the response text.
    fn ctrl(&self, phone: &Softphone, command: &str, params: &str) -> String {
        let (host, port) = phone.ctrl.split_once(':').unwrap();
        let py = r#"
import socket
s = socket.create_connection(("HOST", PORT), timeout=3)
b = '{"command":"COMMAND","params":"PARAMS","token":"t"}'
s.sendall(("%d:%s," % (len(b), b)).encode())
got = b""
while b'"response":true' not in got:
    d = s.recv(16384)
    if not d:
        break
    got += d
print(got.decode(errors="replace").replace(r"\n", "\n"))
"#
        .replace("HOST", host)
        .replace("PORT", port)
        .replace("COMMAND", command)
        .replace("PARAMS", params);
        self.exec(&phone.host, &["python3", "-c", &py])
    }

    fn baresip_log(&self, phone: &Softphone) -> String {
        std::fs::read_to_string(
            self.dir
                .0
                .join(format!("baresip-{}/baresip.log", phone.host)),
        )
        .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["down", &self.name]).status();
    }
}

fn wait_until(what: &str, ok: impl FnMut() -> bool) {
    assert!(common::wait_until(Duration::from_secs(15), ok), "{what}");
}

fn background(f: impl FnOnce() -> SippRun + Send + 'static) -> JoinHandle<SippRun> {
    std::thread::spawn(f)
}

fn succeeded(what: &str, run: JoinHandle<SippRun>) {
    let r = run.join().unwrap();
    assert!(r.success, "{what}:\n{}", r.output);
}

#[test]
fn a_cluster_of_namespaces_survives_kill_9_of_any_replica() {
    let c = Cluster::up();
    let (edge1, edge2) = (Cluster::sip("edge1"), Cluster::sip("edge2"));
    let (p1, p2, p3) = (c.phone("phone1"), c.phone("phone2"), c.phone("phone3"));

    // Calls cross the edges both ways; either side hangs up.
    let bob = p2.callee(edge2, BOB, "callee_answer_relayed.xml", 0);
    let caller = scenario("caller_hangs_up.xml");
    both(p1.call(edge1, &caller, ALICE, "62", 300), bob);
    let alice = p1.callee(edge1, ALICE, "callee_hangs_up_relayed.xml", 300);
    both(
        p2.call(edge2, &scenario("caller_waits.xml"), BOB, "61", 0),
        alice,
    );

    // A real softphone: baresip registers alice through edge 2, answers a
    // call that enters through edge 1, then calls out through edge 2 to bob
    // on edge 1 and hangs up.
    let baresip = c.softphone(
        "phone1",
        &format!("<sip:alice@{edge2}>;auth_pass=alice61;regint=60;answermode=auto\n"),
    );
    let mut reginfo = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !reginfo.contains("OK") {
        assert!(
            Instant::now() < deadline,
            "baresip registers through edge 2: {reginfo}\n{}",
            c.baresip_log(&baresip)
        );
        std::thread::sleep(Duration::from_millis(200));
        reginfo = c.ctrl(&baresip, "reginfo", "");
    }
    let caller = scenario("caller_hangs_up.xml");
    let r = p3.call(edge1, &caller, BOB, "61", 1000);
    assert!(
        r.success,
        "call to baresip:\n{}\n{}",
        r.output,
        c.baresip_log(&baresip)
    );
    let bob_port = p2.port();
    let bob = p2.uas(edge1, &scenario("callee_answer_relayed.xml"), bob_port, 0);
    p2.register(edge1, BOB.0, BOB.1, bob_port);
    c.ctrl(&baresip, "dial", "62");
    wait_until("baresip's call to bob is established", || {
        c.ctrl(&baresip, "listcalls", "").contains("ESTABLISHED")
    });
    c.ctrl(&baresip, "hangup", "");
    succeeded("bob answered baresip and got its BYE", bob);
    p2.register_for(edge1, BOB, bob_port, 0);
    drop(baresip);

    // An echo call; find the media instance it landed on.
    let echo_a = {
        let p = p3.clone();
        background(move || {
            p.call(
                edge1,
                &scenario("caller_echo_until_bye.xml"),
                BOB,
                "3666",
                0,
            )
        })
    };
    let mut victim = "";
    wait_until("the echo call has a media session", || {
        for m in ["media1", "media2"] {
            if c.media_sessions(m) == Some(1) {
                victim = m;
                return true;
            }
        }
        false
    });
    let survivor = if victim == "media1" {
        "media2"
    } else {
        "media1"
    };
    // The edges see the load within a second; the next call goes elsewhere.
    std::thread::sleep(Duration::from_millis(1500));
    let echo_b = {
        let p = p1.clone();
        background(move || p.call(edge2, &scenario("caller_echo.xml"), ALICE, "3666", 6000))
    };
    wait_until(
        "the second echo call lands on the other media instance",
        || c.media_sessions(survivor) == Some(1),
    );

    // Registrations run while one registrar, one router and the first
    // call's media instance are killed.
    let load = {
        let (p, csv) = (p2.clone(), c.dir.0.join("users.csv"));
        background(move || p.load(edge1, &scenario("register_auth.xml"), &csv, 3 * USERS, 100))
    };
    std::thread::sleep(Duration::from_millis(1000));
    c.kill9("registrar1");
    c.kill9("router1");
    c.kill9(victim);
    succeeded("registrations go on through the survivors", load);
    assert_eq!(c.user_bindings(), USERS, "every user's binding is in Redis");
    succeeded(
        "the call on the dead media instance ends with a BYE",
        echo_a,
    );
    succeeded("the call on the surviving media instance goes on", echo_b);

    // New calls and echo tests after the kills.
    let bob = p2.callee(edge2, BOB, "callee_answer_relayed.xml", 0);
    both(p1.call(edge1, &caller, ALICE, "62", 300), bob);
    let echo = p3.call(edge2, &scenario("caller_echo.xml"), BOB, "3666", 1000);
    assert!(echo.success, "echo after the kills:\n{}", echo.output);

    // The edge bob registered through dies: his calls fail cleanly (480)
    // until he registers through the other edge.
    let bob_port = p2.port();
    p2.register(edge2, BOB.0, BOB.1, bob_port);
    c.kill9("edge2");
    std::thread::sleep(Duration::from_secs(
        u64::from(asterism_edge::alive::TTL_SECS) + 1,
    ));
    let refused = p1.call(edge1, &refused_scenario(&c.dir.0, 480), ALICE, "62", 0);
    assert!(
        refused.success,
        "480 while bob's edge is gone:\n{}",
        refused.output
    );
    let bob = p2.uas(edge1, &scenario("callee_answer.xml"), bob_port, 0);
    p2.register(edge1, BOB.0, BOB.1, bob_port);
    both(p1.call(edge1, &caller, ALICE, "62", 300), bob);
}
