//! The caller's side of a call (we are its UAS): responses on the INVITE's
//! server transaction, and once answered, its dialog.

use super::dialog::{contact_uri, Dialog};
use super::Incoming;
use crate::command::CoreHandle;
use crate::reply::Replier;
use asterism_sip::header::Via;
use asterism_sip::message::Response;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Request};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AState {
    Early,
    /// 200 sent; `acked` once the caller's ACK came.
    Answered {
        acked: bool,
    },
    /// Final response sent, or hung up.
    Gone,
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
    /// The 200 we answered with, for retransmission until ACK.
    pub answer: Option<Response>,
    /// Stops the 200's retransmission when the ACK comes.
    ack_signal: Option<tokio::sync::oneshot::Sender<()>>,
    /// The INVITE server transaction, as a span until the final response.
    span: Option<tracing::Span>,
}

impl ALeg {
    pub fn new(i: Incoming, key: TsxKey, flow: Flow, host: String) -> ALeg {
        ALeg {
            invite: i.request,
            checked: i.checked,
            key,
            flow,
            replier: i.replier,
            host,
            state: AState::Early,
            dialog: None,
            answer: None,
            ack_signal: None,
            span: Some(tracing::info_span!(
                "sip.server_transaction",
                method = "INVITE",
                status = tracing::field::Empty
            )),
        }
    }

    /// Our Contact: the dialled number at this edge.
    pub fn contact(&self) -> String {
        let user = self.checked.uri.user.clone().unwrap_or_else(|| "s".into());
        format!("<sip:{user}@{}>", self.host)
    }

    pub async fn trying(&self, core: &CoreHandle) {
        core.respond(&self.key, self.replier.reply(100)).await;
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
        asterism_sip::transaction::TsxKey::for_request(
            &asterism_sip::Method::INVITE,
            &cancel.uri,
            c,
        )
        .is_some_and(|k| k == self.key)
    }

    /// Whether the INVITE carries credentials (Authorization or
    /// Proxy-Authorization).
    pub fn has_credentials(&self) -> bool {
        let h = &self.invite.headers;
        h.get(&HeaderName::Authorization).is_some()
            || h.get(&HeaderName::ProxyAuthorization).is_some()
    }

    /// A final refusal sent once, ending the transaction (see
    /// [`crate::command::Command::RespondOnce`]).
    pub async fn reject(&mut self, core: &CoreHandle, r: Response) {
        if self.state != AState::Early {
            return;
        }
        self.state = AState::Gone;
        self.finished(r.code);
        core.respond_once(&self.key, r).await;
    }

    pub async fn respond(&mut self, core: &CoreHandle, r: Response) {
        if r.code >= 300 {
            self.state = AState::Gone;
            self.finished(r.code);
        }
        core.respond(&self.key, r).await;
    }

    /// A provisional (180/183), with the callee's SDP when it has one.
    pub async fn provisional(
        &mut self,
        core: &CoreHandle,
        code: u16,
        sdp: Option<(String, Bytes)>,
    ) {
        if self.state != AState::Early {
            return;
        }
        let mut r = self.replier.reply(code);
        r.headers.push(HeaderName::Contact, self.contact());
        if let Some((ctype, body)) = sdp {
            r.headers.push(HeaderName::ContentType, ctype);
            r.body = body;
        }
        core.respond(&self.key, r).await;
    }

    /// A final error response (≥ 300) if the INVITE is still pending.
    pub async fn final_response(&mut self, core: &CoreHandle, code: u16, reason: Option<&str>) {
        if self.state != AState::Early {
            return;
        }
        let r = match reason {
            Some(reason) => self.replier.reply_with(code, reason),
            None => self.replier.reply(code),
        };
        self.respond(core, r).await;
    }

    fn finished(&mut self, status: u16) {
        if let Some(span) = self.span.take() {
            span.record("status", status);
        }
    }

    /// The caller's ACK for our 200 arrived.
    pub fn acked(&mut self) {
        if let AState::Answered { .. } = self.state {
            self.state = AState::Answered { acked: true };
        }
        if let Some(s) = self.ack_signal.take() {
            let _ = s.send(());
        }
    }

    /// Answer with 200 and `sdp`; the dialog is established. Over UDP the
    /// 200 is retransmitted (T1, doubling to T2) until the ACK, and `events`
    /// hears [`LegEvent::NoAck`] after 64·T1 without one (RFC 3261 §13.3.1.4).
    pub async fn answer(
        &mut self,
        core: &CoreHandle,
        sdp: Option<(String, Bytes)>,
        timers: asterism_sip::transaction::TimerConfig,
        events: tokio::sync::mpsc::Sender<crate::command::LegEvent>,
    ) {
        if self.state != AState::Early {
            return;
        }
        let mut r = self.replier.reply(200);
        r.headers.push(HeaderName::Contact, self.contact());
        r.headers.push(HeaderName::Allow, crate::reply::ALLOW);
        if let Some((ctype, body)) = sdp {
            r.headers.push(HeaderName::ContentType, ctype);
            r.body = body;
        }
        self.dialog = Some(self.uas_dialog());
        self.finished(200);
        self.state = AState::Answered { acked: false };
        self.answer = Some(r.clone());
        core.respond(&self.key, r.clone()).await;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        self.ack_signal = Some(tx);
        let reliable = self.flow.kind.is_reliable();
        let (core, key) = (core.clone(), self.key.clone());
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut interval = timers.t1;
            loop {
                tokio::select! {
                    _ = &mut rx => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if start.elapsed() >= timers.t1 * 64 {
                    let _ = events.send(crate::command::LegEvent::NoAck).await;
                    return;
                }
                if !reliable {
                    core.respond(&key, r.clone()).await;
                }
                interval = (interval * 2).min(timers.t2);
            }
        });
    }

    /// The caller's dialog as we see it (RFC 3261 §12.1.1).
    fn uas_dialog(&self) -> Dialog {
        let h = &self.invite.headers;
        let local = format!(
            "{};tag={}",
            h.get(&HeaderName::To).unwrap_or_default(),
            self.replier.to_tag()
        );
        Dialog {
            call_id: self.checked.call_id.clone(),
            local,
            remote: h.get(&HeaderName::From).unwrap_or_default().to_owned(),
            remote_target: contact_uri(h.get(&HeaderName::Contact))
                .unwrap_or_else(|| self.checked.from.uri.raw.clone()),
            route_set: h
                .get_all(&HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect(),
            local_cseq: 1000 + rand::random::<u16>() as u32,
            flow: self.flow,
            host: self.host.clone(),
            contact: self.contact(),
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
