//! UDP receive loop: one datagram is one message (RFC 3261 §18.3).

use super::inbound::{Inbound, InboundEvent};
use super::{Flow, Kind};
use crate::framing::{frame_datagram, leading_crlf};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const MAX_DATAGRAM: usize = 65_535;

pub(super) async fn receive(socket: Arc<UdpSocket>, tx: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, remote) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP port unreachable and friends surface here on some systems;
            // they concern one peer, never the socket.
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let data = &buf[..n];
        let data = &data[leading_crlf(data)..];
        if data.is_empty() {
            continue; // keep-alive
        }
        let event = match frame_datagram(data) {
            Ok(frame) => InboundEvent::parse_frame(data, frame),
            Err(e) => InboundEvent::frame_error(data, e),
        };
        let flow = Flow {
            kind: Kind::Udp,
            remote,
        };
        if tx.send(Inbound { flow, event }).await.is_err() {
            return;
        }
    }
}
