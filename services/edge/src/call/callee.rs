//! Requests on a B leg's Call-ID: only the answered callee's dialog has
//! any. Its BYE ends the bridge (the Dial's result is ANSWER); anything
//! else is relayed to the caller; a loser's or a ringing leg's get 481.

use super::a_leg::{core, AState};
use super::bridge::Side;
use super::machine::{CallState, Machine};
use super::steps::with_status;
use crate::command::Command;
use crate::reply::replier_for;
use asterism_proto::router::StepStatus;
use asterism_sip::dialog::Order;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{Method, Request};

impl Machine {
    /// A request on a B leg's Call-ID: only the answered callee's dialog
    /// has any (a loser's or a ringing leg's get 481).
    pub(super) fn on_callee_request(
        &mut self,
        key: TsxKey,
        flow: Flow,
        req: &Request,
        c: &Checked,
    ) {
        let m = &req.method;
        let ours = self
            .callee
            .as_ref()
            .is_some_and(|callee| *m != Method::CANCEL && callee.dialog.matches(c));
        if *m == Method::ACK {
            return;
        }
        let replier = replier_for(flow, req, c);
        if !ours {
            tracing::info!(method = %m, "request outside the call's dialogs refused");
            let response = replier.reply(481);
            return core(&mut self.out, Command::RespondOnce { key, response });
        }
        let Some(callee) = self.callee.as_mut() else {
            return;
        };
        if callee.dialog.check_order(m, &c.cseq) == Order::Stale {
            let response = replier.reply(500);
            return core(&mut self.out, Command::Respond { key, response });
        }
        if *m == Method::BYE {
            let response = replier.reply(200);
            core(&mut self.out, Command::Respond { key, response });
            self.callee = None;
            match self.state {
                CallState::Bridged | CallState::Merging => {
                    self.merge = None;
                    self.result(with_status(StepStatus::Ok, "ANSWER"))
                }
                CallState::Transferring => self.transferee_gone(),
                _ => {}
            }
            return;
        }
        if *m == Method::REFER {
            return self.on_refer(Side::Callee, key, replier, req);
        }
        if self.relay_answers(req) {
            return self.reoffer(Side::Callee, key, replier, req);
        }
        match self.a.dialog.as_mut() {
            Some(d) if self.a.state != AState::Gone => {
                let origin = (key, replier);
                self.relays
                    .relay(&mut self.out, d, origin, req, Side::Caller)
            }
            _ => {
                let response = replier.reply(481);
                core(&mut self.out, Command::Respond { key, response });
            }
        }
    }
}
