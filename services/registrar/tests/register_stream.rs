//! `RegisterStream` over a real gRPC connection: calls answered by id in
//! any order, each with what the unary Register (Authenticate, Lookup)
//! would answer, a kind it does not know refused as UNIMPLEMENTED, the stream
//! ending after the last answer once the edge closes its side, and a store
//! that is down reported per call as UNAVAILABLE (the edge's 503).

use asterism_proto::registrar::register_call::Call;
use asterism_proto::registrar::register_result::Result as Answer;
use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::registrar::{
    AuthenticateRequest, ContactSpec, DigestCredentials, LookupRequest, Outcome, RegisterCall,
    RegisterRequest, RegisterResponse, RegisterResult,
};
use asterism_sip::digest::{expected_response, ha1, Algorithm, Credentials};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const SIP_CONF: &str =
    "[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alicepw\nhost=dynamic\n";

/// A registrar serving on a loopback port; its address.
async fn serve(redis_url: Option<&str>) -> String {
    let tag = format!("register-stream-{}", redis_url.is_some());
    let registrar = asterism_registrar::with_sip_conf(&tag, SIP_CONF, redis_url).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(asterism_registrar::service(registrar))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

fn request(creds: Option<DigestCredentials>) -> RegisterRequest {
    RegisterRequest {
        aor: "alice".into(),
        contacts: vec![ContactSpec {
            uri: "sip:alice@127.0.0.1:5070".into(),
            expires: Some(60),
            q_milli: None,
        }],
        call_id: "stream-test".into(),
        cseq: 2,
        credentials: creds,
        method: "REGISTER".into(),
        request_uri: "sip:127.0.0.1".into(),
        ..Default::default()
    }
}

fn signed(nonce: &str, password: &str) -> DigestCredentials {
    let mut c = Credentials {
        username: "alice".into(),
        realm: "asterisk".into(),
        nonce: nonce.into(),
        uri: "sip:127.0.0.1".into(),
        ..Default::default()
    };
    let h = ha1(Algorithm::Md5, "alice", "asterisk", password);
    c.response = expected_response(Algorithm::Md5, &h, "REGISTER", &c);
    DigestCredentials {
        username: c.username,
        realm: c.realm,
        nonce: c.nonce,
        uri: c.uri,
        response: c.response,
        ..Default::default()
    }
}

struct Stream {
    out: mpsc::Sender<RegisterCall>,
    answers: tonic::Streaming<RegisterResult>,
}

impl Stream {
    async fn open(addr: &str) -> Stream {
        let mut client = RegistrarClient::connect(addr.to_owned()).await.unwrap();
        let (out, rx) = mpsc::channel(16);
        let answers = client
            .register_stream(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Stream { out, answers }
    }

    async fn send(&self, id: u64, req: RegisterRequest) {
        self.send_call(id, Some(Call::Request(req))).await;
    }

    async fn send_call(&self, id: u64, call: Option<Call>) {
        let call = RegisterCall {
            id,
            call,
            traceparent: String::new(),
        };
        self.out.send(call).await.unwrap();
    }

    async fn call(&mut self, id: u64, req: RegisterRequest) -> RegisterResult {
        self.send(id, req).await;
        self.answers.message().await.unwrap().unwrap()
    }

    async fn ask(&mut self, id: u64, call: Option<Call>) -> RegisterResult {
        self.send_call(id, call).await;
        self.answers.message().await.unwrap().unwrap()
    }
}

/// The Register answer a result carries (a failed test otherwise).
fn registered(r: RegisterResult) -> RegisterResponse {
    match r.result {
        Some(Answer::Response(resp)) => resp,
        other => panic!("not a Register answer: {other:?}"),
    }
}

#[tokio::test]
async fn calls_on_one_stream_are_answered_by_id() {
    let addr = serve(None).await;
    let mut s = Stream::open(&addr).await;
    let first = s.call(41, request(None)).await;
    assert_eq!(first.id, 41);
    let resp = registered(first);
    assert_eq!(resp.outcome, Outcome::Challenge as i32);
    let nonce = resp.challenge.unwrap().nonce;

    let wrong = s.call(42, request(Some(signed(&nonce, "guess")))).await;
    assert_eq!(wrong.id, 42);
    assert_eq!(registered(wrong).outcome, Outcome::Forbidden as i32);

    // Two at once: both answered, each under its own id.
    let mut again = request(Some(signed(&nonce, "alicepw")));
    again.cseq = 3;
    for (id, req) in [(43, request(Some(signed(&nonce, "alicepw")))), (44, again)] {
        s.send(id, req).await;
    }
    let mut got = HashMap::new();
    for _ in 0..2 {
        let r = s.answers.message().await.unwrap().unwrap();
        got.insert(r.id, registered(r));
    }
    let ok = &got[&43];
    assert_eq!(ok.outcome, Outcome::Ok as i32, "{ok:?}");
    assert_eq!(ok.bindings[0].contact, "sip:alice@127.0.0.1:5070");
    assert!(got.contains_key(&44), "{got:?}");

    // The edge closes its side: the stream ends after the last answer.
    s.send(45, request(None)).await;
    drop(s.out);
    let r = s.answers.message().await.unwrap().unwrap();
    assert_eq!(r.id, 45);
    assert!(s.answers.message().await.unwrap().is_none());
}

#[tokio::test]
async fn a_store_down_fails_the_call_as_unavailable() {
    // A port nothing listens on: the binding store is unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = serve(Some(&format!("redis://127.0.0.1:{port}/"))).await;
    let mut s = Stream::open(&addr).await;
    let nonce = registered(s.call(1, request(None)).await)
        .challenge
        .unwrap()
        .nonce;
    let r = s.call(2, request(Some(signed(&nonce, "alicepw")))).await;
    assert_eq!(r.id, 2);
    assert!(r.result.is_none());
    assert_eq!(r.error_code, tonic::Code::Unavailable as i32, "{r:?}");
    // The stream stays usable.
    assert_eq!(s.call(3, request(None)).await.id, 3);
}

#[tokio::test]
async fn authenticate_and_lookup_ride_the_stream_too() {
    let addr = serve(None).await;
    let mut s = Stream::open(&addr).await;
    let nonce = registered(s.call(1, request(None)).await)
        .challenge
        .unwrap()
        .nonce;
    let ok = registered(s.call(2, request(Some(signed(&nonce, "alicepw")))).await);
    assert_eq!(ok.outcome, Outcome::Ok as i32, "{ok:?}");

    let lookup = Call::Lookup(LookupRequest {
        aor: "alice".into(),
    });
    let r = s.ask(3, Some(lookup)).await;
    assert_eq!(r.id, 3);
    let Some(Answer::Found(found)) = r.result else {
        panic!("not a Lookup answer: {r:?}")
    };
    assert!(found.known);
    assert_eq!(found.bindings[0].contact, "sip:alice@127.0.0.1:5070");

    // An INVITE without credentials is challenged, as the unary call does.
    let invite = Call::Authenticate(AuthenticateRequest {
        method: "INVITE".into(),
        request_uri: "sip:61@127.0.0.1".into(),
        from_user: "alice".into(),
        call_id: "stream-invite".into(),
        cseq: 1,
        branch: "z9hG4bKstream".into(),
        ..Default::default()
    });
    let r = s.ask(4, Some(invite)).await;
    let Some(Answer::Authenticated(auth)) = r.result else {
        panic!("not an Authenticate answer: {r:?}")
    };
    assert_eq!(auth.outcome, Outcome::Challenge as i32, "{auth:?}");
    assert_eq!(auth.challenge.unwrap().realm, "asterisk");

    // A kind this registrar does not know (a newer edge's): UNIMPLEMENTED,
    // and the stream goes on.
    let r = s.ask(5, None).await;
    assert_eq!(r.id, 5);
    assert!(r.result.is_none());
    assert_eq!(r.error_code, tonic::Code::Unimplemented as i32, "{r:?}");
    assert_eq!(
        s.ask(6, Some(Call::Lookup(LookupRequest::default())))
            .await
            .id,
        6
    );
}
