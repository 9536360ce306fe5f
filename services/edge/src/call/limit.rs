//! sip.conf `call-limit` at the edge: a call from or to a limited user
//! takes one of the user's slots from the registrar (shared by every edge)
//! and frees it when it ends — whatever ends it, the slot is given back
//! from `Drop`. Over the limit, Asterisk answers a caller `480 Temporarily
//! Unavailable (Call limit)` and does not ring a callee (DIALSTATUS
//! CHANUNAVAIL).

use crate::Ctx;
use asterism_proto::registrar::{AcquireCallRequest, ReleaseCallRequest};
use std::sync::Arc;

/// One slot held by this call.
pub struct Slot {
    ctx: Arc<Ctx>,
    user: String,
    call_id: String,
}

/// Why no slot was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user has `limit` calls already.
    Full,
    /// The registrar did not answer.
    Unavailable,
}

/// Take a slot of `user` (limit `limit`) for call `call_id`.
pub async fn acquire(
    ctx: &Arc<Ctx>,
    user: &str,
    limit: u32,
    call_id: &str,
) -> Result<Slot, Refused> {
    let req = AcquireCallRequest {
        user: user.to_owned(),
        call_id: call_id.to_owned(),
        edge_id: ctx.cfg.edge_id.clone(),
        limit,
    };
    let attempt = || {
        let mut client = ctx.registrar.clone();
        let mut r = tonic::Request::new(req.clone());
        r.set_timeout(ctx.cfg.rpc_timeout);
        async move { client.acquire_call(r).await }
    };
    match crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt).await {
        Ok(a) if a.get_ref().granted => Ok(Slot {
            ctx: ctx.clone(),
            user: user.to_owned(),
            call_id: call_id.to_owned(),
        }),
        Ok(a) => {
            tracing::info!(%user, limit, calls = a.get_ref().calls, "call rejected due to call-limit");
            Err(Refused::Full)
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), %user, "registrar failed taking a call-limit slot");
            Err(Refused::Unavailable)
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let ctx = self.ctx.clone();
        let req = ReleaseCallRequest {
            user: std::mem::take(&mut self.user),
            call_id: std::mem::take(&mut self.call_id),
            edge_id: ctx.cfg.edge_id.clone(),
        };
        tokio::spawn(async move {
            let attempt = || {
                let mut client = ctx.registrar.clone();
                let mut r = tonic::Request::new(req.clone());
                r.set_timeout(ctx.cfg.rpc_timeout);
                async move { client.release_call(r).await }
            };
            if let Err(status) = crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt).await {
                // Freed anyway once this edge stops reporting alive, or at
                // the lease's end.
                tracing::warn!(code = ?status.code(), user = %req.user, "call-limit slot not released");
            }
        });
    }
}
