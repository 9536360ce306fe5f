//! The open TCP connections: each one's write queue, whether it has
//! authenticated, and the limits that keep what strangers can make us hold
//! bounded — connections in all and per source address, unauthenticated
//! ones at once (Asterisk's `tcpauthlimit`), and the deadlines each
//! connection lives by (`tcpauthtimeout`, idle, per message).

use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Limits of the TCP listener. The defaults suit an office of hundreds of
/// TCP phones behind one NAT address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_per_ip: usize,
    /// Connections that have not authenticated yet, at once.
    pub auth_limit: usize,
    /// Time a connection has to authenticate (a REGISTER or INVITE that
    /// passes digest authentication) before it is closed.
    pub auth_timeout: Duration,
    /// An authenticated connection with nothing received for this long is
    /// closed (phones re-register and send keep-alives well within it).
    pub idle_timeout: Duration,
    /// Once a message has begun, the rest must arrive within this (a
    /// 1-byte-per-second drip is cut off).
    pub message_timeout: Duration,
    /// Messages queued for writing; a peer that does not read gets its
    /// connection closed rather than growing the queue.
    pub write_queue: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 8192,
            max_per_ip: 1024,
            auth_limit: 256,
            auth_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            message_timeout: Duration::from_secs(10),
            write_queue: 256,
        }
    }
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooMany,
    TooManyFromIp,
    TooManyUnauthenticated,
}

/// What the connection's own task keeps of its table entry.
pub(crate) struct Admitted {
    pub id: u64,
    pub authed: Arc<AtomicBool>,
    pub kill: Arc<Notify>,
}

struct Conn {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    authed: Arc<AtomicBool>,
    kill: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    conns: HashMap<SocketAddr, Conn>,
    per_ip: HashMap<IpAddr, usize>,
    unauthenticated: usize,
    next_id: u64,
}

/// Open connections by remote address. Entries are removed by the
/// connection's own guard when it closes.
#[derive(Clone, Default)]
pub(crate) struct ConnTable {
    table: Arc<Mutex<Table>>,
    pub limits: TcpLimits,
}

impl ConnTable {
    pub fn new(limits: TcpLimits) -> Self {
        ConnTable {
            table: Arc::default(),
            limits,
        }
    }

    /// Take a new connection from `remote` writing through `tx`, unless a
    /// limit refuses it.
    pub fn admit(&self, remote: SocketAddr, tx: mpsc::Sender<Bytes>) -> Result<Admitted, Refusal> {
        let mut t = self.table.lock().map_err(|_| Refusal::TooMany)?;
        let l = &self.limits;
        if t.conns.len() >= l.max_connections {
            return Err(Refusal::TooMany);
        }
        if t.per_ip.get(&remote.ip()).copied().unwrap_or(0) >= l.max_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        if t.unauthenticated >= l.auth_limit {
            return Err(Refusal::TooManyUnauthenticated);
        }
        t.next_id += 1;
        let id = t.next_id;
        let authed = Arc::new(AtomicBool::new(false));
        let kill = Arc::new(Notify::new());
        let conn = Conn {
            id,
            tx,
            authed: authed.clone(),
            kill: kill.clone(),
        };
        if let Some(old) = t.conns.insert(remote, conn) {
            // The same address again: the old connection is gone.
            old.kill.notify_one();
            forget(&mut t, remote, &old);
        }
        *t.per_ip.entry(remote.ip()).or_insert(0) += 1;
        t.unauthenticated += 1;
        Ok(Admitted { id, authed, kill })
    }

    /// The write queue of the connection to `addr`, with its kill switch.
    pub fn get(&self, addr: &SocketAddr) -> Option<(mpsc::Sender<Bytes>, Arc<Notify>)> {
        let t = self.table.lock().ok()?;
        t.conns.get(addr).map(|c| (c.tx.clone(), c.kill.clone()))
    }

    /// The connection to `addr` authenticated: the stricter limits and
    /// deadlines of strangers no longer apply to it.
    pub fn authenticated(&self, addr: &SocketAddr) {
        let Ok(mut t) = self.table.lock() else {
            return;
        };
        let newly = t
            .conns
            .get(addr)
            .is_some_and(|c| !c.authed.swap(true, Ordering::Relaxed));
        if newly {
            t.unauthenticated = t.unauthenticated.saturating_sub(1);
        }
    }

    /// Close the connection to `addr` (its peer does not read).
    pub fn kill(&self, addr: &SocketAddr) {
        if let Some((_, kill)) = self.get(addr) {
            kill.notify_one();
        }
    }

    /// Connection `id` to `addr` has closed.
    pub fn remove(&self, addr: &SocketAddr, id: u64) {
        let Ok(mut t) = self.table.lock() else {
            return;
        };
        if t.conns.get(addr).is_some_and(|c| c.id == id) {
            if let Some(c) = t.conns.remove(addr) {
                forget(&mut t, *addr, &c);
            }
        }
    }

    /// (open, unauthenticated) connections now.
    pub fn counts(&self) -> (usize, usize) {
        self.table
            .lock()
            .map(|t| (t.conns.len(), t.unauthenticated))
            .unwrap_or((0, 0))
    }
}

/// Drop `c`'s share of the counters.
fn forget(t: &mut Table, addr: SocketAddr, c: &Conn) {
    if let Some(n) = t.per_ip.get_mut(&addr.ip()) {
        *n -= 1;
        if *n == 0 {
            t.per_ip.remove(&addr.ip());
        }
    }
    if !c.authed.load(Ordering::Relaxed) {
        t.unauthenticated = t.unauthenticated.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TcpLimits {
        TcpLimits {
            max_connections: 3,
            max_per_ip: 2,
            auth_limit: 2,
            ..TcpLimits::default()
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_refuse_and_closing_frees() {
        let t = ConnTable::new(limits());
        let (tx, _rx) = mpsc::channel(1);
        let a = t.admit(addr("10.0.0.1:1"), tx.clone()).unwrap();
        t.admit(addr("10.0.0.1:2"), tx.clone()).unwrap();
        assert_eq!(
            t.admit(addr("10.0.0.2:1"), tx.clone()).err(),
            Some(Refusal::TooManyUnauthenticated)
        );
        t.authenticated(&addr("10.0.0.1:1"));
        t.authenticated(&addr("10.0.0.1:1"));
        assert_eq!(t.counts(), (2, 1));
        assert_eq!(
            t.admit(addr("10.0.0.1:3"), tx.clone()).err(),
            Some(Refusal::TooManyFromIp)
        );
        t.admit(addr("10.0.0.2:1"), tx.clone()).unwrap();
        assert_eq!(
            t.admit(addr("10.0.0.3:1"), tx.clone()).err(),
            Some(Refusal::TooMany)
        );
        t.remove(&addr("10.0.0.1:1"), a.id);
        t.remove(&addr("10.0.0.1:1"), a.id);
        assert_eq!(t.counts(), (2, 2));
        assert_eq!(
            t.admit(addr("10.0.0.1:4"), tx).err(),
            Some(Refusal::TooManyUnauthenticated)
        );
    }
}
