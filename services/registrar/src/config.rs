//! The registrar's settings, each an `ASTERISM_*` variable with a flag.

use crate::expiry::ExpiryPolicy;
use asterism_config::cli::Setting;
use asterism_config::env::{EnvError, Reader};
use asterism_config::Strings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const ENV_CONFIG_DIR: &str = "ASTERISM_CONFIG_DIR";
pub const ENV_REDIS_URL: &str = "ASTERISM_REDIS_URL";
pub const ENV_REDIS_PREFIX: &str = "ASTERISM_REDIS_PREFIX";
pub const ENV_REDIS_MIN_REPLICAS: &str = "ASTERISM_REDIS_MIN_REPLICAS";
pub const ENV_REGISTRAR_LISTEN: &str = "ASTERISM_REGISTRAR_LISTEN";
pub const ENV_DEFAULT_EXPIRES: &str = "ASTERISM_DEFAULT_EXPIRES";
pub const ENV_MIN_EXPIRES: &str = "ASTERISM_MIN_EXPIRES";
pub const ENV_MAX_EXPIRES: &str = "ASTERISM_MAX_EXPIRES";
pub const ENV_NONCE_SECRET: &str = "ASTERISM_NONCE_SECRET";
pub const ENV_NONCE_LIFETIME: &str = "ASTERISM_NONCE_LIFETIME";
pub const ENV_MAX_CONTACTS: &str = "ASTERISM_MAX_CONTACTS";
pub const ENV_BAN_THRESHOLD: &str = "ASTERISM_BAN_THRESHOLD";
pub const ENV_BAN_USER_THRESHOLD: &str = "ASTERISM_BAN_USER_THRESHOLD";
pub const ENV_BAN_WINDOW: &str = "ASTERISM_BAN_WINDOW";
pub const ENV_BAN_SECS: &str = "ASTERISM_BAN_SECS";
pub const ENV_BINDINGS_COUNT_SECS: &str = "ASTERISM_BINDINGS_COUNT_SECS";

pub const SETTINGS: &[Setting] = &[
    Setting {
        env: ENV_CONFIG_DIR,
        flag: "config-dir",
        default: "examples (else built-in)",
        help: "directory holding sip.conf and extensions.conf",
    },
    Setting {
        env: ENV_REDIS_URL,
        flag: "redis-url",
        default: "",
        help: "Redis for bindings (redis://host:port/db or redis+sentinel://s1:26379,s2:26379/master or redis+cluster://n1:6379,n2:6379); unset: in-memory store",
    },
    Setting {
        env: ENV_REDIS_PREFIX,
        flag: "redis-prefix",
        default: "asterism:",
        help: "prefix of every Redis key",
    },
    Setting {
        env: ENV_REDIS_MIN_REPLICAS,
        flag: "redis-min-replicas",
        default: "1 behind Sentinel, else 0",
        help: "replicas that must confirm a binding write (WAIT) before it is acknowledged",
    },
    Setting {
        env: ENV_REGISTRAR_LISTEN,
        flag: "registrar-listen",
        default: "0.0.0.0:50051",
        help: "gRPC address the registrar serves on (standalone registrar)",
    },
    Setting {
        env: ENV_DEFAULT_EXPIRES,
        flag: "default-expires",
        default: "60",
        help: "binding lifetime when the REGISTER gives none (s)",
    },
    Setting {
        env: ENV_MIN_EXPIRES,
        flag: "min-expires",
        default: "60",
        help: "shorter requests get 423 with Min-Expires (s)",
    },
    Setting {
        env: ENV_MAX_EXPIRES,
        flag: "max-expires",
        default: "60",
        help: "longer requests are granted this (s)",
    },
    Setting {
        env: ENV_NONCE_SECRET,
        flag: "nonce-secret",
        default: "derived from sip.conf",
        help: "key signing nonces; all registrar replicas must share it",
    },
    Setting {
        env: ENV_NONCE_LIFETIME,
        flag: "nonce-lifetime",
        default: "30",
        help: "seconds a nonce stays valid before stale=true",
    },
    Setting {
        env: ENV_MAX_CONTACTS,
        flag: "max-contacts",
        default: "10",
        help: "contacts one user may have registered at once (sip.conf max_contacts= per user); more get 403",
    },
    Setting {
        env: ENV_BAN_THRESHOLD,
        flag: "ban-threshold",
        default: "20",
        help: "authentication failures from one IP address within the window that ban it (0: no bans)",
    },
    Setting {
        env: ENV_BAN_USER_THRESHOLD,
        flag: "ban-user-threshold",
        default: "50",
        help: "failures for one user (from anywhere) within the window after which each source failing for it is banned at once",
    },
    Setting {
        env: ENV_BAN_WINDOW,
        flag: "ban-window",
        default: "60",
        help: "seconds over which authentication failures are counted",
    },
    Setting {
        env: ENV_BAN_SECS,
        flag: "ban-secs",
        default: "600",
        help: "seconds a banned IP address is refused",
    },
    Setting {
        env: ENV_BINDINGS_COUNT_SECS,
        flag: "bindings-count-secs",
        default: "15",
        help: "how often the bindings_active gauge is counted (by one replica of all)",
    },
];

