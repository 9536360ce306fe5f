//! The edge's heartbeat. Bindings name the edge holding each phone's flow
//! (its NAT pinhole or TCP connection); every second this edge tells the
//! registrar (and so Redis) it is alive, for [`TTL_SECS`]. When an edge dies
//! its reports lapse, lookups flag its bindings `edge_gone`, and the other
//! edges fail calls to those phones at once (480) instead of sending INVITEs
//! into a dead edge — until the phones register again through a live one.

use crate::Ctx;
use asterism_proto::registrar::EdgeAliveRequest;
use std::sync::Arc;
use std::time::Duration;

pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long one report holds: a few missed beats before an edge counts as gone.
pub const TTL_SECS: u32 = 3;

/// After a report that did not get through: try again sooner, so the other
/// edges see this one gone for as short a time as possible.
const RETRY: Duration = Duration::from_millis(200);

pub async fn heartbeat(ctx: Arc<Ctx>) {
    let mut reported = true;
    loop {
        let started = tokio::time::Instant::now();
        let mut req = tonic::Request::new(EdgeAliveRequest {
            edge_id: ctx.cfg.edge_id.clone(),
            sip_addr: ctx.internal.clone(),
            ttl_secs: TTL_SECS,
        });
        req.set_timeout(ctx.cfg.rpc_timeout.min(INTERVAL));
        let mut client = ctx.registrar.clone();
        let answer = tokio::time::timeout(INTERVAL, client.edge_alive(req))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
        let ok = match answer {
            Ok(_) => true,
            Err(status) => {
                if reported {
                    tracing::warn!(code = ?status.code(), "heartbeat not recorded: {}", status.message());
                }
                false
            }
        };
        if ok && !reported {
            tracing::info!("heartbeat recorded again");
        }
        reported = ok;
        tokio::time::sleep_until(started + if ok { INTERVAL } else { RETRY }).await;
    }
}
