//! The caller's side of a call (we are its UAS): responses on the INVITE's
//! server transaction, the 200's retransmission until the ACK (RFC 3261
//! §13.3.1.4, a timer of the machine), and once answered, its dialog.
//! Sans-IO: every method pushes the commands it needs onto `out`.

use super::events::Action;
use crate::command::Command;
use crate::reply::Replier;
use asterism_sip::dialog::Dialog;
use asterism_sip::header::{NameAddr, Via};
use asterism_sip::message::Response;
use asterism_sip::transaction::{ClientKey, TimerConfig, TsxKey};
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Method, Request, Uri};
use bytes::Bytes;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AState {
    Early,
    /// 200 sent (retransmitted until the caller's ACK: `retransmit`).
    Answered,
    /// Final response sent, or hung up.
    Gone,
}

/// The 200's retransmission schedule: T1 doubling to T2, until 64·T1.
#[derive(Debug, Clone, Copy)]
struct Retransmit {
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

pub struct ALeg {
    pub invite: Request,
    pub checked: Checked,
    pub key: TsxKey,
    pub flow: Flow,
    pub replier: Replier,
    pub host: String,
    pub state: AState,
    pub dialog: Option<Dialog>,
    /// The 200 we answered with, retransmitted until the ACK.
    answer: Option<Response>,
    retransmit: Option<Retransmit>,
    timers: TimerConfig,
    /// The INVITE server transaction, as a span until the final response.
    span: Option<tracing::Span>,
    /// The final response's status, once sent.
    pub final_status: Option<u16>,
    /// Our Contact: the dialled number at this edge.
    pub contact: NameAddr,
}

/// Push a command to the SIP core.
pub fn core(out: &mut Vec<Action>, c: Command) {
    out.push(Action::Core(c));
}

/// Send a request in `dialog`, in a new client transaction: its key.
pub fn send_in(out: &mut Vec<Action>, dialog: &mut Dialog, method: Method) -> ClientKey {
    let (key, mut request) = dialog.request(method);
    crate::trace::inject_via_peer(&mut request, &dialog.route_set, &tracing::Span::current());
    let flow = dialog.flow;
    let command = Command::Request {
        key: key.clone(),
        flow,
        request,
    };
    core(out, command);
    key
}

impl ALeg {
    pub fn new(
        invite: Request,
        checked: Checked,
        replier: Replier,
        (key, flow): (TsxKey, Flow),
        host: String,
        timers: TimerConfig,
    ) -> ALeg {
        let user = checked.uri.user.as_deref().unwrap_or("s");
        let uri = Uri::sip(user, &host).unwrap_or_else(|| checked.uri.clone());
        let contact = NameAddr::new(None, uri);
        ALeg {
            contact,
            invite,
            checked,
            key,
            flow,
            replier,
            host,
            state: AState::Early,
            dialog: None,
            answer: None,
            retransmit: None,
            timers,
            span: Some(tracing::info_span!(
                "sip.server_transaction",
                sip.method = "INVITE",
                sip.status_code = tracing::field::Empty
            )),
            final_status: None,
        }
    }

    /// The called party of an answered Dial as the call's party in the
    /// dialplan (the caller transferred it): answered, in its dialog (ours
    /// as UAC), its identity the dialog's remote side. Nothing is ever
    /// answered on its INVITE (we sent that one).
    pub fn from_callee(
        dialog: Dialog,
        invite: &Request,
        host: String,
        timers: TimerConfig,
    ) -> ALeg {
        let checked = Checked {
            vias: Vec::new(),
            from: dialog.remote.clone(),
            to: dialog.local.clone(),
            call_id: dialog.call_id.clone(),
            cseq: asterism_sip::header::CSeq {
                seq: dialog.local_cseq,
                method: "INVITE".into(),
            },
            max_forwards: Some(70),
            uri: dialog.remote.uri.clone(),
            expires: None,
        };
        let key = TsxKey::Rfc3261 {
            branch: format!("transferred-{}", dialog.call_id),
            sent_by: host.clone(),
            method: Method::INVITE,
        };
        ALeg {
            contact: dialog.contact.clone(),
            invite: invite.clone(),
            checked,
            key,
            flow: dialog.flow,
            replier: Replier::new(invite.headers.clone(), None),
            host,
            state: AState::Answered,
            dialog: Some(dialog),
            answer: None,
            retransmit: None,
            timers,
            span: None,
            final_status: Some(200),
        }
    }

    pub fn timers(&self) -> TimerConfig {
        self.timers
    }

    pub fn trying(&self, out: &mut Vec<Action>) {
        self.respond_raw(out, self.replier.reply(100));
    }

    fn respond_raw(&self, out: &mut Vec<Action>, response: Response) {
        let key = self.key.clone();
        core(out, Command::Respond { key, response });
    }

    /// Whether an in-dialog request is the caller's (RFC 3261 §12.2.2): its
    /// tag in From, ours in To — before the answer too (an early dialog).
    pub fn in_dialog(&self, c: &Checked) -> bool {
        match &self.dialog {
            Some(d) => d.matches(c),
            None => {
                c.call_id == self.checked.call_id
                    && c.from.tag().is_some()
                    && c.from.tag() == self.checked.from.tag()
                    && c.to.tag() == Some(self.replier.to_tag())
            }
        }
    }

    /// Whether a CANCEL is for our INVITE: the same transaction (RFC 3261 §9.2).
    pub fn cancels_invite(&self, cancel: &Request, c: &Checked) -> bool {
        TsxKey::for_request(&Method::INVITE, &cancel.uri, c).is_some_and(|k| k == self.key)
    }

