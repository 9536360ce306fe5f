//! `Dial(SIP/bob[&PJSIP/carol][,timeout])`: look the targets up in the
//! registrar, send a new INVITE to every contact at once (each its own
//! dialog: own Call-ID and tags, From = the caller's ID at this edge,
//! Contact = this edge), relay 180/183 with SDP, and let the first 2xx win:
//! it is ACKed, the caller gets 200 with the callee's SDP, the other forks
//! are cancelled. Busy, no answer and unavailable become DIALSTATUS.

use super::a_leg::AState;
use super::dialog::{cseq_of, Dialog};
use super::steps::{hung_up, ok};
use super::{Call, CallerGone};
use crate::command::{Command, LegEvent};
use crate::relay;
use asterism_proto::common::Transport as PbTransport;
use asterism_proto::registrar::{Binding, LookupRequest};
use asterism_proto::router::{Dial, StepResult, StepStatus};
use asterism_sip::message::Response;
use asterism_sip::request::{cancel_for, new_request, via};
use asterism_sip::response::random_token;
use asterism_sip::transaction::ClientKey;
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::{HeaderName, Method, Request};
use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForkState {
    Calling,
    Early,
    Done(u16),
}

/// One B leg being tried.
#[derive(Debug)]
pub(crate) struct Fork {
    /// The Dial target (sip.conf user) this leg rings.
    pub target: String,
    pub key: ClientKey,
    pub invite: Request,
    pub dialog: Dialog,
    pub state: ForkState,
    /// A CANCEL is owed once a provisional response arrives.
    pub cancel_pending: bool,
    /// The INVITE client transaction, as a span until its final response.
    pub span: Option<tracing::Span>,
}

impl Fork {
    /// The INVITE transaction ended with `status`.
    pub fn finished(&mut self, status: u16) {
        if let Some(span) = self.span.take() {
            span.record("status", status);
        }
    }
}

fn status(dial_status: &str) -> StepResult {
    StepResult {
        dial_status: dial_status.to_owned(),
        ..ok()
    }
}

/// DIALSTATUS from the forks' final responses (as Asterisk maps causes).
fn dial_status(codes: &[u16]) -> &'static str {
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

fn sdp_of(r: &Response) -> Option<(String, Bytes)> {
    let ctype = r.headers.get(&HeaderName::ContentType)?;
    (!r.body.is_empty()).then(|| (ctype.to_owned(), r.body.clone()))
}

/// Where to send a callee's INVITE, as Asterisk's nat=auto_force_rport
/// does: over TCP, the phone's own connection; over UDP, the Contact when it
/// names the address the REGISTER came from (no NAT in between), else the
/// address the REGISTER came from (the NAT's pinhole).
pub(crate) fn target_flow(b: &Binding) -> Option<Flow> {
    let pb = b.flow.as_ref()?;
    let ip: IpAddr = pb.source_ip.parse().ok()?;
    let source = SocketAddr::new(ip, pb.source_port as u16);
    if pb.transport == PbTransport::Tcp as i32 {
        return Some(Flow {
            kind: Kind::Tcp,
            remote: source,
        });
    }
    let contact = asterism_sip::Uri::parse(&b.contact).ok();
    let direct = contact.and_then(|u| {
        let host = match &u.host {
            asterism_sip::Host::Name(n) => n.parse::<IpAddr>().ok()?,
            asterism_sip::Host::V6(a) => a.parse::<IpAddr>().ok()?,
        };
        (host == ip).then(|| SocketAddr::new(host, u.port.unwrap_or(5060)))
    });
    Some(Flow {
        kind: Kind::Udp,
        remote: direct.unwrap_or(source),
    })
}

impl Call {
    pub(super) async fn dial(&mut self, d: &Dial) -> StepResult {
        let r = self.dial_forks(d).await;
        // Targets that did not answer give their call-limit slots back.
        self.dial_slots.clear();
        r
    }

