//! The B legs of a `Dial`: one INVITE per contact (each its own dialog:
//! own Call-ID and tags, From = the caller's ID at this edge, Contact =
//! this edge), CANCEL once a leg rings (RFC 3261 §9.1: never before a
//! provisional), ACK of the winning 2xx, and DIALSTATUS from the losers'
//! answers as Asterisk maps them. Sans-IO like the rest of the call.

use super::a_leg::core;
use super::backends::Contact;
use super::events::Action;
use crate::command::Command;
use asterism_sip::dialog::Dialog;
use asterism_sip::header::{CSeq, NameAddr, Via};
use asterism_sip::message::Response;
use asterism_sip::request::{cancel_for, new_request};
use asterism_sip::response::random_token;
use asterism_sip::transaction::ClientKey;
use asterism_sip::{HeaderName, Method, Request, Uri};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkState {
    Calling,
    Early,
    Done(u16),
}

/// One B leg being tried (or, once it won, the callee's leg).
#[derive(Debug)]
pub struct Fork {
    /// The Dial target (sip.conf user) this leg rings.
    pub target: String,
    pub key: ClientKey,
    pub invite: Request,
    pub dialog: Dialog,
    pub state: ForkState,
    /// A CANCEL is owed once a provisional response arrives.
    pub cancel_pending: bool,
    /// Its INVITE got a final response (or timed out): nothing more will
    /// come that needs an ACK, a BYE or the owed CANCEL.
    pub settled: bool,
    /// The INVITE client transaction, as a span until its final response.
    span: Option<tracing::Span>,
    /// A trunk whose 401/407 we answer (once): its sip.conf name.
    pub signs_as: Option<String>,
    /// Its challenge is being answered (the registrar signs).
    pub signing: bool,
    /// The SDP of its 2xx, once it answered (a transfer's new session).
    pub answer: Option<(String, Bytes)>,
}

/// Who the B legs say is calling, and what they are offered.
pub struct Caller<'a> {
    pub number: &'a str,
    pub name: &'a str,
    /// host:port of this edge (Via, From, Contact).
    pub host: &'a str,
    pub max_forwards: u32,
    pub offer: Option<(String, Bytes)>,
    /// A trunk's `fromdomain`: the From host instead of ours.
    pub from_domain: Option<&'a str>,
}

impl Fork {
    /// The INVITE of a new B leg to `contact` of `target`, and its leg.
    pub fn start(target: &str, contact: &Contact, caller: &Caller) -> Option<(Fork, Command)> {
        let host = caller.host;
        let from_host = caller.from_domain.unwrap_or(host);
        let from = NameAddr::new(Some(caller.name), Uri::sip(caller.number, from_host)?)
            .with_tag(&random_token());
        let to = NameAddr::new(None, Uri::sip(target, host)?);
        let our_contact = NameAddr::new(None, Uri::sip(caller.number, host)?);
        let call_id = format!("{}@{host}", random_token());
        let cseq = 102;
        let key = ClientKey::new(Method::INVITE);
        let flow = contact.flow;
        let mut invite = new_request(
            Method::INVITE,
            &contact.uri,
            &Via::new(flow.kind.as_str(), host, &key.branch),
            &from,
            &to,
            &call_id,
            cseq,
            caller.max_forwards,
        );
        let span = tracing::info_span!(
            "sip.client_transaction",
            otel.kind = "client",
            sip.method = "INVITE",
            sip.call_id = %call_id,
            sip.to.user = target,
            sip.target = %contact.uri,
            network.transport = crate::trace::transport(&flow),
            network.peer.address = %flow.remote.ip(),
            network.peer.port = flow.remote.port(),
            sip.status_code = tracing::field::Empty
        );
        if let Some(r) = &contact.route {
            invite.headers.push(HeaderName::Route, r.clone());
            // Through a peer edge: the call's trace goes along.
            crate::trace::inject(&mut invite, &span);
        }
        let h = &mut invite.headers;
        h.push(HeaderName::Contact, our_contact.to_string());
        h.push(HeaderName::UserAgent, asterism_sip::response::SERVER);
        h.push(HeaderName::Allow, crate::reply::ALLOW);
        if let Some((ctype, body)) = &caller.offer {
            h.push(HeaderName::ContentType, ctype.clone());
            invite.body = body.clone();
        }
        let dialog = Dialog {
            call_id: call_id.clone(),
            local: from,
            remote: to,
            remote_target: contact.uri.clone(),
            route_set: contact.route.iter().cloned().collect(),
            local_cseq: cseq,
            remote_cseq: None,
            flow,
            host: host.to_owned(),
            contact: our_contact,
        };
        let command = Command::Request {
            key: key.clone(),
            flow,
            request: invite.clone(),
        };
        let fork = Fork {
            target: target.to_owned(),
            key,
            invite,
            dialog,
            state: ForkState::Calling,
            cancel_pending: false,
            settled: false,
            span: Some(span),
            signs_as: None,
            signing: false,
            answer: None,
        };
        Some((fork, command))
    }

