//! Bindings in Redis. Each binding is its own key with a TTL equal to its
//! granted Expires, so it disappears by itself even when no Asterism process
//! is left; a sorted set per AOR indexes them by expiry, and a hash keeps
//! each binding's Call-ID and CSeq (RFC 3261 §10.3). Every update is one Lua script (one round trip,
//! atomic); the connection is a multiplexed, self-reconnecting manager, and
//! an unreachable Redis is reported as [`StoreError::Unavailable`]. Behind
//! Sentinel ([`super::sentinel`]) a lost primary drops the connection so the
//! next request finds the new one, and a write counts only once a replica
//! confirms it ([`super::confirm`]), so a binding acknowledged to a phone
//! survives a failover (`ASTERISM_REDIS_MIN_REPLICAS`, 1 behind Sentinel by
//! default).

use super::bans::BanPolicy;
use super::cluster::{self, Conn};
use super::confirm::{Confirmer, Verdict};
use super::sentinel::{lost_primary, Target};
use super::{with_remaining, BindingStore, CallSlot, NonceUse, StoreError, Update, UpdateOutcome};
use asterism_proto::registrar::Binding;
use async_trait::async_trait;
use md5::{Digest, Md5};
use prost::Message;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use std::time::Duration;
use tokio::sync::Mutex;

pub const DEFAULT_PREFIX: &str = "asterism:";

pub struct RedisStore {
    pub(super) target: Target,
    conn: Mutex<Option<Conn>>,
    /// Whether writes count (replicas confirm them).
    confirm: Confirmer,
    prefix: String,
    register: Script,
    lookup: Script,
    pub(super) use_nonce: Script,
    lease: Script,
}

/// KEYS[1] the lease, ARGV[1] the holder, ARGV[2] seconds: 1 when the
/// holder has it (renewed, or taken because it was free), else 0.
const LEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 1
end
return 0
";

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// Does not connect yet: the first request does, and every request after
    /// a failure tries again, so the registrar starts and recovers by itself.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let target = Target::parse(url)?;
        Ok(RedisStore {
            confirm: Confirmer::new(u32::from(target.is_sentinel())),
            target,
            conn: Mutex::new(None),
            prefix: prefix.to_owned(),
            register: Script::new(include_str!("register.lua")),
            lookup: Script::new(include_str!("lookup.lua")),
            use_nonce: Script::new(super::nonce_use::USE_NONCE_LUA),
            lease: Script::new(LEASE_LUA),
        })
    }

    /// How many replicas must confirm each write (`WAIT`); 0 answers as soon
    /// as the primary has it.
    pub fn min_replicas(mut self, n: u32) -> Self {
        self.confirm.min_replicas = n;
        self
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) async fn conn(&self) -> Result<Conn, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = match &self.target {
            Target::Cluster(nodes) => Conn::Cluster(cluster::connect(nodes).await?),
            _ => {
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(1);
                let client = self.target.primary().await?;
                let addr = client.get_connection_info().addr().to_string();
                tracing::debug!(%addr, "connecting to the Redis primary");
                self.confirm.connected(addr).await;
                let c = ConnectionManager::new_with_config(client, cfg)
                    .await
                    .map_err(unavailable)?;
                Conn::Single(c)
            }
        };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Map a Redis error; behind Sentinel or in a cluster, forget a
    /// connection that no longer reaches the primary.
    pub(super) async fn fail(&self, e: RedisError) -> StoreError {
        tracing::debug!(error = %e, "Redis request failed");
        if !matches!(self.target, Target::Direct(_)) && lost_primary(&e) {
            *self.conn.lock().await = None;
        }
        unavailable(e)
    }

    /// The write just made on `conn` counts, or the request is refused
    /// (503, the phone retries); see [`super::confirm`].
    pub(super) async fn replicate(&self, conn: &mut Conn) -> Result<(), StoreError> {
        match self.confirm.confirm(conn, self.target.sentinels()).await {
            Verdict::Confirmed => Ok(()),
            Verdict::Refused(why) => Err(unavailable(why)),
            Verdict::Replaced => {
                *self.conn.lock().await = None;
                Err(unavailable("the primary is being replaced"))
            }
            Verdict::Failed(e) => Err(self.fail(e).await),
        }
    }

    pub(super) fn aor_key(&self, aor: &str, what: &str) -> String {
        format!("{}{{{aor}}}:{what}", self.prefix)
    }

    fn edge_key(&self, edge_id: &str) -> String {
        format!("{}edge:{{{edge_id}}}", self.prefix)
    }

    fn binding_id(contact: &str) -> String {
        hex::encode(&Md5::digest(contact.as_bytes())[..8])
    }

    fn decode(records: Vec<Vec<u8>>, now_ms: u64) -> Result<Vec<Binding>, StoreError> {
        let mut out = records
            .into_iter()
            .map(|r| {
                Binding::decode(r.as_slice())
                    .map(|b| with_remaining(b, now_ms))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.contact.cmp(&b.contact));
        Ok(out)
    }
}

