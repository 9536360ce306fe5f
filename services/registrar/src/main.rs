//! `asterism-registrar`: the registrar alone, serving gRPC.

use asterism_config::cli;
use asterism_config::ProcessEnv;
use asterism_registrar::config::{RegistrarConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    const ME: &str = "asterism-registrar";
    let env = ProcessEnv;
    let layered = match cli::parse_args(
        ME,
        "Asterism registrar: sip.conf users, digest authentication and bindings, over gRPC",
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
    let cfg = match RegistrarConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => return cli::fail(ME, asterism_config::env::describe(&errors)),
    };
    let registrar = match asterism_registrar::build(&cfg) {
        Ok(r) => r,
        Err(e) => return cli::fail(ME, e),
    };
    tracing::info!(listen = %cfg.listen, redis = cfg.redis_url.is_some(), "registrar serving");
    let served = tonic::transport::Server::builder()
        .add_service(asterism_registrar::service(registrar))
        .serve_with_shutdown(cfg.listen, asterism_config::shutdown::signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("gRPC server: {e}");
            ExitCode::FAILURE
        }
    }
}
