//! Shared set-up of the end-to-end tests: a config directory with generated
//! users, a real `redis-server`, and the registrar and edge as separate
//! processes talking gRPC; plus sipp and raw-socket helpers.
#![allow(dead_code)]

pub mod baresip;
pub mod calls;
pub mod netns;
pub mod phone;
pub mod pki;
pub mod raw_call;
pub mod sip;

use asterism_testkit::{free_port, RedisServer, Service};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const USERS: usize = 100;

/// The cluster secret the tests' edges share.
pub const CLUSTER_SECRET: &str = "test-cluster-secret";

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "asterism-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// sip.conf with alice, bob and `USERS` generated users, and the matching
/// sipp CSV (`user;password;[authentication …];[authentication …wrong]`).
pub fn write_config(dir: &Path, users: usize) -> PathBuf {
    let mut conf = String::from("[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alice61\nhost=dynamic\ncallerid=\"Alice\" <61>\n\n[bob]\ntype=friend\nsecret=bob62\nhost=dynamic\ncallerid=\"Bob\" <62>\n\n[carol]\ntype=friend\nsecret=carol63\nhost=dynamic\n\n[dave]\ntype=friend\nsecret=dave64\nhost=dynamic\n\n");
    let mut csv = String::from("SEQUENTIAL\n");
    for i in 0..users {
        conf.push_str(&format!(
            "[user{i:04}]\ntype=friend\nsecret=pw{i:04}\nhost=dynamic\n\n"
        ));
        csv.push_str(&format!(
            "user{i:04};pw{i:04};[authentication username=user{i:04} password=pw{i:04}];[authentication username=user{i:04} password=wrong{i:04}]\n"
        ));
    }
    std::fs::write(dir.join("sip.conf"), conf).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/extensions.conf"),
        dir.join("extensions.conf"),
    )
    .unwrap();
    let csv_path = dir.join("users.csv");
    std::fs::write(&csv_path, csv).unwrap();
    csv_path
}

