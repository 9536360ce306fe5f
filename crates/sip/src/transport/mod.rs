//! SIP transports: UDP and TCP on one port. Every received message is tagged
//! with the [`Flow`] it arrived on, and replies are sent back on that flow
//! (the same socket for UDP, the same connection for TCP), which is what
//! makes phones behind NAT reachable (RFC 3581, RFC 5626 §3.3).

mod conns;
mod inbound;
mod tcp;
mod udp;

use conns::ConnTable;
pub use conns::{Refusal, TcpLimits};
pub use inbound::{Inbound, InboundEvent};

use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Udp,
    Tcp,
}

impl Kind {
    /// Reliable transports need no retransmissions (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        matches!(self, Kind::Tcp)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Udp => "UDP",
            Kind::Tcp => "TCP",
        }
    }
}

/// Where a message came from and how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub kind: Kind,
    pub remote: SocketAddr,
}

#[derive(Debug, Error)]
pub enum SendError {
    #[error("no open connection to {0}")]
    NoConnection(SocketAddr),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Outgoing side of the transports: cheap to clone, shared by every task that
/// sends SIP.
#[derive(Clone)]
pub struct Transport {
    udp: Arc<UdpSocket>,
    tcp: ConnTable,
    local: SocketAddr,
}

impl Transport {
    /// Bind UDP and TCP on `addr` (port 0 picks one free port for both) and
    /// start receiving. Messages arrive on the returned channel.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        Transport::bind_with(addr, TcpLimits::default()).await
    }

    /// [`Transport::bind`] with these TCP limits.
    pub async fn bind_with(
        addr: SocketAddr,
        limits: TcpLimits,
    ) -> std::io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        let (udp, listener) = bind_pair(addr).await?;
        let local = udp.local_addr()?;
        let udp = Arc::new(udp);
        let (tx, rx) = mpsc::channel(4096);
        let transport = Transport {
            udp: udp.clone(),
            tcp: ConnTable::new(limits),
            local,
        };
        tokio::spawn(udp::receive(udp, tx.clone()));
        tokio::spawn(tcp::accept(listener, transport.tcp.clone(), tx));
        Ok((transport, rx))
    }

    /// Bind UDP alone on `addr`: a listener for the hop between edges.
    pub async fn bind_udp(
        addr: SocketAddr,
    ) -> std::io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        let udp = Arc::new(bind_udp(addr)?);
        let local = udp.local_addr()?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(udp::receive(udp.clone(), tx));
        let transport = Transport {
            udp,
            tcp: ConnTable::default(),
            local,
        };
        Ok((transport, rx))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Send without waiting: for callers that must never block (the SIP
    /// core), and never holding anything back: a datagram the socket cannot
    /// take now is dropped (the transaction layer retransmits), and a TCP
    /// peer whose write queue is full — it does not read — loses its
    /// connection rather than making us queue without end.
    pub fn send_now(&self, flow: &Flow, bytes: Bytes) {
        match flow.kind {
            Kind::Udp => {
                if let Err(e) = self.udp.try_send_to(&bytes, flow.remote) {
                    tracing::debug!(error = %e, remote = %flow.remote, "udp send failed");
                }
            }
            Kind::Tcp => match self.tcp.get(&flow.remote) {
                Some((tx, kill)) => {
                    if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(bytes) {
                        kill.notify_one();
                    }
                }
                None => tracing::debug!(remote = %flow.remote, "tcp connection gone"),
            },
        }
    }

    /// The TCP connection of `flow` authenticated (see [`TcpLimits`]).
    pub fn authenticated(&self, flow: &Flow) {
        if flow.kind == Kind::Tcp {
            self.tcp.authenticated(&flow.remote);
        }
    }

    /// Close the TCP connection of `flow`.
    pub fn close(&self, flow: &Flow) {
        if flow.kind == Kind::Tcp {
            self.tcp.kill(&flow.remote);
        }
    }

    /// (open, not yet authenticated) TCP connections now.
    pub fn tcp_counts(&self) -> (usize, usize) {
        self.tcp.counts()
    }

    /// Send bytes on a flow. For TCP the connection must still be open.
    pub async fn send(&self, flow: &Flow, bytes: Bytes) -> Result<(), SendError> {
        match flow.kind {
            Kind::Udp => {
                self.udp.send_to(&bytes, flow.remote).await?;
                Ok(())
            }
            Kind::Tcp => {
                let (tx, _) = self
                    .tcp
                    .get(&flow.remote)
                    .ok_or(SendError::NoConnection(flow.remote))?;
                tx.send(bytes)
                    .await
                    .map_err(|_| SendError::NoConnection(flow.remote))
            }
        }
    }
}

/// Socket buffer we ask for: bursts of REGISTERs must queue in the kernel,
/// not be dropped, while the receive task is descheduled (capped by
/// net.core.rmem_max / wmem_max).
const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_BUFFER_BYTES) {
        tracing::debug!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Bind UDP and TCP to the same port. With port 0, retry until a port is free
/// for both.
async fn bind_pair(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..32 {
        let udp = bind_udp(addr)?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(l) => return Ok((udp, l)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port for UDP and TCP")))
}
