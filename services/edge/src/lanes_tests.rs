//! The lanes against a real registrar over loopback gRPC: REGISTERs,
//! Authenticates and Lookups ride the stream, an older registrar (no
//! `RegisterStream`) is asked unary, and
//! a registrar that dies under a call fails it as never answered (so
//! `crate::retry` sends it again).

use super::*;
use crate::test_gate::{forwarder, serve as serve_gate, Gate, Named};
use asterism_proto::registrar::{ContactSpec, Outcome};

const SIP_CONF: &str =
    "[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alicepw\nhost=dynamic\n";

/// The registrar's name, for its gate.
struct RegistrarName;

impl Named for RegistrarName {
    const NAME: &'static str = "asterism.registrar.v1.Registrar";
}

struct Served {
    lanes: Lanes,
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn serve(refuse_stream: bool, redis_url: Option<String>) -> Served {
    let tag = format!("lanes-{refuse_stream}-{}", redis_url.is_some());
    let registrar =
        asterism_registrar::with_sip_conf(&tag, SIP_CONF, redis_url.as_deref()).unwrap();
    let refuse = refuse_stream.then_some("RegisterStream");
    let gate: Gate<_, RegistrarName> = Gate::new(asterism_registrar::service(registrar), refuse);
    let seen = gate.seen.clone();
    let addr = serve_gate(gate).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let client =
        RegistrarClient::with_interceptor(channel, asterism_telemetry::propagation::Inject);
    Served {
        lanes: Lanes::new(client),
        addr,
        seen,
    }
}

fn request() -> RegisterRequest {
    RegisterRequest {
        aor: "alice".into(),
        contacts: vec![ContactSpec {
            uri: "sip:alice@127.0.0.1:5070".into(),
            expires: Some(60),
            q_milli: None,
        }],
        call_id: "lanes-test".into(),
        cseq: 1,
        method: "REGISTER".into(),
        request_uri: "sip:127.0.0.1".into(),
        ..Default::default()
    }
}

const TIMEOUT: Duration = Duration::from_secs(2);

fn invite() -> AuthenticateRequest {
    AuthenticateRequest {
        method: "INVITE".into(),
        request_uri: "sip:61@127.0.0.1".into(),
        from_user: "alice".into(),
        call_id: "lanes-invite".into(),
        cseq: 1,
        branch: "z9hG4bKlanes".into(),
        ..Default::default()
    }
}

fn lookup(aor: &str) -> LookupRequest {
    LookupRequest { aor: aor.into() }
}

#[tokio::test]
async fn every_kind_rides_the_stream() {
    let s = serve(false, None).await;
    for _ in 0..(2 * LANES) {
        let r = s.lanes.register(request(), TIMEOUT).await.unwrap();
        assert_eq!(r.outcome, Outcome::Challenge as i32);
        let a = s.lanes.authenticate(invite(), TIMEOUT).await.unwrap();
        assert_eq!(a.outcome, Outcome::Challenge as i32);
        let l = s.lanes.lookup(lookup("alice"), TIMEOUT).await.unwrap();
        assert!(l.known);
        assert!(
            !s.lanes
                .lookup(lookup("nobody"), TIMEOUT)
                .await
                .unwrap()
                .known
        );
    }
    let seen = lock(&s.seen).clone();
    // One stream per lane, reused; no unary call.
    assert_eq!(seen, vec!["RegisterStream"; LANES], "{seen:?}");
}

#[tokio::test]
async fn an_older_registrar_is_asked_unary() {
    let s = serve(true, None).await;
    for _ in 0..3 {
        let r = s.lanes.register(request(), TIMEOUT).await.unwrap();
        assert_eq!(r.outcome, Outcome::Challenge as i32);
    }
    let seen = lock(&s.seen).clone();
    assert_eq!(
        seen,
        ["RegisterStream", "Register", "Register", "Register"],
        "tried once, then unary"
    );
    // Each kind finds out for itself, once.
    for _ in 0..2 {
        let a = s.lanes.authenticate(invite(), TIMEOUT).await.unwrap();
        assert_eq!(a.outcome, Outcome::Challenge as i32);
        assert!(
            s.lanes
                .lookup(lookup("alice"), TIMEOUT)
                .await
                .unwrap()
                .known
        );
    }
    let seen = lock(&s.seen).clone();
    assert_eq!(
        seen[4..],
        [
            "RegisterStream",
            "Authenticate",
            "RegisterStream",
            "Lookup",
            "Authenticate",
            "Lookup"
        ],
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_registrar_dying_under_a_call_fails_it_unanswered() {
    // A "Redis" that accepts and never answers: the registrar holds the
    // call (about a second) while the connection to it is cut.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    let s = serve(false, Some(url)).await;
    let (via, cut) = forwarder(s.addr).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{via}"))
        .unwrap()
        .connect_lazy();
    let lanes = Lanes::new(RegistrarClient::with_interceptor(
        channel,
        asterism_telemetry::propagation::Inject,
    ));
    let challenge = lanes
        .register(request(), TIMEOUT)
        .await
        .unwrap()
        .challenge
        .unwrap();
    let mut c = asterism_sip::digest::Credentials {
        username: "alice".into(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: "sip:127.0.0.1".into(),
        ..Default::default()
    };
    let alg = asterism_sip::digest::Algorithm::Md5;
    let ha1 = asterism_sip::digest::ha1(alg, "alice", &challenge.realm, "alicepw");
    c.response = asterism_sip::digest::expected_response(alg, &ha1, "REGISTER", &c);
    let mut req = request();
    req.cseq = 2;
    req.credentials = Some(crate::register::pb_credentials(c));
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cut.abort();
    });
    let r = tokio::time::timeout(Duration::from_secs(5), lanes.register(req, TIMEOUT))
        .await
        .expect("the cut is noticed");
    killer.await.unwrap();
    let status = r.expect_err("no answer through a cut connection");
    assert!(crate::retry::never_answered(&status), "{status:?}");
    drop(silent);
}
