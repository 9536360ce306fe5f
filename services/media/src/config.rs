//! The media service's settings, each an `ASTERISM_*` variable with a flag.

use asterism_config::cli::Setting;
use asterism_config::env::{EnvError, Reader};
use asterism_config::Strings;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub const ENV_MEDIA_LISTEN: &str = "ASTERISM_MEDIA_LISTEN";
pub const ENV_RTP_PORTS: &str = "ASTERISM_RTP_PORTS";
pub const ENV_MEDIA_ADVERTISE: &str = "ASTERISM_MEDIA_ADVERTISE";
pub const ENV_RTP_BIND: &str = "ASTERISM_RTP_BIND";
pub const ENV_SOUNDS_DIR: &str = "ASTERISM_SOUNDS_DIR";
pub const ENV_RTP_TIMEOUT: &str = "ASTERISM_RTP_TIMEOUT";
pub const ENV_MEDIA_CAPACITY: &str = "ASTERISM_MEDIA_CAPACITY";
pub const ENV_CONFIG_DIR: &str = "ASTERISM_CONFIG_DIR";

pub const SETTINGS: &[Setting] = &[
    Setting {
        env: ENV_MEDIA_LISTEN,
        flag: "media-listen",
        default: "0.0.0.0:50054",
        help: "gRPC address the media service serves on (standalone media)",
    },
    Setting {
        env: ENV_RTP_PORTS,
        flag: "rtp-ports",
        default: "10000-20000",
        help: "UDP port range for RTP (even) and RTCP (odd)",
    },
    Setting {
        env: ENV_RTP_BIND,
        flag: "rtp-bind",
        default: "0.0.0.0",
        help: "address RTP sockets bind to",
    },
    Setting {
        env: ENV_MEDIA_ADVERTISE,
        flag: "media-advertise",
        default: "the address the phone reached the edge at",
        help: "address written in SDP answers (the pod IP or a public address), or k8s-node: the node's public address from the Kubernetes API (see node)",
    },
    Setting {
        env: ENV_SOUNDS_DIR,
        flag: "sounds-dir",
        default: "/usr/share/asterisk/sounds",
        help: "sound files in Asterisk's layout (<dir>/<lang>/<name>.wav)",
    },
    Setting {
        env: ENV_CONFIG_DIR,
        flag: "config-dir",
        default: "examples (else the sample's default class)",
        help: "directory holding musiconhold.conf (classes' relative directories are under the sounds directory's parent, as Asterisk's data directory)",
    },
    Setting {
        env: ENV_RTP_TIMEOUT,
        flag: "rtp-timeout",
        default: "30",
        help: "seconds without RTP before a session times out and the call is hung up",
    },
    Setting {
        env: ENV_MEDIA_CAPACITY,
        flag: "media-capacity",
        default: "500",
        help: "sessions this instance is sized for; the edge places new calls on the least loaded instance",
    },
];

#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub listen: SocketAddr,
    pub rtp_first: u16,
    pub rtp_last: u16,
    pub rtp_bind: IpAddr,
    pub advertise: Option<IpAddr>,
    /// `k8s-node`: look the address up at start ([`crate::node`]).
    pub advertise_from_node: bool,
    pub sounds: PathBuf,
    /// Where `musiconhold.conf` is (None: the sample's `[default]` class).
    pub config_dir: Option<PathBuf>,
    pub rtp_timeout: Duration,
    pub capacity: u32,
}

impl MediaConfig {
    pub fn from_env(env: &dyn Strings) -> Result<Self, Vec<EnvError>> {
        let mut r = Reader::new(env);
        let range = r
            .string(ENV_RTP_PORTS)
            .unwrap_or_else(|| "10000-20000".into());
        let (first, last) = match range
            .split_once('-')
            .map(|(a, b)| (a.trim().parse::<u16>(), b.trim().parse::<u16>()))
        {
            Some((Ok(a), Ok(b))) if a < b => (a, b),
            _ => {
                r.invalid(
                    ENV_RTP_PORTS,
                    &range,
                    "expected FIRST-LAST with FIRST < LAST",
                );
                (10000, 20000)
            }
        };
        let from_node = r.string(ENV_MEDIA_ADVERTISE).as_deref() == Some(crate::node::FROM_NODE);
        let advertise = match r.string(ENV_MEDIA_ADVERTISE) {
            None => None,
            Some(_) if from_node => None,
            Some(v) => match v.parse() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    r.invalid(
                        ENV_MEDIA_ADVERTISE,
                        &v,
                        "expected an IP address or k8s-node",
                    );
                    None
                }
            },
        };
        let cfg = MediaConfig {
            listen: r.parse(ENV_MEDIA_LISTEN, SocketAddr::from(([0, 0, 0, 0], 50054))),
            rtp_first: first,
            rtp_last: last,
            rtp_bind: r.parse(ENV_RTP_BIND, IpAddr::from([0, 0, 0, 0])),
            advertise,
            advertise_from_node: from_node,
            sounds: PathBuf::from(
                r.string(ENV_SOUNDS_DIR)
                    .unwrap_or_else(|| "/usr/share/asterisk/sounds".into()),
            ),
            config_dir: match r.string(ENV_CONFIG_DIR) {
                Some(d) => Some(PathBuf::from(d)),
                None => Some(PathBuf::from("examples")).filter(|d| d.is_dir()),
            },
            rtp_timeout: Duration::from_secs(r.parse(ENV_RTP_TIMEOUT, 30)),
            capacity: r.parse(ENV_MEDIA_CAPACITY, 500),
        };
        r.finish().map(|()| cfg)
    }
}
