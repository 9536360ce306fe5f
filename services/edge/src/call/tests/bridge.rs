//! A bridged call: hang-ups from either side, in-dialog requests relayed,
//! the 200's retransmission until the ACK, and what a lost ACK does.

use super::fake::Fake;
use super::*;

fn plan() -> Fake {
    Fake::new(vec![dial(&["alice"], 20)])
}

#[tokio::test(start_paused = true)]
async fn caller_hangs_up_the_callee_gets_bye() {
    let (mut h, inv) = bridged(plan()).await;
    h.caller("BYE").await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![200]);
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].flow, inv.flow);
    let c = check_request(&byes[0].request).unwrap();
    assert_eq!(
        (c.call_id.as_str(), c.to.tag()),
        (inv.call_id().as_str(), Some("alicetag"))
    );
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "ANSWER")
    );
    assert!(h.is_running().await, "until the callee answers the BYE");
    h.respond(&byes[0], 200, "alicetag").await;
    assert_eq!(h.ended().await, "answered");
    assert!(h.unroutes.contains(&inv.call_id()) && h.unroutes.contains(&"call-a".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn callee_hangs_up_the_caller_gets_bye() {
    let (mut h, inv) = bridged(plan()).await;
    h.callee(&inv, "alicetag", "BYE").await;
    let cmds = h.drain().await;
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "ANSWER"));
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(
        byes.len(),
        1,
        "the dialplan finished: the caller is hung up"
    );
    assert_eq!(byes[0].flow, udp(A));
    let c = check_request(&byes[0].request).unwrap();
    assert_eq!(c.to.tag(), Some("bobtag"));
    assert_eq!(c.from.tag(), h.a_tag.as_deref());
    h.respond(&byes[0], 200, "bobtag").await;
    assert_eq!(h.ended().await, "answered");
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_bye_lets_the_call_go_after_a_while() {
    let (mut h, _) = bridged(plan()).await;
    h.caller("BYE").await;
    h.drain().await;
    assert!(h.is_running().await);
    h.wait(super::super::machine::BYE_WAIT).await;
    assert_eq!(h.ended().await, "answered");
}

#[tokio::test(start_paused = true)]
async fn a_re_invite_is_relayed_both_ways_and_its_2xx_acked() {
    let (mut h, inv) = bridged(plan()).await;
    h.caller("INVITE").await;
    let cmds = h.drain().await;
    let relayed = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(relayed.flow, inv.flow);
    assert_eq!(
        check_request(&relayed.request).unwrap().to.tag(),
        Some("alicetag")
    );
    h.respond(&relayed, 200, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(
        other_codes(&cmds, &h.a_key),
        vec![200],
        "the answer goes back"
    );
    let acks = acks(&cmds);
    assert_eq!(acks.len(), 1, "we ACK the callee's 2xx");
    assert_eq!(
        acks[0].1.headers.get(&HeaderName::CSeq),
        relayed
            .request
            .headers
            .get(&HeaderName::CSeq)
            .map(|c| c.replace("INVITE", "ACK"))
            .as_deref()
    );
    // And from the callee towards the caller.
    h.callee(&inv, "alicetag", "INVITE").await;
    let cmds = h.drain().await;
    let towards_a = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(towards_a.flow, udp(A));
    assert_eq!(towards_a.request.uri, format!("sip:bob@{A}"));
}

#[tokio::test(start_paused = true)]
async fn info_and_update_are_relayed_and_answered_back() {
    let (mut h, _) = bridged(plan()).await;
    for m in ["INFO", "UPDATE"] {
        h.caller(m).await;
        let cmds = h.drain().await;
        let relayed = requests(&cmds, Method::parse(m)).remove(0);
        h.respond(&relayed, 200, "alicetag").await;
        assert_eq!(other_codes(&h.drain().await, &h.a_key), vec![200], "{m}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_relayed_request_without_answer_gets_408() {
    let (mut h, _) = bridged(plan()).await;
    h.caller("INFO").await;
    let relayed = requests(&h.drain().await, Method::INFO).remove(0);
    h.timeout(&relayed).await;
    assert_eq!(other_codes(&h.drain().await, &h.a_key), vec![408]);
}

#[tokio::test(start_paused = true)]
async fn the_200_is_retransmitted_until_the_ack() {
    let mut h = H::start(plan()).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 200, "alicetag").await;
    h.drain().await;
    // T1, 2·T1, 4·T1: 0.5 + 1 + 2 s.
    let cmds = h.wait(Duration::from_millis(3600)).await;
    assert_eq!(codes(&cmds, &h.a_key), vec![200, 200, 200]);
    h.ack().await;
    let cmds = h.wait(Duration::from_secs(10)).await;
    assert!(codes(&cmds, &h.a_key).is_empty(), "the ACK stops it");
    assert!(h.is_running().await);
}

#[tokio::test(start_paused = true)]
async fn without_an_ack_both_legs_are_hung_up_after_64_t1() {
    let mut h = H::start(plan()).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 200, "alicetag").await;
    h.drain().await;
    let cmds = h.wait(Duration::from_secs(33)).await;
    let resent = codes(&cmds, &h.a_key).len();
    assert!(
        (6..=10).contains(&resent),
        "T1 doubling to T2 for 32 s: {resent}"
    );
    let byes = requests(&cmds, Method::BYE);
    let to: Vec<Flow> = byes.iter().map(|b| b.flow).collect();
    assert!(to.contains(&inv.flow) && to.contains(&udp(A)), "{to:?}");
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "ANSWER")
    );
}

