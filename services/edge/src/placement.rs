//! Where a new media session goes: the media instance with the lowest load
//! (sessions per capacity, from `Media.Load` every second), skipping
//! instances that do not answer or are draining, so new calls spread over
//! the instances and a draining one gets none.

use crate::Rpc;
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::LoadRequest;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Load of one instance in thousandths of its capacity; `u64::MAX` when it
/// does not answer or is draining.
pub const UNAVAILABLE: u64 = u64::MAX;

#[derive(Clone, Default)]
pub struct Loads(Arc<Vec<AtomicU64>>);

impl Loads {
    pub fn new(n: usize) -> Loads {
        Loads(Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()))
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
                req.set_timeout(Duration::from_millis(500));
                let load = match c.load(req).await {
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
    }
}
