//! Pickup: a ringing Dial agrees to be picked up (its B legs cancelled),
//! answers its caller with the relay and re-INVITEs the picker handed
//! over; a call that does not ring refuses; `Pickup()` with nothing
//! ringing lets the dialplan go on.

use super::fake::{Fake, RELAY_TO_CALLEE, RELAY_TO_CALLER};
use super::*;
use crate::call::attended::Handed;
use crate::call::forks::Fork;
use crate::command::LegEvent;
use asterism_proto::router::{Pickup, PickupTarget};
use asterism_sip::dialog::Dialog;
use asterism_sip::header::NameAddr;

/// Carol's answered call with us, as her call hands it over.
fn carol() -> Handed {
    let (invite, checked) = parse(
        "INVITE sip:**62@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-c1;rport
From: <sip:carol@127.0.0.1>;tag=caroltag
To: <sip:**62@127.0.0.1>
Call-ID: call-carol
CSeq: 1 INVITE
Contact: <sip:carol@127.0.0.1:5090>
Max-Forwards: 70
Content-Type: application/sdp
",
        "v=0\r\ns=carol\r\n",
    );
    let contact = NameAddr::parse("<sip:62@127.0.0.1:5060>", "Contact").unwrap();
    let dialog = Dialog::uas(
        &invite,
        &checked,
        "ourtag",
        udp("127.0.0.1:5090"),
        "127.0.0.1:5060",
        contact,
    );
    Handed {
        fork: Fork::from_answered("carol", dialog, invite),
        user: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_ringing_call_is_picked_up_and_bridged_with_the_picker() {
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 180, "alicetag").await;
    h.drain().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    h.event(LegEvent::PickupAsk { reply: tx }).await;
    let cmds = h.drain().await;
    assert_eq!(
        requests(&cmds, Method::CANCEL).len(),
        1,
        "alice stops ringing"
    );
    assert!(
        matches!(rx.try_recv(), Ok(LegEvent::PickupReply(Some(_)))),
        "agreed, with its task"
    );
    h.event(LegEvent::PickedUp(Some(Box::new(carol())))).await;
    let cmds = h.drain().await;
    let ok = response_of(&cmds, &h.a_key, 200).expect("bob answered");
    assert_eq!(ok.body, RELAY_TO_CALLER.as_bytes());
    let reinvite = requests(&cmds, Method::INVITE)
        .into_iter()
        .find(|r| r.call_id() == "call-carol")
        .expect("carol re-INVITEd");
    assert_eq!(reinvite.request.body, RELAY_TO_CALLEE.as_bytes());
    assert!(h.routes.contains(&"call-carol".to_owned()));
    h.respond(&reinvite, 200, "caroltag").await;
    let cmds = h.drain().await;
    assert_eq!(acks(&cmds).len(), 1);
    assert!(h.fake.results().is_empty(), "the Dial goes on, bridged");
    // Carol hangs up: the Dial ends answered.
    h.callee(&reinvite, "caroltag", "BYE").await;
    h.drain().await;
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "ANSWER"));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_does_not_ring_refuses_and_a_picker_is_not_lost() {
    let (mut h, _) = bridged(Fake::new(vec![dial(&["alice"], 20)])).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    h.event(LegEvent::PickupAsk { reply: tx }).await;
    h.drain().await;
    assert!(matches!(rx.try_recv(), Ok(LegEvent::PickupReply(None))));
    // A picker handed over anyway (a race) is hung up, not kept.
    h.event(LegEvent::PickedUp(Some(Box::new(carol())))).await;
    let cmds = h.drain().await;
    assert!(requests(&cmds, Method::BYE)
        .iter()
        .any(|b| b.call_id() == "call-carol"));
}

#[tokio::test(start_paused = true)]
async fn pickup_with_nothing_ringing_goes_on_and_without_target_hangs_up() {
    let pickup = |targets: Vec<PickupTarget>| step::App::Pickup(Pickup { targets });
    let target = PickupTarget {
        extension: "62".into(),
        context: "default".into(),
    };
    let mut h = H::start(Fake::new(vec![pickup(vec![target]), pickup(vec![])])).await;
    h.drain().await;
    let results = h.fake.results();
    assert_eq!(
        status(&results[0]).0,
        StepStatus::Ok,
        "nothing there: goes on"
    );
    assert_eq!(
        status(&results[1]).0,
        StepStatus::CallerHungUp,
        "group pickup"
    );
}

/// bob's INVITE to `*8`, with credentials.
fn star_8() -> (Request, asterism_sip::validate::Checked) {
    let (r, _) = invite(true);
    let text = String::from_utf8_lossy(&r.to_bytes())
        .replace("sip:61@127.0.0.1:5060 SIP", "sip:*8@127.0.0.1:5060 SIP");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head
        .lines()
        .filter(|l| !l.starts_with("Content-Length"))
        .collect::<Vec<_>>()
        .join("\n");
    parse(&format!("{head}\n"), body)
}

#[tokio::test(start_paused = true)]
async fn star_8_without_a_pickup_group_or_a_ringing_call_is_refused_403() {
    let mut fake = Fake::new(vec![step::App::Answer(asterism_proto::router::Answer {})]);
    fake.caller.pickup_group = 0;
    let mut h = H::start_with(fake, star_8()).await;
    let cmds = h.drain().await;
    assert!(response_of(&cmds, &h.a_key, 403).is_some(), "{cmds:?}");
    assert!(h.fake.starts.lock().unwrap().is_empty(), "no dialplan runs");
    let mut fake = Fake::new(vec![]);
    fake.caller.pickup_group = 0b10;
    let mut h = H::start_with(fake, star_8()).await;
    let cmds = h.drain().await;
    assert!(response_of(&cmds, &h.a_key, 403).is_some(), "nothing rings");
}

#[tokio::test(start_paused = true)]
async fn a_ringing_call_that_never_answers_does_not_hold_the_picker() {
    let target = PickupTarget {
        extension: "62".into(),
        context: "default".into(),
    };
    let mut fake = Fake::new(vec![step::App::Pickup(Pickup {
        targets: vec![target],
    })]);
    // A call listed as ringing whose task never reads its events.
    let table = crate::pickups::Ringing::default();
    let (silent, _never_read) = tokio::sync::mpsc::channel(4);
    table.add((("default".into(), "62".into()), 0), "gone", silent);
    fake.ringing = Some(table);
    let mut h = H::start(fake).await;
    h.drain().await;
    assert!(h.fake.results().is_empty(), "waiting for its answer");
    h.wait(Duration::from_secs(6)).await;
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::Ok, "goes on");
}