    async fn dial_forks(&mut self, d: &Dial) -> StepResult {
        let mut forks = Vec::new();
        for t in &d.targets {
            if !(t.technology.eq_ignore_ascii_case("SIP")
                || t.technology.eq_ignore_ascii_case("PJSIP"))
            {
                tracing::warn!(tech = %t.technology, "unsupported channel technology");
                continue;
            }
            let (user, bindings) = self.bindings(&t.resource).await;
            let limit = user.map(|u| u.call_limit).unwrap_or(0);
            if limit > 0 && !bindings.is_empty() {
                let call_id = self.a.checked.call_id.clone();
                match super::limit::acquire(&self.ctx, &t.resource, limit, &call_id).await {
                    Ok(slot) => self.dial_slots.push((t.resource.clone(), slot)),
                    // Asterisk does not ring a peer at its call-limit.
                    Err(_) => continue,
                }
            }
            for b in bindings {
                if let Some(f) = self.start_fork(&t.resource, &b).await {
                    forks.push(f);
                }
            }
        }
        if forks.is_empty() {
            return status("CHANUNAVAIL");
        }
        let limit = if d.timeout_secs > 0 {
            Duration::from_secs(u64::from(d.timeout_secs))
        } else {
            Duration::from_secs(24 * 3600)
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let done: Vec<u16> = forks
                .iter()
                .filter_map(|f| match f.state {
                    ForkState::Done(c) => Some(c),
                    _ => None,
                })
                .collect();
            if done.len() == forks.len() {
                self.losers.extend(forks);
                return status(dial_status(&done));
            }
            let ev = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    self.cancel_all(&mut forks).await;
                    self.losers.extend(forks);
                    return status("NOANSWER");
                }
                ev = self.rx.recv() => match ev {
                    Some(ev) => ev,
                    None => return hung_up(),
                },
            };
            match ev {
                LegEvent::Response { key, response } => {
                    let Some(i) = forks.iter().position(|f| f.key == key) else {
                        self.stray_answer(&response).await;
                        continue;
                    };
                    match response.code {
                        100 => {}
                        101..=199 => {
                            let f = &mut forks[i];
                            if f.state == ForkState::Calling {
                                f.state = ForkState::Early;
                                self.entry.leg_state(&f.dialog.call_id, "early");
                                self.entry.state("ringing");
                            }
                            if f.cancel_pending {
                                f.cancel_pending = false;
                                let cancel = cancel_for(&f.invite);
                                let ck = ClientKey {
                                    branch: f.key.branch.clone(),
                                    method: Method::CANCEL,
                                };
                                self.core.request(ck, f.dialog.flow, cancel).await;
                            } else {
                                let code = if response.code == 183 { 183 } else { 180 };
                                self.a
                                    .provisional(&self.core, code, sdp_of(&response))
                                    .await;
                            }
                        }
                        200..=299 => {
                            let mut winner = forks.remove(i);
                            if let Some(at) = self
                                .dial_slots
                                .iter()
                                .position(|(t, _)| *t == winner.target)
                            {
                                let (_, slot) = self.dial_slots.swap_remove(at);
                                self.slots.push(slot);
                            }
                            winner.finished(response.code);
                            self.ack(&mut winner, &response).await;
                            if self.a.state != AState::Early {
                                // The caller left meanwhile: hang the callee up.
                                self.bye(&mut winner.dialog).await;
                                self.cancel_all(&mut forks).await;
                                self.losers.extend(forks);
                                return hung_up();
                            }
                            let (timers, tx) = (self.ctx.cfg.timers, self.tx.clone());
                            self.a
                                .answer(&self.core, sdp_of(&response), timers, tx)
                                .await;
                            self.entry.state("answered");
                            self.entry.leg_state(&winner.dialog.call_id, "confirmed");
                            self.entry
                                .leg_state(&self.a.checked.call_id.clone(), "confirmed");
                            self.cancel_all(&mut forks).await;
                            self.losers.extend(forks);
                            let end = self.bridge(winner).await;
                            let mut r = status("ANSWER");
                            if end == super::bridge::BridgeEnd::CallerHungUp {
                                r.status = StepStatus::CallerHungUp as i32;
                            }
                            return r;
                        }
                        code => {
                            forks[i].state = ForkState::Done(code);
                            forks[i].finished(code);
                        }
                    }
                }
                LegEvent::Timeout { key } => {
                    if let Some(f) = forks.iter_mut().find(|f| f.key == key) {
                        f.state = ForkState::Done(408);
                        f.finished(408);
                    }
                }
                LegEvent::NoAck => {}
                LegEvent::Request {
                    key,
                    request,
                    checked,
                    ..
                } => {
                    if checked.call_id == self.a.checked.call_id {
                        if let Err(CallerGone) = self.on_a_request(&key, &request, &checked).await {
                            self.cancel_all(&mut forks).await;
                            self.losers.extend(forks);
                            return StepResult {
                                dial_status: "CANCEL".into(),
                                ..hung_up()
                            };
                        }
                    } else {
                        // A callee's request before it answered: not in a dialog we confirmed.
                        let replier = crate::reply::Replier::new(request.headers.clone(), None);
                        if request.method != Method::ACK {
                            self.core.respond_once(&key, replier.reply(481)).await;
                        }
                    }
                }
            }
        }
    }

    /// The target (when sip.conf knows it) and its current contacts (none
    /// when unknown or unregistered).
    async fn bindings(&self, aor: &str) -> (Option<asterism_proto::common::User>, Vec<Binding>) {
        let ctx = &self.ctx;
        let attempt = || {
            let mut client = ctx.registrar.clone();
            let mut req = tonic::Request::new(LookupRequest {
                aor: aor.to_owned(),
            });
            req.set_timeout(ctx.cfg.rpc_timeout);
            async move { client.lookup(req).await }
        };
        match crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt).await {
            Ok(r) => {
                let r = r.into_inner();
                (r.user, r.bindings)
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), %aor, "registrar lookup failed");
                (None, Vec::new())
            }
        }
    }

    /// Send the INVITE of a new B leg to one binding.
    async fn start_fork(&mut self, aor: &str, b: &Binding) -> Option<Fork> {
        // This edge is alive whatever its last heartbeat said (the first
        // may not have reached the registrar yet).
        let ours = b
            .flow
            .as_ref()
            .is_some_and(|f| f.edge_id == self.ctx.cfg.edge_id);
        if b.edge_gone && !ours {
            tracing::info!(%aor, contact = %b.contact, "not dialled: the edge holding its flow is gone");
            return None;
        }
        let phone = target_flow(b)?;
        // A phone registered through another edge is reached through it.
        let (flow, route) = match b.flow.as_ref() {
            Some(f)
                if !f.edge_id.is_empty()
                    && f.edge_id != self.ctx.cfg.edge_id
                    && !f.edge_sip_addr.is_empty() =>
            {
                let Some(peer) = relay::peer_flow(&f.edge_sip_addr) else {
                    tracing::warn!(edge = %f.edge_sip_addr, "owning edge has no address literal");
                    return None;
                };
                (
                    peer,
                    Some(relay::route_via(&self.ctx, &f.edge_sip_addr, &phone)),
                )
            }
            _ => (phone, None),
        };
        let host = self.a.host.clone();
        let (num, name) = self
            .user
            .as_ref()
            .map(|u| (u.callerid_num.clone(), u.callerid_name.clone()))
            .unwrap_or_default();
        let num = if num.is_empty() {
            self.a.checked.from.uri.user.clone().unwrap_or_default()
        } else {
            num
        };
        let display = if name.is_empty() {
            String::new()
        } else {
            format!("\"{name}\" ")
        };
        let from = format!("{display}<sip:{num}@{host}>;tag={}", random_token());
        let to = format!("<sip:{aor}@{host}>");
        let call_id = format!("{}@{host}", random_token());
        let cseq = 102;
        let key = ClientKey::new(Method::INVITE);
        let max_forwards = self.a.checked.max_forwards.unwrap_or(70).saturating_sub(1);
        let contact = format!("<sip:{num}@{host}>");
        let mut invite = new_request(
            Method::INVITE,
            &b.contact,
            via(flow.kind.as_str(), &host, &key.branch),
            &from,
            &to,
            &call_id,
            cseq,
            max_forwards,
        );
        if let Some(r) = &route {
            invite.headers.push(HeaderName::Route, r.clone());
        }
        invite.headers.push(HeaderName::Contact, contact.clone());
        invite
            .headers
            .push(HeaderName::UserAgent, asterism_sip::response::SERVER);
        invite.headers.push(HeaderName::Allow, crate::reply::ALLOW);
        if let Some((ctype, body)) = self.a.offer() {
            invite.headers.push(HeaderName::ContentType, ctype);
            invite.body = body;
        }
        let dialog = Dialog {
            call_id: call_id.clone(),
            local: from,
            remote: to,
            remote_target: b.contact.clone(),
            route_set: route.into_iter().collect(),
            local_cseq: cseq,
            flow,
            host,
            contact,
        };
        self.route(&call_id).await;
        self.entry.add_leg(asterism_proto::edge::LegInfo {
            call_id: call_id.clone(),
            role: "callee".into(),
            remote: flow.remote.to_string(),
            transport: flow.kind.as_str().into(),
            state: "calling".into(),
        });
        self.core.request(key.clone(), flow, invite.clone()).await;
        tracing::debug!(%aor, contact = %b.contact, remote = %flow.remote, "B leg INVITE sent");
        let span = tracing::info_span!(
            "sip.client_transaction",
            method = "INVITE",
            call_id = %call_id,
            target = %b.contact,
            remote = %flow.remote,
            status = tracing::field::Empty
        );
        Some(Fork {
            target: aor.to_owned(),
            key,
            invite,
            dialog,
            state: ForkState::Calling,
            cancel_pending: false,
            span: Some(span),
        })
    }

    /// ACK a 2xx (outside any transaction) and learn the callee's dialog.
    async fn ack(&mut self, f: &mut Fork, response: &Response) {
        f.dialog.confirm_from(response);
        let ack = f.dialog.ack(cseq_of(&f.invite.headers));
        self.core
            .send(Command::Send {
                flow: f.dialog.flow,
                bytes: Bytes::from(ack.to_bytes()),
            })
            .await;
    }

    async fn cancel_all(&mut self, forks: &mut [Fork]) {
        for f in forks.iter_mut() {
            match f.state {
                ForkState::Early => {
                    let ck = ClientKey {
                        branch: f.key.branch.clone(),
                        method: Method::CANCEL,
                    };
                    self.core
                        .request(ck, f.dialog.flow, cancel_for(&f.invite))
                        .await;
                    f.state = ForkState::Done(487);
                    f.finished(487);
                }
                ForkState::Calling => f.cancel_pending = true,
                ForkState::Done(_) => {}
            }
        }
    }

    /// BYE on a confirmed B dialog (no wait: the callee's answer is not needed).
    pub(super) async fn bye(&mut self, d: &mut Dialog) {
        let (key, req) = d.request(Method::BYE);
        self.core.request(key, d.flow, req).await;
    }

    /// A late answer from a fork that lost or was cancelled: ACK and BYE it;
    /// send an owed CANCEL once it rings.
    pub(super) async fn stray_answer(&mut self, response: &Response) {
        let branch = asterism_sip::request::top_branch(&response.headers).unwrap_or_default();
        let Some(i) = self.losers.iter().position(|f| f.key.branch == branch) else {
            return;
        };
        let is_invite = response
            .headers
            .get(&HeaderName::CSeq)
            .is_some_and(|c| c.ends_with("INVITE"));
        if !is_invite {
            return;
        }
        match response.code {
            101..=199 if self.losers[i].cancel_pending => {
                let f = &mut self.losers[i];
                f.cancel_pending = false;
                let ck = ClientKey {
                    branch: f.key.branch.clone(),
                    method: Method::CANCEL,
                };
                let (flow, cancel) = (f.dialog.flow, cancel_for(&f.invite));
                self.core.request(ck, flow, cancel).await;
            }
            200..=299 => {
                let mut f = self.losers.remove(i);
                self.ack(&mut f, response).await;
                self.bye(&mut f.dialog).await;
            }
            _ => {}
        }
    }
}
