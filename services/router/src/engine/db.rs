//! The AstDB as one call sees it, without I/O in the engine: a priority
//! that mentions the database is first expanded "dry" to learn which keys
//! it reads; the engine asks for them ([`super::Next::Db`] with
//! [`DbRequest::Get`]) and runs the priority once the values are in its
//! cache. Writes (`Set(DB(…)=…)`, `DB_DELETE`, `DBdel`, `DBdeltree`) go to
//! the cache at once and are handed out as [`DbRequest::Write`] before the
//! call goes on, so the next priority, and other calls after it, see them.

use crate::astdb::{full_key, under};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbOp {
    Put(String, String),
    Del(String),
    DelTree(String),
}

/// What the call needs from the database before it can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbRequest {
    /// Fetch these keys, then [`super::Call::db_values`].
    Get(Vec<String>),
    /// Apply these, in order (nothing to give back).
    Write(Vec<DbOp>),
}

/// Rounds of fetching one priority may take (a key naming another key).
pub const MAX_FETCH_ROUNDS: u32 = 8;

/// Values one call keeps cached; past it the cache starts afresh (what it
/// wrote is handed out first), so a looping dialplan cannot grow it.
pub const MAX_CACHED: usize = 4096;

#[derive(Default)]
pub struct DbCache {
    values: RefCell<HashMap<String, Option<String>>>,
    misses: RefCell<Vec<String>>,
    ops: RefCell<Vec<DbOp>>,
    /// Expanding to learn the keys: record misses, change nothing.
    pub(super) dry: Cell<bool>,
    /// `${DB_RESULT}` set by DB_EXISTS, for the call's variables.
    pub(super) result: RefCell<Option<String>>,
    pub(super) rounds: Cell<u32>,
}

impl DbCache {
    /// `DB(family/key)`: the value, or empty (and noted as missing).
    pub fn read(&self, family_key: &str) -> Option<String> {
        let key = full_key(family_key);
        match self.values.borrow().get(&key) {
            Some(v) => v.clone(),
            None => {
                self.misses.borrow_mut().push(key);
                None
            }
        }
    }

    pub fn put(&mut self, family_key: &str, value: &str) {
        let key = full_key(family_key);
        self.values
            .borrow_mut()
            .insert(key.clone(), Some(value.to_owned()));
        self.ops.borrow_mut().push(DbOp::Put(key, value.to_owned()));
    }

    /// `DB_DELETE` (from a function, so through `&self`) and `DBdel`.
    pub fn delete(&self, family_key: &str) -> Option<String> {
        let value = self.read(family_key);
        if !self.dry.get() {
            // Gone at once: a read later in the same line sees it gone.
            let key = full_key(family_key);
            self.values.borrow_mut().insert(key.clone(), None);
            self.ops.borrow_mut().push(DbOp::Del(key));
        }
        value
    }

    pub fn delete_tree(&mut self, tree: &str) {
        let tree = full_key(tree);
        for (k, v) in self.values.get_mut().iter_mut() {
            if under(&tree, k) {
                *v = None;
            }
        }
        self.ops.borrow_mut().push(DbOp::DelTree(tree));
    }

    /// Values fetched for [`DbRequest::Get`].
    pub fn loaded(&mut self, values: impl IntoIterator<Item = (String, Option<String>)>) {
        self.values.get_mut().extend(values);
    }

    pub fn take_misses(&self) -> Vec<String> {
        let mut m = std::mem::take(&mut *self.misses.borrow_mut());
        m.sort();
        m.dedup();
        m
    }

    pub fn take_ops(&mut self) -> Vec<DbOp> {
        let ops = std::mem::take(self.ops.get_mut());
        if self.values.get_mut().len() > MAX_CACHED {
            self.values.get_mut().clear();
        }
        ops
    }
}

/// Whether a priority's text may touch the database (`DB(`, `DB_EXISTS(`,
/// `DB_DELETE(`, `DBdel`, `DBdeltree`), checked without allocating.
pub fn mentions_db(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| w[0].eq_ignore_ascii_case(&b'd') && w[1].eq_ignore_ascii_case(&b'b'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_of_one_call_is_bounded() {
        let mut c = DbCache::default();
        c.loaded((0..MAX_CACHED + 1).map(|i| (format!("/f/{i}"), Some("v".to_owned()))));
        c.put("f/new", "x");
        assert_eq!(
            c.take_ops(),
            [DbOp::Put("/f/new".into(), "x".into())],
            "writes first"
        );
        // Read again from the store from now on.
        assert_eq!(c.read("f/1"), None);
        assert_eq!(c.take_misses(), ["/f/1"]);
    }
}
