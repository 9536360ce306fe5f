//! Backend health through `grpc.health.v1`: the edge is ready while at least
//! one replica of the registrar and of the router answers (checked every
//! 2 s), and balanced channels only use the replicas that answer ([`balance`]).

use asterism_telemetry::admin::Admin;
use std::time::Duration;
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Client = HealthClient<tonic::transport::Channel>;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Keep `admin`'s readiness in step with the backends (each a list of
/// replicas and its gRPC service name), until the process ends.
pub async fn watch_backends(admin: Admin, backends: Vec<(Vec<String>, &'static str)>) {
    let mut groups: Vec<(&'static str, Vec<(String, Client)>)> = Vec::new();
    for (addrs, service) in backends {
        let mut clients = Vec::new();
        for addr in addrs {
            match Endpoint::from_shared(addr.clone()) {
                Ok(e) => {
                    let channel = e.connect_timeout(Duration::from_secs(1)).connect_lazy();
                    clients.push((addr, HealthClient::new(channel)));
                }
                Err(e) => tracing::warn!(%addr, "bad backend address: {e}"),
            }
        }
        groups.push((service, clients));
    }
    loop {
        let mut all = true;
        for (service, clients) in &mut groups {
            let mut any = false;
            for (addr, client) in clients.iter_mut() {
                let serving = serving(client, service).await;
                if !serving {
                    tracing::debug!(%addr, service = *service, "replica not serving");
                }
                any |= serving;
            }
            all &= any;
        }
        admin.set_ready(all);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
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
    let mut clients: Vec<Client> = endpoints
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
        for (i, client) in clients.iter_mut().enumerate() {
            let ok = serving(client, service).await;
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
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
