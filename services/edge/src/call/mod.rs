//! A call: one task owns both legs of the B2BUA. What the call does with
//! any event in any state is [`machine`] (sans-IO, unit-tested with fake
//! backends); the task that feeds it and performs its actions is
//! [`driver`]; what it asks of the registrar, router and media services
//! goes through the [`backends::Backends`] facade. Everything for the
//! call's Call-IDs reaches it from the core as [`LegEvent`]s; everything it
//! sends goes through the core's transactions.

mod a_leg;
mod anchor;
mod attended;
pub mod backends;
pub mod bridge;
mod callee;
mod caller;
mod dialing;
mod driver;
mod ending;
pub mod events;
mod features;
mod features_rpc;
mod forks;
pub mod grpc;
mod limit;
pub mod machine;
mod media_rpc;
mod pickup;
mod reanchor;
mod refer;
mod say;
pub(crate) mod steps;
mod swap;
#[cfg(test)]
pub(crate) mod tests;
mod timeout;
mod transfer_app;

use crate::command::{CoreHandle, LegEvent};
use crate::reply::Replier;
use crate::Ctx;
use a_leg::ALeg;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::Request;
pub use attended::Handed;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A new INVITE, handed over by the dispatcher.
pub struct Incoming {
    pub request: Request,
    pub checked: Checked,
    pub replier: Replier,
}

impl Incoming {
    pub fn call_id(&self) -> &str {
        &self.checked.call_id
    }

    /// Drive the call to its end, inside its `edge.call` span.
    pub async fn run(
        self,
        ctx: Arc<Ctx>,
        core: CoreHandle,
        key: TsxKey,
        flow: Flow,
        (tx, rx): (mpsc::Sender<LegEvent>, mpsc::Receiver<LegEvent>),
        admission: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        // Built by a plain function, on the heap, as is its drive below:
        // the call's task would otherwise carry (and move on spawn) ~15 KB.
        let (mut task, call_id) = self.task(&ctx, core, key, flow, tx, admission);
        ctx.metrics.calls_active.inc();
        let backends: Arc<dyn backends::Backends> = Arc::new(grpc::GrpcBackends(ctx.clone()));
        Box::pin(task.drive(backends, rx)).await;
        ctx.metrics.calls_active.dec();
        let outcome = task.machine.outcome();
        ctx.metrics.call_ended(outcome);
        let span = tracing::Span::current();
        span.record("asterism.call.outcome", outcome);
        if let Some(code) = task.machine.final_status() {
            crate::trace::record_status(&span, code);
            if crate::trace::is_challenge(code) {
                ctx.joins.remember(&call_id, &span);
            }
        }
    }

    /// The call's machine and task, ready to drive.
    fn task(
        self,
        ctx: &Arc<Ctx>,
        core: CoreHandle,
        key: TsxKey,
        flow: Flow,
        tx: mpsc::Sender<LegEvent>,
        admission: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> (Box<driver::Task>, String) {
        let call_id = self.checked.call_id.clone();
        let host = ctx.sip_host(&self.request);
        let entry = ctx.calls.enter(
            &call_id,
            self.checked.from.uri.user.as_deref().unwrap_or_default(),
            self.checked.uri.user.as_deref().unwrap_or_default(),
            asterism_proto::edge::LegInfo {
                call_id: call_id.clone(),
                role: "caller".into(),
                remote: flow.remote.to_string(),
                transport: flow.kind.as_str().into(),
                state: "early".into(),
            },
        );
        let a = ALeg::new(
            self.request,
            self.checked,
            self.replier,
            (key, flow),
            host,
            ctx.cfg.timers,
        );
        let mut machine = machine::Machine::new(a, entry, ctx.cfg.retry_after);
        machine.hold(admission);
        let mut task = Box::new(driver::Task::new(machine, core, tx, &call_id));
        task.ringing = Some(ctx.ringing.clone());
        let (answers, arrived) = (
            ctx.metrics.latency.answer.clone(),
            std::time::Instant::now(),
        );
        task.on_final(move |code| {
            if code == 200 {
                answers.observe(arrived.elapsed().as_secs_f64());
            }
        });
        (task, call_id)
    }
}
