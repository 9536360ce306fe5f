//! The phones: one UDP socket each, a shared 20 ms clock, a receiver per
//! socket timing every echo against the send time carried in the payload.

use anyhow::{Context, Result};
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::{EchoRequest, OpenRequest};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// A loopback UDP socket with 4 MiB buffers, so bursts queue rather than drop.
pub fn socket(port: u16) -> Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    Ok(UdpSocket::from_std(s.into())?)
}

pub async fn echo_server(port: u16) -> Result<()> {
    let s = socket(port)?;
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = s.recv_from(&mut buf).await?;
        let _ = s.send_to(&buf[..n], from).await;
    }
}

/// Open `calls` media sessions (PCMU offers from our own sockets) and put
/// each in Echo; returns where to send each call's RTP.
pub type Sessions = (MediaClient<tonic::transport::Channel>, Vec<String>);

pub async fn open_sessions(
    url: &str,
    calls: usize,
) -> Result<(Vec<(SocketAddr, Arc<UdpSocket>)>, Sessions)> {
    let client = MediaClient::connect(url.to_owned())
        .await
        .context("media gRPC")?;
    let mut out = Vec::with_capacity(calls);
    let mut ids = Vec::with_capacity(calls);
    for i in 0..calls {
        let sock = Arc::new(socket(0)?);
        let port = sock.local_addr()?.port();
        let offer = format!("v=0\r\no=load {i} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
        let r = client
            .clone()
            .open(OpenRequest {
                call_id: format!("load-{i}"),
                sdp_offer: offer,
                reached_at: "127.0.0.1".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let rport: u16 = r
            .sdp_answer
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .context("answer port")?;
        let mut c = client.clone();
        let id = r.session_id;
        ids.push(id.clone());
        tokio::spawn(async move {
            let _ = c.echo(EchoRequest { session_id: id }).await;
        });
        out.push((SocketAddr::from(([127, 0, 0, 1], rport)), sock));
    }
    // Let every session enter Echo.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok((out, (client, ids)))
}

/// Free the sessions `open_sessions` made.
pub async fn close_sessions((mut client, ids): Sessions) {
    for session_id in ids {
        let _ = client
            .close(asterism_proto::media::CloseRequest { session_id })
            .await;
    }
}

pub trait Target {
    fn into_parts(self) -> impl std::future::Future<Output = Result<(SocketAddr, Arc<UdpSocket>)>>;
}

impl Target for SocketAddr {
    async fn into_parts(self) -> Result<(SocketAddr, Arc<UdpSocket>)> {
        Ok((self, Arc::new(socket(0)?)))
    }
}

impl Target for (SocketAddr, Arc<UdpSocket>) {
    async fn into_parts(self) -> Result<(SocketAddr, Arc<UdpSocket>)> {
        Ok(self)
    }
}

pub struct Report {
    pub calls: usize,
    sent: u64,
    received: u64,
    delays_us: Vec<u64>,
}

impl Report {
    pub fn print(&self) {
        let mut d = self.delays_us.clone();
        d.sort_unstable();
        let pct = |p: f64| {
            d.get(((d.len() as f64 * p) as usize).min(d.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        println!(
            "calls={} sent={} received={} lost={} p50_us={} p99_us={} max_us={}",
            self.calls,
            self.sent,
            self.received,
            self.sent.saturating_sub(self.received),
            pct(0.50),
            pct(0.99),
            d.last().copied().unwrap_or(0)
        );
    }
}

/// Every call sends a 172-byte packet every 20 ms for `secs` seconds.
pub async fn run<T: Target>(targets: Vec<T>, secs: u64) -> Result<Report> {
    let mut calls = Vec::with_capacity(targets.len());
    for t in targets {
        calls.push(t.into_parts().await?);
    }
    let epoch = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let delays = Arc::new(Mutex::new(Vec::with_capacity(
        calls.len() * 50 * secs as usize,
    )));
    let mut receivers = Vec::new();
    for (_, sock) in &calls {
        let (sock, received, delays) = (sock.clone(), received.clone(), delays.clone());
        receivers.push(tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut local = Vec::new();
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await
            {
                if n >= 20 {
                    let sent = u64::from_be_bytes(buf[12..20].try_into().unwrap_or([0; 8]));
                    let now = epoch.elapsed().as_micros() as u64;
                    local.push(now.saturating_sub(sent));
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Ok(mut d) = delays.lock() {
                d.extend(local);
            }
        }));
    }
    // Calls are spread over the 20 ms frame in 1 ms slots (call i sends in
    // slot i % 20), as independent phones would be, not all at once.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    let mut pkt = vec![0u8; 172];
    pkt[0] = 0x80;
    for slot in 0..(secs * 1000) {
        tick.tick().await;
        let frame = slot / 20;
        for (i, (addr, sock)) in calls
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % 20 == slot % 20)
        {
            pkt[2..4].copy_from_slice(&(frame as u16).to_be_bytes());
            pkt[4..8].copy_from_slice(&((frame * 160) as u32).to_be_bytes());
            pkt[8..12].copy_from_slice(&(i as u32).to_be_bytes());
            let now = epoch.elapsed().as_micros() as u64;
            pkt[12..20].copy_from_slice(&now.to_be_bytes());
            if sock.send_to(&pkt, addr).await.is_ok() {
                sent += 1;
            }
        }
    }
    for r in receivers {
        let _ = r.await;
    }
    let delays_us = delays.lock().map(|d| d.clone()).unwrap_or_default();
    Ok(Report {
        calls: calls.len(),
        sent,
        received: received.load(Ordering::Relaxed),
        delays_us,
    })
}
