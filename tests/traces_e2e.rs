//! One call is one trace, the way an operator reads it in Jaeger or Tempo:
//! separate edge, registrar, router and media processes export over OTLP
//! to a real receiver in the test (over TLS with a bearer header, as to a
//! hosted collector), and the spans arrive joined — the challenged INVITE
//! and the authenticated one, the challenged REGISTER and its retry, a call
//! crossing two edges, a call blind-transferred by REFER — with gRPC
//! CLIENT/SERVER spans that draw the service
//! graph, SIP attributes to search by, the pod as a resource attribute,
//! and JSON log lines naming the trace.

mod common;

use common::calls::{both, scenario, Sipp};
use common::phone::{pcmu_offer, Phone};
use common::sip::{rand_u32, status_code, Ua};
use common::Topology;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A span as the receiver got it.
#[derive(Clone, Debug)]
struct Got {
    trace: String,
    span: String,
    parent: String,
    service: String,
    resource: HashMap<String, String>,
    name: String,
    kind: i32,
    attrs: HashMap<String, String>,
}

impl Got {
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map(String::as_str).unwrap_or_default()
    }
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<Got>>>,
    /// The `authorization` metadata of every export.
    auth: Arc<Mutex<Vec<String>>>,
}

fn text(kv: &[KeyValue]) -> HashMap<String, String> {
    kv.iter()
        .filter_map(|a| {
            let v = match a.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                Value::BoolValue(b) => b.to_string(),
                Value::DoubleValue(d) => d.to_string(),
                _ => return None,
            };
            Some((a.key.clone(), v))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let auth = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.auth.lock().unwrap().push(auth);
        let mut out = self.spans.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            let resource = text(
                rs.resource
                    .as_ref()
                    .map(|r| &r.attributes[..])
                    .unwrap_or(&[]),
            );
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                out.push(Got {
                    trace: hex(&span.trace_id),
                    span: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    service: service.clone(),
                    resource: resource.clone(),
                    name: span.name,
                    kind: span.kind,
                    attrs: text(&span.attributes),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A real OTLP/gRPC receiver on a loopback port, in its own thread; over
/// TLS with `identity` (certificate and key, PEM).
fn start_collector(identity: Option<(Vec<u8>, Vec<u8>)>) -> (u16, Received) {
    let got = Received::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let g = got.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let mut server = tonic::transport::Server::builder();
            if let Some((cert, key)) = identity {
                let tls = tonic::transport::ServerTlsConfig::new()
                    .identity(tonic::transport::Identity::from_pem(cert, key));
                server = server.tls_config(tls).unwrap();
            }
            server
                .add_service(TraceServiceServer::new(g))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await
                .unwrap();
        });
    });
    (port, got)
}

