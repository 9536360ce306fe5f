//! A call: one task owns both legs of the B2BUA. It authenticates the
//! INVITE like Asterisk (401, then the registrar checks the digest), asks
//! the router for the dialplan step by step, carries out each step (Dial
//! forks B legs, bridges, relays in-dialog requests), and ends both legs.
//! Everything for the call's Call-IDs reaches it from the core as
//! [`LegEvent`]s; everything it sends goes through the core's transactions.

mod a_leg;
mod auth;
mod bridge;
mod dial;
pub mod dialog;
mod limit;
mod media;
mod steps;

use crate::command::{Command, CoreHandle, LegEvent};
use crate::reply::Replier;
use crate::Ctx;
use a_leg::ALeg;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::Request;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A new INVITE, handed over by the dispatcher.
pub struct Incoming {
    pub request: Request,
    pub checked: Checked,
    pub replier: Replier,
}

/// The caller went away (CANCEL before answer, BYE after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerGone;

pub(crate) struct Call {
    ctx: Arc<Ctx>,
    core: CoreHandle,
    rx: mpsc::Receiver<LegEvent>,
    /// Our own sender, given to the core for each B leg's Call-ID.
    tx: mpsc::Sender<LegEvent>,
    a: ALeg,
    /// Call-IDs routed to this task, unrouted when it ends.
    routed: Vec<String>,
    /// Who the caller is (from the registrar), once authenticated.
    user: Option<asterism_proto::common::User>,
    /// B legs that lost or were cancelled: a late 2xx gets ACK and BYE.
    losers: Vec<dial::Fork>,
    /// This call's row in `ListCalls`.
    entry: crate::calls::CallEntry,
    /// The media session answering this call, if any.
    media: Option<media::Session>,
    /// call-limit slots held until the call ends (the caller's, the
    /// answering callee's).
    slots: Vec<limit::Slot>,
    /// Slots taken for the targets of the Dial under way, by target.
    dial_slots: Vec<(String, limit::Slot)>,
    /// A place among the requests waiting on the registrar, held until
    /// the caller is authenticated (see `Ctx::pending`).
    admission: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Incoming {
    pub fn call_id(&self) -> &str {
        &self.checked.call_id
    }

    #[tracing::instrument(name = "edge.call", skip_all, fields(call_id = %self.checked.call_id, from = %self.checked.from.uri, to = %self.request.uri, status = tracing::field::Empty))]
    pub async fn run(
        self,
        ctx: Arc<Ctx>,
        core: CoreHandle,
        key: TsxKey,
        flow: Flow,
        (tx, rx): (mpsc::Sender<LegEvent>, mpsc::Receiver<LegEvent>),
        admission: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        // The core routes our Call-ID to `rx`; B legs are routed to `tx` too.
        let call_id = self.checked.call_id.clone();
        let host = ctx.sip_host(&self.request);
        let entry = ctx.calls.enter(
            &call_id,
            &self.checked.from.uri.user.clone().unwrap_or_default(),
            &self.checked.uri.user.clone().unwrap_or_default(),
            asterism_proto::edge::LegInfo {
                call_id: call_id.clone(),
                role: "caller".into(),
                remote: flow.remote.to_string(),
                transport: flow.kind.as_str().into(),
                state: "early".into(),
            },
        );
        let a = ALeg::new(self, key, flow, host);
        let mut call = Call {
            ctx,
            core,
            rx,
            tx,
            a,
            routed: vec![call_id],
            user: None,
            losers: Vec::new(),
            entry,
            media: None,
            slots: Vec::new(),
            dial_slots: Vec::new(),
            admission,
        };
        call.ctx.metrics.calls_active.inc();
        call.run().await;
        call.close_media().await;
        call.ctx.metrics.calls_active.dec();
        let outcome = match call.a.state {
            a_leg::AState::Early => "unanswered",
            _ if call.a.dialog.is_some() => "answered",
            _ => "refused",
        };
        call.ctx.metrics.call_ended(outcome);
        tracing::Span::current().record("status", outcome);
        for id in std::mem::take(&mut call.routed) {
            let tx = call.tx.clone();
            call.core.send(Command::Unroute { call_id: id, tx }).await;
        }
    }
}

/// Whatever ends the task (a bug included), the caller is not left with an
/// unanswered INVITE and the core keeps no route to a task that is gone.
impl Drop for Call {
    fn drop(&mut self) {
        if self.a.state == a_leg::AState::Early {
            let response = self.a.replier.reply(500);
            let key = self.a.key.clone();
            let _ = self.core.0.try_send(Command::RespondOnce { key, response });
        }
        for call_id in std::mem::take(&mut self.routed) {
            let tx = self.tx.clone();
            let _ = self.core.0.try_send(Command::Unroute { call_id, tx });
        }
    }
}

impl Call {
    async fn run(&mut self) {
        if let Some(code) = self.a.refuse_early() {
            let r = self.a.replier.reply(code);
            self.refuse(r).await;
            return;
        }
        // Without credentials the challenge follows at once; with them the
        // registrar is asked first, so stop the phone's retransmissions.
        if self.a.has_credentials() {
            self.a.trying(&self.core).await;
        }
        // The place among the pending is held until the refusal is handed
        // to the core, or the call is let in: a burst of strangers cannot
        // pile up tasks waiting for the core either.
        let user = match self.authenticate().await {
            Ok(u) => u,
            Err(response) => {
                self.refuse(response).await;
                return;
            }
        };
        if user.call_limit > 0 && !user.guest {
            let call_id = self.a.checked.call_id.clone();
            match limit::acquire(&self.ctx, &user.name, user.call_limit, &call_id).await {
                Ok(slot) => self.slots.push(slot),
                Err(limit::Refused::Full) => {
                    let reason = Some("Temporarily Unavailable (Call limit)");
                    self.a.final_response(&self.core, 480, reason).await;
                    return;
                }
                Err(limit::Refused::Unavailable) => {
                    let r = self.ctx.unavailable(&self.a.replier);
                    self.a.respond(&self.core, r).await;
                    return;
                }
            }
        }
        self.admission = None;
        self.run_dialplan(user).await;
    }

    /// Refuse the INVITE before any dialplan ran (challenge, 403, 482, 483):
    /// once, without retransmissions (a spoofed source gets one answer, not
    /// twelve), after giving up the Call-ID so the phone's next INVITE on it
    /// (the one with credentials) starts a call of its own.
    async fn refuse(&mut self, r: asterism_sip::message::Response) {
        let call_id = self.a.checked.call_id.clone();
        self.routed.retain(|id| *id != call_id);
        let tx = self.tx.clone();
        self.core.send(Command::Unroute { call_id, tx }).await;
        self.a.reject(&self.core, r).await;
    }

    /// Route another Call-ID (a B leg) to this task.
    async fn route(&mut self, call_id: &str) {
        self.routed.push(call_id.to_owned());
        self.core
            .send(Command::Route {
                call_id: call_id.to_owned(),
                tx: self.tx.clone(),
            })
            .await;
    }
}
