//! Redis Cluster. `redis+cluster://host:port,host:port` names some nodes;
//! the client learns the slot map from them and sends each command to the
//! primary owning its key's slot. Every key of one AOR carries the `{aor}`
//! hash tag, so a REGISTER's script touches one slot on one primary, as
//! Cluster requires. Listing all AORs scans every primary in turn.

use super::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

pub const SCHEME: &str = "redis+cluster://";

/// The store's connection: one server (direct or the primary Sentinel
/// reports) or a cluster.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Every key matching `pattern`: SCAN on the one server, or on every
    /// primary of the cluster.
    pub async fn scan(&mut self, pattern: &str) -> Result<Vec<String>, redis::RedisError> {
        let single = match self {
            Conn::Cluster(c) => {
                return scan(c, pattern).await.map_err(|e| {
                    redis::RedisError::from((redis::ErrorKind::Io, "cluster scan", e.to_string()))
                })
            }
            Conn::Single(c) => c,
        };
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(single)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

/// `host:port` seed nodes of a `redis+cluster://` URL.
pub fn parse(url: &str) -> Option<Result<Vec<String>, String>> {
    let rest = url.strip_prefix(SCHEME)?;
    let hosts = rest.trim_end_matches('/');
    if hosts.contains('/') {
        return Some(Err(
            "Redis Cluster has no databases: nothing may follow the nodes".into(),
        ));
    }
    let nodes = super::sentinel::host_list(hosts, 6379);
    Some(if nodes.is_empty() {
        Err("no cluster node".into())
    } else {
        Ok(nodes)
    })
}

pub async fn connect(nodes: &[String]) -> Result<ClusterConnection, StoreError> {
    let urls = nodes.iter().map(|n| format!("redis://{n}/"));
    redis::cluster::ClusterClient::builder(urls)
        .connection_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(2))
        .retries(2)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
        .get_async_connection()
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Every key matching `pattern` on every primary of the cluster.
pub async fn scan(conn: &mut ClusterConnection, pattern: &str) -> Result<Vec<String>, StoreError> {
    fn unavailable(e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }
    let nodes = conn
        .route_command(
            redis::cmd("CLUSTER").arg("NODES").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await
        .map_err(unavailable)?;
    let text: String = redis::from_redis_value(nodes).map_err(unavailable)?;
    let mut keys = Vec::new();
    for (host, port) in primaries(&text) {
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000);
            let at = SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port,
            };
            let reply = conn
                .route_command(cmd, RoutingInfo::SingleNode(at))
                .await
                .map_err(unavailable)?;
            let (next, batch): (u64, Vec<String>) =
                redis::from_redis_value(reply).map_err(unavailable)?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(keys)
}

/// Primaries' addresses from `CLUSTER NODES`
/// (`<id> <ip:port@cport[,hostname]> <flags> …`), failed ones left out.
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_, addr, flags) = (f.next()?, f.next()?, f.next()?);
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                return None;
            }
            let hostport = addr.split(['@', ',']).next()?;
            let (host, port) = hostport.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_parse() {
        assert_eq!(
            parse("redis+cluster://10.0.0.1:7000,redis-2/")
                .unwrap()
                .unwrap(),
            ["10.0.0.1:7000", "redis-2:6379"]
        );
        assert!(parse("redis+cluster://").unwrap().is_err());
        assert!(parse("redis+cluster://h:1/3").unwrap().is_err());
        assert!(parse("redis://h:1/").is_none());
    }

    #[test]
    fn primaries_come_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
c3 127.0.0.1:7003@17003 slave b2 0 1 2 connected
d4 127.0.0.1:7002@17002 master,fail - 0 1 3 connected
e5 10.1.0.9:7004@17004,redis-4 master - 0 1 4 connected 10923-16383
";
        assert_eq!(
            primaries(nodes),
            [
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001),
                ("10.1.0.9".to_owned(), 7004)
            ]
        );
    }
}
