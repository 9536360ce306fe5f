//! Where the Redis primary is. A plain `redis://` URL names it directly; a
//! `redis+sentinel://host:port,host:port/<master>[/<db>]` URL names Redis
//! Sentinels instead, and the primary is whatever they report now, asked
//! again after every connection failure so a failover is followed within a
//! request or two. `redis+cluster://` names Redis Cluster nodes
//! ([`super::cluster`]).

use super::StoreError;
use redis::{Client, RedisError};
use std::time::Duration;

const SCHEME: &str = "redis+sentinel://";

/// How to reach the primary.
pub enum Target {
    Direct(Client),
    Sentinel(Sentinels),
    /// Seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

pub struct Sentinels {
    addrs: Vec<String>,
    master: String,
    db: i64,
}

/// `host[:port],…` of a URL as `host:port` each (`default_port` when none).
pub fn host_list(hosts: &str, default_port: u16) -> Vec<String> {
    hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(':') {
                h.to_owned()
            } else {
                format!("{h}:{default_port}")
            }
        })
        .collect()
}

fn bad(url: &str, why: &str) -> StoreError {
    StoreError::Config(format!("bad Redis URL {url:?}: {why}"))
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        if let Some(nodes) = super::cluster::parse(url) {
            return nodes.map(Target::Cluster).map_err(|why| bad(url, &why));
        }
        let Some(rest) = url.strip_prefix(SCHEME) else {
            let client = Client::open(url).map_err(|e| bad(url, &e.to_string()))?;
            return Ok(Target::Direct(client));
        };
        let (hosts, path) = rest
            .split_once('/')
            .ok_or_else(|| bad(url, "expected redis+sentinel://host:port,.../master"))?;
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let master = parts
            .next()
            .ok_or_else(|| bad(url, "missing the master name"))?
            .to_owned();
        let db = match parts.next() {
            Some(d) => d
                .parse()
                .map_err(|_| bad(url, "database is not a number"))?,
            None => 0,
        };
        let addrs = host_list(hosts, 26379);
        if addrs.is_empty() {
            return Err(bad(url, "no sentinel address"));
        }
        Ok(Target::Sentinel(Sentinels { addrs, master, db }))
    }

    /// A client for the current primary (a cluster has several: see
    /// [`super::cluster::connect`]).
    pub async fn primary(&self) -> Result<Client, StoreError> {
        match self {
            Target::Direct(c) => Ok(c.clone()),
            Target::Sentinel(s) => s.primary().await,
            Target::Cluster(_) => Err(StoreError::Unavailable(
                "a cluster has no single primary".into(),
            )),
        }
    }

    /// The sentinels, when the primary is found through them.
    pub fn sentinels(&self) -> Option<&Sentinels> {
        match self {
            Target::Sentinel(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_sentinel(&self) -> bool {
        matches!(self, Target::Sentinel(_))
    }
}

impl Sentinels {
    /// `host:port` of the primary, if the sentinels report one with no
    /// failover under way (a primary they are replacing, or one they see as
    /// down, is not settled).
    pub async fn settled_primary(&self) -> Option<String> {
        for addr in &self.addrs {
            let Ok(mut conn) = connect(addr).await else {
                continue;
            };
            let reply: Result<Vec<String>, _> = redis::cmd("SENTINEL")
                .arg("MASTER")
                .arg(&self.master)
                .query_async(&mut conn)
                .await;
            let Ok(fields) = reply else { continue };
            let get = |k: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv[0] == k)
                    .and_then(|kv| kv.get(1).cloned())
            };
            let flags = get("flags").unwrap_or_default();
            let unsettled = ["failover_in_progress", "s_down", "o_down", "promoted"];
            if flags.split(',').any(|f| unsettled.contains(&f)) {
                return None;
            }
            return Some(format!("{}:{}", get("ip")?, get("port")?));
        }
        None
    }

    /// Ask each sentinel in turn; the first that knows the master answers.
    async fn primary(&self) -> Result<Client, StoreError> {
        let mut last = String::from("no sentinel answered");
        for addr in &self.addrs {
            match self.ask(addr).await {
                Ok((host, port)) => {
                    let url = format!("redis://{host}:{port}/{}", self.db);
                    return Client::open(url).map_err(|e| StoreError::Unavailable(e.to_string()));
                }
                Err(e) => last = format!("sentinel {addr}: {e}"),
            }
        }
        Err(StoreError::Unavailable(last))
    }

    async fn ask(&self, addr: &str) -> Result<(String, u16), RedisError> {
        let mut conn = connect(addr).await?;
        let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master)
            .query_async(&mut conn)
            .await?;
        reply.ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::Client,
                "unknown master",
                self.master.clone(),
            ))
        })
    }
}

async fn connect(addr: &str) -> Result<redis::aio::MultiplexedConnection, RedisError> {
    let client = Client::open(format!("redis://{addr}/"))?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// Whether an error means the connection (or the node behind it) is no
/// longer the primary to talk to, so the next request should look again.
pub fn lost_primary(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.code() == Some("READONLY")
        || e.code() == Some("MASTERDOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_parse() {
        let Target::Sentinel(s) =
            Target::parse("redis+sentinel://10.0.0.1:26379,sent-2/mymaster/3").unwrap()
        else {
            panic!("not sentinel");
        };
        assert_eq!(s.addrs, ["10.0.0.1:26379", "sent-2:26379"]);
        assert_eq!(s.master, "mymaster");
        assert_eq!(s.db, 3);
        assert!(matches!(
            Target::parse("redis://127.0.0.1:6379/").unwrap(),
            Target::Direct(_)
        ));
    }

    #[test]
    fn bad_sentinel_urls_are_refused() {
        for url in [
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/",
            "redis+sentinel:///m",
            "redis+sentinel://h:1/m/x",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }
}
