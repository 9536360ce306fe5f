//! Non-INVITE client transaction (RFC 3261 §17.1.2, figure 6): Timer E
//! retransmits over UDP (doubling up to T2), Timer F gives up, Timer K
//! absorbs response retransmissions.

use super::timers::{Timer, TimerConfig};
use super::Effects;
use bytes::Bytes;
use std::time::Duration;

#[derive(Debug)]
enum State {
    Trying { e: Duration },
    Proceeding { e: Duration },
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteClient {
    state: State,
    request: Bytes,
    reliable: bool,
}

impl NonInviteClient {
    pub fn start(request: Bytes, reliable: bool, cfg: &TimerConfig) -> (Self, Effects) {
        let mut fx = Effects {
            send: Some(request.clone()),
            ..Effects::default()
        };
        if !reliable {
            fx.start.push((Timer::E, cfg.t1));
        }
        fx.start.push((Timer::F, cfg.sixty_four_t1()));
        (
            NonInviteClient {
                state: State::Trying { e: cfg.t1 },
                request,
                reliable,
            },
            fx,
        )
    }

    /// Whether the response goes to the TU (retransmissions do not).
    pub fn on_response(&mut self, code: u16, cfg: &TimerConfig) -> (bool, Effects) {
        let mut fx = Effects::default();
        match (&self.state, code) {
            (State::Trying { e } | State::Proceeding { e }, 100..=199) => {
                self.state = State::Proceeding { e: *e };
                (true, fx)
            }
            (State::Trying { .. } | State::Proceeding { .. }, _) => {
                self.state = State::Completed;
                fx.start.push((
                    Timer::K,
                    if self.reliable {
                        Duration::ZERO
                    } else {
                        cfg.t4
                    },
                ));
                (true, fx)
            }
            _ => (false, fx),
        }
    }

    pub fn on_timer(&mut self, timer: Timer, cfg: &TimerConfig) -> Effects {
        let mut fx = Effects::default();
        match (&mut self.state, timer) {
            (State::Trying { e }, Timer::E) => {
                fx.send = Some(self.request.clone());
                *e = (*e * 2).min(cfg.t2);
                fx.start.push((Timer::E, *e));
            }
            (State::Proceeding { .. }, Timer::E) => {
                fx.send = Some(self.request.clone());
                fx.start.push((Timer::E, cfg.t2));
            }
            (State::Trying { .. } | State::Proceeding { .. }, Timer::F) => {
                self.state = State::Terminated;
                fx.terminated = true;
                fx.timed_out = true;
            }
            (State::Completed, Timer::K) => {
                self.state = State::Terminated;
                fx.terminated = true;
            }
            _ => {}
        }
        fx
    }
}
