//! Registrations through the edge while Redis Sentinel fails the primary
//! over: sipp registers 100 users, the primary is handed to the replica,
//! registrations come back by themselves, and every user's binding is on the
//! new primary afterwards.

mod common;

use asterism_testkit::RedisServer;
use common::{Topology, USERS};
use std::time::{Duration, Instant};

#[test]
fn registrations_follow_a_sentinel_failover() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(primary.port);
    let sentinel = RedisServer::sentinel("pbx", primary.port);
    let url = format!("redis+sentinel://127.0.0.1:{}/pbx", sentinel.port);
    let t = Topology::start(&[("ASTERISM_REDIS_URL", &url)]);

    let run = t.sipp("register_auth.xml", "udp", USERS, 60);
    assert!(run.success, "before the failover:\n{}", run.output);

    sentinel.failover("pbx");
    let started = Instant::now();
    let promoted = |r: &RedisServer| {
        r.command(&["ROLE"])
            .is_some_and(|role| role.contains("master"))
    };
    let up = common::wait_until(Duration::from_secs(30), || promoted(&replica));
    assert!(up, "sentinel promoted the replica");

    // All users again, until a whole run goes through (while the new
    // primary has no replica confirming writes, REGISTERs get 503).
    let mut last = String::new();
    let mut back = false;
    while started.elapsed() < Duration::from_secs(60) {
        let run = t.sipp("register_auth.xml", "udp", USERS, 60);
        if run.success {
            back = true;
            break;
        }
        last = run.output;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(back, "registrations did not come back:\n{last}");
    eprintln!(
        "all {USERS} users register again {:?} after SENTINEL FAILOVER",
        started.elapsed()
    );
    let idx = replica
        .command(&["KEYS", "asterism:{user*}:idx"])
        .unwrap_or_default();
    assert!(
        idx.starts_with(&format!("*{USERS}\r\n")),
        "all {USERS} users bound on the new primary: {idx}"
    );
}
