//! Where a new media session goes: the media instance with the lowest load
//! (sessions per capacity, from `Media.Load` every second), skipping
//! instances that do not answer or are draining, so new calls spread over
//! the instances and a draining one gets none.
//!
//! Instances are fixed addresses, or found by name: `dns+http://media:50054`
//! is every address the name resolves to, looked up again every few seconds
//! (a Kubernetes headless Service lists the media pods), so media scaled out
//! gets new calls at once. An instance that stops answering altogether is
//! [`Instance::lost`]: its calls are hung up rather than left in silence (a
//! pending RPC to a dead host may never fail by itself).

use crate::Rpc;
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::LoadRequest;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Load in thousandths of capacity; `UNAVAILABLE` when the instance does not
/// answer or is draining.
pub const UNAVAILABLE: u64 = u64::MAX;
/// Generous: a loaded machine can be slow to answer, and a false "lost"
/// would hang up live calls.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Polls in a row an instance must miss to count as lost (a killed process
/// refuses at once: about 3 s).
const LOST_AFTER: u32 = 3;
/// How often names are resolved again.
const RESOLVE_EVERY: u32 = 5;
/// The scheme of addresses found by name.
pub const DNS_SCHEME: &str = "dns+";

/// One media instance.
pub struct Instance {
    pub addr: String,
    pub client: MediaClient<Rpc>,
    load: AtomicU64,
    missed: AtomicU32,
    /// Answered a poll at least once (else "lost" only means "never came").
    seen: AtomicBool,
    /// Still listed by its source (a name that stopped resolving to it
    /// keeps its calls but gets no new ones).
    listed: AtomicBool,
}

impl Instance {
    fn new(addr: String, client: MediaClient<Rpc>) -> Arc<Instance> {
        Arc::new(Instance {
            addr,
            client,
            load: AtomicU64::new(0),
            missed: AtomicU32::new(0),
            seen: AtomicBool::new(false),
            listed: AtomicBool::new(true),
        })
    }

    /// Missed its last polls: dead or cut off (a draining instance still
    /// answers and is not lost).
    pub fn lost(&self) -> bool {
        self.missed.load(Ordering::Relaxed) >= LOST_AFTER
    }

    /// Resolves once the instance is [`Instance::lost`].
    pub async fn until_lost(&self) {
        while !self.lost() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Count a session just placed here until the next poll says better.
    pub fn placed(&self, per_session: u64) {
        let _ = self
            .load
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v != UNAVAILABLE).then(|| v.saturating_add(per_session))
            });
    }
}

/// Makes a client for an `http://host:port` address.
pub type Connect = Arc<dyn Fn(&str) -> Option<MediaClient<Rpc>> + Send + Sync>;

#[derive(Clone)]
pub struct Pool {
    instances: Arc<RwLock<Vec<Arc<Instance>>>>,
    connect: Connect,
}

impl Pool {
    pub fn new(connect: Connect) -> Pool {
        Pool {
            instances: Arc::new(RwLock::new(Vec::new())),
            connect,
        }
    }

