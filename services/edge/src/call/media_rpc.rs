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
use asterism_proto::media::{OpenRelayRequest, OpenRequest, RelayLeg, UpdateRelayRequest};
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

/// A relay for a call whose media is anchored, from the caller's `offer`.
pub async fn open_relay(
    ctx: Arc<Ctx>,
    ask: MediaAsk,
) -> Result<(MediaSession, RelaySdp), BackendError> {
    let body = OpenRelayRequest {
        call_id: ask.call_id,
        caller_offer: ask.offer,
        reached_at: ask.host,
        caller_codecs: ask.caller.codecs,
        callee_codecs: ask.callee.codecs,
        caller_no_rfc2833: ask.caller.no_rfc2833,
        callee_no_rfc2833: ask.callee.no_rfc2833,
    };
    let (inst, r) = place(&ctx, "OpenRelay", |mut c| {
        let req = request(&ctx, body.clone());
        async move { c.open_relay(req).await }
    })
    .await?;
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
    let Some(inst) = s.instance else {
        return Err(BackendError::Failed("no media instance".into()));
    };
    let leg = match side {
        Side::Caller => RelayLeg::Caller,
        Side::Callee => RelayLeg::Callee,
    };
    let req = request(
        &ctx,
        UpdateRelayRequest {
            session_id: s.id,
            leg: leg as i32,
            sdp,
            offer,
        },
    );
    let span = asterism_telemetry::rpc::client_span(MEDIA, "UpdateRelay");
    let started = std::time::Instant::now();
    let mut client = inst.client.clone();
    let call = tracing::Instrument::instrument(client.update_relay(req), span);
    let answer = tokio::time::timeout(ctx.cfg.rpc_timeout, call)
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
    timed(&ctx, MEDIA, "UpdateRelay", started, answer.as_ref().err());
    match answer {
        Ok(r) => Ok(r.into_inner().sdp_answer),
        Err(s) if s.code() == tonic::Code::FailedPrecondition => {
            Err(BackendError::NoCodec(s.message().to_owned()))
        }
        Err(s) => {
            tracing::warn!(code = ?s.code(), "relay update failed");
            Err(BackendError::Failed(s.message().to_owned()))
        }
    }
}
