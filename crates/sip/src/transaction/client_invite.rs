//! INVITE client transaction (RFC 3261 §17.1.1, figure 5, with RFC 6026's
//! Accepted state): Timer A retransmits over UDP, Timer B gives up, a
//! non-2xx final response is acknowledged here (Timer D absorbs its
//! retransmissions), 2xx responses all go to the TU, which sends the ACK.

use super::timers::{Timer, TimerConfig};
use super::Effects;
use bytes::Bytes;
use std::time::Duration;

#[derive(Debug)]
enum State {
    Calling { a: Duration },
    Proceeding,
    Accepted,
    Completed { ack: Bytes },
    Terminated,
}

#[derive(Debug)]
pub struct InviteClient {
    state: State,
    request: Bytes,
    reliable: bool,
}

/// What to do with a response.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    ToTu,
    Absorbed,
}

impl InviteClient {
    /// Start: send the request, arm Timers A (UDP) and B.
    pub fn start(request: Bytes, reliable: bool, cfg: &TimerConfig) -> (Self, Effects) {
        let mut fx = Effects {
            send: Some(request.clone()),
            ..Effects::default()
        };
        if !reliable {
            fx.start.push((Timer::A, cfg.t1));
        }
        fx.start.push((Timer::B, cfg.sixty_four_t1()));
        (
            InviteClient {
                state: State::Calling { a: cfg.t1 },
                request,
                reliable,
            },
            fx,
        )
    }

    /// A response arrived. `ack` builds the ACK for a non-2xx final.
    pub fn on_response(
        &mut self,
        code: u16,
        ack: impl FnOnce() -> Bytes,
        cfg: &TimerConfig,
    ) -> (Delivery, Effects) {
        let mut fx = Effects::default();
        let d = match (&self.state, code) {
            (State::Calling { .. } | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                Delivery::ToTu
            }
            (State::Calling { .. } | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                fx.start.push((Timer::M, cfg.sixty_four_t1()));
                Delivery::ToTu
            }
            (State::Calling { .. } | State::Proceeding, _) => {
                let ack = ack();
                fx.send = Some(ack.clone());
                self.state = State::Completed { ack };
                fx.start.push((
                    Timer::D,
                    if self.reliable {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32)
                    },
                ));
                Delivery::ToTu
            }
            (State::Accepted, 200..=299) => Delivery::ToTu,
            (State::Completed { ack }, 300..=699) => {
                fx.send = Some(ack.clone());
                Delivery::Absorbed
            }
            _ => Delivery::Absorbed,
        };
        (d, fx)
    }

    pub fn on_timer(&mut self, timer: Timer, cfg: &TimerConfig) -> Effects {
        let mut fx = Effects::default();
        match (&mut self.state, timer) {
            (State::Calling { a }, Timer::A) => {
                fx.send = Some(self.request.clone());
                *a *= 2;
                fx.start.push((Timer::A, *a));
            }
            (State::Calling { .. }, Timer::B) => {
                self.state = State::Terminated;
                fx.terminated = true;
                fx.timed_out = true;
            }
            (State::Completed { .. }, Timer::D) | (State::Accepted, Timer::M) => {
                self.state = State::Terminated;
                fx.terminated = true;
            }
            _ => {}
        }
        let _ = cfg;
        fx
    }

    /// Whether a CANCEL may be sent now (a provisional response was seen).
    pub fn is_proceeding(&self) -> bool {
        matches!(self.state, State::Proceeding)
    }
}
