//! Where bindings live. [`BindingStore`] is the contract; [`memory`] is the
//! embedded default (one process, same semantics) and [`redis`] the shared
//! store every replica uses. Both apply an update atomically: the replay
//! check of the nonce, the RFC 3261 §10.3 CSeq check and every contact change
//! happen together or not at all.

pub mod bans;
pub mod calls;
pub mod cluster;
pub mod confirm;
pub mod mailboxes;
pub mod memory;
mod nonce_use;
pub mod redis;
pub mod sentinel;

use asterism_proto::registrar::Binding;
use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend cannot be reached now (the edge answers 503).
    #[error("binding store unavailable: {0}")]
    Unavailable(String),
    /// A record in the store could not be read.
    #[error("corrupt binding record: {0}")]
    Corrupt(String),
    /// The store's settings are wrong (a malformed Redis URL).
    #[error("{0}")]
    Config(String),
}

/// One contact to add, refresh or remove.
#[derive(Debug, Clone)]
pub struct Change {
    pub contact: String,
    /// 0 removes the contact.
    pub expires_secs: u32,
    /// What to store (ignored for removals).
    pub record: Binding,
}

#[derive(Debug, Clone, Default)]
pub struct Update {
    pub call_id: String,
    pub cseq: u32,
    /// Accept this nonce use only once (for `replay_ttl_secs`).
    pub replay_key: Option<String>,
    pub replay_ttl_secs: u64,
    /// `Contact: *` with Expires 0.
    pub remove_all: bool,
    /// Contacts the AOR may hold after the update (0: no limit).
    pub max_contacts: u32,
    /// The request's source: refused if banned (checked with the update).
    pub source_ip: Option<String>,
    pub changes: Vec<Change>,
    pub now_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// Applied; the AOR's bindings now.
    Applied(Vec<Binding>),
    /// CSeq not above the one stored for this Call-ID.
    OutOfOrder,
    /// The nonce use was seen before.
    Replay,
    /// The AOR would hold more than `max_contacts`: nothing changed.
    TooManyContacts,
    /// The source is banned for this many more seconds: nothing changed.
    Banned(u64),
}

/// A call holding one of a user's call-limit slots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallSlot {
    pub edge_id: String,
    pub call_id: String,
}

impl CallSlot {
    /// How it is stored: `<edge id> <call id>` (edge ids hold no space).
    pub fn member(&self) -> String {
        format!("{} {}", self.edge_id, self.call_id)
    }

    pub fn edge_of(member: &str) -> &str {
        member.split(' ').next().unwrap_or_default()
    }
}

/// A slot lasts at most this long, should its edge never release it and
/// keep reporting alive (a lost release).
pub const CALL_SLOT_LEASE_MS: u64 = 6 * 3600 * 1000;

/// What became of a nonce use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    /// First use (or the very same request again).
    Accepted,
    /// Another request used it before.
    Replay,
    /// The source is banned for this many more seconds.
    Banned(u64),
}

/// Which request a nonce use belongs to: its CSeq and Call-ID, as the
/// bindings' metadata records them.
pub fn nonce_owner(cseq: u32, call_id: &str) -> String {
    format!("{cseq} {call_id}")
}

/// Which request (other than a REGISTER) a nonce use belongs to: its CSeq,
/// Call-ID, top Via branch and the flow it came on.
pub fn request_owner(r: &asterism_proto::registrar::AuthenticateRequest) -> String {
    let flow = r
        .flow
        .as_ref()
        .map(|f| format!("{}-{}-{}", f.transport, f.source_ip, f.source_port))
        .unwrap_or_default();
    format!("{} {} {} {flow}", r.cseq, r.call_id, r.branch)
}

#[async_trait]
pub trait BindingStore: Send + Sync + 'static {
    async fn update(&self, aor: &str, update: &Update) -> Result<UpdateOutcome, StoreError>;
    /// Current bindings of `aor` at `now_ms`.
    async fn lookup(&self, aor: &str, now_ms: u64) -> Result<Vec<Binding>, StoreError>;
    /// Every AOR with live bindings.
    async fn list(&self, now_ms: u64) -> Result<Vec<(String, Vec<Binding>)>, StoreError>;
    /// Record a nonce use for `aor` by the request `owner` (see
    /// [`nonce_owner`]); false when another request used it already. The
    /// same request again is a retry (the replica that took it died before
    /// answering), not a replay.
    /// `source_ip`, when given, is checked against the bans in the same step.
    async fn use_nonce(
        &self,
        aor: &str,
        key: &str,
        owner: &str,
        ttl_secs: u64,
        source_ip: Option<&str>,
    ) -> Result<NonceUse, StoreError>;
    /// Count an authentication failure of `user` from `ip` (see
    /// [`bans`]); the seconds `ip` is banned for when this made it so.
    async fn auth_failure(
        &self,
        ip: &str,
        user: &str,
        policy: &bans::BanPolicy,
    ) -> Result<Option<u64>, StoreError>;
    /// Seconds `ip` stays banned, if it is.
    async fn banned(&self, ip: &str) -> Result<Option<u64>, StoreError>;
    /// Take one of `user`'s `limit` call slots for `slot` (an edge's call):
    /// the number of calls it has then, or Err(that number) when full.
    /// Slots of edges that stopped reporting alive are freed first.
    async fn acquire_call(
        &self,
        user: &str,
        slot: &CallSlot,
        limit: u32,
        now_ms: u64,
    ) -> Result<Result<u32, u32>, StoreError>;
    async fn release_call(&self, user: &str, slot: &CallSlot) -> Result<(), StoreError>;
    /// Whether the backend answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Edge `edge_id` (reached at `sip_addr`) is alive for `ttl_secs`.
    async fn edge_alive(
        &self,
        edge_id: &str,
        sip_addr: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError>;
    /// Which of `edge_ids` reported alive within their TTL.
    async fn edges_alive(&self, edge_ids: &[String]) -> Result<Vec<bool>, StoreError>;
    /// Hold lease `name` for `holder` for `ttl_secs` (taken when free,
    /// renewed when `holder` has it): whether `holder` has it now. One
    /// process's store is always its own holder.
    async fn lease(&self, _name: &str, _holder: &str, _ttl_secs: u64) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Set mailbox `id`'s message counts ([`mailboxes`]): the new version.
    async fn set_mailbox(&self, id: &str, new: u32, old: u32) -> Result<u64, StoreError>;
    /// Every mailbox's counts and the version they are at.
    async fn mailboxes(&self) -> Result<(u64, Vec<(String, u32, u32)>), StoreError>;
    /// The version alone: asked every few hundred milliseconds.
    async fn mailbox_version(&self) -> Result<u64, StoreError>;
}

/// Seconds left of a binding that expires at `expires_at` (Unix seconds).
pub fn with_remaining(mut b: Binding, now_ms: u64) -> Binding {
    let now_s = (now_ms / 1000) as i64;
    b.expires_in = (b.expires_at - now_s).max(0) as u32;
    b
}

#[cfg(test)]
pub(crate) mod contract;
