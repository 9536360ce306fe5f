//! The router's settings, each an `ASTERISM_*` variable with a flag.

use asterism_config::cli::Setting;
use asterism_config::env::{EnvError, Reader};
use asterism_config::Strings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const ENV_CONFIG_DIR: &str = "ASTERISM_CONFIG_DIR";
pub const ENV_ROUTER_LISTEN: &str = "ASTERISM_ROUTER_LISTEN";
pub const ENV_DIALPLAN_POLL: &str = "ASTERISM_DIALPLAN_POLL_SECS";
pub const ENV_REDIS_URL: &str = "ASTERISM_REDIS_URL";
pub const ENV_REDIS_PREFIX: &str = "ASTERISM_REDIS_PREFIX";
pub const ENV_SYSTEM: &str = "ASTERISM_ROUTER_SYSTEM";

pub const SETTINGS: &[Setting] = &[
    Setting { env: ENV_CONFIG_DIR, flag: "config-dir", default: "examples (else built-in)", help: "directory holding extensions.conf" },
    Setting { env: ENV_ROUTER_LISTEN, flag: "router-listen", default: "0.0.0.0:50052", help: "gRPC address the router serves on (standalone router)" },
    Setting { env: ENV_DIALPLAN_POLL, flag: "dialplan-poll-secs", default: "2", help: "how often extensions.conf is checked for changes (0: never; SIGHUP and Reload still work)" },
    Setting { env: ENV_REDIS_URL, flag: "redis-url", default: "", help: "Redis holding the AstDB (DB() in the dialplan), shared by every router replica (same URL forms as the registrar's); unset: in this process's memory" },
    Setting { env: ENV_REDIS_PREFIX, flag: "redis-prefix", default: "asterism:", help: "prefix of every Redis key" },
    Setting { env: ENV_SYSTEM, flag: "router-system", default: "no", help: "yes: the dialplan's System()/TrySystem() run shell commands (as the router's user, 60 s at most); no: refused with SYSTEMSTATUS=FAILURE" },
];

/// The example dialplan, built in so the all-in-one runs anywhere.
pub const BUILTIN_EXTENSIONS_CONF: &str = include_str!("../../../examples/extensions.conf");

#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// None: the built-in example dialplan.
    pub extensions_conf: Option<PathBuf>,
    pub listen: SocketAddr,
    pub poll: Duration,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub allow_system: bool,
}

impl RouterConfig {
    pub fn from_env(env: &dyn Strings) -> Result<Self, Vec<EnvError>> {
        let mut r = Reader::new(env);
        let dir = match r.string(ENV_CONFIG_DIR) {
            Some(d) => Some(PathBuf::from(d)),
            None => {
                let local = PathBuf::from("examples");
                local.join("extensions.conf").exists().then_some(local)
            }
        };
        let cfg = RouterConfig {
            extensions_conf: dir.map(|d| d.join("extensions.conf")),
            listen: r.parse(ENV_ROUTER_LISTEN, SocketAddr::from(([0, 0, 0, 0], 50052))),
            poll: Duration::from_secs(r.parse(ENV_DIALPLAN_POLL, 2)),
            redis_url: r.string(ENV_REDIS_URL).filter(|u| !u.is_empty()),
            redis_prefix: r
                .string(ENV_REDIS_PREFIX)
                .unwrap_or_else(|| "asterism:".to_owned()),
            allow_system: r.parse::<YesNo>(ENV_SYSTEM, YesNo(false)).0,
        };
        r.finish().map(|()| cfg)
    }
}

impl RouterConfig {
    /// The AstDB these settings name: Redis when a URL is set (a malformed
    /// one is a configuration error), else this process's memory.
    pub fn astdb(&self) -> Result<std::sync::Arc<dyn crate::astdb::AstDb>, String> {
        Ok(match &self.redis_url {
            Some(url) => {
                std::sync::Arc::new(crate::astdb::redis::RedisDb::new(url, &self.redis_prefix)?)
            }
            None => std::sync::Arc::new(crate::astdb::Memory::default()),
        })
    }
}

/// yes/no as Asterisk spells it (`ast_true`).
#[derive(Debug, Clone, Copy)]
struct YesNo(bool);

impl std::str::FromStr for YesNo {
    type Err = String;

    fn from_str(s: &str) -> Result<YesNo, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "y" | "t" | "1" | "on" => Ok(YesNo(true)),
            "no" | "false" | "n" | "f" | "0" | "off" | "" => Ok(YesNo(false)),
            other => Err(format!("{other}: expected yes or no")),
        }
    }
}
