//! Two confirmed dialogs joined: the caller's 200 is retransmitted until its
//! ACK (RFC 3261 §13.3.1.4), a BYE from either side is answered and sent on
//! to the other, and every other in-dialog request (re-INVITE, INFO,
//! UPDATE, OPTIONS, MESSAGE, NOTIFY) is relayed to the other leg with its
//! answer relayed back.

use super::a_leg::AState;
use super::dial::Fork;
use super::dialog::{cseq_of, Dialog};
use super::Call;
use crate::command::{Command, LegEvent};
use crate::reply::{replier_for, Replier};
use asterism_sip::message::Response;
use asterism_sip::transaction::{ClientKey, TsxKey};
use asterism_sip::{HeaderName, Method, Request};
use bytes::Bytes;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    CallerHungUp,
    CalleeHungUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Callee,
}

/// A relayed request waiting for the other side's answer.
struct Pending {
    origin: TsxKey,
    replier: Replier,
    /// The relayed request (to ACK a 2xx of a relayed re-INVITE).
    sent: Request,
    to: Side,
    /// The relayed request's transaction, as a span until its answer.
    _span: tracing::Span,
}

/// Copy what the other side must see of a relayed message.
fn copy_payload(
    from: &asterism_sip::message::Headers,
    body: &Bytes,
    to: &mut asterism_sip::message::Headers,
) -> Bytes {
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

impl Call {
    pub(super) async fn bridge(&mut self, mut winner: Fork) -> BridgeEnd {
        let mut pending: HashMap<ClientKey, Pending> = HashMap::new();
        let a_call_id = self.a.checked.call_id.clone();
        tracing::info!(callee = %winner.dialog.call_id, "call answered and bridged");
        loop {
            let Some(ev) = self.rx.recv().await else {
                return BridgeEnd::CallerHungUp;
            };
            match ev {
                LegEvent::Request {
                    key,
                    flow,
                    request,
                    checked,
                } => {
                    let side = if checked.call_id == a_call_id {
                        Side::Caller
                    } else {
                        Side::Callee
                    };
                    if side == Side::Callee && checked.call_id != winner.dialog.call_id {
                        // A loser's request: not part of this bridge.
                        if request.method != Method::ACK {
                            self.core
                                .respond_once(
                                    &key,
                                    Replier::new(request.headers.clone(), None).reply(481),
                                )
                                .await;
                        }
                        continue;
                    }
                    let m = request.method.clone();
                    let ours = match side {
                        Side::Caller if m == Method::CANCEL => {
                            self.a.cancels_invite(&request, &checked)
                        }
                        Side::Caller => self.a.in_dialog(&checked),
                        Side::Callee => m != Method::CANCEL && winner.dialog.matches(&checked),
                    };
                    if !ours {
                        // Wrong tags (a forged BYE, say): changes nothing.
                        if m != Method::ACK {
                            tracing::info!(method = %m, ?side, "request outside the call's dialogs refused");
                            let r = Replier::new(request.headers.clone(), None).reply(481);
                            self.core.respond_once(&key, r).await;
                        }
                        continue;
                    }
                    if m == Method::ACK {
                        if side == Side::Caller {
                            self.a.acked();
                        }
                        continue;
                    }
                    let replier = replier_for(flow, &request, &checked);
                    if m == Method::BYE {
                        self.core.respond(&key, replier.reply(200)).await;
                        return match side {
                            Side::Caller => {
                                self.a.state = AState::Gone;
                                let (k, req) = winner.dialog.request(Method::BYE);
                                self.core.request(k.clone(), winner.dialog.flow, req).await;
                                let _ = self.await_response(&k, Duration::from_secs(5)).await;
                                BridgeEnd::CallerHungUp
                            }
                            Side::Callee => BridgeEnd::CalleeHungUp,
                        };
                    }
                    if m == Method::CANCEL {
                        self.core.respond(&key, replier.reply(200)).await;
                        continue;
                    }
                    let target = match side {
                        Side::Caller => Some(&mut winner.dialog),
                        Side::Callee => self.a.dialog.as_mut(),
                    };
                    let Some(dialog) = target else {
                        self.core.respond(&key, replier.reply(481)).await;
                        continue;
                    };
                    let (k, mut out) = dialog.request(m);
                    out.body = copy_payload(&request.headers, &request.body, &mut out.headers);
                    let flow = dialog.flow;
                    self.core.request(k.clone(), flow, out.clone()).await;
                    let to = if side == Side::Caller {
                        Side::Callee
                    } else {
                        Side::Caller
                    };
                    let span = tracing::info_span!("sip.relay", method = %out.method, to = ?to);
                    pending.insert(
                        k,
                        Pending {
                            origin: key,
                            replier,
                            sent: out,
                            to,
                            _span: span,
                        },
                    );
                }
                LegEvent::Response { key, response } => {
                    if key == winner.key && (200..300).contains(&response.code) {
                        // Our ACK was lost: the callee retransmits its 200.
                        let ack = winner.dialog.ack(cseq_of(&winner.invite.headers));
                        self.core
                            .send(Command::Send {
                                flow: winner.dialog.flow,
                                bytes: Bytes::from(ack.to_bytes()),
                            })
                            .await;
                        continue;
                    }
                    let Some(p) = pending.get(&key) else {
                        self.stray_answer(&response).await;
                        continue;
                    };
                    if response.code == 100 {
                        continue;
                    }
                    let mut r = p.replier.reply_with(response.code, &response.reason);
                    r.body = copy_payload(&response.headers, &response.body, &mut r.headers);
                    if (200..300).contains(&response.code) {
                        r.headers.push(HeaderName::Contact, self.a.contact());
                    }
                    self.core.respond(&p.origin, r).await;
                    if response.code >= 200 {
                        if let Some(p) = pending.remove(&key) {
                            if p.sent.method == Method::INVITE && response.code < 300 {
                                self.ack_relayed(&p, &mut winner.dialog, &response).await;
                            }
                        }
                    }
                }
                LegEvent::Timeout { key } => {
                    if let Some(p) = pending.remove(&key) {
                        self.core.respond(&p.origin, p.replier.reply(408)).await;
                    }
                }
                LegEvent::NoAck => {
                    tracing::warn!("caller never ACKed the 200: hanging up both legs");
                    self.bye(&mut winner.dialog).await;
                    self.bye_a().await;
                    return BridgeEnd::CallerHungUp;
                }
            }
        }
    }

    /// ACK the 2xx of a re-INVITE we relayed (we are that leg's UAC).
    async fn ack_relayed(&mut self, p: &Pending, callee: &mut Dialog, response: &Response) {
        let dialog = match p.to {
            Side::Callee => Some(callee),
            Side::Caller => self.a.dialog.as_mut(),
        };
        let Some(d) = dialog else { return };
        if let Some(target) = super::dialog::contact_uri(response.headers.get(&HeaderName::Contact))
        {
            d.remote_target = target;
        }
        let ack = d.ack(cseq_of(&p.sent.headers));
        self.core
            .send(Command::Send {
                flow: d.flow,
                bytes: Bytes::from(ack.to_bytes()),
            })
            .await;
    }
}
