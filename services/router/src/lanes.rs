//! `ExecuteLane`: many calls' dialplans on one long-lived stream. An
//! `Execute` stream per call costs an HTTP/2 stream, two header blocks and
//! a pass through the service stack on both sides, more CPU than the steps
//! themselves under load; on a lane a call's start, steps and results are
//! messages naming the call. Each call runs in a task of its own, exactly
//! as on its own stream ([`crate::drive`]). A lane holds at most
//! [`CALLS_PER_LANE`] calls; a call whose edge sends more results than it
//! was asked for is abandoned. When the lane breaks or ends, every call on
//! it is abandoned, as a broken `Execute` stream abandons its call. After
//! SIGTERM the lane refuses new calls (UNAVAILABLE: the edge opens another
//! lane, on a router that stays) and serves the calls it has to their end.

use crate::drive::{drive, lane_message, Out};
use crate::grpc::StepMetrics;
use crate::service::Router;
use asterism_proto::router::{
    call_event, lane_event, lane_step, CallEvent, CallStart, LaneAccepted, LaneEvent, LaneStep,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

/// Calls one lane carries at once.
pub const CALLS_PER_LANE: usize = 65_536;
/// Steps queued for the edge before the calls sending them wait.
const OUT_QUEUE: usize = 1024;
/// Results queued for one call: it is sent one step at a time.
const RESULTS: usize = 2;

/// Serve the calls `inbound` brings, at most `limit` at once; their
/// steps, as they come.
pub fn serve(
    router: Arc<Router>,
    steps: StepMetrics,
    inbound: Streaming<LaneEvent>,
    limit: usize,
) -> ReceiverStream<Result<LaneStep, Status>> {
    let (tx, rx) = mpsc::channel(OUT_QUEUE);
    tokio::spawn(read(router, steps, inbound, tx, limit));
    ReceiverStream::new(rx)
}

/// Read the edge's messages, handing each to its call, until the lane
/// ends; then every call still on it has lost its edge.
async fn read(
    router: Arc<Router>,
    steps: StepMetrics,
    mut inbound: Streaming<LaneEvent>,
    tx: mpsc::Sender<Result<LaneStep, Status>>,
    limit: usize,
) {
    let mut calls: HashMap<u64, mpsc::Sender<Result<CallEvent, Status>>> = HashMap::new();
    let stop = asterism_config::shutdown::signal();
    tokio::pin!(stop);
    let mut draining = false;
    loop {
        let message = tokio::select! {
            m = inbound.message() => m,
            () = &mut stop, if !draining => {
                draining = true;
                continue;
            }
        };
        let event = match message {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "call lane broke");
                break;
            }
        };
        let id = event.call;
        match event.event {
            Some(lane_event::Event::Start(start)) => {
                let refused = if draining {
                    Some(Status::unavailable("the router is shutting down"))
                } else {
                    full(&mut calls, id, limit)
                };
                let answer = match refused {
                    Some(status) => lane_message(id, Err(status)),
                    None => {
                        let (etx, erx) = mpsc::channel(RESULTS);
                        calls.insert(id, etx);
                        // Taken before any of its steps: the same queue.
                        let accepted = accepted(id);
                        if tx.send(Ok(accepted)).await.is_err() {
                            break;
                        }
                        start_call(&router, &steps, &tx, id, start, &event.traceparent, erx);
                        continue;
                    }
                };
                if tx.send(Ok(answer)).await.is_err() {
                    break;
                }
            }
            Some(lane_event::Event::Result(r)) => {
                let Some(call) = calls.get(&id) else { continue };
                let event = CallEvent {
                    event: Some(call_event::Event::Result(r)),
                };
                // Full: more results than steps; closed: the call is over.
                if call.try_send(Ok(event)).is_err() {
                    calls.remove(&id);
                }
            }
            Some(lane_event::Event::End(_)) => {
                calls.remove(&id);
            }
            // A kind of message from a newer edge.
            None => tracing::debug!(call = id, "unknown message on a call lane"),
        }
    }
    // `calls` goes here: each call's results end, and it is abandoned.
}

/// Why a new call `id` cannot join the lane, if it cannot.
fn full(
    calls: &mut HashMap<u64, mpsc::Sender<Result<CallEvent, Status>>>,
    id: u64,
    limit: usize,
) -> Option<Status> {
    if calls.len() >= limit {
        calls.retain(|_, c| !c.is_closed());
    }
    if calls.len() >= limit {
        return Some(Status::resource_exhausted("this call lane is full"));
    }
    calls
        .contains_key(&id)
        .then(|| Status::invalid_argument("call number already in use on this lane"))
}

fn accepted(call: u64) -> LaneStep {
    LaneStep {
        call,
        answer: Some(lane_step::Answer::Accepted(LaneAccepted {})),
        ..Default::default()
    }
}

/// Run call `id` in its own task, in a server span continuing the edge's
/// trace, as an `Execute` stream's call runs.
fn start_call(
    router: &Arc<Router>,
    steps: &StepMetrics,
    tx: &mpsc::Sender<Result<LaneStep, Status>>,
    id: u64,
    start: CallStart,
    traceparent: &str,
    results: mpsc::Receiver<Result<CallEvent, Status>>,
) {
    let server = asterism_telemetry::rpc::server_span("asterism.router.v1.Router", "Execute");
    if !traceparent.is_empty() {
        asterism_telemetry::propagation::continue_from(&server, traceparent);
    }
    let span = server.in_scope(|| tracing::info_span!("router.call", call_id = %start.call_id, context = %start.context, extension = %start.extension));
    let call =
        crate::engine::Call::new(router.current(), &start).allow_system(router.allow_system());
    let out = Out::Lane(id, tx.clone());
    tokio::spawn(tracing::Instrument::instrument(
        drive(
            call,
            ReceiverStream::new(results),
            out,
            steps.clone(),
            router.db(),
        ),
        span,
    ));
}
