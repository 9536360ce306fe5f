//! The caller blind-transfers the called party (Dial's `T`): the called
//! party becomes the call's party in the dialplan, as Asterisk's
//! transferee is sent to the extension while the transferer is hung up.
//! The caller's dialplan ends as if it hung up (its `h` runs), the caller
//! gets a BYE, the relay's legs swap names (the called party's media is
//! the caller leg now, so prompts, music and the next Dial's handover
//! reach it), its dialog becomes the call's caller side
//! ([`ALeg::from_callee`]), and the router runs the transfer's extension
//! for it as a new call (its sip.conf caller ID).

use super::a_leg::ALeg;
use super::backends::BackendError;
use super::events::Ask;
use super::forks::Fork;
use super::machine::{CallState, Machine};
use super::steps::with_status;
use asterism_proto::common::User;
use asterism_proto::router::{CallStart, StepStatus};

/// A transfer of the called party waiting for the relay's swap.
pub struct Pending {
    callee: Fork,
    context: String,
    exten: String,
}

impl Machine {
    /// The caller transferred the called party to `exten` of `context`;
    /// `bye`: hang the caller up (a REFER's transferer hangs up itself).
    pub(super) fn transfer_callee(&mut self, context: String, exten: String, bye: bool) {
        let (Some(callee), Some(session)) = (self.callee.take(), self.media.clone()) else {
            return;
        };
        tracing::info!(%exten, %context, callee = %callee.target, "blind transfer: the called party goes there");
        self.result(with_status(StepStatus::CallerHungUp, "ANSWER"));
        if bye {
            self.bye_caller();
        }
        self.entry.leg_state(&self.a.checked.call_id, "gone");
        self.swap = Some(Pending {
            callee,
            context,
            exten,
        });
        self.ask(Ask::SwapRelay(session));
        self.state = CallState::Swapping;
    }

    /// The relay swapped its legs: the called party runs the dialplan.
    pub(super) fn swapped(&mut self, r: Result<(), BackendError>) {
        let Some(p) = self.swap.take() else {
            return;
        };
        let mut callee = p.callee;
        if let Err(e) = r {
            tracing::warn!(
                error = e.text(),
                "relay not swapped: the transferred party is hung up"
            );
            let k = callee.bye(&mut self.out);
            self.byes.push(k);
            self.state = CallState::Ending {
                until: tokio::time::Instant::now() + super::machine::BYE_WAIT,
            };
            return;
        }
        if let Some(a) = self.anchor.as_mut() {
            std::mem::swap(&mut a.to_caller, &mut a.to_callee);
            a.caller_has_it = true;
        }
        self.callee_runs_dialplan(callee, p.context, p.exten);
    }

    /// The called party becomes the call's party and runs `exten` of
    /// `context` as a new call, with its sip.conf caller ID.
    pub(super) fn callee_runs_dialplan(&mut self, callee: Fork, context: String, exten: String) {
        let user = self
            .user_of_target(&callee.target)
            .cloned()
            .unwrap_or_else(|| User {
                name: callee.target.clone(),
                callerid_num: callee.target.clone(),
                ..Default::default()
            });
        let (host, timers) = (self.a.host.clone(), self.a.timers());
        self.a = ALeg::from_callee(callee.dialog.clone(), &callee.invite, host, timers);
        let start = CallStart {
            call_id: self.a.checked.call_id.clone(),
            context,
            extension: exten,
            callerid_num: user.callerid_num.clone(),
            callerid_name: user.callerid_name.clone(),
            variables: [("CHANNEL(peername)".to_owned(), user.name.clone())].into(),
        };
        self.entry.state("transferred");
        self.user = Some(user);
        self.ask(Ask::Execute(start));
        self.state = CallState::Starting;
    }
}
