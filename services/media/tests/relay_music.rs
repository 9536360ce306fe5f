//! What a relay plays, over real gRPC and UDP: music on hold to the held
//! phone while the other holds (and the phone's own audio again after the
//! resume), a relay taking over a plain session's caller on the same port
//! (a Dial after Answer), music to the caller while the callee is dialled
//! (Dial's `m`) and stopped on the answer, and a Playback after the callee
//! is gone played to the caller.

mod common;

use asterism_media::g711;
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::*;
use common::{port_of, rtp};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::Channel;

/// A data directory: `sounds/en/beep.sln` and `moh/tone.sln`, both loud.
fn data_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("asterism-music-{tag}-{}", std::process::id()));
    let tone: Vec<u8> = (0..8000)
        .map(|i| ((i as f64 * 0.785).sin() * 12000.0) as i16)
        .flat_map(|s| s.to_le_bytes())
        .collect();
    std::fs::create_dir_all(dir.join("sounds/en")).unwrap();
    std::fs::create_dir_all(dir.join("moh")).unwrap();
    std::fs::write(dir.join("moh/tone.sln"), &tone).unwrap();
    std::fs::write(dir.join("sounds/en/beep.sln"), &tone[..3200]).unwrap();
    dir
}

async fn serve(dir: &Path, first: u16) -> MediaClient<Channel> {
    common::serve(&dir.join("sounds"), first).await
}

fn sdp(port: u16, pts: &str, extra: &str) -> String {
    format!("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\na=rtpmap:101 telephone-event/8000\r\n{extra}")
}

fn phone() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn port(s: &UdpSocket) -> u16 {
    s.local_addr().unwrap().port()
}

/// Drain what `s` has, then the loudness (peak) of what arrives next
/// within 300 ms and its SSRC; None when nothing arrives.
fn listen(s: &UdpSocket) -> Option<(i16, u32)> {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    while s.recv(&mut buf).is_ok() {}
    s.set_nonblocking(false).unwrap();
    let n = s.recv(&mut buf).ok()?;
    let peak = buf[12..n]
        .iter()
        .map(|&b| g711::ulaw_to_linear(b).saturating_abs())
        .max()
        .unwrap_or(0);
    Some((peak, u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]])))
}

