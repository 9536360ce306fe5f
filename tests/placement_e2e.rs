//! Media placement by load: new calls go to the least loaded media instance
//! that answers; an instance that comes up takes the next calls; one that
//! drains (SIGTERM) takes none and keeps its calls going.

mod common;

use asterism_testkit::{free_port, RedisServer, Service};
use common::phone::{pcmu_offer, Phone};
use common::{http_get, wait_tcp, write_config, TempDir};
use std::net::SocketAddr;
use std::time::Duration;

const ECHO: &str = "[default]\nexten => 3666,1,Answer\n same => n,Echo\n";

fn media(dir: &std::path::Path, grpc: u16, http: u16, first_rtp: u16) -> Service {
    Service::start(
        "asterism-media",
        &[
            ("ASTERISM_MEDIA_LISTEN", format!("127.0.0.1:{grpc}")),
            ("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{http}")),
            ("ASTERISM_RTP_BIND", "127.0.0.1".into()),
            ("ASTERISM_MEDIA_ADVERTISE", "127.0.0.1".into()),
            (
                "ASTERISM_RTP_PORTS",
                format!("{first_rtp}-{}", first_rtp + 100),
            ),
            ("ASTERISM_MEDIA_CAPACITY", "10".into()),
            ("ASTERISM_SOUNDS_DIR", dir.display().to_string()),
        ],
    )
}

fn sessions(http: u16) -> Option<u32> {
    let (_, m) = http_get(http, "/metrics")?;
    m.lines()
        .find_map(|l| l.strip_prefix("asterism_media_sessions_active "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn new_calls_go_to_the_least_loaded_media_instance() {
    let dir = TempDir::new("placement");
    write_config(&dir.0, 0);
    std::fs::write(dir.0.join("extensions.conf"), ECHO).unwrap();
    let redis = RedisServer::start();
    let (reg, rtr, sip) = (free_port(), free_port(), free_port());
    let (m1, m1_http, m2, m2_http) = (free_port(), free_port(), free_port(), free_port());
    // Two instances' ranges: base..base+100 and base+200..base+300.
    let base = asterism_testkit::rtp_base(302);
    let _registrar = Service::start(
        "asterism-registrar",
        &[
            ("ASTERISM_CONFIG_DIR", dir.0.display().to_string()),
            ("ASTERISM_REDIS_URL", redis.url()),
            ("ASTERISM_REGISTRAR_LISTEN", format!("127.0.0.1:{reg}")),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
    let _router = Service::start(
        "asterism-router",
        &[
            ("ASTERISM_CONFIG_DIR", dir.0.display().to_string()),
            ("ASTERISM_ROUTER_LISTEN", format!("127.0.0.1:{rtr}")),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
    let _media1 = media(&dir.0, m1, m1_http, base);
    for p in [reg, rtr, m1] {
        wait_tcp(p);
    }
    let _edge = Service::start(
        "asterism-edge",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip}")),
            ("ASTERISM_REGISTRAR_ADDR", format!("127.0.0.1:{reg}")),
            ("ASTERISM_ROUTER_ADDR", format!("127.0.0.1:{rtr}")),
            (
                "ASTERISM_MEDIA_ADDRS",
                format!("127.0.0.1:{m1},127.0.0.1:{m2}"),
            ),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
            (
                "ASTERISM_EDGE_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
    let target = SocketAddr::from(([127, 0, 0, 1], sip));
    assert!(
        (0..50).any(|_| common::sip::options_udp(target).is_some()),
        "edge up"
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Media 2 is not running: three calls all land on media 1.
    let mut phones = Vec::new();
    for _ in 0..3 {
        let mut p = Phone::new(target, "bob", "bob62");
        assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
        phones.push(p);
    }
    assert_eq!(sessions(m1_http), Some(3));
    // What the autoscaler sees: sessions ÷ capacity (10).
    let (_, m) = http_get(m1_http, "/metrics").unwrap();
    assert!(m.contains("asterism_media_load_ratio 0.3\n"), "{m}");
    assert!(m.contains("asterism_media_capacity 10\n"), "{m}");
    // Media 2 comes up empty: it is the least loaded, the next calls go there.
    let mut media2 = media(&dir.0, m2, m2_http, base + 200);
    wait_tcp(m2);
    std::thread::sleep(Duration::from_millis(2500));
    for _ in 0..2 {
        let mut p = Phone::new(target, "bob", "bob62");
        assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
        phones.push(p);
    }
    assert_eq!((sessions(m1_http), sessions(m2_http)), (Some(3), Some(2)));
    // Media 2 drains (SIGTERM): it takes no new call, and its calls go on.
    media2.signal("TERM");
    std::thread::sleep(Duration::from_millis(2500));
    let mut p = Phone::new(target, "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    phones.push(p);
    assert_eq!((sessions(m1_http), sessions(m2_http)), (Some(4), Some(2)));
    let on_media2 = &phones[3];
    let payload = [0x5Au8; 160];
    let echoed = (0..20u16).any(|i| {
        on_media2.send_rtp(0, 100 + i, 160 * u32::from(i), false, &payload);
        (0..5).any(|_| on_media2.recv_rtp().is_some_and(|r| r.3 == payload))
    });
    assert!(echoed, "a call on the draining instance still echoes");
    assert!(media2.try_exit().is_none(), "draining waits for its calls");
}

/// The preStop hook (`asterism-media drain`): the pod stops taking calls
/// at once, and the hook returns only when its last call has ended.
#[test]
fn the_prestop_drain_returns_when_the_last_call_ends() {
    let t = common::Topology::start_with(&[], Some(ECHO));
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    assert_eq!(sessions(t.media_http), Some(1));
    let admin = format!("127.0.0.1:{}", t.media_http);
    let hook = std::thread::spawn(move || {
        std::process::Command::new(asterism_testkit::bin_path("asterism-media"))
            .arg("drain")
            .env("ASTERISM_ADMIN_LISTEN", admin)
            .output()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!hook.is_finished(), "the hook waits while a call lasts");
    assert_eq!(http_get(t.media_http, "/ready").map(|r| r.0), Some(503));
    assert_eq!(p.hang_up(), Some(200));
    let out = hook.join().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.contains("drained"), "{said}");
    assert_eq!(sessions(t.media_http), Some(0));
}
