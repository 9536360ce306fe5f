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
    let draining = media.draining.clone();
    tokio::spawn(async move {
        asterism_config::shutdown::signal().await;
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    admin.with_registry(|r| media.metrics.register(r));
    admin.set_ready(true);
    asterism_telemetry::serve::serve_grpc(cfg.listen, admin, asterism_media::grpc::service(media))
        .await
}
