//! Network namespaces for the tests that need more than loopback: a phone
//! behind a NAT router, built from namespaces the test creates (and
//! deletes): `wan` (the PBX and the phones on the public side), `lan` (a
//! phone with a private address) and `rtr` between them, masquerading
//! the LAN behind its WAN address with nftables. Needs root (CAP_NET_ADMIN
//! and CAP_SYS_ADMIN), as the test command runs.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// The PBX's address on the WAN, the router's, and the phone's on the LAN.
pub const WAN_PBX: &str = "10.77.0.1";
pub const WAN_ROUTER: &str = "10.77.0.254";
pub const LAN_PHONE: &str = "192.168.77.2";

pub struct NatLab {
    pub wan: String,
    pub lan: String,
    pub rtr: String,
}

/// Run `ip` with `args`; a failure stops the test, saying why.
fn run_ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 (ip) must be installed");
    assert!(
        out.status.success(),
        "ip {args:?}: {} (network namespaces need root)",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &str) {
    run_ip(&args.split_whitespace().collect::<Vec<_>>());
}

/// `args` run inside namespace `rtr`.
fn in_router(rtr: &str, args: &[&str]) {
    run_ip(&[&["netns", "exec", rtr][..], args].concat());
}

impl NatLab {
    pub fn create() -> NatLab {
        let id = std::process::id();
        let lab = NatLab {
            wan: format!("ast-wan-{id}"),
            lan: format!("ast-lan-{id}"),
            rtr: format!("ast-rtr-{id}"),
        };
        let (w, l, r) = (&lab.wan, &lab.lan, &lab.rtr);
        for ns in [w, l, r] {
            ip(&format!("netns add {ns}"));
            ip(&format!("-n {ns} link set lo up"));
        }
        ip(&format!(
            "link add w0 netns {w} type veth peer name rw netns {r}"
        ));
        ip(&format!(
            "link add l0 netns {l} type veth peer name rl netns {r}"
        ));
        ip(&format!("-n {w} addr add {WAN_PBX}/24 dev w0"));
        ip(&format!("-n {r} addr add {WAN_ROUTER}/24 dev rw"));
        ip(&format!("-n {l} addr add {LAN_PHONE}/24 dev l0"));
        ip(&format!("-n {r} addr add 192.168.77.1/24 dev rl"));
        for (ns, dev) in [(w, "w0"), (r, "rw"), (l, "l0"), (r, "rl")] {
            ip(&format!("-n {ns} link set {dev} up"));
        }
        ip(&format!("-n {l} route add default via 192.168.77.1"));
        in_router(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        in_router(r, &["nft", "add table ip nat"]);
        in_router(
            r,
            &[
                "nft",
                "add chain ip nat post { type nat hook postrouting priority 100 ; }",
            ],
        );
        in_router(r, &["nft", "add rule ip nat post oifname rw masquerade"]);
        lab
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        for ns in [&self.wan, &self.lan, &self.rtr] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Run `f` with this thread in network namespace `ns` (what it binds,
/// connects and spawns lives there), then back where it was.
pub fn within<T>(ns: &str, f: impl FnOnce() -> T) -> T {
    let here = File::open("/proc/thread-self/ns/net").expect("own namespace");
    enter(ns);
    let r = f();
    // SAFETY: setns on a valid namespace descriptor affects this thread only.
    let back = unsafe { libc::setns(here.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(back, 0, "back to the test's namespace");
    r
}

/// Move this thread into network namespace `ns` for good.
pub fn enter(ns: &str) {
    let target = File::open(format!("/run/netns/{ns}")).expect("namespace exists");
    // SAFETY: as in `within`.
    let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns into {ns}: {}",
        std::io::Error::last_os_error()
    );
}