    fn read(&self) -> Vec<Arc<Instance>> {
        match self.instances.read() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Listed instances, least loaded first; unavailable ones last (they are
    /// still tried when nothing else answers).
    pub fn order(&self) -> Vec<Arc<Instance>> {
        let mut v: Vec<Arc<Instance>> = self
            .read()
            .into_iter()
            .filter(|i| i.listed.load(Ordering::Relaxed))
            .collect();
        v.sort_by_key(|i| i.load.load(Ordering::Relaxed));
        v
    }

    /// Make the listed set `addrs`: new ones join, missing ones are unlisted
    /// (kept while they still answer, for their calls), lost unlisted ones go.
    pub fn set_listed(&self, addrs: &[String]) {
        let mut guard = match self.instances.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for i in guard.iter() {
            i.listed.store(addrs.contains(&i.addr), Ordering::Relaxed);
        }
        guard.retain(|i| i.listed.load(Ordering::Relaxed) || !i.lost());
        for a in addrs {
            if guard.iter().any(|i| &i.addr == a) {
                continue;
            }
            match (self.connect)(a) {
                Some(client) => {
                    tracing::info!(addr = %a, "media instance joined");
                    guard.push(Instance::new(a.clone(), client));
                }
                None => tracing::warn!(addr = %a, "bad media address"),
            }
        }
    }

    /// Resolve `sources` and poll every instance's load once a second,
    /// until the process ends.
    pub async fn watch(self, sources: Vec<String>) {
        let mut tick: u32 = 0;
        loop {
            if tick.is_multiple_of(RESOLVE_EVERY) {
                let addrs = resolve_all(&sources).await;
                self.set_listed(&addrs);
            }
            tick = tick.wrapping_add(1);
            // Side by side: one that hangs until the time-out must not
            // make the others miss their polls.
            let instances = self.read();
            futures::future::join_all(instances.iter().map(|i| poll(i))).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn poll(inst: &Instance) {
    let mut c = inst.client.clone();
    let mut req = tonic::Request::new(LoadRequest {});
    req.set_timeout(POLL_TIMEOUT);
    // Bounded here: tonic's timeout is only a request to the server.
    let answer = match tokio::time::timeout(POLL_TIMEOUT, c.load(req)).await {
        Ok(a) => a,
        Err(_) => Err(tonic::Status::deadline_exceeded("no answer")),
    };
    if answer.is_ok() {
        inst.missed.store(0, Ordering::Relaxed);
        inst.seen.store(true, Ordering::Relaxed);
    } else if inst.missed.fetch_add(1, Ordering::Relaxed) + 1 == LOST_AFTER {
        if inst.seen.load(Ordering::Relaxed) {
            tracing::warn!(addr = %inst.addr, "media instance lost: its calls are hung up");
        } else {
            tracing::warn!(addr = %inst.addr, "media instance does not answer");
        }
    }
    let load = match answer {
        Ok(r) => {
            let r = r.into_inner();
            if r.draining {
                UNAVAILABLE
            } else {
                u64::from(r.sessions) * 1000 / u64::from(r.capacity.max(1))
            }
        }
        Err(_) => UNAVAILABLE,
    };
    inst.load.store(load, Ordering::Relaxed);
}

/// Every source's addresses: fixed ones as they are, `dns+` ones as every
/// address their name has now (none while it does not resolve).
pub async fn resolve_all(sources: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        let Some(url) = s.strip_prefix(DNS_SCHEME) else {
            out.push(s.clone());
            continue;
        };
        let Some((scheme, hostport)) = url.split_once("://") else {
            tracing::warn!(source = %s, "media address needs scheme://host:port");
            continue;
        };
        let hostport = hostport.trim_end_matches('/');
        match tokio::net::lookup_host(hostport).await {
            Ok(addrs) => {
                let mut found: Vec<String> = addrs.map(|a| format!("{scheme}://{a}")).collect();
                found.sort();
                found.dedup();
                out.extend(found);
            }
            Err(e) => tracing::warn!(source = %s, "media name does not resolve: {e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool::new(Arc::new(|a: &str| {
            let ch = tonic::transport::Endpoint::from_shared(a.to_owned())
                .ok()?
                .connect_lazy();
            Some(MediaClient::with_interceptor(
                ch,
                asterism_telemetry::propagation::Inject,
            ))
        }))
    }

    #[tokio::test]
    async fn least_loaded_first_unavailable_last_and_lost_unlisted_go() {
        let p = pool();
        let addrs: Vec<String> = (1..=3).map(|i| format!("http://10.0.0.{i}:1")).collect();
        p.set_listed(&addrs);
        let v = p.read();
        v[0].load.store(500, Ordering::Relaxed);
        v[1].load.store(UNAVAILABLE, Ordering::Relaxed);
        v[2].load.store(100, Ordering::Relaxed);
        let order = |p: &Pool| p.order().iter().map(|i| i.addr.clone()).collect::<Vec<_>>();
        assert_eq!(
            order(&p),
            [addrs[2].clone(), addrs[0].clone(), addrs[1].clone()]
        );
        v[2].placed(450);
        assert_eq!(
            order(&p),
            [addrs[0].clone(), addrs[2].clone(), addrs[1].clone()]
        );
        v[1].placed(10);
        assert_eq!(v[1].load.load(Ordering::Relaxed), UNAVAILABLE);
        // Unlisted: no new sessions, kept while it answers, gone once lost.
        p.set_listed(&addrs[..2]);
        assert_eq!(order(&p).len(), 2);
        assert_eq!(p.read().len(), 3);
        v[2].missed.store(LOST_AFTER, Ordering::Relaxed);
        assert!(v[2].lost() && !v[0].lost());
        p.set_listed(&addrs[..2]);
        assert_eq!(p.read().len(), 2);
    }

    #[tokio::test]
    async fn names_resolve_to_every_address() {
        let fixed = "http://10.0.0.9:50054".to_owned();
        let found = resolve_all(&[fixed.clone(), "dns+http://localhost:50054".into()]).await;
        assert_eq!(found[0], fixed);
        assert!(
            found[1..].iter().any(|a| a == "http://127.0.0.1:50054"),
            "{found:?}"
        );
    }
}
