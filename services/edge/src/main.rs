//! `asterism-edge`: the SIP edge alone, talking gRPC to a registrar.

use asterism_config::cli;
use asterism_edge::config::{EdgeConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ME: &str = "asterism-edge";

fn main() -> ExitCode {
    asterism_config::runtime::run(ME, run())
}

async fn run() -> ExitCode {
    let (_telemetry, cfg, admin) = match asterism_telemetry::boot(
        ME,
        "Asterism SIP edge: transports, transactions, the B2BUA; backends over gRPC",
        SETTINGS,
        "0.0.0.0:9091",
        |env| EdgeConfig::from_env(env),
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let registrar = cfg.registrar_addr.clone();
    let backends = vec![
        (
            asterism_edge::replicas(&cfg.registrar_addr),
            asterism_edge::REGISTRAR,
        ),
        (
            asterism_edge::replicas(&cfg.router_addr),
            asterism_edge::ROUTER,
        ),
    ];
    let admin_rpc = cfg.admin_listen;
    let metrics = asterism_edge::metrics::EdgeMetrics::default();
    admin.with_registry(|r| metrics.register(r));
    let drain = admin.clone();
    let shutdown = async move {
        asterism_config::shutdown::signal().await;
        drain.drain();
    };
    match asterism_edge::Edge::bind(cfg, metrics, shutdown).await {
        Ok(edge) => {
            tokio::spawn(asterism_edge::readiness::watch_backends(
                admin.clone(),
                backends,
            ));
            tracing::info!(sip = %edge.local_addr, %registrar, admin = %admin_rpc, "edge serving");
            let (health, health_service) = tonic_health::server::health_reporter();
            health
                .set_serving::<asterism_proto::edge::edge_admin_server::EdgeAdminServer<
                    asterism_edge::admin::Admin,
                >>()
                .await;
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(health_service)
                    .add_service(asterism_edge::admin::service(
                        edge.calls.clone(),
                        edge.outregs.clone(),
                        edge.peers.clone(),
                    ))
                    .serve_with_shutdown(admin_rpc, asterism_config::shutdown::signal()),
            );
            edge.run().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            cli::fail(ME, e);
            ExitCode::FAILURE
        }
    }
}
