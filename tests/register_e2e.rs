//! REGISTER end to end: sipp against separate edge and registrar processes
//! with a real redis-server, over UDP and TCP.

mod common;

use common::sip::{header, md5_hex, status_code, udp_exchange};
use common::{Topology, USERS};
use std::time::Duration;

#[test]
fn sipp_registers_100_users_with_digest_over_udp_and_tcp() {
    let t = Topology::start(&[]);
    for transport in ["udp", "tcp"] {
        let run = t.sipp("register_auth.xml", transport, USERS, 60);
        assert!(run.success, "sipp over {transport} failed:\n{}", run.output);
    }
    for i in [0, 42, USERS - 1] {
        let aor = format!("user{i:04}");
        let keys = t.binding_keys(&aor);
        // One contact per transport (`;transport=UDP` and `;transport=TCP`).
        assert_eq!(keys.len(), 2, "two bindings for {aor}: {keys:?}");
        for k in &keys {
            let ttl = t.redis.command(&["TTL", k]).unwrap();
            let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
            assert!(ttl > 0 && ttl <= 60, "TTL of {aor}'s binding is {ttl}");
        }
    }
}

#[test]
fn wrong_password_gets_403_and_no_binding() {
    let t = Topology::start(&[]);
    let run = t.sipp("register_wrong_password.xml", "udp", 5, 60);
    assert!(run.success, "{}", run.output);
    assert!(t.binding_keys("user0000").is_empty());
}

#[test]
fn short_expires_binding_disappears_from_redis() {
    let t = Topology::start(&[("ASTERISM_MIN_EXPIRES", "1")]);
    let run = t.sipp("register_auth.xml", "udp", 1, 2);
    assert!(run.success, "{}", run.output);
    assert_eq!(t.binding_keys("user0000").len(), 1);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        t.binding_keys("user0000").is_empty(),
        "expired by Redis TTL"
    );
}

#[test]
fn bindings_survive_a_restart_of_edge_and_registrar() {
    let mut t = Topology::start(&[]);
    let run = t.sipp("register_auth.xml", "udp", 3, 60);
    assert!(run.success, "{}", run.output);
    t.restart_services();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bindings = rt.block_on(async {
        let mut c = asterism_proto::registrar::registrar_client::RegistrarClient::connect(format!(
            "http://127.0.0.1:{}",
            t.grpc_port
        ))
        .await
        .unwrap();
        c.lookup(asterism_proto::registrar::LookupRequest {
            aor: "user0001".into(),
        })
        .await
        .unwrap()
        .into_inner()
    });
    assert!(bindings.known);
    assert_eq!(bindings.bindings.len(), 1);
    assert!(bindings.bindings[0]
        .contact
        .starts_with("sip:user0001@127.0.0.1:"));
    assert_eq!(bindings.bindings[0].flow.as_ref().unwrap().transport, 1);
}

#[test]
fn redis_down_gives_503_with_retry_after_then_recovers() {
    let mut t = Topology::start(&[]);
    t.redis.stop();
    let run = t.sipp("register_unavailable.xml", "udp", 2, 60);
    assert!(
        run.success,
        "503 expected while Redis is down:\n{}",
        run.output
    );
    // The Retry-After header, seen on the wire.
    let probe = register_with_bad_auth(t.sip_addr());
    assert_eq!(status_code(&probe), Some(503), "{probe}");
    assert_eq!(header(&probe, "Retry-After"), Some("7"));
    t.redis.restart();
    let ok = common::wait_until(Duration::from_secs(10), || {
        t.sipp("register_auth.xml", "udp", 2, 60).success
    });
    assert!(ok, "registrations succeed again once Redis is back");
    assert_eq!(t.binding_keys("user0000").len(), 1);
}

/// A REGISTER whose (wrong) credentials carry a valid-looking nonce would be
/// 403; to reach the store we need a correct digest, so take the 401's nonce
/// and answer it.
fn register_with_bad_auth(target: std::net::SocketAddr) -> String {
    let req = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-ra{cseq}{};rport\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: retry-after@test\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:alice@127.0.0.1:5999>\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            common::sip::rand_u32()
        )
    };
    let first = udp_exchange(target, req(1, "").as_bytes(), Duration::from_secs(3)).unwrap();
    let challenge = header(&first, "WWW-Authenticate").unwrap().to_owned();
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let ha1 = md5_hex("alice:asterisk:alice61");
    let ha2 = md5_hex("REGISTER:sip:127.0.0.1");
    let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
    let auth = format!("Authorization: Digest username=\"alice\",realm=\"asterisk\",nonce=\"{nonce}\",uri=\"sip:127.0.0.1\",response=\"{response}\",algorithm=MD5\r\n");
    udp_exchange(target, req(2, &auth).as_bytes(), Duration::from_secs(5)).unwrap()
}

#[test]
fn metrics_count_registers_and_the_edge_is_live_and_ready() {
    let mut t = Topology::start(&[]);
    assert_eq!(
        common::http_get(t.edge_http, "/live").map(|r| r.0),
        Some(200)
    );
    // Ready once the registrar and router answer their health checks.
    let ready_is = |want: u16| {
        common::wait_until(Duration::from_secs(5), || {
            common::http_get(t.edge_http, "/ready").map(|r| r.0) == Some(want)
        })
    };
    assert!(ready_is(200), "edge ready");
    let run = t.sipp("register_auth.xml", "udp", 3, 60);
    assert!(run.success, "{}", run.output);
    let (code, metrics) = common::http_get(t.edge_http, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("asterism_edge_registers_total{code=\"401\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("asterism_edge_registers_total{code=\"200\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("asterism_edge_calls_active 0"),
        "{metrics}"
    );
    // Latency in seconds: six REGISTERs, six registrar round trips.
    for sample in [
        "# UNIT asterism_edge_register_duration_seconds seconds",
        "asterism_edge_register_duration_seconds_count 6",
        "asterism_edge_grpc_client_duration_seconds_count{rpc_method=\"Registrar/Register\",code=\"Ok\"} 6",
    ] {
        assert!(metrics.contains(sample), "{sample}:\n{metrics}");
    }
    // Without its registrar the edge stays ready (it still answers SIP),
    // says the registrar is down, and answers REGISTER 503 + Retry-After.
    t.registrar.kill();
    let down = common::wait_until(Duration::from_secs(10), || {
        common::http_get(t.edge_http, "/metrics")
            .is_some_and(|(_, m)| m.contains("asterism_edge_backend_up{service=\"registrar\"} 0"))
    });
    assert!(down, "the registrar is reported down");
    assert!(ready_is(200), "still ready without its registrar");
    let register = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5998;branch=z9hG4bK-down1;rport\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: registrar-down@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:5998>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let answer = udp_exchange(t.sip_addr(), register.as_bytes(), Duration::from_secs(10)).unwrap();
    assert_eq!(status_code(&answer), Some(503), "{answer}");
    assert!(header(&answer, "Retry-After").is_some(), "{answer}");
}