#[async_trait]
impl BindingStore for RedisStore {
    async fn update(&self, aor: &str, u: &Update) -> Result<UpdateOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut inv = self.register.prepare_invoke();
        inv.key(self.aor_key(aor, "idx"))
            .key(self.aor_key(aor, "meta"));
        // Only keys of this AOR's slot (a cluster refuses any other): a
        // cluster checks the ban on its own first.
        if let Some(k) = &u.replay_key {
            inv.key(self.aor_key(aor, &format!("nonce:{k}")));
        }
        let ban = match (&u.source_ip, &self.target) {
            (Some(ip), Target::Cluster(_)) => {
                if let Some(left) = self.ban_left(ip).await? {
                    return Ok(UpdateOutcome::Banned(left));
                }
                None
            }
            (Some(ip), _) => Some(self.ban_key(ip)),
            (None, _) => None,
        };
        if let Some(k) = &ban {
            inv.key(k);
        }
        let flag = |b: bool| if b { "1" } else { "0" };
        inv.arg(self.aor_key(aor, "b:"))
            .arg(u.now_ms)
            .arg(&u.call_id)
            .arg(u.cseq)
            .arg(u.replay_ttl_secs.max(1))
            .arg(flag(u.remove_all))
            .arg(u.max_contacts)
            .arg(flag(u.replay_key.is_some()))
            .arg(flag(ban.is_some()));
        for c in &u.changes {
            inv.arg(Self::binding_id(&c.contact))
                .arg(c.expires_secs)
                .arg(c.record.encode_to_vec());
        }
        let reply: Vec<redis::Value> = match inv.invoke_async(&mut conn).await {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        self.replicate(&mut conn).await?;
        let code = match reply.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => return Err(StoreError::Corrupt("unexpected script reply".into())),
        };
        match code {
            -4 => Ok(UpdateOutcome::Banned(match reply.get(1) {
                Some(redis::Value::Int(left)) => (*left).max(1) as u64,
                _ => 1,
            })),
            -3 => Ok(UpdateOutcome::TooManyContacts),
            -2 => Ok(UpdateOutcome::Replay),
            -1 => Ok(UpdateOutcome::OutOfOrder),
            _ => {
                let records = reply[1..]
                    .iter()
                    .map(|v| match v {
                        redis::Value::BulkString(b) => Ok(b.clone()),
                        _ => Err(StoreError::Corrupt("binding is not a string".into())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(UpdateOutcome::Applied(Self::decode(records, u.now_ms)?))
            }
        }
    }

    async fn lookup(&self, aor: &str, now_ms: u64) -> Result<Vec<Binding>, StoreError> {
        let mut conn = self.conn().await?;
        let records: Vec<Vec<u8>> = match self
            .lookup
            .key(self.aor_key(aor, "idx"))
            .arg(self.aor_key(aor, "b:"))
            .arg(now_ms)
            .invoke_async(&mut conn)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        Self::decode(records, now_ms)
    }

    async fn list(&self, now_ms: u64) -> Result<Vec<(String, Vec<Binding>)>, StoreError> {
        let mut conn = self.conn().await?;
        let pattern = format!("{}{{*}}:idx", self.prefix);
        let keys = match conn.scan(&pattern).await {
            Ok(k) => k,
            Err(e) => return Err(self.fail(e).await),
        };
        let mut out = Vec::new();
        for k in keys {
            let Some(aor) = k
                .strip_prefix(&format!("{}{{", self.prefix))
                .and_then(|r| r.strip_suffix("}:idx"))
            else {
                continue;
            };
            let b = self.lookup(aor, now_ms).await?;
            if !b.is_empty() {
                out.push((aor.to_owned(), b));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn use_nonce(
        &self,
        aor: &str,
        key: &str,
        owner: &str,
        ttl_secs: u64,
        source_ip: Option<&str>,
    ) -> Result<NonceUse, StoreError> {
        self.nonce_use(aor, key, owner, ttl_secs, source_ip).await
    }

    async fn auth_failure(
        &self,
        ip: &str,
        user: &str,
        policy: &BanPolicy,
    ) -> Result<Option<u64>, StoreError> {
        self.count_failure(ip, user, policy).await
    }

    async fn banned(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        self.ban_left(ip).await
    }

    async fn acquire_call(
        &self,
        user: &str,
        slot: &CallSlot,
        limit: u32,
        now_ms: u64,
    ) -> Result<Result<u32, u32>, StoreError> {
        self.acquire_slot(user, slot, limit, now_ms).await
    }

    async fn release_call(&self, user: &str, slot: &CallSlot) -> Result<(), StoreError> {
        self.release_slot(user, slot).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        match redis::cmd("PING")
            .query_async::<redis::Value>(&mut conn)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// One key per edge (`asterism:edge:{id}`, its own slot) holding its SIP
    /// address, expiring by itself when the edge stops refreshing it.
    async fn edge_alive(
        &self,
        edge_id: &str,
        sip_addr: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let set = redis::cmd("SET")
            .arg(self.edge_key(edge_id))
            .arg(sip_addr)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .query_async::<()>(&mut conn)
            .await;
        match set {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn set_mailbox(&self, id: &str, new: u32, old: u32) -> Result<u64, StoreError> {
        self.set_box(id, new, old).await
    }

    async fn mailboxes(&self) -> Result<(u64, Vec<(String, u32, u32)>), StoreError> {
        self.all_boxes().await
    }

    async fn mailbox_version(&self) -> Result<u64, StoreError> {
        self.box_version().await
    }

    async fn lease(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let held = self
            .lease
            .key(format!("{}lease:{name}", self.prefix))
            .arg(holder)
            .arg(ttl_secs.max(1))
            .invoke_async::<i64>(&mut conn)
            .await;
        match held {
            Ok(n) => Ok(n == 1),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn edges_alive(&self, edge_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::with_capacity(edge_ids.len());
        for id in edge_ids {
            match redis::cmd("EXISTS")
                .arg(self.edge_key(id))
                .query_async::<i64>(&mut conn)
                .await
            {
                Ok(n) => out.push(n > 0),
                Err(e) => return Err(self.fail(e).await),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asterism_testkit::RedisServer;

    #[tokio::test]
    async fn redis_store_honours_the_contract() {
        let server = RedisServer::start();
        let store = RedisStore::new(&server.url(), "asterism-test:").unwrap();
        super::super::contract::run(&store).await;
    }

    #[tokio::test]
    async fn cluster_store_honours_the_contract_and_lists_every_primary() {
        let cluster = asterism_testkit::RedisCluster::start();
        let store = RedisStore::new(&cluster.url(), "asterism-test:").unwrap();
        super::super::contract::run(&store).await;
        // AORs hash to slots all over the cluster; each REGISTER's script
        // stays on one primary, and listing finds them on every primary.
        let now = crate::clock::now_ms();
        for i in 0..30 {
            let aor = format!("user{i}");
            let u = crate::store::Update {
                call_id: format!("c{i}"),
                cseq: 1,
                now_ms: now,
                replay_key: Some(format!("n{i}:00000001")),
                replay_ttl_secs: 60,
                changes: vec![crate::store::Change {
                    contact: format!("sip:{aor}@10.0.0.1"),
                    expires_secs: 60,
                    record: Binding {
                        aor: aor.clone(),
                        contact: format!("sip:{aor}@10.0.0.1"),
                        expires_at: (now / 1000) as i64 + 60,
                        ..Default::default()
                    },
                }],
                ..Default::default()
            };
            assert!(matches!(
                store.update(&aor, &u).await.unwrap(),
                UpdateOutcome::Applied(b) if b.len() == 1
            ));
        }
        let listed = store.list(now).await.unwrap();
        assert_eq!(listed.len(), 30, "{listed:?}");
        for n in &cluster.nodes {
            let here = n
                .command(&["KEYS", "asterism-test:{user*}:idx"])
                .unwrap_or_default();
            assert!(here.contains(":idx"), "node {} holds some AORs", n.port);
        }
    }

    #[tokio::test]
    async fn bindings_expire_by_redis_ttl() {
        let server = RedisServer::start();
        let store = RedisStore::new(&server.url(), DEFAULT_PREFIX).unwrap();
        let now = crate::clock::now_ms();
        let u = crate::store::Update {
            call_id: "c".into(),
            cseq: 1,
            now_ms: now,
            changes: vec![crate::store::Change {
                contact: "sip:a@1".into(),
                expires_secs: 2,
                record: Binding::default(),
            }],
            ..Default::default()
        };
        store.update("alice", &u).await.unwrap();
        let key = format!("asterism:{{alice}}:b:{}", RedisStore::binding_id("sip:a@1"));
        let ttl = server.command(&["PTTL", &key]).unwrap();
        let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
        assert!(ms > 0 && ms <= 2000, "TTL {ms}");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(server.command(&["EXISTS", &key]).unwrap().trim(), ":0");
    }

    #[tokio::test]
    async fn unreachable_redis_is_unavailable_and_recovers() {
        let mut server = RedisServer::start();
        let store = RedisStore::new(&server.url(), DEFAULT_PREFIX).unwrap();
        store.ping().await.unwrap();
        server.stop();
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
        server.restart();
        let mut ok = false;
        for _ in 0..50 {
            if store.ping().await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(ok, "store reconnected by itself");
    }

    /// Real primary, replica and Sentinel: bindings written before a
    /// failover are all there after it, and writes go on against the new
    /// primary with at most the requests in flight refused.
    #[tokio::test]
    async fn sentinel_failover_loses_no_binding() {
        let primary = RedisServer::start();
        // One replica and the default of one confirmation: whatever the
        // store acknowledged is on the replica Sentinel promotes. (With more
        // replicas, `min_replicas` must equal their number for the same
        // promise: a write the old primary takes mid-failover can be
        // confirmed by a replica that is then re-pointed and drops it.)
        let replicas = [RedisServer::replica_of(primary.port)];
        let sentinel = RedisServer::sentinel("pbx", primary.port);
        let url = format!("redis+sentinel://127.0.0.1:{}/pbx", sentinel.port);
        let store = RedisStore::new(&url, DEFAULT_PREFIX).unwrap();
        let write = |i: u32| crate::store::Update {
            call_id: format!("c{i}"),
            cseq: 1,
            now_ms: crate::clock::now_ms(),
            changes: vec![crate::store::Change {
                contact: format!("sip:u{i}@127.0.0.1"),
                expires_secs: 600,
                record: Binding {
                    contact: format!("sip:u{i}@127.0.0.1"),
                    ..Default::default()
                },
            }],
            ..Default::default()
        };
        for i in 0..50 {
            store.update(&format!("u{i}"), &write(i)).await.unwrap();
        }
        // The sentinel must know the replicas before it can promote one.
        let mut known = false;
        for _ in 0..100 {
            let r = sentinel
                .command(&["SENTINEL", "replicas", "pbx"])
                .unwrap_or_default();
            if replicas.iter().all(|x| r.contains(&x.port.to_string())) {
                known = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(known, "sentinel discovered the replicas");
        sentinel.failover("pbx");
        let (mut refused, mut i) = (0, 50);
        let (mut first_refused, mut last_refused) = (None, None);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut moved = false;
        while std::time::Instant::now() < deadline {
            match store.update(&format!("u{i}"), &write(i)).await {
                Ok(_) => i += 1,
                Err(StoreError::Unavailable(_)) => {
                    refused += 1;
                    let now = std::time::Instant::now();
                    first_refused.get_or_insert(now);
                    last_refused = Some(now);
                }
                Err(e) => panic!("{e}"),
            }
            let promoted = replicas
                .iter()
                .find(|x| x.command(&["ROLE"]).is_some_and(|r| r.contains("master")));
            if let Some(new) = promoted.filter(|_| i >= 60) {
                // A former replica is primary and writes land there.
                let n = new.command(&["EXISTS", &format!("asterism:{{u{}}}:idx", i - 1)]);
                if n.is_some_and(|n| n.trim() == ":1") {
                    moved = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(moved, "writes follow the new primary ({refused} refused)");
        for k in 0..i {
            // A read may still meet a connection the failover cut (503 to a
            // phone, which retries); the binding itself must be there.
            let mut found = None;
            for _ in 0..50 {
                if let Ok(b) = store.lookup(&format!("u{k}"), crate::clock::now_ms()).await {
                    found = Some(b.len());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(found, Some(1), "binding u{k} lost");
        }
        let window = match (first_refused, last_refused) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        };
        eprintln!("failover: {refused} writes refused over {window:?}, {i} written, none lost");
    }
}
