//! Calls' dialplans on a few long-lived `ExecuteLane` streams to the
//! routers ("lanes") instead of an `Execute` stream per call: under load
//! the per-call HTTP/2 stream, header blocks and service stacks on both
//! sides cost more CPU than the dialplan (see `bench/profile.py`). Calls
//! are spread over [`LANES`] streams, each opened through the balanced
//! channel, so with several routers they land on several replicas; a lane
//! takes new calls for [`LIFETIME`], then another stream replaces it (so a
//! replica that joins gets its share) and the old one ends with its last
//! call. A call is opened once the router took it: a lane that breaks
//! before that, or a router that refuses it (shutting down), sends
//! [`crate::retry`] to another lane; a lane that breaks later ends every
//! call on it, as a broken `Execute` stream ends its call. A router that
//! does not know `ExecuteLane` (an older one, mid-upgrade) is asked with
//! `Execute` streams for a minute, then tried again.

use crate::call::backends::{Dialplan, Results};
use crate::Rpc;
use asterism_proto::router::router_client::RouterClient;
use asterism_proto::router::{
    call_event, lane_event, lane_step, CallEvent, CallStart, LaneEnd, LaneEvent, LaneStep, Step,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Streams kept open to the routers for new calls.
pub const LANES: usize = 4;
/// How long a lane takes new calls before another stream replaces it.
pub const LIFETIME: Duration = Duration::from_secs(60);
/// Messages queued for one lane's stream before senders wait.
const QUEUE: usize = 1024;
/// Steps queued for one call: the router sends one at a time.
const STEPS: usize = 4;
/// How long an older router (no `ExecuteLane`) is asked with `Execute`.
const OLD_FOR: Duration = Duration::from_secs(60);

type Taken = oneshot::Sender<Result<(), Status>>;

pub struct RouterLanes {
    client: RouterClient<Rpc>,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Lane>>>>,
    next: AtomicUsize,
    ids: AtomicU64,
    /// Until when (ms after `born`) calls take `Execute` streams; 0: not.
    old_until: AtomicU64,
    born: Instant,
}

/// One call's place on a lane, as the lane's reader sees it.
struct Waiter {
    /// Until the router took the call.
    taken: Option<Taken>,
    steps: mpsc::Sender<Result<Step, Status>>,
}

type Calls = Arc<Mutex<HashMap<u64, Waiter>>>;

struct Lane {
    out: mpsc::Sender<LaneEvent>,
    calls: Calls,
    /// The stream ended: nothing more comes back on it.
    closed: Arc<AtomicBool>,
    /// Its router refused a call (shutting down, or full): no new calls.
    refusing: AtomicBool,
    opened: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A failure no router answered: [`crate::retry`] tries again.
fn unanswered(why: &'static str) -> Status {
    Status::unavailable(why)
}

/// A failure the router sent for a call. Refusals that another router
/// (or lane) would not give are sent again; others are final, carrying
/// metadata as a status a server sent does ([`crate::retry::never_answered`]).
fn failure(m: &LaneStep) -> Status {
    let code = tonic::Code::from_i32(m.error_code);
    if matches!(
        code,
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted
    ) {
        return Status::new(code, m.error_message.clone());
    }
    let mut md = tonic::metadata::MetadataMap::new();
    md.insert(
        "content-type",
        tonic::metadata::MetadataValue::from_static("application/grpc"),
    );
    Status::with_metadata(code, m.error_message.clone(), md)
}

/// A call on a lane, as the call's driver holds it: its results go out on
/// the lane; dropped, it tells the router the call is over.
pub struct OnLane {
    lane: Arc<Lane>,
    id: u64,
    taken: bool,
}

impl OnLane {
    /// Send a step's result; false when the lane is gone.
    pub async fn send(&self, event: CallEvent) -> bool {
        let Some(call_event::Event::Result(r)) = event.event else {
            return false;
        };
        let message = LaneEvent {
            call: self.id,
            event: Some(lane_event::Event::Result(r)),
            traceparent: String::new(),
        };
        !self.lane.closed.load(Ordering::Acquire) && self.lane.out.send(message).await.is_ok()
    }
}

impl Drop for OnLane {
    fn drop(&mut self) {
        lock(&self.lane.calls).remove(&self.id);
        if !self.taken || self.lane.closed.load(Ordering::Acquire) {
            return;
        }
        let end = LaneEvent {
            call: self.id,
            event: Some(lane_event::Event::End(LaneEnd {})),
            traceparent: String::new(),
        };
        if let Err(mpsc::error::TrySendError::Full(end)) = self.lane.out.try_send(end) {
            let out = self.lane.out.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { out.send(end).await });
            }
        }
    }
}

