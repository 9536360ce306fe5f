//! The edge's SIP core: one task owns the transaction layer and drives it
//! with received messages, commands from other tasks and timers. Handlers
//! that need a backend (REGISTER → registrar) and calls (one task each, both
//! legs) run as their own tasks and talk to the core through [`Command`]s,
//! so the core never waits on the network and retransmissions are answered
//! while a backend call is running. Requests and responses of a call's
//! dialogs reach its task by Call-ID.

use crate::command::{Command, CoreHandle, LegEvent};
use crate::dispatch::{self, Handled};
use crate::relay::{self, Hop, Relay};
use crate::reply::{replier_for, Replier};
use crate::seal::FlowToken;
use crate::Ctx;
use asterism_sip::message::Response;
use asterism_sip::transaction::{Action, ClientKey, Layer, Received, TsxKey};
use asterism_sip::transport::{Flow, Inbound, Transport};
use asterism_sip::triage::{triage, Triage};
use asterism_sip::validate::Checked;
use asterism_sip::Request;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub struct Core {
    transport: Transport,
    layer: Layer,
    ctx: Arc<Ctx>,
    handle: CoreHandle,
    /// Call-ID → the call task that owns it.
    routes: HashMap<String, mpsc::Sender<LegEvent>>,
    /// Shutting down: no new calls; stop when the last one ends or at the deadline.
    draining: Option<Instant>,
}

impl Core {
    pub fn new(transport: Transport, ctx: Arc<Ctx>, handle: CoreHandle) -> Self {
        Core {
            transport,
            layer: Layer::new(ctx.cfg.timers),
            ctx,
            handle,
            routes: HashMap::new(),
            draining: None,
        }
    }

