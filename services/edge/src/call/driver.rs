//! The call's task: the one loop that feeds the [`Machine`] its events —
//! the legs' messages from the core, backend answers, router steps, its
//! timer — and performs the actions it returns. Backend requests run
//! beside the loop, polled by the same task (in the call's span, so one
//! trace per call); whatever
//! ends the task, the caller is not left with an unanswered INVITE and the
//! core keeps no route to it ([`Task`]'s `Drop`).

use super::backends::{BackendError, Backends, BoxFuture, BoxStream, Dialplan};
use super::bridge::Side;
use super::events::{Action, Answer, Ask, Event};
use super::machine::Machine;
use crate::command::{Command, CoreHandle, LegEvent};
use asterism_proto::router::{call_event, CallEvent, Step};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// What a backend request running beside the loop comes back with.
enum Back {
    Answer(u64, Answer),
    /// A relay's next digit, and the rest of its digits.
    Dtmf(Option<(Side, char)>, BoxStream<(Side, char)>),
    /// The dialplan stream, kept by the loop.
    Plan(u64, Result<Dialplan, BackendError>),
}

/// What woke the loop.
enum Got {
    Leg(Option<LegEvent>),
    Back(Back),
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
    /// Told the status of the caller's final response, once it is sent.
    on_final: Option<Box<dyn FnOnce(u16) + Send>>,
    /// The edge's ringing calls (None in tests without an edge).
    pub ringing: Option<crate::pickups::Ringing>,
    /// Our Call-ID as the ringing table knows it.
    call_id: String,
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
            on_final: None,
            ringing: None,
            call_id: call_id.to_owned(),
        }
    }

    /// List or unlist the call as ringing from `place`.
    fn ringing(&self, place: Option<(crate::pickups::Place, u64)>) {
        let Some(r) = &self.ringing else {
            return;
        };
        match place {
            Some(p) => r.add(p, &self.call_id, self.tx.clone()),
            None => r.remove(&self.call_id),
        }
    }

    /// Call `f` with the caller's final status as soon as it is sent.
    pub fn on_final(&mut self, f: impl FnOnce(u16) + Send + 'static) {
        self.on_final = Some(Box::new(f));
    }

    /// Run the call to its end.
    pub async fn drive(&mut self, backends: Arc<dyn Backends>, mut rx: mpsc::Receiver<LegEvent>) {
        // Backend requests under way, polled by this task (no spawns).
        let mut asks: FuturesUnordered<BoxFuture<Back>> = FuturesUnordered::new();
        let mut plan: Option<Dialplan> = None;
        let mut actions = self.machine.handle(Event::Start, Instant::now());
        loop {
            if let Some(code) = self.machine.final_status() {
                if let Some(f) = self.on_final.take() {
                    f(code);
                }
            }
            let mut done = false;
            let mut follow = Vec::new();
            for action in actions {
                match action {
                    Action::Core(c) => self.core.send(c).await,
                    Action::Route(call_id) => self.route(call_id).await,
                    Action::Unroute(call_id) => self.unroute(&call_id).await,
                    Action::Replace { call_id, by } => {
                        let reply = self.tx.clone();
                        let ask = Command::Replace { call_id, by, reply };
                        self.core.send(ask).await;
                    }
                    Action::Tell(tx, event) => {
                        let _ = tx.try_send(event);
                    }
                    Action::Ringing(place) => self.ringing(place),
                    Action::FindRinging(wanted) => {
                        let found = self.ringing.as_ref().and_then(|r| r.find(&wanted));
                        let asked = found.is_some_and(|tx| {
                            let reply = self.tx.clone();
                            tx.try_send(LegEvent::PickupAsk { reply }).is_ok()
                        });
                        if !asked {
                            follow.push(Event::Leg(LegEvent::PickupReply(None)));
                        }
                    }
                    Action::PickupReply { to, accept } => {
                        let me = accept.then(|| self.tx.clone());
                        let _ = to.try_send(LegEvent::PickupReply(me));
                    }
                    Action::Ask(op, ask) => spawn(&mut asks, &backends, op, ask),
                    Action::StepResult(r) => {
                        let event = CallEvent {
                            event: Some(call_event::Event::Result(r)),
                        };
                        let sent = match &plan {
                            Some(p) => p.results.send(event).await,
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
                Some(back) = asks.next(), if !asks.is_empty() => Got::Back(back),
                step = next_step(&mut plan) => Got::Step(step),
                _ = sleep_until(deadline) => Got::Timer,
            };
            let event = match got {
                Got::Leg(Some(ev)) => Event::Leg(ev),
                Got::Leg(None) => break,
                Got::Back(Back::Answer(op, a)) => Event::Answer(op, a),
                Got::Back(Back::Dtmf(digit, rest)) => match digit {
                    Some((side, d)) => {
                        asks.push(next_digit(rest));
                        Event::Answer(0, Answer::Dtmf(side, d))
                    }
                    None => {
                        // The relay is gone: no more digits.
                        actions = Vec::new();
                        continue;
                    }
                },
                Got::Back(Back::Plan(op, p)) => {
                    let opened = p.map(|p| plan = Some(p));
                    Event::Answer(op, Answer::Dialplan(opened))
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
        self.ringing(None);
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

/// Start backend request `op` beside the loop (polled by the call's task,
/// in its span: the requests carry the call's trace).
fn spawn(asks: &mut FuturesUnordered<BoxFuture<Back>>, b: &Arc<dyn Backends>, op: u64, ask: Ask) {
    let answer = move |a: Answer| Back::Answer(op, a);
    let fut: BoxFuture<Back> = match ask {
        Ask::Authenticate(a) => {
            let f = b.authenticate(*a);
            Box::pin(async move { answer(Answer::Auth(f.await)) })
        }
        Ask::Slot {
            user,
            limit,
            call_id,
        } => {
            let f = b.acquire_slot(&user, limit, &call_id);
            Box::pin(async move { answer(Answer::Slot(f.await)) })
        }
        Ask::Resolve { targets, call_id } => {
            let f = b.resolve(targets, &call_id);
            Box::pin(async move { answer(Answer::Resolved(f.await)) })
        }
        Ask::Execute(start) => {
            let f = b.execute(start);
            Box::pin(async move { Back::Plan(op, f.await) })
        }
        Ask::OpenMedia(m) => {
            let f = b.open_media(m);
            Box::pin(async move { answer(Answer::Media(f.await)) })
        }
        Ask::OpenRelay(m) => {
            let f = b.open_relay(m);
            Box::pin(async move { answer(Answer::Relay(f.await)) })
        }
        Ask::UpdateRelay {
            session,
            side,
            sdp,
            reply,
        } => {
            let f = b.update_relay(&session, side, sdp, reply.is_some());
            Box::pin(async move { answer(Answer::RelayUpdated(reply, f.await)) })
        }
        Ask::Sign {
            key,
            peer,
            uri,
            challenge,
            proxy,
        } => {
            let f = b.sign(&peer, "INVITE", &uri, &challenge);
            Box::pin(async move { answer(Answer::Signed(key, proxy, f.await)) })
        }
        Ask::Play(s, files) => {
            let f = b.play(&s, files);
            Box::pin(async move { answer(Answer::Played(f.await)) })
        }
        Ask::Echo(s) => {
            let f = b.echo(&s);
            Box::pin(async move { answer(Answer::Echoed(f.await)) })
        }
        Ask::WatchMedia(s) => {
            let f = b.media_lost(&s);
            Box::pin(async move {
                f.await;
                answer(Answer::MediaLost(s.id))
            })
        }
        Ask::RelayMusic {
            session,
            side,
            class,
            seq,
        } => {
            let f = b.relay_music(&session, side, class, seq);
            tokio::spawn(
                async move {
                    match f.await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("music on hold class unknown: nothing plays"),
                        Err(e) => tracing::warn!(error = e.text(), "music on hold not started"),
                    }
                }
                .instrument(tracing::Span::current()),
            );
            return;
        }
        Ask::RelayPrompts {
            session,
            side,
            files,
            seq,
            wait,
        } => {
            let f = b.relay_prompts(&session, side, files, seq, wait);
            if wait {
                Box::pin(async move { answer(Answer::Prompted(f.await)) })
            } else {
                tokio::spawn(
                    async move {
                        if let Err(e) = f.await {
                            tracing::warn!(error = e.text(), "prompts not played to the leg");
                        }
                    }
                    .instrument(tracing::Span::current()),
                );
                return;
            }
        }
        Ask::WatchDtmf(s) => next_digit(b.dtmf(&s)),
        Ask::SwapRelay(s) => {
            let f = b.swap_legs(&s);
            Box::pin(async move { answer(Answer::Swapped(f.await)) })
        }
        Ask::MatchExtension {
            context,
            exten,
            caller,
        } => {
            let f = b.match_extension(&context, &exten, &caller);
            Box::pin(async move { answer(Answer::Matched(exten, f.await)) })
        }
        Ask::CloseMedia(s) => {
            // Outlives the call: the session is freed even as the task ends.
            tokio::spawn(b.close_media(s).instrument(tracing::Span::current()));
            return;
        }
    };
    asks.push(fut);
}

/// A relay's next digit (the stream comes back with it, to be asked again).
fn next_digit(digits: BoxStream<(Side, char)>) -> BoxFuture<Back> {
    Box::pin(async move {
        let (d, rest) = digits.into_future().await;
        Back::Dtmf(d, rest)
    })
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
