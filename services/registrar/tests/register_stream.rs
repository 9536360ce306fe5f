//! `RegisterStream` over a real gRPC connection: calls answered by id in
//! any order, each with what the unary Register would answer, the stream
//! ending after the last answer once the edge closes its side, and a store
//! that is down reported per call as UNAVAILABLE (the edge's 503).

use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::registrar::{
    ContactSpec, DigestCredentials, Outcome, RegisterCall, RegisterRequest, RegisterResult,
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
        let call = RegisterCall {
            id,
            request: Some(req),
            traceparent: String::new(),
        };
        self.out.send(call).await.unwrap();
    }

    async fn call(&mut self, id: u64, req: RegisterRequest) -> RegisterResult {
        self.send(id, req).await;
        self.answers.message().await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn calls_on_one_stream_are_answered_by_id() {
    let addr = serve(None).await;
    let mut s = Stream::open(&addr).await;
    let first = s.call(41, request(None)).await;
    assert_eq!(first.id, 41);
    let resp = first.response.unwrap();
    assert_eq!(resp.outcome, Outcome::Challenge as i32);
    let nonce = resp.challenge.unwrap().nonce;

    let wrong = s.call(42, request(Some(signed(&nonce, "guess")))).await;
    assert_eq!(wrong.id, 42);
    assert_eq!(wrong.response.unwrap().outcome, Outcome::Forbidden as i32);

    // Two at once: both answered, each under its own id.
    let mut again = request(Some(signed(&nonce, "alicepw")));
    again.cseq = 3;
    for (id, req) in [(43, request(Some(signed(&nonce, "alicepw")))), (44, again)] {
        s.send(id, req).await;
    }
    let mut got = HashMap::new();
    for _ in 0..2 {
        let r = s.answers.message().await.unwrap().unwrap();
        got.insert(r.id, r.response.unwrap());
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
    let nonce = s
        .call(1, request(None))
        .await
        .response
        .unwrap()
        .challenge
        .unwrap()
        .nonce;
    let r = s.call(2, request(Some(signed(&nonce, "alicepw")))).await;
    assert_eq!(r.id, 2);
    assert!(r.response.is_none());
    assert_eq!(r.error_code, tonic::Code::Unavailable as i32, "{r:?}");
    // The stream stays usable.
    assert_eq!(s.call(3, request(None)).await.id, 3);
}
