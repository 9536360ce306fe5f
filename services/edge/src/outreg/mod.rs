//! Outbound registrations: the sip.conf `register =>` lines kept alive at
//! providers, so they route calls to us. The registrar hands each line to
//! one edge at a time (a lease this edge renews every [`POLL`]); this
//! module runs a [`session`] per line it holds, stops the ones it lost,
//! and stops all of them when it cannot renew (another edge takes over
//! once the leases lapse). What each line is doing is in the [`Table`],
//! for `asterism sip show registry` and the metrics.

pub mod session;

use crate::command::CoreHandle;
use crate::Ctx;
use asterism_proto::registrar::RegistrationsRequest;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the leases are renewed.
pub const POLL: Duration = Duration::from_secs(5);
/// How long a lease lasts without renewal.
pub const LEASE_SECS: u32 = 15;

/// chan_sip's registration states, as `sip show registry` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unregistered,
    RequestSent,
    AuthSent,
    Registered,
    Rejected,
    NoAuthentication,
    Timeout,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unregistered => "Unregistered",
            State::RequestSent => "Request Sent",
            State::AuthSent => "Auth. Sent",
            State::Registered => "Registered",
            State::Rejected => "Rejected",
            State::NoAuthentication => "No Authentication",
            State::Timeout => "Timeout",
            State::Failed => "Failed",
        }
    }
}

/// One line as this edge runs it.
#[derive(Debug, Clone)]
pub struct Status {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub state: State,
    /// Seconds the provider granted, when registered.
    pub expires: u32,
    /// Successful registrations (first and refreshes).
    pub registered: u64,
    /// The last final status code (0: none yet).
    pub last_code: u16,
    /// When the state last changed.
    pub since: std::time::SystemTime,
}

/// The registrations this edge holds, by id.
#[derive(Clone, Default)]
pub struct Table(Arc<Mutex<BTreeMap<String, Status>>>);

impl Table {
    pub fn list(&self) -> Vec<(String, Status)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub(crate) fn update(&self, id: &str, f: impl FnOnce(&mut Status)) {
        if let Ok(mut m) = self.0.lock() {
            if let Some(s) = m.get_mut(id) {
                f(s);
            }
        }
    }

    fn insert(&self, id: &str, s: Status) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(id.to_owned(), s);
        }
    }

    fn remove(&self, id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(id);
        }
    }

    /// How many lines are registered now.
    pub fn registered(&self) -> usize {
        self.list()
            .iter()
            .filter(|(_, s)| s.state == State::Registered)
            .count()
    }
}

/// Hold and run this edge's share of the registrations, for ever.
pub async fn supervise(ctx: Arc<Ctx>, core: CoreHandle) {
    let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut renewed = Instant::now();
    loop {
        let mut req = tonic::Request::new(RegistrationsRequest {
            edge_id: ctx.cfg.edge_id.clone(),
            lease_secs: LEASE_SECS,
        });
        req.set_timeout(ctx.cfg.rpc_timeout);
        let mut client = ctx.registrar.clone();
        match client.registrations(req).await {
            Ok(r) => {
                renewed = Instant::now();
                let held = r.into_inner().held;
                running.retain(|id, task| {
                    let keep = held.iter().any(|h| h.id == *id) && !task.is_finished();
                    if !keep {
                        tracing::info!(registration = %id, "registration held by another edge now: stopped here");
                        task.abort();
                        ctx.outregs.remove(id);
                    }
                    keep
                });
                for reg in held {
                    if running.contains_key(&reg.id) {
                        continue;
                    }
                    tracing::info!(registration = %reg.id, "registration taken by this edge");
                    ctx.outregs.insert(&reg.id, session::initial(&reg));
                    let id = reg.id.clone();
                    let task = tokio::spawn(session::run(ctx.clone(), core.clone(), reg));
                    running.insert(id, task);
                }
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "registrations not renewed: {}", status.message());
                // Past the lease another edge may hold them: never both.
                if renewed.elapsed() >= Duration::from_secs(u64::from(LEASE_SECS)) {
                    for (id, task) in running.drain() {
                        task.abort();
                        ctx.outregs.remove(&id);
                    }
                }
            }
        }
        ctx.metrics
            .trunk_registered
            .set(ctx.outregs.registered() as i64);
        tokio::time::sleep(POLL).await;
    }
}
