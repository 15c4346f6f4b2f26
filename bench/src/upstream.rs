//! The fake OpenAI upstream: as fast as a server can answer, so the proxy in front of it is what
//! the bench measures. The `model` of a request picks the answer: `json` (or any non-stream
//! request) gets one `chat.completion`; `c{N}d{D}` streams N content chunks, D ms apart, and a
//! suffix breaks the stream on purpose (`wire::Fault`: reset, stall, invalid event, trickle) or
//! writes every event as its own frame (`f`). It speaks HTTP/1.1, and HTTP/2 to a client that
//! opens with its preface (no proxy here does: nginx's `proxy_pass` speaks HTTP/1.x, switchyard
//! negotiates HTTP/2 by ALPN, over TLS only; by hand, `curl --http2-prior-knowledge`).
//! `GET /stats` says how many streams are open, were started, and were dropped before their end
//! (by the peer leaving, or a stall's connection being closed); `GET /close-idle` closes every
//! connection open at that moment once it is idle (a pulse: later connections stay open).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use crate::wire::{self, Fault, Profile};

type Chunks = futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>;
type Body = Either<Full<Bytes>, StreamBody<Chunks>>;

/// Serves forever on `listener`, one task per connection. With `keep_alive`, a connection idle
/// that long between requests is closed, as real servers do (none by default: a pooled
/// connection the upstream closes just as the proxy reuses it fails that request).
pub async fn serve(listener: TcpListener, keep_alive: Option<Duration>) {
    // Each `GET /close-idle` is a new generation; connections of older ones close when idle.
    let (close_idle, generation) = tokio::sync::watch::channel(0u64);
    let close_idle = Arc::new(close_idle);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // Closing a connection resets it (RST, not FIN): that is how `r{K}` breaks a stream.
        // Otherwise the upstream only closes first after the peer left or when told to. (A
        // second handle on each socket, to reset only those, would double the upstream's fds:
        // 10,000 streams would run it out of them.)
        let _ = tcp.set_zero_linger();
        let close_idle = close_idle.clone();
        let mut generation = generation.clone();
        tokio::spawn(async move {
            let born = *generation.borrow_and_update();
            let service = service_fn(move |request| answer(request, close_idle.clone()));
            if opens_http2(&tcp).await {
                let connection = http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service);
                return until_closed(connection, |c| c.graceful_shutdown(), generation, born).await;
            }
            let mut builder = http1::Builder::new();
            if let Some(idle) = keep_alive {
                // hyper's header-read timeout runs while a connection waits for its next
                // request: an idle timeout.
                builder.timer(TokioTimer::new()).header_read_timeout(idle);
            }
            let connection = builder.serve_connection(TokioIo::new(tcp), service);
            until_closed(connection, |c| c.graceful_shutdown(), generation, born).await;
        });
    }
}

/// Whether the client opened with HTTP/2's preface: cleartext HTTP/2 with prior knowledge (as
/// `curl --http2-prior-knowledge` speaks it). No HTTP/1.1 method starts with `PRI`.
async fn opens_http2(tcp: &TcpStream) -> bool {
    let mut head = [0u8; 3];
    matches!(tcp.peek(&mut head).await, Ok(3)) && &head == b"PRI"
}

/// Serves `connection` to its end, or until a `GET /close-idle` after it was born.
async fn until_closed<C: Future>(
    connection: C,
    shutdown: impl FnOnce(Pin<&mut C>),
    mut generation: tokio::sync::watch::Receiver<u64>,
    born: u64,
) {
    let mut connection = std::pin::pin!(connection);
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = generation.changed() => {
                if changed.is_err() {
                    let _ = connection.await;
                    return;
                }
                if *generation.borrow_and_update() > born {
                    // Ends the connection once its answer in flight (if any) is done.
                    shutdown(connection.as_mut());
                    let _ = connection.await;
                    return;
                }
            }
        }
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Streams now open, started, and dropped before their end.
static OPEN: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Counts a stream open while it lives, and dropped if it goes before it ended.
struct Tally {
    ended: bool,
}

