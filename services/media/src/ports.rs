//! RTP port pairs from the configured range: an even port for RTP and the
//! next odd one for RTCP (RFC 3550 §11), tried round-robin so a port just
//! freed is not reused at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::net::UdpSocket;

pub struct Ports {
    ip: IpAddr,
    first: u16,
    pairs: u32,
    next: AtomicU32,
}

impl Ports {
    /// `first..=last`, rounded in to even RTP ports.
    pub fn new(ip: IpAddr, first: u16, last: u16) -> Ports {
        let first = first + (first & 1);
        let pairs = u32::from(last.saturating_sub(first) / 2).max(1);
        Ports {
            ip,
            first,
            pairs,
            next: AtomicU32::new(rand::random::<u32>() % pairs),
        }
    }

    /// Bind the next free pair.
    pub async fn bind(&self) -> std::io::Result<(UdpSocket, UdpSocket)> {
        for _ in 0..self.pairs.min(512) {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pairs;
            let port = self.first + (i as u16) * 2;
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)).await else {
                continue;
            };
            if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, port + 1)).await {
                return Ok((rtp, rtcp));
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free RTP port pair in the range",
        ))
    }
}
