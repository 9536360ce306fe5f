//! The media service's session RPCs as the edge places them: a new
//! session (echo/prompt `Open`, or an anchored call's `OpenRelay`) goes to
//! the least-loaded instance that answers in time, the next one when it
//! does not; updates go to the instance that holds the session.

use super::backends::{BackendError, MediaAsk, MediaSession, RelaySdp};
use super::bridge::Side;
use super::grpc::timed;
use crate::placement::Instance;
use crate::{Ctx, Rpc};
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::{
    OpenRelayRequest, OpenRequest, RelayLeg, RelayPlayRequest, UpdateRelayRequest,
};
use std::future::Future;
use std::sync::Arc;

const MEDIA: &str = "asterism.media.v1.Media";

/// Ask instances in load order until one answers `method`; its answer and
/// the instance. No common codec ends the search (another instance would
/// say the same).
async fn place<T, F, Fut>(
    ctx: &Arc<Ctx>,
    method: &'static str,
    mut ask: F,
) -> Result<(Arc<Instance>, T), BackendError>
where
    F: FnMut(MediaClient<Rpc>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    for inst in ctx.media.order() {
        let span = asterism_telemetry::rpc::client_span(MEDIA, method);
        let call = tracing::Instrument::instrument(ask(inst.client.clone()), span);
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(ctx.cfg.rpc_timeout, call)
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
        timed(ctx, MEDIA, method, started, answer.as_ref().err());
        match answer {
            Ok(r) => {
                inst.placed(2);
                return Ok((inst, r.into_inner()));
            }
            Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                return Err(BackendError::NoCodec(s.message().to_owned()))
            }
            Err(s) => {
                tracing::warn!(code = ?s.code(), method, "media instance did not answer; trying the next")
            }
        }
    }
    Err(BackendError::Unavailable)
}

fn request<T>(ctx: &Ctx, body: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(body);
    req.set_timeout(ctx.cfg.rpc_timeout);
    req
}

/// A session answering the caller's `offer` (prompts, echo).
pub async fn open(ctx: Arc<Ctx>, ask: MediaAsk) -> Result<(MediaSession, String), BackendError> {
    let body = OpenRequest {
        call_id: ask.call_id,
        sdp_offer: ask.offer,
        reached_at: ask.host,
        codecs: ask.caller.codecs,
        no_rfc2833: ask.caller.no_rfc2833,
    };
    let (inst, r) = place(&ctx, "Open", |mut c| {
        let req = request(&ctx, body.clone());
        async move { c.open(req).await }
    })
    .await?;
    let session = MediaSession {
        id: r.session_id,
        instance: Some(inst),
    };
    Ok((session, r.sdp_answer))
}

/// `method` on the instance holding session `s` (no other has it).
async fn on_instance<T, F, Fut>(
    ctx: &Arc<Ctx>,
    s: &MediaSession,
    method: &'static str,
    ask: F,
) -> Result<T, BackendError>
where
    F: FnOnce(MediaClient<Rpc>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    on_instance_within(ctx, s, method, ctx.cfg.rpc_timeout, ask).await
}

/// [`on_instance`] for a request that may take `limit`.
async fn on_instance_within<T, F, Fut>(
    ctx: &Arc<Ctx>,
    s: &MediaSession,
    method: &'static str,
    limit: std::time::Duration,
    ask: F,
) -> Result<T, BackendError>
where
    F: FnOnce(MediaClient<Rpc>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let Some(inst) = &s.instance else {
        return Err(BackendError::Failed("no media instance".into()));
    };
    let span = asterism_telemetry::rpc::client_span(MEDIA, method);
    let started = std::time::Instant::now();
    let call = tracing::Instrument::instrument(ask(inst.client.clone()), span);
    let answer = tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
    timed(ctx, MEDIA, method, started, answer.as_ref().err());
    match answer {
        Ok(r) => Ok(r.into_inner()),
        Err(s) if s.code() == tonic::Code::FailedPrecondition => {
            Err(BackendError::NoCodec(s.message().to_owned()))
        }
        Err(s) => {
            tracing::warn!(code = ?s.code(), method, "media request failed");
            Err(BackendError::Failed(s.message().to_owned()))
        }
    }
}

