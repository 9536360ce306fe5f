//! The server transactions' table. Under REGISTER load an edge keeps some
//! 250,000 answered transactions (Timer J holds each 32 s over UDP). In a
//! standard `HashMap` each slot held the key and entry inline (256 bytes),
//! so every doubling moved them all into a fresh 100-250 MB allocation the
//! kernel first had to zero, rehashing every key on the way: the
//! transaction layer — and with it every SIP message — stopped for a few
//! hundred ms each time (`bench/register_load.py`, p99 from 20 to 600 ms).
//! Here a slot is the key's hash and a pointer (16 bytes), so growing moves
//! 16 bytes per transaction and hashes nothing, and the table is split in
//! [`SHARDS`] that each grow on their own. Keys are hashed once, with the
//! standard library's randomly keyed SipHash (branches come from strangers).

use hashbrown::hash_table::{Entry, HashTable};
use std::hash::{BuildHasher, Hash, RandomState};

pub const SHARDS: usize = 64;

/// A transaction: its key's hash (to grow without hashing again) and the
/// key and value, boxed.
type Slot<K, V> = (u64, Box<(K, V)>);

pub struct Shards<K, V> {
    hasher: RandomState,
    shards: Vec<HashTable<Slot<K, V>>>,
    len: usize,
}

impl<K: Hash + Eq, V> Default for Shards<K, V> {
    fn default() -> Self {
        Shards {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            len: 0,
        }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Shards<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards").field("len", &self.len).finish()
    }
}

impl<K: Hash + Eq, V> Shards<K, V> {
    /// The key's hash and its shard: bits the tables themselves do not use
    /// (they take the low bits for the slot and the top seven as a tag).
    fn locate(&self, key: &K) -> (u64, usize) {
        let h = self.hasher.hash_one(key);
        (h, ((h >> 32) as usize) % SHARDS)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (h, s) = self.locate(key);
        self.shards[s]
            .find_mut(h, |(sh, kv)| *sh == h && kv.0 == *key)
            .map(|(_, kv)| &mut kv.1)
    }

    /// Insert, or replace the value of an equal key (returned).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let (h, s) = self.locate(&key);
        match self.shards[s].entry(h, |(sh, kv)| *sh == h && kv.0 == key, |(sh, _)| *sh) {
            Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().1 .1, value)),
            Entry::Vacant(v) => {
                v.insert((h, Box::new((key, value))));
                self.len += 1;
                None
            }
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (h, s) = self.locate(key);
        let found = self.shards[s]
            .find_entry(h, |(sh, kv)| *sh == h && kv.0 == *key)
            .ok()?;
        let ((_, kv), _) = found.remove();
        self.len -= 1;
        Some(kv.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut m: Shards<String, u32> = Shards::default();
        assert!(m.is_empty());
        for i in 0..10_000u32 {
            assert_eq!(m.insert(format!("z9hG4bK-{i}"), i), None);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.insert("z9hG4bK-7".into(), 70), Some(7), "replaced");
        assert_eq!(m.len(), 10_000);
        *m.get_mut(&"z9hG4bK-8".to_owned()).unwrap() += 1;
        assert_eq!(m.remove(&"z9hG4bK-8".to_owned()), Some(9));
        assert_eq!(m.remove(&"z9hG4bK-8".to_owned()), None);
        assert_eq!(m.get_mut(&"z9hG4bK-7".to_owned()).copied(), Some(70));
        assert_eq!(m.len(), 9_999);
        // Spread over every shard, not piled into a few.
        let used = m.shards.iter().filter(|t| !t.is_empty()).count();
        assert_eq!(used, SHARDS);
        for i in 0..10_000u32 {
            m.remove(&format!("z9hG4bK-{i}"));
        }
        assert!(m.is_empty());
    }
}
