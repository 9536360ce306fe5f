//! RTP port pairs from the configured range: an even port for RTP and the
//! next odd one for RTCP (RFC 3550 §11), tried in an order nobody can
//! predict (a random start and a random stride through the range, which
//! still visits every pair), so a stranger cannot guess the next call's
//! port and send into it.

use std::net::{IpAddr, SocketAddr};
use tokio::net::UdpSocket;

pub struct Ports {
    ip: IpAddr,
    first: u16,
    pairs: u32,
}

impl Ports {
    /// `first..=last`, rounded in to even RTP ports.
    pub fn new(ip: IpAddr, first: u16, last: u16) -> Ports {
        let first = first + (first & 1);
        let pairs = u32::from(last.saturating_sub(first) / 2).max(1);
        Ports { ip, first, pairs }
    }

    /// Bind a free pair, picked at random.
    pub async fn bind(&self) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let (start, stride) = self.walk();
        for k in 0..self.pairs.min(512) {
            let i = ((u64::from(start) + u64::from(k) * u64::from(stride)) % u64::from(self.pairs))
                as u32;
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

    /// A random start and a random stride prime to the number of pairs:
    /// a walk through every pair in an unpredictable order.
    fn walk(&self) -> (u32, u32) {
        let start = rand::random::<u32>() % self.pairs;
        if self.pairs < 5 {
            return (start, 1);
        }
        // Never ±1: neighbours in turn are what a guesser tries first.
        loop {
            let stride = 2 + rand::random::<u32>() % (self.pairs - 3);
            if gcd(stride, self.pairs) == 1 {
                return (start, stride);
            }
        }
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_visits_every_pair_once() {
        let p = Ports::new(IpAddr::from([127, 0, 0, 1]), 10000, 10199);
        for _ in 0..20 {
            let (start, stride) = p.walk();
            let mut seen: Vec<u32> = (0..p.pairs)
                .map(|k| (start + k * stride) % p.pairs)
                .collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), p.pairs as usize);
        }
    }

    #[tokio::test]
    async fn consecutive_sessions_do_not_get_consecutive_ports() {
        let p = Ports::new(IpAddr::from([127, 0, 0, 1]), 14000, 15999);
        let mut ports = Vec::new();
        let mut held = Vec::new();
        for _ in 0..8 {
            let (rtp, rtcp) = p.bind().await.unwrap();
            ports.push(rtp.local_addr().unwrap().port());
            held.push((rtp, rtcp));
        }
        let in_step = ports
            .windows(2)
            .filter(|w| w[1].abs_diff(w[0]) == 2)
            .count();
        // Each pick is random: two neighbours in a row happen (1 in 500),
        // three or more in eight picks practically never.
        assert!(in_step <= 2, "ports handed out in sequence: {ports:?}");
    }
}
