//! The signal every binary stops on: SIGTERM (Kubernetes) or Ctrl-C.

pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}

/// Seconds work in progress may go on after SIGTERM (`ASTERISM_DRAIN_SECS`).
pub const ENV_DRAIN_SECS: &str = "ASTERISM_DRAIN_SECS";

/// [`signal`], then arm a deadline: whatever is still running after the
/// grace period (`ASTERISM_DRAIN_SECS`, default 30) is cut and the process
/// exits 0. Servers use it to stop taking new work, finish what they have,
/// and never hang a rollout.
pub async fn signal_with_grace() {
    signal().await;
    let grace = std::env::var(ENV_DRAIN_SECS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(grace)).await;
        tracing::warn!(
            grace,
            "grace period over: exiting with work still in progress"
        );
        std::process::exit(0);
    });
}
