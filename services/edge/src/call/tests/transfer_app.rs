//! `Transfer()`: a REFER to the answered caller whose NOTIFYs decide
//! TRANSFERSTATUS, a 302 before the answer, FAILURE without a destination.

use super::fake::Fake;
use super::*;
use asterism_proto::router::{Answer, Transfer};

fn plan(steps: Vec<step::App>) -> Fake {
    Fake::new(steps)
}

fn transfer(dest: &str) -> step::App {
    step::App::Transfer(Transfer {
        destination: dest.into(),
    })
}

fn transfer_status(r: &StepResult) -> (&str, &str) {
    let v = |k: &str| r.variables.get(k).map(String::as_str).unwrap_or_default();
    (v("TRANSFERSTATUS"), v("TRANSFERSTATUSPROTOCOL"))
}

/// Answered, then `Transfer(63)`: the harness and our REFER.
async fn referred() -> (H, Sent) {
    let mut h = H::start(plan(vec![step::App::Answer(Answer {}), transfer("63")])).await;
    let mut cmds = h.drain().await;
    h.ack().await;
    cmds.extend(h.drain().await);
    let refer = requests(&cmds, Method::REFER).remove(0);
    (h, refer)
}

#[tokio::test(start_paused = true)]
async fn the_answered_caller_is_referred_and_its_notifies_decide() {
    let (mut h, refer) = referred().await;
    assert_eq!(refer.call_id(), "call-a");
    let hd = &refer.request.headers;
    assert_eq!(hd.get(&HeaderName::ReferTo), Some("<sip:63@127.0.0.1>"));
    assert!(hd.get(&HeaderName::ReferredBy).is_some());
    h.respond(&refer, 202, "bobtag").await;
    let event = "Event: refer\nSubscription-State: active\n";
    h.caller_with("NOTIFY", event, "SIP/2.0 100 Trying\r\n")
        .await;
    let cmds = h.drain().await;
    assert!(
        other_codes(&cmds, &h.a_key).contains(&200),
        "NOTIFY answered"
    );
    assert_eq!(h.fake.results().len(), 1, "only Answer's: still waiting");
    h.caller_with("NOTIFY", event, "SIP/2.0 200 OK\r\n").await;
    h.drain().await;
    assert_eq!(transfer_status(&h.fake.results()[1]), ("SUCCESS", "0"));
}

#[tokio::test(start_paused = true)]
async fn a_refused_refer_or_failed_transfer_is_failure_with_its_code() {
    let (mut h, refer) = referred().await;
    h.respond(&refer, 603, "bobtag").await;
    h.drain().await;
    assert_eq!(transfer_status(&h.fake.results()[1]), ("FAILURE", "603"));
    let (mut h, refer) = referred().await;
    h.respond(&refer, 202, "bobtag").await;
    h.caller_with("NOTIFY", "Event: refer\n", "SIP/2.0 486 Busy Here\r\n")
        .await;
    h.drain().await;
    assert_eq!(transfer_status(&h.fake.results()[1]), ("FAILURE", "486"));
}

#[tokio::test(start_paused = true)]
async fn before_the_answer_the_caller_is_redirected() {
    let mut h = H::start(plan(vec![transfer("63")])).await;
    let cmds = h.drain().await;
    let moved = response_of(&cmds, &h.a_key, 302).expect("302");
    assert_eq!(moved.reason, "Moved Temporarily");
    assert_eq!(
        moved.headers.get(&HeaderName::Contact),
        Some("Transfer <sip:63@127.0.0.1>")
    );
    assert_eq!(transfer_status(&h.fake.results()[0]), ("SUCCESS", "0"));
}

#[tokio::test(start_paused = true)]
async fn no_destination_is_failure() {
    let mut h = H::start(plan(vec![transfer(""), step::App::Answer(Answer {})])).await;
    h.drain().await;
    assert_eq!(transfer_status(&h.fake.results()[0]), ("FAILURE", "0"));
}

#[tokio::test(start_paused = true)]
async fn a_phone_that_never_notifies_is_bounded_by_timeout_absolute() {
    let mut fake = plan(vec![step::App::Answer(Answer {}), transfer("63")]);
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 5_000;
    fake.hangup_at_unix_ms = soon;
    let mut h = H::start(fake).await;
    let mut cmds = h.drain().await;
    h.ack().await;
    cmds.extend(h.drain().await);
    let refer = requests(&cmds, Method::REFER).remove(0);
    h.respond(&refer, 202, "bobtag").await;
    h.wait(Duration::from_secs(6)).await;
    assert_eq!(
        status(&h.fake.results()[1]).0,
        StepStatus::AbsoluteTimeout,
        "TIMEOUT(absolute) stops the wait for the NOTIFY"
    );
}
