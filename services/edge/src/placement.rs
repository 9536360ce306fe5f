//! Where a new media session goes: the media instance with the lowest load
//! (sessions per capacity, from `Media.Load` every second), skipping
//! instances that do not answer or are draining, so new calls spread over
//! the instances and a draining one gets none. An instance that stops
//! answering altogether is [`Loads::lost`]: its calls are hung up rather
//! than left in silence (a pending RPC to a dead host may never fail by
//! itself).

use crate::Rpc;
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::LoadRequest;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Load of one instance in thousandths of its capacity; `u64::MAX` when it
/// does not answer or is draining.
pub const UNAVAILABLE: u64 = u64::MAX;

/// Generous: a loaded machine can be slow to answer, and a false "lost"
/// would hang up live calls.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Polls in a row an instance must miss to count as lost (a killed process
/// refuses at once: about 3 s).
const LOST_AFTER: u32 = 3;

#[derive(Clone, Default)]
pub struct Loads(Arc<Vec<AtomicU64>>, Arc<Vec<AtomicU32>>);

impl Loads {
    pub fn new(n: usize) -> Loads {
        Loads(
            Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()),
            Arc::new((0..n).map(|_| AtomicU32::new(0)).collect()),
        )
    }

    /// Whether instance `i` has missed its last polls (dead or cut off; a
    /// draining instance still answers and is not lost).
    pub fn lost(&self, i: usize) -> bool {
        self.1
            .get(i)
            .is_some_and(|m| m.load(Ordering::Relaxed) >= LOST_AFTER)
    }

    /// Resolves once instance `i` is [`Loads::lost`].
    pub async fn until_lost(&self, i: usize) {
        while !self.lost(i) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Instance indexes, least loaded first; unavailable ones last (they are
    /// still tried when nothing else answers).
    pub fn order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.0.len()).collect();
        idx.sort_by_key(|&i| self.0[i].load(Ordering::Relaxed));
        idx
    }

    /// Count a session just placed on `i` until the next poll says better.
    pub fn placed(&self, i: usize, per_session: u64) {
        if let Some(l) = self.0.get(i) {
            let _ = l.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v != UNAVAILABLE).then(|| v.saturating_add(per_session))
            });
        }
    }

    /// Poll every instance's load once a second, until the process ends.
    pub async fn watch(self, clients: Vec<MediaClient<Rpc>>) {
        loop {
            for (i, client) in clients.iter().enumerate() {
                let mut c = client.clone();
                let mut req = tonic::Request::new(LoadRequest {});
                req.set_timeout(POLL_TIMEOUT);
                // Bounded here: tonic's timeout is only a request to the server.
                let answer = match tokio::time::timeout(POLL_TIMEOUT, c.load(req)).await {
                    Ok(a) => a,
                    Err(_) => Err(tonic::Status::deadline_exceeded("no answer")),
                };
                let missed = &self.1[i];
                if answer.is_ok() {
                    missed.store(0, Ordering::Relaxed);
                } else if missed.fetch_add(1, Ordering::Relaxed) + 1 == LOST_AFTER {
                    tracing::warn!(instance = i, "media instance lost: its calls are hung up");
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
                self.0[i].store(load, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_loaded_first_unavailable_last() {
        let l = Loads::new(3);
        l.0[0].store(500, Ordering::Relaxed);
        l.0[1].store(UNAVAILABLE, Ordering::Relaxed);
        l.0[2].store(100, Ordering::Relaxed);
        assert_eq!(l.order(), vec![2, 0, 1]);
        l.placed(2, 450);
        assert_eq!(l.order(), vec![0, 2, 1]);
        l.placed(1, 10);
        assert_eq!(l.0[1].load(Ordering::Relaxed), UNAVAILABLE);
        assert!(!l.lost(1));
        l.1[1].store(LOST_AFTER, Ordering::Relaxed);
        assert!(l.lost(1) && !l.lost(0) && !l.lost(7));
    }
}
