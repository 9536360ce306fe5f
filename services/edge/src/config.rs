//! The edge's settings, each an `ASTERISM_*` variable with a flag.

use asterism_config::cli::Setting;
use asterism_config::env::{EnvError, Reader};
use asterism_config::Strings;
use asterism_sip::transaction::TimerConfig;
use asterism_sip::transport::TcpLimits;
use std::net::SocketAddr;
use std::time::Duration;

pub const ENV_SIP_BIND: &str = "ASTERISM_SIP_BIND";
pub const ENV_SIP_ADVERTISE: &str = "ASTERISM_SIP_ADVERTISE";
pub const ENV_SIP_INTERNAL: &str = "ASTERISM_SIP_INTERNAL";
pub const ENV_REGISTRAR_ADDR: &str = "ASTERISM_REGISTRAR_ADDR";
pub const ENV_EDGE_ID: &str = "ASTERISM_EDGE_ID";
pub const ENV_ROUTER_ADDR: &str = "ASTERISM_ROUTER_ADDR";
pub const ENV_EDGE_ADMIN_LISTEN: &str = "ASTERISM_EDGE_ADMIN_LISTEN";
pub const ENV_MEDIA_ADDRS: &str = "ASTERISM_MEDIA_ADDRS";
pub const ENV_DRAIN_SECS: &str = "ASTERISM_DRAIN_SECS";
pub const ENV_SIP_T1: &str = "ASTERISM_SIP_T1_MS";
pub const ENV_SIP_T2: &str = "ASTERISM_SIP_T2_MS";
pub const ENV_SIP_T4: &str = "ASTERISM_SIP_T4_MS";
pub const ENV_RETRY_AFTER: &str = "ASTERISM_RETRY_AFTER";
pub const ENV_RPC_TIMEOUT: &str = "ASTERISM_RPC_TIMEOUT_MS";
pub const ENV_CLUSTER_SECRET: &str = "ASTERISM_CLUSTER_SECRET";
pub const ENV_SECURITY_LOG: &str = "ASTERISM_SECURITY_LOG";
pub const ENV_MAX_PENDING: &str = "ASTERISM_MAX_PENDING";
pub const ENV_TCP_MAX_CONNECTIONS: &str = "ASTERISM_TCP_MAX_CONNECTIONS";
pub const ENV_TCP_MAX_PER_IP: &str = "ASTERISM_TCP_MAX_PER_IP";
pub const ENV_TCP_AUTH_LIMIT: &str = "ASTERISM_TCP_AUTH_LIMIT";
pub const ENV_TCP_AUTH_TIMEOUT: &str = "ASTERISM_TCP_AUTH_TIMEOUT";
pub const ENV_TCP_IDLE_TIMEOUT: &str = "ASTERISM_TCP_IDLE_TIMEOUT";
pub const ENV_TCP_MESSAGE_TIMEOUT: &str = "ASTERISM_TCP_MESSAGE_TIMEOUT";
pub const ENV_TCP_WRITE_QUEUE: &str = "ASTERISM_TCP_WRITE_QUEUE";

