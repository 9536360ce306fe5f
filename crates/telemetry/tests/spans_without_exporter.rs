//! With no trace exporter, the per-RPC spans are never built (they cost a
//! slab slot and their formatted fields on every request, and only traces
//! use them), while the spans that give log lines their context (a call,
//! a REGISTER) still are, and those inside them (a dialplan step, a SIP
//! transaction) only at `debug`. One test per process: `init`
//! installs the global subscriber, so both tests ask for the same settings.

#[test]
fn rpc_spans_are_not_built_without_an_exporter_but_context_spans_are() {
    std::env::remove_var(asterism_telemetry::ENV_OTLP_ENDPOINT);
    std::env::set_var(asterism_telemetry::ENV_LOG, "info");
    let _ = asterism_telemetry::init("spans-test");
    let client = asterism_telemetry::rpc::client_span("asterism.registrar.v1.Registrar", "Lookup");
    let server = asterism_telemetry::rpc::server_span("asterism.router.v1.Router", "Execute");
    assert!(client.is_disabled(), "grpc.client built with no exporter");
    assert!(server.is_disabled(), "grpc.server built with no exporter");
    let call = tracing::info_span!("edge.call", call_id = "abc");
    assert!(!call.is_disabled(), "a call's log context is lost");
    // The spans inside a request's own are for `debug` logs (and traces).
    assert!(tracing::info_span!("router.step", priority = 1).is_disabled());
    assert!(tracing::info_span!("sip.server_transaction").is_disabled());
    assert!(!tracing::info_span!("router.call").is_disabled());
    // ASTERISM_LOG still decides for everything else.
    assert!(tracing::debug_span!("edge.detail").is_disabled());
}

#[test]
fn the_log_level_stays_the_global_maximum() {
    // Runs in the same process as the test above, after or before it:
    // install if nobody has yet (the level is the same either way).
    std::env::remove_var(asterism_telemetry::ENV_OTLP_ENDPOINT);
    std::env::set_var(asterism_telemetry::ENV_LOG, "info");
    let _ = asterism_telemetry::init("spans-test");
    assert_eq!(
        tracing::level_filters::LevelFilter::current(),
        tracing::level_filters::LevelFilter::INFO
    );
}
