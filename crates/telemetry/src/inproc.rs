//! gRPC between services living in one process (the all-in-one `asterism`
//! binary): the same tonic clients and servers, the same HTTP/2, over an
//! in-memory pipe instead of a loopback TCP connection. A request then
//! costs no socket writes, no kernel wake-ups and no epoll round between
//! the edge and the registrar or router — a fifth of the all-in-one's CPU
//! under REGISTER load went there (`bench/profile.py --all-in-one`).
//!
//! A server [`listen`]s under a name; a client's address `inproc://name`
//! ([`is_inproc`]) gets a [`channel`] whose every connection is a fresh
//! pipe handed to that server. Names live in this process only.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

/// The address scheme of an in-process server.
pub const SCHEME: &str = "inproc://";

/// Bytes a pipe buffers each way (an HTTP/2 frame and then some).
const PIPE_BYTES: usize = 256 * 1024;

type Accept = mpsc::UnboundedSender<Pipe>;

fn servers() -> &'static Mutex<HashMap<String, Accept>> {
    static SERVERS: OnceLock<Mutex<HashMap<String, Accept>>> = OnceLock::new();
    SERVERS.get_or_init(Default::default)
}

/// Whether `addr` names an in-process server.
pub fn is_inproc(addr: &str) -> bool {
    addr.starts_with(SCHEME)
}

/// One end of an in-memory connection.
pub struct Pipe(DuplexStream);

impl AsyncRead for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connected for Pipe {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// The connections clients open to `name`, for `serve_with_incoming`. A
/// second listener under the same name takes over from the first.
pub fn listen(name: &str) -> impl tokio_stream::Stream<Item = io::Result<Pipe>> {
    let (tx, rx) = mpsc::unbounded_channel();
    servers()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(name.to_owned(), tx);
    tokio_stream::StreamExt::map(tokio_stream::wrappers::UnboundedReceiverStream::new(rx), Ok)
}

/// Connects to an in-process server; refused while none listens by that name.
#[derive(Clone)]
struct Connector(String);

impl tower_service::Service<Uri> for Connector {
    type Response = hyper_util::rt::TokioIo<Pipe>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (client, server) = tokio::io::duplex(PIPE_BYTES);
        let accepted = servers()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&self.0)
            .is_some_and(|tx| tx.send(Pipe(server)).is_ok());
        std::future::ready(if accepted {
            Ok(hyper_util::rt::TokioIo::new(Pipe(client)))
        } else {
            Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("no in-process server {}", self.0),
            ))
        })
    }
}

/// A channel to the in-process server `addr` (`inproc://name`), connected
/// on first use and again after a failure, as a TCP channel is.
pub fn channel(addr: &str) -> Option<Channel> {
    let name = addr.strip_prefix(SCHEME)?;
    // The URI only names the connection for HTTP/2 (`:authority`).
    let endpoint = Endpoint::from_shared(format!("http://{name}.inproc")).ok()?;
    Some(endpoint.connect_with_connector_lazy(Connector(name.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    #[tokio::test]
    async fn a_grpc_call_crosses_the_pipe() {
        let (health, service) = tonic_health::server::health_reporter();
        health
            .set_service_status("probe", tonic_health::ServingStatus::Serving)
            .await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(listen("inproc-test")),
        );
        let mut client = HealthClient::new(channel("inproc://inproc-test").unwrap());
        let r = client
            .check(HealthCheckRequest {
                service: "probe".into(),
            })
            .await
            .unwrap();
        assert_eq!(r.into_inner().status, 1, "SERVING");
        // Nobody by that name: refused, as a closed port is.
        let mut nobody = HealthClient::new(channel("inproc://nobody").unwrap());
        let err = nobody
            .check(HealthCheckRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
        assert!(channel("http://127.0.0.1:1").is_none());
    }
}
