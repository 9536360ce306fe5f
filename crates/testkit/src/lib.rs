//! Helpers for tests that need real processes: a throw-away `redis-server` on
//! a free loopback port, Asterism binaries started with their settings, and
//! free ports. Everything is killed when its handle drops.

mod cluster;
mod process;
mod redis;

pub use cluster::RedisCluster;
pub use process::{bin_path, free_port, free_ports, rtp_base, Service};
pub use redis::RedisServer;
