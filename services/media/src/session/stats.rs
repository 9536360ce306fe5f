//! Per-session RTP counters: packets and bytes each way, loss from sequence
//! numbers, and RFC 3550 §6.4.1 interarrival jitter.

use tokio::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// The service's counters, bumped as packets flow.
    pub live: crate::metrics::Live,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub lost: u64,
    /// Jitter in timestamp units (1/8000 s).
    jitter: f64,
    last_seq: Option<u16>,
    last_transit: Option<f64>,
}

impl Stats {
    /// Fresh counters that also bump the service's `live` ones.
    pub fn counting_into(live: crate::metrics::Live) -> Stats {
        Stats {
            live,
            ..Stats::default()
        }
    }

    pub fn on_receive(
        &mut self,
        seq: u16,
        timestamp: u32,
        bytes: usize,
        arrival: Instant,
        epoch: Instant,
    ) {
        self.packets_in += 1;
        self.bytes_in += bytes as u64;
        self.live.packets_in.inc();
        self.live.bytes_in.inc_by(bytes as u64);
        if let Some(last) = self.last_seq {
            let gap = seq.wrapping_sub(last);
            if gap > 1 && gap < 0x8000 {
                self.lost += u64::from(gap - 1);
                self.live.lost.inc_by(u64::from(gap - 1));
            }
        }
        self.last_seq = Some(seq);
        let arrival_units = arrival.duration_since(epoch).as_secs_f64() * 8000.0;
        let transit = arrival_units - f64::from(timestamp);
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    pub fn on_send(&mut self, bytes: usize) {
        self.packets_out += 1;
        self.bytes_out += bytes as u64;
        self.live.packets_out.inc();
        self.live.bytes_out.inc_by(bytes as u64);
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter / 8.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn loss_and_steady_jitter() {
        let epoch = Instant::now();
        let mut s = Stats::default();
        for (i, seq) in [1u16, 2, 3, 6, 7].iter().enumerate() {
            let at = epoch + Duration::from_millis(20 * i as u64);
            s.on_receive(*seq, 160 * i as u32, 172, at, epoch);
        }
        assert_eq!(s.lost, 2);
        assert_eq!(s.packets_in, 5);
        assert!(s.jitter_ms() < 0.01, "perfectly paced: {}", s.jitter_ms());
    }
}
