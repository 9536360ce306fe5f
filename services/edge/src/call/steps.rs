//! The dialplan, driven from the edge: open `Router.Execute` with the
//! caller's context and the dialled number, carry out each step, send back
//! its result, and end the call as the router says.

use super::a_leg::AState;
use super::{Call, CallerGone};
use crate::command::LegEvent;
use asterism_proto::common::User;
use asterism_proto::router::{call_event, step, CallEvent, CallStart, StepResult, StepStatus};
use asterism_sip::{Method, Request};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

pub(super) fn ok() -> StepResult {
    StepResult {
        status: StepStatus::Ok as i32,
        ..Default::default()
    }
}

pub(super) fn hung_up() -> StepResult {
    StepResult {
        status: StepStatus::CallerHungUp as i32,
        ..Default::default()
    }
}

pub(super) fn failed(why: &str) -> StepResult {
    StepResult {
        status: StepStatus::Failed as i32,
        error: why.to_owned(),
        ..Default::default()
    }
}

impl Call {
    pub(super) async fn run_dialplan(&mut self, user: User) {
        let start = CallStart {
            call_id: self.a.checked.call_id.clone(),
            context: user.context.clone(),
            extension: self.a.checked.uri.user.clone().unwrap_or_default(),
            callerid_num: user.callerid_num.clone(),
            callerid_name: user.callerid_name.clone(),
            variables: Default::default(),
        };
        // A new stream per try: one balanced onto a dead replica never
        // reached it (see crate::retry).
        let ctx = &self.ctx;
        let attempt = || {
            let mut router = ctx.router.clone();
            let (tx, rx) = mpsc::channel(4);
            let first = CallEvent {
                event: Some(call_event::Event::Start(start.clone())),
            };
            async move {
                let _ = tx.send(first).await;
                let steps = router.execute(ReceiverStream::new(rx)).await?;
                Ok((steps.into_inner(), tx))
            }
        };
        let (mut steps, tx) = match crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt).await
        {
            Ok(s) => s,
            Err(status) => {
                tracing::warn!(code = ?status.code(), "router unavailable");
                let r = self.ctx.unavailable(&self.a.replier);
                self.a.respond(&self.core, r).await;
                return;
            }
        };
        self.user = Some(user);
        loop {
            let message = tokio::select! {
                m = steps.message() => m,
                ev = self.rx.recv() => {
                    match ev {
                        Some(ev) => { let _ = self.on_event(ev).await; continue; }
                        None => return,
                    }
                }
            };
            let step = match message {
                Ok(Some(s)) => s,
                Ok(None) | Err(_) => {
                    tracing::warn!("router stream ended without Finished");
                    self.end(503).await;
                    return;
                }
            };
            let Some(app) = step.app else { continue };
            if let step::App::Finished(f) = app {
                self.end(f.sip_code as u16).await;
                return;
            }
            let mut result = if self.a.state == AState::Gone {
                hung_up()
            } else {
                self.execute(app).await
            };
            result.step_id = step.step_id;
            if tx
                .send(CallEvent {
                    event: Some(call_event::Event::Result(result)),
                })
                .await
                .is_err()
            {
                // The router replica died with the call's dialplan state:
                // end the call cleanly rather than leave the caller in silence.
                tracing::warn!("router gone mid-call: ending it");
                self.end(503).await;
                return;
            }
        }
    }

    async fn execute(&mut self, app: step::App) -> StepResult {
        tracing::debug!(app = asterism_router_name(&app), "step");
        match app {
            step::App::Dial(d) => self.dial(&d).await,
            step::App::Ringing(_) => {
                self.a.provisional(&self.core, 180, None).await;
                ok()
            }
            step::App::Progress(_) => {
                self.a.provisional(&self.core, 183, None).await;
                ok()
            }
            step::App::Busy(_) => {
                self.a.final_response(&self.core, 486, None).await;
                ok()
            }
            step::App::Congestion(_) => {
                self.a.final_response(&self.core, 503, None).await;
                ok()
            }
            step::App::Hangup(_) => {
                if matches!(self.a.state, AState::Answered { .. }) {
                    self.bye_a().await;
                }
                ok()
            }
            step::App::Wait(w) => match self.wait(Duration::from_millis(u64::from(w.millis))).await
            {
                Ok(()) => ok(),
                Err(CallerGone) => hung_up(),
            },
            step::App::Answer(_) => self.answer_with_media().await,
            step::App::Playback(p) => self.play(p.files).await,
            step::App::SayDigits(d) => {
                let files = d
                    .digits
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .map(|c| format!("digits/{c}"))
                    .collect();
                self.play(files).await
            }
            step::App::Echo(_) => self.echo().await,
            step::App::Finished(_) => ok(),
        }
    }

    /// Let `d` pass while answering the caller's requests.
    async fn wait(&mut self, d: Duration) -> Result<(), CallerGone> {
        let until = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return Ok(()),
                ev = self.rx.recv() => match ev {
                    Some(ev) => self.on_event(ev).await?,
                    None => return Err(CallerGone),
                },
            }
        }
    }

    /// The dialplan is over: a final response if never answered, a BYE if it was.
    async fn end(&mut self, code: u16) {
        self.entry.state("ending");
        match self.a.state {
            AState::Early => {
                let code = if code >= 300 { code } else { 480 };
                self.a.final_response(&self.core, code, None).await;
            }
            AState::Answered { .. } => self.bye_a().await,
            AState::Gone => {}
        }
    }

    /// Hang up the caller's dialog and wait (briefly) for its answer.
    pub(super) async fn bye_a(&mut self) {
        if let Some(key) = self.bye_a_nowait().await {
            let _ = self.await_response(&key, Duration::from_secs(5)).await;
        }
    }

    /// Send the caller a BYE; its transaction goes on without us.
    pub(super) async fn bye_a_nowait(&mut self) -> Option<asterism_sip::transaction::ClientKey> {
        if self.a.state == AState::Gone {
            return None;
        }
        let dialog = self.a.dialog.as_mut()?;
        let (key, req) = dialog.request(Method::BYE);
        let flow = dialog.flow;
        self.a.state = AState::Gone;
        self.core.request(key.clone(), flow, req).await;
        Some(key)
    }

    /// Wait for the final response to our request `key`, handling other
    /// events meanwhile. None on time-out.
    pub(super) async fn await_response(
        &mut self,
        key: &asterism_sip::transaction::ClientKey,
        limit: Duration,
    ) -> Option<u16> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let ev = tokio::select! {
                _ = tokio::time::sleep_until(until) => return None,
                ev = self.rx.recv() => ev?,
            };
            match ev {
                LegEvent::Response { key: k, response } if &k == key && response.code >= 200 => {
                    return Some(response.code)
                }
                LegEvent::Timeout { key: k } if &k == key => return None,
                LegEvent::NoAck => {}
                other => {
                    let _ = Box::pin(self.on_event(other)).await;
                }
            }
        }
    }

    /// Events outside Dial and the bridge: the caller's CANCEL/BYE/ACK,
    /// in-dialog requests we answer ourselves, late answers of cancelled forks.
    pub(super) async fn on_event(&mut self, ev: LegEvent) -> Result<(), CallerGone> {
        match ev {
            LegEvent::Request {
                key,
                request,
                checked,
                ..
            } => self.on_a_request(&key, &request, &checked).await,
            LegEvent::Response { response, .. } => {
                self.stray_answer(&response).await;
                Ok(())
            }
            LegEvent::Timeout { .. } => Ok(()),
            LegEvent::NoAck => {
                tracing::warn!("caller never ACKed the 200: hanging up");
                self.bye_a_nowait().await;
                Err(CallerGone)
            }
        }
    }

    /// A request from the caller while no bridge relays it. One that is not
    /// of the caller's dialog (wrong tags) or a CANCEL of another
    /// transaction gets 481 and changes nothing.
    pub(super) async fn on_a_request(
        &mut self,
        key: &asterism_sip::transaction::TsxKey,
        req: &Request,
        checked: &asterism_sip::validate::Checked,
    ) -> Result<(), CallerGone> {
        let replier = crate::reply::Replier::new(req.headers.clone(), None);
        let m = &req.method;
        if *m == Method::ACK {
            if self.a.in_dialog(checked) {
                self.a.acked();
            }
            return Ok(());
        }
        let ours = if *m == Method::CANCEL {
            self.a.cancels_invite(req, checked)
        } else {
            self.a.in_dialog(checked)
        };
        if !ours {
            tracing::info!(method = %m, "request outside the caller's dialog refused");
            self.core.respond_once(key, replier.reply(481)).await;
            return Ok(());
        }
        let reply = replier.reply(200);
        match m {
            m if *m == Method::CANCEL => {
                self.core.respond(key, reply).await;
                if self.a.state == AState::Early {
                    self.a.final_response(&self.core, 487, None).await;
                    return Err(CallerGone);
                }
                Ok(())
            }
            m if *m == Method::BYE => {
                self.core.respond(key, reply).await;
                self.a.state = AState::Gone;
                Err(CallerGone)
            }
            m if *m == Method::OPTIONS || *m == Method::INFO => {
                self.core.respond(key, reply).await;
                Ok(())
            }
            _ => {
                self.core.respond(key, replier.reply(488)).await;
                Ok(())
            }
        }
    }
}

fn asterism_router_name(app: &step::App) -> &'static str {
    match app {
        step::App::Dial(_) => "Dial",
        step::App::Answer(_) => "Answer",
        step::App::Playback(_) => "Playback",
        step::App::Echo(_) => "Echo",
        step::App::Hangup(_) => "Hangup",
        step::App::Wait(_) => "Wait",
        _ => "other",
    }
}