impl Tally {
    fn new() -> Self {
        OPEN.fetch_add(1, Ordering::Relaxed);
        STARTED.fetch_add(1, Ordering::Relaxed);
        Self { ended: false }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
        if !self.ended {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The upstream's own counts, as `GET /stats` answers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub open: u64,
    pub started: u64,
    pub dropped: u64,
}

impl Stats {
    pub fn parse(text: &str) -> Option<Self> {
        let mut stats = Self::default();
        let mut words = text.split_whitespace();
        while let (Some(name), Some(value)) = (words.next(), words.next()) {
            let value = value.parse().ok()?;
            match name {
                "open" => stats.open = value,
                "started" => stats.started = value,
                "dropped" => stats.dropped = value,
                _ => return None,
            }
        }
        Some(stats)
    }

    fn now() -> Self {
        Self {
            open: OPEN.load(Ordering::Relaxed),
            started: STARTED.load(Ordering::Relaxed),
            dropped: DROPPED.load(Ordering::Relaxed),
        }
    }

    fn text(&self) -> String {
        format!(
            "open {} started {} dropped {}\n",
            self.open, self.started, self.dropped
        )
    }
}

async fn answer(
    request: Request<Incoming>,
    close_idle: Arc<tokio::sync::watch::Sender<u64>>,
) -> Result<Response<Body>, std::convert::Infallible> {
    match request.uri().path() {
        "/stats" => {
            let text = Stats::now().text();
            return Ok(Response::new(Either::Left(Full::new(Bytes::from(text)))));
        }
        "/close-idle" => {
            close_idle.send_modify(|generation| *generation += 1);
            return Ok(status(StatusCode::NO_CONTENT));
        }
        _ => {}
    }
    let Ok(body) = request.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let streamed = wire::find(&body, b"\"stream\":true").is_some();
    let profile = wire::model_of(&body).and_then(Profile::parse);
    let response = match (streamed, profile) {
        (false, _) => Response::builder()
            .header("content-type", "application/json")
            .body(Either::Left(Full::new(Bytes::from_static(
                wire::COMPLETION.as_bytes(),
            )))),
        (true, profile) => {
            let profile = profile.unwrap_or(Profile::new(8, 0));
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(stream_body(profile))
        }
    };
    Ok(response.unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR)))
}

/// What one step of a stream does after its wait.
enum Step {
    Send(String),
    /// Sends what it holds, then resets the connection.
    Reset(String),
    /// Sends what it holds, then nothing ever again.
    Stall(String),
}

/// Without a delay or a fault the whole stream is one write, the cheapest thing the upstream can
/// do. Otherwise step `s` sends token `s` (step 0 the role chunk and token 0 at once, the last
/// step the finish chunk and `[DONE]` too), each step a delay after the last; a fault after K
/// chunks takes the place of step K.
fn stream_body(profile: Profile) -> Body {
    if profile.fault == Fault::Framed {
        return framed_body(profile);
    }
    if profile.delay.is_zero() && profile.fault == Fault::None {
        let mut all = Vec::new();
        all.extend_from_slice(wire::role_event().as_bytes());
        for i in 0..profile.chunks {
            all.extend_from_slice(wire::token_event(i).as_bytes());
        }
        all.extend_from_slice(wire::finish_events().as_bytes());
        return Either::Left(Full::new(Bytes::from(all)));
    }
    let n = profile.chunks.max(1);
    let cut = profile.cut_after();
    // The steps: one per token, and one more when the fault comes where the finish would.
    let steps = if cut == Some(n) { n + 1 } else { n };
    let step = move |s: u32| -> Step {
        let mut text = String::new();
        if s == 0 {
            text.push_str(&wire::role_event());
        }
        if cut == Some(s) {
            match profile.fault {
                Fault::Reset(_) => return Step::Reset(text),
                Fault::Stall(_) => return Step::Stall(text),
                _ => text.push_str(wire::INVALID_EVENT),
            }
        }
        if s < n {
            text.push_str(&wire::token_event(s));
        }
        // The finish goes with the last token, or after an invalid event that took its place.
        if (s + 1 == n && cut != Some(n)) || s == n {
            text.push_str(wire::finish_events());
        }
        Step::Send(text)
    };
    // State: the next step, and whether the stream is over (reset) or stalled.
    let texts =
        futures_util::stream::unfold((0u32, false, false), move |(s, over, stalled)| async move {
            if stalled {
                futures_util::future::pending::<()>().await;
            }
            if over || s >= steps {
                return None;
            }
            if s > 0 && !profile.delay.is_zero() {
                tokio::time::sleep(profile.delay).await;
            }
            let items = match step(s) {
                Step::Send(text) => vec![Ok(text)],
                // What it holds goes first, then the error on which hyper drops the connection.
                Step::Reset(text) if text.is_empty() => vec![Err(reset())],
                Step::Reset(text) => vec![Ok(text), Err(reset())],
                Step::Stall(text) if text.is_empty() => {
                    futures_util::future::pending::<()>().await;
                    return None;
                }
                Step::Stall(text) => return Some((vec![Ok(text)], (s, false, true))),
            };
            let over = items.iter().any(Result::is_err);
            Some((items, (s + 1, over, false)))
        })
        .flat_map(futures_util::stream::iter);
    let frames: Chunks = if profile.fault == Fault::Trickle {
        // No errors here (a trickle has no fault but its pace): each piece a frame, a
        // millisecond after the last, so hyper writes each on its own.
        Box::pin(
            texts
                .flat_map(|text: Result<String, std::io::Error>| {
                    futures_util::stream::iter(trickled(&text.unwrap_or_default()))
                })
                .then(|piece| async move {
                    tokio::time::sleep(TRICKLE_PACE).await;
                    Ok(Frame::data(piece))
                }),
        )
    } else {
        Box::pin(texts.map(|text| text.map(|text| Frame::data(Bytes::from(text)))))
    };
    Either::Right(StreamBody::new(Box::pin(Tallied {
        frames,
        tally: Tally::new(),
    })))
}