/// Edge + registrar as separate processes, over gRPC, with Redis.
pub struct Topology {
    pub dir: TempDir,
    pub csv: PathBuf,
    pub redis: RedisServer,
    pub registrar: Service,
    pub router: Service,
    pub media: Service,
    pub edge: Service,
    pub sip_port: u16,
    /// Where the edge listens for SIP: 127.0.0.1, or the address of an
    /// `ASTERISM_SIP_BIND` in the extra settings.
    pub sip_ip: std::net::IpAddr,
    pub grpc_port: u16,
    pub router_port: u16,
    pub admin_port: u16,
    pub media_port: u16,
    /// The edge's /live, /ready, /metrics.
    pub edge_http: u16,
    pub router_http: u16,
    pub media_http: u16,
    pub registrar_http: u16,
    extra: Vec<(&'static str, String)>,
}

impl Topology {
    pub fn start(extra: &[(&'static str, &str)]) -> Topology {
        Topology::start_with(extra, None)
    }

    /// Like [`Topology::start`], with this extensions.conf.
    pub fn start_with(extra: &[(&'static str, &str)], extensions: Option<&str>) -> Topology {
        Topology::start_full(extra, extensions, ("", ""))
    }

    /// Like [`Topology::start_with`], with `general` lines added to
    /// sip.conf's `[general]` and `peers` (sections) after the users.
    pub fn start_full(
        extra: &[(&'static str, &str)],
        extensions: Option<&str>,
        (general, peers): (&str, &str),
    ) -> Topology {
        let dir = TempDir::new("e2e");
        let csv = write_config(&dir.0, USERS);
        let path = dir.0.join("sip.conf");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "[general]\n",
            &format!("[general]\n{general}"),
            1,
        );
        std::fs::write(path, format!("{text}{peers}")).unwrap();
        if let Some(text) = extensions {
            std::fs::write(dir.0.join("extensions.conf"), text).unwrap();
        }
        let redis = RedisServer::start();
        let sip_port = free_port();
        let grpc_port = free_port();
        let router_port = free_port();
        let mut extra: Vec<(&'static str, String)> =
            extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
        extra.push((
            "ASTERISM_ROUTER_ADDR",
            format!("http://127.0.0.1:{router_port}"),
        ));
        let admin_port = free_port();
        extra.push((
            "ASTERISM_EDGE_ADMIN_LISTEN",
            format!("127.0.0.1:{admin_port}"),
        ));
        let media_port = free_port();
        extra.push((
            "ASTERISM_MEDIA_ADDRS",
            format!("http://127.0.0.1:{media_port}"),
        ));
        let registrar_http = free_port();
        let registrar = start_registrar(&dir.0, &redis, (grpc_port, registrar_http), &extra);
        let (router_http, media_http) = (free_port(), free_port());
        let router = start_router(&dir.0, router_port, router_http, &extra);
        let media = start_media(&dir.0, media_port, media_http, &extra);
        let edge_http = free_port();
        let edge = start_edge(sip_port, grpc_port, edge_http, &extra);
        let bound = extra
            .iter()
            .rev()
            .find(|(k, _)| *k == "ASTERISM_SIP_BIND")
            .and_then(|(_, v)| v.parse::<SocketAddr>().ok())
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], sip_port)));
        let (sip_ip, sip_port) = (bound.ip(), bound.port());
        let mut t = Topology {
            dir,
            csv,
            redis,
            registrar,
            router,
            media,
            edge,
            sip_port,
            sip_ip,
            grpc_port,
            router_port,
            admin_port,
            media_port,
            edge_http,
            router_http,
            media_http,
            registrar_http,
            extra,
        };
        t.wait_ready();
        t
    }

    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::new(self.sip_ip, self.sip_port)
    }

    pub fn wait_ready(&mut self) {
        wait_tcp(self.grpc_port);
        wait_tcp(self.router_port);
        wait_tcp(self.media_port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while sip::options_udp(self.sip_addr()).is_none() {
            self.all_running();
            assert!(Instant::now() < deadline, "edge did not answer OPTIONS");
        }
        // Ready as Kubernetes sees it, and the registrar and router replicas
        // passed a health check, so calls are balanced onto them (before
        // that, the first call could find no replica and fail).
        let ready = wait_until(deadline - Instant::now(), || {
            matches!(http_get(self.edge_http, "/ready"), Some((200, _)))
                && backends_up(self.edge_http)
        });
        assert!(
            ready,
            "edge never became ready:\n{}\nregistrar:\n{}",
            self.edge.errors(),
            self.registrar.errors()
        );
    }

    /// Another edge on the same registrar, router and media, with its own
    /// id: (process, SIP address, admin HTTP port), ready.
    pub fn another_edge(&self, edge_id: &str) -> (Service, SocketAddr, u16) {
        self.another_edge_with(edge_id, &[])
    }

    /// [`Topology::another_edge`] with these variables set (or replaced).
    pub fn another_edge_with(
        &self,
        edge_id: &str,
        env: &[(&'static str, &str)],
    ) -> (Service, SocketAddr, u16) {
        let (sip_port, http) = (free_port(), free_port());
        let mut extra = self.extra.clone();
        extra.push(("ASTERISM_EDGE_ID", edge_id.to_owned()));
        extra.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let edge = start_edge(sip_port, self.grpc_port, http, &extra);
        let addr = SocketAddr::from(([127, 0, 0, 1], sip_port));
        let ready = wait_until(Duration::from_secs(10), || {
            matches!(http_get(http, "/ready"), Some((200, _))) && backends_up(http)
        });
        assert!(ready, "edge {edge_id} never became ready");
        (edge, addr, http)
    }

    /// Fails, naming the process, if a service has exited (a port taken
    /// between `free_port` and its bind, say) rather than waiting it out.
    fn all_running(&mut self) {
        for s in [
            &mut self.edge,
            &mut self.registrar,
            &mut self.router,
            &mut self.media,
        ] {
            if let Some(status) = s.try_exit() {
                panic!("{} exited at start-up: {status}\n{}", s.name, s.errors());
            }
        }
    }

    pub fn restart_services(&mut self) {
        self.edge.kill();
        self.registrar.kill();
        let ports = (self.grpc_port, self.registrar_http);
        self.registrar = start_registrar(&self.dir.0, &self.redis, ports, &self.extra);
        self.edge = start_edge(self.sip_port, self.grpc_port, self.edge_http, &self.extra);
        self.wait_ready();
    }

    /// Run a sipp scenario from tests/sipp against the edge.
    pub fn sipp(&self, scenario: &str, transport: &str, calls: usize, expires: u32) -> SippRun {
        run_sipp(
            self.sip_addr(),
            scenario,
            transport,
            &self.csv,
            calls,
            expires,
        )
    }

    /// Binding keys of one AOR in Redis.
    pub fn binding_keys(&self, aor: &str) -> Vec<String> {
        let reply = self
            .redis
            .command(&["KEYS", &format!("asterism:{{{aor}}}:b:*")])
            .unwrap_or_default();
        reply
            .lines()
            .filter(|l| l.starts_with("asterism:"))
            .map(str::to_owned)
            .collect()
    }
}

fn start_registrar(
    dir: &Path,
    redis: &RedisServer,
    (port, admin_http): (u16, u16),
    extra: &[(&'static str, String)],
) -> Service {
    let mut env = vec![
        ("ASTERISM_CONFIG_DIR", dir.display().to_string()),
        ("ASTERISM_REDIS_URL", redis.url()),
        ("ASTERISM_REGISTRAR_LISTEN", format!("127.0.0.1:{port}")),
        // Every test sends from 127.0.0.1, many on purpose with wrong
        // passwords: bans are off unless a test turns them on.
        ("ASTERISM_BAN_THRESHOLD", "0".to_string()),
    ];
    env.push(("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{admin_http}")));
    env.extend(extra.iter().cloned());
    Service::start("asterism-registrar", &env)
}

/// Media with sounds from `<dir>/sounds` and RTP ports from a range of its
/// own, below the kernel's ephemeral range (32768+) that `free_port` hands
/// out, so RTP never takes a port another test's service was given.
fn start_media(
    dir: &Path,
    port: u16,
    admin_http: u16,
    extra: &[(&'static str, String)],
) -> Service {
    let first = asterism_testkit::rtp_base(202);
    let mut env = vec![
        ("ASTERISM_MEDIA_LISTEN", format!("127.0.0.1:{port}")),
        ("ASTERISM_RTP_BIND", "127.0.0.1".to_string()),
        ("ASTERISM_MEDIA_ADVERTISE", "127.0.0.1".to_string()),
        ("ASTERISM_RTP_PORTS", format!("{first}-{}", first + 200)),
        (
            "ASTERISM_SOUNDS_DIR",
            dir.join("sounds").display().to_string(),
        ),
    ];
    env.push(("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{admin_http}")));
    env.extend(extra.iter().cloned());
    Service::start("asterism-media", &env)
}

fn start_router(
    dir: &Path,
    port: u16,
    admin_http: u16,
    extra: &[(&'static str, String)],
) -> Service {
    let mut env = vec![
        ("ASTERISM_CONFIG_DIR", dir.display().to_string()),
        ("ASTERISM_ROUTER_LISTEN", format!("127.0.0.1:{port}")),
        ("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{admin_http}")),
    ];
    env.extend(
        extra
            .iter()
            .filter(|(k, _)| k.starts_with("OTEL_") || k.starts_with("K8S_"))
            .cloned(),
    );
    Service::start("asterism-router", &env)
}

fn start_edge(
    sip_port: u16,
    grpc_port: u16,
    admin_http: u16,
    extra: &[(&'static str, String)],
) -> Service {
    let mut env = vec![
        ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip_port}")),
        (
            "ASTERISM_REGISTRAR_ADDR",
            format!("http://127.0.0.1:{grpc_port}"),
        ),
        ("ASTERISM_RETRY_AFTER", "7".to_string()),
        // The hop between edges on a listener of its own, signed with a
        // secret every edge of the test shares (as the chart deploys them).
        (
            "ASTERISM_SIP_INTERNAL",
            format!("127.0.0.1:{}", free_port()),
        ),
        ("ASTERISM_CLUSTER_SECRET", CLUSTER_SECRET.to_string()),
    ];
    env.push(("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{admin_http}")));
    env.extend(extra.iter().cloned());
    Service::start("asterism-edge", &env)
}

/// Poll `ready` every 20 ms until it holds or `within` has passed: whether
/// it held. Tests wait for what a user would see, never for a fixed time.
pub fn wait_until(within: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_tcp(port: u16) {
    let listening = wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(listening, "nothing listens on {port}");
}

pub struct SippRun {
    pub success: bool,
    pub output: String,
}

/// sipp as a real UAC: `calls` registrations at 200/s from the CSV.
pub fn run_sipp(
    target: SocketAddr,
    scenario: &str,
    transport: &str,
    csv: &Path,
    calls: usize,
    expires: u32,
) -> SippRun {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let t = match transport {
        "tcp" => "t1",
        _ => "u1",
    };
    let errors = csv.with_file_name(format!("sipp-errors-{}.log", free_port()));
    let out = Command::new("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(csv)
        .args(["-m", &calls.to_string(), "-r", "200", "-t", t])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-key", "expires", &expires.to_string()])
        .args([
            "-timeout",
            "60s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .arg("-error_file")
        .arg(&errors)
        .output()
        .expect("sipp must be installed (Debian package sip-tester)");
    // The messages sipp did not expect are in its error file: shown too.
    let unexpected = std::fs::read_to_string(&errors).unwrap_or_default();
    SippRun {
        success: out.status.success(),
        output: format!(
            "{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            unexpected.chars().take(4000).collect::<String>()
        ),
    }
}

/// GET a path on a loopback HTTP port: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned(),
    ))
}

/// Whether an edge's /metrics says a registrar and a router replica answer
/// (its /ready only says it answers SIP).
pub fn backends_up(http: u16) -> bool {
    matches!(http_get(http, "/metrics"), Some((200, m))
        if m.contains("asterism_edge_backend_up{service=\"registrar\"} 1")
            && m.contains("asterism_edge_backend_up{service=\"router\"} 1"))
}
