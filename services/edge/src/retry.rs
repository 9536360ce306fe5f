//! Another try on another replica. Between a replica's death and the health
//! check that drops it from the balanced channel (about a second), requests
//! balanced onto it fail at the connection. Those never reached a registrar
//! or router, so they are safe to send again, and the balancer picks again;
//! this keeps a kill -9 of one replica invisible to phones. An error a
//! replica itself answered (Redis down → UNAVAILABLE) is final.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Pause between tries (the balancer's health view changes every second).
const PAUSE: Duration = Duration::from_millis(50);

/// Whether the request failed before any replica answered: the connection
/// could not be made (UNAVAILABLE) or broke under it (UNKNOWN "transport
/// error"; the replica may have been killed while handling it). A status a
/// server sent carries its response metadata (content-type at least); one
/// made up by the client has none. Sending again is safe: lookups and
/// authentications change nothing, and a REGISTER the dead replica did
/// apply is recognised by its nonce use (same CSeq and Call-ID) and answered
/// from the bindings it left.
pub fn never_answered(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown
    ) && status.metadata().is_empty()
}

/// Run `attempt` until it succeeds, fails with an answer, or `budget` is
/// spent (then DEADLINE_EXCEEDED, even if an attempt is still waiting).
pub async fn until_answered<T, F, Fut>(budget: Duration, mut attempt: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let deadline = Instant::now() + budget;
    loop {
        // tonic's per-request timeout only asks the server to give up; a
        // dead host never answers, so the client enforces the budget itself.
        let answer = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(a) => a,
            Err(_) => {
                return Err(tonic::Status::deadline_exceeded(
                    "no replica answered in time",
                ))
            }
        };
        match answer {
            Err(s) if never_answered(&s) && Instant::now() + PAUSE < deadline => {
                tracing::debug!(message = s.message(), "replica unreachable; trying again");
                tokio::time::sleep(PAUSE).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_only_unanswered_failures() {
        let mut n = 0;
        let r = until_answered(Duration::from_secs(2), || {
            n += 1;
            let out = if n < 3 {
                Err(tonic::Status::unavailable("tcp connect error"))
            } else {
                Ok(n)
            };
            async move { out }
        })
        .await;
        assert_eq!(r.ok(), Some(3));
        let mut answered = tonic::Status::unavailable("binding store unavailable");
        answered
            .metadata_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        let mut tries = 0;
        let r: Result<(), _> = until_answered(Duration::from_secs(2), || {
            tries += 1;
            let s = answered.clone();
            async move { Err(s) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries, 1, "an answered UNAVAILABLE is final");
        let mut tries = 0;
        let r: Result<(), _> = until_answered(Duration::from_millis(500), || {
            tries += 1;
            async { Err(tonic::Status::unavailable("connection refused")) }
        })
        .await;
        assert!(r.is_err());
        assert!(tries > 1 && tries <= 10, "gives up at the budget: {tries}");
        // An attempt that never ends (a dead host) ends at the budget.
        let r: Result<(), _> = until_answered(Duration::from_secs(1), std::future::pending).await;
        assert_eq!(r.unwrap_err().code(), tonic::Code::DeadlineExceeded);
    }
}
