//! The admin port every service serves: `/live` (the process runs),
//! `/ready` (its dependencies answer; a latch the service sets) and
//! `/metrics` (Prometheus text from one shared registry). A deliberately
//! tiny HTTP/1.1 responder: three GETs, no keep-alive, bounded reads.

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
            let Ok((mut stream, _)) = listener.accept().await else {
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
