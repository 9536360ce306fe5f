//! In-dialog requests between the two legs of a bridged call: each one
//! (re-INVITE, INFO, UPDATE, OPTIONS, MESSAGE, NOTIFY) is sent on in the
//! other leg's dialog, and its answer comes back on the original
//! transaction; a relayed re-INVITE's 2xx is ACKed by us, the other leg's
//! UAC. BYE and CANCEL never come here: the machine ends the call on them.

use super::a_leg::core;
use super::events::Action;
use crate::command::Command;
use crate::reply::Replier;
use asterism_sip::dialog::Dialog;
use asterism_sip::header::{CSeq, NameAddr};
use asterism_sip::message::{Headers, Response};
use asterism_sip::transaction::{ClientKey, TsxKey};
use asterism_sip::{HeaderName, Method, Request};
use bytes::Bytes;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

/// A relayed request waiting for the other side's answer.
struct Relayed {
    origin: TsxKey,
    replier: Replier,
    /// The relayed request (to ACK a 2xx of a relayed re-INVITE).
    sent: Request,
    to: Side,
    /// The relayed request's transaction, as a span until its answer.
    _span: tracing::Span,
}

/// Relayed requests a call may have waiting at once: a peer that sends more
/// without the other side answering gets 503 (each waits at most 32 s).
pub const MAX_RELAYED: usize = 32;

/// The relayed requests of a call, by the client key we sent them with.
#[derive(Default)]
pub struct Relays(HashMap<ClientKey, Relayed>);

/// Copy what the other side must see of a relayed message.
fn copy_payload(from: &Headers, body: &Bytes, to: &mut Headers) -> Bytes {
    for name in [
        HeaderName::ContentType,
        HeaderName::Event,
        HeaderName::Subject,
    ] {
        if let Some(v) = from.get(&name) {
            to.push(name, v);
        }
    }
    body.clone()
}

impl Relays {
    /// Send `request` (server transaction `origin`) on in `dialog`, the
    /// leg of side `to`.
    pub fn relay(
        &mut self,
        out: &mut Vec<Action>,
        dialog: &mut Dialog,
        (origin, replier): (TsxKey, Replier),
        request: &Request,
        to: Side,
    ) {
        if self.0.len() >= MAX_RELAYED {
            tracing::info!(method = %request.method, "too many relayed requests waiting: 503");
            let response = replier.reply(503);
            return core(
                out,
                Command::Respond {
                    key: origin,
                    response,
                },
            );
        }
        let (key, mut sent) = dialog.request(request.method.clone());
        sent.body = copy_payload(&request.headers, &request.body, &mut sent.headers);
        let span = tracing::info_span!(
            "sip.relay",
            otel.kind = "client",
            sip.method = %sent.method,
            sip.call_id = %dialog.call_id,
            to = ?to
        );
        crate::trace::inject_via_peer(&mut sent, &dialog.route_set, &span);
        core(
            out,
            Command::Request {
                key: key.clone(),
                flow: dialog.flow,
                request: sent.clone(),
            },
        );
        let relayed = Relayed {
            origin,
            replier,
            sent,
            to,
            _span: span,
        };
        self.0.insert(key, relayed);
    }

    /// A response to a relayed request: passed back to where the request
    /// came from (the caller's side sees our Contact). The legs' dialogs
    /// (caller, callee) are for the ACK of a 2xx to a re-INVITE. Whether
    /// it was one of ours.
    pub fn on_response(
        &mut self,
        out: &mut Vec<Action>,
        key: &ClientKey,
        response: &Response,
        our_contact: &NameAddr,
        dialogs: (Option<&mut Dialog>, Option<&mut Dialog>),
    ) -> bool {
        let Some(p) = self.0.get(key) else {
            return false;
        };
        if response.code == 100 {
            return true;
        }
        let mut r = p.replier.reply_with(response.code, &response.reason);
        r.body = copy_payload(&response.headers, &response.body, &mut r.headers);
        if (200..300).contains(&response.code) {
            r.headers.push(HeaderName::Contact, our_contact.to_string());
        }
        let origin = p.origin.clone();
        core(
            out,
            Command::Respond {
                key: origin,
                response: r,
            },
        );
        if response.code < 200 {
            return true;
        }
        let Some(p) = self.0.remove(key) else {
            return true;
        };
        if p.sent.method == Method::INVITE && response.code < 300 {
            let dialog = match p.to {
                Side::Caller => dialogs.0,
                Side::Callee => dialogs.1,
            };
            if let Some(d) = dialog {
                let seq = CSeq::of(&p.sent.headers).map_or(1, |c| c.seq);
                ack_2xx(out, d, response, seq);
            }
        }
        true
    }

    /// No answer to a relayed request: 408 to its origin. Whether it was ours.
    pub fn on_timeout(&mut self, out: &mut Vec<Action>, key: &ClientKey) -> bool {
        let Some(p) = self.0.remove(key) else {
            return false;
        };
        let response = p.replier.reply(408);
        core(
            out,
            Command::Respond {
                key: p.origin,
                response,
            },
        );
        true
    }
}

/// ACK `response`, a 2xx of our (re-)INVITE with CSeq `seq` in `dialog`
/// (a target refresh: the dialog learns the new Contact first).
pub fn ack_2xx(out: &mut Vec<Action>, dialog: &mut Dialog, response: &Response, seq: u32) {
    dialog.refresh_target(response);
    let ack = dialog.ack(seq);
    let (flow, bytes) = (dialog.flow, Bytes::from(ack.to_bytes()));
    core(out, Command::Send { flow, bytes });
}
