//! Dial's `t`: the called party's `#` and extension send the caller there
//! (the callee hung up); a number that is no extension plays
//! `pbx-invalid` and the call goes on; the caller's `#` does nothing
//! without `T`, and with it sends the called party into the dialplan.

use super::fake::{Fake, RELAY_TO_CALLEE};
use super::*;
use crate::call::bridge::Side;

fn with_t() -> Fake {
    with("t")
}

fn with(options: &str) -> Fake {
    let step::App::Dial(mut d) = dial(&["alice"], 20) else {
        unreachable!()
    };
    (d.options, d.transfer_context) = (options.into(), "default".into());
    let mut fake = Fake::new(vec![step::App::Dial(d)]);
    fake.extensions = ["63", "700", "7001"]
        .iter()
        .map(|e| ("default".to_owned(), e.to_string()))
        .collect();
    fake
}

async fn press(h: &mut H, side: Side, digits: &str) {
    for d in digits.chars() {
        h.fake.digits.lock().unwrap().0.send((side, d)).unwrap();
        h.wait(Duration::from_millis(300)).await;
    }
}

async fn bridged_with_t() -> (H, Sent) {
    bridged_after(with_t()).await
}

async fn bridged_after(fake: Fake) -> (H, Sent) {
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes(), "anchored");
    h.respond(&inv, 200, "alicetag").await;
    h.drain().await;
    h.ack().await;
    h.drain().await;
    (h, inv)
}

#[tokio::test(start_paused = true)]
async fn the_called_party_transfers_the_caller() {
    let (mut h, inv) = bridged_with_t().await;
    press(&mut h, Side::Caller, "#63").await;
    assert!(
        h.fake.prompts.lock().unwrap().is_empty(),
        "not the caller's right"
    );
    press(&mut h, Side::Callee, "#").await;
    assert_eq!(
        h.fake.prompts.lock().unwrap()[0],
        (Side::Callee, vec!["pbx-transfer".to_owned()], false)
    );
    press(&mut h, Side::Callee, "6").await;
    assert!(h.fake.results().is_empty(), "6 could be more");
    h.fake
        .digits
        .lock()
        .unwrap()
        .0
        .send((Side::Callee, '3'))
        .unwrap();
    let cmds = h.drain().await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "alice hung up"
    );
    let r = &h.fake.results()[0];
    assert_eq!(
        (r.transfer_to.as_str(), r.dial_status.as_str()),
        ("63", "ANSWER")
    );
}

#[tokio::test(start_paused = true)]
async fn an_extension_that_could_grow_waits_for_the_digit_timeout() {
    let (mut h, _) = bridged_with_t().await;
    press(&mut h, Side::Callee, "#700").await;
    assert!(h.fake.results().is_empty(), "7001 might follow");
    h.wait(Duration::from_secs(3)).await;
    assert_eq!(h.fake.results()[0].transfer_to, "700");
}

#[tokio::test(start_paused = true)]
async fn no_such_extension_plays_invalid_and_the_call_goes_on() {
    let (mut h, inv) = bridged_with_t().await;
    press(&mut h, Side::Callee, "#99").await;
    let cmds = h.wait(Duration::from_secs(4)).await;
    assert!(requests(&cmds, Method::BYE).is_empty());
    assert!(h.fake.results().is_empty(), "still bridged");
    let prompts = h.fake.prompts.lock().unwrap().clone();
    assert_eq!(
        prompts[1],
        (Side::Callee, vec!["pbx-invalid".to_owned()], false)
    );
    // And a second try works.
    press(&mut h, Side::Callee, "#63").await;
    let _ = inv;
    assert_eq!(h.fake.results()[0].transfer_to, "63");
}

#[tokio::test(start_paused = true)]
async fn the_caller_transfers_the_called_party_into_the_dialplan() {
    let mut fake = with("T");
    fake.users.insert(
        "alice".into(),
        asterism_proto::common::User {
            name: "alice".into(),
            callerid_num: "61".into(),
            callerid_name: "Alice".into(),
            ..Default::default()
        },
    );
    fake.then = vec![step::App::Playback(asterism_proto::router::Playback {
        files: vec!["beep".into()],
    })];
    let (mut h, inv) = bridged_after(fake).await;
    press(&mut h, Side::Callee, "#63").await;
    assert!(
        h.fake.results().is_empty(),
        "t not given: not alice's right"
    );
    press(&mut h, Side::Caller, "#6").await;
    h.fake
        .digits
        .lock()
        .unwrap()
        .0
        .send((Side::Caller, '3'))
        .unwrap();
    let cmds = h.drain().await;
    // Bob's dialplan ends as if he hung up, and he gets a BYE.
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "ANSWER")
    );
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 1);
    assert_ne!(byes[0].call_id(), inv.call_id(), "alice stays");
    assert!(h
        .fake
        .relay_updates
        .lock()
        .unwrap()
        .iter()
        .any(|u| u.1 == "swap"));
    // Alice runs 63 as a caller of her own, on the relay's caller leg.
    let starts = h.fake.starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 2);
    assert_eq!(
        (starts[1].context.as_str(), starts[1].extension.as_str()),
        ("default", "63")
    );
    assert_eq!(
        (
            starts[1].callerid_num.as_str(),
            starts[1].callerid_name.as_str()
        ),
        ("61", "Alice")
    );
    assert_eq!(starts[1].call_id, inv.call_id());
    let cmds = h.wait(Duration::from_secs(3)).await;
    let results = h.fake.results();
    assert_eq!(status(&results[1]).0, StepStatus::Ok, "her Playback played");
    // Then her dialplan ends: she gets the BYE, in her dialog.
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "{byes:?}"
    );
}
