//! A private `redis-server` for one test (real Redis, never a mock).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// Arguments after the common ones (replica-of, sentinel config).
    extra: Vec<String>,
}

impl RedisServer {
    /// Start `redis-server` on a free port and wait until it answers PING.
    pub fn start() -> RedisServer {
        Self::start_with(crate::free_port(), Vec::new())
    }

    /// A replica of the server on `primary_port`, returned once its first
    /// sync is done (the primary delays it by `repl-diskless-sync-delay`).
    pub fn replica_of(primary_port: u16) -> RedisServer {
        let extra = vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary_port.to_string(),
        ];
        let s = Self::start_with(crate::free_port(), extra);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let info = s.command(&["INFO", "replication"]).unwrap_or_default();
            if info.contains("master_link_status:up") {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("replica on port {} never synced", s.port);
    }

    /// A Redis Sentinel watching the primary on `primary_port` as `master`,
    /// quorum 1, declaring it down after one second.
    pub fn sentinel(master: &str, primary_port: u16) -> RedisServer {
        let port = crate::free_port();
        let conf = Self::sentinel_conf(port);
        let text = format!(
            "sentinel monitor {master} 127.0.0.1 {primary_port} 1\n\
             sentinel down-after-milliseconds {master} 1000\n\
             sentinel failover-timeout {master} 5000\n"
        );
        std::fs::write(&conf, text).expect("write sentinel config");
        let mut s = RedisServer {
            child: None,
            port,
            extra: Vec::new(),
        };
        s.spawn_args(&[conf.display().to_string(), "--sentinel".into()]);
        s
    }

    /// On a sentinel: hand `master`'s role to a replica. Retried until the
    /// sentinel agrees (it answers NOGOODSLAVE until a replica's link is up).
    pub fn failover(&self, master: &str) {
        let mut reply = String::new();
        for _ in 0..100 {
            reply = self
                .command(&["SENTINEL", "FAILOVER", master])
                .unwrap_or_default();
            if reply.starts_with("+OK") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("sentinel refused the failover: {reply}");
    }

    /// Start on `port` with extra arguments (cluster mode…).
    pub fn start_on(port: u16, extra: Vec<String>) -> RedisServer {
        Self::start_with(port, extra)
    }

    fn start_with(port: u16, extra: Vec<String>) -> RedisServer {
        let mut s = RedisServer {
            child: None,
            port,
            extra,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        self.spawn_args(&[]);
    }

    fn sentinel_conf(port: u16) -> PathBuf {
        std::env::temp_dir().join(format!("asterism-sentinel-{port}.conf"))
    }

    /// The RDB file of this server alone. A replica's full sync writes one
    /// even with `save ""`, and a server loads whatever its file holds at
    /// start, so a shared `dump.rdb` would leak bindings between tests.
    fn rdb_file(&self) -> PathBuf {
        std::env::temp_dir().join(format!("asterism-redis-{}.rdb", self.port))
    }

    fn spawn_args(&mut self, first: &[String]) {
        let mut cmd = Command::new("redis-server");
        cmd.args(first);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"]);
        if first.is_empty() {
            let rdb = self.rdb_file();
            let _ = std::fs::remove_file(&rdb);
            let dir = std::env::temp_dir().display().to_string();
            let name = rdb
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            cmd.args(["--save", "", "--appendonly", "no", "--dir", &dir]);
            cmd.args(["--dbfilename", &name]);
        }
        let child = cmd
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (the test command installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn ping(&self) -> bool {
        self.command(&["PING"])
            .is_some_and(|r| r.starts_with("+PONG"))
    }

    /// Send one command (RESP) and return the raw reply.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Stop the server (data is lost: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.rdb_file());
        let _ = std::fs::remove_file(Self::sentinel_conf(self.port));
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
