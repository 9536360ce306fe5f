//! The registrar's per-request calls (Register, Authenticate, Lookup) on a
//! few long-lived `RegisterStream`s ("lanes") instead of one unary call
//! each: under load the per-call HTTP/2 stream, header blocks and service
//! stacks on both sides cost more CPU than the work (see
//! `bench/profile.py`; a call takes two Authenticates and a Lookup). Calls are spread over
//! [`LANES`] streams, each opened through the balanced channel, so with
//! several registrars they land on several replicas; a lane is replaced
//! after [`LIFETIME`] so a replica that joins gets its share. A stream that
//! breaks (a replica killed) fails the calls waiting on it as never
//! answered, which [`crate::retry`] sends again on a fresh lane; a
//! registrar that ends a stream (draining) has answered everything it
//! read. A registrar that does not know `RegisterStream`, or a kind of
//! call on it (an older one, mid-upgrade), is asked that kind with unary
//! calls for a minute, then tried again.

use crate::Rpc;
use asterism_proto::registrar::register_call::Call;
use asterism_proto::registrar::register_result::Result as Answer;
use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::registrar::{
    AuthenticateRequest, AuthenticateResponse, LookupRequest, LookupResponse, RegisterCall,
    RegisterRequest, RegisterResponse, RegisterResult,
};
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

type Reply = oneshot::Sender<Result<Answer, Status>>;

/// The kinds of call, for the per-kind unary fallback.
const REGISTER: usize = 0;
const AUTHENTICATE: usize = 1;
const LOOKUP: usize = 2;

pub struct Lanes {
    client: RegistrarClient<Rpc>,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Lane>>>>,
    next: AtomicUsize,
    ids: AtomicU64,
    /// Per kind: until when (ms after `born`) it is asked unary; 0: not.
    unary_until: [AtomicU64; 3],
    born: Instant,
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
fn answered(r: RegisterResult) -> Result<Answer, Status> {
    if let Some(a) = r.result {
        return Ok(a);
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

/// A kind of call: on a lane, or unary to a registrar that does not take
/// it there.
macro_rules! kind_of_call {
    ($(#[$doc:meta])* $method:ident($req:ty) -> $resp:ty:
        $kind:expr, $name:literal, $call:ident, $answer:ident) => {
        $(#[$doc])*
        pub async fn $method(&self, req: $req, timeout: Duration) -> Result<$resp, Status> {
            let pick = |a| match a {
                Answer::$answer(r) => Some(r),
                _ => None,
            };
            if let Some(answer) = self.streamed($kind, $name, Call::$call(req.clone()), pick).await {
                return answer;
            }
            // Boxed: a tonic call's future is large, and rarely made here.
            let mut client = self.client.clone();
            Box::pin(client.$method(request(req, timeout)))
                .await
                .map(tonic::Response::into_inner)
        }
    };
}

impl Lanes {
    pub fn new(client: RegistrarClient<Rpc>) -> Self {
        Lanes {
            client,
            slots: (0..LANES).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(1),
            unary_until: Default::default(),
            born: Instant::now(),
        }
    }

    kind_of_call! {
        /// One REGISTER, answered by a registrar (or the failure to get one).
        register(RegisterRequest) -> RegisterResponse: REGISTER, "Register", Request, Response
    }
    kind_of_call! {
        /// The digest check of a request other than REGISTER.
        authenticate(AuthenticateRequest) -> AuthenticateResponse:
            AUTHENTICATE, "Authenticate", Authenticate, Authenticated
    }
    kind_of_call! {
        /// The bindings (and sip.conf entry) of a Dial target.
        lookup(LookupRequest) -> LookupResponse: LOOKUP, "Lookup", Lookup, Found
    }

    /// A call of `kind` on a lane, its answer taken by `pick`; `None` when
    /// that kind is to be asked unary (an older registrar: UNIMPLEMENTED,
    /// or an answer of another kind).
    async fn streamed<T>(
        &self,
        kind: usize,
        name: &str,
        call: Call,
        pick: impl FnOnce(Answer) -> Option<T>,
    ) -> Option<Result<T, Status>> {
        if self.unary_now(kind) {
            return None;
        }
        match self.call(call).await.map(pick) {
            Ok(Some(r)) => return Some(Ok(r)),
            Err(s) if s.code() != tonic::Code::Unimplemented => return Some(Err(s)),
            Ok(None) | Err(_) => {}
        }
        tracing::info!(
            call = name,
            "the registrar does not take this call on RegisterStream (older version): unary calls for a minute"
        );
        let until = self.born.elapsed() + UNARY_FOR;
        self.unary_until[kind].store(until.as_millis() as u64, Ordering::Relaxed);
        None
    }

    /// One call on a lane. An older registrar answers a kind it does not
    /// know with UNIMPLEMENTED, or (before the kinds) with a Register answer.
    async fn call(&self, call: Call) -> Result<Answer, Status> {
        let lane = self.lane().await?;
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&lane.pending).insert(id, tx);
        let _waiting = Waiting { lane: &lane, id };
        // The reader marks the lane closed before it drops what waits.
        if lane.closed.load(Ordering::Acquire) {
            return Err(unanswered("register stream closed"));
        }
        // A place in the lane's queue first, then the message: the call's
        // future does not carry the message while it waits.
        let Ok(place) = lane.out.reserve().await else {
            return Err(unanswered("register stream closed"));
        };
        let traceparent = asterism_telemetry::propagation::traceparent(&tracing::Span::current())
            .unwrap_or_default();
        place.send(RegisterCall {
            id,
            call: Some(call),
            traceparent,
        });
        rx.await
            .unwrap_or_else(|_| Err(unanswered("register stream ended before the answer")))
    }

    fn unary_now(&self, kind: usize) -> bool {
        let until = self.unary_until[kind].load(Ordering::Relaxed);
        until != 0 && (self.born.elapsed().as_millis() as u64) < until
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
        // Boxed: a large future, made once per lane, not in every call's.
        let inbound = Box::pin(client.register_stream(ReceiverStream::new(rx)))
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

fn request<T>(req: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(req);
    r.set_timeout(timeout);
    r
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
