//! Before the dialplan: authentication, the caller's call-limit, the
//! router's stream, and a caller who gives up meanwhile.

use super::fake::{Auth, Fake, Router};
use super::*;

#[tokio::test(start_paused = true)]
async fn without_credentials_a_401_challenge_once_and_the_call_id_is_freed() {
    let mut h = H::start_with(Fake::new(vec![]), invite(false)).await;
    assert_eq!(h.ended().await, "refused");
    // drain already ran in ended(); the refusal was sent once.
    assert!(h.unroutes.contains(&"call-a".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn the_challenge_carries_www_authenticate_and_no_100() {
    let mut h = H::start_with(Fake::new(vec![]), invite(false)).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![401]);
    assert!(
        sent_once(&cmds, &h.a_key),
        "a spoofed source gets one answer"
    );
    let r = response_of(&cmds, &h.a_key, 401).unwrap();
    assert!(r
        .headers
        .get(&HeaderName::WwwAuthenticate)
        .unwrap()
        .starts_with("Digest realm="));
    // The Call-ID is given up before the refusal goes out, so the phone's
    // INVITE with credentials starts a call of its own.
    let unroute = cmds
        .iter()
        .position(|c| matches!(c, Command::Unroute { .. }))
        .unwrap();
    let refusal = cmds
        .iter()
        .position(|c| matches!(c, Command::RespondOnce { .. }))
        .unwrap();
    assert!(unroute < refusal);
}

#[tokio::test(start_paused = true)]
async fn wrong_credentials_get_403() {
    let mut fake = Fake::new(vec![]);
    fake.auth = Auth::Refuse;
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![100, 403]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn registrar_down_gives_503_with_retry_after() {
    let mut fake = Fake::new(vec![]);
    fake.auth = Auth::Unavailable;
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    let r = response_of(&cmds, &h.a_key, 503).expect("503");
    assert_eq!(r.headers.get(&HeaderName::RetryAfter), Some("5"));
}

#[tokio::test(start_paused = true)]
async fn max_forwards_zero_gets_483_without_asking_anyone() {
    let (r, _) = invite(true);
    let text = String::from_utf8(r.to_bytes())
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let Some(SipMessage::Request(r)) = SipMessage::parse_datagram(text.as_bytes()) else {
        panic!()
    };
    let c = check_request(&r).unwrap();
    let mut h = H::start_with(Fake::new(vec![]), (r, c)).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![483]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn a_loop_through_this_edge_gets_482() {
    let (r, _) = invite(true);
    let ours = format!("Via: SIP/2.0/UDP {A};branch=z9hG4bK-inv1;rport\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={}x", crate::LOOP_MARK);
    let text = String::from_utf8(r.to_bytes()).unwrap().replace(
        &format!("Via: SIP/2.0/UDP {A};branch=z9hG4bK-inv1;rport"),
        &ours,
    );
    let Some(SipMessage::Request(r)) = SipMessage::parse_datagram(text.as_bytes()) else {
        panic!()
    };
    let c = check_request(&r).unwrap();
    let mut h = H::start_with(Fake::new(vec![]), (r, c)).await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![482]);
}

#[tokio::test(start_paused = true)]
async fn cancel_during_authentication_ends_the_call_with_487() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.auth = Auth::Slow(2000);
    let mut h = H::start(fake).await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![100]);
    h.cancel().await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![487]);
    assert_eq!(
        other_codes(&cmds, &h.a_key),
        vec![200],
        "the CANCEL's own 200"
    );
    assert_eq!(h.ended().await, "refused");
    assert!(h.fake.results().is_empty(), "no dialplan ran");
}

#[tokio::test(start_paused = true)]
async fn the_callers_call_limit_full_gives_480_call_limit() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.caller.call_limit = 1;
    fake.held.lock().unwrap().insert("bob".into(), 1);
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    let r = response_of(&cmds, &h.a_key, 480).expect("480");
    assert_eq!(r.reason, "Temporarily Unavailable (Call limit)");
}

#[tokio::test(start_paused = true)]
async fn the_callers_slot_is_held_for_the_call_and_given_back() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.caller.call_limit = 2;
    let (mut h, _) = bridged(fake).await;
    assert_eq!(h.fake.held("bob"), 1);
    h.caller("BYE").await;
    h.ended().await;
    assert_eq!(h.fake.held("bob"), 0);
}

#[tokio::test(start_paused = true)]
async fn router_down_gives_503() {
    let mut fake = Fake::new(vec![]);
    fake.router = Router::Unavailable;
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![100, 503]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn finished_with_a_code_before_any_answer_refuses_with_it() {
    let mut h = H::start(Fake::new(vec![step::App::Busy(Default::default())])).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![100, 486]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn an_empty_dialplan_ends_with_480() {
    let mut h = H::start(Fake::new(vec![])).await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![100, 480]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn the_call_shows_in_list_calls_until_it_ends() {
    let (mut h, _) = bridged(Fake::new(vec![dial(&["alice"], 20)])).await;
    let list = h.calls.list();
    assert_eq!(list[0].state, "answered");
    assert_eq!(list[0].legs.len(), 2);
    h.caller("BYE").await;
    h.ended().await;
    assert!(h.calls.is_empty());
}