/// `f`: every event its own frame (the role chunk, each token, the finish chunk, `[DONE]`), as a
/// provider flushes each event when its token is produced. Tokens after the first wait the delay;
/// every other event yields to the runtime first, because hyper gathers all the frames a body has
/// ready into one write (that is how the unframed stream goes out as one): a frame that is not
/// ready yet makes it write what it holds. Each JSON event is stamped as it is handed to hyper,
/// which writes it in that same poll.
fn framed_body(profile: Profile) -> Body {
    let n = profile.chunks;
    // Event e: 0 the role chunk, 1..=n token e - 1, n + 1 the finish chunk, n + 2 `[DONE]`.
    let frames = futures_util::stream::unfold(0u32, move |e| async move {
        if e > n + 2 {
            return None;
        }
        if (2..=n).contains(&e) && !profile.delay.is_zero() {
            tokio::time::sleep(profile.delay).await;
        } else if e > 0 {
            tokio::task::yield_now().await;
        }
        let data = match e {
            0 => Bytes::from(wire::stamped(&wire::role_event(), wire::now_nanos())),
            e if e <= n => Bytes::from(wire::stamped(&wire::token_event(e - 1), wire::now_nanos())),
            e if e == n + 1 => Bytes::from(wire::stamped(wire::finish_event(), wire::now_nanos())),
            _ => Bytes::from_static(wire::DONE_EVENT.as_bytes()),
        };
        Some((Ok(Frame::data(data)), e + 1))
    });
    Either::Right(StreamBody::new(Box::pin(Tallied {
        frames: Box::pin(frames),
        tally: Tally::new(),
    })))
}

/// A stream's frames, counted in the stats while they live.
struct Tallied {
    frames: Chunks,
    tally: Tally,
}

impl futures_util::Stream for Tallied {
    type Item = Result<Frame<Bytes>, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let item = std::task::ready!(self.frames.poll_next_unpin(cx));
        // The end, or the reset that ends it on purpose: not dropped by the peer.
        if !matches!(item, Some(Ok(_))) {
            self.tally.ended = true;
        }
        std::task::Poll::Ready(item)
    }
}

