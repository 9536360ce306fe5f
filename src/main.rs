//! `asterism`: the whole PBX in one process. The edge and the registrar run
//! side by side and still talk gRPC, over loopback; without
//! `ASTERISM_REDIS_URL` bindings stay in memory, and without
//! `ASTERISM_CONFIG_DIR` the example configuration is used.

use asterism_config::cli::{self, Setting};
use asterism_config::{ProcessEnv, Strings};
use asterism_edge::config::{EdgeConfig, ENV_REGISTRAR_ADDR};
use asterism_registrar::config::RegistrarConfig;
use std::collections::HashMap;
use std::process::ExitCode;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio::net::TcpListener;

fn settings() -> Vec<Setting> {
    let mut s: Vec<Setting> = asterism_edge::config::SETTINGS.to_vec();
    for r in asterism_registrar::config::SETTINGS {
        if r.env != asterism_registrar::config::ENV_REGISTRAR_LISTEN {
            s.push(*r);
        }
    }
    s
}

const ME: &str = "asterism";

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    cli::fail(ME, msg)
}

#[tokio::main]
async fn main() -> ExitCode {
    let env = ProcessEnv;
    let settings = settings();
    let layered = match cli::parse_args(
        ME,
        "the Asterism PBX, all services in one process",
        &settings,
        &env,
    ) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let _telemetry = match asterism_telemetry::init("asterism") {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let reg_cfg = match RegistrarConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => return fail(asterism_config::env::describe(&errors)),
    };
    // The built-in registrar serves on a loopback port of its own, unless
    // the edge is pointed at another one.
    let mut overrides: HashMap<String, String> = HashMap::new();
    let external = layered.get(ENV_REGISTRAR_ADDR).is_some();
    let registrar = if external {
        None
    } else {
        let registrar = match asterism_registrar::build(&reg_cfg) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot bind the registrar's loopback port: {e}")),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => return fail(e),
        };
        overrides.insert(ENV_REGISTRAR_ADDR.to_owned(), format!("http://{addr}"));
        Some((registrar, listener))
    };
    let edge_env = Over {
        top: &overrides,
        below: &layered,
    };
    let edge_cfg = match EdgeConfig::from_env(&edge_env) {
        Ok(c) => c,
        Err(errors) => return fail(asterism_config::env::describe(&errors)),
    };
    if let Some((registrar, listener)) = registrar {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(asterism_registrar::service(registrar))
                .serve_with_incoming_shutdown(incoming, asterism_config::shutdown::signal()),
        );
    }
    let edge = match asterism_edge::Edge::bind(edge_cfg, asterism_config::shutdown::signal()).await
    {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    tracing::info!(
        sip = %edge.local_addr,
        config = %reg_cfg.config_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "built-in examples".into()),
        store = if reg_cfg.redis_url.is_some() { "redis" } else { "memory" },
        "Asterism ready"
    );
    edge.run().await;
    ExitCode::SUCCESS
}

/// Values decided here, over the user's settings.
struct Over<'a> {
    top: &'a HashMap<String, String>,
    below: &'a dyn Strings,
}

impl Strings for Over<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.top.get(key).cloned().or_else(|| self.below.get(key))
    }
}
