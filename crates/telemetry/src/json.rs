//! JSON log lines that name the trace they belong to: tracing-subscriber's
//! JSON format plus `trace_id` and `span_id` of the current span, so a log
//! search (Loki, Elasticsearch) jumps to the trace and back. Lines outside
//! any traced span are the plain JSON format.

use opentelemetry::trace::TraceContextExt;
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub struct JsonWithTrace {
    inner: Format<Json>,
}

impl Default for JsonWithTrace {
    fn default() -> Self {
        JsonWithTrace {
            inner: tracing_subscriber::fmt::format().json(),
        }
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        if let Some((trace, span)) = current_ids(ctx) {
            if let Some(end) = line.rfind('}') {
                line.insert_str(
                    end,
                    &format!(",\"trace_id\":\"{trace}\",\"span_id\":\"{span}\""),
                );
            }
        }
        writer.write_str(&line)
    }
}

/// The OpenTelemetry ids of the event's span, when it is traced.
fn current_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    let span = ctx.lookup_current()?;
    let id = span.id();
    drop(span);
    let cx = tracing::dispatcher::get_default(|d| tracing_opentelemetry::get_otel_context(&id, d))?;
    let sc = cx.span().span_context().clone();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}
