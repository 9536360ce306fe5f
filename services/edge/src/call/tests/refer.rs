//! REFER from either phone of a bridged call: 202, the NOTIFY with the
//! outcome, the transferee re-INVITEd onto a session of its own when media
//! flowed phone to phone, and the transferer left to hang up itself.

use super::fake::Fake;
use super::*;
use crate::command::LegEvent;

const REFER_63: &str = "Refer-To: <sip:63@127.0.0.1:5060>\nReferred-By: <sip:x@127.0.0.1>\n";

fn plan() -> Fake {
    let step::App::Dial(mut d) = dial(&["alice"], 20) else {
        unreachable!()
    };
    d.transfer_context = "desk".into();
    let mut fake = Fake::new(vec![step::App::Dial(d)]);
    fake.extensions = vec![
        ("default".to_owned(), "63".to_owned()),
        ("desk".to_owned(), "63".to_owned()),
    ];
    fake
}

/// The NOTIFYs sent in Call-ID `call_id`, as (Event, Subscription-State, body).
fn notifies(cmds: &[Command], call_id: &str) -> Vec<(String, String, String)> {
    requests(cmds, Method::NOTIFY)
        .into_iter()
        .filter(|n| n.call_id() == call_id)
        .map(|n| {
            let h = &n.request.headers;
            (
                h.get(&HeaderName::Event).unwrap_or_default().to_owned(),
                h.get(&HeaderName::SubscriptionState)
                    .unwrap_or_default()
                    .to_owned(),
                String::from_utf8_lossy(&n.request.body).into_owned(),
            )
        })
        .collect()
}

fn refer_codes(cmds: &[Command]) -> Vec<(u16, String)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Respond { response, .. }
                if response
                    .headers
                    .get(&HeaderName::CSeq)
                    .is_some_and(|c| c.ends_with("REFER")) =>
            {
                Some((response.code, response.reason.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The plan, then a minute's Playback after the Dial.
fn plan_then_playback() -> Fake {
    let mut fake = plan();
    fake.plan
        .push(step::App::Playback(asterism_proto::router::Playback {
            files: vec!["long".into()],
        }));
    fake.play = Duration::from_secs(60);
    fake
}

#[tokio::test(start_paused = true)]
async fn the_called_party_refers_the_caller_who_gets_a_session_of_its_own() {
    let (mut h, inv) = bridged(plan_then_playback()).await;
    h.callee_with_headers(&inv, "alicetag", "REFER", REFER_63)
        .await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds), [(202, "Accepted".to_owned())]);
    let n = notifies(&cmds, &inv.call_id());
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(n[0].0.starts_with("refer;id="), "{n:?}");
    assert_eq!(n[0].1, "terminated;reason=noresource");
    assert_eq!(n[0].2, "SIP/2.0 200 OK\r\n");
    // The caller is offered the session's SDP in a re-INVITE.
    let reinvite = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(reinvite.call_id(), "call-a");
    assert_eq!(reinvite.request.body, "v=0\r\ns=media\r\n".as_bytes());
    assert!(
        requests(&cmds, Method::BYE).is_empty(),
        "alice hangs up herself"
    );
    assert!(h.fake.results().is_empty(), "not before the caller took it");
    h.respond(&reinvite, 200, "bobtag").await;
    let cmds = h.drain().await;
    assert_eq!(acks(&cmds).len(), 1, "the re-INVITE's 2xx ACKed");
    h.respond(&reinvite, 200, "bobtag").await;
    let cmds = h.drain().await;
    assert_eq!(acks(&cmds).len(), 1, "its retransmission ACKed again");
    let r = &h.fake.results()[0];
    assert_eq!(
        (r.transfer_to.as_str(), r.transfer_context.as_str()),
        ("63", "default"),
        "alice's context (she has no sip.conf user here: default)"
    );
    // Alice never says BYE: after 32 s she gets ours.
    let cmds = h.wait(Duration::from_secs(33)).await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().any(|b| b.call_id() == inv.call_id()),
        "{byes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_transferers_bye_is_answered_after_the_transfer() {
    let (mut h, inv) = bridged(plan()).await;
    h.callee_with_headers(&inv, "alicetag", "REFER", REFER_63)
        .await;
    let cmds = h.drain().await;
    let reinvite = requests(&cmds, Method::INVITE).remove(0);
    h.callee(&inv, "alicetag", "BYE").await;
    let cmds = h.drain().await;
    assert!(
        other_codes(&cmds, &h.a_key).contains(&200),
        "her BYE answered"
    );
    h.respond(&reinvite, 200, "bobtag").await;
    let cmds = h.wait(Duration::from_secs(40)).await;
    let byes = requests(&cmds, Method::BYE);
    assert!(
        byes.iter().all(|b| b.call_id() != inv.call_id()),
        "no BYE of ours to her: {byes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_caller_refers_the_called_party_into_the_dialplan() {
    let mut fake = plan();
    fake.then = vec![step::App::Playback(asterism_proto::router::Playback {
        files: vec!["beep".into()],
    })];
    let (mut h, inv) = bridged(fake).await;
    h.caller_with_headers("REFER", REFER_63).await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds), [(202, "Accepted".to_owned())]);
    assert_eq!(notifies(&cmds, "call-a")[0].2, "SIP/2.0 200 OK\r\n");
    let reinvite = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(reinvite.call_id(), inv.call_id(), "alice is re-INVITEd");
    h.respond(&reinvite, 200, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(acks(&cmds).len(), 1);
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "ANSWER"),
        "bob's dialplan ends as if he hung up"
    );
    let starts = h.fake.starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 2);
    assert_eq!(
        (starts[1].context.as_str(), starts[1].extension.as_str()),
        ("desk", "63"),
        "the Dial's transfer context"
    );
    assert_eq!(starts[1].call_id, inv.call_id());
    let asks = h.fake.media_asks.lock().unwrap().clone();
    assert_eq!(
        asks.last().map(|a| a.offer.as_str()),
        Some("v=0\r\ns=callee\r\n")
    );
}

