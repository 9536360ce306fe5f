//! The edge's Prometheus metrics: REGISTERs by status, calls active and
//! by outcome, registered on the service's admin registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Default)]
pub struct EdgeMetrics {
    pub registers: Family<Labels, Counter>,
    pub calls_active: Gauge,
    pub calls: Family<Labels, Counter>,
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
            "banned_drops",
            "requests dropped because their source is banned",
            self.banned_drops.clone(),
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
        self.registers
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    pub fn call_ended(&self, outcome: &str) {
        self.calls
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }
}