    /// Run until the inbound channel closes or `shutdown` resolves.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut hop: Option<mpsc::Receiver<Inbound>>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Some(deadline) = self.draining {
                if self.ctx.calls.is_empty() || Instant::now() >= deadline {
                    tracing::info!(left = self.ctx.calls.len(), "drained");
                    return;
                }
            }
            let next_timer = self
                .layer
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(3600));
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_inbound(m, false),
                    None => return,
                },
                Some(m) = recv_hop(&mut hop) => self.on_inbound(m, true),
                Some(c) = commands.recv() => self.on_command(c),
                _ = tokio::time::sleep_until(next_timer) => {
                    let actions = self.layer.on_timeout(Instant::now());
                    self.execute(actions);
                }
                _ = &mut shutdown, if self.draining.is_none() => {
                    let grace = self.ctx.cfg.drain_grace;
                    tracing::info!(calls = self.ctx.calls.len(), ?grace, "draining: no new calls");
                    self.draining = Some(Instant::now() + grace);
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)), if self.draining.is_some() => {}
            }
        }
    }

    /// A message from the public listener, or the internal one (`internal`).
    fn on_inbound(&mut self, inbound: Inbound, internal: bool) {
        let flow = inbound.flow;
        // A banned source gets nothing (fail2ban's drop), not even a 400.
        if self.ctx.bans.is_banned(flow.remote.ip()) {
            self.ctx.metrics.banned_drops.inc();
            self.transport.close(&flow);
            return;
        }
        match triage(inbound.event) {
            Triage::Drop => {}
            Triage::Response(mut r) if relay::is_relayed(&r) => {
                if let Some((to, bytes)) = relay::forward_response(&self.ctx, &mut r) {
                    self.transport.send_now(&to, bytes);
                }
            }
            Triage::Response(r) => self.on_response(r),
            Triage::Refuse { reject, headers } => {
                tracing::debug!(code = reject.code, reason = %reject.reason, remote = %flow.remote, "request refused");
                let replier = Replier::new(headers, None);
                let mut r = replier.reply_with(reject.code, &reject.reason);
                if let Some(u) = reject.unsupported {
                    r.headers.push(asterism_sip::HeaderName::Unsupported, u);
                }
                if matches!(reject.code, 405 | 501) {
                    r.headers
                        .push(asterism_sip::HeaderName::Allow, crate::reply::ALLOW);
                }
                self.transport.send_now(&flow, Bytes::from(r.to_bytes()));
            }
            Triage::Accept(parts) => {
                let (req, checked) = *parts;
                match relay::hop_of(&self.ctx, &req) {
                    Hop::None => self.on_request(flow, req, checked),
                    Hop::Token(token) => {
                        let arrival = relay::Arrival { flow, internal };
                        self.relay(arrival, token, req, &checked)
                    }
                    Hop::Forged => {
                        tracing::info!(remote = %flow.remote, method = %req.method, "request with a forged flow token refused");
                        if req.method != asterism_sip::Method::ACK {
                            let r = Replier::new(req.headers, None).reply(403);
                            self.transport.send_now(&flow, Bytes::from(r.to_bytes()));
                        }
                    }
                }
            }
        }
    }

    fn on_request(&mut self, flow: Flow, req: Request, checked: Checked) {
        let Some(key) = TsxKey::for_request(&req.method, &req.uri, &checked) else {
            return;
        };
        let is_ack = req.method == asterism_sip::Method::ACK;
        let (received, actions) = self.layer.on_request(&key, is_ack, flow, Instant::now());
        self.execute(actions);
        if received == Received::Retransmission {
            self.ctx.metrics.retransmissions.inc();
        }
        if received != Received::New && received != Received::AckForTu {
            return;
        }
        // Requests of a call's dialogs (and the CANCEL of its INVITE) go to
        // its task (which checks the tags); a new INVITE starts one.
        // (A new SUBSCRIBE too: a dialog-creating request.)
        let new_call = (req.method == asterism_sip::Method::INVITE
            || req.method == asterism_sip::Method::SUBSCRIBE)
            && checked.to.tag().is_none();
        if let Some(tx) = self.routes.get(&checked.call_id) {
            if new_call && !tx.is_closed() {
                // A second INVITE for a live call's Call-ID (RFC 3261
                // §8.2.2.2): never a takeover of its routing.
                let r = replier_for(flow, &req, &checked).reply(482);
                self.respond_once(&key, r);
                return;
            }
            if !new_call {
                let checked_call_id = checked.call_id.clone();
                let event = LegEvent::Request {
                    key: key.clone(),
                    flow,
                    request: Box::new(req),
                    checked: Box::new(checked),
                };
                let call_id = checked_call_id;
                self.deliver(&call_id, event);
                return;
            }
            self.routes.remove(&checked.call_id);
        } else if is_ack {
            return;
        }
        let replier = replier_for(flow, &req, &checked);
        // Work for the registrar takes a place among the pending; with none
        // left, the request is shed (503, sent once) rather than queued.
        let needs_backend = new_call || req.method == asterism_sip::Method::REGISTER;
        let admission = match needs_backend {
            true => match self.ctx.pending.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.ctx.metrics.shed.inc();
                    let r = self.ctx.unavailable(&replier);
                    self.respond_once(&key, r);
                    return;
                }
            },
            false => None,
        };
        match dispatch::handle(&self.ctx, flow, req, checked, replier) {
            // Answers computed at once keep no state: a retransmission is
            // answered afresh, and junk floods leave nothing behind.
            Handled::Now(response) => self.respond_once(&key, response),
            Handled::Later(fut) => {
                let core = self.handle.clone();
                tokio::spawn(async move {
                    let response = fut.await;
                    drop(admission);
                    core.respond(&key, response).await;
                });
            }
            Handled::Call(call) if self.draining.is_some() => {
                let r = self.ctx.unavailable(&call.replier);
                self.respond(&key, r);
            }
            Handled::Call(call) => {
                let (tx, rx) = mpsc::channel(64);
                self.routes.insert(call.call_id().to_owned(), tx.clone());
                let core = self.handle.clone();
                let ctx = self.ctx.clone();
                // The call's trace: joined to its challenged INVITE, if any.
                let span =
                    crate::trace::server_span("edge.call", &call.request, &call.checked, &flow);
                ctx.joins.adopt(call.call_id(), &span);
                tokio::spawn(tracing::Instrument::instrument(
                    async move { call.run(ctx, core, key, flow, (tx, rx), admission).await },
                    span,
                ));
            }
            Handled::Subscribe(sub) => {
                let core = self.handle.clone();
                let ctx = self.ctx.clone();
                let span =
                    crate::trace::server_span("edge.subscribe", &sub.request, &sub.checked, &flow);
                tokio::spawn(tracing::Instrument::instrument(
                    sub.run(ctx, core, key, flow, admission),
                    span,
                ));
            }
            Handled::Absorbed => {}
        }
    }

    /// Hand a request to the call task owning its Call-ID. One that cannot
    /// take it (its queue full, or it just ended) gets 503 or 481 at once.
    fn deliver(&mut self, call_id: &str, event: LegEvent) {
        let Some(tx) = self.routes.get(call_id) else {
            return;
        };
        let (event, code) = match tx.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(e)) => (e, 503),
            Err(mpsc::error::TrySendError::Closed(e)) => {
                self.routes.remove(call_id);
                (e, 481)
            }
        };
        let LegEvent::Request {
            key,
            flow,
            request,
            checked,
        } = event
        else {
            return;
        };
        tracing::debug!(code, %call_id, "call task cannot take the request");
        if request.method == asterism_sip::Method::ACK {
            return;
        }
        let replier = replier_for(flow, &request, &checked);
        let r = match code {
            503 => self.ctx.unavailable(&replier),
            _ => replier.reply(code),
        };
        self.respond_once(&key, r);
    }

    /// A request on the hop between edges (see [`relay`]): passed on
    /// statelessly, never into our transactions or calls.
    fn relay(
        &mut self,
        arrival: relay::Arrival,
        token: FlowToken,
        req: Request,
        checked: &Checked,
    ) {
        let from = arrival.flow;
        match relay::forward_request(&self.ctx, arrival, token, req, checked) {
            Relay::Forward(to, bytes) => {
                tracing::debug!(from = %from.remote, to = %to.remote, "relayed between edges");
                self.transport.send_now(&to, bytes)
            }
            Relay::Refuse(r) => self.transport.send_now(&from, Bytes::from(r.to_bytes())),
            Relay::Drop => {}
        }
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Respond { key, response } => self.respond(&key, response),
            Command::RespondOnce { key, response } => self.respond_once(&key, response),
            Command::Request { key, flow, request } => {
                let actions = self.layer.send_request(key, flow, request, Instant::now());
                self.execute(actions);
            }
            Command::Send { flow, bytes } => self.transport.send_now(&flow, bytes),
            Command::Route { call_id, tx } => {
                self.routes.insert(call_id, tx);
            }
            Command::Replace { call_id, by, reply } => {
                let asked = self.routes.get(&call_id).map(|tx| {
                    let ask = LegEvent::Replace {
                        call_id,
                        by,
                        reply: reply.clone(),
                    };
                    tx.try_send(ask).is_ok()
                });
                if asked != Some(true) {
                    let _ = reply.try_send(LegEvent::Replaced(None));
                }
            }
            Command::Unroute { call_id, tx } => {
                if self
                    .routes
                    .get(&call_id)
                    .is_some_and(|t| t.same_channel(&tx))
                {
                    self.routes.remove(&call_id);
                }
            }
        }
    }

    /// A response: to one of our client transactions, then to its call.
    fn on_response(&mut self, r: Response) {
        let branch = asterism_sip::request::top_branch(&r.headers).unwrap_or_default();
        let method = asterism_sip::header::CSeq::of(&r.headers)
            .map(|c| c.method)
            .unwrap_or_default();
        let key = ClientKey::for_response(&branch, &method);
        let (deliver, actions) = self.layer.on_response(&key, &r, Instant::now());
        self.execute(actions);
        if !deliver {
            return;
        }
        let call_id = r
            .headers
            .get(&asterism_sip::HeaderName::CallId)
            .unwrap_or_default();
        if let Some(tx) = self.routes.get(call_id) {
            let _ = tx.try_send(LegEvent::Response {
                key,
                response: Box::new(r),
            });
        }
    }

    fn respond(&mut self, key: &TsxKey, response: Response) {
        let code = response.code;
        let actions =
            self.layer
                .respond(key, code, Bytes::from(response.to_bytes()), Instant::now());
        self.execute(actions);
    }

    fn respond_once(&mut self, key: &TsxKey, response: Response) {
        let actions = self
            .layer
            .respond_once(key, Bytes::from(response.to_bytes()));
        self.execute(actions);
    }

    fn execute(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { flow, bytes } => self.transport.send_now(&flow, bytes),
                Action::TimedOut { key } => {
                    tracing::debug!(?key, "no ACK for final response");
                    self.ctx
                        .metrics
                        .timeouts
                        .get_or_create(&vec![("side", "server".into())])
                        .inc();
                }
                Action::ClientTimedOut { key, call_id } => {
                    self.ctx
                        .metrics
                        .timeouts
                        .get_or_create(&vec![("side", "client".into())])
                        .inc();
                    tracing::debug!(?key, %call_id, "no response to our request");
                    if let Some(tx) = self.routes.get(&call_id) {
                        let _ = tx.try_send(LegEvent::Timeout { key });
                    }
                }
            }
        }
    }
}

/// The next message of the internal listener, if the edge has one.
async fn recv_hop(hop: &mut Option<mpsc::Receiver<Inbound>>) -> Option<Inbound> {
    match hop {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
