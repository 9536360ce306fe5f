//! `asterism-media`: the media service alone, serving gRPC.

use asterism_config::cli;
use asterism_config::ProcessEnv;
use asterism_media::config::{MediaConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc, as in every Asterism binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    const ME: &str = "asterism-media";
    let env = ProcessEnv;
    let layered = match cli::parse_args(
        ME,
        "Asterism media: RTP sessions, Playback and Echo over gRPC",
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
    let cfg = match MediaConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => return cli::fail(ME, asterism_config::env::describe(&errors)),
    };
    tracing::info!(listen = %cfg.listen, rtp = %format!("{}-{}", cfg.rtp_first, cfg.rtp_last), sounds = %cfg.sounds.display(), "media serving");
    let served = tonic::transport::Server::builder()
        .add_service(asterism_media::grpc::service(asterism_media::build(&cfg)))
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