pub const SETTINGS: &[Setting] = &[
    Setting {
        env: ENV_SIP_BIND,
        flag: "sip-bind",
        default: "0.0.0.0:5060",
        help: "host:port for SIP over UDP and TCP",
    },
    Setting {
        env: ENV_SIP_ADVERTISE,
        flag: "sip-advertise",
        default: "the bind address",
        help: "host:port phones reach this edge at (Via, Contact, Record-Route)",
    },
    Setting {
        env: ENV_SIP_INTERNAL,
        flag: "sip-internal",
        default: "the advertised address",
        help: "host:port (an address literal) other edges reach this edge at, for calls to phones registered through it; on a port of its own it is a separate UDP listener, the only one that relays to phones",
    },
    Setting {
        env: ENV_CLUSTER_SECRET,
        flag: "cluster-secret",
        default: "random, this edge alone",
        help: "secret shared by every edge of a cluster, signing the flow tokens and branches of the hop between edges",
    },
    Setting {
        env: ENV_MAX_PENDING,
        flag: "max-pending",
        default: "4096",
        help: "REGISTERs and new INVITEs waiting on the registrar at once; more get 503 with Retry-After (load shedding)",
    },
    Setting {
        env: ENV_SECURITY_LOG,
        flag: "security-log",
        default: "none (the service log only)",
        help: "file to append authentication failures to, in Asterisk's format (for fail2ban's asterisk filter)",
    },
    Setting {
        env: ENV_TCP_MAX_CONNECTIONS,
        flag: "tcp-max-connections",
        default: "8192",
        help: "SIP TCP connections open at once; more are closed at accept",
    },
    Setting {
        env: ENV_TCP_MAX_PER_IP,
        flag: "tcp-max-per-ip",
        default: "1024",
        help: "SIP TCP connections from one IP address (an office behind one NAT)",
    },
    Setting {
        env: ENV_TCP_AUTH_LIMIT,
        flag: "tcp-auth-limit",
        default: "256",
        help: "SIP TCP connections not yet authenticated, at once (Asterisk tcpauthlimit)",
    },
    Setting {
        env: ENV_TCP_AUTH_TIMEOUT,
        flag: "tcp-auth-timeout",
        default: "30",
        help: "seconds a SIP TCP connection has to authenticate before it is closed (Asterisk tcpauthtimeout)",
    },
    Setting {
        env: ENV_TCP_IDLE_TIMEOUT,
        flag: "tcp-idle-timeout",
        default: "300",
        help: "seconds an authenticated SIP TCP connection may stay silent",
    },
    Setting {
        env: ENV_TCP_MESSAGE_TIMEOUT,
        flag: "tcp-message-timeout",
        default: "10",
        help: "seconds a SIP message on TCP has to arrive whole once begun",
    },
    Setting {
        env: ENV_TCP_WRITE_QUEUE,
        flag: "tcp-write-queue",
        default: "256",
        help: "messages queued to a TCP peer; one that does not read them loses its connection",
    },
    Setting {
        env: ENV_REGISTRAR_ADDR,
        flag: "registrar-addr",
        default: "http://127.0.0.1:50051",
        help: "registrar gRPC endpoint (all-in-one: the built-in one unless set)",
    },
    Setting {
        env: ENV_ROUTER_ADDR,
        flag: "router-addr",
        default: "http://127.0.0.1:50052",
        help: "router gRPC endpoint (all-in-one: the built-in one unless set)",
    },
    Setting {
        env: ENV_MEDIA_ADDRS,
        flag: "media-addrs",
        default: "http://127.0.0.1:50054",
        help: "media gRPC endpoints, comma-separated, or dns+http://name:port for every address of a name (re-resolved every 5 s); each call goes to the least loaded one (all-in-one: the built-in one unless set)",
    },
    Setting {
        env: ENV_DRAIN_SECS,
        flag: "drain-secs",
        default: "30",
        help: "on SIGTERM, how long calls in progress may go on (no new ones are taken)",
    },
    Setting {
        env: ENV_EDGE_ADMIN_LISTEN,
        flag: "edge-admin-listen",
        default: "127.0.0.1:50053",
        help: "gRPC address of the edge's admin service (ListCalls); standalone edge",
    },
    Setting {
        env: ENV_EDGE_ID,
        flag: "edge-id",
        default: "$HOSTNAME:<SIP port>, else random",
        help: "this edge instance's id, recorded in bindings (calls to a phone go through the edge that registered it)",
    },
    Setting {
        env: ENV_SIP_T1,
        flag: "sip-t1-ms",
        default: "500",
        help: "RFC 3261 T1 (RTT estimate)",
    },
    Setting {
        env: ENV_SIP_T2,
        flag: "sip-t2-ms",
        default: "4000",
        help: "RFC 3261 T2 (maximum retransmit interval)",
    },
    Setting {
        env: ENV_SIP_T4,
        flag: "sip-t4-ms",
        default: "5000",
        help: "RFC 3261 T4 (maximum message lifetime)",
    },
    Setting {
        env: ENV_RETRY_AFTER,
        flag: "retry-after",
        default: "5",
        help: "Retry-After seconds on 503 when a backend is down",
    },
    Setting {
        env: ENV_RPC_TIMEOUT,
        flag: "rpc-timeout-ms",
        default: "2000",
        help: "deadline of each gRPC call to a backend",
    },
];

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub sip_bind: SocketAddr,
    pub sip_advertise: Option<String>,
    pub sip_internal: Option<String>,
    /// Signs the hop between edges; None: a random key of this edge alone.
    pub cluster_secret: Option<String>,
    pub tcp: TcpLimits,
    pub security_log: Option<std::path::PathBuf>,
    /// Requests waiting on a backend at once (REGISTER, new INVITEs).
    pub max_pending: usize,
    pub registrar_addr: String,
    pub router_addr: String,
    pub media_addrs: Vec<String>,
    pub admin_listen: SocketAddr,
    pub drain_grace: Duration,
    pub edge_id: String,
    pub timers: TimerConfig,
    pub retry_after: u32,
    pub rpc_timeout: Duration,
    /// No other edge can share this one's bindings (the all-in-one with its
    /// in-memory registrar): no warning about an internal address.
    pub alone: bool,
}

