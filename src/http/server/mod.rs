//! The HTTP server: takes connections within the limits of [`admission`], serves each with
//! hyper's HTTP/1.1 under a header timeout and a send timeout ([`stream`]), records the peer for
//! per-client limits ([`Peer`]), and on shutdown lets the requests in flight finish.
//!
//! A connection must deliver each request's head within the header timeout, counted from when
//! the server starts waiting for it: on a new connection, and on a kept-alive one after its last
//! answer, so the same timeout also closes idle keep-alive connections. Request bodies are read
//! by the handlers, inside the request timeout of [`super::finish`].

pub mod admission;
pub mod descriptors;
mod refusal;
mod stream;

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use super::client::{Peer, TrustedProxies};
use admission::Admission;
use stream::GuardedStream;

/// How the server treats connections.
#[derive(Clone, Copy, Debug)]
pub struct ServerSettings {
    /// Longest wait for a complete request head (and so the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// Longest a write may wait for a client that does not read.
    pub send_timeout: Duration,
    /// Longest the requests in flight get to finish after shutdown is asked for.
    pub drain_timeout: Duration,
}

/// The largest request head taken (request line and header fields): far above any browser's or
/// API client's, and a bound on what one request makes the server buffer and parse.
const MAX_HEAD_BYTES: usize = 128 * 1024;

/// While accepting fails for want of resources, how often that is said.
const ACCEPT_ERROR_REMINDER: Duration = Duration::from_secs(10);
/// How long to wait before accepting again after a failure for want of resources.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    admission: &'static Admission,
    proxies: &'static TrustedProxies,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let mut accept_failures = AcceptFailures::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failures.pause(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        accept_failures.recovered();
        let ticket = match admission.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                refusal::refuse(stream, refusal);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(GuardedStream::new(stream, settings.send_timeout));
        let service = ConnectionService { app: app.clone(), peer: Peer { addr: peer, proxies } };
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            // A connection's end (the client left, a timeout, a malformed request) is routine.
            let _ = connection.await;
            drop(ticket);
        });
    }
    drop(listener);
    if tokio::time::timeout(settings.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the drain timeout were cut off");
    }
}

/// Every request of one connection, with the connection's peer recorded in it.
#[derive(Clone)]
struct ConnectionService<S> {
    app: S,
    peer: Peer,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Oneshot<S, Request>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(self.peer);
        self.app.clone().oneshot(request)
    }
}

/// Accept failures: routine ones (the client gave up) are skipped; a want of resources (no
/// descriptors left, no memory) pauses accepting briefly, and is logged when it starts, every
/// so often while it lasts, and when it ends.
#[derive(Default)]
struct AcceptFailures {
    /// When the failures began and when they were last said.
    failing: Option<(Instant, Instant)>,
}

impl AcceptFailures {
    async fn pause(&mut self, error: std::io::Error) {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
        if matches!(error.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
            return;
        }
        let now = Instant::now();
        match &mut self.failing {
            None => {
                self.failing = Some((now, now));
                tracing::warn!(error = %error, "cannot accept connections; pausing briefly and retrying");
            }
            Some((since, said)) if said.elapsed() >= ACCEPT_ERROR_REMINDER => {
                *said = now;
                tracing::warn!(error = %error, for_s = since.elapsed().as_secs(), "still cannot accept connections");
            }
            Some(_) => {}
        }
        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
    }

    fn recovered(&mut self) {
        if let Some((since, _)) = self.failing.take() {
            tracing::info!(after_ms = since.elapsed().as_millis() as u64, "accepting connections again");
        }
    }
}