/// The pieces a trickle writes `text` in: each event's first 8 bytes and last 4 one at a time
/// (so that `data:` and the blank line that ends an event are split across reads), its middle in
/// one piece. Not every byte on its own: a stream of one-byte TCP segments fills the reader's
/// receive queue with per-segment overhead, and under a crowd of 10,000 the kernel pruned those
/// queues and stalled such streams for over a minute, a test of TCP rather than of the gateway.
fn trickled(text: &str) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    for event in text.split_inclusive("\n\n") {
        let bytes = event.as_bytes();
        let (head, tail) = (
            8.min(bytes.len()),
            bytes.len().saturating_sub(4).max(8.min(bytes.len())),
        );
        pieces.extend(bytes[..head].iter().map(|b| Bytes::copy_from_slice(&[*b])));
        if tail > head {
            pieces.push(Bytes::copy_from_slice(&bytes[head..tail]));
        }
        pieces.extend(bytes[tail..].iter().map(|b| Bytes::copy_from_slice(&[*b])));
    }
    pieces
}

/// Between two pieces of a trickle. (Pending once and woken at once instead, a piece waited for
/// a turn through the whole run queue: under 10,000 streams an event took many seconds.)
const TRICKLE_PACE: Duration = Duration::from_millis(1);

fn reset() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "r{K}: reset on purpose",
    )
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::StreamCheck;

    /// The body's bytes until it ends, fails, or goes quiet for a second.
    async fn read(profile: Profile) -> (Vec<u8>, Option<String>) {
        let Either::Right(mut body) = stream_body(profile) else {
            return (Vec::new(), Some("not a stream".into()));
        };
        let mut all = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(1), body.frame()).await {
                Err(_) => return (all, Some("quiet".into())),
                Ok(None) => return (all, None),
                Ok(Some(Err(e))) => return (all, Some(e.to_string())),
                Ok(Some(Ok(frame))) => {
                    all.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d))
                }
            }
        }
    }

    fn check(bytes: &[u8]) -> StreamCheck {
        let mut check = StreamCheck::default();
        check.feed(bytes);
        check
    }

    #[tokio::test]
    async fn faults_come_after_k_chunks() {
        let whole = read(Profile::new(5, 10)).await;
        assert_eq!(whole.1, None);
        assert_eq!(check(&whole.0).verdict(5), Ok(()));

        let trickled = read(Profile::new(5, 10).with(Fault::Trickle)).await;
        assert_eq!(trickled, whole);

        let (bytes, end) = read(Profile::new(5, 10).with(Fault::Reset(2))).await;
        assert!(end.is_some_and(|e| e.contains("reset")));
        assert_eq!(check(&bytes).tokens(), 2);

        let (bytes, end) = read(Profile::new(5, 10).with(Fault::Stall(3))).await;
        assert_eq!(end.as_deref(), Some("quiet"));
        assert_eq!(check(&bytes).tokens(), 3);

        let (bytes, end) = read(Profile::new(5, 10).with(Fault::Reset(0))).await;
        assert!(end.is_some());
        assert_eq!(bytes, wire::role_event().into_bytes());

        let (bytes, end) = read(Profile::new(5, 10).with(Fault::Invalid(5))).await;
        assert_eq!(end, None);
        let text = String::from_utf8_lossy(&bytes);
        let tail = format!("{}{}", wire::INVALID_EVENT, wire::finish_events());
        assert!(text.ends_with(&tail), "{text}");
    }

    /// One end of an in-memory connection that counts the writes made on it: on a socket, each
    /// is a `write` or `writev` of its own.
    struct Counted {
        io: tokio::io::DuplexStream,
        writes: Arc<AtomicU64>,
    }

    impl tokio::io::AsyncRead for Counted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            Pin::new(&mut self.io).poll_read(cx, buf)
        }
    }

    impl tokio::io::AsyncWrite for Counted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let written = Pin::new(&mut self.io).poll_write(cx, buf);
            if matches!(written, std::task::Poll::Ready(Ok(_))) {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            written
        }

        fn poll_flush(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            Pin::new(&mut self.io).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    /// Serves one connection over HTTP/1.1 (or HTTP/2) and asks it for a stream of `model`: the
    /// body's frames as the client read them, and how many writes the upstream made.
    async fn served(model: &str, http2: bool) -> (Vec<Bytes>, u64) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let writes = Arc::new(AtomicU64::new(0));
        let server = Counted {
            io: server,
            writes: writes.clone(),
        };
        let close_idle = Arc::new(tokio::sync::watch::channel(0u64).0);
        let service = service_fn(move |request| answer(request, close_idle.clone()));
        let request = Request::post("/v1/chat/completions")
            .body(Full::new(Bytes::from(wire::request(model, true))))
            .unwrap_or_default();
        let response = if http2 {
            let serving = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(server), service);
            tokio::spawn(serving);
            let handshake =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(client));
            let Ok((mut sender, connection)) = handshake.await else {
                return (Vec::new(), 0);
            };
            tokio::spawn(connection);
            sender.send_request(request).await
        } else {
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(server), service));
            let Ok((mut sender, connection)) =
                hyper::client::conn::http1::handshake(TokioIo::new(client)).await
            else {
                return (Vec::new(), 0);
            };
            tokio::spawn(connection);
            sender.send_request(request).await
        };
        let mut frames = Vec::new();
        if let Ok(response) = response {
            let mut body = response.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    frames.push(data);
                }
            }
        }
        (frames, writes.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn a_framed_stream_writes_each_event_on_its_own() {
        // 20 tokens and the role chunk, the finish chunk, [DONE]: 23 events.
        let (frames, writes) = served("c20d0f", false).await;
        let mut check = StreamCheck::stamped();
        check.feed(&frames.concat());
        assert_eq!(check.verdict_with_checksum(20), Ok(()));
        assert_eq!(check.stamps.as_ref().map(Vec::len), Some(22));
        // The response head goes with the role chunk, the end of the body with [DONE].
        assert_eq!(writes, 23, "{writes} writes for 23 events");

        let (frames, writes) = served("c20d0", false).await;
        let mut check = StreamCheck::default();
        check.feed(&frames.concat());
        assert_eq!(check.verdict(20), Ok(()));
        assert_eq!(writes, 1, "the unframed stream is one write");
    }

    #[tokio::test]
    async fn over_http2_a_framed_stream_is_a_data_frame_per_event() {
        let (frames, _) = served("c20d0f", true).await;
        let events: Vec<&Bytes> = frames.iter().filter(|f| !f.is_empty()).collect();
        assert_eq!(events.len(), 23);
        for event in &events {
            assert!(
                event.ends_with(b"\n\n") && wire::find(event, b"\n\n") == Some(event.len() - 2)
            );
        }
        let mut check = StreamCheck::stamped();
        check.feed(&frames.concat());
        assert_eq!(check.verdict_with_checksum(20), Ok(()));
    }

    #[tokio::test]
    async fn a_paced_framed_stream_waits_before_each_token_after_the_first() {
        let started = tokio::time::Instant::now();
        let (frames, writes) = served("c4d20f", false).await;
        let took = started.elapsed();
        assert_eq!(writes, 7);
        assert!(took >= Duration::from_millis(60) && took < Duration::from_millis(500));
        let mut check = StreamCheck::stamped();
        check.feed(&frames.concat());
        assert_eq!(check.verdict(4), Ok(()));
        let stamps = check.stamps.unwrap_or_default();
        // Role and token 0 together, then 20 ms a token; the finish right after the last.
        let gaps: Vec<u64> = stamps
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]) / 1_000_000)
            .collect();
        assert!(gaps[0] < 5 && gaps[4] < 5, "{gaps:?}");
        assert!(
            gaps[1..4].iter().all(|&ms| (19..100).contains(&ms)),
            "{gaps:?}"
        );
    }

    #[test]
    fn a_trickle_splits_every_event_at_its_ends() {
        let text = format!("{}{}", wire::role_event(), wire::token_event(0));
        let pieces = trickled(&text);
        assert_eq!(pieces.concat(), text.as_bytes());
        let starts: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).take(9).collect();
        assert_eq!(
            &starts[..8],
            &[b"d", b"a", b"t", b"a", b":", b" ", b"{", b"\""]
        );
        assert_eq!(pieces.iter().filter(|p| p.len() > 1).count(), 2);
        assert_eq!(trickled("ab\n\n").concat(), b"ab\n\n");
    }

    #[test]
    fn stats_read_back() {
        let stats = Stats {
            open: 1,
            started: 20,
            dropped: 3,
        };
        assert_eq!(Stats::parse(&stats.text()), Some(stats));
    }
}
