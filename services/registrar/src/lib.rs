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
pub mod media_keys;
pub mod mwi;
pub mod nonce;
pub mod outreg;
pub mod phone_keys;
pub mod register;
pub mod sip_keys;
pub mod store;
pub mod stream;
pub mod trunks;
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
                message: match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        "missing: put your sip.conf there (mount it from a Secret)".to_owned()
                    }
                    _ => format!("cannot read: {e}"),
                },
            })?;
            (Directory::parse(&path, &text)?, text)
        }
        None => {
            let text = config::BUILTIN_SIP_CONF.ok_or_else(|| ConfError {
                file: "sip.conf".into(),
                line: 0,
                column: None,
                message: format!(
                    "this build has no example users: set {} to the directory holding your sip.conf",
                    config::ENV_CONFIG_DIR
                ),
            })?;
            (
                Directory::parse(Path::new("<built-in>/sip.conf"), text)?,
                text.to_owned(),
            )
        }
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

/// A registrar serving `sip_conf` (written to a directory of its own, named
/// after `tag`), with bindings in Redis at `redis_url` or in memory: for
/// tests of this service and of its clients.
pub fn with_sip_conf(
    tag: &str,
    sip_conf: &str,
    redis_url: Option<&str>,
) -> Result<Arc<Registrar>, String> {
    let dir = std::env::temp_dir().join(format!("asterism-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("sip.conf"), sip_conf).map_err(|e| e.to_string())?;
    let mut env = std::collections::HashMap::new();
    env.insert(config::ENV_CONFIG_DIR.to_owned(), dir.display().to_string());
    if let Some(url) = redis_url {
        env.insert(config::ENV_REDIS_URL.to_owned(), url.to_owned());
    }
    let cfg = RegistrarConfig::from_env(&env).map_err(|e| asterism_config::env::describe(&e))?;
    build(&cfg).map_err(|e| e.to_string())
}

/// The gRPC service to mount on a tonic server.
pub fn service(
    r: Arc<Registrar>,
) -> asterism_proto::registrar::registrar_server::RegistrarServer<grpc::RegistrarService> {
    asterism_proto::registrar::registrar_server::RegistrarServer::new(grpc::RegistrarService(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_config_dir() -> RegistrarConfig {
        // Run from services/registrar: no ./examples, no ASTERISM_CONFIG_DIR.
        let env: std::collections::HashMap<&str, &str> = Default::default();
        RegistrarConfig::from_env(&env).unwrap()
    }

    #[cfg(feature = "example-users")]
    #[test]
    fn the_example_users_are_built_in() {
        assert!(build(&no_config_dir()).is_ok());
    }

    /// Images are built without example users: nothing to log in with
    /// unless the operator brings a sip.conf.
    #[cfg(not(feature = "example-users"))]
    #[test]
    fn without_example_users_a_sip_conf_is_required() {
        let err = build(&no_config_dir()).err().unwrap().to_string();
        assert!(err.contains("no example users"), "{err}");
    }

    #[test]
    fn a_missing_sip_conf_says_where_to_put_it() {
        let mut cfg = no_config_dir();
        cfg.config_dir = Some(std::env::temp_dir().join("asterism-no-such-dir"));
        let err = build(&cfg).err().unwrap().to_string();
        assert!(
            err.contains("asterism-no-such-dir/sip.conf")
                && err.contains("put your sip.conf there"),
            "{err}"
        );
    }
}
