//! Several SIP transactions that are one thing for the user belong in one
//! trace: the INVITE (or REGISTER) that got a 401/407 challenge and the
//! authenticated retry that follows with the same Call-ID. Nothing in SIP
//! carries a trace context from the phone, so the edge remembers the span
//! of the challenged transaction by Call-ID for as long as a retry can
//! come (64·T1), and the retry's span becomes its child.
//!
//! Strangers choose Call-IDs, so the memory is bounded: at most
//! [`Joins::new`]'s `capacity` entries, the oldest forgotten first, each
//! for at most `ttl`. Losing one only splits a trace in two. Nothing is
//! kept while no trace is exported (the span has no valid context).

use opentelemetry::trace::{SpanContext, TraceContextExt};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub struct Joins {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<String, (SpanContext, Instant)>,
    /// Keys in the order they were remembered (with their time, so a key
    /// remembered again is not evicted by its older entry).
    order: VecDeque<(String, Instant)>,
}

impl Joins {
    pub fn new(capacity: usize, ttl: Duration) -> Joins {
        Joins {
            inner: Mutex::default(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Remember `span` as the trace the next transaction of `key` joins.
    pub fn remember(&self, key: &str, span: &tracing::Span) {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return;
        }
        let now = Instant::now();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        while inner.order.len() >= self.capacity {
            inner.evict_oldest();
        }
        while inner
            .order
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > self.ttl)
        {
            inner.evict_oldest();
        }
        inner.by_key.insert(key.to_owned(), (sc, now));
        inner.order.push_back((key.to_owned(), now));
    }

    /// Make `span` a child of the span remembered for `key`, if one is
    /// (and forget it: one retry per challenge).
    pub fn adopt(&self, key: &str, span: &tracing::Span) -> bool {
        let found = match self.inner.lock() {
            Ok(mut inner) => inner.by_key.remove(key),
            Err(_) => None,
        };
        match found {
            Some((sc, at)) if at.elapsed() <= self.ttl => {
                let cx = opentelemetry::Context::new().with_remote_span_context(sc);
                span.set_parent(cx).is_ok()
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.by_key.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn evict_oldest(&mut self) {
        if let Some((key, at)) = self.order.pop_front() {
            if self.by_key.get(&key).is_some_and(|(_, t)| *t == at) {
                self.by_key.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    fn with_otel(f: impl FnOnce()) {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let sub = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(sub, f);
    }

    fn trace_of(span: &tracing::Span) -> opentelemetry::trace::TraceId {
        span.context().span().span_context().trace_id()
    }

    #[test]
    fn the_retry_joins_the_challenged_transaction_once() {
        with_otel(|| {
            let joins = Joins::new(8, Duration::from_secs(32));
            let first = tracing::info_span!("first");
            joins.remember("abc@host", &first);
            let retry = tracing::info_span!("retry");
            assert!(joins.adopt("abc@host", &retry));
            assert_eq!(trace_of(&first), trace_of(&retry));
            let third = tracing::info_span!("third");
            assert!(!joins.adopt("abc@host", &third), "one retry per challenge");
            assert_ne!(trace_of(&first), trace_of(&third));
        });
    }

    #[test]
    fn memory_is_bounded_and_entries_expire() {
        with_otel(|| {
            let joins = Joins::new(4, Duration::from_millis(50));
            for i in 0..100 {
                joins.remember(&format!("call-{i}"), &tracing::info_span!("s"));
            }
            assert_eq!(joins.len(), 4, "the oldest are forgotten");
            std::thread::sleep(Duration::from_millis(80));
            assert!(!joins.adopt("call-99", &tracing::info_span!("late")));
            joins.remember("fresh", &tracing::info_span!("s"));
            assert_eq!(joins.len(), 1, "expired entries go as new ones come");
        });
    }

    #[test]
    fn nothing_is_kept_without_a_tracer() {
        let joins = Joins::new(4, Duration::from_secs(1));
        joins.remember("x", &tracing::info_span!("s"));
        assert!(joins.is_empty());
    }
}
