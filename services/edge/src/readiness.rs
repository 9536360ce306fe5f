//! The edge is ready while the services it cannot work without answer:
//! the registrar and the router, asked through `grpc.health.v1` every 2 s.

use asterism_telemetry::admin::Admin;
use std::time::Duration;
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Keep `admin`'s readiness in step with the backends, until the process ends.
pub async fn watch_backends(admin: Admin, backends: Vec<(String, &'static str)>) {
    let mut clients = Vec::new();
    for (addr, service) in backends {
        match Endpoint::from_shared(addr.clone()) {
            Ok(e) => {
                let channel = e.connect_timeout(Duration::from_secs(1)).connect_lazy();
                clients.push((addr, service, HealthClient::new(channel)));
            }
            Err(e) => tracing::warn!(%addr, "bad backend address: {e}"),
        }
    }
    loop {
        let mut all = true;
        for (addr, service, client) in &mut clients {
            let mut req = tonic::Request::new(HealthCheckRequest {
                service: (*service).to_owned(),
            });
            req.set_timeout(Duration::from_secs(1));
            let serving = matches!(
                client.check(req).await.map(|r| r.into_inner().status),
                Ok(s) if s == ServingStatus::Serving as i32
            );
            if !serving {
                tracing::debug!(%addr, service, "backend not serving");
            }
            all &= serving;
        }
        admin.set_ready(all);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
