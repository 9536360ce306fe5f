//! Asterisk's AstDB (`main/db.c`): `/family/key` → value, what the
//! dialplan's `DB()`, `DB_EXISTS()`, `DB_DELETE()`, `DBdel` and `DBdeltree`
//! read and write and `database show|get|put|del|deltree` manage. Kept in
//! Redis ([`redis`]) so every router replica sees the same database (one
//! Asterisk has one), or in memory ([`Memory`]) when Redis is not
//! configured. Keys are Asterisk's full paths: `/family/key`.

pub mod redis;

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("AstDB unavailable: {0}")]
pub struct DbError(pub String);

/// `family/key` (as DB() takes it) → `/family/key`.
pub fn full_key(family_key: &str) -> String {
    format!("/{}", family_key.trim().trim_matches('/'))
}

/// The key prefix of a tree: `/family` or `/family/keytree`, matching
/// itself and what is under it (not `/familyX`).
pub fn under(tree: &str, key: &str) -> bool {
    key == tree || key.strip_prefix(tree).is_some_and(|r| r.starts_with('/'))
}

#[async_trait]
pub trait AstDb: Send + Sync {
    /// The values of these keys (None: absent).
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<String>>, DbError>;
    async fn put(&self, key: &str, value: &str) -> Result<(), DbError>;
    /// Whether it existed.
    async fn del(&self, key: &str) -> Result<bool, DbError>;
    /// Every key under `tree` (`/family[/keytree]`, or `` for all), sorted.
    async fn show(&self, tree: &str) -> Result<Vec<(String, String)>, DbError>;
    /// Remove every key under `tree`; how many.
    async fn deltree(&self, tree: &str) -> Result<u32, DbError>;
}

/// The database in this process (no Redis configured).
#[derive(Default)]
pub struct Memory(Mutex<BTreeMap<String, String>>);

/// How many keys the in-memory database holds at most (a dialplan writing
/// a key per call cannot grow it without bound).
pub const MEMORY_LIMIT: usize = 1_000_000;

impl Memory {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl AstDb for Memory {
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<String>>, DbError> {
        let m = self.map();
        Ok(keys.iter().map(|k| m.get(k).cloned()).collect())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), DbError> {
        let mut m = self.map();
        if m.len() >= MEMORY_LIMIT && !m.contains_key(key) {
            return Err(DbError(format!("more than {MEMORY_LIMIT} keys")));
        }
        m.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    async fn del(&self, key: &str) -> Result<bool, DbError> {
        Ok(self.map().remove(key).is_some())
    }

    async fn show(&self, tree: &str) -> Result<Vec<(String, String)>, DbError> {
        Ok(self
            .map()
            .iter()
            .filter(|(k, _)| tree.is_empty() || under(tree, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn deltree(&self, tree: &str) -> Result<u32, DbError> {
        let mut m = self.map();
        let before = m.len();
        m.retain(|k, _| !(tree.is_empty() || under(tree, k)));
        Ok((before - m.len()) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_database_as_asterisk_keys_it() {
        let db = Memory::default();
        db.put(&full_key("cidname/5551234"), "Alice").await.unwrap();
        db.put(&full_key("dnd/61"), "YES").await.unwrap();
        db.put(&full_key("dnd/62"), "YES").await.unwrap();
        db.put(&full_key("dndx/1"), "x").await.unwrap();
        let got = db
            .get(&[full_key("dnd/61"), full_key("dnd/63")])
            .await
            .unwrap();
        assert_eq!(got, [Some("YES".to_owned()), None]);
        assert_eq!(db.show("/dnd").await.unwrap().len(), 2, "not /dndx");
        assert_eq!(db.deltree("/dnd").await.unwrap(), 2);
        assert!(db.del("/cidname/5551234").await.unwrap());
        assert!(!db.del("/cidname/5551234").await.unwrap());
        assert_eq!(
            db.show("").await.unwrap(),
            [("/dndx/1".to_owned(), "x".to_owned())]
        );
    }
}
