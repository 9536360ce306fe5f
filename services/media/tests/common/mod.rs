//! What the media service's gRPC tests share: a service on loopback with
//! its own RTP port range, and RTP/SDP helpers for the phones they play.
#![allow(dead_code)]

use asterism_media::config::MediaConfig;
use asterism_proto::media::media_client::MediaClient;
use std::time::Duration;
use tonic::transport::Channel;

/// A media service with prompts from `sounds` and RTP ports `first..first+999`
/// (below the ephemeral range other tests' services get ports from).
pub async fn serve(sounds: &std::path::Path, first: u16) -> MediaClient<Channel> {
    let cfg = MediaConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        rtp_first: first,
        rtp_last: first + 999,
        rtp_bind: "127.0.0.1".parse().unwrap(),
        advertise: Some("127.0.0.1".parse().unwrap()),
        advertise_from_node: false,
        sounds: sounds.to_path_buf(),
        config_dir: None,
        rtp_timeout: Duration::from_secs(30),
        capacity: 100,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(asterism_media::grpc::service(
                asterism_media::build(&cfg).unwrap(),
            ))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    MediaClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// The port of an SDP's audio stream.
pub fn port_of(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// An RTP packet (SSRC 7, timestamp 160 per sequence number).
pub fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Close session `id`; then Stats must say it is gone (NOT_FOUND).
pub async fn close_and_check_gone(c: &mut MediaClient<Channel>, id: &str) {
    use asterism_proto::media::{CloseRequest, StatsRequest};
    c.close(CloseRequest {
        session_id: id.to_owned(),
    })
    .await
    .unwrap();
    let gone = c
        .stats(StatsRequest {
            session_id: id.to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        gone.code(),
        tonic::Code::NotFound,
        "closed sessions are freed"
    );
}