#[tokio::test(start_paused = true)]
async fn the_callees_retransmitted_200_is_acked_again() {
    let (mut h, inv) = bridged(plan()).await;
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(acks(&cmds).len(), 1);
    assert!(
        codes(&cmds, &h.a_key).is_empty(),
        "not another answer to the caller"
    );
}

#[tokio::test(start_paused = true)]
async fn a_forged_bye_changes_nothing() {
    let (mut h, inv) = bridged(plan()).await;
    h.callee(&inv, "forged", "BYE").await;
    let r = h.caller_with_tags("BYE", "bobtag", Some("forged"));
    h.deliver(r, udp(A)).await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![481, 481]);
    assert!(requests(&cmds, Method::BYE).is_empty());
    assert!(h.fake.results().is_empty(), "still bridged");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_after_the_answer_is_answered_and_ignored() {
    let (mut h, _) = bridged(plan()).await;
    h.cancel().await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![200]);
    assert!(requests(&cmds, Method::BYE).is_empty());
    assert!(h.fake.results().is_empty());
}

#[tokio::test(start_paused = true)]
async fn over_tcp_the_200_is_not_retransmitted_but_a_missing_ack_still_ends_the_call() {
    let tcp = Flow {
        kind: Kind::Tcp,
        remote: A.parse().unwrap(),
    };
    let mut h = H::start_on(plan(), invite(true), tcp).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 200, "alicetag").await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![200]);
    let cmds = h.wait(Duration::from_secs(33)).await;
    assert!(codes(&cmds, &h.a_key).is_empty(), "TCP is reliable");
    let byes = requests(&cmds, Method::BYE);
    let to: Vec<Flow> = byes.iter().map(|b| b.flow).collect();
    assert!(to.contains(&inv.flow) && to.contains(&tcp), "{to:?}");
}

#[tokio::test(start_paused = true)]
async fn relayed_requests_waiting_at_once_are_bounded() {
    let (mut h, _) = bridged(plan()).await;
    let max = crate::call::bridge::MAX_RELAYED;
    for _ in 0..=max {
        h.caller("INFO").await;
    }
    let cmds = h.drain().await;
    assert_eq!(
        requests(&cmds, Method::INFO).len(),
        max,
        "relayed up to the bound"
    );
    assert_eq!(
        other_codes(&cmds, &h.a_key),
        vec![503],
        "the next one refused"
    );
    // Answers free the room again.
    for relayed in requests(&cmds, Method::INFO) {
        h.respond(&relayed, 200, "alicetag").await;
    }
    h.drain().await;
    h.caller("INFO").await;
    assert_eq!(requests(&h.drain().await, Method::INFO).len(), 1);
}
