//! The embedded binding store: the same semantics as Redis (expiry, CSeq
//! ordering, one-time nonces) inside one process, for the all-in-one binary.

use super::bans::{BanPolicy, LocalBans};
use super::calls::LocalCalls;
use super::mailboxes::LocalBoxes;
use super::{with_remaining, BindingStore, CallSlot, NonceUse, StoreError, Update, UpdateOutcome};
use asterism_proto::registrar::Binding;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Aor {
    /// contact → (record, expires at ms); the record holds Call-ID and CSeq.
    bindings: HashMap<String, (Binding, u64)>,
}

#[derive(Default)]
struct State {
    aors: HashMap<String, Aor>,
    /// nonce use → (forget at ms, the request that used it: "<cseq> <call-id>")
    nonces: HashMap<String, (u64, String)>,
    /// edge id → alive until ms
    edges: HashMap<String, u64>,
    bans: LocalBans,
    calls: LocalCalls,
    boxes: LocalBoxes,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned".into()))
    }
}

fn live(aor: &mut Aor, now_ms: u64) -> Vec<Binding> {
    aor.bindings.retain(|_, (_, exp)| *exp > now_ms);
    let mut v: Vec<Binding> = aor
        .bindings
        .values()
        .map(|(b, _)| with_remaining(b.clone(), now_ms))
        .collect();
    v.sort_by(|a, b| a.contact.cmp(&b.contact));
    v
}

/// What a nonce use finds: new, the same request again, or another request.
#[derive(PartialEq)]
enum Seen {
    First,
    Retry,
    Replay,
}

fn use_nonce_locked(
    state: &mut State,
    key: String,
    owner: &str,
    now_ms: u64,
    ttl_secs: u64,
) -> Seen {
    if state.nonces.len() > 100_000 {
        state.nonces.retain(|_, (exp, _)| *exp > now_ms);
    }
    match state.nonces.get(&key) {
        Some((exp, o)) if *exp > now_ms && o == owner => Seen::Retry,
        Some((exp, _)) if *exp > now_ms => Seen::Replay,
        _ => {
            state
                .nonces
                .insert(key, (now_ms + ttl_secs * 1000, owner.to_owned()));
            Seen::First
        }
    }
}

/// A retried request is answered only if the bindings are still as it left
/// them; after any later change it is a replay.
fn left_as_applied(aor: &Aor, u: &Update) -> bool {
    (!u.remove_all || aor.bindings.is_empty())
        && u.changes
            .iter()
            .all(|c| match aor.bindings.get(&c.contact) {
                None => c.expires_secs == 0,
                Some((b, _)) => c.expires_secs != 0 && b.call_id == u.call_id && b.cseq == u.cseq,
            })
}

#[async_trait]
impl BindingStore for MemoryStore {
    async fn update(&self, aor_name: &str, u: &Update) -> Result<UpdateOutcome, StoreError> {
        let mut state = self.lock()?;
        if let Some(left) = u
            .source_ip
            .as_deref()
            .and_then(|ip| state.bans.left(ip, u.now_ms))
        {
            return Ok(UpdateOutcome::Banned(left));
        }
        let owner = super::nonce_owner(u.cseq, &u.call_id);
        let used = match &u.replay_key {
            Some(key) => use_nonce_locked(
                &mut state,
                format!("{aor_name}:{key}"),
                &owner,
                u.now_ms,
                u.replay_ttl_secs,
            ),
            None => Seen::First,
        };
        if used == Seen::Replay {
            return Ok(UpdateOutcome::Replay);
        }
        let aor = state.aors.entry(aor_name.to_owned()).or_default();
        live(aor, u.now_ms);
        if used == Seen::Retry {
            return Ok(if left_as_applied(aor, u) {
                UpdateOutcome::Applied(live(aor, u.now_ms))
            } else {
                UpdateOutcome::Replay
            });
        }
        // RFC 3261 §10.3 step 7, per binding; any conflict aborts all.
        let out_of_order = |b: &Binding| b.call_id == u.call_id && b.cseq >= u.cseq;
        let conflict = if u.remove_all {
            aor.bindings.values().any(|(b, _)| out_of_order(b))
        } else {
            u.changes
                .iter()
                .filter_map(|c| aor.bindings.get(&c.contact))
                .any(|(b, _)| out_of_order(b))
        };
        if conflict {
            return Ok(UpdateOutcome::OutOfOrder);
        }
        if u.max_contacts > 0 {
            let mut held: std::collections::HashSet<&str> = if u.remove_all {
                Default::default()
            } else {
                aor.bindings.keys().map(String::as_str).collect()
            };
            for c in &u.changes {
                if c.expires_secs == 0 {
                    held.remove(c.contact.as_str());
                } else {
                    held.insert(&c.contact);
                }
            }
            if held.len() > u.max_contacts as usize {
                return Ok(UpdateOutcome::TooManyContacts);
            }
        }
        if u.remove_all {
            aor.bindings.clear();
        }
        for c in &u.changes {
            if c.expires_secs == 0 {
                aor.bindings.remove(&c.contact);
            } else {
                let exp = u.now_ms + u64::from(c.expires_secs) * 1000;
                let mut record = c.record.clone();
                record.call_id.clone_from(&u.call_id);
                record.cseq = u.cseq;
                aor.bindings.insert(c.contact.clone(), (record, exp));
            }
        }
        let bindings = live(aor, u.now_ms);
        Ok(UpdateOutcome::Applied(bindings))
    }

