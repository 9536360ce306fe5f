//! Dial's `t` and `T`: the called party (`t`) may blind-transfer the
//! caller, the caller (`T`) the called party, with the `blindxfer` code
//! of features.conf's defaults (`#`), as Asterisk's bridge features do. The call is anchored (the relay reports each leg's
//! RFC 4733 digits; Asterisk too leaves native bridging for features). `#`
//! starts the transfer and the transferer hears `pbx-transfer`; the digits
//! that follow are matched in the Dial's transfer context through the
//! router as `ast_app_dtget` collects them: done when no longer
//! extension could match, at a second `#`, or 3 s after the last digit
//! (`transferdigittimeout`). An extension that exists takes the
//! transferee there — the caller by the router's async goto, the called
//! party as a call of its own ([`super::swap`]) — and the transferer is
//! hung up; anything else plays `pbx-invalid` to the transferer and the
//! call goes on. Digits still reach the other phone, unlike Asterisk, which holds
//! back those of a feature code.

use super::bridge::Side;
use super::events::{Action, Ask};
use super::machine::{CallState, Machine};
use asterism_proto::router::{StepResult, StepStatus};
use std::time::Duration;
use tokio::time::Instant;

/// features.conf's default `blindxfer`.
pub const BLINDXFER: char = '#';
/// features.conf's default `transferdigittimeout`.
pub const DIGIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Digits of a transfer's extension at most.
const MAX_DIGITS: usize = 32;

/// Who may transfer in the Dial under way, and a transfer being dialled.
pub struct Transfers {
    /// `t`: the called party.
    callee: bool,
    /// `T`: the calling party.
    caller: bool,
    context: String,
    collecting: Option<Collect>,
}

struct Collect {
    side: Side,
    digits: String,
    until: Instant,
    /// The router's answer for `digits`: (exists, could match more).
    known: Option<(bool, bool)>,
    /// Time is up: the transfer is decided when the answer comes.
    closing: bool,
}

impl Transfers {
    /// Dial's options `options` with its transfer context; None without `t`.
    pub fn of(options: &str, context: &str) -> Option<Transfers> {
        let has = |c| asterism_config::dial_options::has_option(options, c);
        let (callee, caller) = (has('t'), has('T'));
        (callee || caller).then(|| Transfers {
            callee,
            caller,
            context: context.to_owned(),
            collecting: None,
        })
    }

    fn may(&self, side: Side) -> bool {
        match side {
            Side::Callee => self.callee,
            Side::Caller => self.caller,
        }
    }
}

impl Machine {
    /// When a transfer being dialled times out.
    pub(super) fn transfer_deadline(&self) -> Option<Instant> {
        let c = self.transfers.as_ref()?.collecting.as_ref()?;
        (self.state == CallState::Bridged && !c.closing).then_some(c.until)
    }

    /// A digit from leg `side` of the bridged call.
    pub(super) fn on_dtmf(&mut self, side: Side, digit: char, now: Instant) {
        if self.state != CallState::Bridged {
            return;
        }
        let Some(t) = self.transfers.as_mut() else {
            return;
        };
        let may = t.may(side);
        match t.collecting.as_mut() {
            Some(c) if c.side != side || c.closing => {}
            Some(c) if digit == BLINDXFER && !c.digits.is_empty() => {
                c.closing = true;
                self.decide_when_known();
            }
            Some(c) if c.digits.len() < MAX_DIGITS && digit != BLINDXFER => {
                c.digits.push(digit);
                (c.until, c.known) = (now + DIGIT_TIMEOUT, None);
                let ask = Ask::MatchExtension {
                    context: t.context.clone(),
                    exten: c.digits.clone(),
                    caller: self.a.checked.from.uri.user.clone().unwrap_or_default(),
                };
                self.out.push(Action::Ask(0, ask));
            }
            Some(_) => {}
            None if digit == BLINDXFER && may => {
                tracing::info!(?side, "blind transfer: dialling the extension");
                t.collecting = Some(Collect {
                    side,
                    digits: String::new(),
                    until: now + DIGIT_TIMEOUT,
                    known: None,
                    closing: false,
                });
                self.transfer_prompt(side, "pbx-transfer");
            }
            None => {}
        }
    }

    /// The router's answer for the digits `exten` dialled so far.
    pub(super) fn matched(
        &mut self,
        exten: &str,
        r: Result<(bool, bool), super::backends::BackendError>,
        now: Instant,
    ) {
        let exists = r.as_ref().is_ok_and(|(exists, _)| *exists);
        if self.refer_matched(exten, exists, now) {
            return;
        }
        let Some(c) = self.transfers.as_mut().and_then(|t| t.collecting.as_mut()) else {
            return;
        };
        if c.digits != exten {
            return;
        }
        c.known = Some(r.unwrap_or((false, false)));
        if c.known.is_some_and(|(_, more)| !more) {
            c.closing = true;
        }
        self.decide_when_known();
    }

    /// No digit for a while: the transfer is decided.
    pub(super) fn on_transfer_timer(&mut self, now: Instant) {
        if self.transfer_deadline().is_none_or(|at| now < at) {
            return;
        }
        if let Some(c) = self.transfers.as_mut().and_then(|t| t.collecting.as_mut()) {
            c.closing = true;
        }
        self.decide_when_known();
    }

    /// Once time is up and the router has answered for the digits: the
    /// transfer, or `pbx-invalid` and back to the call.
    fn decide_when_known(&mut self) {
        let Some(t) = self.transfers.as_mut() else {
            return;
        };
        let Some(c) = t.collecting.as_ref() else {
            return;
        };
        let ready = c.closing && (c.digits.is_empty() || c.known.is_some());
        if !ready {
            return;
        }
        let Some(c) = t.collecting.take() else {
            return;
        };
        if c.digits.is_empty() {
            return tracing::info!("blind transfer: no digits, back to the call");
        }
        if !c.known.is_some_and(|(exists, _)| exists) {
            tracing::info!(digits = %c.digits, "blind transfer to no extension: back to the call");
            return self.transfer_prompt(c.side, "pbx-invalid");
        }
        if c.side == Side::Caller {
            let context = t.context.clone();
            return self.transfer_callee(context, c.digits, true);
        }
        tracing::info!(exten = %c.digits, "blind transfer: the caller goes there");
        self.hang_up_callee();
        self.result(StepResult {
            status: StepStatus::Ok as i32,
            dial_status: "ANSWER".into(),
            transfer_to: c.digits,
            ..Default::default()
        });
    }

    fn transfer_prompt(&mut self, side: Side, file: &str) {
        self.leg_prompts(side, vec![file.to_owned()], false);
    }
}
