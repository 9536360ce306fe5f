//! REFER (RFC 3515) from either phone of a bridged call: a blind transfer,
//! answered as chan_sip's `handle_request_refer` answers it. The phone
//! sending it (the transferer) names an extension in `Refer-To`; it is
//! looked up in the transferer's context (the caller's: the Dial's
//! `TRANSFER_CONTEXT`, else its own; the called party's: its sip.conf
//! `context`), then:
//!
//! - no `Refer-To` → 400 "Bad Request (Refer-to missing)", not a `sip:`
//!   URI → 603 "Declined (Non sip: uri)", `allowtransfer=no` → 603
//!   "Declined (policy)", another REFER still being decided → 491;
//! - otherwise 202, and the outcome in one NOTIFY (`Event: refer;id=<CSeq>`,
//!   `message/sipfrag`, `terminated;reason=noresource`): `404 Not found`
//!   for an extension that does not exist (the call goes on), `503 Service
//!   Unavailable (can't handle one-legged xfers)` when the call is not
//!   bridged, else `200 OK` and the other party (the transferee) goes to
//!   the extension — the caller by the router's async goto, the called
//!   party as a call of its own ([`super::swap`]).
//!
//! Like chan_sip (`SIP_DEFER_BYE_ON_TRANSFER`) we do not hang the
//! transferer up: its phone sends the BYE after the NOTIFY; without one
//! within 32 s it gets ours ([`Leaving`]). When the call's media flows
//! phone to phone, the transferee is first re-INVITEd onto a media session
//! of its own ([`super::reanchor`]), as Asterisk re-INVITEs a natively
//! bridged phone back when its bridge breaks. A REFER with `Replaces`
//! (attended transfer) goes to [`super::attended`].

use super::a_leg::{core, send_in};
use super::bridge::Side;
use super::events::{Action, Ask};
use super::machine::{CallState, Machine};
use super::steps::with_status;
use crate::command::Command;
use crate::reply::Replier;
use asterism_proto::common::User;
use asterism_proto::router::{StepResult, StepStatus};
use asterism_sip::dialog::Dialog;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Method, Request};
use bytes::Bytes;
use std::time::Duration;
use tokio::time::Instant;

/// How long the transferer's dialog waits for its phone's BYE after the
/// transfer (chan_sip's `DEFAULT_TRANS_TIMEOUT`, 64·T1).
pub const LEAVE_WAIT: Duration = Duration::from_secs(32);

/// A REFER being decided: the router says whether its extension exists.
pub struct Refer {
    pub from: Side,
    /// The REFER's CSeq number: the NOTIFY's `Event: refer;id=`.
    pub id: u32,
    pub exten: String,
    pub context: String,
}

/// The transferer's dialog once the transfer is done: its BYE is awaited.
pub struct Leaving {
    pub dialog: Dialog,
    pub until: Instant,
}

/// What a `Refer-To` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A blind transfer to this extension (the URI's user part, decoded).
    Blind(String),
    /// `Replaces` in the URI: an attended transfer, replacing the dialog
    /// with this Call-ID (tags not checked, as chan_sip without
    /// `pedanticsipchecking`).
    Attended(String),
}

/// `Refer-To` as chan_sip's `get_refer_info` reads it; Err: the final
/// response (code, reason) refusing the REFER.
pub fn target(refer_to: Option<&str>) -> Result<Target, (u16, &'static str)> {
    let missing = (400, "Bad Request (Refer-to missing)");
    let v = refer_to
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(missing)?;
    let uri = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let scheme_len = ["sip:", "sips:"]
        .iter()
        .find(|s| {
            uri.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        })
        .map(|s| s.len())
        .ok_or((603, "Declined (Non sip: uri)"))?;
    let rest = &uri[scheme_len..];
    if let Some(at) = rest.to_ascii_lowercase().find("replaces=") {
        let value = rest[at + "replaces=".len()..]
            .split('&')
            .next()
            .unwrap_or_default();
        let decoded = percent_decode(value);
        let call_id = decoded.split(';').next().unwrap_or_default().trim();
        return Ok(Target::Attended(call_id.to_owned()));
    }
    let user = rest.split(['@', ';', '?']).next().unwrap_or_default();
    Ok(Target::Blind(percent_decode(user)))
}