impl EdgeConfig {
    pub fn from_env(env: &dyn Strings) -> Result<Self, Vec<EnvError>> {
        let mut r = Reader::new(env);
        let ms = |r: &mut Reader, k, d| Duration::from_millis(r.parse(k, d));
        let timers = TimerConfig {
            t1: ms(&mut r, ENV_SIP_T1, 500),
            t2: ms(&mut r, ENV_SIP_T2, 4000),
            t4: ms(&mut r, ENV_SIP_T4, 5000),
        };
        if timers.t1.is_zero() || timers.t2 < timers.t1 {
            r.invalid(
                ENV_SIP_T1,
                &format!("{:?}", timers.t1),
                "T1 must be positive and not above T2",
            );
        }
        // Replica lists stay as written; `crate::replicas` reads them.
        let registrar_addr = r
            .string(ENV_REGISTRAR_ADDR)
            .unwrap_or_else(|| "http://127.0.0.1:50051".into());
        let router_addr = r
            .string(ENV_ROUTER_ADDR)
            .unwrap_or_else(|| "http://127.0.0.1:50052".into());
        let sip_bind = r.parse(ENV_SIP_BIND, SocketAddr::from(([0, 0, 0, 0], 5060)));
        let cfg = EdgeConfig {
            sip_bind,
            sip_advertise: r.string(ENV_SIP_ADVERTISE),
            sip_internal: r.string(ENV_SIP_INTERNAL),
            cluster_secret: r.string(ENV_CLUSTER_SECRET).filter(|s| !s.is_empty()),
            tcp: tcp_limits(&mut r),
            security_log: r.string(ENV_SECURITY_LOG).map(std::path::PathBuf::from),
            max_pending: r.parse(ENV_MAX_PENDING, 4096),
            registrar_addr,
            router_addr,
            media_addrs: crate::replicas(
                &r.string(ENV_MEDIA_ADDRS)
                    .unwrap_or_else(|| "http://127.0.0.1:50054".into()),
            ),
            drain_grace: Duration::from_secs(r.parse(ENV_DRAIN_SECS, 30)),
            admin_listen: r.parse(
                ENV_EDGE_ADMIN_LISTEN,
                SocketAddr::from(([127, 0, 0, 1], 50053)),
            ),
            // Unique per edge: the pod name in Kubernetes; host and SIP port
            // elsewhere, so two edges on one host never share an id.
            edge_id: r.string(ENV_EDGE_ID).unwrap_or_else(|| {
                match std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()) {
                    Some(h) => format!("{h}:{}", sip_bind.port()),
                    None => format!("edge-{:08x}", rand::random::<u32>()),
                }
            }),
            timers,
            retry_after: r.parse(ENV_RETRY_AFTER, 5),
            rpc_timeout: ms(&mut r, ENV_RPC_TIMEOUT, 2000),
            alone: false,
        };
        r.finish().map(|()| cfg)
    }
}

fn tcp_limits(r: &mut Reader) -> TcpLimits {
    let d = TcpLimits::default();
    let secs = |r: &mut Reader, k, d: Duration| Duration::from_secs(r.parse(k, d.as_secs()));
    let l = TcpLimits {
        max_connections: r.parse(ENV_TCP_MAX_CONNECTIONS, d.max_connections),
        max_per_ip: r.parse(ENV_TCP_MAX_PER_IP, d.max_per_ip),
        auth_limit: r.parse(ENV_TCP_AUTH_LIMIT, d.auth_limit),
        auth_timeout: secs(r, ENV_TCP_AUTH_TIMEOUT, d.auth_timeout),
        idle_timeout: secs(r, ENV_TCP_IDLE_TIMEOUT, d.idle_timeout),
        message_timeout: secs(r, ENV_TCP_MESSAGE_TIMEOUT, d.message_timeout),
        write_queue: r.parse(ENV_TCP_WRITE_QUEUE, d.write_queue),
    };
    for (k, v) in [
        (ENV_TCP_MAX_CONNECTIONS, l.max_connections),
        (ENV_TCP_MAX_PER_IP, l.max_per_ip),
        (ENV_TCP_AUTH_LIMIT, l.auth_limit),
        (ENV_TCP_WRITE_QUEUE, l.write_queue),
        (ENV_TCP_AUTH_TIMEOUT, l.auth_timeout.as_secs() as usize),
        (ENV_TCP_IDLE_TIMEOUT, l.idle_timeout.as_secs() as usize),
        (
            ENV_TCP_MESSAGE_TIMEOUT,
            l.message_timeout.as_secs() as usize,
        ),
    ] {
        if v == 0 {
            r.invalid(k, "0", "must be at least 1");
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_errors() {
        let env: HashMap<&str, &str> = HashMap::new();
        let c = EdgeConfig::from_env(&env).unwrap();
        assert_eq!(c.sip_bind.port(), 5060);
        assert_eq!(c.timers, TimerConfig::default());
        let env: HashMap<&str, &str> = [(ENV_SIP_BIND, "nope"), (ENV_SIP_T1, "x")].into();
        assert_eq!(EdgeConfig::from_env(&env).unwrap_err().len(), 2);
        let env: HashMap<&str, &str> =
            [(ENV_REGISTRAR_ADDR, "10.0.0.1:50051, http://10.0.0.2:50051")].into();
        let c = EdgeConfig::from_env(&env).unwrap();
        assert_eq!(
            crate::replicas(&c.registrar_addr),
            vec!["http://10.0.0.1:50051", "http://10.0.0.2:50051"]
        );
    }
}
