//! The HTTP/1.1 listener of `accord serve` (keep-alive included), hardened against slow
//! and careless clients:
//! - at most [`Limits::max_connections`] open connections; further ones wait in the
//!   listen backlog until one closes;
//! - a request's line and header fields must arrive within [`Limits::header_timeout`],
//!   which also closes a keep-alive connection idle for as long (a slow body is the
//!   router's body time-out, answered 408, see [`crate::app`]);
//! - a request head is at most [`MAX_HEAD_BYTES`] and [`MAX_HEADER_FIELDS`] fields;
//! - the answers hyper gives by itself, before any route is reached (400 for a malformed
//!   head, 431 for an oversized one), carry the contract's JSON body and an
//!   `x-request-id` like every other answer (§1.1, §1.5).
use crate::app::App;
use accord_core::error::reason_phrase;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// Bytes of a request line and its header fields at most; more is answered 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Header fields of a request at most (hyper's own bound); more is answered 431.
pub const MAX_HEADER_FIELDS: usize = 100;
/// After answering a refused head, the client's remaining input is read and dropped for
/// at most this long (and [`LINGER_BYTES`]) before the connection closes: closing with
/// unread input resets the connection, and the client could lose the answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Connection settings of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest time a client may take to send a request's line and header fields, and
    /// that a keep-alive connection stays open without a request
    /// (`ACCORD_HEADER_TIMEOUT`).
    pub header_timeout: Duration,
    /// Open client connections at most (`ACCORD_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // No timer for hyper: the header time-out is kept per connection by [`Refusals`],
    // which costs one clock reading per request instead of a timer per request.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_header_size(MAX_HEAD_BYTES);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached: new connections wait until one closes"
                );
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let exchanges = Arc::new(Exchanges::default());
        let io = TokioIo::new(Refusals::new(
            stream,
            exchanges.clone(),
            limits.header_timeout,
        ));
        let service = PerConnection {
            app: app.clone(),
            peer,
            exchanges,
        };
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A failed accept: the client's own failures are skipped; anything else (out of file
/// descriptors) is logged and retried after a pause instead of spinning.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed, retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Per connection: requests handed to the router and responses hyper has finished with.
/// When both are equal and everything was flushed, hyper writes nothing on the connection
/// except its own refusal of a request head.
#[derive(Debug, Default)]
struct Exchanges {
    started: AtomicU64,
    finished: AtomicU64,
}

/// The application as the service of one connection: it knows the peer address
/// ([`ConnectInfo`]) and counts the [`Exchanges`].
#[derive(Clone)]
struct PerConnection<A> {
    app: A,
    peer: SocketAddr,
    exchanges: Arc<Exchanges>,
}

/// The router's answer to one request of a connection.
type Answering = Pin<Box<dyn Future<Output = Result<http::Response<Finished>, Infallible>> + Send>>;

impl<A: App> hyper::service::Service<http::Request<Incoming>> for PerConnection<A> {
    type Response = http::Response<Finished>;
    type Error = Infallible;
    type Future = Answering;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        self.exchanges.started.fetch_add(1, Ordering::SeqCst);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let answer = tower::ServiceExt::oneshot(self.app.clone(), req);
        let exchanges = self.exchanges.clone();
        Box::pin(async move {
            let res = answer.await?;
            Ok(res.map(|body| Finished { body, exchanges }))
        })
    }
}

/// A response body that counts itself finished when hyper drops it: hyper has then
/// queued every byte of it.
struct Finished {
    body: Body,
    exchanges: Arc<Exchanges>,
}

impl HttpBody for Finished {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.exchanges.finished.fetch_add(1, Ordering::SeqCst);
    }
}

/// The connection's socket, replacing hyper's own (empty) refusal of a request head by
/// the contract's answer, and keeping the header time-out: while no request is in flight,
/// the next head must arrive within it, or reading fails and hyper closes the connection.
struct Refusals {
    stream: TcpStream,
    exchanges: Arc<Exchanges>,
    head: HeadClock,
    /// The `started` count when every finished response was last flushed; while it is
    /// current, whatever hyper writes is its refusal of a head. A new connection starts
    /// quiet.
    quiet_at: Option<u64>,
    /// The answer sent instead of hyper's; nothing else is written after it.
    answer: Option<Answer>,
}

struct Answer {
    bytes: Vec<u8>,
    written: usize,
    shut: bool,
    linger: Option<(Pin<Box<Sleep>>, usize)>,
}

impl Refusals {
    fn new(stream: TcpStream, exchanges: Arc<Exchanges>, timeout: Duration) -> Refusals {
        Refusals {
            stream,
            exchanges,
            head: HeadClock::new(timeout),
            quiet_at: Some(0),
            answer: None,
        }
    }