/// `%xx` escapes of a URI's user part decoded (a bad escape stays as is).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Machine {
    /// The sip.conf user of the phone on `side`.
    pub(super) fn user_of(&self, side: Side) -> Option<&User> {
        match side {
            Side::Caller => self.user.as_ref(),
            Side::Callee => self.user_of_target(&self.callee.as_ref()?.target),
        }
    }

    /// A REFER from the phone on `from`, in its dialog (checked).
    pub(super) fn on_refer(&mut self, from: Side, key: TsxKey, replier: Replier, req: &Request) {
        let respond = |out: &mut Vec<Action>, code: u16, reason: &str| {
            let response = replier.reply_with(code, reason);
            let key = key.clone();
            core(out, Command::Respond { key, response });
        };
        if self.user_of(from).is_some_and(|u| u.transfer_forbidden) {
            return respond(&mut self.out, 603, "Declined (policy)");
        }
        let busy = self.refer.is_some()
            || self.merge.is_some()
            || matches!(
                self.state,
                CallState::Swapping | CallState::Transferring | CallState::Merging
            );
        if busy {
            return respond(&mut self.out, 491, "Request Pending");
        }
        let exten = match target(req.headers.get(&HeaderName::ReferTo)) {
            Err((code, reason)) => return respond(&mut self.out, code, reason),
            Ok(Target::Attended(call_id)) => {
                return self.attended_refer(from, (key, replier), req, call_id);
            }
            Ok(Target::Blind(exten)) => exten,
        };
        let id = asterism_sip::header::CSeq::of(&req.headers).map_or(0, |c| c.seq);
        respond(&mut self.out, 202, "Accepted");
        if self.state != CallState::Bridged || self.callee.is_none() {
            let frag = "503 Service Unavailable (can't handle one-legged xfers)";
            return self.notify_refer(from, id, frag);
        }
        let context = match from {
            Side::Caller => self.dial_context.clone(),
            Side::Callee => self
                .user_of(from)
                .map(|u| u.context.clone())
                .unwrap_or_default(),
        };
        let context = if context.is_empty() {
            "default".to_owned()
        } else {
            context
        };
        tracing::info!(?from, %exten, %context, "REFER: blind transfer asked");
        // chan_sip asks ast_exists_extension without a caller ID.
        let ask = Ask::MatchExtension {
            context: context.clone(),
            exten: exten.clone(),
            caller: String::new(),
        };
        self.out.push(Action::Ask(0, ask));
        self.refer = Some(Refer {
            from,
            id,
            exten,
            context,
        });
    }

    /// The router's answer for a REFER's extension: the transfer, or a
    /// NOTIFY saying why not. Whether the answer was the REFER's.
    pub(super) fn refer_matched(&mut self, exten: &str, exists: bool, now: Instant) -> bool {
        if self.refer.as_ref().is_none_or(|r| r.exten != exten) {
            return false;
        }
        let Some(r) = self.refer.take() else {
            return false;
        };
        if !exists {
            tracing::info!(exten = %r.exten, context = %r.context, "REFER to no extension");
            self.notify_refer(r.from, r.id, "404 Not found");
            return true;
        }
        if self.state != CallState::Bridged || self.callee.is_none() {
            let frag = "503 Service Unavailable (can't handle one-legged xfers)";
            self.notify_refer(r.from, r.id, frag);
            return true;
        }
        self.notify_refer(r.from, r.id, "200 OK");
        let anchored = self.anchor.is_some() && self.media.is_some();
        match r.from {
            Side::Callee => {
                tracing::info!(exten = %r.exten, "REFER: the caller goes there");
                if let Some(callee) = self.callee.take() {
                    self.leave(callee.dialog, now);
                }
                if anchored {
                    self.result(transferred(r.exten, r.context));
                } else {
                    self.reanchor(Side::Caller, r.context, r.exten);
                }
            }
            Side::Caller => {
                tracing::info!(exten = %r.exten, "REFER: the called party goes there");
                self.a.state = super::a_leg::AState::Gone;
                if let Some(d) = self.a.dialog.clone() {
                    self.leave(d, now);
                }
                if anchored {
                    self.transfer_callee(r.context, r.exten, false);
                } else {
                    // The caller's dialplan ends as if it hung up.
                    self.result(with_status(StepStatus::CallerHungUp, "ANSWER"));
                    self.reanchor(Side::Callee, r.context, r.exten);
                }
            }
        }
        true
    }

    /// NOTIFY the transferer on `side` of its REFER's outcome (`frag`: the
    /// sipfrag status line), ending the implicit subscription.
    pub(super) fn notify_refer(&mut self, side: Side, id: u32, frag: &str) {
        let dialog = match side {
            Side::Caller => self.a.dialog.as_mut(),
            Side::Callee => self.callee.as_mut().map(|c| &mut c.dialog),
        };
        let Some(d) = dialog else {
            return;
        };
        let (key, mut req) = d.request(Method::NOTIFY);
        let h = &mut req.headers;
        h.push(HeaderName::Event, format!("refer;id={id}"));
        h.push(
            HeaderName::SubscriptionState,
            "terminated;reason=noresource",
        );
        h.push(HeaderName::ContentType, "message/sipfrag;version=2.0");
        h.push(HeaderName::Allow, crate::reply::ALLOW);
        req.body = Bytes::from(format!("SIP/2.0 {frag}\r\n"));
        crate::trace::inject_via_peer(&mut req, &d.route_set, &tracing::Span::current());
        let flow = d.flow;
        core(
            &mut self.out,
            Command::Request {
                key: key.clone(),
                flow,
                request: req,
            },
        );
        self.byes.push(key);
    }

    /// The transferer's dialog waits for its BYE (an older one gets ours).
    pub(super) fn leave(&mut self, dialog: Dialog, now: Instant) {
        self.entry.leg_state(&dialog.call_id, "gone");
        let until = now + LEAVE_WAIT;
        if let Some(mut old) = self.leaving.replace(Leaving { dialog, until }) {
            let k = send_in(&mut self.out, &mut old.dialog, Method::BYE);
            self.byes.push(k);
        }
    }

    /// Whether `c` is a request of the transferer's dialog; if so, answered:
    /// its BYE ends it, anything else but an INVITE or UPDATE gets 200.
    pub(super) fn on_leaving_request(
        &mut self,
        key: &TsxKey,
        flow: Flow,
        req: &Request,
        c: &Checked,
    ) -> bool {
        if self.leaving.as_ref().is_none_or(|l| !l.dialog.matches(c)) {
            return false;
        }
        let m = &req.method;
        if *m == Method::ACK {
            return true;
        }
        let code = if *m == Method::INVITE || *m == Method::UPDATE {
            488
        } else {
            200
        };
        let response = crate::reply::replier_for(flow, req, c).reply(code);
        let key = key.clone();
        core(&mut self.out, Command::Respond { key, response });
        if *m == Method::BYE {
            self.leaving = None;
        }
        true
    }

    /// The transferer never sent its BYE (by `now`; None: the call ends):
    /// ours.
    pub(super) fn let_go(&mut self, now: Option<Instant>) {
        let due = self
            .leaving
            .as_ref()
            .is_some_and(|l| now.is_none_or(|now| now >= l.until));
        if let (true, Some(mut l)) = (due, self.leaving.take()) {
            let k = send_in(&mut self.out, &mut l.dialog, Method::BYE);
            self.byes.push(k);
        }
    }
}