    async fn lookup(&self, aor: &str, now_ms: u64) -> Result<Vec<Binding>, StoreError> {
        let mut state = self.lock()?;
        Ok(state
            .aors
            .get_mut(aor)
            .map(|a| live(a, now_ms))
            .unwrap_or_default())
    }

    async fn list(&self, now_ms: u64) -> Result<Vec<(String, Vec<Binding>)>, StoreError> {
        let mut state = self.lock()?;
        let mut out: Vec<(String, Vec<Binding>)> = state
            .aors
            .iter_mut()
            .map(|(name, a)| (name.clone(), live(a, now_ms)))
            .filter(|(_, b)| !b.is_empty())
            .collect();
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
        let now_ms = crate::clock::now_ms();
        let mut state = self.lock()?;
        if let Some(left) = source_ip.and_then(|ip| state.bans.left(ip, now_ms)) {
            return Ok(NonceUse::Banned(left));
        }
        let used = use_nonce_locked(&mut state, format!("{aor}:{key}"), owner, now_ms, ttl_secs);
        Ok(match used {
            Seen::Replay => NonceUse::Replay,
            Seen::First | Seen::Retry => NonceUse::Accepted,
        })
    }

    async fn auth_failure(
        &self,
        ip: &str,
        user: &str,
        policy: &BanPolicy,
    ) -> Result<Option<u64>, StoreError> {
        let now_ms = crate::clock::now_ms();
        Ok(self.lock()?.bans.failure(ip, user, policy, now_ms))
    }

    async fn banned(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock()?.bans.left(ip, crate::clock::now_ms()))
    }

    async fn acquire_call(
        &self,
        user: &str,
        slot: &CallSlot,
        limit: u32,
        now_ms: u64,
    ) -> Result<Result<u32, u32>, StoreError> {
        let mut state = self.lock()?;
        let State { calls, edges, .. } = &mut *state;
        let wall = crate::clock::now_ms();
        let alive = |e: &str| edges.get(e).is_some_and(|until| *until > wall);
        Ok(calls.acquire(user, slot, limit, now_ms, alive))
    }

    async fn release_call(&self, user: &str, slot: &CallSlot) -> Result<(), StoreError> {
        self.lock()?.calls.release(user, slot);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }

    async fn set_mailbox(&self, id: &str, new: u32, old: u32) -> Result<u64, StoreError> {
        Ok(self.lock()?.boxes.set(id, new, old))
    }

    async fn mailboxes(&self) -> Result<(u64, Vec<(String, u32, u32)>), StoreError> {
        Ok(self.lock()?.boxes.all())
    }

    async fn mailbox_version(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.boxes.version)
    }

    async fn edge_alive(&self, edge_id: &str, _: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let until = crate::clock::now_ms() + ttl_secs * 1000;
        self.lock()?.edges.insert(edge_id.to_owned(), until);
        Ok(())
    }

    async fn edges_alive(&self, edge_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        let now = crate::clock::now_ms();
        let state = self.lock()?;
        Ok(edge_ids
            .iter()
            .map(|id| state.edges.get(id).is_some_and(|until| *until > now))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_honours_the_contract() {
        super::super::contract::run(&MemoryStore::new()).await;
    }
}
