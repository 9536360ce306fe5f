//! Anchored media: who is anchored, what each leg is offered and answered,
//! hold and re-offers answered by the relay, and the relay freed when the
//! Dial fails.

use super::fake::{phone, Fake, Media, RELAY_REANSWER, RELAY_TO_CALLEE, RELAY_TO_CALLER};
use super::*;
use crate::call::bridge::Side;

fn anchored() -> Fake {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    fake.anchored.push("alice".into());
    fake
}

#[tokio::test(start_paused = true)]
async fn an_anchored_callee_is_offered_the_relay_and_the_caller_answered_with_it() {
    let mut h = H::start(anchored()).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(
        inv.request.body,
        RELAY_TO_CALLEE.as_bytes(),
        "the relay's offer, not the caller's"
    );
    h.respond(&inv, 183, "alicetag").await;
    let cmds = h.drain().await;
    let early = response_of(&cmds, &h.a_key, 183).unwrap();
    assert_eq!(early.body, RELAY_TO_CALLER.as_bytes());
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    let ok = response_of(&cmds, &h.a_key, 200).expect("answered");
    assert_eq!(
        ok.body,
        RELAY_TO_CALLER.as_bytes(),
        "the relay's answer, not the callee's"
    );
    let updates = h.fake.relay_updates.lock().unwrap().clone();
    assert_eq!(
        updates,
        vec![
            (Side::Callee, "v=0\r\ns=callee\r\n".into(), false),
            (Side::Callee, "v=0\r\ns=callee\r\n".into(), false)
        ],
        "the callee's early and final SDP reach the relay"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_whose_sdp_names_another_address_is_behind_nat_and_anchored() {
    let natted = SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 10.0.0.5");
    let (r, c) = invite_offering(true, &natted);
    let mut h = H::start_with(Fake::new(vec![dial(&["alice"], 20)]), (r, c)).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes());
}

#[tokio::test(start_paused = true)]
async fn a_callee_registered_from_behind_nat_is_anchored_and_others_are_not() {
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    let mut natted = phone("alice", 5070);
    natted.behind_nat = true;
    fake.contacts.insert("alice".into(), vec![natted]);
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes());
    let mut h = H::start(Fake::new(vec![dial(&["alice"], 20)])).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(
        inv.request.body,
        SDP.as_bytes(),
        "direct media: the caller's offer"
    );
}

#[tokio::test(start_paused = true)]
async fn hold_from_either_side_is_answered_by_the_relay_not_passed_on() {
    let (mut h, inv) = bridged(anchored()).await;
    let hold = SDP.replace("RTP/AVP 0\r\n", "RTP/AVP 0\r\na=sendonly\r\n");
    h.caller_with_body("INVITE", &hold).await;
    let cmds = h.drain().await;
    assert!(
        requests(&cmds, Method::INVITE).is_empty(),
        "not relayed to the callee"
    );
    let ok = cmds
        .iter()
        .find_map(|c| match c {
            Command::Respond { response, .. } if response.code == 200 => Some(response),
            _ => None,
        })
        .expect("the relay's answer");
    assert_eq!(ok.body, RELAY_REANSWER.as_bytes());
    assert!(ok.headers.get(&HeaderName::Contact).is_some());
    h.callee_with_body(&inv, "alicetag", "INVITE", "v=0\r\ns=callee-hold\r\n")
        .await;
    let cmds = h.drain().await;
    assert!(
        requests(&cmds, Method::INVITE).is_empty(),
        "not relayed to the caller"
    );
    let updates = h.fake.relay_updates.lock().unwrap().clone();
    assert_eq!(updates[1], (Side::Caller, hold, true));
    assert_eq!(
        updates[2],
        (Side::Callee, "v=0\r\ns=callee-hold\r\n".into(), true)
    );
    // An offer the relay cannot take: 488, the call goes on.
    h.caller_with_body(
        "INVITE",
        "v=0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
    )
    .await;
    let cmds = h.drain().await;
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::Respond { response, .. } if response.code == 488)));
    // A session refresh without SDP: 200, no SDP.
    h.caller("UPDATE").await;
    let cmds = h.drain().await;
    let ok = cmds
        .iter()
        .find_map(|c| match c {
            Command::Respond { response, .. } if response.code == 200 => Some(response),
            _ => None,
        })
        .unwrap();
    assert!(ok.body.is_empty());
    assert!(h.is_running().await);
}

#[tokio::test(start_paused = true)]
async fn a_failed_anchored_dial_frees_its_relay() {
    let mut h = H::start(anchored()).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond(&inv, 486, "alicetag").await;
    h.drain().await;
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "BUSY"));
    assert_eq!(*h.fake.closed.lock().unwrap(), vec!["r1".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn no_relay_no_call() {
    let mut fake = anchored();
    fake.media = Media::Unavailable;
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert!(requests(&cmds, Method::INVITE).is_empty());
    assert_eq!(
        status(&h.fake.results()[0]),
        (StepStatus::Ok, "CHANUNAVAIL")
    );
}

#[tokio::test(start_paused = true)]
async fn the_relay_instance_dying_hangs_up_both_legs() {
    let (mut h, inv) = bridged(anchored()).await;
    h.fake.lost.notify_one();
    let cmds = h.drain().await;
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 2, "caller and callee: {cmds:?}");
    assert!(byes.iter().any(|b| b.call_id() == inv.call_id()));
}

#[tokio::test(start_paused = true)]
async fn a_callee_allowing_one_codec_is_anchored_with_its_prefs() {
    use crate::call::backends::MediaPrefs;
    let mut fake = Fake::new(vec![dial(&["alice"], 20)]);
    let prefs = MediaPrefs {
        codecs: vec!["PCMA".into()],
        no_rfc2833: true,
        ..Default::default()
    };
    fake.prefs.insert("alice".into(), prefs.clone());
    let mut h = H::start(fake).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes());
    let asks = h.fake.media_asks.lock().unwrap().clone();
    assert_eq!(asks.len(), 1);
    assert_eq!(
        asks[0].callee, prefs,
        "the relay offers alice what she allows"
    );
    assert_eq!(asks[0].caller, MediaPrefs::default());
}
