//! TCP: one task per connection reads and frames the stream (several messages
//! per read, or one message over several reads); a writer task owns the
//! write half so replies from any task go out in order on the same connection.

use super::inbound::{Inbound, InboundEvent};
use super::{ConnTable, Flow, Kind};
use crate::error::FrameError;
use crate::framing::{frame_stream, leading_crlf};
use bytes::{Buf, Bytes, BytesMut};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub(super) async fn accept(listener: TcpListener, conns: ConnTable, tx: mpsc::Sender<Inbound>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, remote, conns.clone(), tx.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Removes the connection from the table however the task ends.
struct Registration {
    conns: ConnTable,
    remote: SocketAddr,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.conns.remove(&self.remote);
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    conns: ConnTable,
    tx: mpsc::Sender<Inbound>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(256);
    conns.insert(remote, out_tx);
    let _registration = Registration {
        conns: conns.clone(),
        remote,
    };
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let flow = Flow {
        kind: Kind::Tcp,
        remote,
    };
    let mut buf = BytesMut::with_capacity(8192);
    'read: loop {
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            let skip = leading_crlf(&buf);
            buf.advance(skip);
            if buf.is_empty() {
                break;
            }
            match frame_stream(&buf) {
                Ok(frame) => {
                    let event = InboundEvent::parse_frame(&buf, frame);
                    buf.advance(frame.total());
                    if tx.send(Inbound { flow, event }).await.is_err() {
                        break 'read;
                    }
                }
                Err(FrameError::Incomplete) => break,
                Err(e) => {
                    // The stream cannot be re-synchronised: report (for a 400)
                    // and close once the answer is written.
                    let event = InboundEvent::frame_error(&buf, e);
                    let _ = tx.send(Inbound { flow, event }).await;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    break 'read;
                }
            }
        }
    }
    drop(_registration);
    writer_task.abort();
}