/// The Dial's result when the called party sent the caller to `exten`.
pub fn transferred(exten: String, context: String) -> StepResult {
    StepResult {
        status: StepStatus::Ok as i32,
        dial_status: "ANSWER".into(),
        transfer_to: exten,
        transfer_context: context,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_is_read_as_chan_sip_reads_it() {
        let blind = |s: &str| Ok(Target::Blind(s.to_owned()));
        assert_eq!(target(Some("<sip:63@pbx.example>")), blind("63"));
        assert_eq!(target(Some("sip:63@pbx.example;user=phone")), blind("63"));
        assert_eq!(target(Some("\"Bob\" <SIPS:6%33@h:5061>")), blind("63"));
        assert_eq!(target(Some("<sip:700>")), blind("700"));
        assert_eq!(
            target(Some(
                "<sip:62@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>"
            )),
            Ok(Target::Attended("abc@h".into()))
        );
        assert_eq!(
            target(Some("<sip:62@h?replaces=x1;to-tag=1&Require=replaces>")),
            Ok(Target::Attended("x1".into()))
        );
        assert_eq!(target(None), Err((400, "Bad Request (Refer-to missing)")));
        assert_eq!(
            target(Some("  ")),
            Err((400, "Bad Request (Refer-to missing)"))
        );
        assert_eq!(
            target(Some("<tel:+4930123>")),
            Err((603, "Declined (Non sip: uri)"))
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz1"), "%zz1");
    }
}
