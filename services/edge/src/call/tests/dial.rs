//! Dial: forks, ringing, the winner, the losers and DIALSTATUS.

use super::fake::{phone, Fake, Router};
use super::*;
use asterism_sip::header::NameAddr;

fn two_phones() -> Fake {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.contacts.insert(
        "alice".into(),
        vec![phone("alice", 5070), phone("alice", 5072)],
    );
    fake
}

#[tokio::test(start_paused = true)]
async fn the_b_leg_invite_carries_caller_id_offer_and_a_dialog_of_its_own() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let cmds = h.drain().await;
    let inv = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(inv.flow, udp("127.0.0.1:5070"));
    assert_eq!(inv.request.uri, "sip:alice@127.0.0.1:5070");
    let c = check_request(&inv.request).unwrap();
    assert_eq!(c.from.display.as_deref(), Some("\"Bob\""));
    assert_eq!(c.from.uri.user.as_deref(), Some("62"));
    assert!(c.from.tag().is_some());
    assert_ne!(c.call_id, "call-a");
    assert_eq!(c.max_forwards, Some(69));
    assert_eq!(inv.request.body, SDP.as_bytes());
    assert_eq!(
        h.routes,
        vec![c.call_id.clone()],
        "routed before it is sent"
    );
}

#[tokio::test(start_paused = true)]
async fn ringing_is_relayed_and_the_first_2xx_wins() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 100, "").await;
    h.respond(&inv, 180, "alicetag").await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![180]);
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    let ok = response_of(&cmds, &h.a_key, 200).expect("caller answered");
    assert_eq!(
        ok.body,
        "v=0\r\ns=callee\r\n".as_bytes(),
        "with the callee's SDP"
    );
    let acks = acks(&cmds);
    assert_eq!(acks.len(), 1);
    let c = check_request(&acks[0].1).unwrap();
    assert_eq!(c.to.tag(), Some("alicetag"));
    assert_eq!(
        acks[0].1.uri, "sip:alice@127.0.0.1:5070",
        "to the callee's Contact"
    );
    assert_eq!(c.cseq.seq, 102);
}

#[tokio::test(start_paused = true)]
async fn a_183_passes_its_sdp_on() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 183, "alicetag").await;
    let cmds = h.drain().await;
    let r = response_of(&cmds, &h.a_key, 183).unwrap();
    assert_eq!(
        r.headers.get(&HeaderName::ContentType),
        Some("application/sdp")
    );
}

#[tokio::test(start_paused = true)]
async fn busy_callee_gives_busy() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 486, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "BUSY"));
    assert_eq!(
        codes(&cmds, &h.a_key),
        vec![480],
        "the dialplan ended without answer"
    );
}

#[tokio::test(start_paused = true)]
async fn final_answers_map_to_dialstatus_like_asterisk() {
    for (code, expected) in [
        (404, "CHANUNAVAIL"),
        (480, "NOANSWER"),
        (503, "CONGESTION"),
        (603, "BUSY"),
    ] {
        let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
        let inv = requests(&h.drain().await, Method::INVITE).remove(0);
        h.respond(&inv, code, "t").await;
        h.drain().await;
        assert_eq!(status(&h.fake.results()[0]).1, expected, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_answer_to_the_invite_at_all_is_noanswer() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.timeout(&inv).await;
    h.drain().await;
    assert_eq!(status(&h.fake.results()[0]).1, "NOANSWER");
}

#[tokio::test(start_paused = true)]
async fn unknown_or_unregistered_targets_are_chanunavail() {
    let mut h = H::start(Fake::new(vec![dial(&["nobody"], 20)])).await;
    h.drain().await;
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::Ok, "CHANUNAVAIL")
    );
    let mut iax = dial(&["alice"], 20);
    if let step::App::Dial(d) = &mut iax {
        d.targets[0].technology = "IAX2".into();
    }
    let mut h = H::start(Fake::new(vec![iax])).await;
    h.drain().await;
    assert_eq!(
        status(&h.fake.results()[0]).1,
        "CHANUNAVAIL",
        "unsupported technology"
    );
}

#[tokio::test(start_paused = true)]
async fn unanswered_dial_times_out_with_noanswer_and_cancels_the_callee() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 5)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 180, "alicetag").await;
    h.drain().await;
    let cmds = h.wait(Duration::from_secs(6)).await;
    let cancels = requests(&cmds, Method::CANCEL);
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].key.branch, inv.key.branch, "the INVITE's branch");
    assert_eq!(status(&h.fake.results()[0]).1, "NOANSWER");
}

#[tokio::test(start_paused = true)]
async fn caller_cancels_while_ringing() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 180, "alicetag").await;
    h.drain().await;
    h.cancel().await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![487]);
    assert_eq!(other_codes(&cmds, &h.a_key), vec![200]);
    assert_eq!(requests(&cmds, Method::CANCEL).len(), 1);
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "CANCEL")
    );
    h.respond(&inv, 487, "alicetag").await;
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_callee_rang_waits_for_its_provisional() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.cancel().await;
    let cmds = h.drain().await;
    assert!(
        requests(&cmds, Method::CANCEL).is_empty(),
        "RFC 3261 §9.1: not before a provisional"
    );
    h.respond(&inv, 180, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(requests(&cmds, Method::CANCEL).len(), 1);
    assert!(
        codes(&cmds, &h.a_key).is_empty(),
        "the caller hears no more ringing"
    );
}

