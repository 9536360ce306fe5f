//! `asterism-media`: the media service alone, serving gRPC.

use asterism_media::config::{MediaConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc, as in every Asterism binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    const ME: &str = "asterism-media";
    let (_telemetry, cfg, admin) = match asterism_telemetry::boot(
        ME,
        "Asterism media: RTP sessions, Playback and Echo over gRPC",
        SETTINGS,
        "0.0.0.0:9094",
        |env| MediaConfig::from_env(env),
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    tracing::info!(listen = %cfg.listen, rtp = %format!("{}-{}", cfg.rtp_first, cfg.rtp_last), sounds = %cfg.sounds.display(), "media serving");
    let media = asterism_media::build(&cfg);
    admin.with_registry(|r| media.metrics.register(r));
    admin.set_ready(true);
    // grpc.health.v1: SERVING while up, NOT_SERVING once draining.
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<asterism_proto::media::media_server::MediaServer<asterism_media::grpc::MediaService>>().await;
    let draining = admin.clone();
    let shutdown = async move {
        asterism_config::shutdown::signal_with_grace().await;
        draining.drain();
        health.set_not_serving::<asterism_proto::media::media_server::MediaServer<asterism_media::grpc::MediaService>>().await;
    };
    let served = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(asterism_media::grpc::service(media))
        .serve_with_shutdown(cfg.listen, shutdown)
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("gRPC server: {e}");
            ExitCode::FAILURE
        }
    }
}
