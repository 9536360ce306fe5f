//! Transaction timers, named after RFC 3261 §17 (table 4), with T1, T2 and T4
//! configurable.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Transaction timers (client: A B D E F K M; server: G H I J L).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmit interval (unreliable only).
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait time for response retransmits after a non-2xx (INVITE client).
    D,
    /// Non-INVITE request retransmit interval (unreliable only).
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// Wait time for response retransmits (non-INVITE client).
    K,
    /// RFC 6026: wait time for 2xx retransmits (INVITE client).
    M,
    /// INVITE final response retransmit interval (unreliable only).
    G,
    /// Wait time for ACK receipt.
    H,
    /// Wait time for ACK retransmits.
    I,
    /// Wait time for non-INVITE request retransmits.
    J,
    /// RFC 6026: wait time for INVITE retransmits after a 2xx.
    L,
    /// Not in RFC 3261: the longest a server transaction waits for its TU's
    /// final response ([`TimerConfig::lifetime`]), so one whose TU is gone
    /// is freed rather than kept for ever.
    Lifetime,
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J and L.
    pub fn sixty_four_t1(&self) -> Duration {
        self.t1 * 64
    }

    /// How long a server transaction may wait for the TU's final
    /// response: 64·T1 for non-INVITE requests (the client gave up by then,
    /// Timer F), two hours for an INVITE (ringing may last; the call task
    /// answers it whatever happens, this only frees what a lost task left).
    pub fn lifetime(&self, invite: bool) -> Duration {
        if invite {
            Duration::from_secs(2 * 3600)
        } else {
            self.sixty_four_t1()
        }
    }

    pub fn j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.sixty_four_t1()
        }
    }

    pub fn i(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }
}
