//! W3C trace context across gRPC: clients inject the current span's context
//! into the request metadata ([`Inject`]), servers continue it
//! ([`continue_trace`]), so one call is one trace across every service.
//! Between edges, where the hop is SIP, the same `traceparent` value rides
//! in a header ([`traceparent`], [`continue_from`]).

use opentelemetry::propagation::{Extractor, Injector};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct MetaInjector<'a>(&'a mut MetadataMap);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct MetaExtractor<'a>(&'a MetadataMap);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// A client interceptor adding `traceparent` for the current span.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inject;

impl tonic::service::Interceptor for Inject {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetaInjector(req.metadata_mut()))
        });
        Ok(req)
    }
}

/// Make `span` a child of the trace the request's metadata carries.
pub fn continue_trace(span: &tracing::Span, metadata: &MetadataMap) {
    let cx =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&MetaExtractor(metadata)));
    let _ = span.set_parent(cx);
}

/// The W3C `traceparent` of `span`, when it is being traced.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let cx = span.context();
    // Nothing to say (and nothing to allocate) when no one traces.
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut out = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut out));
    out.remove("traceparent")
}

/// Make `span` a child of the span a `traceparent` value names; a value
/// that does not parse changes nothing.
pub fn continue_from(span: &tracing::Span, traceparent: &str) -> bool {
    use opentelemetry::trace::TraceContextExt;
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    cx.span().span_context().is_valid() && span.set_parent(cx).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn traceparent_round_trips_through_metadata() {
        let mut md = MetadataMap::new();
        let mut src = std::collections::HashMap::new();
        src.insert(
            "traceparent".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        );
        let p = TraceContextPropagator::new();
        let cx = p.extract(&src);
        p.inject_context(&cx, &mut MetaInjector(&mut md));
        assert_eq!(
            md.get("traceparent").and_then(|v| v.to_str().ok()),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = p.extract(&MetaExtractor(&md));
        use opentelemetry::trace::TraceContextExt;
        assert_eq!(
            format!("{:032x}", back.span().span_context().trace_id()),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}
