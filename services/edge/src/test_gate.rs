//! Test helpers for the lanes' tests: a backend's gRPC service behind a
//! gate that notes each method called and can refuse one as an older
//! version would (UNIMPLEMENTED), and a TCP forwarder whose abort cuts
//! every connection, as a replica killed does.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use tonic::codegen::{http, BoxFuture, Service};

/// The gRPC service name a gate stands for.
pub trait Named: Send + Sync + 'static {
    const NAME: &'static str;
}

pub struct Gate<S, N> {
    pub inner: S,
    /// A method (`RegisterStream`) answered UNIMPLEMENTED.
    pub refuse: Option<&'static str>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub name: PhantomData<fn() -> N>,
}

impl<S: Clone, N> Clone for Gate<S, N> {
    fn clone(&self) -> Self {
        Gate {
            inner: self.inner.clone(),
            refuse: self.refuse,
            seen: self.seen.clone(),
            name: PhantomData,
        }
    }
}

impl<S, N> Gate<S, N> {
    pub fn new(inner: S, refuse: Option<&'static str>) -> Self {
        Gate {
            inner,
            refuse,
            seen: Arc::default(),
            name: PhantomData,
        }
    }
}

impl<S, N> Service<http::Request<tonic::body::Body>> for Gate<S, N>
where
    S: Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let method = req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let refused = self.refuse == Some(method.as_str());
        self.seen.lock().unwrap().push(method);
        if refused {
            let status = tonic::Status::unimplemented("older version");
            return Box::pin(async { Ok(status.into_http()) });
        }
        let mut inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}

impl<S, N: Named> tonic::server::NamedService for Gate<S, N> {
    const NAME: &'static str = N::NAME;
}

/// Serve `gate` on a loopback port; its address.
pub async fn serve<S, N: Named>(gate: Gate<S, N>) -> std::net::SocketAddr
where
    S: Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(gate)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    addr
}

/// A TCP forwarder to `to`; aborting the returned task cuts every
/// connection, as a replica killed does.
pub async fn forwarder(
    to: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, task)
}
