//! INVITE server transaction (RFC 3261 §17.2.1, figure 7, with the RFC 6026
//! Accepted state so 2xx retransmissions and ACKs reach the TU).

use super::timers::{Timer, TimerConfig};
use super::Effects;
use bytes::Bytes;
use std::time::Duration;

#[derive(Debug)]
enum State {
    Proceeding { last: Option<Bytes> },
    Accepted,
    Completed { last: Bytes, g: Duration },
    Confirmed,
    Terminated,
}

#[derive(Debug)]
pub struct InviteServer {
    state: State,
    reliable: bool,
}

/// What happened to an ACK.
#[derive(Debug, PartialEq, Eq)]
pub enum AckDisposition {
    /// ACK for a non-2xx final response: ends the transaction, TU not told.
    Absorbed,
    /// ACK for a 2xx: belongs to the dialog, hand it to the TU.
    ForTu,
}

impl InviteServer {
    pub fn new(reliable: bool) -> Self {
        InviteServer {
            state: State::Proceeding { last: None },
            reliable,
        }
    }

    pub fn on_retransmission(&self) -> Option<Bytes> {
        match &self.state {
            State::Proceeding { last } => last.clone(),
            State::Completed { last, .. } => Some(last.clone()),
            _ => None,
        }
    }

    pub fn on_response(&mut self, code: u16, bytes: Bytes, cfg: &TimerConfig) -> Effects {
        let mut fx = Effects::default();
        match (&self.state, code) {
            (State::Proceeding { .. }, 100..=199) => {
                self.state = State::Proceeding {
                    last: Some(bytes.clone()),
                };
                fx.send = Some(bytes);
            }
            (State::Proceeding { .. }, 200..=299) => {
                self.state = State::Accepted;
                fx.send = Some(bytes);
                fx.start.push((Timer::L, cfg.sixty_four_t1()));
            }
            (State::Proceeding { .. }, _) => {
                self.state = State::Completed {
                    last: bytes.clone(),
                    g: cfg.t1,
                };
                fx.send = Some(bytes);
                if !self.reliable {
                    fx.start.push((Timer::G, cfg.t1));
                }
                fx.start.push((Timer::H, cfg.sixty_four_t1()));
            }
            // 2xx retransmissions are the TU's (RFC 6026 §7.1).
            (State::Accepted, 200..=299) => fx.send = Some(bytes),
            _ => {}
        }
        fx
    }

    pub fn on_ack(&mut self, cfg: &TimerConfig) -> (AckDisposition, Effects) {
        let mut fx = Effects::default();
        match &self.state {
            State::Completed { .. } => {
                self.state = State::Confirmed;
                fx.start.push((Timer::I, cfg.i(self.reliable)));
                (AckDisposition::Absorbed, fx)
            }
            State::Accepted => (AckDisposition::ForTu, fx),
            _ => (AckDisposition::Absorbed, fx),
        }
    }

    /// No final response from the TU yet.
    pub fn awaits_tu(&self) -> bool {
        matches!(self.state, State::Proceeding { .. })
    }

    pub fn on_timer(&mut self, timer: Timer, cfg: &TimerConfig) -> Effects {
        let mut fx = Effects::default();
        match (&mut self.state, timer) {
            (State::Completed { last, g }, Timer::G) => {
                fx.send = Some(last.clone());
                *g = (*g * 2).min(cfg.t2);
                fx.start.push((Timer::G, *g));
            }
            (State::Completed { .. }, Timer::H) => {
                self.state = State::Terminated;
                fx.terminated = true;
                fx.timed_out = true;
            }
            (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => {
                self.state = State::Terminated;
                fx.terminated = true;
            }
            (State::Proceeding { .. }, Timer::Lifetime) => {
                self.state = State::Terminated;
                fx.terminated = true;
                fx.timed_out = true;
            }
            _ => {}
        }
        fx
    }
}
