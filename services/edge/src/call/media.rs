//! Answer, Playback, SayDigits and Echo: the call's media session on a media
//! instance (the next one that answers), the caller answered with its SDP,
//! and the caller's CANCEL/BYE honoured while prompts play or echo runs.

use super::a_leg::AState;
use super::steps::{failed, hung_up, ok};
use super::{Call, CallerGone};
use crate::placement::Instance;
use asterism_proto::media::{
    play_progress, CloseRequest, EchoEnd, EchoRequest, OpenRequest, PlayRequest,
};
use asterism_proto::router::StepResult;
use bytes::Bytes;
use std::sync::Arc;

pub(super) struct Session {
    id: String,
    /// The media instance it lives on (and its client).
    instance: Arc<Instance>,
}

impl Call {
    /// Answer the caller with a media session's SDP (once).
    pub(super) async fn answer_with_media(&mut self) -> StepResult {
        match self.a.state {
            AState::Answered { .. } if self.media.is_some() => return ok(),
            AState::Answered { .. } | AState::Gone => {
                return failed("call already answered elsewhere or gone")
            }
            AState::Early => {}
        }
        let Some((_, offer)) = self.a.offer() else {
            return failed("INVITE without SDP offer");
        };
        let offer = String::from_utf8_lossy(&offer).into_owned();
        for inst in self.ctx.media.order() {
            let mut client = inst.client.clone();
            let mut req = tonic::Request::new(OpenRequest {
                call_id: self.a.checked.call_id.clone(),
                sdp_offer: offer.clone(),
                reached_at: self.a.host.clone(),
            });
            req.set_timeout(self.ctx.cfg.rpc_timeout);
            let opened = tokio::time::timeout(self.ctx.cfg.rpc_timeout, client.open(req))
                .await
                .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
            match opened {
                Ok(r) => {
                    let r = r.into_inner();
                    inst.placed(2);
                    self.media = Some(Session {
                        id: r.session_id,
                        instance: inst.clone(),
                    });
                    let sdp = Some(("application/sdp".to_owned(), Bytes::from(r.sdp_answer)));
                    let (timers, tx) = (self.ctx.cfg.timers, self.tx.clone());
                    self.a.answer(&self.core, sdp, timers, tx).await;
                    self.entry.state("answered");
                    return ok();
                }
                Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                    tracing::info!(reason = s.message(), "no codec in common: 488");
                    self.a.final_response(&self.core, 488, None).await;
                    return StepResult {
                        error: s.message().to_owned(),
                        ..hung_up()
                    };
                }
                Err(s) => {
                    tracing::warn!(code = ?s.code(), "media instance did not answer; trying the next")
                }
            }
        }
        failed("no media instance answered")
    }

    /// Play files (answering first, as Asterisk's Playback does).
    pub(super) async fn play(&mut self, files: Vec<String>) -> StepResult {
        let answered = self.answer_with_media().await;
        if self.media.is_none() {
            return answered;
        }
        let Some(s) = self.media.as_mut() else {
            return failed("no media");
        };
        let instance = s.instance.clone();
        let mut client = instance.client.clone();
        let req = PlayRequest {
            session_id: s.id.clone(),
            files,
            language: String::new(),
        };
        let mut progress = match client.play(req).await {
            Ok(p) => p.into_inner(),
            Err(e) => return failed(e.message()),
        };
        let lost = async move { instance.until_lost().await };
        tokio::pin!(lost);
        loop {
            tokio::select! {
                _ = &mut lost => return self.media_lost().await,
                m = progress.message() => match m {
                    Ok(Some(p)) => {
                        if let Some(play_progress::Event::Missing(f)) = p.event {
                            tracing::warn!(file = %f, "Playback: file does not exist");
                        }
                    }
                    Ok(None) => return ok(),
                    Err(e) => return failed(e.message()),
                },
                ev = self.rx.recv() => match ev {
                    Some(ev) => if let Err(CallerGone) = self.on_event(ev).await { return hung_up(); },
                    None => return hung_up(),
                },
            }
        }
    }

    /// Echo until `#`, the caller hangs up, or RTP stops (then hang up).
    pub(super) async fn echo(&mut self) -> StepResult {
        let answered = self.answer_with_media().await;
        if self.media.is_none() {
            return answered;
        }
        let Some(s) = self.media.as_ref() else {
            return failed("no media");
        };
        let instance = s.instance.clone();
        let mut client = instance.client.clone();
        let req = EchoRequest {
            session_id: s.id.clone(),
        };
        let echo = client.echo(req);
        tokio::pin!(echo);
        let lost = async move { instance.until_lost().await };
        tokio::pin!(lost);
        loop {
            tokio::select! {
                _ = &mut lost => return self.media_lost().await,
                r = &mut echo => {
                    let r = match r {
                        Ok(r) => r.into_inner(),
                        Err(e) => return failed(e.message()),
                    };
                    return match EchoEnd::try_from(r.reason).unwrap_or(EchoEnd::Closed) {
                        EchoEnd::RtpTimeout => {
                            tracing::info!("no RTP from the caller: hanging up");
                            self.bye_a().await;
                            hung_up()
                        }
                        _ => StepResult { dtmf: r.digit, ..ok() },
                    };
                }
                ev = self.rx.recv() => match ev {
                    Some(ev) => if let Err(CallerGone) = self.on_event(ev).await { return hung_up(); },
                    None => return hung_up(),
                },
            }
        }
    }

    /// The call's media instance died: its audio is gone, so hang up (BYE)
    /// rather than leave the caller in silence.
    async fn media_lost(&mut self) -> StepResult {
        tracing::warn!("media instance lost mid-call: hanging up");
        self.media = None;
        self.bye_a().await;
        hung_up()
    }

    /// Free the media session, if the call had one.
    pub(super) async fn close_media(&mut self) {
        if let Some(s) = self.media.take() {
            let mut client = s.instance.client.clone();
            let _ = client.close(CloseRequest { session_id: s.id }).await;
        }
    }
}