    /// Whether the INVITE carries credentials.
    pub fn has_credentials(&self) -> bool {
        let h = &self.invite.headers;
        h.get(&HeaderName::Authorization).is_some()
            || h.get(&HeaderName::ProxyAuthorization).is_some()
    }

    /// A final refusal sent once, ending the transaction (see
    /// [`Command::RespondOnce`]).
    pub fn reject(&mut self, out: &mut Vec<Action>, response: Response) {
        if self.state != AState::Early {
            return;
        }
        self.state = AState::Gone;
        self.finished(response.code);
        let key = self.key.clone();
        core(out, Command::RespondOnce { key, response });
    }

    /// A final error response (≥ 300) if the INVITE is still pending.
    pub fn fail(&mut self, out: &mut Vec<Action>, response: Response) {
        if self.state != AState::Early {
            return;
        }
        self.state = AState::Gone;
        self.finished(response.code);
        self.respond_raw(out, response);
    }

    pub fn fail_with(&mut self, out: &mut Vec<Action>, code: u16, reason: Option<&str>) {
        let r = match reason {
            Some(reason) => self.replier.reply_with(code, reason),
            None => self.replier.reply(code),
        };
        self.fail(out, r);
    }

    /// A provisional (180/183), with the callee's SDP when it has one.
    pub fn provisional(&mut self, out: &mut Vec<Action>, code: u16, sdp: Option<(String, Bytes)>) {
        if self.state != AState::Early {
            return;
        }
        let mut r = self.replier.reply(code);
        r.headers
            .push(HeaderName::Contact, self.contact.to_string());
        if let Some((ctype, body)) = sdp {
            r.headers.push(HeaderName::ContentType, ctype);
            r.body = body;
        }
        self.respond_raw(out, r);
    }

    /// Answer with 200 and `sdp`: the dialog is established, and over UDP
    /// the 200 is retransmitted until the ACK.
    pub fn answer(&mut self, out: &mut Vec<Action>, sdp: Option<(String, Bytes)>, now: Instant) {
        if self.state != AState::Early {
            return;
        }
        let mut r = self.replier.reply(200);
        r.headers
            .push(HeaderName::Contact, self.contact.to_string());
        r.headers.push(HeaderName::Allow, crate::reply::ALLOW);
        if let Some((ctype, body)) = sdp {
            r.headers.push(HeaderName::ContentType, ctype);
            r.body = body;
        }
        self.dialog = Some(Dialog::uas(
            &self.invite,
            &self.checked,
            self.replier.to_tag(),
            self.flow,
            &self.host,
            self.contact.clone(),
        ));
        self.finished(200);
        self.state = AState::Answered;
        self.respond_raw(out, r.clone());
        self.answer = Some(r);
        self.retransmit = Some(Retransmit {
            next: now + self.timers.t1,
            interval: self.timers.t1,
            give_up: now + self.timers.t1 * 64,
        });
    }

    /// The caller's ACK for our 200 arrived.
    pub fn acked(&mut self) {
        self.retransmit = None;
        self.answer = None;
    }

    /// Answered and ACKed.
    pub fn confirmed(&self) -> bool {
        self.state == AState::Answered && self.retransmit.is_none()
    }

    /// When the 200 is next due (or given up on).
    pub fn deadline(&self) -> Option<Instant> {
        self.retransmit.map(|r| r.next.min(r.give_up))
    }

    /// Retransmit the 200 if due; `true` when 64·T1 passed without an ACK.
    pub fn on_timer(&mut self, out: &mut Vec<Action>, now: Instant) -> bool {
        let Some(mut r) = self.retransmit else {
            return false;
        };
        if now >= r.give_up {
            self.retransmit = None;
            return true;
        }
        if now < r.next {
            return false;
        }
        // Over TCP the transport is reliable: only the give-up timer runs.
        if !self.flow.kind.is_reliable() {
            if let Some(answer) = &self.answer {
                self.respond_raw(out, answer.clone());
            }
        }
        r.interval = (r.interval * 2).min(self.timers.t2);
        r.next = now + r.interval;
        self.retransmit = Some(r);
        false
    }

    /// Hang up the caller's dialog: the BYE's client key, if one was sent.
    pub fn bye(&mut self, out: &mut Vec<Action>) -> Option<ClientKey> {
        if self.state == AState::Gone {
            return None;
        }
        self.state = AState::Gone;
        self.retransmit = None;
        let dialog = self.dialog.as_mut()?;
        Some(send_in(out, dialog, Method::BYE))
    }

    fn finished(&mut self, status: u16) {
        self.final_status.get_or_insert(status);
        if let Some(span) = self.span.take() {
            span.record("sip.status_code", status);
        }
    }

    /// Max-Forwards exhausted (483) or a loop through this edge (482).
    pub fn refuse_early(&self) -> Option<u16> {
        if self.checked.max_forwards == Some(0) {
            return Some(483);
        }
        let ours = self.checked.vias.iter().skip(1).any(|v: &Via| {
            v.sent_by() == self.host && v.branch().is_some_and(|b| b.starts_with(crate::LOOP_MARK))
        });
        ours.then_some(482)
    }

    /// The SDP of the INVITE, to offer to the callee.
    pub fn offer(&self) -> Option<(String, Bytes)> {
        let ctype = self.invite.headers.get(&HeaderName::ContentType)?;
        (!self.invite.body.is_empty()).then(|| (ctype.to_owned(), self.invite.body.clone()))
    }
}
