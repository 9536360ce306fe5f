//! The edge's SIP core: one task owns the transaction layer and drives it
//! with received messages, responses from request handlers and timers.
//! Handlers that need a backend (REGISTER → registrar) run as their own
//! tasks and post their response back, so the core never waits on the
//! network and retransmissions are answered while a backend call is running.

use crate::dispatch::{self, Handled};
use crate::reply::Replier;
use crate::Ctx;
use asterism_sip::message::Response;
use asterism_sip::transaction::{Action, Layer, Received, TsxKey};
use asterism_sip::transport::{Flow, Inbound, Transport};
use asterism_sip::triage::{triage, Triage};
use asterism_sip::validate::Checked;
use asterism_sip::Request;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A response a handler task produced for transaction `key`.
pub struct TuResponse {
    pub key: TsxKey,
    pub response: Response,
}

pub struct Core {
    transport: Transport,
    layer: Layer,
    ctx: Arc<Ctx>,
    tu_tx: mpsc::Sender<TuResponse>,
}

impl Core {
    pub fn new(transport: Transport, ctx: Arc<Ctx>, tu_tx: mpsc::Sender<TuResponse>) -> Self {
        Core {
            transport,
            layer: Layer::new(ctx.cfg.timers),
            ctx,
            tu_tx,
        }
    }

    /// Run until the inbound channel closes or `shutdown` resolves.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut tu_rx: mpsc::Receiver<TuResponse>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let next_timer = self
                .layer
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(3600));
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_inbound(m),
                    None => return,
                },
                Some(tu) = tu_rx.recv() => self.respond(&tu.key, tu.response),
                _ = tokio::time::sleep_until(next_timer) => {
                    let actions = self.layer.on_timeout(Instant::now());
                    self.execute(actions);
                }
                _ = &mut shutdown => return,
            }
        }
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let flow = inbound.flow;
        match triage(inbound.event) {
            Triage::Drop => {}
            Triage::Response(r) => {
                tracing::debug!(code = r.code, remote = %flow.remote, "stray response dropped");
            }
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
                self.on_request(flow, req, checked);
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
        if received != Received::New {
            return;
        }
        let mut top = checked.vias[0].clone();
        // Like Asterisk's nat=force_rport: always answer where it came from.
        top.stamp_received(flow.remote.ip(), flow.remote.port(), true);
        let replier = Replier::new(req.headers.clone(), Some(top.to_string()));
        match dispatch::handle(&self.ctx, flow, req, checked, replier) {
            Handled::Now(response) => self.respond(&key, response),
            Handled::Later(fut) => {
                let tx = self.tu_tx.clone();
                tokio::spawn(async move {
                    let response = fut.await;
                    let _ = tx.send(TuResponse { key, response }).await;
                });
            }
            Handled::Absorbed => {}
        }
    }

    fn respond(&mut self, key: &TsxKey, response: Response) {
        let code = response.code;
        let actions =
            self.layer
                .respond(key, code, Bytes::from(response.to_bytes()), Instant::now());
        self.execute(actions);
    }

    fn execute(&self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { flow, bytes } => self.transport.send_now(&flow, bytes),
                Action::TimedOut { key } => tracing::debug!(?key, "no ACK for final response"),
                Action::ClientTimedOut { key, call_id } => {
                    tracing::debug!(?key, %call_id, "no response to our request")
                }
            }
        }
    }
}
