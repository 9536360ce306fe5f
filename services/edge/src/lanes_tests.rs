//! The lanes against a real registrar over loopback gRPC: REGISTERs,
//! Authenticates and Lookups ride the stream, an older registrar (no
//! `RegisterStream`) is asked unary, and
//! a registrar that dies under a call fails it as never answered (so
//! `crate::retry` sends it again).

use super::*;
use asterism_proto::registrar::{ContactSpec, Outcome};
use std::convert::Infallible;
use tonic::codegen::{http, BoxFuture, Service};

const SIP_CONF: &str =
    "[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alicepw\nhost=dynamic\n";

/// The registrar's service behind a gate that notes each method called
/// and, for an "older" registrar, answers `RegisterStream` UNIMPLEMENTED.
#[derive(Clone)]
struct Gate<S> {
    inner: S,
    refuse_stream: bool,
    seen: Arc<Mutex<Vec<String>>>,
}

impl<S> Service<http::Request<tonic::body::Body>> for Gate<S>
where
    S: Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let path = req.uri().path().to_owned();
        lock(&self.seen).push(path.rsplit('/').next().unwrap_or_default().to_owned());
        if self.refuse_stream && path.ends_with("/RegisterStream") {
            return Box::pin(async { Ok(Status::unimplemented("older registrar").into_http()) });
        }
        let mut inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}

impl<S> tonic::server::NamedService for Gate<S> {
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
    let seen = Arc::new(Mutex::new(Vec::new()));
    let gate = Gate {
        inner: asterism_registrar::service(registrar),
        refuse_stream,
        seen: seen.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(gate)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
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

/// A TCP forwarder to `to`: the registrar as the edge reaches it; aborting
/// the returned task cuts every connection, as a replica killed does.
async fn forwarder(
    to: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, task)
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
