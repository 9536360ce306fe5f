//! `asterism-registrar`: the registrar alone, serving gRPC.

use asterism_config::cli::{self, CliOutcome};
use asterism_config::{ProcessEnv, EXIT_CONFIG};
use asterism_registrar::config::{RegistrarConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let env = ProcessEnv;
    let layered = match cli::parse(
        "asterism-registrar",
        "Asterism registrar: sip.conf users, digest authentication and bindings, over gRPC",
        SETTINGS,
        std::env::args().skip(1),
        &env,
    ) {
        CliOutcome::Run(l) => l,
        CliOutcome::Help(h) => {
            print!("{h}");
            return ExitCode::SUCCESS;
        }
        CliOutcome::Error(e) => {
            eprintln!("asterism-registrar: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let _telemetry = match asterism_telemetry::init("asterism-registrar") {
        Ok(g) => g,
        Err(e) => {
            eprintln!("asterism-registrar: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let cfg = match RegistrarConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                tracing::error!("invalid setting: {e}");
            }
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let registrar = match asterism_registrar::build(&cfg) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("asterism-registrar: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
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
