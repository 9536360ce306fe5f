//! Message-waiting counts, where every registrar (and so every edge) sees
//! them: one Redis hash, mailbox → `new/old`, and a version number that
//! every change increments, both under the `{mwi}` hash tag so one script
//! reaches them in a cluster. Edges ask for the counts again only when the
//! version moved (see `Registrar.Mailboxes`), so a registrar polls one
//! small key rather than holding a pub/sub connection per Redis topology.

use super::redis::RedisStore;
use super::StoreError;
use redis::Script;
use std::collections::HashMap;

/// KEYS[1] the hash, KEYS[2] the version; ARGV[1] mailbox, ARGV[2] counts.
/// The new version.
const SET_LUA: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
";

/// KEYS[1] the hash, KEYS[2] the version: {version, field, value, …}.
const ALL_LUA: &str = r"
local v = tonumber(redis.call('GET', KEYS[2]) or '0')
local out = {v}
for _, x in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = x end
return out
";

/// Counts as stored: `new/old`.
pub fn encode(new: u32, old: u32) -> String {
    format!("{new}/{old}")
}

/// `new/old` back; anything else (a hand-edited key) counts as none.
pub fn decode(s: &str) -> (u32, u32) {
    let (n, o) = s.split_once('/').unwrap_or(("0", "0"));
    (n.trim().parse().unwrap_or(0), o.trim().parse().unwrap_or(0))
}

impl RedisStore {
    fn mwi_keys(&self) -> (String, String) {
        (
            format!("{}{{mwi}}:boxes", self.prefix()),
            format!("{}{{mwi}}:version", self.prefix()),
        )
    }

    pub(super) async fn set_box(&self, id: &str, new: u32, old: u32) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let (boxes, version) = self.mwi_keys();
        let set = Script::new(SET_LUA)
            .key(boxes)
            .key(version)
            .arg(id)
            .arg(encode(new, old))
            .invoke_async::<u64>(&mut conn)
            .await;
        match set {
            Ok(v) => {
                self.replicate(&mut conn).await?;
                Ok(v)
            }
            Err(e) => Err(self.fail(e).await),
        }
    }

    pub(super) async fn all_boxes(&self) -> Result<(u64, Vec<(String, u32, u32)>), StoreError> {
        let mut conn = self.conn().await?;
        let (boxes, version) = self.mwi_keys();
        let all = Script::new(ALL_LUA)
            .key(boxes)
            .key(version)
            .invoke_async::<Vec<redis::Value>>(&mut conn)
            .await;
        let all = match all {
            Ok(a) => a,
            Err(e) => return Err(self.fail(e).await),
        };
        let mut items = all.into_iter();
        let version = match items.next() {
            Some(v) => redis::from_redis_value::<u64>(v).unwrap_or(0),
            None => 0,
        };
        let fields: Vec<String> = items
            .filter_map(|v| redis::from_redis_value::<String>(v).ok())
            .collect();
        let out = fields
            .chunks_exact(2)
            .map(|kv| {
                let (n, o) = decode(&kv[1]);
                (kv[0].clone(), n, o)
            })
            .collect();
        Ok((version, out))
    }

    pub(super) async fn box_version(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let (_, version) = self.mwi_keys();
        match redis::cmd("GET")
            .arg(version)
            .query_async::<Option<u64>>(&mut conn)
            .await
        {
            Ok(v) => Ok(v.unwrap_or(0)),
            Err(e) => Err(self.fail(e).await),
        }
    }
}

/// The same in one process.
#[derive(Default)]
pub struct LocalBoxes {
    boxes: HashMap<String, (u32, u32)>,
    pub version: u64,
}

impl LocalBoxes {
    pub fn set(&mut self, id: &str, new: u32, old: u32) -> u64 {
        self.boxes.insert(id.to_owned(), (new, old));
        self.version += 1;
        self.version
    }

    pub fn all(&self) -> (u64, Vec<(String, u32, u32)>) {
        let mut out: Vec<_> = self
            .boxes
            .iter()
            .map(|(k, (n, o))| (k.clone(), *n, *o))
            .collect();
        out.sort();
        (self.version, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_and_junk_is_none() {
        assert_eq!(decode(&encode(2, 7)), (2, 7));
        assert_eq!(decode("junk"), (0, 0));
        assert_eq!(decode("3/x"), (3, 0));
    }
}