#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// None: use the configuration built into the binary.
    pub config_dir: Option<PathBuf>,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// None: the store's default for the URL.
    pub redis_min_replicas: Option<u32>,
    pub listen: SocketAddr,
    pub policy: ExpiryPolicy,
    pub nonce_secret: Option<String>,
    pub nonce_lifetime: Duration,
    pub max_contacts: u32,
    pub bans: crate::store::bans::BanPolicy,
    /// How often one replica counts the bindings for the gauge.
    pub bindings_count: Duration,
}

/// The example configuration, built in so the all-in-one runs anywhere
/// (feature `example-users`; images leave it out: no known passwords).
#[cfg(feature = "example-users")]
pub const BUILTIN_SIP_CONF: Option<&str> = Some(include_str!("../../../examples/sip.conf"));
#[cfg(not(feature = "example-users"))]
pub const BUILTIN_SIP_CONF: Option<&str> = None;

pub fn config_dir(env: &dyn Strings) -> Option<PathBuf> {
    match env.get(ENV_CONFIG_DIR) {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            let local = PathBuf::from("examples");
            local.join("sip.conf").exists().then_some(local)
        }
    }
}

impl RegistrarConfig {
    pub fn from_env(env: &dyn Strings) -> Result<Self, Vec<EnvError>> {
        let mut r = Reader::new(env);
        let policy = ExpiryPolicy {
            default: r.parse(ENV_DEFAULT_EXPIRES, 60),
            min: r.parse(ENV_MIN_EXPIRES, 60),
            max: r.parse(ENV_MAX_EXPIRES, 60),
        };
        if policy.min > policy.max || policy.default == 0 {
            r.invalid(
                ENV_MIN_EXPIRES,
                &policy.min.to_string(),
                "floor must not exceed the cap, and the default must be positive",
            );
        }
        let cfg = RegistrarConfig {
            config_dir: config_dir(env),
            redis_url: r.string(ENV_REDIS_URL),
            redis_prefix: r
                .string(ENV_REDIS_PREFIX)
                .unwrap_or_else(|| crate::store::redis::DEFAULT_PREFIX.to_owned()),
            redis_min_replicas: r
                .string(ENV_REDIS_MIN_REPLICAS)
                .map(|_| r.parse(ENV_REDIS_MIN_REPLICAS, 0)),
            listen: r.parse(
                ENV_REGISTRAR_LISTEN,
                SocketAddr::from(([0, 0, 0, 0], 50051)),
            ),
            policy,
            nonce_secret: r.string(ENV_NONCE_SECRET),
            nonce_lifetime: Duration::from_secs(r.parse(ENV_NONCE_LIFETIME, 30)),
            max_contacts: r.parse(ENV_MAX_CONTACTS, 10),
            bans: crate::store::bans::BanPolicy {
                threshold: r.parse(ENV_BAN_THRESHOLD, 20),
                user_threshold: r.parse(ENV_BAN_USER_THRESHOLD, 50),
                window_secs: r.parse(ENV_BAN_WINDOW, 60),
                ban_secs: r.parse(ENV_BAN_SECS, 600),
            },
            bindings_count: Duration::from_secs(r.parse::<u64>(ENV_BINDINGS_COUNT_SECS, 15).max(1)),
        };
        if cfg.bans.window_secs == 0 || cfg.bans.ban_secs == 0 {
            r.invalid(
                ENV_BAN_WINDOW,
                "0",
                "ban window and duration must be positive",
            );
        }
        r.finish().map(|()| cfg)
    }
}
