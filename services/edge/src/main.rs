//! `asterism-edge`: the SIP edge alone, talking gRPC to a registrar.

use asterism_config::cli;
use asterism_config::ProcessEnv;
use asterism_edge::config::{EdgeConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    const ME: &str = "asterism-edge";
    let env = ProcessEnv;
    let layered = match cli::parse_args(
        ME,
        "Asterism SIP edge: transports, transactions, REGISTER/OPTIONS; backends over gRPC",
        SETTINGS,
        &env,
    ) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let _telemetry = match asterism_telemetry::init(ME) {
        Ok(g) => g,
        Err(e) => return cli::fail(ME, e),
    };
    let cfg = match EdgeConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => return cli::fail(ME, asterism_config::env::describe(&errors)),
    };
    let registrar = cfg.registrar_addr.clone();
    let admin = cfg.admin_listen;
    match asterism_edge::Edge::bind(cfg, asterism_config::shutdown::signal()).await {
        Ok(edge) => {
            tracing::info!(sip = %edge.local_addr, %registrar, admin = %admin, "edge serving");
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(asterism_edge::admin::service(edge.calls.clone()))
                    .serve_with_shutdown(admin, asterism_config::shutdown::signal()),
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
