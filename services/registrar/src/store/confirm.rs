//! Whether a binding write counts. Redis replicates asynchronously, so a
//! write counts only once `min_replicas` replicas have it (`WAIT`): a
//! primary being failed over still accepts writes its promoted replica never
//! sees. The one exception is a primary Sentinel has just promoted, before
//! any replica is back: what it holds is what survives, and refusing would
//! only turn a failover into seconds of 503s.
//!
//! `WAIT` blocks the (shared, multiplexed) connection for its whole timeout
//! when too few replicas can answer, queueing every request behind it; so
//! the replication state is looked at first (`INFO replication`, at most
//! every 250 ms) and `WAIT` runs only when enough replicas are online and
//! acknowledging.

use super::cluster::Conn;
use super::sentinel::Sentinels;
use redis::RedisError;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a look at the replication state holds.
const STATE_FOR: Duration = Duration::from_millis(250);
/// How long the sentinels' answer on the settled primary holds.
const SETTLED_FOR: Duration = Duration::from_millis(500);

/// What a node is, for a write its replicas did not confirm.
#[derive(Clone, Copy, Debug)]
enum Standing {
    /// The primary, its replicas merely behind: refuse, keep the connection.
    Primary,
    /// Just promoted, no replica online yet: accept.
    AloneAfterFailover,
    /// No longer (or soon no longer) the primary: refuse and look again.
    Replaced,
}

/// What became of a write.
pub enum Verdict {
    Confirmed,
    /// Not enough replicas have it; the node is still the primary.
    Refused(String),
    /// The node is no longer the primary: look for the new one.
    Replaced,
    /// `WAIT` itself failed.
    Failed(RedisError),
}

pub struct Confirmer {
    /// Replicas that must confirm a write before it counts.
    pub min_replicas: u32,
    /// host:port the current connection reaches (behind Sentinel).
    primary_addr: Mutex<Option<String>>,
    /// The sentinels' last answer on the settled primary, and when.
    settled: Mutex<Option<(Instant, Option<String>)>>,
    /// The node's standing and replicas online when last looked at, and when.
    state: Mutex<Option<(Instant, Standing, usize)>>,
}

impl Confirmer {
    pub fn new(min_replicas: u32) -> Confirmer {
        Confirmer {
            min_replicas,
            primary_addr: Mutex::new(None),
            settled: Mutex::new(None),
            state: Mutex::new(None),
        }
    }

    /// A new connection, to `addr`: what was known of the old node is void.
    pub async fn connected(&self, addr: String) {
        *self.primary_addr.lock().await = Some(addr);
        *self.state.lock().await = None;
    }

    /// Whether the write just made on `conn` counts.
    pub async fn confirm(&self, conn: &mut Conn, sentinels: Option<&Sentinels>) -> Verdict {
        if self.min_replicas == 0 {
            return Verdict::Confirmed;
        }
        let last = *self.state.lock().await;
        let (st, online) = match last {
            Some((at, st, online)) if at.elapsed() < STATE_FOR => (st, online),
            _ => self.look(conn, sentinels).await,
        };
        if online < self.min_replicas as usize {
            return self.unconfirmed(st, 0).await;
        }
        let wait = redis::cmd("WAIT")
            .arg(self.min_replicas)
            .arg(200)
            .query_async::<i64>(conn)
            .await;
        match wait {
            Ok(n) if n >= i64::from(self.min_replicas) => Verdict::Confirmed,
            Ok(n) => {
                let (st, _) = self.look(conn, sentinels).await;
                self.unconfirmed(st, n).await
            }
            Err(e) => Verdict::Failed(e),
        }
    }

    async fn unconfirmed(&self, st: Standing, n: i64) -> Verdict {
        tracing::debug!(standing = ?st, confirmed = n, "write not confirmed by enough replicas");
        match st {
            Standing::AloneAfterFailover => Verdict::Confirmed,
            Standing::Primary => Verdict::Refused(format!(
                "{n} of {} replicas confirmed the write",
                self.min_replicas
            )),
            Standing::Replaced => {
                *self.state.lock().await = None;
                Verdict::Replaced
            }
        }
    }

    /// Look at where the connection's node stands, and remember it. Behind
    /// Sentinel, a primary with no replica online that the sentinels report
    /// as primary with no failover under way has just been promoted. A
    /// primary being replaced loses its replica too, but then the sentinels
    /// report the failover (or the new primary), so writes to it are
    /// refused and none is lost with it.
    async fn look(&self, conn: &mut Conn, sentinels: Option<&Sentinels>) -> (Standing, usize) {
        let looked = self.standing(conn, sentinels).await;
        *self.state.lock().await = Some((Instant::now(), looked.0, looked.1));
        looked
    }

    async fn standing(&self, conn: &mut Conn, sentinels: Option<&Sentinels>) -> (Standing, usize) {
        let info: String = match redis::cmd("INFO")
            .arg("replication")
            .query_async(conn)
            .await
        {
            Ok(i) => i,
            Err(_) => return (Standing::Replaced, 0),
        };
        let online = acknowledging_replicas(&info);
        if !info.lines().any(|l| l.trim() == "role:master") {
            return (Standing::Replaced, online);
        }
        let Some(sentinels) = sentinels else {
            return (Standing::Primary, online);
        };
        if online >= self.min_replicas as usize {
            return (Standing::Primary, online);
        }
        let settled = self.settled_primary(sentinels).await;
        let ours = self.primary_addr.lock().await.clone();
        if settled.is_some() && settled != ours {
            (Standing::Replaced, online)
        } else if online == 0 && settled.is_some() {
            (Standing::AloneAfterFailover, online)
        } else {
            (Standing::Primary, online)
        }
    }

    /// The sentinels' settled primary, asked at most every [`SETTLED_FOR`].
    async fn settled_primary(&self, sentinels: &Sentinels) -> Option<String> {
        let mut cache = self.settled.lock().await;
        if let Some((at, addr)) = cache.as_ref() {
            if at.elapsed() < SETTLED_FOR {
                return addr.clone();
            }
        }
        let addr = sentinels.settled_primary().await;
        *cache = Some((Instant::now(), addr.clone()));
        addr
    }
}

/// Replicas online and acknowledging in `INFO replication` (a replica
/// loading its full resync after a failover is "online" but answers no
/// `WAIT` until it is done: its lag grows).
fn acknowledging_replicas(info: &str) -> usize {
    info.lines()
        .filter(|l| l.starts_with("slave") && l.contains("state=online"))
        .filter(|l| {
            l.split(',')
                .find_map(|kv| kv.strip_prefix("lag="))
                .and_then(|lag| lag.trim().parse::<u32>().ok())
                .is_some_and(|lag| lag <= 1)
        })
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_online_acknowledging_replicas_count() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n\
            slave0:ip=10.0.0.2,port=6379,state=online,offset=100,lag=0\r\n\
            slave1:ip=10.0.0.3,port=6379,state=online,offset=40,lag=7\r\n\
            slave2:ip=10.0.0.4,port=6379,state=wait_bgsave,offset=0,lag=0\r\n";
        assert_eq!(super::acknowledging_replicas(info), 1);
        assert_eq!(super::acknowledging_replicas("role:master\r\n"), 0);
    }
}
