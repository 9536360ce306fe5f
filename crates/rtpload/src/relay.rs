//! Relayed calls: each call is two phones (two sockets) talking through a
//! relay, 50 packets/s each way, so a call is two streams in and two out.
//! The relay is either the media service's (`OpenRelay`, the callee's
//! answer through `UpdateRelay`) or [`forwarder`], a bare UDP forwarder
//! with the same shape (a port pair per call, symmetric latching) and none
//! of the RTP work: the ceiling of this machine.

use crate::load::socket;
use anyhow::{Context, Result};
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::{CloseRequest, OpenRelayRequest, RelayLeg, UpdateRelayRequest};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

fn offer(port: u16) -> String {
    format!("v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
}

fn port_of(sdp: &str) -> Option<u16> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
}

type Legs = Vec<(SocketAddr, Arc<UdpSocket>)>;

/// `calls` relays on the media service at `url`: both phones' sockets
/// with where each sends; and the session ids, to close.
pub async fn open_relays(url: &str, calls: usize) -> Result<(Legs, Vec<String>)> {
    let mut client = MediaClient::connect(url.to_owned())
        .await
        .context("media gRPC")?;
    let (mut legs, mut ids) = (Vec::with_capacity(calls * 2), Vec::with_capacity(calls));
    for i in 0..calls {
        let (a, b) = (Arc::new(socket(0)?), Arc::new(socket(0)?));
        let r = client
            .open_relay(OpenRelayRequest {
                call_id: format!("relay-load-{i}"),
                caller_offer: offer(a.local_addr()?.port()),
                reached_at: "127.0.0.1".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        client
            .update_relay(UpdateRelayRequest {
                session_id: r.session_id.clone(),
                leg: RelayLeg::Callee as i32,
                sdp: offer(b.local_addr()?.port()),
                offer: false,
            })
            .await?;
        let to_a = port_of(&r.caller_answer).context("caller answer port")?;
        let to_b = port_of(&r.callee_offer).context("callee offer port")?;
        legs.push((SocketAddr::from(([127, 0, 0, 1], to_a)), a));
        legs.push((SocketAddr::from(([127, 0, 0, 1], to_b)), b));
        ids.push(r.session_id);
    }
    Ok((legs, ids))
}

pub async fn close_relays(url: &str, ids: Vec<String>) {
    if let Ok(mut c) = MediaClient::connect(url.to_owned()).await {
        for session_id in ids {
            let _ = c.close(CloseRequest { session_id }).await;
        }
    }
}

/// The bare forwarder: ports `base..base + 2·calls`, port `base + 2k` and
/// `base + 2k + 1` a pair; a packet into one goes out of the other to
/// whoever last sent into that other one.
pub async fn forwarder(base: u16, calls: u16) -> Result<()> {
    let mut tasks = Vec::new();
    for k in 0..calls {
        let a = Arc::new(socket(base + 2 * k)?);
        let b = Arc::new(socket(base + 2 * k + 1)?);
        let (peer_a, peer_b) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
        for (from, to, learn, send_to) in [
            (a.clone(), b.clone(), peer_a.clone(), peer_b.clone()),
            (b, a, peer_b, peer_a),
        ] {
            tasks.push(tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok((n, src)) = from.recv_from(&mut buf).await {
                    if let Ok(mut l) = learn.lock() {
                        *l = Some(src);
                    }
                    let dest = send_to.lock().ok().and_then(|d| *d);
                    if let Some(dest) = dest {
                        let _ = to.send_to(&buf[..n], dest).await;
                    }
                }
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Phones for the forwarder at `base`: each side first says hello, so the
/// forwarder knows where to send.
pub async fn forwarder_legs(base: u16, calls: u16) -> Result<Legs> {
    let mut legs = Vec::with_capacity(usize::from(calls) * 2);
    for k in 0..calls {
        for port in [base + 2 * k, base + 2 * k + 1] {
            let s = Arc::new(socket(0)?);
            let to = SocketAddr::from(([127, 0, 0, 1], port));
            s.send_to(&[0u8; 4], to).await?;
            legs.push((to, s));
        }
    }
    // Hellos in before the run starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(legs)
}
