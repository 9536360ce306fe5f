//! How a call's legs are let go: the dialplan's end (cancel what rings,
//! hang up who answered, a final response to a caller never answered) and
//! the caller hanging up in whatever state the call is in. Split from the
//! machine so each state's ending reads in one place.

use super::a_leg::AState;
use super::machine::{CallState, Machine, BYE_WAIT};
use super::steps::{hung_up, with_status};
use asterism_proto::router::{StepResult, StepStatus};
use tokio::time::Instant;

impl Machine {
    /// The dialplan is over (or broke): cancel the B legs still ringing,
    /// hang up the callee, and the caller with a final response if never
    /// answered, a BYE if it was.
    pub(super) fn end(&mut self, code: u16, now: Instant) {
        self.entry.state("ending");
        for f in &mut self.forks {
            f.cancel(&mut self.out);
        }
        self.losers.append(&mut self.forks);
        self.hang_up_callee();
        self.let_go(None);
        match self.a.state {
            AState::Early => {
                let code = if code >= 300 { code } else { 480 };
                self.a.fail_with(&mut self.out, code, None);
            }
            AState::Answered => self.bye_caller(),
            AState::Gone => {}
        }
        self.state = CallState::Ending {
            until: now + BYE_WAIT,
        };
    }

    pub(super) fn bye_caller(&mut self) {
        if let Some(k) = self.a.bye(&mut self.out) {
            self.byes.push(k);
        }
    }

    pub(super) fn hang_up_callee(&mut self) {
        if let Some(mut c) = self.callee.take() {
            let k = c.bye(&mut self.out);
            self.byes.push(k);
        }
    }

    /// The caller hung up (CANCEL before the answer, BYE after, or never
    /// ACKed): whatever the state was doing ends with "caller hung up".
    pub(super) fn caller_gone(&mut self) {
        match self.state {
            CallState::Authenticating | CallState::Admitting | CallState::Starting => {
                self.state = CallState::Done
            }
            CallState::Waiting { .. }
            | CallState::Answering { .. }
            | CallState::Playing
            | CallState::Echoing => self.result(hung_up()),
            CallState::Resolving { .. }
            | CallState::Anchoring { .. }
            | CallState::Dialing { .. }
            | CallState::AwaitingPickup { .. } => {
                self.stop_dialing();
                self.result(StepResult {
                    dial_status: "CANCEL".into(),
                    ..hung_up()
                })
            }
            CallState::Bridged | CallState::Merging => {
                self.merge = None;
                self.hang_up_callee();
                self.result(with_status(StepStatus::CallerHungUp, "ANSWER"))
            }
            CallState::Transferring => self.transferee_gone(),
            CallState::Referring { .. } => self.referring_gone(),
            CallState::PickingUp => self.picker_gone(),
            CallState::AwaitingStep
            | CallState::Swapping
            | CallState::Ending { .. }
            | CallState::Done => {}
        }
    }
}
