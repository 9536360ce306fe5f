//! The registrar on Redis Cluster (issue 7): separate registrar and edge
//! processes, three cluster primaries; sipp registers every user, and each
//! binding lands on the primary owning its AOR's slot.

mod common;

use asterism_testkit::{free_port, RedisCluster, Service};
use common::{run_sipp, wait_tcp, write_config, TempDir, USERS};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[test]
fn registrations_spread_over_a_redis_cluster() {
    let dir = TempDir::new("cluster");
    let csv = write_config(&dir.0, USERS);
    let cluster = RedisCluster::start();
    let (grpc, sip) = (free_port(), free_port());
    let _registrar = Service::start(
        "asterism-registrar",
        &[
            ("ASTERISM_CONFIG_DIR", dir.0.display().to_string()),
            ("ASTERISM_REDIS_URL", cluster.url()),
            ("ASTERISM_REGISTRAR_LISTEN", format!("127.0.0.1:{grpc}")),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
    wait_tcp(grpc);
    let _edge = Service::start(
        "asterism-edge",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip}")),
            (
                "ASTERISM_REGISTRAR_ADDR",
                format!("http://127.0.0.1:{grpc}"),
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::sip::options_udp(target).is_none() {
        assert!(Instant::now() < deadline, "edge never answered");
    }
    let run = run_sipp(target, "register_auth.xml", "udp", &csv, USERS, 60);
    assert!(run.success, "{}", run.output);
    assert_eq!(
        cluster.keys("asterism:{user*}:b:*"),
        USERS,
        "one binding per user"
    );
    for n in &cluster.nodes {
        let here = n
            .command(&["KEYS", "asterism:{user*}:idx"])
            .unwrap_or_default();
        assert!(here.contains(":idx"), "primary {} holds some AORs", n.port);
    }
}
