//! `asterism-router`: the dialplan router alone, serving gRPC.

use asterism_config::cli;
use asterism_router::config::{RouterConfig, SETTINGS};
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc, as in every Asterism binary (many small short-lived buffers).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ME: &str = "asterism-router";

fn main() -> ExitCode {
    asterism_config::runtime::run(ME, run())
}

async fn run() -> ExitCode {
    let (_telemetry, cfg, admin) = match asterism_telemetry::boot(
        ME,
        "Asterism dialplan router: extensions.conf over gRPC",
        SETTINGS,
        "0.0.0.0:9093",
        |env| RouterConfig::from_env(env),
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let db = match cfg.astdb() {
        Ok(db) => db,
        Err(e) => {
            return cli::fail(
                ME,
                format!("{}: {e}", asterism_router::config::ENV_REDIS_URL),
            )
        }
    };
    let router = match asterism_router::service::Router::load(cfg.extensions_conf.as_deref()) {
        Ok((r, diags)) => {
            for w in diags.warnings() {
                tracing::warn!("{w}");
            }
            Arc::new(r.with_db(db).with_system(cfg.allow_system))
        }
        Err(diags) => return cli::fail(ME, diags.to_string().trim_end()),
    };
    let steps = asterism_router::grpc::StepMetrics::default();
    admin.with_registry(|r| {
        r.register(
            "steps",
            "dialplan steps sent to the edge, by application",
            steps.clone(),
        )
    });
    admin.set_ready(true);
    tokio::spawn(router.clone().watch(cfg.poll));
    tokio::spawn(router.clone().reload_on_sighup());
    tracing::info!(listen = %cfg.listen, "router serving");
    asterism_telemetry::serve::serve_grpc(
        cfg.listen,
        admin,
        asterism_router::grpc::service_with_metrics(router, steps),
    )
    .await
}
