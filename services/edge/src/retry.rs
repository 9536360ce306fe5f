//! Another try on another replica. Between a replica's death and the health
//! check that drops it from the balanced channel (about a second), requests
//! balanced onto it fail at the connection, and those it was handling when
//! it died never get an answer. Both are sent again (every backend request
//! is safe to repeat, see [`never_answered`]) and the balancer picks again;
//! this keeps a kill -9 of one replica invisible to phones. An error a
//! replica itself answered (Redis down → UNAVAILABLE) is final.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Pause between tries (the balancer's health view changes every second).
const PAUSE: Duration = Duration::from_millis(50);

/// Whether the request failed before any replica answered. A status a
/// server sent carries its response metadata (content-type at least); one
/// the client made up from a transport failure has none, whatever its code:
/// the connection could not be made (UNAVAILABLE), or broke under the
/// request — the replica killed while handling it shows as UNKNOWN
/// ("transport error"), CANCELLED ("connection closed before message
/// completed"), INTERNAL (broken pipe, h2 reset) and others. Only the
/// client's own time-out (DEADLINE_EXCEEDED) is not a reason to try again.
/// Sending again is safe: lookups change nothing, and a REGISTER or INVITE
/// authentication the dead replica did apply is recognised by its nonce use
/// (same CSeq and Call-ID) and answered as the first time.
pub fn never_answered(status: &tonic::Status) -> bool {
    status.code() != tonic::Code::DeadlineExceeded && status.metadata().is_empty()
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
        // A connection closed under the request (hyper: canceled) too.
        let mut n = 0;
        let r = until_answered(Duration::from_secs(2), || {
            n += 1;
            let out = if n < 2 {
                Err(tonic::Status::cancelled(
                    "connection closed before message completed",
                ))
            } else {
                Ok(n)
            };
            async move { out }
        })
        .await;
        assert_eq!(r.ok(), Some(2));
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
