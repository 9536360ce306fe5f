//! The edge's Prometheus metrics: REGISTERs by status, calls active and
//! by outcome, and latency histograms in seconds (REGISTER answered, INVITE
//! to answer, each gRPC method as the edge waits for it), registered on the
//! service's admin registry. Labels of what is counted per request are
//! structs of static strings and numbers: counting allocates nothing.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub type Labels = Vec<(&'static str, String)>;

/// A REGISTER's final status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: u16,
}

/// How a call ended (`answered`, `busy`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// A gRPC method (`Registrar/Register`) and the code it ended with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub rpc_method: &'static str,
    pub code: &'static str,
}

#[derive(Clone, Default)]
pub struct EdgeMetrics {
    pub registers: Family<CodeLabel, Counter>,
    pub calls_active: Gauge,
    /// `register =>` lines this edge holds that are registered now.
    pub trunk_registered: Gauge,
    pub calls: Family<OutcomeLabel, Counter>,
    /// Requests answered from the transaction layer as retransmissions.
    pub retransmissions: Counter,
    /// Transactions that timed out (Timer B, F or H).
    pub timeouts: Family<Labels, Counter>,
    /// Open SIP TCP connections, by state (open, unauthenticated).
    pub tcp_connections: Family<Labels, Gauge>,
    /// Authentication failures, by reason.
    pub auth_failures: Family<Labels, Counter>,
    /// Requests dropped because their source is banned.
    pub banned_drops: Counter,
    /// Requests shed (503) because too many wait on a backend.
    pub shed: Counter,
    /// Active subscriptions (message-summary).
    pub subscriptions: Gauge,
    /// NOTIFYs sent for subscriptions.
    pub mwi_notifies: Counter,
    pub latency: Latency,
}

type Buckets = fn() -> Histogram;

/// How long things take, in seconds.
#[derive(Clone)]
pub struct Latency {
    /// A REGISTER's arrival to its final response (the challenge included).
    pub register: Histogram,
    /// An INVITE's arrival to the 200 the caller gets.
    pub answer: Histogram,
    /// A gRPC request to its answer, by `rpc_method` and gRPC `code`.
    pub rpc: Family<RpcLabels, Histogram, Buckets>,
}

const FAST: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const HUMAN: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0];

impl Default for Latency {
    fn default() -> Self {
        Latency {
            register: Histogram::new(FAST),
            answer: Histogram::new(HUMAN),
            rpc: Family::new_with_constructor(|| Histogram::new(FAST)),
        }
    }
}

impl Latency {
    /// A gRPC request's time, by method (`Registrar/Register`) and code.
    pub fn rpc_done(&self, method: &'static str, code: tonic::Code, started: std::time::Instant) {
        let labels = RpcLabels {
            rpc_method: method,
            code: code_name(code),
        };
        self.rpc
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The `rpc_method` label of a service's method, `Registrar/Register`:
/// made once per method and kept (the names come from our code, a handful),
/// so timing a request allocates nothing.
pub fn rpc_method_label(service: &str, method: &str) -> &'static str {
    static LABELS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut labels = LABELS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let same = |l: &&&'static str| {
        l.len() == service.len() + 1 + method.len()
            && l.starts_with(service)
            && l[service.len()..].starts_with('/')
            && l.ends_with(method)
    };
    if let Some(l) = labels.iter().find(same) {
        return l;
    }
    let label: &'static str = Box::leak(format!("{service}/{method}").into_boxed_str());
    labels.push(label);
    label
}

/// A gRPC code as tonic's `Debug` spells it (the label's values so far).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

impl EdgeMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "registers",
            "REGISTER requests answered, by status code",
            self.registers.clone(),
        );
        r.register(
            "calls_active",
            "calls in progress",
            self.calls_active.clone(),
        );
        r.register("calls", "calls ended, by final state", self.calls.clone());
        r.register(
            "trunk_registrations_registered",
            "register => lines this edge holds that the provider accepted",
            self.trunk_registered.clone(),
        );
        r.register(
            "transaction_retransmissions",
            "retransmitted requests absorbed by transactions",
            self.retransmissions.clone(),
        );
        r.register(
            "transaction_timeouts",
            "transactions timed out, by side",
            self.timeouts.clone(),
        );
        r.register(
            "auth_failures",
            "authentication failures, by reason (wrong_password, unknown_user, uri_mismatch, replay, acl, ...)",
            self.auth_failures.clone(),
        );
        r.register(
            "shed",
            "REGISTERs and INVITEs answered 503 because ASTERISM_MAX_PENDING wait on the registrar",
            self.shed.clone(),
        );
        r.register(
            "subscriptions",
            "message-summary subscriptions this edge serves",
            self.subscriptions.clone(),
        );
        r.register(
            "mwi_notifies",
            "message-summary NOTIFYs sent",
            self.mwi_notifies.clone(),
        );
        r.register(
            "banned_drops",
            "requests dropped because their source is banned",
            self.banned_drops.clone(),
        );
        r.register_with_unit(
            "register_duration",
            "REGISTER arrival to final response",
            Unit::Seconds,
            self.latency.register.clone(),
        );
        r.register_with_unit(
            "call_answer",
            "INVITE arrival to the caller's 200 (answered calls)",
            Unit::Seconds,
            self.latency.answer.clone(),
        );
        r.register_with_unit(
            "grpc_client_duration",
            "gRPC requests to the registrar, router and media, by rpc_method and code",
            Unit::Seconds,
            self.latency.rpc.clone(),
        );
        r.register(
            "tcp_connections",
            "SIP TCP connections now: all open ones, and those not yet authenticated",
            self.tcp_connections.clone(),
        );
    }

    /// Keep the TCP connection gauges up to date (every second).
    pub async fn watch_tcp(self, transport: asterism_sip::transport::Transport) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let (open, unauthenticated) = transport.tcp_counts();
            for (state, n) in [("open", open), ("unauthenticated", unauthenticated)] {
                self.tcp_connections
                    .get_or_create(&vec![("state", state.to_owned())])
                    .set(n as i64);
            }
        }
    }

    pub fn register_answered(&self, code: u16) {
        self.registers.get_or_create(&CodeLabel { code }).inc();
    }

    pub fn call_ended(&self, outcome: &'static str) {
        self.calls.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_method_labels_are_made_once() {
        let a = rpc_method_label("Registrar", "Register");
        assert_eq!(a, "Registrar/Register");
        assert!(std::ptr::eq(a, rpc_method_label("Registrar", "Register")));
        assert_eq!(
            rpc_method_label("Registrar", "Registe"),
            "Registrar/Registe"
        );
        assert_eq!(
            rpc_method_label("Registra", "rRegister"),
            "Registra/rRegister"
        );
    }

    #[test]
    fn code_names_are_tonics_debug_names() {
        for i in 0..=16 {
            let code = tonic::Code::from_i32(i);
            assert_eq!(code_name(code), format!("{code:?}"));
        }
    }
}
