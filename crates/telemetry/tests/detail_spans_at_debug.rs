//! At `ASTERISM_LOG=debug` the spans inside a request's own (a dialplan
//! step, a SIP transaction) give log lines their context again; the
//! per-RPC spans stay out of the log at any level. Its own process: `init`
//! installs the global subscriber.

#[test]
fn detail_spans_are_built_for_debug_logs() {
    std::env::remove_var(asterism_telemetry::ENV_OTLP_ENDPOINT);
    std::env::set_var(asterism_telemetry::ENV_LOG, "debug");
    let _guard = asterism_telemetry::init("detail-spans-test");
    assert!(!tracing::info_span!("router.step", priority = 1).is_disabled());
    assert!(!tracing::info_span!("sip.client_transaction").is_disabled());
    let rpc = asterism_telemetry::rpc::client_span("asterism.router.v1.Router", "Execute");
    assert!(rpc.is_disabled(), "per-RPC spans are for traces only");
}
