//! `RegisterStream`: the edges' REGISTERs as messages on a long-lived
//! stream instead of one HTTP/2 stream each. A unary call costs a stream,
//! two header blocks and a pass through the server's service stack, more
//! CPU than the registration itself under load; a message on an open
//! stream costs one DATA frame. Each call is served by a task of its own
//! (Redis is multiplexed, so calls overlap as unary calls do), at most
//! [`IN_FLIGHT`] per stream: beyond that the stream is not read, and HTTP/2
//! flow control holds the edge back. On SIGTERM the stream stops reading,
//! answers what it read and ends, so the edge opens its next stream on a
//! replica that stays.

use crate::register::Registrar;
use asterism_proto::registrar::{RegisterCall, RegisterResult};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::Instrument;

/// Calls of one stream served at once.
pub const IN_FLIGHT: usize = 1024;

/// Serve the calls `inbound` brings; the answers, in the order they finish.
pub fn serve(
    registrar: Arc<Registrar>,
    mut inbound: Streaming<RegisterCall>,
) -> ReceiverStream<Result<RegisterResult, Status>> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let stop = asterism_config::shutdown::signal();
        tokio::pin!(stop);
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let call = tokio::select! {
                m = inbound.message() => match m {
                    Ok(Some(call)) => call,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "register stream broke");
                        break;
                    }
                },
                () = &mut stop => break,
            };
            let (registrar, tx) = (registrar.clone(), tx.clone());
            tokio::spawn(async move {
                let result = answer(&registrar, call).await;
                let _ = tx.send(Ok(result)).await;
                drop(permit);
            });
        }
        // `tx` goes here: the stream ends once every call read is answered.
    });
    ReceiverStream::new(rx)
}

async fn answer(registrar: &Registrar, call: RegisterCall) -> RegisterResult {
    let req = call.request.unwrap_or_default();
    let server =
        asterism_telemetry::rpc::server_span("asterism.registrar.v1.Registrar", "Register");
    if !call.traceparent.is_empty() {
        asterism_telemetry::propagation::continue_from(&server, &call.traceparent);
    }
    let span = tracing::info_span!(parent: &server, "registrar.register", aor = %req.aor);
    let mut result = RegisterResult {
        id: call.id,
        ..Default::default()
    };
    match registrar.register(&req).instrument(span).await {
        Ok(r) => result.response = Some(r),
        Err(e) => {
            let status = Status::from(e);
            result.error_code = status.code() as i32;
            result.error_message = status.message().to_owned();
        }
    }
    result
}
