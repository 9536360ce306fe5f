//! `asterism`: the whole PBX in one process. The edge, the registrar, the
//! router and the media service run side by side and still talk gRPC: the
//! edge reaches the registrar and the router over in-memory pipes
//! (`asterism_telemetry::inproc`), the media service over loopback, and
//! all of them answer on one loopback port for the CLI tools; without
//! `ASTERISM_REDIS_URL` bindings stay in memory, and without
//! `ASTERISM_CONFIG_DIR` the example configuration is used.
//! `asterism dialplan check|show …` are the offline dialplan tools,
//! `asterism database …` the AstDB CLI, `asterism mwi …` message-waiting
//! counts and `asterism probe …` a health check
//! of a deployment (the chart's `helm test`).

mod database_cli;
mod dialplan_cli;
mod mwi_cli;
mod probe_cli;
mod sip_cli;

use asterism_config::cli::{self, Setting};
use asterism_config::{ProcessEnv, Strings};
use asterism_edge::config::{EdgeConfig, ENV_MEDIA_ADDRS, ENV_REGISTRAR_ADDR, ENV_ROUTER_ADDR};
use asterism_registrar::config::RegistrarConfig;
use asterism_router::config::RouterConfig;
use asterism_router::Router;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc: the SIP hot path allocates many short-lived buffers from
/// several threads, where glibc malloc spent a fifth of the edge's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio::net::TcpListener;

fn settings() -> Vec<Setting> {
    let mut s: Vec<Setting> = asterism_edge::config::SETTINGS.to_vec();
    s.push(asterism_config::runtime::SETTING);
    let others = asterism_registrar::config::SETTINGS
        .iter()
        .chain(asterism_router::config::SETTINGS)
        .chain(asterism_media::config::SETTINGS);
    for r in others {
        let standalone_only = r.env == asterism_registrar::config::ENV_REGISTRAR_LISTEN
            || r.env == asterism_router::config::ENV_ROUTER_LISTEN
            || r.env == asterism_media::config::ENV_MEDIA_LISTEN;
        if !standalone_only && !s.iter().any(|x| x.env == r.env) {
            s.push(*r);
        }
    }
    s
}

const ME: &str = "asterism";
/// The in-process gRPC server of the registrar and the router.
const INPROC_NAME: &str = "asterism";
const INPROC: &str = "inproc://asterism";

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    cli::fail(ME, msg)
}

fn main() -> ExitCode {
    asterism_config::runtime::run(ME, run())
}

async fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("dialplan") {
        return dialplan_cli::run(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("probe") {
        return probe_cli::run(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("sip") {
        return sip_cli::run(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("database") {
        return database_cli::run(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("mwi") {
        return mwi_cli::run(&args[1..]).await;
    }
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
    // The built-in services share one loopback gRPC port; the registrar is
    // left out when the edge is pointed at another one.
    let registrar = match layered.get(ENV_REGISTRAR_ADDR) {
        Some(_) => None,
        None => match asterism_registrar::build(&reg_cfg) {
            Ok(r) => Some(asterism_registrar::service(r)),
            Err(e) => return fail(e),
        },
    };
    let registrar_for_cli = registrar.clone();
    let router_cfg = match RouterConfig::from_env(&layered) {
        Ok(c) => c,
        Err(errors) => return fail(asterism_config::env::describe(&errors)),
    };
    let db = match router_cfg.astdb() {
        Ok(db) => db,
        Err(e) => return fail(format!("{}: {e}", asterism_router::config::ENV_REDIS_URL)),
    };
    let router = match Router::load(router_cfg.extensions_conf.as_deref()) {
        Ok((r, diags)) => {
            for w in diags.warnings() {
                tracing::warn!("{w}");
            }
            Arc::new(r.with_db(db).with_system(router_cfg.allow_system))
        }
        Err(diags) => return fail(diags.to_string().trim_end()),
    };
    tokio::spawn(router.clone().watch(router_cfg.poll));
    tokio::spawn(router.clone().reload_on_sighup());
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot bind the internal gRPC port: {e}")),
    };
    let internal = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let mut overrides: HashMap<String, String> = HashMap::new();
    if layered.get(ENV_ROUTER_ADDR).is_none() {
        overrides.insert(ENV_ROUTER_ADDR.to_owned(), INPROC.to_owned());
    }
    let media = match layered.get(ENV_MEDIA_ADDRS) {
        Some(_) => None,
        None => {
            overrides.insert(ENV_MEDIA_ADDRS.to_owned(), format!("http://{internal}"));
            match asterism_media::config::MediaConfig::from_env(&layered) {
                Ok(c) => match asterism_media::build(&c) {
                    Ok(m) => Some(asterism_media::grpc::service(m)),
                    Err(e) => return fail(e),
                },
                Err(errors) => return fail(asterism_config::env::describe(&errors)),
            }
        }
    };
    if registrar.is_some() {
        overrides.insert(ENV_REGISTRAR_ADDR.to_owned(), INPROC.to_owned());
    }
    let edge_env = Over {
        top: &overrides,
        below: &layered,
    };
    let mut edge_cfg = match EdgeConfig::from_env(&edge_env) {
        Ok(c) => c,
        Err(errors) => return fail(asterism_config::env::describe(&errors)),
    };
    // Bindings in this process's memory: no other edge can see them.
    edge_cfg.alone = registrar.is_some() && reg_cfg.redis_url.is_none();
    let edge = match asterism_edge::Edge::bind(
        edge_cfg,
        asterism_edge::metrics::EdgeMetrics::default(),
        asterism_config::shutdown::signal(),
    )
    .await
    {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    // The edge's own way to the registrar and the router: no socket.
    let router_service = asterism_router::grpc::service(router);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(router_service.clone())
            .add_optional_service(registrar.clone())
            .serve_with_incoming_shutdown(
                asterism_telemetry::inproc::listen(INPROC_NAME),
                asterism_config::shutdown::signal(),
            ),
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(router_service)
            .add_service(asterism_edge::admin::service(
                edge.calls.clone(),
                edge.outregs.clone(),
                edge.peers.clone(),
            ))
            .add_optional_service(registrar)
            .add_optional_service(media)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                asterism_config::shutdown::signal(),
            ),
    );
    tracing::info!(
        sip = %edge.local_addr,
        config = %reg_cfg.config_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "built-in examples".into()),
        store = if reg_cfg.redis_url.is_some() { "redis" } else { "memory" },
        grpc = %internal,
        "Asterism ready"
    );
    serve_edge_admin(&edge);
    if let Some(r) = registrar_for_cli {
        serve_on_default(r);
    }
    edge.run().await;
    ExitCode::SUCCESS
}

/// The edge's admin service on its usual local port too (what `asterism sip
/// show registry` asks), when that port is free.
fn serve_edge_admin(edge: &asterism_edge::Edge) {
    let addr = std::env::var("ASTERISM_EDGE_ADMIN_LISTEN")
        .unwrap_or_else(|_| sip_cli::DEFAULT_EDGE_ADMIN.into());
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        return tracing::warn!(%addr, "ASTERISM_EDGE_ADMIN_LISTEN is not host:port: no edge admin");
    };
    let service =
        asterism_edge::admin::service(edge.calls.clone(), edge.outregs.clone(), edge.peers.clone());
    let router = tonic::transport::Server::builder().add_service(service);
    serve_local(
        addr,
        router,
        "edge admin port taken: `asterism sip show registry` will not reach this process",
    );
}

/// The built-in registrar on the standalone registrar's usual local port
/// too (what `asterism mwi` asks), when that port is free.
fn serve_on_default(
    service: asterism_proto::registrar::registrar_server::RegistrarServer<
        asterism_registrar::grpc::RegistrarService,
    >,
) {
    let Ok(addr) = mwi_cli::DEFAULT_REGISTRAR
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
    else {
        return;
    };
    let router = tonic::transport::Server::builder().add_service(service);
    serve_local(
        addr,
        router,
        "registrar port taken: `asterism mwi` will not reach this process without --registrar",
    );
}

/// Serve `router` on `addr` until shutdown; `taken` is the warning when
/// the port is not free (another process has it).
fn serve_local(addr: std::net::SocketAddr, router: tonic::transport::server::Router, taken: &str) {
    let Ok(listener) = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std)
    else {
        return tracing::warn!(%addr, "{taken}");
    };
    tokio::spawn(router.serve_with_incoming_shutdown(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        asterism_config::shutdown::signal(),
    ));
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