#[tokio::test(start_paused = true)]
async fn the_cancel_race_a_2xx_after_the_cancel_gets_ack_and_bye() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 180, "alicetag").await;
    h.drain().await;
    h.cancel().await;
    h.drain().await;
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(acks(&cmds).len(), 1, "the 2xx is ACKed");
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 1, "and hung up");
    assert_eq!(
        check_request(&byes[0].request).unwrap().to.tag(),
        Some("alicetag")
    );
    assert!(
        codes(&cmds, &h.a_key).is_empty(),
        "the caller got its 487 already"
    );
}

#[tokio::test(start_paused = true)]
async fn two_phones_ring_one_answers_the_other_is_cancelled() {
    let mut h = H::start(two_phones()).await;
    let invites = requests(&h.drain().await, Method::INVITE);
    assert_eq!(invites.len(), 2);
    h.respond(&invites[0], 180, "one").await;
    h.respond(&invites[1], 180, "two").await;
    h.drain().await;
    h.respond(&invites[1], 200, "two").await;
    let cmds = h.drain().await;
    let cancels = requests(&cmds, Method::CANCEL);
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].key.branch, invites[0].key.branch);
    assert_eq!(codes(&cmds, &h.a_key), vec![200]);
}

#[tokio::test(start_paused = true)]
async fn a_losers_late_2xx_is_acked_and_hung_up() {
    let mut h = H::start(two_phones()).await;
    let invites = requests(&h.drain().await, Method::INVITE);
    h.respond(&invites[0], 180, "one").await;
    h.respond(&invites[1], 200, "two").await;
    h.drain().await;
    h.respond(&invites[0], 200, "one").await;
    let cmds = h.drain().await;
    let acks = acks(&cmds);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0, udp("127.0.0.1:5070"));
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 1);
    assert_eq!(
        byes[0].flow,
        udp("127.0.0.1:5070"),
        "the loser, not the winner"
    );
    assert!(
        codes(&cmds, &h.a_key).is_empty(),
        "the caller sees one answer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_callees_request_before_it_answered_gets_481() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.callee(&inv, "alicetag", "INFO").await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![481]);
}

#[tokio::test(start_paused = true)]
async fn a_target_at_its_call_limit_is_not_rung() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.limits.insert("alice".into(), 1);
    fake.held.lock().unwrap().insert("alice".into(), 1);
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert!(requests(&cmds, Method::INVITE).is_empty());
    assert_eq!(status(&h.fake.results()[0]).1, "CHANUNAVAIL");
}

#[tokio::test(start_paused = true)]
async fn the_callees_slot_is_kept_while_bridged_and_freed_at_the_end() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.limits.insert("alice".into(), 1);
    let (mut h, _) = bridged(fake).await;
    assert_eq!(h.fake.held("alice"), 1);
    h.caller("BYE").await;
    h.ended().await;
    assert_eq!(h.fake.held("alice"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_losers_slot_is_freed_when_the_dial_ends() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.limits.insert("alice".into(), 1);
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(h.fake.held("alice"), 1);
    h.respond(&inv, 486, "t").await;
    h.drain().await;
    assert_eq!(h.fake.held("alice"), 0);
}

#[tokio::test(start_paused = true)]
async fn the_router_dying_mid_dial_lets_the_call_go_on_then_ends_it() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.router = Router::DiesAfter(1);
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    // The stream broke once the Dial was sent; the Dial goes on.
    h.respond(&inv, 200, "alicetag").await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![200]);
    h.ack().await;
    h.callee(&inv, "alicetag", "BYE").await;
    // The Dial's result finds no router: the call ends, the caller hung up.
    let cmds = h.drain().await;
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].flow, udp(A));
    h.respond(&byes[0], 200, "bobtag").await;
    assert_eq!(h.ended().await, "answered");
}

#[tokio::test(start_paused = true)]
async fn the_router_dying_between_steps_ends_the_call_with_503() {
    let mut fake = Fake::new(vec![dial(&["nobody"], 20), dial(&["alice"], 20)]);
    fake.router = Router::DiesAfter(1);
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![100, 503]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn a_route_through_another_edge_is_preloaded() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    let mut c = phone("alice", 5070);
    c.route = Some("<sip:127.0.0.2:5070;lr;asterism-flow=x>".into());
    fake.contacts.insert("alice".into(), vec![c]);
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(
        inv.request.headers.get(&HeaderName::Route),
        Some("<sip:127.0.0.2:5070;lr;asterism-flow=x>")
    );
    // A callee that does not Record-Route keeps being reached through it.
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    let ack = &acks(&cmds)[0].1;
    assert_eq!(
        ack.headers.get(&HeaderName::Route),
        Some("<sip:127.0.0.2:5070;lr;asterism-flow=x>")
    );
    let to = NameAddr::parse(ack.headers.get(&HeaderName::To).unwrap(), "To").unwrap();
    assert_eq!(to.tag(), Some("alicetag"));
}

#[tokio::test(start_paused = true)]
async fn dial_r_rings_the_caller_at_once_and_a_number_goes_in_the_request_uri() {
    let app = step::App::Dial(Dial {
        targets: vec![DialTarget {
            technology: "SIP".into(),
            resource: "alice".into(),
            number: "1234".into(),
        }],
        timeout_secs: 20,
        options: "L(60000:30000)r".into(),
        limit: None,
        transfer_context: String::new(),
    });
    let mut h = H::start(Fake::new(vec![app])).await;
    let cmds = h.drain().await;
    assert_eq!(
        codes(&cmds, &h.a_key),
        vec![100, 180],
        "Dial(…,r): 180 before the callee says anything"
    );
    let inv = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(inv.request.uri, "sip:1234@127.0.0.1:5070", "SIP/alice/1234");
}
