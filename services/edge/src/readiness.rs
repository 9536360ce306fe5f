//! Backend health through `grpc.health.v1`: whether at least one replica of
//! the registrar and of the router answers (checked every 2 s) is the
//! `asterism_edge_backend_up{service}` gauge, and balanced channels only use
//! the replicas that answer ([`balance`]). The edge's own readiness does not
//! follow them: an edge that can answer SIP stays in the load balancer while
//! a backend is down (it answers 503 with Retry-After, in-dialog requests
//! of calls under way go on), and only draining makes it not ready.
//! Replicas are checked side by side, so one that hangs (a dead host answers
//! nothing until the check's time-out) does not delay news of the others.

use asterism_telemetry::admin::Admin;
use std::time::Duration;
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Client = HealthClient<tonic::transport::Channel>;

/// A backend's service name, its sources (addresses or `dns+` names) and
/// a health client per address they stand for now.
type Group = (&'static str, Vec<String>, Vec<(String, Client)>);

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether each backend (`registrar`, `router`) has a replica answering.
pub type BackendUp = prometheus_client::metrics::family::Family<
    Vec<(&'static str, &'static str)>,
    prometheus_client::metrics::gauge::Gauge,
>;

/// Mark the edge ready (it answers SIP) and keep the backends' gauges in
/// step with their health (each a list of replicas and its gRPC service
/// name), until the process ends.
pub async fn watch_backends(admin: Admin, backends: Vec<(Vec<String>, &'static str)>) {
    let up = BackendUp::default();
    admin.with_registry(|r| {
        r.register(
            "backend_up",
            "whether a replica of the backend answers its health check (1) or none does (0)",
            up.clone(),
        )
    });
    admin.set_ready(true);
    // Per backend: its sources (addresses or `dns+` names) and a health
    // client per address they stand for now.
    let mut groups: Vec<Group> = backends
        .into_iter()
        .map(|(sources, service)| (service, sources, Vec::new()))
        .collect();
    let mut resolved_at: Option<tokio::time::Instant> = None;
    loop {
        if resolved_at.is_none_or(|t| t.elapsed() >= RESOLVE_EVERY) {
            resolved_at = Some(tokio::time::Instant::now());
            for (_, sources, clients) in &mut groups {
                let now = crate::placement::resolve_all(sources).await;
                clients.retain(|(a, _)| now.contains(a));
                for addr in now {
                    if clients.iter().any(|(a, _)| *a == addr) {
                        continue;
                    }
                    match Endpoint::from_shared(addr.clone()) {
                        Ok(e) => {
                            let channel = e.connect_timeout(Duration::from_secs(1)).connect_lazy();
                            clients.push((addr, HealthClient::new(channel)));
                        }
                        Err(e) => tracing::warn!(%addr, "bad backend address: {e}"),
                    }
                }
            }
        }
        let mut all = true;
        for (service, _, clients) in &groups {
            let answers = check_all(clients.iter().map(|(_, c)| c), service).await;
            for ((addr, _), ok) in clients.iter().zip(&answers) {
                if !ok {
                    tracing::debug!(%addr, service = *service, "replica not serving");
                }
            }
            let any = answers.contains(&true);
            up.get_or_create(&vec![("service", short_name(service))])
                .set(i64::from(any));
            all &= any;
        }
        // Not all up (start-up, an outage): look again soon.
        let pause = if all { 2000 } else { 200 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// `asterism.registrar.v1.Registrar` → `registrar`.
fn short_name(service: &'static str) -> &'static str {
    service.split('.').nth(1).unwrap_or(service)
}

/// Every replica's health at once, in the order given.
async fn check_all<'a>(clients: impl Iterator<Item = &'a Client>, service: &str) -> Vec<bool> {
    futures::future::join_all(clients.map(|c| {
        let mut c = c.clone();
        async move { serving(&mut c, service).await }
    }))
    .await
}

async fn serving(client: &mut Client, service: &str) -> bool {
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    req.set_timeout(CHECK_TIMEOUT);
    // Bounded here too: a dead host never answers a request's own timeout.
    // Generous, as a loaded machine can take a while to open a connection.
    let answer = tokio::time::timeout(CHECK_TIMEOUT, client.check(req)).await;
    matches!(
        answer.map(|a| a.map(|r| r.into_inner().status)),
        Ok(Ok(s)) if s == ServingStatus::Serving as i32
    )
}

/// Keep a balanced channel's endpoint set to the replicas that answer:
/// removed when their health check fails, inserted again when it passes.
pub async fn balance(
    endpoints: Vec<Endpoint>,
    changes: tokio::sync::mpsc::Sender<tonic::transport::channel::Change<usize, Endpoint>>,
    service: &'static str,
) {
    use tonic::transport::channel::Change;
    let clients: Vec<Client> = endpoints
        .iter()
        .map(|e| {
            HealthClient::new(
                e.clone()
                    .connect_timeout(Duration::from_millis(500))
                    .connect_lazy(),
            )
        })
        .collect();
    let mut up = vec![false; endpoints.len()];
    loop {
        let answers = check_all(clients.iter(), service).await;
        for (i, ok) in answers.into_iter().enumerate() {
            if ok != up[i] {
                up[i] = ok;
                let change = if ok {
                    Change::Insert(i, endpoints[i].clone())
                } else {
                    Change::Remove(i)
                };
                tracing::info!(replica = %endpoints[i].uri(), service, serving = ok, "backend replica set changed");
                if changes.send(change).await.is_err() {
                    return;
                }
            }
        }
        // While no replica serves (start-up, or all of them restarting),
        // look often: requests wait on an empty set until one joins.
        let pause = if up.contains(&true) { 1000 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// How often `dns+` backend names are resolved again (replicas come and go).
const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// Like [`balance`], over replicas found by name too: `dns+http://name:port`
/// sources are resolved every few seconds (a headless Service lists every
/// ready pod), new addresses join once their health check passes, and
/// addresses no longer listed leave.
pub async fn balance_resolving(
    sources: Vec<String>,
    connect_timeout: Duration,
    changes: tokio::sync::mpsc::Sender<tonic::transport::channel::Change<String, Endpoint>>,
    service: &'static str,
) {
    use tonic::transport::channel::Change;
    struct Replica {
        endpoint: Endpoint,
        health: Client,
        up: bool,
    }
    let mut known: std::collections::BTreeMap<String, Replica> = Default::default();
    let mut resolved_at: Option<tokio::time::Instant> = None;
    loop {
        if resolved_at.is_none_or(|t| t.elapsed() >= RESOLVE_EVERY) {
            resolved_at = Some(tokio::time::Instant::now());
            let now = crate::placement::resolve_all(&sources).await;
            let gone: Vec<String> = known.keys().filter(|a| !now.contains(a)).cloned().collect();
            for addr in gone {
                if known.remove(&addr).is_some_and(|r| r.up) {
                    tracing::info!(replica = %addr, service, "backend replica no longer listed");
                    if changes.send(Change::Remove(addr)).await.is_err() {
                        return;
                    }
                }
            }
            for addr in now {
                if known.contains_key(&addr) {
                    continue;
                }
                let Ok(endpoint) = Endpoint::from_shared(addr.clone()) else {
                    tracing::warn!(replica = %addr, "bad backend address");
                    continue;
                };
                let endpoint = endpoint.connect_timeout(connect_timeout).tcp_nodelay(true);
                let health = HealthClient::new(
                    endpoint
                        .clone()
                        .connect_timeout(Duration::from_millis(500))
                        .connect_lazy(),
                );
                known.insert(
                    addr,
                    Replica {
                        endpoint,
                        health,
                        up: false,
                    },
                );
            }
        }
        let answers = check_all(known.values().map(|r| &r.health), service).await;
        for ((addr, r), ok) in known.iter_mut().zip(answers) {
            if ok == r.up {
                continue;
            }
            r.up = ok;
            tracing::info!(replica = %addr, service, serving = ok, "backend replica set changed");
            let change = if ok {
                Change::Insert(addr.clone(), r.endpoint.clone())
            } else {
                Change::Remove(addr.clone())
            };
            if changes.send(change).await.is_err() {
                return;
            }
        }
        let pause = if known.values().any(|r| r.up) {
            1000
        } else {
            100
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}
