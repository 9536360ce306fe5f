//! Asterism binaries as child processes, and free loopback ports.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Ports handed out by [`free_port`]: below Linux's ephemeral range
/// (32768–60999), which outgoing connections draw from — a port from there
/// can be taken by any client socket before the service meant to bind it
/// does — and above the RTP ranges the tests give media (10000–19999).
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port free for both UDP and TCP right now, and never handed
/// out before by this process: tests run in parallel, and a port picked for
/// one test's service must not be picked again before that service binds it.
/// Ports are taken in turn from a random starting point in [`PORTS`].
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports, all as [`free_port`] promises (for
/// programs that also bind the ports after the one they are given).
pub fn free_ports(n: u16) -> u16 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(PORTS.end - PORTS.start);
    let n32 = u32::from(n.max(1));
    let start = *START
        .get_or_init(|| (RandomState::new().hash_one(std::process::id()) % u64::from(span)) as u32);
    for _ in 0..span {
        let first = (start + NEXT.fetch_add(n32, Ordering::Relaxed)) % span;
        if first + n32 > span {
            continue; // would run past the range's end
        }
        let first = PORTS.start + first as u16;
        let free = (first..first + n.max(1)).all(|port| {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
                && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        });
        if free {
            return first;
        }
    }
    panic!("no {n} free ports left in {PORTS:?}")
}

/// The first (even) port of a random RTP range of `width` ports inside
/// 10000–19999, below the ports [`free_port`] hands out. Random, so tests
/// running side by side rarely share ports (media skips taken ones anyway).
pub fn rtp_base(width: u16) -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let pairs = u64::from((10_000 - width) / 2);
    10_000 + 2 * (RandomState::new().hash_one(width) % pairs) as u16
}

/// Path of a workspace binary next to the running test executable
/// (`target/<profile>/deps/test-…` → `target/<profile>/<name>`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built (cargo build --workspace first)",
        p.display()
    );
    p
}

/// A running Asterism process, killed on drop. Without `ASTERISM_TEST_LOG`
/// its warnings and errors go to a file, shown by [`Service::errors`].
pub struct Service {
    child: Child,
    pub name: String,
    errors: Option<PathBuf>,
}

impl Service {
    pub fn start(name: &str, envs: &[(&str, String)]) -> Service {
        let mut cmd = Command::new(bin_path(name));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "ASTERISM_LOG",
                std::env::var("ASTERISM_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null());
        let mut errors = None;
        if std::env::var("ASTERISM_TEST_LOG").is_err() {
            // Unique per service of this test process (a counter, not a port).
            static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("asterism-{name}-{}-{n}.log", std::process::id()));
            match std::fs::File::create(&path) {
                Ok(f) => {
                    cmd.stderr(f);
                    errors = Some(path);
                }
                Err(_) => {
                    cmd.stderr(Stdio::null());
                }
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn service");
        Service {
            child,
            name: name.to_owned(),
            errors,
        }
    }

    /// What the process wrote to stderr (warnings and errors) so far.
    pub fn errors(&self) -> String {
        self.errors
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (`HUP`, `TERM`…) with kill(1).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Exit status if it has exited.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        if let Some(p) = &self.errors {
            let _ = std::fs::remove_file(p);
        }
    }
}
