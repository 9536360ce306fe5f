//! The AstDB in Redis: each `/family/key` is a string key
//! `<prefix>astdb/family/key`, so any router replica (and `database show`)
//! sees what another wrote. Reached as the registrar reaches Redis
//! (direct, behind Sentinel, or a cluster; the same URL and prefix
//! settings), reconnecting by itself after a failure; a tree is listed
//! or removed with SCAN (on every primary of a cluster).

use super::{under, AstDb, DbError};
use asterism_registrar::store::cluster::{self, Conn};
use asterism_registrar::store::sentinel::Target;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::time::Duration;
use tokio::sync::Mutex;

pub struct RedisDb {
    target: Target,
    conn: Mutex<Option<Conn>>,
    prefix: String,
}

fn unavailable(e: impl std::fmt::Display) -> DbError {
    DbError(e.to_string())
}

/// `*`, `?`, `[`, `]` and `\` escaped for a SCAN MATCH pattern.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisDb {
    /// Does not connect yet: the first request does.
    pub fn new(url: &str, prefix: &str) -> Result<RedisDb, String> {
        let target = Target::parse(url).map_err(|e| e.to_string())?;
        Ok(RedisDb {
            target,
            conn: Mutex::new(None),
            prefix: format!("{prefix}astdb"),
        })
    }

    async fn conn(&self) -> Result<Conn, DbError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = match &self.target {
            Target::Cluster(nodes) => {
                Conn::Cluster(cluster::connect(nodes).await.map_err(unavailable)?)
            }
            _ => {
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(1);
                let client = self.target.primary().await.map_err(unavailable)?;
                Conn::Single(
                    ConnectionManager::new_with_config(client, cfg)
                        .await
                        .map_err(unavailable)?,
                )
            }
        };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forget the connection after a failure (a new primary, a restart).
    async fn fail(&self, e: redis::RedisError) -> DbError {
        if !matches!(self.target, Target::Direct(_)) {
            *self.conn.lock().await = None;
        }
        unavailable(e)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Every stored key under `tree`, as AstDB keys.
    async fn keys(&self, tree: &str) -> Result<Vec<String>, DbError> {
        let pattern = format!("{}{}*", glob_escape(&self.prefix), glob_escape(tree));
        let mut conn = self.conn().await?;
        let found = match conn.scan(&pattern).await {
            Ok(k) => k,
            Err(e) => return Err(self.fail(e).await),
        };
        let mut keys: Vec<String> = found
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .filter(|k| tree.is_empty() || under(tree, k))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[async_trait]
impl AstDb for RedisDb {
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<String>>, DbError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::with_capacity(keys.len());
        // One GET each: in a cluster the keys live on different slots.
        for k in keys {
            match conn.get::<_, Option<String>>(self.key(k)).await {
                Ok(v) => out.push(v),
                Err(e) => return Err(self.fail(e).await),
            }
        }
        Ok(out)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        match conn.set::<_, _, ()>(self.key(key), value).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn del(&self, key: &str) -> Result<bool, DbError> {
        let mut conn = self.conn().await?;
        match conn.del::<_, u32>(self.key(key)).await {
            Ok(n) => Ok(n > 0),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn show(&self, tree: &str) -> Result<Vec<(String, String)>, DbError> {
        let keys = self.keys(tree).await?;
        let values = self.get(&keys).await?;
        Ok(keys
            .into_iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    async fn deltree(&self, tree: &str) -> Result<u32, DbError> {
        let mut removed = 0;
        for k in self.keys(tree).await? {
            if self.del(&k).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
