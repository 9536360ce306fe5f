//! What is not of the call's dialogs changes nothing: wrong or missing tags
//! and other transactions' CANCELs get 481, out-of-order CSeqs 500.

use super::fake::Fake;
use super::*;

#[tokio::test(start_paused = true)]
async fn requests_with_the_calls_call_id_but_wrong_or_missing_tags_get_481() {
    let (mut h, _) = bridged(Fake::new(vec![dial(&["alice"], 20)])).await;
    let tag = h.a_tag.clone().unwrap();
    for (method, from, to) in [
        ("BYE", "bobtag", None),
        ("BYE", "other", Some(tag.as_str())),
        ("INFO", "bobtag", Some("other")),
        ("OPTIONS", "bobtag", None),
    ] {
        let r = h.caller_with_tags(method, from, to);
        h.deliver(r, udp(A)).await;
        let cmds = h.drain().await;
        assert_eq!(
            other_codes(&cmds, &h.a_key),
            vec![481],
            "{method} {from} {to:?}"
        );
        assert!(requests(&cmds, Method::BYE).is_empty());
    }
    assert!(h.fake.results().is_empty(), "the call goes on");
}

#[tokio::test(start_paused = true)]
async fn before_the_answer_too() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    h.drain().await;
    let r = h.caller_with_tags("BYE", "bobtag", None);
    h.deliver(r, udp(A)).await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![481]);
    let once = cmds
        .iter()
        .any(|c| matches!(c, Command::RespondOnce { response, .. } if response.code == 481));
    assert!(once, "refused without keeping a transaction");
    assert!(h.is_running().await);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_of_another_transaction_gets_481() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    h.drain().await;
    let (r, _) = invite(true);
    let text = String::from_utf8(r.to_bytes())
        .unwrap()
        .replace("INVITE sip:61", "CANCEL sip:61")
        .replace("2 INVITE", "2 CANCEL")
        .replace("z9hG4bK-inv1", "z9hG4bK-other");
    let Some(SipMessage::Request(r)) = SipMessage::parse_datagram(text.as_bytes()) else {
        panic!()
    };
    let c = check_request(&r).unwrap();
    h.deliver((r, c), udp(A)).await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![481]);
    assert!(codes(&cmds, &h.a_key).is_empty(), "the INVITE goes on");
}

#[tokio::test(start_paused = true)]
async fn an_out_of_order_cseq_gets_500() {
    let (mut h, _) = bridged(Fake::new(vec![dial(&["alice"], 20)])).await;
    h.caller("INFO").await;
    let relayed = requests(&h.drain().await, Method::INFO).remove(0);
    h.respond(&relayed, 200, "alicetag").await;
    h.drain().await;
    // A request numbered below the caller's last one.
    h.cseq = 1;
    h.caller("INFO").await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![500]);
    assert!(requests(&cmds, Method::INFO).is_empty());
}

#[tokio::test(start_paused = true)]
async fn options_in_an_unbridged_dialog_get_200_others_488() {
    let steps = vec![
        step::App::Answer(Default::default()),
        step::App::Wait(asterism_proto::router::Wait { millis: 10_000 }),
    ];
    let mut h = H::start(Fake::new(steps)).await;
    h.drain().await;
    h.ack().await;
    h.caller("OPTIONS").await;
    assert_eq!(other_codes(&h.drain().await, &h.a_key), vec![200]);
    h.caller("MESSAGE").await;
    assert_eq!(other_codes(&h.drain().await, &h.a_key), vec![488]);
}
