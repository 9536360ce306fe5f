//! `asterism-media`: the media service alone, serving gRPC.
//! `asterism-media drain` is the pod's preStop hook: it asks the running
//! service (admin port on loopback) to take no new call and returns once
//! its calls have ended or the grace period is over.

use asterism_media::config::{MediaConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc, as in every Asterism binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ME: &str = "asterism-media";

fn main() -> ExitCode {
    asterism_config::runtime::run(ME, run())
}

async fn run() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("drain") {
        return drain();
    }
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
    let mut cfg = cfg;
    if cfg.advertise_from_node {
        match asterism_media::node::public_address().await {
            Ok(ip) => {
                tracing::info!(%ip, "advertising the node's public address");
                cfg.advertise = Some(ip);
            }
            Err(e) => {
                tracing::error!("ASTERISM_MEDIA_ADVERTISE=k8s-node: {e}");
                eprintln!("{ME}: ASTERISM_MEDIA_ADVERTISE=k8s-node: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    tracing::info!(listen = %cfg.listen, rtp = %format!("{}-{}", cfg.rtp_first, cfg.rtp_last), sounds = %cfg.sounds.display(), "media serving");
    let media = match asterism_media::build(&cfg) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{ME}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (start, sessions) = (media.draining.clone(), media.session_counter());
    admin.on_drain(
        move || start.store(true, std::sync::atomic::Ordering::Relaxed),
        move || sessions() == 0,
    );
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

/// The preStop hook: drain the service running in this container.
fn drain() -> ExitCode {
    let listen = std::env::var(asterism_telemetry::ENV_ADMIN_LISTEN)
        .unwrap_or_else(|_| "0.0.0.0:9094".to_owned());
    let Some(port) = listen.rsplit(':').next().and_then(|p| p.parse().ok()) else {
        eprintln!(
            "asterism-media drain: bad {}={listen:?}",
            asterism_telemetry::ENV_ADMIN_LISTEN
        );
        return ExitCode::FAILURE;
    };
    match asterism_telemetry::admin::request_drain(port) {
        Ok(how) => {
            eprintln!("asterism-media drain: {how}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("asterism-media drain: {e}");
            ExitCode::FAILURE
        }
    }
}
