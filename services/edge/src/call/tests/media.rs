//! Answer, Playback, SayDigits, Echo and the other steps that need no B leg.

use super::fake::{Fake, Media};
use super::*;
use crate::call::backends::EchoEnd;
use asterism_proto::router::{Echo, Playback, SayDigits, Wait};

fn playback() -> step::App {
    step::App::Playback(Playback {
        files: vec!["demo-echotest".into()],
    })
}

#[tokio::test(start_paused = true)]
async fn playback_answers_with_the_media_sdp_plays_and_hangs_up() {
    let mut h = H::start(Fake::new(vec![playback()])).await;
    let cmds = h.drain().await;
    let ok = response_of(&cmds, &h.a_key, 200).expect("answered");
    assert_eq!(ok.body, "v=0\r\ns=media\r\n".as_bytes());
    h.ack().await;
    let cmds = h.wait(Duration::from_secs(3)).await;
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::Ok);
    let byes = requests(&cmds, Method::BYE);
    assert_eq!(byes.len(), 1, "Finished after the prompt: BYE");
    h.respond(&byes[0], 200, "bobtag").await;
    assert_eq!(h.ended().await, "answered");
    assert_eq!(
        *h.fake.closed.lock().unwrap(),
        vec!["s1".to_owned()],
        "the session is freed"
    );
}

#[tokio::test(start_paused = true)]
async fn the_caller_hanging_up_during_a_prompt_ends_the_step() {
    let mut h = H::start(Fake::new(vec![playback()])).await;
    h.drain().await;
    h.ack().await;
    h.caller("BYE").await;
    let cmds = h.drain().await;
    assert_eq!(other_codes(&cmds, &h.a_key), vec![200]);
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::CallerHungUp);
    assert_eq!(h.ended().await, "answered");
    assert_eq!(h.fake.closed.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn echo_ends_on_a_digit() {
    let mut fake = Fake::new(vec![step::App::Echo(Echo {})]);
    fake.echo = Some((Duration::from_secs(3), EchoEnd::Digit("#".into())));
    let mut h = H::start(fake).await;
    h.drain().await;
    h.ack().await;
    h.wait(Duration::from_secs(4)).await;
    assert_eq!(h.fake.results()[0].dtmf, "#");
}

#[tokio::test(start_paused = true)]
async fn echo_without_rtp_hangs_up() {
    let mut fake = Fake::new(vec![step::App::Echo(Echo {})]);
    fake.echo = Some((Duration::from_secs(3), EchoEnd::RtpTimeout));
    let mut h = H::start(fake).await;
    h.drain().await;
    h.ack().await;
    let cmds = h.wait(Duration::from_secs(4)).await;
    assert_eq!(requests(&cmds, Method::BYE).len(), 1);
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::CallerHungUp);
}

#[tokio::test(start_paused = true)]
async fn the_media_instance_dying_during_echo_hangs_up() {
    let mut h = H::start(Fake::new(vec![step::App::Echo(Echo {})])).await;
    h.drain().await;
    h.ack().await;
    h.drain().await;
    h.fake.lost.notify_one();
    let cmds = h.drain().await;
    assert_eq!(requests(&cmds, Method::BYE).len(), 1, "not left in silence");
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::CallerHungUp);
}

#[tokio::test(start_paused = true)]
async fn the_media_instance_dying_between_steps_hangs_up() {
    let wait = step::App::Wait(Wait { millis: 10_000 });
    let mut h = H::start(Fake::new(vec![step::App::Answer(Default::default()), wait])).await;
    h.drain().await;
    h.ack().await;
    h.drain().await;
    h.fake.lost.notify_one();
    let cmds = h.drain().await;
    assert_eq!(requests(&cmds, Method::BYE).len(), 1);
    let results = h.fake.results();
    assert_eq!(
        status(&results[1]).0,
        StepStatus::CallerHungUp,
        "{results:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_codec_in_common_gives_488() {
    let mut fake = Fake::new(vec![playback()]);
    fake.media = Media::NoCodec;
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![100, 488]);
    assert_eq!(h.ended().await, "refused");
}

#[tokio::test(start_paused = true)]
async fn no_media_instance_fails_the_step_and_the_dialplan_goes_on() {
    let mut fake = Fake::new(vec![playback()]);
    fake.media = Media::Unavailable;
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::Failed);
    assert_eq!(codes(&cmds, &h.a_key), vec![100, 480]);
}

#[tokio::test(start_paused = true)]
async fn say_digits_plays_one_file_per_digit_after_answering() {
    let say = step::App::SayDigits(SayDigits {
        digits: "61".into(),
    });
    let mut h = H::start(Fake::new(vec![say])).await;
    let cmds = h.drain().await;
    assert!(response_of(&cmds, &h.a_key, 200).is_some());
    h.ack().await;
    h.wait(Duration::from_secs(3)).await;
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::Ok);
}

#[tokio::test(start_paused = true)]
async fn ringing_progress_and_congestion_answer_the_caller() {
    let steps = vec![
        step::App::Ringing(Default::default()),
        step::App::Progress(Default::default()),
        step::App::Congestion(Default::default()),
    ];
    let mut h = H::start(Fake::new(steps)).await;
    assert_eq!(codes(&h.drain().await, &h.a_key), vec![100, 180, 183, 503]);
}

#[tokio::test(start_paused = true)]
async fn wait_waits_and_a_cancel_ends_it() {
    let mut h = H::start(Fake::new(vec![step::App::Wait(Wait { millis: 5000 })])).await;
    h.wait(Duration::from_secs(2)).await;
    assert!(h.fake.results().is_empty(), "still waiting");
    h.cancel().await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![487]);
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::CallerHungUp);
    let mut h = H::start(Fake::new(vec![step::App::Wait(Wait { millis: 5000 })])).await;
    h.wait(Duration::from_secs(6)).await;
    assert_eq!(status(&h.fake.results()[0]).0, StepStatus::Ok);
}

#[tokio::test(start_paused = true)]
async fn hangup_sends_bye_to_an_answered_caller() {
    let steps = vec![
        step::App::Answer(Default::default()),
        step::App::Hangup(Default::default()),
    ];
    let mut h = H::start(Fake::new(steps)).await;
    let cmds = h.drain().await;
    assert_eq!(requests(&cmds, Method::BYE).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_media_instance_dying_leaves_a_bridged_call_alone() {
    // A bridged call's RTP flows phone to phone: it holds no session.
    let (mut h, _) = bridged(Fake::new(vec![dial(&["alice"], 20)])).await;
    h.fake.lost.notify_one();
    let cmds = h.drain().await;
    assert!(requests(&cmds, Method::BYE).is_empty());
    assert!(h.fake.results().is_empty(), "still bridged");
}
