//! Dial's `t`: the called party's `#` and extension send the caller there
//! (the callee hung up); a number that is no extension plays
//! `pbx-invalid` and the call goes on; the caller's `#` does nothing.

use super::fake::{Fake, RELAY_TO_CALLEE};
use super::*;
use crate::call::bridge::Side;

fn with_t() -> Fake {
    let step::App::Dial(mut d) = dial(&["alice"], 20) else {
        unreachable!()
    };
    (d.options, d.transfer_context) = ("t".into(), "default".into());
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
    let mut h = H::start(with_t()).await;
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
