//! Store-wide gauges that every replica could compute, exported so that a
//! dashboard's `sum()` over replicas is right: one replica (the holder of a
//! store lease, renewed each round) counts the bindings and reports them;
//! the others report 0. When the holder dies its lease lapses and another
//! takes over within three rounds.

use crate::store::BindingStore;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Duration;

/// The lease's name in the store.
pub const LEASE: &str = "bindings-count";

/// Count bindings into `gauge` every `every`, when this replica holds the lease.
pub async fn count_bindings(store: Arc<dyn BindingStore>, gauge: Gauge<i64>, every: Duration) {
    let me = format!("{:016x}", rand::random::<u64>());
    let ttl = (every.as_secs() * 3).max(3);
    loop {
        let counted = match store.lease(LEASE, &me, ttl).await {
            Ok(true) => store
                .list(crate::clock::now_ms())
                .await
                .ok()
                .map(|all| all.iter().map(|(_, b)| b.len() as i64).sum()),
            Ok(false) => Some(0),
            // The store is down: the last figure stands until it is back.
            Err(_) => None,
        };
        if let Some(n) = counted {
            gauge.set(n);
        }
        tokio::time::sleep(every).await;
    }
}
