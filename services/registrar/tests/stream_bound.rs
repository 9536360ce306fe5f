//! `RegisterStream` holds at most `IN_FLIGHT` calls of one stream at once:
//! with a store that does not answer, exactly that many reach it, the rest
//! stay unread on the stream (HTTP/2 flow control holds the edge back), and
//! once the store answers every call is answered.

use asterism_proto::registrar::register_call::Call;
use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::registrar::{Binding, LookupRequest, RegisterCall};
use asterism_registrar::register::Registrar;
use asterism_registrar::store::bans::BanPolicy;
use asterism_registrar::store::memory::MemoryStore;
use asterism_registrar::store::{
    BindingStore, CallSlot, NonceUse, StoreError, Update, UpdateOutcome,
};
use asterism_registrar::stream::IN_FLIGHT;
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

const SIP_CONF: &str =
    "[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alicepw\nhost=dynamic\n";

/// The embedded store, whose lookups wait for the gate and are counted.
struct Gated {
    inner: MemoryStore,
    gate: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

#[async_trait]
impl BindingStore for Gated {
    async fn lookup(&self, aor: &str, now_ms: u64) -> Result<Vec<Binding>, StoreError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _pass = self.gate.acquire().await;
        self.inner.lookup(aor, now_ms).await
    }
    async fn update(&self, aor: &str, update: &Update) -> Result<UpdateOutcome, StoreError> {
        self.inner.update(aor, update).await
    }
    async fn list(&self, now_ms: u64) -> Result<Vec<(String, Vec<Binding>)>, StoreError> {
        self.inner.list(now_ms).await
    }
    async fn use_nonce(
        &self,
        aor: &str,
        key: &str,
        owner: &str,
        ttl_secs: u64,
        source_ip: Option<&str>,
    ) -> Result<NonceUse, StoreError> {
        self.inner
            .use_nonce(aor, key, owner, ttl_secs, source_ip)
            .await
    }
    async fn auth_failure(
        &self,
        ip: &str,
        user: &str,
        policy: &BanPolicy,
    ) -> Result<Option<u64>, StoreError> {
        self.inner.auth_failure(ip, user, policy).await
    }
    async fn banned(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        self.inner.banned(ip).await
    }
    async fn acquire_call(
        &self,
        user: &str,
        slot: &CallSlot,
        limit: u32,
        now_ms: u64,
    ) -> Result<Result<u32, u32>, StoreError> {
        self.inner.acquire_call(user, slot, limit, now_ms).await
    }
    async fn release_call(&self, user: &str, slot: &CallSlot) -> Result<(), StoreError> {
        self.inner.release_call(user, slot).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn edge_alive(&self, edge_id: &str, sip_addr: &str, ttl: u64) -> Result<(), StoreError> {
        self.inner.edge_alive(edge_id, sip_addr, ttl).await
    }
    async fn edges_alive(&self, edge_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        self.inner.edges_alive(edge_ids).await
    }
    async fn set_mailbox(&self, id: &str, new: u32, old: u32) -> Result<u64, StoreError> {
        self.inner.set_mailbox(id, new, old).await
    }
    async fn mailboxes(&self) -> Result<(u64, Vec<(String, u32, u32)>), StoreError> {
        self.inner.mailboxes().await
    }
    async fn mailbox_version(&self) -> Result<u64, StoreError> {
        self.inner.mailbox_version().await
    }
}

#[tokio::test]
async fn one_stream_holds_at_most_in_flight_calls() {
    let embedded = asterism_registrar::with_sip_conf("stream-bound", SIP_CONF, None).unwrap();
    let embedded = Arc::try_unwrap(embedded).ok().expect("the only reference");
    let gate = Arc::new(Semaphore::new(0));
    let waiting = Arc::new(AtomicUsize::new(0));
    let registrar = Registrar {
        store: Arc::new(Gated {
            inner: MemoryStore::new(),
            gate: gate.clone(),
            waiting: waiting.clone(),
        }),
        ..embedded
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(asterism_registrar::service(Arc::new(registrar)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut client = RegistrarClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (out, rx) = mpsc::channel(64);
    let mut answers = client
        .register_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let total = IN_FLIGHT + 50;
    tokio::spawn(async move {
        for id in 0..total as u64 {
            let call = Call::Lookup(LookupRequest {
                aor: "alice".into(),
            });
            let call = RegisterCall {
                id,
                call: Some(call),
                traceparent: String::new(),
            };
            if out.send(call).await.is_err() {
                return;
            }
        }
        // Keep the stream open until the answers are in.
        std::future::pending::<()>().await;
    });
    // Everything the registrar takes reaches the store; it takes no more.
    let mut seen = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = waiting.load(Ordering::SeqCst);
        if seen >= IN_FLIGHT {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        waiting.load(Ordering::SeqCst),
        IN_FLIGHT,
        "held at once (saw {seen})"
    );
    // The store answers: every call is answered, the rest read as room frees.
    gate.add_permits(total);
    let mut ids = std::collections::HashSet::new();
    while ids.len() < total {
        let r = tokio::time::timeout(Duration::from_secs(10), answers.message())
            .await
            .expect("answers come")
            .unwrap()
            .expect("the stream goes on");
        assert!(r.result.is_some(), "answered: {r:?}");
        ids.insert(r.id);
    }
    assert_eq!(waiting.load(Ordering::SeqCst), total);
}
