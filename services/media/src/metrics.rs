//! The media service's Prometheus metrics: sessions active, RTP packets in,
//! out and lost, and the jitter of finished sessions.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone)]
pub struct MediaMetrics {
    pub sessions_active: Gauge,
    pub packets: Family<Vec<(&'static str, &'static str)>, Counter>,
    pub jitter_ms: Histogram,
}

impl Default for MediaMetrics {
    fn default() -> Self {
        MediaMetrics {
            sessions_active: Gauge::default(),
            packets: Family::default(),
            jitter_ms: Histogram::new([0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]),
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
            "rtp_packets",
            "RTP packets of finished sessions, by direction (in, out, lost)",
            self.packets.clone(),
        );
        r.register(
            "jitter_ms",
            "RFC 3550 interarrival jitter of finished sessions (ms)",
            self.jitter_ms.clone(),
        );
    }

    pub fn session_ended(&self, st: &crate::session::stats::Stats) {
        self.sessions_active.dec();
        for (dir, n) in [
            ("in", st.packets_in),
            ("out", st.packets_out),
            ("lost", st.lost),
        ] {
            self.packets
                .get_or_create(&vec![("direction", dir)])
                .inc_by(n);
        }
        self.jitter_ms.observe(st.jitter_ms());
    }
}