/// A relay between `alice` and `bob`, both PCMU, bob's answer given.
async fn relay(
    c: &mut MediaClient<Channel>,
    alice: &UdpSocket,
    bob: &UdpSocket,
    from_session: &str,
) -> (String, u16, u16) {
    let r = c
        .open_relay(OpenRelayRequest {
            call_id: "music".into(),
            caller_offer: sdp(port(alice), "0 101", ""),
            reached_at: "127.0.0.1:5060".into(),
            from_session: from_session.into(),
            caller_hold_music: "default".into(),
            callee_hold_music: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let update = UpdateRelayRequest {
        session_id: r.session_id.clone(),
        leg: RelayLeg::Callee as i32,
        sdp: sdp(port(bob), "0 101", ""),
        offer: false,
    };
    c.update_relay(update).await.unwrap();
    let ports = (port_of(&r.caller_answer), port_of(&r.callee_offer));
    (r.session_id, ports.0, ports.1)
}

fn update(id: &str, leg: RelayLeg, sdp: String) -> UpdateRelayRequest {
    UpdateRelayRequest {
        session_id: id.into(),
        leg: leg as i32,
        sdp,
        offer: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_held_phone_hears_music_until_the_other_resumes() {
    let dir = data_dir("hold");
    let mut c = serve(&dir, 32000).await;
    let (alice, bob) = (phone(), phone());
    let (id, to_a, _) = relay(&mut c, &alice, &bob, "").await;
    assert_eq!(listen(&bob), None, "nothing is sent to bob unasked");
    // Alice holds (sendonly): bob hears music without alice sending.
    let hold = sdp(port(&alice), "0 101", "a=sendonly\r\n");
    let answer = c
        .update_relay(update(&id, RelayLeg::Caller, hold))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.sdp_answer.contains("a=recvonly"));
    let (peak, music) = listen(&bob).expect("music on hold reaches bob");
    assert!(peak > 5000, "the class's tone: {peak}");
    // Alice's own packets are not forwarded over the music.
    alice
        .send_to(&rtp(0, 1, &[0xFF; 160]), ("127.0.0.1", to_a))
        .unwrap();
    assert_eq!(listen(&bob).map(|(_, ssrc)| ssrc), Some(music));
    // Alice resumes: the music stops, her audio goes through again.
    let resume = sdp(port(&alice), "0 101", "a=sendrecv\r\n");
    c.update_relay(update(&id, RelayLeg::Caller, resume))
        .await
        .unwrap();
    assert_eq!(listen(&bob), None, "music stopped");
    alice
        .send_to(&rtp(0, 2, &[0xFF; 160]), ("127.0.0.1", to_a))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = bob.recv(&mut buf).unwrap();
    assert_eq!(&buf[8..12], &7u32.to_be_bytes(), "alice's own stream");
    assert_eq!(n, 172);
    // c=0.0.0.0 is a hold too (old phones), from bob this time.
    let hold = sdp(port(&bob), "0 101", "").replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    c.update_relay(update(&id, RelayLeg::Callee, hold))
        .await
        .unwrap();
    assert!(
        listen(&alice).is_some_and(|(p, _)| p > 5000),
        "alice hears music"
    );
    common::close_and_check_gone(&mut c, &id).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_takes_over_a_session_and_plays_to_the_caller() {
    let dir = data_dir("takeover");
    let mut c = serve(&dir, 33000).await;
    let (alice, bob) = (phone(), phone());
    // Answer(): alice has a plain session and its SDP.
    let s = c
        .open(OpenRequest {
            call_id: "music".into(),
            sdp_offer: sdp(port(&alice), "0 101", ""),
            reached_at: "127.0.0.1:5060".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let session_port = port_of(&s.sdp_answer);
    // Dial(…,m): the relay takes alice over, on the port she knows, and
    // plays her music while bob is dialled.
    let (id, to_a, to_b) = relay(&mut c, &alice, &bob, &s.session_id).await;
    assert_eq!(to_a, session_port, "the caller keeps her port");
    assert_ne!(id, s.session_id);
    let gone = c
        .stats(StatsRequest {
            session_id: s.session_id.clone(),
        })
        .await;
    assert_eq!(gone.unwrap_err().code(), tonic::Code::NotFound);
    let play = |stop: bool, class: &str, seq: u64| RelayPlayRequest {
        session_id: id.clone(),
        leg: RelayLeg::Caller as i32,
        music_class: class.into(),
        stop,
        seq,
        ..Default::default()
    };
    let unknown = c.play_on_relay(play(false, "jazz", 1)).await.unwrap();
    assert!(!unknown.into_inner().playing, "no such class");
    let on = c.play_on_relay(play(false, "default", 3)).await.unwrap();
    assert!(on.into_inner().playing);
    // A stop that lost the race to the start it followed is ignored.
    c.play_on_relay(play(true, "", 2)).await.unwrap();
    bob.send_to(&rtp(0, 1, &[0xFF; 160]), ("127.0.0.1", to_b))
        .unwrap();
    let (peak, _) = listen(&alice).expect("music while dialling");
    assert!(peak > 5000, "{peak}");
    // Bob answers: the music stops and alice hears him.
    c.play_on_relay(play(true, "", 4)).await.unwrap();
    bob.send_to(&rtp(0, 2, &[0xFF; 160]), ("127.0.0.1", to_b))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = alice.recv(&mut buf).unwrap();
    assert_eq!((n, &buf[8..12]), (172, &7u32.to_be_bytes()[..]));
    alice
        .send_to(&rtp(0, 1, &[0xFF; 160]), ("127.0.0.1", to_a))
        .unwrap();
    assert_eq!(bob.recv(&mut buf).unwrap(), 172, "and he hears her");
    // Swapped (the caller transferred the callee): bob is the caller leg.
    c.swap_legs(SwapLegsRequest {
        session_id: id.clone(),
    })
    .await
    .unwrap();
    let to_bob = RelayPlayRequest {
        session_id: id.clone(),
        leg: RelayLeg::Caller as i32,
        files: vec!["beep".into()],
        language: "en".into(),
        ..Default::default()
    };
    c.play_on_relay(to_bob).await.unwrap();
    let (peak, _) = listen(&bob).expect("the caller leg is bob's now");
    assert!(peak > 5000, "{peak}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(listen(&bob), None, "the prompt is over (and drained)");
    c.swap_legs(SwapLegsRequest {
        session_id: id.clone(),
    })
    .await
    .unwrap();
    // Dial's L warning to bob: prompts on his leg, the answer once over
    // (all ten frames of the 200 ms prompt are there by then).
    let warn = RelayPlayRequest {
        session_id: id.clone(),
        leg: RelayLeg::Callee as i32,
        files: vec!["beep".into()],
        language: "en".into(),
        wait: true,
        ..Default::default()
    };
    assert!(c.play_on_relay(warn).await.unwrap().into_inner().playing);
    bob.set_nonblocking(true).unwrap();
    let mut loud = 0;
    while let Ok(n) = bob.recv(&mut buf) {
        let peak = buf[12..n]
            .iter()
            .map(|&b| g711::ulaw_to_linear(b).saturating_abs())
            .max();
        loud += usize::from(peak.unwrap_or(0) > 5000);
    }
    bob.set_nonblocking(false).unwrap();
    assert_eq!(loud, 10, "the whole prompt before the answer");
    // Bob hangs up, the dialplan goes on (Dial's g): a Playback on the
    // relay reaches alice, and its progress the edge.
    let mut progress = c
        .play(PlayRequest {
            session_id: id.clone(),
            files: vec!["beep".into()],
            language: "en".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let (peak, _) = listen(&alice).expect("the prompt");
    assert!(peak > 5000);
    let mut events = Vec::new();
    while let Some(e) = progress.message().await.unwrap() {
        events.push(e.event);
    }
    assert_eq!(
        events,
        [
            Some(play_progress::Event::Started("beep".into())),
            Some(play_progress::Event::Finished("beep".into()))
        ]
    );
    common::close_and_check_gone(&mut c, &id).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
