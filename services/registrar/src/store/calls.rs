//! sip.conf `call-limit`: a user's calls in and out at once, counted where
//! every edge sees them. Each call holds a slot, `<edge id> <call id>`, in
//! a sorted set per user (`<prefix>{user}:calls`, the user's own slot in a
//! cluster) scored by a long lease; a slot goes when its call releases it,
//! when the edge holding it stops reporting alive (checked at each
//! acquisition), or at the lease's end.

use super::redis::RedisStore;
use super::{CallSlot, StoreError, CALL_SLOT_LEASE_MS};
use redis::Script;
use std::collections::HashMap;

/// KEYS[1] the user's slots. ARGV: member, limit, now_ms, lease_ms, then
/// members of dead edges to drop. The calls held then, negative when full.
const ACQUIRE_LUA: &str = r#"
local now, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 5, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
local n = redis.call('ZCARD', KEYS[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if n >= tonumber(ARGV[2]) then return -n end
  n = n + 1
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return n
"#;

impl RedisStore {
    fn calls_key(&self, user: &str) -> String {
        format!("{}{{{user}}}:calls", self.prefix())
    }

    pub(super) async fn acquire_slot(
        &self,
        user: &str,
        slot: &CallSlot,
        limit: u32,
        now_ms: u64,
    ) -> Result<Result<u32, u32>, StoreError> {
        let mut conn = self.conn().await?;
        let key = self.calls_key(user);
        let members: Vec<String> = match redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
        {
            Ok(m) => m,
            Err(e) => return Err(self.fail(e).await),
        };
        let dead = self.dead_members(&members, &slot.edge_id).await?;
        let script = Script::new(ACQUIRE_LUA);
        let mut inv = script.prepare_invoke();
        inv.key(&key)
            .arg(slot.member())
            .arg(limit.max(1))
            .arg(now_ms)
            .arg(CALL_SLOT_LEASE_MS);
        for d in &dead {
            inv.arg(d);
        }
        let n: i64 = match inv.invoke_async(&mut conn).await {
            Ok(n) => n,
            Err(e) => return Err(self.fail(e).await),
        };
        Ok(if n > 0 {
            Ok(n as u32)
        } else {
            Err((-n) as u32)
        })
    }

    /// Members whose edge no longer reports alive (`asking` is, by asking).
    async fn dead_members(
        &self,
        members: &[String],
        asking: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut edges: Vec<String> = members
            .iter()
            .map(|m| CallSlot::edge_of(m).to_owned())
            .filter(|e| e != asking)
            .collect();
        edges.sort();
        edges.dedup();
        if edges.is_empty() {
            return Ok(Vec::new());
        }
        let alive = super::BindingStore::edges_alive(self, &edges).await?;
        let dead: Vec<&String> = edges
            .iter()
            .zip(alive)
            .filter(|(_, a)| !a)
            .map(|(e, _)| e)
            .collect();
        Ok(members
            .iter()
            .filter(|m| dead.iter().any(|d| *d == CallSlot::edge_of(m)))
            .cloned()
            .collect())
    }

    pub(super) async fn release_slot(&self, user: &str, slot: &CallSlot) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        match redis::cmd("ZREM")
            .arg(self.calls_key(user))
            .arg(slot.member())
            .query_async::<i64>(&mut conn)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e).await),
        }
    }
}

/// The same in one process: user → slot member → lease end (ms).
#[derive(Default)]
pub struct LocalCalls(HashMap<String, HashMap<String, u64>>);

impl LocalCalls {
    /// `alive` tells whether an edge still reports alive.
    pub fn acquire(
        &mut self,
        user: &str,
        slot: &CallSlot,
        limit: u32,
        now_ms: u64,
        alive: impl Fn(&str) -> bool,
    ) -> Result<u32, u32> {
        let slots = self.0.entry(user.to_owned()).or_default();
        slots.retain(|m, until| {
            *until > now_ms && {
                let e = CallSlot::edge_of(m);
                e == slot.edge_id || alive(e)
            }
        });
        let member = slot.member();
        if !slots.contains_key(&member) && slots.len() >= limit.max(1) as usize {
            return Err(slots.len() as u32);
        }
        slots.insert(member, now_ms + CALL_SLOT_LEASE_MS);
        Ok(slots.len() as u32)
    }

    pub fn release(&mut self, user: &str, slot: &CallSlot) {
        if let Some(slots) = self.0.get_mut(user) {
            slots.remove(&slot.member());
            if slots.is_empty() {
                self.0.remove(user);
            }
        }
    }
}
