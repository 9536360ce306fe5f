//! Logging and tracing set-up for every Asterism binary.
//!
//! * `ASTERISM_LOG` (or `RUST_LOG`): the filter, `info` by default.
//! * `ASTERISM_LOG_FORMAT`: `text` (default) or `json`.
//! * `OTEL_EXPORTER_OTLP_ENDPOINT` (with the other standard `OTEL_*`
//!   variables): when set, spans are exported over OTLP/gRPC. Without it
//!   nothing is exported and no collector is needed.
//! * `ASTERISM_TRACE_LEVEL`: which spans are exported (default `info`),
//!   independent of the log filter.
//!
//! TLS, headers, sampling and resource attributes: see [`export`]. In JSON
//! mode each line carries the `trace_id`/`span_id` it was logged under.

pub mod admin;
pub mod export;
pub mod inproc;
pub mod join;
pub mod json;
pub mod propagation;
pub mod rpc;
pub mod serve;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub const ENV_LOG: &str = "ASTERISM_LOG";
pub const ENV_LOG_FORMAT: &str = "ASTERISM_LOG_FORMAT";
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
pub const ENV_TRACE_LEVEL: &str = "ASTERISM_TRACE_LEVEL";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{ENV_LOG_FORMAT} must be 'text' or 'json', not {0:?}")]
    Format(String),
    #[error("bad log filter: {0}")]
    Filter(String),
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// Flushes and stops the exporter when dropped (at process exit).
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Whether a span lives inside a request's own span (a dialplan step, a SIP
/// transaction, a request relayed between legs): log lines carry it only
/// at `debug`; traces always.
pub fn is_detail_span(name: &str) -> bool {
    matches!(
        name,
        "router.step" | "sip.server_transaction" | "sip.client_transaction" | "sip.relay"
    )
}

/// Install the global subscriber. `service` names the process in traces
/// unless `OTEL_SERVICE_NAME` says otherwise. Must run inside a tokio runtime
/// when OTLP export is on.
pub fn init(service: &'static str) -> Result<Guard, TelemetryError> {
    let filter_text = std::env::var(ENV_LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter =
        EnvFilter::try_new(&filter_text).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let json = match std::env::var(ENV_LOG_FORMAT).as_deref() {
        Err(_) | Ok("text") | Ok("") => false,
        Ok("json") => true,
        Ok(other) => return Err(TelemetryError::Format(other.to_owned())),
    };
    let fmt_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .event_format(json::JsonWithTrace::default())
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    let provider = match std::env::var(ENV_OTLP_ENDPOINT) {
        Ok(endpoint) if !endpoint.is_empty() => Some(export::provider(service)?),
        _ => None,
    };
    // Spans for traces are filtered on their own (ASTERISM_TRACE_LEVEL,
    // default info): quiet logs must not empty the traces.
    let trace_text = std::env::var(ENV_TRACE_LEVEL).unwrap_or_else(|_| "info".to_owned());
    let trace_filter =
        EnvFilter::try_new(&trace_text).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_filter(trace_filter)
    });
    // The per-RPC spans (`grpc.client`, `grpc.server`) exist for traces:
    // the log lines keep the call's, the REGISTER's and the step's context
    // without them, and with no exporter nothing else wants them, so they
    // are never built (a slab slot, their fields and formatted text on every
    // request: 10-15 % of the edge's CPU under call load). The spans nested
    // inside a request's own ([`is_detail_span`]: a dialplan step, a SIP
    // transaction, a relayed request) give log lines their context only at
    // `debug`: at `info` a line names its call (or REGISTER) and not the
    // step inside it, and those spans are not built for the log.
    // (The hint keeps ASTERISM_LOG's level as the global maximum: without
    // one, `and` would drop it, and every disabled trace!/debug! in the
    // dependencies would be checked one by one.)
    let detail = filter
        .max_level_hint()
        .is_none_or(|l| l >= tracing_subscriber::filter::LevelFilter::DEBUG);
    let no_rpc_spans = tracing_subscriber::filter::filter_fn(move |m| {
        !(m.is_span() && (rpc::is_rpc_span(m.name()) || (!detail && is_detail_span(m.name()))))
    })
    .with_max_level_hint(tracing_subscriber::filter::LevelFilter::TRACE);
    let log_filter = filter.and(no_rpc_spans);
    // Without an exporter there is no trace layer at all: an absent
    // (`None`) layer would declare interest in every span, and they would
    // all be built for nobody.
    let logs = tracing_subscriber::registry().with(fmt_layer.with_filter(log_filter));
    let installed = match otel_layer {
        Some(otel) => logs.with(otel).try_init(),
        None => logs.try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    // The size of the runtime is an operator's setting
    // (ASTERISM_WORKER_THREADS): say what it came to.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        tracing::info!(worker_threads = rt.metrics().num_workers(), "async runtime");
    }
    Ok(Guard { provider })
}

/// The process environment, as [`export`] reads it.
pub struct EnvVars;

impl export::Vars for EnvVars {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Start a service binary: parse its flags over the environment, install
/// logging and tracing, read its typed settings, and start the admin server
/// (`/live`, `/ready`, `/metrics`) on `ASTERISM_ADMIN_LISTEN` (default
/// `admin_default`). `Err` is the exit code after `--help` (0), a reported
/// configuration problem (64), or an admin port that cannot be bound (1).
pub fn boot<C>(
    program: &'static str,
    about: &str,
    settings: &[asterism_config::cli::Setting],
    admin_default: &'static str,
    config: impl FnOnce(&dyn asterism_config::Strings) -> Result<C, Vec<asterism_config::EnvError>>,
) -> Result<(Guard, C, admin::Admin), std::process::ExitCode> {
    use asterism_config::cli;
    let env = asterism_config::ProcessEnv;
    let mut all = settings.to_vec();
    all.push(cli::Setting {
        env: ENV_ADMIN_LISTEN,
        flag: "admin-listen",
        default: admin_default,
        help: "HTTP address of /live, /ready and /metrics",
    });
    all.push(asterism_config::runtime::SETTING);
    let layered = cli::parse_args(program, about, &all, &env)?;
    let guard = init(program).map_err(|e| cli::fail(program, e))?;
    let cfg = config(&layered)
        .map_err(|errors| cli::fail(program, asterism_config::env::describe(&errors)))?;
    let text = asterism_config::Strings::get(&layered, ENV_ADMIN_LISTEN)
        .unwrap_or_else(|| admin_default.to_owned());
    let addr: std::net::SocketAddr = text.parse().map_err(|_| {
        cli::fail(
            program,
            format!("invalid setting {ENV_ADMIN_LISTEN}={text:?}: expected host:port"),
        )
    })?;
    // Bound now: a port taken elsewhere stops the service at once, with the
    // reason, instead of leaving it running without probes or metrics.
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            tracing::error!("admin server on {addr}: {e}");
            eprintln!("{program}: cannot serve /live, /ready, /metrics on {addr}: {e}");
            std::process::ExitCode::FAILURE
        })?;
    let admin = admin::Admin::new(&program.replace('-', "_"));
    let server = admin.clone();
    tokio::spawn(async move {
        if let Err(e) = server.serve(listener).await {
            tracing::error!("admin server on {addr}: {e}");
        }
    });
    Ok((guard, cfg, admin))
}

/// Where `/live`, `/ready` and `/metrics` are served.
pub const ENV_ADMIN_LISTEN: &str = "ASTERISM_ADMIN_LISTEN";