    /// An answered and ACKed caller's leg of another call as a leg of this
    /// one (`Pickup()` hands the picker over): its dialog (ours as UAS),
    /// its INVITE, its SDP; nothing of ours is pending on it.
    pub fn from_answered(target: &str, dialog: Dialog, invite: Request) -> Fork {
        let answer = invite
            .headers
            .get(&HeaderName::ContentType)
            .filter(|_| !invite.body.is_empty())
            .map(|t| (t.to_owned(), invite.body.clone()));
        Fork {
            target: target.to_owned(),
            key: ClientKey::new(Method::INVITE),
            invite,
            dialog,
            state: ForkState::Done(200),
            cancel_pending: false,
            settled: true,
            span: None,
            signs_as: None,
            signing: false,
            answer,
        }
    }

    /// The trunk challenged the INVITE (401/407): whether to answer it
    /// (once per leg; the registrar signs, [`Fork::with_credentials`]).
    pub fn challenged(&mut self) -> Option<String> {
        let peer = self.signs_as.take()?;
        self.signing = true;
        Some(peer)
    }

    /// The INVITE again, with the trunk's credentials: a new transaction,
    /// the next CSeq, the same dialog (RFC 3261 §22.2).
    pub fn with_credentials(&mut self, proxy: bool, authorization: String) -> Command {
        self.signing = false;
        let key = ClientKey::new(Method::INVITE);
        let seq = self.dialog.local_cseq + 1;
        self.dialog.local_cseq = seq;
        let mut invite = self.invite.clone();
        let flow = self.dialog.flow;
        let via = Via::new(flow.kind.as_str(), &self.dialog.host, &key.branch);
        invite.headers.set(HeaderName::Via, via.to_string());
        invite
            .headers
            .set(HeaderName::CSeq, format!("{seq} INVITE"));
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        invite.headers.push(name, authorization);
        self.key = key.clone();
        self.invite = invite.clone();
        self.state = ForkState::Calling;
        Command::Request {
            key,
            flow,
            request: invite,
        }
    }

    /// The INVITE got its final response (or timed out) with `status`.
    pub fn settle(&mut self, status: u16) {
        self.settled = true;
        self.finished(status);
    }

    /// The INVITE transaction ended for us with `status`.
    pub fn finished(&mut self, status: u16) {
        if let ForkState::Calling | ForkState::Early = self.state {
            self.state = ForkState::Done(status);
        }
        if let Some(span) = self.span.take() {
            span.record("sip.status_code", status);
        }
    }

    /// A provisional arrived: whether to pass it on to the caller (not
    /// when a CANCEL was owed, which goes out now instead).
    pub fn on_provisional(&mut self, out: &mut Vec<Action>) -> bool {
        if self.state == ForkState::Calling {
            self.state = ForkState::Early;
        }
        if self.cancel_pending {
            self.cancel_pending = false;
            self.send_cancel(out);
            return false;
        }
        self.state == ForkState::Early
    }

    /// Stop ringing: CANCEL now if it rang, else once it does.
    pub fn cancel(&mut self, out: &mut Vec<Action>) {
        match self.state {
            ForkState::Early => {
                self.send_cancel(out);
                self.finished(487);
            }
            ForkState::Calling => self.cancel_pending = true,
            ForkState::Done(_) => {}
        }
    }

    fn send_cancel(&self, out: &mut Vec<Action>) {
        let key = ClientKey {
            branch: self.key.branch.clone(),
            method: Method::CANCEL,
        };
        let (flow, request) = (self.dialog.flow, cancel_for(&self.invite));
        core(out, Command::Request { key, flow, request });
    }

    /// ACK a 2xx (outside any transaction), learning the callee's dialog.
    pub fn ack(&mut self, out: &mut Vec<Action>, response: &Response) {
        self.dialog.confirm_from(response);
        self.re_ack(out);
    }

    /// The ACK again, for a retransmitted 2xx (our ACK was lost).
    pub fn re_ack(&self, out: &mut Vec<Action>) {
        let seq = CSeq::of(&self.invite.headers).map_or(1, |c| c.seq);
        let ack = self.dialog.ack(seq);
        let flow = self.dialog.flow;
        let bytes = Bytes::from(ack.to_bytes());
        core(out, Command::Send { flow, bytes });
    }

    /// BYE on the confirmed dialog: its client key.
    pub fn bye(&mut self, out: &mut Vec<Action>) -> ClientKey {
        super::a_leg::send_in(out, &mut self.dialog, Method::BYE)
    }

    /// Whether `response` is to this leg's INVITE (not its CANCEL).
    pub fn is_invite_response(&self, key: &ClientKey) -> bool {
        *key == self.key
    }
}

/// DIALSTATUS from the forks' final responses (as Asterisk maps causes).
pub fn dial_status(codes: &[u16]) -> &'static str {
    if codes.iter().any(|c| matches!(c, 486 | 600 | 603)) {
        "BUSY"
    } else if codes.iter().any(|c| matches!(c, 408 | 480 | 487)) {
        "NOANSWER"
    } else if codes.iter().all(|c| matches!(c, 404 | 410 | 484 | 604)) {
        "CHANUNAVAIL"
    } else {
        "CONGESTION"
    }
}

/// The SDP of a response, to pass on.
pub fn sdp_of(r: &Response) -> Option<(String, Bytes)> {
    let ctype = r.headers.get(&HeaderName::ContentType)?;
    (!r.body.is_empty()).then(|| (ctype.to_owned(), r.body.clone()))
}
