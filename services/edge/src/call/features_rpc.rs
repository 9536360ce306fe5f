//! The backend requests of in-call features (Dial's `t`/`T`): a relay's
//! RFC 4733 digits per leg (the media service's `Events` stream), the
//! router's `MatchExtension` for the transfer's digits, and `SwapLegs`
//! when the caller transfers the callee.

use super::backends::{BackendError, BoxStream, MediaSession};
use super::bridge::Side;
use super::grpc::timed;
use crate::Ctx;
use asterism_proto::media::{media_event, EventsRequest, RelayLeg, SwapLegsRequest};
use asterism_proto::router::MatchRequest;
use futures::StreamExt;
use std::sync::Arc;

/// Each digit a leg of relay `s` sends, as it ends; the stream ends with
/// the session (or its instance).
pub fn dtmf(s: &MediaSession) -> BoxStream<(Side, char)> {
    let (id, instance) = (s.id.clone(), s.instance.clone());
    let opened = async move {
        let mut client = instance?.client.clone();
        let req = EventsRequest { session_id: id };
        client.events(req).await.ok().map(|r| r.into_inner())
    };
    let digits = futures::stream::once(opened)
        .filter_map(|s| async move { s })
        .flatten()
        .filter_map(|e| async move {
            let e = e.ok()?;
            let Some(media_event::Event::Dtmf(d)) = e.event else {
                return None;
            };
            let side = match RelayLeg::try_from(e.leg) {
                Ok(RelayLeg::Callee) => Side::Callee,
                _ => Side::Caller,
            };
            Some((side, d.chars().next()?))
        });
    Box::pin(digits)
}

/// The relay's callee becomes its caller.
pub async fn swap_legs(ctx: Arc<Ctx>, s: MediaSession) -> Result<(), BackendError> {
    let Some(inst) = s.instance else {
        return Err(BackendError::Failed("no media instance".into()));
    };
    let mut client = inst.client.clone();
    let mut req = tonic::Request::new(SwapLegsRequest { session_id: s.id });
    req.set_timeout(ctx.cfg.rpc_timeout);
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(ctx.cfg.rpc_timeout, client.swap_legs(req))
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
    timed(
        &ctx,
        "asterism.media.v1.Media",
        "SwapLegs",
        started,
        r.as_ref().err(),
    );
    r.map(|_| ())
        .map_err(|s| BackendError::Failed(s.message().to_owned()))
}

/// Whether `exten` is an extension of `context` for `caller`, and whether
/// more digits could make one.
pub async fn match_extension(
    ctx: Arc<Ctx>,
    context: String,
    exten: String,
    caller: String,
) -> Result<(bool, bool), BackendError> {
    let ask = MatchRequest {
        context,
        extension: exten,
        caller,
    };
    let attempt = || {
        let mut router = ctx.router.clone();
        let mut req = tonic::Request::new(ask.clone());
        req.set_timeout(ctx.cfg.rpc_timeout);
        async move { router.match_extension(req).await }
    };
    let started = std::time::Instant::now();
    let r = crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt).await;
    let service = "asterism.router.v1.Router";
    timed(&ctx, service, "MatchExtension", started, r.as_ref().err());
    match r {
        Ok(r) => {
            let r = r.into_inner();
            Ok((r.exists, r.can_match_more))
        }
        Err(s) => {
            tracing::warn!(code = ?s.code(), "router did not match the transfer's digits");
            Err(BackendError::Unavailable)
        }
    }
}
