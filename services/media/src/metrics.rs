//! The media service's Prometheus metrics: sessions active, RTP packets and
//! bytes each way and packets lost — counted as they flow, so a dashboard
//! sees a long call's traffic while it lasts — and the jitter of finished
//! sessions, in seconds.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

type Direction = Vec<(&'static str, &'static str)>;

#[derive(Clone)]
pub struct MediaMetrics {
    pub sessions_active: Gauge,
    /// Sessions this pod is sized for (`ASTERISM_MEDIA_CAPACITY`).
    pub capacity: Gauge,
    /// sessions_active ÷ capacity: what the autoscaler keeps on target.
    pub load_ratio: Gauge<f64, AtomicU64>,
    pub packets: Family<Direction, Counter>,
    pub bytes: Family<Direction, Counter>,
    pub lost: Counter,
    pub jitter: Histogram,
}

/// The counters a session bumps per packet (shared atomics, no lookups).
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub packets_in: Counter,
    pub packets_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub lost: Counter,
}

impl Default for MediaMetrics {
    fn default() -> Self {
        MediaMetrics {
            sessions_active: Gauge::default(),
            capacity: Gauge::default(),
            load_ratio: Gauge::default(),
            packets: Family::default(),
            bytes: Family::default(),
            lost: Counter::default(),
            jitter: Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]),
        }
    }
}

impl MediaMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "sessions_active",
            "RTP sessions open",
            self.sessions_active.clone(),
        );
        r.register(
            "capacity",
            "sessions this pod is sized for",
            self.capacity.clone(),
        );
        r.register(
            "load_ratio",
            "sessions_active / capacity (the HorizontalPodAutoscaler's pods metric)",
            self.load_ratio.clone(),
        );
        r.register(
            "rtp_packets",
            "RTP packets received (in) and sent (out), counted as they flow",
            self.packets.clone(),
        );
        r.register_with_unit(
            "rtp",
            "RTP bytes received (in) and sent (out), counted as they flow",
            Unit::Bytes,
            self.bytes.clone(),
        );
        r.register(
            "rtp_packets_lost",
            "RTP packets missing from received sequence numbers",
            self.lost.clone(),
        );
        r.register_with_unit(
            "jitter",
            "RFC 3550 interarrival jitter of finished sessions",
            Unit::Seconds,
            self.jitter.clone(),
        );
    }

    /// Handles on the live counters, for sessions to bump.
    pub fn live(&self) -> Live {
        let get = |f: &Family<Direction, Counter>, dir| {
            f.get_or_create(&vec![("direction", dir)]).clone()
        };
        Live {
            packets_in: get(&self.packets, "in"),
            packets_out: get(&self.packets, "out"),
            bytes_in: get(&self.bytes, "in"),
            bytes_out: get(&self.bytes, "out"),
            lost: self.lost.clone(),
        }
    }

    /// A session opened.
    pub fn session_opened(&self) {
        self.sessions_active.inc();
        self.update_load();
    }

    fn update_load(&self) {
        let capacity = self.capacity.get().max(1) as f64;
        self.load_ratio
            .set(self.sessions_active.get() as f64 / capacity);
    }

    pub fn session_ended(&self, st: &crate::session::stats::Stats) {
        self.sessions_active.dec();
        self.update_load();
        self.jitter.observe(st.jitter_ms() / 1000.0);
    }
}
