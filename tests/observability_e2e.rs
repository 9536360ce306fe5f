//! What an operator points at a deployment: the chart's Grafana dashboard
//! queries only metrics the running services export (a renamed metric
//! would leave a panel silently empty), and `asterism probe` — the chart's
//! `helm test` — passes against live services and fails, naming the
//! target, against a dead one.

mod common;

use common::phone::{pcmu_offer, Phone};
use common::sip::{rand_u32, Ua};
use common::Topology;
use std::collections::BTreeSet;

const ECHO: &str = "[default]\nexten => 3666,1,Answer\n same => n,Echo\n";

/// Sample names a Prometheus exposition can hold: each `# TYPE` family
/// with its type's suffixes.
fn sample_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    out
}

/// Every `asterism_…` name in the dashboard's queries.
fn dashboard_metrics() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/asterism/dashboards/asterism.json"
    );
    let board: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for panel in board["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("asterism_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                out.insert(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
    }
    out
}

#[test]
fn the_dashboard_queries_metrics_the_services_export() {
    let t = Topology::start_with(&[], Some(ECHO));
    // Some traffic, so every family has been created.
    let ua = Ua::new(t.sip_addr(), "alice", "alice61");
    let contact = format!("<sip:alice@127.0.0.1:{}>", ua.port());
    ua.register(
        &format!("dash-{}@test", rand_u32()),
        1,
        vec![contact],
        Some(60),
    );
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    p.send_rtp(0, 1, 160, true, &[0x55; 160]);
    assert_eq!(p.hang_up(), Some(200));
    let mut exported = BTreeSet::new();
    for port in [t.edge_http, t.registrar_http, t.router_http, t.media_http] {
        let (_, text) = common::http_get(port, "/metrics").unwrap();
        exported.extend(sample_names(&text));
    }
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 15, "{wanted:?}");
    let missing: Vec<&String> = wanted.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "dashboard queries unknown metrics {missing:?}; exported: {exported:?}"
    );
}

#[test]
fn asterism_probe_passes_on_live_services_and_names_a_dead_one() {
    let t = Topology::start_with(&[], Some(ECHO));
    let probe = |targets: &[String]| {
        std::process::Command::new(asterism_testkit::bin_path("asterism"))
            .arg("probe")
            .args(targets)
            .output()
            .unwrap()
    };
    let live = [
        format!("grpc://127.0.0.1:{}", t.grpc_port),
        format!("grpc://127.0.0.1:{}", t.router_port),
        format!("grpc://127.0.0.1:{}", t.media_port),
        format!("sip://127.0.0.1:{}", t.sip_port),
    ];
    let out = probe(&live);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        said.lines().filter(|l| l.starts_with("ok ")).count(),
        4,
        "{said}"
    );
    let dead = format!("grpc://127.0.0.1:{}", asterism_testkit::free_port());
    let out = probe(&[live[3].clone(), dead.clone()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(&dead)),
        "{said}"
    );
}
