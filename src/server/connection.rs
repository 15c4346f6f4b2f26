//! What a client's connection may cost while it sends nothing useful: its request head must
//! arrive within `header_read_timeout` of its first byte (or of the accept), and a connection
//! with no request in flight is closed after `idle_timeout`, as nginx's `client_header_timeout`
//! and `keepalive_timeout` do. A request in flight (a stream running for minutes, a slow
//! provider) is never cut by either.
//!
//! hyper's own `header_read_timeout` starts when hyper begins waiting for a head, which on a
//! kept-alive connection is also the idle time, and HTTP/2 has none: this watches both protocols
//! the same way, from the bytes read and the requests served.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a connection is, as its watchdog sees it.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head since then.
    Head(Instant),
    /// At least one request in flight.
    Busy(usize),
    /// Nothing in flight and no byte of a next request since then.
    Idle(Instant),
}

/// One connection's phase, shared by its socket, its requests and its watchdog.
pub struct Watch {
    phase: Mutex<Phase>,
    /// Whether the phase is `Idle`: every read checks it, and only the first read of an idle
    /// connection takes the lock.
    idle: AtomicBool,
    changed: Notify,
}

/// Why a watchdog closed its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    HeaderTimeout,
    Idle,
}

/// How many connections were closed for each reason, for the log line that reports them.
#[derive(Debug, Default)]
pub struct Counts {
    header_timeouts: AtomicU64,
    idle: AtomicU64,
}

impl Counts {
    /// Counts a close and logs it with the running total.
    pub fn record(&self, closed: Closed, limits: Limits) {
        match closed {
            Closed::HeaderTimeout => {
                let total = self.header_timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(
                    timeout_s = limits.header.as_secs_f64(),
                    closed_total = total,
                    "closed a connection whose request head did not arrive in time"
                );
            }
            Closed::Idle => {
                let total = self.idle.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(
                    timeout_s = limits.idle.as_secs_f64(),
                    closed_total = total,
                    "closed an idle connection"
                );
            }
        }
    }
}

/// The two timeouts a watchdog enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header: Duration,
    pub idle: Duration,
}

impl Watch {
    /// A connection just accepted: its first request head is awaited.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            idle: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The phase is a plain value, valid whatever a panicking holder was doing.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, phase: Phase) {
        let mut current = self.phase();
        *current = phase;
        self.idle
            .store(matches!(phase, Phase::Idle(_)), Ordering::Relaxed);
        drop(current);
        self.changed.notify_waiters();
    }

    /// Bytes arrived: on an idle connection, they begin the next request's head.
    fn read(&self) {
        if !self.idle.load(Ordering::Relaxed) {
            return;
        }
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            self.idle.store(false, Ordering::Relaxed);
            drop(phase);
            self.changed.notify_waiters();
        }
    }

    /// A request's head was read: it is in flight until its response is done or dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        let busy = match *self.phase() {
            Phase::Busy(n) => n + 1,
            Phase::Head(_) | Phase::Idle(_) => 1,
        };
        self.set(Phase::Busy(busy));
        InFlight(self.clone())
    }

    /// Resolves when the connection has overrun one of `limits`.
    pub async fn overrun(&self, limits: Limits) -> Closed {
        loop {
            // Made before the phase is read, so a change in between still wakes it.
            let changed = self.changed.notified();
            let deadline = match *self.phase() {
                Phase::Busy(_) => None,
                Phase::Head(since) => Some((since + limits.header, Closed::HeaderTimeout)),
                Phase::Idle(since) => Some((since + limits.idle, Closed::Idle)),
            };
            match deadline {
                None => changed.await,
                Some((at, why)) => {
                    tokio::select! {
                        biased;
                        () = changed => {}
                        () = tokio::time::sleep_until(at) => return why,
                    }
                }
            }
        }
    }
}

/// A request in flight on a watched connection; its end (the response sent, or abandoned)
/// makes the connection idle when it was the last.
pub struct InFlight(Arc<Watch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let next = match *self.0.phase() {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.0.set(next);
    }
}

/// A response whose body holds its request's `InFlight` until hyper is done with it.
pub fn hold(response: Response, in_flight: InFlight) -> Response<Held> {
    response.map(|body| Held {
        body,
        _in_flight: in_flight,
    })
}

pub struct Held {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Held {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, telling its connection's watch when bytes arrive.
pub struct Watched {
    tcp: TcpStream,
    watch: Arc<Watch>,
}

impl Watched {
    pub fn new(tcp: TcpStream, watch: Arc<Watch>) -> Self {
        Self { tcp, watch }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