impl RouterLanes {
    pub fn new(client: RouterClient<Rpc>) -> Self {
        RouterLanes {
            client,
            slots: (0..LANES).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(1),
            old_until: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// Call `start`'s dialplan, once a router took it.
    pub async fn open(&self, start: &CallStart) -> Result<Dialplan, Status> {
        if !self.old_now() {
            match self.on_lane(start).await {
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    tracing::info!("the router does not take calls on ExecuteLane (older version): Execute streams for a minute");
                    let until = self.born.elapsed() + OLD_FOR;
                    self.old_until
                        .store(until.as_millis() as u64, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        // Boxed: a tonic call's future is large, and rarely made here.
        Box::pin(self.own_stream(start)).await
    }

    async fn on_lane(&self, start: &CallStart) -> Result<Dialplan, Status> {
        let lane = self.lane().await?;
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (taken_tx, taken) = oneshot::channel();
        let (steps_tx, steps) = mpsc::channel(STEPS);
        lock(&lane.calls).insert(
            id,
            Waiter {
                taken: Some(taken_tx),
                steps: steps_tx,
            },
        );
        let mut call = OnLane {
            lane: lane.clone(),
            id,
            taken: false,
        };
        // The reader marks the lane closed before it drops what waits.
        if lane.closed.load(Ordering::Acquire) {
            return Err(unanswered("router lane closed"));
        }
        let traceparent = asterism_telemetry::propagation::traceparent(&tracing::Span::current())
            .unwrap_or_default();
        let message = LaneEvent {
            call: id,
            event: Some(lane_event::Event::Start(start.clone())),
            traceparent,
        };
        if lane.out.send(message).await.is_err() {
            return Err(unanswered("router lane closed"));
        }
        match taken.await {
            Ok(Ok(())) => {
                call.taken = true;
                Ok(Dialplan {
                    steps: Box::pin(ReceiverStream::new(steps)),
                    results: Results::Lane(call),
                })
            }
            Ok(Err(status)) => {
                if crate::retry::never_answered(&status) {
                    lane.refusing.store(true, Ordering::Relaxed);
                }
                Err(status)
            }
            Err(_) => Err(unanswered("router lane ended before the call was taken")),
        }
    }

    /// The call on an `Execute` stream of its own (an older router).
    async fn own_stream(&self, start: &CallStart) -> Result<Dialplan, Status> {
        let mut router = self.client.clone();
        let (tx, rx) = mpsc::channel(4);
        let first = CallEvent {
            event: Some(call_event::Event::Start(start.clone())),
        };
        let _ = tx.send(first).await;
        let steps = router.execute(ReceiverStream::new(rx)).await?;
        Ok(Dialplan {
            steps: Box::pin(steps.into_inner()),
            results: Results::Stream(tx),
        })
    }

    fn old_now(&self) -> bool {
        let until = self.old_until.load(Ordering::Relaxed);
        until != 0 && (self.born.elapsed().as_millis() as u64) < until
    }

    /// The next lane, its stream opened first when it has none (or its
    /// stream ended, its router refuses calls, or it served its time).
    async fn lane(&self) -> Result<Arc<Lane>, Status> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(l) = slot.as_ref() {
            if !l.closed.load(Ordering::Acquire)
                && !l.refusing.load(Ordering::Relaxed)
                && l.opened.elapsed() < LIFETIME
            {
                return Ok(l.clone());
            }
        }
        // The old lane (if any) ends once its last call lets it go.
        *slot = None;
        let (out, rx) = mpsc::channel(QUEUE);
        let mut client = self.client.clone();
        // Boxed: a large future, made once per lane, not in every call's.
        let inbound = Box::pin(client.execute_lane(ReceiverStream::new(rx)))
            .await?
            .into_inner();
        let lane = Arc::new(Lane {
            out,
            calls: Arc::default(),
            closed: Arc::default(),
            refusing: AtomicBool::new(false),
            opened: Instant::now(),
        });
        tokio::spawn(read(inbound, lane.calls.clone(), lane.closed.clone()));
        *slot = Some(lane.clone());
        Ok(lane)
    }
}

/// Hand each message to its call until the stream ends; then every call
/// still on it loses its dialplan (its steps end).
async fn read(mut inbound: tonic::Streaming<LaneStep>, calls: Calls, closed: Arc<AtomicBool>) {
    loop {
        match inbound.message().await {
            Ok(Some(m)) => deliver(&calls, m),
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "call lane to the router broke");
                break;
            }
        }
    }
    closed.store(true, Ordering::Release);
    lock(&calls).clear();
}

fn deliver(calls: &Calls, m: LaneStep) {
    let mut calls = lock(calls);
    let Some(w) = calls.get_mut(&m.call) else {
        return;
    };
    let broken = match m.answer {
        Some(lane_step::Answer::Accepted(_)) => {
            if let Some(taken) = w.taken.take() {
                let _ = taken.send(Ok(()));
            }
            false
        }
        // More steps than asked for, or a call that went: it ends.
        Some(lane_step::Answer::Step(s)) => w.taken.is_some() || w.steps.try_send(Ok(s)).is_err(),
        None => {
            let status = failure(&m);
            match w.taken.take() {
                Some(taken) => {
                    let _ = taken.send(Err(status));
                }
                None => {
                    let _ = w.steps.try_send(Err(status));
                }
            }
            true
        }
    };
    if broken {
        calls.remove(&m.call);
    }
}

#[cfg(test)]
#[path = "router_lanes_tests.rs"]
mod tests;
