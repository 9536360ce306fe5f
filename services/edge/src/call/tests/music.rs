//! A Dial after Answer (the relay takes the caller's session over and the
//! caller keeps its SDP), and Dial's `m`: music from the relay instead of
//! ringing, stopped when the callee answers, the relay kept as the
//! caller's media when nobody answers.

use super::fake::{Fake, RELAY_TO_CALLEE, RELAY_TO_CALLER};
use super::*;
use crate::call::bridge::Side;
use asterism_proto::router::Playback;

fn dial_with(options: &str) -> step::App {
    let step::App::Dial(mut d) = dial(&["alice"], 20) else {
        unreachable!()
    };
    d.options = options.into();
    step::App::Dial(d)
}

fn from_of(h: &H, i: usize) -> Option<String> {
    let asks = h.fake.media_asks.lock().unwrap().clone();
    asks[i].from.as_ref().map(|s| s.id.clone())
}

#[tokio::test(start_paused = true)]
async fn a_dial_after_the_answer_bridges_through_the_callers_session() {
    let steps = vec![step::App::Answer(Default::default()), dial(&["alice"], 20)];
    let mut h = H::start(Fake::new(steps)).await;
    let cmds = h.drain().await;
    assert!(response_of(&cmds, &h.a_key, 200).is_some(), "Answer");
    let inv = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(
        from_of(&h, 1).as_deref(),
        Some("s1"),
        "the session taken over"
    );
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes());
    h.ack().await;
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    assert!(
        requests(&cmds, Method::BYE).is_empty(),
        "bridged, not hung up"
    );
    assert!(
        codes(&cmds, &h.a_key).is_empty(),
        "the caller was answered already"
    );
    let updates = h.fake.relay_updates.lock().unwrap().clone();
    assert_eq!(updates.len(), 1, "the relay learns alice's SDP");
    assert_eq!(updates[0].0, Side::Callee);
    assert_eq!(
        h.fake.results().len(),
        1,
        "Answer's; the Dial still bridged"
    );
    // Alice hangs up: the Dial is over (ANSWER), the relay is the caller's.
    h.callee(&inv, "alicetag", "BYE").await;
    h.drain().await;
    assert_eq!(status(&h.fake.results()[1]), (StepStatus::Ok, "ANSWER"));
}

#[tokio::test(start_paused = true)]
async fn dial_m_plays_music_instead_of_ringing_until_the_answer() {
    let mut h = H::start(Fake::new(vec![dial_with("m(jazz)")])).await;
    let cmds = h.drain().await;
    let early = response_of(&cmds, &h.a_key, 183).expect("early media");
    assert_eq!(early.body, RELAY_TO_CALLER.as_bytes());
    let inv = requests(&cmds, Method::INVITE).remove(0);
    assert_eq!(inv.request.body, RELAY_TO_CALLEE.as_bytes(), "anchored");
    assert_eq!(
        *h.fake.music.lock().unwrap(),
        vec![(Side::Caller, Some("jazz".to_owned()), 1)]
    );
    h.respond(&inv, 180, "alicetag").await;
    let cmds = h.drain().await;
    assert!(
        codes(&cmds, &h.a_key).is_empty(),
        "no ringing over the music"
    );
    h.respond(&inv, 200, "alicetag").await;
    let cmds = h.drain().await;
    let ok = response_of(&cmds, &h.a_key, 200).expect("answered");
    assert_eq!(ok.body, RELAY_TO_CALLER.as_bytes());
    assert_eq!(
        h.fake.music.lock().unwrap()[1],
        (Side::Caller, None, 2),
        "the music stops on the answer"
    );
}

#[tokio::test(start_paused = true)]
async fn dial_m_without_an_answer_keeps_the_relay_as_the_callers_media() {
    let steps = vec![
        dial_with("m"),
        step::App::Playback(Playback {
            files: vec!["vm-nobodyavail".into()],
        }),
    ];
    let mut h = H::start(Fake::new(steps)).await;
    let inv = requests(&h.drain().await, Method::INVITE).remove(0);
    assert_eq!(
        h.fake.music.lock().unwrap()[0].1.as_deref(),
        Some("default"),
        "the caller's class"
    );
    h.respond(&inv, 486, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "BUSY"));
    assert!(h.fake.closed.lock().unwrap().is_empty(), "relay kept");
    assert_eq!(h.fake.music.lock().unwrap()[1], (Side::Caller, None, 2));
    // The Playback answers with the SDP the caller has from the 183.
    let ok = response_of(&cmds, &h.a_key, 200).expect("Playback answers");
    assert_eq!(ok.body, RELAY_TO_CALLER.as_bytes());
    let asks = h.fake.media_asks.lock().unwrap().len();
    assert_eq!(asks, 1, "no second session");
}
