//! The media service over real gRPC and real UDP: Open/Play/Echo/Stats/Close,
//! 488-style refusal, missing files, DTMF ending Echo, sessions freed.

mod common;

use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::*;
use common::rtp;
use std::net::UdpSocket;
use std::time::Duration;
use tonic::transport::Channel;

async fn serve(sounds: &std::path::Path) -> MediaClient<Channel> {
    common::serve(sounds, 30000).await
}

fn offer(port: u16, codecs: &str) -> String {
    format!("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {codecs}\r\na=rtpmap:101 telephone-event/8000\r\n")
}

fn answer_port(sdp: &str) -> u16 {
    common::port_of(sdp)
}

#[tokio::test]
async fn no_common_codec_is_failed_precondition() {
    let mut c = serve(std::path::Path::new("/nonexistent")).await;
    let e = c
        .open(OpenRequest {
            sdp_offer: offer(4000, "18"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn missing_files_are_reported_and_playback_ends() {
    let mut c = serve(std::path::Path::new("/nonexistent")).await;
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = c
        .open(OpenRequest {
            sdp_offer: offer(phone.local_addr().unwrap().port(), "0"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.codec, "PCMU");
    let mut s = c
        .play(PlayRequest {
            session_id: r.session_id.clone(),
            files: vec!["nope".into()],
            language: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = s.message().await.unwrap().unwrap();
    assert_eq!(
        first.event,
        Some(play_progress::Event::Missing("nope".into()))
    );
    assert!(s.message().await.unwrap().is_none(), "the playlist ended");
}

// Multi-threaded: the phone's socket calls below block a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_counts_packets_and_hash_ends_it_then_close_frees_the_session() {
    let mut c = serve(std::path::Path::new("/nonexistent")).await;
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let r = c
        .open(OpenRequest {
            sdp_offer: offer(phone.local_addr().unwrap().port(), "8 101"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.codec, "PCMA");
    let media = ("127.0.0.1", answer_port(&r.sdp_answer));
    let id = r.session_id.clone();
    let mut echo_client = c.clone();
    let echo = tokio::spawn(async move {
        echo_client
            .echo(EchoRequest { session_id: id })
            .await
            .unwrap()
            .into_inner()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut buf = [0u8; 512];
    for seq in 0..10u16 {
        phone
            .send_to(&rtp(8, seq, &[seq as u8; 160]), media)
            .unwrap();
        let n = phone.recv(&mut buf).unwrap();
        assert_eq!(&buf[12..n], &[seq as u8; 160]);
    }
    // '#' (RFC 4733 event 11) with the end bit ends Echo.
    phone
        .send_to(&rtp(101, 10, &[11, 0x8a, 0, 160]), media)
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(2), echo)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (end.reason, end.digit.as_str()),
        (asterism_proto::media::EchoEnd::Dtmf as i32, "#")
    );
    let stats = c
        .stats(StatsRequest {
            session_id: r.session_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (stats.packets_in, stats.packets_out, stats.lost),
        (11, 10, 0)
    );
    assert_eq!(stats.bytes_out, 10 * 172);
    common::close_and_check_gone(&mut c, &r.session_id).await;
}