/// Wait (15 s at most) until `check` finds what it wants in the spans.
fn wait_for(got: &Received, mut check: impl FnMut(&[Got]) -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = got.spans.lock().unwrap().clone();
        match check(&spans) {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("after 15 s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The server spans named `name` for Call-ID `call_id`: the challenged one
/// (401) and the retry (`final_code`) in one trace, the retry a child of
/// the challenge. Returns the trace id.
fn joined(spans: &[Got], name: &str, call_id: &str, final_code: &str) -> Result<String, String> {
    let mine: Vec<&Got> = spans
        .iter()
        .filter(|s| s.name == name && s.attr("sip.call_id") == call_id)
        .collect();
    let challenge = mine.iter().find(|s| s.attr("sip.status_code") == "401");
    let retry = mine
        .iter()
        .find(|s| s.attr("sip.status_code") == final_code);
    match (challenge, retry) {
        (Some(c), Some(r)) if c.trace == r.trace && r.parent == c.span => {
            if c.kind != SERVER || r.kind != SERVER {
                return Err(format!("{name} spans are not SERVER spans: {mine:?}"));
            }
            Ok(r.trace.clone())
        }
        _ => Err(format!(
            "{name} {call_id}: no 401 + {final_code} pair in one trace: {mine:?}"
        )),
    }
}

const ECHO: &str = "[default]\nexten => 3666,1,Answer\nexten => 3666,2,Goto(echo,3666,1)\n[echo]\nexten => 3666,1,Playback(demo-echotest)\nexten => 3666,n,Echo\n";

#[test]
fn a_call_and_a_registration_are_each_one_trace_from_challenge_to_end() {
    let dir = common::TempDir::new("otlp-tls");
    let (ca, cert, key) = common::pki::test_pki(&dir.0);
    let (port, got) = start_collector(Some((cert, key)));
    let endpoint = format!("https://127.0.0.1:{port}");
    let t = Topology::start_with(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer s3cret"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("K8S_POD_NAME", "pod-under-test"),
            ("K8S_NAMESPACE_NAME", "voip"),
            ("ASTERISM_LOG_FORMAT", "json"),
            ("ASTERISM_LOG", "info,asterism_edge=debug"),
        ],
        Some(ECHO),
    );
    // A registration: 401, then 200 with the same Call-ID.
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let reg_id = format!("reg-{}@test", rand_u32());
    let contact = format!("<sip:alice@127.0.0.1:{}>", ua.port());
    let r = ua.register(&reg_id, 1, vec![contact], Some(60));
    assert_eq!(status_code(&r), Some(200), "{r}");
    // A call to the echo test: 401, then the INVITE with credentials.
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    p.rtp
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    for i in 0..20u16 {
        p.send_rtp(0, i, 160 * u32::from(i), i == 0, &[0x55; 160]);
        let _ = p.recv_rtp();
    }
    // '#' ends the echo and the PBX hangs up.
    for k in 0..3u16 {
        p.send_rtp(101, 100 + k, 9000, k == 0, &[11, 0x8a, 0x03, 0x20]);
    }
    assert!(p.expect_bye(Duration::from_secs(5)));
    let call_id = p.call_id().to_owned();
    let mut call_trace = String::new();
    wait_for(&got, |spans| {
        joined(spans, "edge.register", &reg_id, "200")?;
        call_trace = joined(spans, "edge.call", &call_id, "200")?;
        let trace: Vec<&Got> = spans.iter().filter(|s| s.trace == call_trace).collect();
        let services: BTreeSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
        for wanted in [
            "asterism-edge",
            "asterism-registrar",
            "asterism-router",
            "asterism-media",
        ] {
            if !services.contains(wanted) {
                return Err(format!(
                    "the call's trace has no {wanted} span: {services:?}"
                ));
            }
        }
        // OpenTelemetry's gRPC conventions: the edge's calls are CLIENT
        // spans, each backend's answer a SERVER span (the service graph).
        for (server, method) in [
            (
                "asterism-registrar",
                "asterism.registrar.v1.Registrar/Authenticate",
            ),
            ("asterism-router", "asterism.router.v1.Router/Execute"),
            ("asterism-media", "asterism.media.v1.Media/Open"),
        ] {
            for (service, kind) in [("asterism-edge", CLIENT), (server, SERVER)] {
                let found = trace.iter().any(|s| {
                    s.service == service
                        && s.name == method
                        && s.kind == kind
                        && s.attr("rpc.system") == "grpc"
                });
                if !found {
                    return Err(format!(
                        "no {service} span {method} of kind {kind} in the call"
                    ));
                }
            }
        }
        let answered = trace
            .iter()
            .find(|s| s.name == "edge.call" && s.attr("sip.status_code") == "200")
            .ok_or("no answered edge.call")?;
        for (key, want) in [
            ("sip.method", "INVITE"),
            ("sip.from.user", "bob"),
            ("sip.request_uri.user", "3666"),
            ("network.transport", "udp"),
            ("network.peer.address", "127.0.0.1"),
            ("asterism.call.outcome", "answered"),
        ] {
            if answered.attr(key) != want {
                return Err(format!(
                    "edge.call {key}={:?}, not {want:?}",
                    answered.attr(key)
                ));
            }
        }
        for names in ["router.call", "media.session", "sip.server_transaction"] {
            if !trace.iter().any(|s| s.name == names) {
                return Err(format!("no {names} span in the call's trace"));
            }
        }
        Ok(())
    });
    // Every span names its pod and version; every export carried the header.
    let spans = got.spans.lock().unwrap().clone();
    for s in &spans {
        assert_eq!(
            s.resource.get("k8s.pod.name").map(String::as_str),
            Some("pod-under-test"),
            "{s:?}"
        );
        assert_eq!(
            s.resource.get("k8s.namespace.name").map(String::as_str),
            Some("voip")
        );
        assert!(!s
            .resource
            .get("service.version")
            .cloned()
            .unwrap_or_default()
            .is_empty());
    }
    let auth = got.auth.lock().unwrap().clone();
    assert!(
        !auth.is_empty() && auth.iter().all(|a| a == "Bearer s3cret"),
        "{auth:?}"
    );
    // The edge's JSON log lines of the call name its trace.
    let logs = t.edge.errors();
    let marked = format!("\"trace_id\":\"{call_trace}\"");
    let line = logs.lines().find(|l| l.contains(&marked));
    let line = line.unwrap_or_else(|| panic!("no log line carries {marked}:\n{logs}"));
    assert!(
        line.starts_with('{') && line.contains("\"span_id\":\""),
        "{line}"
    );
}

const DIALPLAN: &str = "[general]\nstatic=yes\n\n[default]\nexten => 62,1,Dial(SIP/bob)\n";

#[test]
fn a_call_crossing_two_edges_is_one_trace() {
    let (port, got) = start_collector(None);
    let endpoint = format!("http://127.0.0.1:{port}");
    let t = Topology::start_with(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("ASTERISM_EDGE_ID", "edge-1"),
            ("K8S_POD_NAME", "edge-1"),
        ],
        Some(DIALPLAN),
    );
    let (_edge2, edge2, _) = t.another_edge_with("edge-2", &[("K8S_POD_NAME", "edge-2")]);
    let sipp = Sipp::local(&t.dir.0);
    // bob is on edge 2; alice calls him through edge 1 and hangs up.
    let bob = sipp.callee(edge2, ("bob", "bob62"), "callee_answer_relayed.xml", 0);
    let caller = scenario("caller_hangs_up.xml");
    both(
        sipp.call(t.sip_addr(), &caller, ("alice", "alice61"), "62", 300),
        bob,
    );
    wait_for(&got, |spans| {
        let on =
            |pod: &str, s: &Got| s.resource.get("k8s.pod.name").map(String::as_str) == Some(pod);
        let call = spans
            .iter()
            .find(|s| {
                on("edge-1", s) && s.name == "edge.call" && s.attr("sip.status_code") == "200"
            })
            .ok_or("no answered call on edge 1")?;
        let ours: BTreeSet<&str> = spans
            .iter()
            .filter(|s| s.trace == call.trace && on("edge-1", s))
            .map(|s| s.span.as_str())
            .collect();
        for method in ["INVITE", "BYE"] {
            let relayed = spans.iter().find(|s| {
                on("edge-2", s)
                    && s.name == "edge.relay"
                    && s.attr("sip.method") == method
                    && s.trace == call.trace
            });
            match relayed {
                // A child of edge 1's span that sent it, never a stranger's.
                Some(r) if ours.contains(r.parent.as_str()) && r.kind == SERVER => {}
                Some(r) => {
                    return Err(format!(
                        "edge 2's {method} relay is not edge 1's child: {r:?}"
                    ))
                }
                None => return Err(format!("edge 2 relayed no {method} in edge 1's call trace")),
            }
        }
        Ok(())
    });
}

/// A blind transfer keeps the call's trace: alice calls 62, bob (baresip)
/// REFERs her to 63, and the INVITE to carol is in the trace of the
/// INVITE to bob, with the router's second Dial.
#[test]
fn a_transferred_call_stays_one_trace() {
    use common::baresip::{self, Baresip};
    let (port, got) = start_collector(None);
    let endpoint = format!("http://127.0.0.1:{port}");
    let plan = "[default]\nexten => 62,1,Dial(SIP/bob,20)\nexten => 63,1,Dial(SIP/carol,20)\n";
    let t = Topology::start_with(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        Some(plan),
    );
    let dir = common::TempDir::new("trace-refer");
    let phone = |user: &str, pw: &str, freq: f64| -> Baresip {
        let params = "answermode=auto;audio_codecs=PCMU";
        baresip::tone_phone(&dir.0, t.sip_port, (user, pw), (freq, 20.0), params)
    };
    let (alice, bob, carol) = (
        phone("alice", "alice61", 1000.0),
        phone("bob", "bob62", 600.0),
        phone("carol", "carol63", 2000.0),
    );
    let up = |p: &Baresip| {
        common::wait_until(Duration::from_secs(10), || {
            p.calls().contains("ESTABLISHED")
        })
    };
    alice.ctrl("dial", "62").unwrap();
    assert!(up(&bob), "{}", bob.log());
    bob.ctrl("transfer", "63").unwrap();
    assert!(up(&carol), "{}", carol.log());
    alice.ctrl("hangup", "").unwrap();
    wait_for(&got, |spans| {
        let invite_to = |user: &str| {
            spans.iter().find(|s| {
                s.kind == CLIENT
                    && s.attr("sip.method") == "INVITE"
                    && s.attr("sip.to.user") == user
            })
        };
        let to_bob = invite_to("bob").ok_or("no INVITE to bob")?;
        let to_carol = invite_to("carol").ok_or("no INVITE to carol")?;
        if to_bob.trace != to_carol.trace {
            return Err(format!("two traces: {to_bob:?} / {to_carol:?}"));
        }
        let dials = spans
            .iter()
            .filter(|s| s.trace == to_bob.trace && s.service == "asterism-router")
            .count();
        if dials < 2 {
            return Err(format!("the router's steps are not in the trace ({dials})"));
        }
        Ok(())
    });
    drop((alice, bob, carol));
}
