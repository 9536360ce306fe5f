//! TCP: one task per connection reads and frames the stream (several messages
//! per read, or one message over several reads); a writer task owns the
//! write half so replies from any task go out in order on the same
//! connection. Every connection lives by the listener's [`TcpLimits`]:
//! admitted only within the caps, closed when it does not authenticate in
//! time, idles too long, drips a message, or does not read what we write.

use super::conns::{Admitted, ConnTable, Refusal, TcpLimits};
use super::inbound::{Inbound, InboundEvent};
use super::{Flow, Kind};
use crate::error::FrameError;
use crate::framing::{frame_stream, leading_crlf};
use bytes::{Buf, Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub(super) async fn accept(listener: TcpListener, conns: ConnTable, tx: mpsc::Sender<Inbound>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let (out_tx, out_rx) = mpsc::channel::<Bytes>(conns.limits.write_queue.max(1));
                match conns.admit(remote, out_tx) {
                    Ok(admitted) => {
                        let _ = stream.set_nodelay(true);
                        let c = Connection {
                            remote,
                            conns: conns.clone(),
                            admitted,
                        };
                        tokio::spawn(c.run(stream, out_rx, tx.clone()));
                    }
                    // Closed at once: the peer sees the connection reset.
                    Err(why) => refused(remote, why),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

fn refused(remote: SocketAddr, why: Refusal) {
    tracing::debug!(%remote, ?why, "tcp connection refused");
}

/// A connection's task; its table entry goes when it ends, however it ends.
struct Connection {
    remote: SocketAddr,
    conns: ConnTable,
    admitted: Admitted,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.conns.remove(&self.remote, self.admitted.id);
    }
}

impl Connection {
    /// When the connection must have shown life by: authentication first,
    /// then idleness, and a message under way must finish in time.
    fn deadline(
        &self,
        limits: &TcpLimits,
        opened: Instant,
        last_read: Instant,
        partial: Option<Instant>,
    ) -> Instant {
        let base = if self.admitted.authed.load(Ordering::Relaxed) {
            last_read + limits.idle_timeout
        } else {
            opened + limits.auth_timeout
        };
        match partial {
            Some(started) => base.min(started + limits.message_timeout),
            None => base,
        }
    }

    async fn run(
        self,
        stream: TcpStream,
        mut out_rx: mpsc::Receiver<Bytes>,
        tx: mpsc::Sender<Inbound>,
    ) {
        let (mut reader, mut writer) = stream.into_split();
        let writer_task = tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let flow = Flow {
            kind: Kind::Tcp,
            remote: self.remote,
        };
        let limits = self.conns.limits;
        let opened = Instant::now();
        let mut last_read = opened;
        // When the message now in `buf` began, if one is under way.
        let mut partial: Option<Instant> = None;
        let mut buf = BytesMut::with_capacity(8192);
        let kill = self.admitted.kill.clone();
        'read: loop {
            let deadline = self.deadline(&limits, opened, last_read, partial);
            let read = tokio::select! {
                r = tokio::time::timeout_at(deadline, reader.read_buf(&mut buf)) => r,
                _ = kill.notified() => {
                    tracing::debug!(remote = %self.remote, "tcp peer does not read: closed");
                    break;
                }
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Err(_) => {
                    tracing::debug!(remote = %self.remote, "tcp connection timed out");
                    break;
                }
                Ok(Ok(_)) => last_read = Instant::now(),
            }
            loop {
                let skip = leading_crlf(&buf);
                buf.advance(skip);
                if buf.is_empty() {
                    partial = None;
                    break;
                }
                match frame_stream(&buf) {
                    Ok(frame) => {
                        let event = InboundEvent::parse_frame(&buf, frame);
                        buf.advance(frame.total());
                        partial = None;
                        if tx.send(Inbound { flow, event }).await.is_err() {
                            break 'read;
                        }
                    }
                    Err(FrameError::Incomplete) => {
                        partial.get_or_insert(last_read);
                        break;
                    }
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
        writer_task.abort();
    }
}
