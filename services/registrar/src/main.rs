//! `asterism-registrar`: the registrar alone, serving gRPC.

use asterism_config::cli;
use asterism_registrar::config::{RegistrarConfig, SETTINGS};
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ME: &str = "asterism-registrar";

fn main() -> ExitCode {
    asterism_config::runtime::run(ME, run())
}

async fn run() -> ExitCode {
    let (_telemetry, cfg, admin) = match asterism_telemetry::boot(
        ME,
        "Asterism registrar: sip.conf users, digest authentication and bindings, over gRPC",
        SETTINGS,
        "0.0.0.0:9092",
        |env| RegistrarConfig::from_env(env),
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let registrar = match asterism_registrar::build(&cfg) {
        Ok(r) => r,
        Err(e) => return cli::fail(ME, e),
    };
    // Bindings alive now, counted by one replica of all (sum() is right).
    let bindings = prometheus_client::metrics::gauge::Gauge::<i64>::default();
    admin.with_registry(|r| {
        r.register(
            "bindings_active",
            "location bindings alive in the store, reported by one registrar replica (the others report 0)",
            bindings.clone(),
        )
    });
    let count = asterism_registrar::gauges::count_bindings(
        registrar.store.clone(),
        bindings,
        cfg.bindings_count,
    );
    tokio::spawn(count);
    // Ready while the binding store answers (Redis up), checked every 2 s.
    let (store, ready) = (registrar.store.clone(), admin.clone());
    tokio::spawn(async move {
        loop {
            ready.set_ready(store.ping().await.is_ok());
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
    tracing::info!(listen = %cfg.listen, redis = cfg.redis_url.is_some(), "registrar serving");
    asterism_telemetry::serve::serve_grpc(cfg.listen, admin, asterism_registrar::service(registrar))
        .await
}