#[tokio::test(start_paused = true)]
async fn a_refer_to_no_extension_is_notified_404_and_the_call_goes_on() {
    let (mut h, inv) = bridged(plan()).await;
    let extra = "Refer-To: <sip:99@127.0.0.1>\n";
    h.callee_with_headers(&inv, "alicetag", "REFER", extra)
        .await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds)[0].0, 202);
    assert_eq!(
        notifies(&cmds, &inv.call_id())[0].2,
        "SIP/2.0 404 Not found\r\n"
    );
    assert!(requests(&cmds, Method::INVITE).is_empty());
    assert!(h.fake.results().is_empty(), "still bridged");
}

#[tokio::test(start_paused = true)]
async fn bad_refers_are_refused_as_chan_sip_refuses_them() {
    let mut fake = plan();
    fake.caller.transfer_forbidden = false;
    let (mut h, inv) = bridged(fake).await;
    for (extra, code, reason) in [
        ("", 400, "Bad Request (Refer-to missing)"),
        ("Refer-To: <tel:+4930123>\n", 603, "Declined (Non sip: uri)"),
    ] {
        h.callee_with_headers(&inv, "alicetag", "REFER", extra)
            .await;
        let cmds = h.drain().await;
        assert_eq!(refer_codes(&cmds), [(code, reason.to_owned())], "{extra}");
    }
    assert!(h.fake.results().is_empty(), "still bridged");
}

#[tokio::test(start_paused = true)]
async fn allowtransfer_no_declines_the_refer() {
    let mut fake = plan();
    fake.caller.transfer_forbidden = true;
    let (mut h, _) = bridged(fake).await;
    h.caller_with_headers("REFER", REFER_63).await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds), [(603, "Declined (policy)".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_reinvite_hangs_the_transferee_up() {
    let (mut h, inv) = bridged(plan()).await;
    h.callee_with_headers(&inv, "alicetag", "REFER", REFER_63)
        .await;
    let cmds = h.drain().await;
    let reinvite = requests(&cmds, Method::INVITE).remove(0);
    h.respond(&reinvite, 488, "bobtag").await;
    let cmds = h.drain().await;
    let byes = requests(&cmds, Method::BYE);
    assert!(byes.iter().any(|b| b.call_id() == "call-a"), "{byes:?}");
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "ANSWER")
    );
}

