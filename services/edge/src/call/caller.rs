//! Requests on the caller's Call-ID: its ACK, CANCEL and BYE end or
//! confirm what the machine does; in a bridged call anything else goes to
//! the callee (or, with anchored media, a re-INVITE/UPDATE to the relay);
//! a request outside the caller's dialog gets 481, an out-of-order one 500.

use super::a_leg::{core, AState};
use super::bridge::Side;
use super::events::Action;
use super::machine::{CallState, Machine};
use crate::command::Command;
use crate::reply::replier_for;
use asterism_sip::dialog::Order;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{Method, Request};

impl Machine {
    pub(super) fn on_request(&mut self, key: TsxKey, flow: Flow, req: &Request, c: &Checked) {
        if self.on_leaving_request(&key, flow, req, c) {
            return;
        }
        if c.call_id != self.a.checked.call_id {
            return self.on_callee_request(key, flow, req, c);
        }
        let m = &req.method;
        if *m == Method::ACK {
            if self.a.in_dialog(c) {
                self.a.acked();
                self.picker_confirmed();
            }
            return;
        }
        let ours = if *m == Method::CANCEL {
            self.a.cancels_invite(req, c)
        } else {
            self.a.in_dialog(c)
        };
        let replier = replier_for(flow, req, c);
        if !ours {
            tracing::info!(method = %m, "request outside the caller's dialog refused");
            let response = replier.reply(481);
            return core(&mut self.out, Command::RespondOnce { key, response });
        }
        let stale = self.a.dialog.as_mut().map(|d| d.check_order(m, &c.cseq));
        if stale == Some(Order::Stale) {
            let response = replier.reply(500);
            return core(&mut self.out, Command::Respond { key, response });
        }
        let respond = |out: &mut Vec<Action>, code: u16| {
            let response = replier.reply(code);
            core(
                out,
                Command::Respond {
                    key: key.clone(),
                    response,
                },
            );
        };
        match m {
            m if *m == Method::CANCEL => {
                respond(&mut self.out, 200);
                if self.a.state == AState::Early {
                    self.a.fail_with(&mut self.out, 487, None);
                    self.caller_gone();
                }
            }
            m if *m == Method::BYE => {
                respond(&mut self.out, 200);
                self.a.state = AState::Gone;
                self.caller_gone();
            }
            m if *m == Method::REFER => self.on_refer(Side::Caller, key, replier, req),
            m if *m == Method::NOTIFY && matches!(self.state, CallState::Referring { .. }) => {
                self.refer_notified(key, replier, req)
            }
            // The caller's media is a relay (bridged or not): it answers.
            _ if self.relay_answers(req) => self.reoffer(Side::Caller, key, replier, req),
            _ if self.state == CallState::Bridged && self.callee.is_some() => {
                let origin = (key, replier);
                if let Some(callee) = self.callee.as_mut() {
                    self.relays
                        .relay(&mut self.out, &mut callee.dialog, origin, req, Side::Callee);
                }
            }
            m if *m == Method::OPTIONS || *m == Method::INFO => respond(&mut self.out, 200),
            _ => respond(&mut self.out, 488),
        }
    }
}
