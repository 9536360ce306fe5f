//! Non-INVITE server transaction (RFC 3261 §17.2.2, figure 8).

use super::timers::{Timer, TimerConfig};
use super::Effects;
use bytes::Bytes;

#[derive(Debug)]
enum State {
    Trying,
    Proceeding { last: Bytes },
    Completed { last: Bytes },
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteServer {
    state: State,
    reliable: bool,
}

impl NonInviteServer {
    pub fn new(reliable: bool) -> Self {
        NonInviteServer {
            state: State::Trying,
            reliable,
        }
    }

    /// A retransmitted request: resend the last response, if any.
    pub fn on_retransmission(&self) -> Option<Bytes> {
        match &self.state {
            State::Proceeding { last } | State::Completed { last } => Some(last.clone()),
            State::Trying | State::Terminated => None,
        }
    }

    /// The TU sends a response.
    pub fn on_response(&mut self, code: u16, bytes: Bytes, cfg: &TimerConfig) -> Effects {
        let mut fx = Effects::default();
        match (&self.state, code) {
            (State::Trying | State::Proceeding { .. }, 100..=199) => {
                self.state = State::Proceeding {
                    last: bytes.clone(),
                };
                fx.send = Some(bytes);
            }
            (State::Trying | State::Proceeding { .. }, _) => {
                self.state = State::Completed {
                    last: bytes.clone(),
                };
                fx.send = Some(bytes);
                fx.start.push((Timer::J, cfg.j(self.reliable)));
            }
            // Completed or Terminated: the TU may not send again.
            _ => {}
        }
        fx
    }

    /// No final response from the TU yet.
    pub fn awaits_tu(&self) -> bool {
        matches!(self.state, State::Trying | State::Proceeding { .. })
    }

    pub fn on_timer(&mut self, timer: Timer) -> Effects {
        let mut fx = Effects::default();
        match (&self.state, timer) {
            (State::Completed { .. }, Timer::J) => {
                self.state = State::Terminated;
                fx.terminated = true;
            }
            // The TU never answered: the client has given up, free it.
            (State::Trying | State::Proceeding { .. }, Timer::Lifetime) => {
                self.state = State::Terminated;
                fx.terminated = true;
                fx.timed_out = true;
            }
            _ => {}
        }
        fx
    }
}