/// A REFER from alice (the called party) replacing dialog `call_id`.
fn replacing(call_id: &str) -> String {
    format!("Refer-To: <sip:63@127.0.0.1?Replaces={call_id}%3Bto-tag%3D1%3Bfrom-tag%3D2>\n")
}

#[tokio::test(start_paused = true)]
async fn an_attended_transfer_asks_the_core_for_the_replaced_dialog() {
    let (mut h, inv) = bridged(plan()).await;
    h.callee_with_headers(&inv, "alicetag", "REFER", &replacing("other%40h"))
        .await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds)[0].0, 202);
    let asked: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Replace { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(asked, ["other@h"]);
    // No call of this edge has it: 481, and the call goes on.
    h.event(LegEvent::Replaced(None)).await;
    let cmds = h.drain().await;
    assert_eq!(
        notifies(&cmds, &inv.call_id())[0].2,
        "SIP/2.0 481 Call leg/transaction does not exist\r\n"
    );
    assert!(h.fake.results().is_empty(), "still bridged");
    // A REFER replacing the call's own dialog: 404, as chan_sip.
    h.callee_with_headers(&inv, "alicetag", "REFER", &replacing("call-a"))
        .await;
    let cmds = h.drain().await;
    assert_eq!(
        notifies(&cmds, &inv.call_id())[0].2,
        "SIP/2.0 404 Not found\r\n"
    );
    // From the caller: declined.
    h.caller_with_headers("REFER", &replacing("other%40h"))
        .await;
    let cmds = h.drain().await;
    assert_eq!(
        refer_codes(&cmds)[0],
        (603, "Declined (attended transfer)".into())
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_hands_its_called_party_only_to_its_own_caller() {
    let (mut h, inv) = bridged(plan()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let ask = |by: &str| LegEvent::Replace {
        call_id: "call-a".into(),
        by: by.into(),
        reply: tx.clone(),
    };
    h.event(ask("mallory")).await;
    h.drain().await;
    assert!(
        matches!(rx.try_recv(), Ok(LegEvent::Replaced(None))),
        "not bob"
    );
    h.event(ask("bob")).await;
    let cmds = h.drain().await;
    match rx.try_recv() {
        Ok(LegEvent::Replaced(Some(handed))) => {
            assert_eq!(format!("{handed:?}"), "Handed(alice)")
        }
        other => panic!("{other:?}"),
    }
    assert!(h.unroutes.contains(&inv.call_id()), "alice's leg left");
    // Bob's line here ends as in Asterisk (its dialplan is over): our BYE
    // goes to him, none to alice, who is the other call's now.
    let byes = requests(&cmds, Method::BYE);
    assert!(byes.iter().all(|b| b.call_id() == "call-a"), "{byes:?}");
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::CallerHungUp, "ANSWER")
    );
}

#[tokio::test(start_paused = true)]
async fn a_replaced_call_that_never_answers_fails_the_transfer_in_time() {
    let (mut h, inv) = bridged(plan()).await;
    h.callee_with_headers(&inv, "alicetag", "REFER", &replacing("other%40h"))
        .await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds)[0].0, 202);
    // No Replaced ever comes back.
    let cmds = h.wait(Duration::from_secs(6)).await;
    assert_eq!(
        notifies(&cmds, &inv.call_id())[0].2,
        "SIP/2.0 503 Service Unavailable\r\n"
    );
    h.callee_with_headers(&inv, "alicetag", "REFER", REFER_63)
        .await;
    let cmds = h.drain().await;
    assert_eq!(refer_codes(&cmds)[0].0, 202, "no longer 491");
}
