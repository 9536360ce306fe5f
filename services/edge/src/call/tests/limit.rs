//! Dial's `L`: the answered call is cut at the limit (callee hung up,
//! the Dial over with ANSWER), warnings said to the caller through the
//! relay before it (and repeated), the timeout file played first.

use super::fake::{Fake, RELAY_TO_CALLEE};
use super::*;
use crate::call::bridge::Side;
use asterism_proto::router::DialLimit;

fn limited(limit: DialLimit) -> Fake {
    let step::App::Dial(mut d) = dial(&["alice"], 20) else {
        unreachable!()
    };
    d.options = format!("L({})", limit.limit_ms);
    d.limit = Some(Box::new(limit));
    Fake::new(vec![step::App::Dial(d)])
}

fn spec(limit_ms: u64, warning_ms: u64, repeat_ms: u64) -> DialLimit {
    DialLimit {
        limit_ms,
        warning_ms,
        repeat_ms,
        to_caller: true,
        warning_file: "timeleft".into(),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_callee_is_hung_up_at_the_limit() {
    let (mut h, inv) = bridged(limited(spec(10_000, 0, 0))).await;
    assert!(
        h.fake.media_asks.lock().unwrap().is_empty(),
        "nothing to play: media stays direct"
    );
    let cmds = h.wait(Duration::from_secs(9)).await;
    assert!(requests(&cmds, Method::BYE).is_empty());
    assert!(h.fake.results().is_empty(), "still bridged");
    let cmds = h.wait(Duration::from_secs(2)).await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "alice hung up"
    );
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "ANSWER"));
}

#[tokio::test(start_paused = true)]
async fn warnings_say_the_time_left_and_repeat() {
    let mut h = H::start(limited(spec(60_000, 30_000, 10_000))).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes(), "anchored");
    h.respond(&inv, 200, "alicetag").await;
    h.drain().await;
    h.ack().await;
    h.wait(Duration::from_secs(29)).await;
    assert!(h.fake.prompts.lock().unwrap().is_empty());
    h.wait(Duration::from_secs(2)).await;
    let said = |n: &str| {
        vec![
            "vm-youhave".to_owned(),
            format!("digits/{n}"),
            "queue-seconds".into(),
        ]
    };
    assert_eq!(
        *h.fake.prompts.lock().unwrap(),
        vec![(Side::Caller, said("30"), false)]
    );
    h.wait(Duration::from_secs(20)).await;
    let prompts = h.fake.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 3, "at 40 s and 50 s again: {prompts:?}");
    assert_eq!(prompts[2].1, said("10"));
    assert!(h.fake.results().is_empty());
    let cmds = h.wait(Duration::from_secs(10)).await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "alice hung up"
    );
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "ANSWER"));
    assert_eq!(h.fake.prompts.lock().unwrap().len(), 3, "none at the end");
}

#[tokio::test(start_paused = true)]
async fn the_timeout_file_plays_before_the_hang_up() {
    let mut l = spec(5_000, 0, 0);
    (l.timeout_file, l.connect_file, l.to_callee) = ("bye".into(), "hi".into(), true);
    let mut fake = limited(l);
    fake.play = Duration::from_secs(2);
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 200, "alicetag").await;
    h.drain().await;
    h.ack().await;
    h.drain().await;
    let hi = vec!["hi".to_owned()];
    assert_eq!(
        *h.fake.prompts.lock().unwrap(),
        vec![(Side::Caller, hi.clone(), false), (Side::Callee, hi, false)]
    );
    let cmds = h.wait(Duration::from_millis(5500)).await;
    assert!(
        requests(&cmds, Method::BYE).is_empty(),
        "the file plays first"
    );
    let prompts = h.fake.prompts.lock().unwrap().clone();
    assert_eq!(prompts[2], (Side::Caller, vec!["bye".to_owned()], true));
    assert_eq!(prompts[3], (Side::Callee, vec!["bye".to_owned()], false));
    let cmds = h.wait(Duration::from_secs(2)).await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "alice hung up"
    );
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "ANSWER"));
}
