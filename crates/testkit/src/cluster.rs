//! A throw-away Redis Cluster: three primaries on free loopback ports, the
//! slots split between them by `redis-cli --cluster create`, returned once
//! every node reports `cluster_state:ok`.

use crate::RedisServer;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                let port = crate::free_port();
                let conf = std::env::temp_dir().join(format!("asterism-nodes-{port}.conf"));
                let _ = std::fs::remove_file(&conf);
                RedisServer::start_on(
                    port,
                    vec![
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        conf.display().to_string(),
                        "--cluster-node-timeout".into(),
                        "2000".into(),
                        // The bus port is otherwise port + 10000, which may be
                        // a port free_port hands to another test's service.
                        "--cluster-port".into(),
                        crate::free_port().to_string(),
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (Debian package redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            while !n
                .command(&["CLUSTER", "INFO"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
            {
                assert!(Instant::now() < deadline, "cluster never became ok");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        RedisCluster { nodes }
    }

    /// `redis+cluster://…` naming every node.
    pub fn url(&self) -> String {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", addrs.join(","))
    }

    /// Keys matching `pattern` on all nodes together.
    pub fn keys(&self, pattern: &str) -> usize {
        self.nodes
            .iter()
            .map(|n| {
                n.command(&["KEYS", pattern])
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.starts_with("asterism:"))
                    .count()
            })
            .sum()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.stop();
            let _ = std::fs::remove_file(
                std::env::temp_dir().join(format!("asterism-nodes-{}.conf", n.port)),
            );
        }
    }
}
