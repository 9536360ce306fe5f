//! TIMEOUT(absolute): the step under way is stopped when the router's
//! deadline comes, and the router told.

use super::fake::{Fake, RELAY_TO_CALLEE};
use super::*;

fn in_ms(ms: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    now + ms
}

#[tokio::test(start_paused = true)]
async fn a_bridged_call_is_cut_when_timeout_absolute_comes() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.hangup_at_unix_ms = in_ms(3_000);
    let (mut h, inv) = bridged(fake).await;
    let early = h.wait(Duration::from_secs(2)).await;
    assert!(
        requests(&early, Method::BYE).is_empty(),
        "not before its time"
    );
    let cmds = h.wait(Duration::from_secs(2)).await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "callee hung up"
    );
    assert!(
        byes.iter().any(|b| b.call_id() == "call-a"),
        "and the caller, as the dialplan ends"
    );
    let r = &h.fake.results()[0];
    assert_eq!(status(r), (StepStatus::AbsoluteTimeout, "ANSWER"));
}

#[tokio::test(start_paused = true)]
async fn ringing_legs_are_cancelled_when_timeout_absolute_comes() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.anchored.push("alice".into());
    fake.hangup_at_unix_ms = in_ms(1_000);
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes());
    h.respond(&inv, 180, "alicetag").await;
    let cmds = h.wait(Duration::from_secs(2)).await;
    assert_eq!(requests(&cmds, Method::CANCEL).len(), 1);
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::AbsoluteTimeout);
    assert_eq!(
        *h.fake.closed.lock().unwrap(),
        vec!["r1".to_owned()],
        "relay freed"
    );
}
