//! Registrar replicas behind one edge: nonces issued by one validate on the
//! other (shared key from sip.conf), the edge balances over both, and when
//! one dies — even mid-run — registrations go on through the survivor.

mod common;

use asterism_testkit::{free_port, RedisServer, Service};
use common::{run_sipp, wait_tcp, write_config, TempDir, USERS};
use std::net::SocketAddr;
use std::time::Duration;

fn registrar(dir: &std::path::Path, redis: &RedisServer, port: u16) -> Service {
    registrar_with_admin(dir, redis, port, free_port())
}

/// A registrar whose /metrics is on `admin`, counting bindings every second.
fn registrar_with_admin(
    dir: &std::path::Path,
    redis: &RedisServer,
    port: u16,
    admin: u16,
) -> Service {
    Service::start(
        "asterism-registrar",
        &[
            ("ASTERISM_CONFIG_DIR", dir.display().to_string()),
            ("ASTERISM_REDIS_URL", redis.url()),
            ("ASTERISM_REGISTRAR_LISTEN", format!("127.0.0.1:{port}")),
            ("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{admin}")),
            ("ASTERISM_BINDINGS_COUNT_SECS", "1".to_owned()),
        ],
    )
}

/// `asterism_registrar_bindings_active` of each replica's /metrics.
fn bindings_reported(admins: &[u16]) -> Vec<i64> {
    admins
        .iter()
        .map(|port| {
            common::http_get(*port, "/metrics")
                .and_then(|(_, m)| {
                    m.lines().find_map(|l| {
                        l.strip_prefix("asterism_registrar_bindings_active ")?
                            .trim()
                            .parse()
                            .ok()
                    })
                })
                .unwrap_or(-1)
        })
        .collect()
}

#[test]
fn registrations_go_on_when_one_registrar_replica_dies() {
    let dir = TempDir::new("replicas");
    let csv = write_config(&dir.0, USERS);
    let redis = RedisServer::start();
    let (g1, g2, sip) = (free_port(), free_port(), free_port());
    let admins = [free_port(), free_port()];
    let mut replicas = [
        registrar_with_admin(&dir.0, &redis, g1, admins[0]),
        registrar_with_admin(&dir.0, &redis, g2, admins[1]),
    ];
    wait_tcp(g1);
    wait_tcp(g2);
    let _edge = Service::start(
        "asterism-edge",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip}")),
            (
                "ASTERISM_REGISTRAR_ADDR",
                format!("127.0.0.1:{g1},127.0.0.1:{g2}"),
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
    let mut up = false;
    for _ in 0..50 {
        if common::sip::options_udp(target).is_some() {
            up = true;
            break;
        }
    }
    assert!(up, "edge answers");
    // Both replicas in use: 100 users, each 401 then 200 (the two requests
    // of one registration may land on different replicas).
    let run = run_sipp(target, "register_auth.xml", "udp", &csv, USERS, 60);
    assert!(run.success, "with two replicas:\n{}", run.output);
    // The bindings gauge: counted by one replica, so the sum is right.
    let mut seen = Vec::new();
    let counted_once = common::wait_until(Duration::from_secs(5), || {
        seen = bindings_reported(&admins);
        seen.iter().sum::<i64>() == USERS as i64 && seen.contains(&0)
    });
    assert!(
        counted_once,
        "bindings_active of the two replicas: {seen:?}"
    );
    // Killed mid-run: requests balanced onto the dead replica before the
    // health check drops it are sent again to the survivor, so no phone
    // sees an error.
    let during = {
        let csv = csv.clone();
        std::thread::spawn(move || {
            run_sipp(target, "register_auth.xml", "udp", &csv, 3 * USERS, 60)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    // The one that counts the bindings dies.
    let holder = usize::from(seen[0] == 0);
    replicas[holder].kill();
    let run = during.join().unwrap();
    assert!(run.success, "while a replica dies:\n{}", run.output);
    let run = run_sipp(target, "register_auth.xml", "udp", &csv, USERS, 60);
    assert!(run.success, "through the survivor:\n{}", run.output);
    // The survivor takes the count over once the dead one's lease lapses.
    let survivor = [admins[1 - holder]];
    let taken_over = common::wait_until(Duration::from_secs(8), || {
        bindings_reported(&survivor)[0] >= USERS as i64
    });
    assert!(
        taken_over,
        "survivor reports {:?}",
        bindings_reported(&survivor)
    );
    let keys = redis
        .command(&["KEYS", "asterism:{user0042}:b:*"])
        .unwrap_or_default();
    assert!(
        keys.contains("asterism:{user0042}:b:"),
        "binding in Redis: {keys}"
    );
}

/// Registrars found by name, as the chart points edges at a headless
/// Service: `dns+http://localhost:PORT` is resolved again and again (here
/// to 127.0.0.1, where a registrar answers, and ::1, where none does and
/// which the health check keeps out); a replica that goes and comes back on
/// that name is used again.
#[test]
fn registrars_found_by_name_are_balanced_and_come_back() {
    let dir = TempDir::new("replicas-dns");
    let csv = write_config(&dir.0, USERS);
    let redis = RedisServer::start();
    let (g, sip, http) = (free_port(), free_port(), free_port());
    let mut r = registrar(&dir.0, &redis, g);
    wait_tcp(g);
    let _edge = Service::start(
        "asterism-edge",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip}")),
            (
                "ASTERISM_REGISTRAR_ADDR",
                format!("dns+http://localhost:{g}"),
            ),
            ("ASTERISM_ADMIN_LISTEN", format!("127.0.0.1:{http}")),
            (
                "ASTERISM_EDGE_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
    let registrar_up = |want: &str| {
        common::wait_until(Duration::from_secs(15), || {
            common::http_get(http, "/metrics").is_some_and(|(_, m)| {
                m.contains(&format!(
                    "asterism_edge_backend_up{{service=\"registrar\"}} {want}"
                ))
            })
        })
    };
    assert!(
        registrar_up("1"),
        "the name resolves to a serving registrar"
    );
    let target = SocketAddr::from(([127, 0, 0, 1], sip));
    let run = run_sipp(target, "register_auth.xml", "udp", &csv, USERS, 60);
    assert!(run.success, "through the name:\n{}", run.output);
    r.kill();
    assert!(registrar_up("0"), "gone");
    let _r = registrar(&dir.0, &redis, g);
    wait_tcp(g);
    assert!(registrar_up("1"), "back on the same name");
    let ok = common::wait_until(Duration::from_secs(10), || {
        run_sipp(target, "register_auth.xml", "udp", &csv, 10, 60).success
    });
    assert!(ok, "registrations go on once it is back");
}
