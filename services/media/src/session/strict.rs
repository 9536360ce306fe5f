//! Strict RTP, as Asterisk's `strictrtp=yes` (the fix of CVE-2017-14099)
//! and rtpengine's strict-source mode: a session answers one source only.
//! Packets from the address the SDP named are taken at once and lock the
//! session on it; another source (a phone behind NAT) must first send
//! [`PROBATION`] packets in sequence, then the session locks on it. Once
//! locked, every other source is dropped: a stranger's packet no longer
//! moves the stream (or the echo) to itself. Only a new SDP starts the
//! learning again.

use std::net::SocketAddr;

/// Packets in sequence a source other than the SDP's must send before the
/// session takes it (Asterisk's `probation` default).
pub const PROBATION: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Still choosing; `candidate` is the source on probation, with its
    /// last sequence number and how many it sent in a row.
    Learning {
        candidate: Option<(SocketAddr, u16, u8)>,
    },
    /// Answering `remote` only.
    Locked,
}

#[derive(Debug, Clone, Copy)]
pub struct StrictRtp {
    /// The address RTP goes to: the SDP's, then the one locked on.
    pub remote: SocketAddr,
    state: State,
    /// Packets dropped from other sources.
    pub dropped: u64,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

impl StrictRtp {
    /// Learning, towards the address of the SDP.
    pub fn new(sdp: SocketAddr) -> StrictRtp {
        StrictRtp {
            remote: sdp,
            state: State::Learning { candidate: None },
            dropped: 0,
        }
    }

    /// A new SDP: learn again, towards its address.
    pub fn relearn(&mut self, sdp: SocketAddr) {
        *self = StrictRtp {
            dropped: self.dropped,
            ..StrictRtp::new(sdp)
        };
    }

    pub fn is_locked(&self) -> bool {
        self.state == State::Locked
    }

    /// A packet with sequence number `seq` arrived from `from`.
    pub fn on_packet(&mut self, from: SocketAddr, seq: u16) -> Verdict {
        if from == self.remote {
            self.state = State::Locked;
            return Verdict::Accept;
        }
        let State::Learning { candidate } = &mut self.state else {
            self.dropped += 1;
            return Verdict::Drop;
        };
        let in_row = match candidate {
            Some((addr, last, n)) if *addr == from && seq == last.wrapping_add(1) => *n + 1,
            _ => 1,
        };
        if in_row >= PROBATION {
            self.remote = from;
            self.state = State::Locked;
            return Verdict::Accept;
        }
        *candidate = Some((from, seq, in_row));
        self.dropped += 1;
        Verdict::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_sdp_address_is_taken_at_once_and_strangers_never() {
        let mut s = StrictRtp::new(a("192.0.2.1:4000"));
        assert_eq!(s.on_packet(a("192.0.2.1:4000"), 10), Verdict::Accept);
        assert!(s.is_locked());
        for seq in 0..20 {
            assert_eq!(s.on_packet(a("203.0.113.9:5000"), seq), Verdict::Drop);
        }
        assert_eq!(s.remote, a("192.0.2.1:4000"));
        assert_eq!(s.dropped, 20);
    }

    #[test]
    fn a_nat_source_is_learnt_after_probation_in_sequence() {
        let mut s = StrictRtp::new(a("10.0.0.5:4000"));
        let nat = a("198.51.100.7:61000");
        assert_eq!(s.on_packet(nat, 100), Verdict::Drop);
        assert_eq!(s.on_packet(nat, 101), Verdict::Drop);
        // Out of sequence: probation starts again.
        assert_eq!(s.on_packet(nat, 200), Verdict::Drop);
        assert_eq!(s.on_packet(nat, 201), Verdict::Drop);
        assert_eq!(s.on_packet(nat, 202), Verdict::Drop);
        assert_eq!(s.on_packet(nat, 203), Verdict::Accept);
        assert_eq!(s.remote, nat);
        assert_eq!(s.on_packet(a("10.0.0.5:4000"), 1), Verdict::Drop);
    }

    #[test]
    fn two_sources_interleaved_lock_neither_until_one_is_in_sequence() {
        let mut s = StrictRtp::new(a("10.0.0.5:4000"));
        let (x, y) = (a("198.51.100.7:1"), a("198.51.100.8:1"));
        for i in 0..10u16 {
            assert_eq!(s.on_packet(x, i), Verdict::Drop);
            assert_eq!(s.on_packet(y, i), Verdict::Drop);
        }
        assert!(!s.is_locked());
        s.relearn(a("10.0.0.6:4000"));
        assert_eq!(s.on_packet(a("10.0.0.6:4000"), 5), Verdict::Accept);
    }
}
