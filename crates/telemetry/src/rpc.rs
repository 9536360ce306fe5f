//! gRPC spans as OpenTelemetry's semantic conventions name them, so trace
//! back ends (Jaeger, Tempo) draw the service graph edge → registrar /
//! router / media: the caller's span is a CLIENT span, the callee's a
//! SERVER span, both named `package.Service/Method` with `rpc.system`,
//! `rpc.service` and `rpc.method`.

/// `register` → `Register`, `acquire_call` → `AcquireCall`.
pub fn method_name(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Whether a span is one of the per-RPC spans below (traces only: the log
/// output leaves them out).
pub fn is_rpc_span(name: &str) -> bool {
    name == "grpc.client" || name == "grpc.server"
}

/// The span of a call to `service`'s `method` (e.g.
/// `asterism.registrar.v1.Registrar`, `Register`), to enter around it.
pub fn client_span(service: &str, method: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc.client",
        otel.name = %format!("{service}/{method}"),
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        otel.status_code = tracing::field::Empty,
    )
}

/// The span of serving `service`'s `method`.
pub fn server_span(service: &str, method: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc.server",
        otel.name = %format!("{service}/{method}"),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn method_names() {
        assert_eq!(super::method_name("register"), "Register");
        assert_eq!(super::method_name("acquire_call"), "AcquireCall");
    }
}
