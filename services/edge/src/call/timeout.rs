//! `TIMEOUT(absolute)`: the router sends with each step when the call must
//! stop; when that time comes during a step, the edge stops it as Asterisk
//! does — a bridged callee is hung up, ringing legs are cancelled, a
//! prompt or echo is left — and answers the step ABSOLUTE_TIMEOUT, so the
//! router goes on in the `T` extension or hangs the caller up. Also the
//! machine's timer event, which dispatches every deadline of the call.

use super::machine::{CallState, Machine};
use super::steps::{ok, with_status};
use asterism_proto::router::{StepResult, StepStatus};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The step's Unix-ms deadline as an instant of this clock (None: none).
pub fn deadline(unix_ms: i64, now: Instant) -> Option<Instant> {
    if unix_ms <= 0 {
        return None;
    }
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let left = u64::try_from(unix_ms - wall).unwrap_or(0);
    Some(now + Duration::from_millis(left))
}

impl Machine {
    /// Whether a router step is being carried out.
    pub(super) fn in_step(&self) -> bool {
        matches!(
            self.state,
            CallState::Waiting { .. }
                | CallState::Answering { .. }
                | CallState::Playing
                | CallState::Echoing
                | CallState::Resolving { .. }
                | CallState::Anchoring { .. }
                | CallState::Dialing { .. }
                | CallState::Bridged
                | CallState::Referring { .. }
        )
    }

    /// Cancel the Dial under way: its ringing legs, slots and relay.
    pub(super) fn stop_dialing(&mut self) {
        for f in &mut self.forks {
            f.cancel(&mut self.out);
        }
        self.losers.append(&mut self.forks);
        self.dial_slots.clear();
        self.anchoring.clear();
    }

    /// TIMEOUT(absolute) came during a step: stop it, tell the router.
    pub(super) fn absolute_timeout(&mut self) {
        self.hangup_at = None;
        tracing::info!(state = ?self.state, "TIMEOUT(absolute) reached: step stopped");
        let dial_status = match self.state {
            CallState::Bridged => {
                self.hang_up_callee();
                "ANSWER"
            }
            CallState::Resolving { .. }
            | CallState::Anchoring { .. }
            | CallState::Dialing { .. } => {
                self.stop_dialing();
                self.drop_relay();
                ""
            }
            _ => "",
        };
        // Answers to what the step asked for are stale now.
        self.op += 1;
        self.result(StepResult {
            status: StepStatus::AbsoluteTimeout as i32,
            dial_status: dial_status.to_owned(),
            ..Default::default()
        });
    }

    /// A timer of the machine fired: the 200's retransmission, the
    /// state's deadline, TIMEOUT(absolute), Dial's limit, a transfer's
    /// digits, a transferer's BYE, a pickup's handover.
    pub(super) fn on_timer(&mut self, now: Instant) {
        if self.a.on_timer(&mut self.out, now) {
            tracing::warn!("caller never ACKed the 200: hanging up");
            self.bye_caller();
            self.caller_gone();
        }
        match self.state {
            CallState::Waiting { until } if now >= until => {
                self.stop_caller_music();
                self.result(ok())
            }
            CallState::Dialing { deadline } if now >= deadline => {
                self.stop_dialing();
                self.drop_relay();
                self.result(with_status(StepStatus::Ok, "NOANSWER"));
            }
            CallState::Ending { until } if now >= until => self.state = CallState::Done,
            _ => {}
        }
        if self.hangup_at.is_some_and(|at| now >= at) && self.in_step() {
            self.absolute_timeout();
        }
        self.on_limit_timer(now);
        self.on_transfer_timer(now);
        self.let_go(Some(now));
        self.on_pickup_timer(now);
        self.on_merge_timer(now);
    }
}
