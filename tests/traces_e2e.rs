//! One call is one trace: an echo call through separate edge, registrar,
//! router and media processes, each exporting over OTLP/gRPC to a real
//! receiver in the test, arrives as spans from all four under one trace id.

mod common;

use common::phone::{pcmu_offer, Phone};
use common::Topology;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (trace id, service name, span name, span kind, rpc.system) of every span received.
type Spans = Arc<Mutex<Vec<(String, String, String, i32, String)>>>;

struct Collector(Spans);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut out = self.0.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let id: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    let rpc_system = span
                        .attributes
                        .iter()
                        .find(|a| a.key == "rpc.system")
                        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                            Value::StringValue(s) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    out.push((id, service.clone(), span.name, span.kind, rpc_system));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A real OTLP/gRPC receiver on a loopback port, in its own thread.
fn start_collector() -> (u16, Spans) {
    let spans: Spans = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let s = spans.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(s)))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await
                .unwrap();
        });
    });
    (port, spans)
}

const ECHO: &str = "[default]\nexten => 3666,1,Answer\nexten => 3666,2,Goto(echo,3666,1)\n[echo]\nexten => 3666,1,Playback(demo-echotest)\nexten => 3666,n,Echo\n";

#[test]
fn one_echo_call_is_one_trace_across_all_four_services() {
    let (port, spans) = start_collector();
    let endpoint = format!("http://127.0.0.1:{port}");
    let t = Topology::start_with(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        Some(ECHO),
    );
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    // Some audio, then '#' ends the echo and the PBX hangs up.
    p.rtp
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    for i in 0..20u16 {
        p.send_rtp(0, i, 160 * u32::from(i), i == 0, &[0x55; 160]);
        let _ = p.recv_rtp();
    }
    for k in 0..3u16 {
        p.send_rtp(101, 100 + k, 9000, k == 0, &[11, 0x8a, 0x03, 0x20]);
    }
    assert!(p.expect_bye(Duration::from_secs(5)));
    let wanted: BTreeSet<&str> = [
        "asterism-edge",
        "asterism-registrar",
        "asterism-router",
        "asterism-media",
    ]
    .into();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = HashMap::new();
    while Instant::now() < deadline {
        let mut by_trace: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (id, service, ..) in spans.lock().unwrap().iter() {
            by_trace
                .entry(id.clone())
                .or_default()
                .insert(service.clone());
        }
        let one_trace = by_trace
            .values()
            .any(|services| wanted.iter().all(|w| services.contains(*w)));
        let all = spans.lock().unwrap().clone();
        let names: BTreeSet<String> = all.iter().map(|s| s.2.clone()).collect();
        let missing_names: Vec<&str> = [
            "edge.call",
            "sip.server_transaction",
            "registrar.authenticate",
            "router.call",
            "router.step",
            "media.open",
            "media.session",
        ]
        .into_iter()
        .filter(|n| !names.contains(*n))
        .collect();
        // OpenTelemetry's gRPC conventions: the edge's calls are CLIENT
        // spans, each backend's answer a SERVER span, both named
        // package.Service/Method with rpc.system=grpc (what draws the
        // service graph edge -> registrar/router/media).
        const SERVER: i32 = 2;
        const CLIENT: i32 = 3;
        let has = |service: &str, name: &str, kind: i32| {
            all.iter()
                .any(|(_, s, n, k, rpc)| s == service && n == name && *k == kind && rpc == "grpc")
        };
        let mut missing_rpc = Vec::new();
        for (server, method) in [
            (
                "asterism-registrar",
                "asterism.registrar.v1.Registrar/Authenticate",
            ),
            ("asterism-router", "asterism.router.v1.Router/Execute"),
            ("asterism-media", "asterism.media.v1.Media/Open"),
        ] {
            if !has("asterism-edge", method, CLIENT) {
                missing_rpc.push(format!("edge CLIENT {method}"));
            }
            if !has(server, method, SERVER) {
                missing_rpc.push(format!("{server} SERVER {method}"));
            }
        }
        if one_trace && missing_names.is_empty() && missing_rpc.is_empty() {
            return;
        }
        last = by_trace;
        if Instant::now() + Duration::from_millis(200) >= deadline {
            panic!(
                "after 15 s: one trace over the four services: {one_trace}; spans missing: {missing_names:?}; rpc spans missing: {missing_rpc:?}; traces: {last:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no trace holds spans from all four services: {last:?}");
}
