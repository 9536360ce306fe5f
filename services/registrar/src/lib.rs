//! The registrar service: who the users are (sip.conf), whether a request
//! proves it is one of them (digest), and where each one can be reached
//! (bindings in Redis or in memory). Served over gRPC to the edge.

pub mod acl;
pub mod auth;
pub mod authenticate;
pub mod clock;
pub mod config;
pub mod expiry;
pub mod gauges;
pub mod grpc;
pub mod nonce;
pub mod register;
pub mod sip_keys;
pub mod store;
pub mod users;

use crate::auth::Authenticator;
use crate::config::RegistrarConfig;
use crate::nonce::Nonces;
use crate::register::Registrar;
use crate::store::{memory::MemoryStore, redis::RedisStore, BindingStore};
use crate::users::Directory;
use asterism_config::ConfError;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfError),
    #[error("{0}")]
    Store(#[from] store::StoreError),
}

/// Load sip.conf and open the store: everything the service needs.
pub fn build(cfg: &RegistrarConfig) -> Result<Arc<Registrar>, StartError> {
    let (directory, conf_text) = match &cfg.config_dir {
        Some(dir) => {
            let path = dir.join("sip.conf");
            let text = std::fs::read_to_string(&path).map_err(|e| ConfError {
                file: path.clone(),
                line: 0,
                column: None,
                message: format!("cannot read: {e}"),
            })?;
            (Directory::parse(&path, &text)?, text)
        }
        None => (
            Directory::parse(Path::new("<built-in>/sip.conf"), config::BUILTIN_SIP_CONF)?,
            config::BUILTIN_SIP_CONF.to_owned(),
        ),
    };
    for w in &directory.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(users = directory.len(), realm = %directory.realm, "sip.conf loaded");
    // Replicas share sip.conf, so a key derived from it is shared too.
    let secret = match &cfg.nonce_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => Sha256::digest(format!("asterism-nonce\0{conf_text}")).to_vec(),
    };
    let store: Arc<dyn BindingStore> = match &cfg.redis_url {
        Some(url) => {
            let mut store = RedisStore::new(url, &cfg.redis_prefix)?;
            if let Some(n) = cfg.redis_min_replicas {
                store = store.min_replicas(n);
            }
            Arc::new(store)
        }
        None => Arc::new(MemoryStore::new()),
    };
    Ok(Arc::new(Registrar {
        auth: Authenticator {
            directory,
            nonces: Nonces::new(secret, cfg.nonce_lifetime),
        },
        store,
        policy: cfg.policy,
        max_contacts: cfg.max_contacts,
        bans: cfg.bans,
    }))
}

/// The gRPC service to mount on a tonic server.
pub fn service(
    r: Arc<Registrar>,
) -> asterism_proto::registrar::registrar_server::RegistrarServer<grpc::RegistrarService> {
    asterism_proto::registrar::registrar_server::RegistrarServer::new(grpc::RegistrarService(r))
}
