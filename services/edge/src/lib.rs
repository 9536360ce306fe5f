//! The edge service: the only part of Asterism that speaks SIP. It owns the
//! transports and transactions, answers what it can itself (OPTIONS, errors),
//! and asks the registrar (and later the router and media services) over
//! gRPC for everything else.

pub mod config;
pub mod core;
pub mod dispatch;
pub mod register;
pub mod reply;

use crate::config::EdgeConfig;
use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_sip::transport::Transport;
use std::net::SocketAddr;
use std::sync::Arc;
use tonic::transport::{Channel, Endpoint};

/// What request handlers share.
pub struct Ctx {
    pub cfg: EdgeConfig,
    pub registrar: RegistrarClient<Channel>,
    /// host:port of this edge as others reach it.
    pub advertise: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot bind SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bad registrar address {addr}: {reason}")]
    Registrar { addr: String, reason: String },
}

/// A bound edge, ready to run.
pub struct Edge {
    pub local_addr: SocketAddr,
    run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Edge {
    /// Bind the SIP transports and prepare the registrar channel (connected
    /// lazily, and re-connected by tonic whenever it drops).
    pub async fn bind(
        cfg: EdgeConfig,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Edge, EdgeError> {
        let endpoint = Endpoint::from_shared(cfg.registrar_addr.clone())
            .map_err(|e| EdgeError::Registrar {
                addr: cfg.registrar_addr.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(cfg.rpc_timeout)
            .tcp_nodelay(true);
        let registrar = RegistrarClient::new(endpoint.connect_lazy());
        let (transport, inbound) =
            Transport::bind(cfg.sip_bind)
                .await
                .map_err(|source| EdgeError::Bind {
                    addr: cfg.sip_bind,
                    source,
                })?;
        let local_addr = transport.local_addr();
        let advertise = cfg
            .sip_advertise
            .clone()
            .unwrap_or_else(|| local_addr.to_string());
        let ctx = Arc::new(Ctx {
            cfg,
            registrar,
            advertise,
        });
        let (tu_tx, tu_rx) = tokio::sync::mpsc::channel(4096);
        let core = core::Core::new(transport, ctx, tu_tx);
        Ok(Edge {
            local_addr,
            run: Box::pin(core.run(inbound, tu_rx, shutdown)),
        })
    }

    pub async fn run(self) {
        self.run.await
    }
}
