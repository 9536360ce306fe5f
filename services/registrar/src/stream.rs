//! `RegisterStream`: the edges' per-request calls (REGISTER, the digest
//! check of other requests, Dial's lookups) as messages on a long-lived
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
use asterism_proto::registrar::register_call::Call;
use asterism_proto::registrar::register_result::Result as Answer;
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
    let method = match &call.call {
        Some(Call::Request(_)) => "Register",
        Some(Call::Authenticate(_)) => "Authenticate",
        Some(Call::Lookup(_)) => "Lookup",
        None => "Unknown",
    };
    let server = asterism_telemetry::rpc::server_span("asterism.registrar.v1.Registrar", method);
    if !call.traceparent.is_empty() {
        asterism_telemetry::propagation::continue_from(&server, &call.traceparent);
    }
    let mut result = RegisterResult {
        id: call.id,
        ..Default::default()
    };
    let answer = match call.call {
        Some(Call::Request(req)) => {
            let span = tracing::info_span!(parent: &server, "registrar.register", aor = %req.aor);
            registrar
                .register(&req)
                .instrument(span)
                .await
                .map(Answer::Response)
        }
        Some(Call::Authenticate(req)) => {
            let span = tracing::info_span!(parent: &server, "registrar.authenticate", user = %req.from_user);
            registrar
                .authenticate(&req)
                .instrument(span)
                .await
                .map(Answer::Authenticated)
        }
        Some(Call::Lookup(req)) => {
            let span = tracing::info_span!(parent: &server, "registrar.lookup", aor = %req.aor);
            registrar
                .lookup(&req.aor)
                .instrument(span)
                .await
                .map(Answer::Found)
        }
        // A kind from a newer edge: it asks that kind unary instead.
        None => {
            result.error_code = tonic::Code::Unimplemented as i32;
            result.error_message = "unknown call on the register stream".into();
            return result;
        }
    };
    match answer {
        Ok(a) => result.result = Some(a),
        Err(e) => {
            let status = Status::from(e);
            result.error_code = status.code() as i32;
            result.error_message = status.message().to_owned();
        }
    }
    result
}
