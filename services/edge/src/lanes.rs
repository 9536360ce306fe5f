//! REGISTERs to the registrar on a few long-lived `RegisterStream`s
//! ("lanes") instead of one unary call each: under load the per-call HTTP/2
//! stream, header blocks and service stacks on both sides cost more CPU
//! than the registration (see `bench/profile.py`). Calls are spread over
//! [`LANES`] streams, each opened through the balanced channel, so with
//! several registrars they land on several replicas; a lane is replaced
//! after [`LIFETIME`] so a replica that joins gets its share. A stream that
//! breaks (a replica killed) fails the calls waiting on it as never
//! answered, which [`crate::retry`] sends again on a fresh lane; a
//! registrar that ends a stream (draining) has answered everything it
//! read. A registrar that does not know `RegisterStream` (an older one,
//! mid-upgrade) is asked with unary calls for a minute, then tried again.

use crate::Rpc;
use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::registrar::{RegisterCall, RegisterRequest, RegisterResponse, RegisterResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Streams kept open to the registrars.
pub const LANES: usize = 4;
/// How long a lane takes new calls before another stream replaces it.
pub const LIFETIME: Duration = Duration::from_secs(30);
/// Calls queued for one lane's stream before senders wait.
const QUEUE: usize = 256;
/// How long an older registrar (no `RegisterStream`) is asked unary.
const UNARY_FOR: Duration = Duration::from_secs(60);

type Reply = oneshot::Sender<Result<RegisterResponse, Status>>;

pub struct Lanes {
    client: RegistrarClient<Rpc>,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Lane>>>>,
    next: AtomicUsize,
    ids: AtomicU64,
    unary_until: Mutex<Option<Instant>>,
}

struct Lane {
    out: mpsc::Sender<RegisterCall>,
    pending: Arc<Mutex<HashMap<u64, Reply>>>,
    closed: Arc<AtomicBool>,
    opened: Instant,
}

/// Takes a call's reply slot back when its caller gives up (time-out).
struct Waiting<'a> {
    lane: &'a Lane,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.lane.pending).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A failure no registrar answered: [`crate::retry`] tries again.
fn unanswered(why: &'static str) -> Status {
    Status::unavailable(why)
}

/// What the registrar answered for one call; its errors carry metadata,
/// as a status a server sent does ([`crate::retry::never_answered`]).
fn answered(r: RegisterResult) -> Result<RegisterResponse, Status> {
    if let Some(resp) = r.response {
        return Ok(resp);
    }
    let mut md = tonic::metadata::MetadataMap::new();
    md.insert(
        "content-type",
        tonic::metadata::MetadataValue::from_static("application/grpc"),
    );
    Err(Status::with_metadata(
        tonic::Code::from_i32(r.error_code),
        r.error_message,
        md,
    ))
}

impl Lanes {
    pub fn new(client: RegistrarClient<Rpc>) -> Self {
        Lanes {
            client,
            slots: (0..LANES).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(1),
            unary_until: Mutex::new(None),
        }
    }

    /// One REGISTER, answered by a registrar (or the failure to get one).
    pub async fn register(
        &self,
        req: RegisterRequest,
        timeout: Duration,
    ) -> Result<RegisterResponse, Status> {
        if self.unary_now() {
            return self.unary(req, timeout).await;
        }
        let lane = match self.lane().await {
            Ok(l) => l,
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                tracing::info!(
                    "the registrar has no RegisterStream (older version): unary calls for a minute"
                );
                *lock(&self.unary_until) = Some(Instant::now() + UNARY_FOR);
                return self.unary(req, timeout).await;
            }
            Err(s) => return Err(s),
        };
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&lane.pending).insert(id, tx);
        let _waiting = Waiting { lane: &lane, id };
        // The reader marks the lane closed before it drops what waits.
        if lane.closed.load(Ordering::Acquire) {
            return Err(unanswered("register stream closed"));
        }
        let traceparent = asterism_telemetry::propagation::traceparent(&tracing::Span::current())
            .unwrap_or_default();
        let call = RegisterCall {
            id,
            request: Some(req),
            traceparent,
        };
        if lane.out.send(call).await.is_err() {
            return Err(unanswered("register stream closed"));
        }
        rx.await
            .unwrap_or_else(|_| Err(unanswered("register stream ended before the answer")))
    }

    fn unary_now(&self) -> bool {
        let mut until = lock(&self.unary_until);
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    async fn unary(
        &self,
        req: RegisterRequest,
        timeout: Duration,
    ) -> Result<RegisterResponse, Status> {
        let mut r = tonic::Request::new(req);
        r.set_timeout(timeout);
        let mut client = self.client.clone();
        client.register(r).await.map(tonic::Response::into_inner)
    }

    /// The next lane, its stream opened first when it has none (or its
    /// stream ended, or served its time).
    async fn lane(&self) -> Result<Arc<Lane>, Status> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(l) = slot.as_ref() {
            if !l.closed.load(Ordering::Acquire) && l.opened.elapsed() < LIFETIME {
                return Ok(l.clone());
            }
        }
        // The old lane (if any) ends once its last caller lets it go: its
        // stream is closed and the registrar answers what it holds.
        *slot = None;
        let (out, rx) = mpsc::channel(QUEUE);
        let mut client = self.client.clone();
        let inbound = client
            .register_stream(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let lane = Arc::new(Lane {
            out,
            pending: Arc::default(),
            closed: Arc::default(),
            opened: Instant::now(),
        });
        tokio::spawn(read(inbound, lane.pending.clone(), lane.closed.clone()));
        *slot = Some(lane.clone());
        Ok(lane)
    }
}

/// Hand each answer to its caller until the stream ends; then whatever
/// still waits fails as never answered.
async fn read(
    mut inbound: tonic::Streaming<RegisterResult>,
    pending: Arc<Mutex<HashMap<u64, Reply>>>,
    closed: Arc<AtomicBool>,
) {
    loop {
        match inbound.message().await {
            Ok(Some(r)) => {
                if let Some(tx) = lock(&pending).remove(&r.id) {
                    let _ = tx.send(answered(r));
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "register stream to the registrar broke");
                break;
            }
        }
    }
    closed.store(true, Ordering::Release);
    lock(&pending).clear();
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;
