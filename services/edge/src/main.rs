//! `asterism-edge`: the SIP edge alone, talking gRPC to a registrar.

use asterism_config::cli::{self, CliOutcome};
use asterism_config::{ProcessEnv, EXIT_CONFIG};
use asterism_edge::config::{EdgeConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let env = ProcessEnv;
    let layered = match cli::parse(
        "asterism-edge",
        "Asterism SIP edge: transports, transactions, REGISTER/OPTIONS; backends over gRPC",
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
            eprintln!("asterism-edge: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let _telemetry = match asterism_telemetry::init("asterism-edge") {
        Ok(g) => g,
        Err(e) => {
            eprintln!("asterism-edge: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let cfg = match EdgeConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                tracing::error!("invalid setting: {e}");
                eprintln!("asterism-edge: invalid setting: {e}");
            }
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    let registrar = cfg.registrar_addr.clone();
    match asterism_edge::Edge::bind(cfg, asterism_config::shutdown::signal()).await {
        Ok(edge) => {
            tracing::info!(sip = %edge.local_addr, %registrar, "edge serving");
            edge.run().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("asterism-edge: {e}");
            ExitCode::FAILURE
        }
    }
}