/// A relay for a call whose media is anchored, from the caller's `offer`,
/// or taking over the caller's session (on that session's instance).
pub async fn open_relay(
    ctx: Arc<Ctx>,
    ask: MediaAsk,
) -> Result<(MediaSession, RelaySdp), BackendError> {
    let body = OpenRelayRequest {
        call_id: ask.call_id,
        caller_offer: ask.offer,
        reached_at: ask.host,
        caller_codecs: ask.caller.codecs.clone(),
        callee_codecs: ask.callee.codecs.clone(),
        caller_no_rfc2833: ask.caller.no_rfc2833,
        callee_no_rfc2833: ask.callee.no_rfc2833,
        from_session: ask.from.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
        caller_hold_music: ask.caller.hold_music(&ask.callee),
        callee_hold_music: ask.callee.hold_music(&ask.caller),
    };
    let (inst, r) = match &ask.from {
        Some(from) => {
            let req = request(&ctx, body);
            let r = on_instance(&ctx, from, "OpenRelay", |mut c| async move {
                c.open_relay(req).await
            })
            .await?;
            let inst = from.instance.clone().ok_or(BackendError::Unavailable)?;
            (inst, r)
        }
        None => {
            place(&ctx, "OpenRelay", |mut c| {
                let req = request(&ctx, body.clone());
                async move { c.open_relay(req).await }
            })
            .await?
        }
    };
    let session = MediaSession {
        id: r.session_id,
        instance: Some(inst),
    };
    let sdp = RelaySdp {
        caller_answer: r.caller_answer,
        callee_offer: r.callee_offer,
    };
    Ok((session, sdp))
}

/// A relay leg's new SDP; our answer when it was an offer.
pub async fn update_relay(
    ctx: Arc<Ctx>,
    s: MediaSession,
    side: Side,
    sdp: String,
    offer: bool,
) -> Result<String, BackendError> {
    let req = request(
        &ctx,
        UpdateRelayRequest {
            session_id: s.id.clone(),
            leg: leg_of(side) as i32,
            sdp,
            offer,
        },
    );
    let r = on_instance(&ctx, &s, "UpdateRelay", |mut c| async move {
        c.update_relay(req).await
    })
    .await?;
    Ok(r.sdp_answer)
}

/// Music on hold `class` to a relay leg (None: its other side again).
pub async fn relay_music(
    ctx: Arc<Ctx>,
    s: MediaSession,
    side: Side,
    class: Option<String>,
    seq: u64,
) -> Result<bool, BackendError> {
    let body = RelayPlayRequest {
        stop: class.is_none(),
        music_class: class.unwrap_or_default(),
        seq,
        ..Default::default()
    };
    relay_play(ctx, s, side, body).await
}

/// Prompts to a relay leg; with `wait`, the answer comes when they are over.
pub async fn relay_prompts(
    ctx: Arc<Ctx>,
    s: MediaSession,
    side: Side,
    files: Vec<String>,
    seq: u64,
    wait: bool,
) -> Result<bool, BackendError> {
    let body = RelayPlayRequest {
        files,
        seq,
        wait,
        ..Default::default()
    };
    relay_play(ctx, s, side, body).await
}

/// The longest prompts a caller waits for (L's timeout file).
const PROMPTS_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// `PlayOnRelay` for leg `side` of `s`: whether it plays.
async fn relay_play(
    ctx: Arc<Ctx>,
    s: MediaSession,
    side: Side,
    mut body: RelayPlayRequest,
) -> Result<bool, BackendError> {
    body.session_id = s.id.clone();
    body.leg = leg_of(side) as i32;
    let limit = if body.wait {
        PROMPTS_LIMIT
    } else {
        ctx.cfg.rpc_timeout
    };
    let mut req = tonic::Request::new(body);
    req.set_timeout(limit);
    let r = on_instance_within(&ctx, &s, "PlayOnRelay", limit, |mut c| async move {
        c.play_on_relay(req).await
    })
    .await?;
    Ok(r.playing)
}

fn leg_of(side: Side) -> RelayLeg {
    match side {
        Side::Caller => RelayLeg::Caller,
        Side::Callee => RelayLeg::Callee,
    }
}