    fn is_quiet(&self) -> bool {
        self.quiet_at == Some(self.exchanges.started.load(Ordering::SeqCst))
    }

    /// Takes `head` as hyper's refusal when it is one, and queues the answer in its place.
    fn replaced(&mut self, head: &[u8]) -> bool {
        if self.answer.is_some() {
            return true;
        }
        if !self.is_quiet() {
            return false;
        }
        let Some(bytes) = refusal(head) else {
            return false;
        };
        self.answer = Some(Answer {
            bytes,
            written: 0,
            shut: false,
            linger: None,
        });
        true
    }
}

/// The header time-out of one connection. The deadline moves with every request (a clock
/// reading); the one timer behind it is re-armed only when it fires before the deadline,
/// so a busy keep-alive connection touches the timer wheel about once per time-out.
struct HeadClock {
    timeout: Duration,
    deadline: Instant,
    /// The `started` count the deadline was set for: a new head is awaited from the moment
    /// the connection has no request in flight.
    awaiting: u64,
    timer: Pin<Box<Sleep>>,
}

impl HeadClock {
    fn new(timeout: Duration) -> HeadClock {
        let deadline = Instant::now() + timeout;
        HeadClock {
            timeout,
            deadline,
            awaiting: 0,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Ready with an error once the head awaited since the last answer is late.
    fn poll_expired(&mut self, exchanges: &Exchanges, cx: &mut Context<'_>) -> Poll<io::Error> {
        let started = exchanges.started.load(Ordering::SeqCst);
        if exchanges.finished.load(Ordering::SeqCst) != started {
            // A request is in flight: its body has a time-out of its own.
            return Poll::Pending;
        }
        if self.awaiting != started {
            self.awaiting = started;
            self.deadline = Instant::now() + self.timeout;
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.timer.deadline() >= self.deadline {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not received in time",
                ));
            }
            let deadline = self.deadline;
            self.timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

impl Answer {
    fn poll_send(&mut self, stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.bytes.len() {
            let n = ready!(Pin::new(&mut *stream).poll_write(cx, &self.bytes[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads and drops the client's input until it closes, or for [`LINGER`] at most.
    fn poll_linger(&mut self, stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<()> {
        let (deadline, dropped) = self
            .linger
            .get_or_insert_with(|| (Box::pin(tokio::time::sleep(LINGER)), 0));
        let mut scratch = [0u8; 4096];
        loop {
            if deadline.as_mut().poll(cx).is_ready() || *dropped > LINGER_BYTES {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => *dropped += buf.filled().len(),
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The contract's answer in place of hyper's refusal `head` (`HTTP/1.1 400 …` with an
/// empty body), or `None` when `head` is not one.
fn refusal(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let status: u16 = std::str::from_utf8(status).ok()?.parse().ok()?;
    let message = match status {
        400 => "request line or header fields are not valid HTTP/1.1".to_string(),
        414 => format!(
            "URI exceeds the maximum length of {} bytes",
            crate::app::MAX_URI_BYTES
        ),
        431 => format!(
            "request line and header fields exceed the maximum size of {MAX_HEAD_BYTES} bytes or {MAX_HEADER_FIELDS} fields"
        ),
        _ => return None,
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&crate::error::error_value(status, &message)).ok()?;
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n",
        reason_phrase(status),
        body.len()
    )
    .into_bytes();
    let date = head
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"date: "));
    if let Some(date) = date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date.trim_ascii_end());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    crate::metrics::record_request("other", "unmatched", status, Duration::ZERO);
    tracing::info!(request_id = %request_id, route = "unmatched", status, "request head refused");
    Some(out)
}

impl AsyncRead for Refusals {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(late) = this.head.poll_expired(&this.exchanges, cx) {
            return Poll::Ready(Err(late));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Refusals {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replaced(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.answer.is_some() || this.is_quiet() {
            let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if this.replaced(&joined) {
                return Poll::Ready(Ok(joined.len()));
            }
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(answer) = &mut this.answer {
            ready!(answer.poll_send(&mut this.stream, cx))?;
        }
        // hyper flushes only once it has handed over everything it queued.
        let started = this.exchanges.started.load(Ordering::SeqCst);
        if this.exchanges.finished.load(Ordering::SeqCst) == started {
            this.quiet_at = Some(started);
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(answer) = &mut this.answer else {
            return Pin::new(&mut this.stream).poll_shutdown(cx);
        };
        ready!(answer.poll_send(&mut this.stream, cx))?;
        if !answer.shut {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            answer.shut = true;
        }
        answer.poll_linger(&mut this.stream, cx).map(Ok)
    }
}
