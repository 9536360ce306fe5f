//! The call's task: the one loop that feeds the [`Machine`] its events —
//! the legs' messages from the core, backend answers, router steps, its
//! timer — and performs the actions it returns. Backend requests run
//! beside the loop (in the call's span, so one trace per call); whatever
//! ends the task, the caller is not left with an unanswered INVITE and the
//! core keeps no route to it ([`Task`]'s `Drop`).

use super::backends::{BackendError, Backends, Dialplan};
use super::events::{Action, Answer, Ask, Event};
use super::machine::Machine;
use crate::command::{Command, CoreHandle, LegEvent};
use asterism_proto::router::{call_event, CallEvent, Step};
use futures::StreamExt;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

/// What a backend request running beside the loop comes back with.
enum Back {
    Answer(u64, Answer),
    /// The dialplan stream, kept by the loop.
    Plan(u64, Result<Dialplan, BackendError>),
}

/// What woke the loop.
enum Got {
    Leg(Option<LegEvent>),
    Back(Result<Back, tokio::task::JoinError>),
    Step(Option<Step>),
    Timer,
}

/// The machine and the routes it holds in the core.
pub struct Task {
    pub machine: Machine,
    core: CoreHandle,
    /// Our own sender, given to the core for each Call-ID we route.
    tx: mpsc::Sender<LegEvent>,
    routed: Vec<String>,
}

impl Task {
    pub fn new(
        machine: Machine,
        core: CoreHandle,
        tx: mpsc::Sender<LegEvent>,
        call_id: &str,
    ) -> Task {
        Task {
            machine,
            core,
            tx,
            routed: vec![call_id.to_owned()],
        }
    }

    /// Run the call to its end.
    pub async fn drive(&mut self, backends: Arc<dyn Backends>, mut rx: mpsc::Receiver<LegEvent>) {
        let mut asks: JoinSet<Back> = JoinSet::new();
        let mut plan: Option<Dialplan> = None;
        let mut actions = self.machine.handle(Event::Start, Instant::now());
        loop {
            let mut done = false;
            let mut follow = Vec::new();
            for action in actions {
                match action {
                    Action::Core(c) => self.core.send(c).await,
                    Action::Route(call_id) => self.route(call_id).await,
                    Action::Unroute(call_id) => self.unroute(&call_id).await,
                    Action::Ask(op, ask) => spawn(&mut asks, &backends, op, ask),
                    Action::StepResult(r) => {
                        let event = CallEvent {
                            event: Some(call_event::Event::Result(r)),
                        };
                        let sent = match &plan {
                            Some(p) => p.results.send(event).await.is_ok(),
                            None => false,
                        };
                        if !sent {
                            follow.push(Event::RouterGone);
                        }
                    }
                    Action::Done => done = true,
                }
            }
            if done {
                break;
            }
            if let Some(event) = follow.pop() {
                actions = self.machine.handle(event, Instant::now());
                continue;
            }
            let deadline = self.machine.next_deadline();
            let got = tokio::select! {
                ev = rx.recv() => Got::Leg(ev),
                Some(back) = asks.join_next(), if !asks.is_empty() => Got::Back(back),
                step = next_step(&mut plan) => Got::Step(step),
                _ = sleep_until(deadline) => Got::Timer,
            };
            let event = match got {
                Got::Leg(Some(ev)) => Event::Leg(ev),
                Got::Leg(None) => break,
                Got::Back(Ok(Back::Answer(op, a))) => Event::Answer(op, a),
                Got::Back(Ok(Back::Plan(op, p))) => {
                    let opened = p.map(|p| plan = Some(p));
                    Event::Answer(op, Answer::Dialplan(opened))
                }
                Got::Back(Err(e)) => {
                    tracing::error!(error = %e, "backend request task failed");
                    actions = Vec::new();
                    continue;
                }
                Got::Step(step) => Event::Step(step),
                Got::Timer => Event::Timer,
            };
            actions = self.machine.handle(event, Instant::now());
        }
        for call_id in std::mem::take(&mut self.routed) {
            let tx = self.tx.clone();
            self.core.send(Command::Unroute { call_id, tx }).await;
        }
    }

    async fn route(&mut self, call_id: String) {
        self.routed.push(call_id.clone());
        let tx = self.tx.clone();
        self.core.send(Command::Route { call_id, tx }).await;
    }

    async fn unroute(&mut self, call_id: &str) {
        self.routed.retain(|id| id != call_id);
        let (call_id, tx) = (call_id.to_owned(), self.tx.clone());
        self.core.send(Command::Unroute { call_id, tx }).await;
    }
}

/// Whatever ends the task (a bug included), the caller is not left with an
/// unanswered INVITE and the core keeps no route to a task that is gone.
impl Drop for Task {
    fn drop(&mut self) {
        let a = &self.machine.a;
        if a.state == super::a_leg::AState::Early {
            let response = a.replier.reply(500);
            let key = a.key.clone();
            let _ = self.core.0.try_send(Command::RespondOnce { key, response });
        }
        for call_id in std::mem::take(&mut self.routed) {
            let tx = self.tx.clone();
            let _ = self.core.0.try_send(Command::Unroute { call_id, tx });
        }
    }
}

fn spawn(asks: &mut JoinSet<Back>, b: &Arc<dyn Backends>, op: u64, ask: Ask) {
    let span = tracing::Span::current();
    let answer = move |a: Answer| Back::Answer(op, a);
    match ask {
        Ask::Authenticate(a) => {
            let f = b.authenticate(*a);
            asks.spawn(async move { answer(Answer::Auth(f.await)) }.instrument(span));
        }
        Ask::Slot {
            user,
            limit,
            call_id,
        } => {
            let f = b.acquire_slot(&user, limit, &call_id);
            asks.spawn(async move { answer(Answer::Slot(f.await)) }.instrument(span));
        }
        Ask::Resolve { targets, call_id } => {
            let f = b.resolve(targets, &call_id);
            asks.spawn(async move { answer(Answer::Resolved(f.await)) }.instrument(span));
        }
        Ask::Execute(start) => {
            let f = b.execute(start);
            asks.spawn(async move { Back::Plan(op, f.await) }.instrument(span));
        }
        Ask::OpenMedia {
            call_id,
            offer,
            host,
        } => {
            let f = b.open_media(&call_id, offer, &host);
            asks.spawn(async move { answer(Answer::Media(f.await)) }.instrument(span));
        }
        Ask::Play(s, files) => {
            let f = b.play(&s, files);
            asks.spawn(async move { answer(Answer::Played(f.await)) }.instrument(span));
        }
        Ask::Echo(s) => {
            let f = b.echo(&s);
            asks.spawn(async move { answer(Answer::Echoed(f.await)) }.instrument(span));
        }
        Ask::WatchMedia(s) => {
            let f = b.media_lost(&s);
            let id = s.id;
            asks.spawn(
                async move {
                    f.await;
                    answer(Answer::MediaLost(id))
                }
                .instrument(span),
            );
        }
        Ask::CloseMedia(s) => {
            // Outlives the call: the session is freed even as the task ends.
            tokio::spawn(b.close_media(s).instrument(span));
        }
    }
}

/// The router's next step; `None` (once) when its stream ends or breaks.
async fn next_step(plan: &mut Option<Dialplan>) -> Option<Step> {
    let Some(p) = plan.as_mut() else {
        return std::future::pending().await;
    };
    match p.steps.next().await {
        Some(Ok(step)) => Some(step),
        _ => {
            plan.take();
            None
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
