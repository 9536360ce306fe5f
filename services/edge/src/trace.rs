//! The edge's SIP spans, shaped for trace back ends: what arrives from a
//! phone is a SERVER span carrying the SIP attributes an operator searches
//! by (method, status code, Call-ID, from and to user, transport, peer
//! address), and one call stays one trace:
//!
//! * a challenged INVITE or REGISTER and its authenticated retry (same
//!   Call-ID) are joined through [`asterism_telemetry::join::Joins`];
//! * a call crossing edges carries its trace context to the owning edge in
//!   the [`TRACE_HEADER`] of the INVITE (and of the in-dialog requests) on
//!   the internal hop. The owning edge continues it only from a peer edge
//!   (the internal listener, a signed flow token) and strips it from
//!   everything it passes on, so a phone can neither read nor forge it.

use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Request};
use tracing::field::Empty;

/// The `traceparent` of the sending edge's span, on the hop between edges.
pub const TRACE_HEADER: &str = "X-Asterism-Trace";

/// How long a challenged transaction waits for its retry: 64·T1.
pub const JOIN_TTL: std::time::Duration = std::time::Duration::from_secs(32);
/// Challenged transactions remembered at once (a flood only splits traces).
pub const JOIN_CAPACITY: usize = 16_384;

pub fn trace_header() -> HeaderName {
    HeaderName::Other(TRACE_HEADER.to_owned())
}

/// A SERVER span for a request from `flow`, named `name` in the trace.
pub fn server_span(name: &'static str, req: &Request, c: &Checked, flow: &Flow) -> tracing::Span {
    tracing::info_span!(
        "sip.server",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        sip.method = %req.method,
        sip.call_id = %c.call_id,
        sip.from.user = c.from.uri.user.as_deref().unwrap_or_default(),
        sip.to.user = c.to.uri.user.as_deref().unwrap_or_default(),
        sip.request_uri.user = c.uri.user.as_deref().unwrap_or_default(),
        sip.status_code = Empty,
        network.transport = transport(flow),
        network.peer.address = %flow.remote.ip(),
        network.peer.port = flow.remote.port(),
        asterism.call.outcome = Empty,
    )
}

/// `network.transport` as OpenTelemetry spells it.
pub fn transport(flow: &Flow) -> &'static str {
    match flow.kind {
        asterism_sip::transport::Kind::Udp => "udp",
        asterism_sip::transport::Kind::Tcp => "tcp",
    }
}

/// The final status of a server span; 5xx marks the span as an error (the
/// server failed), as OpenTelemetry's HTTP conventions do for servers.
pub fn record_status(span: &tracing::Span, code: u16) {
    span.record("sip.status_code", code);
    if code >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// Whether a final status is a challenge the phone will answer.
pub fn is_challenge(code: u16) -> bool {
    code == 401 || code == 407
}

/// Add our trace context to a request going to a peer edge.
pub fn inject(req: &mut Request, span: &tracing::Span) {
    if let Some(tp) = asterism_telemetry::propagation::traceparent(span) {
        req.headers.set(trace_header(), tp);
    }
}

/// Add our trace context to an in-dialog request whose route set goes
/// through a peer edge.
pub fn inject_via_peer(req: &mut Request, route_set: &[String], span: &tracing::Span) {
    if route_set
        .first()
        .is_some_and(|r| r.contains(crate::relay::FLOW_PARAM))
    {
        inject(req, span);
    }
}

/// Take the trace header off a request being passed on; when it came from
/// a peer edge, the span of passing it on continues that trace.
pub fn relay_span(req: &mut Request, c: &Checked, from: &Flow, from_peer: bool) -> tracing::Span {
    let header = trace_header();
    let carried = req.headers.get(&header).map(str::to_owned);
    req.headers.remove(&header);
    let span = server_span("edge.relay", req, c, from);
    if let (true, Some(tp)) = (from_peer, carried) {
        asterism_telemetry::propagation::continue_from(&span, &tp);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bye_with(header: &str) -> (Request, Checked) {
        crate::call::tests::parse(
            &format!(
                "BYE sip:bob@127.0.0.1:5070 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1
From: <sip:alice@pbx>;tag=a
To: <sip:bob@pbx>;tag=b
Call-ID: c1@test
CSeq: 3 BYE
Max-Forwards: 70
{header}"
            ),
            "",
        )
    }

    #[test]
    fn the_trace_header_never_travels_past_the_owning_edge() {
        let flow = crate::call::tests::udp("127.0.0.1:5070");
        for from_peer in [true, false] {
            let (mut req, c) = bye_with(&format!(
                "{TRACE_HEADER}: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n"
            ));
            let _span = relay_span(&mut req, &c, &flow, from_peer);
            assert_eq!(req.headers.get(&trace_header()), None);
        }
        let (mut req, c) = bye_with("");
        let _span = relay_span(&mut req, &c, &flow, true);
        assert_eq!(req.headers.get(&trace_header()), None);
    }

    #[test]
    fn transports_are_named_as_opentelemetry_does() {
        assert_eq!(transport(&crate::call::tests::udp("127.0.0.1:1")), "udp");
    }
}
