//! How every gRPC service runs: its service next to `grpc.health.v1`
//! (SERVING while up, NOT_SERVING once draining), until SIGTERM or Ctrl-C,
//! then a graceful stop bounded by `ASTERISM_DRAIN_SECS`.

use crate::admin::Admin;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use tonic::body::Body;
use tonic::server::NamedService;

/// Serve `service` on `listen`; the exit code for `main`.
pub async fn serve_grpc<S>(listen: SocketAddr, admin: Admin, service: S) -> ExitCode
where
    S: tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<S>().await;
    let shutdown = async move {
        asterism_config::shutdown::signal_with_grace().await;
        admin.drain();
        health.set_not_serving::<S>().await;
    };
    let served = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(service)
        .serve_with_shutdown(listen, shutdown)
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("gRPC server on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}
