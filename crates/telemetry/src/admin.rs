//! The admin port every service serves: `/live` (the process runs),
//! `/ready` (its dependencies answer; a latch the service sets) and
//! `/metrics` (Prometheus text from one shared registry). A deliberately
//! tiny HTTP/1.1 responder: a few GETs, no keep-alive, bounded reads.
//!
//! `/drain` is for a Kubernetes preStop hook (run as `<binary> drain` in the
//! container, see [`request_drain`]): the service stops taking new work and
//! the answer comes once it is idle (a media pod's last call ended) or the
//! grace period (`ASTERISM_DRAIN_SECS`) is over. Only loopback may ask: a
//! stranger on the pod network cannot drain a pod.

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Shared between the admin server and the service: readiness and metrics.
#[derive(Clone, Default)]
pub struct Admin {
    ready: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    pub registry: Arc<Mutex<Registry>>,
    drain_hook: Arc<Mutex<Option<DrainHook>>>,
}

/// What `/drain` does: start draining, and tell when the service is idle.
#[derive(Clone)]
struct DrainHook {
    start: Arc<dyn Fn() + Send + Sync>,
    idle: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Admin {
    pub fn new(prefix: &str) -> Admin {
        Admin {
            registry: Arc::new(Mutex::new(Registry::with_prefix(prefix))),
            ..Default::default()
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Shutting down: never ready again.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.draining.load(Ordering::Relaxed)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Serve `/drain`: `start` stops new work, `idle` says when none is left.
    pub fn on_drain(
        &self,
        start: impl Fn() + Send + Sync + 'static,
        idle: impl Fn() -> bool + Send + Sync + 'static,
    ) {
        if let Ok(mut h) = self.drain_hook.lock() {
            *h = Some(DrainHook {
                start: Arc::new(start),
                idle: Arc::new(idle),
            });
        }
    }

    /// Drain and wait until idle or the grace period is over.
    async fn drain_and_wait(&self) -> (&'static str, String) {
        let hook = self.drain_hook.lock().ok().and_then(|h| h.clone());
        self.drain();
        let Some(hook) = hook else {
            return ("200 OK", "draining\n".to_owned());
        };
        (hook.start)();
        let grace = std::env::var(asterism_config::shutdown::ENV_DRAIN_SECS)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(30);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(grace);
        while !(hook.idle)() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        match (hook.idle)() {
            true => ("200 OK", "drained\n".to_owned()),
            false => ("200 OK", "grace period over\n".to_owned()),
        }
    }

    /// Register metrics under the service's prefix.
    pub fn with_registry(&self, f: impl FnOnce(&mut Registry)) {
        if let Ok(mut r) = self.registry.lock() {
            f(&mut r);
        }
    }

    fn metrics_text(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }

    /// Serve on a bound (non-blocking) listener until the process ends.
    pub async fn serve(self, listener: std::net::TcpListener) -> std::io::Result<()> {
        let listener = TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "admin (/live, /ready, /metrics) serving");
        loop {
            let Ok((mut stream, peer)) = listener.accept().await else {
                continue;
            };
            let admin = self.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    stream.read(&mut buf),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/drain" if peer.ip().is_loopback() => {
                        let (status, body) = admin.drain_and_wait().await;
                        (status, "text/plain", body)
                    }
                    "/drain" => ("403 Forbidden", "text/plain", "loopback only\n".to_owned()),
                    "/live" => ("200 OK", "text/plain", "live\n".to_owned()),
                    "/ready" if admin.is_ready() => ("200 OK", "text/plain", "ready\n".to_owned()),
                    "/ready" => (
                        "503 Service Unavailable",
                        "text/plain",
                        "not ready\n".to_owned(),
                    ),
                    "/metrics" => (
                        "200 OK",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        admin.metrics_text(),
                    ),
                    _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
                };
                let resp = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = stream.write_all(resp.as_bytes()).await;
            });
        }
    }
}

/// Ask the service on this host's admin `port` to drain, and wait for its
/// answer (the preStop hook: `asterism-media drain`).
pub fn request_drain(port: u16) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(b"GET /drain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    match answer.starts_with("HTTP/1.1 200") {
        true => Ok(answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned()),
        false => Err(std::io::Error::other(
            answer.lines().next().unwrap_or_default().to_owned(),
        )),
    }
}
