//! The load driver: closed-loop saturation, a fixed request rate, and many concurrent streams.
//! Plain hyper connections, one request at a time on each (HTTP/1.1) or many streams on a few
//! (HTTP/2), so the driver costs little beside the upstream on their shared core.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::check::{StreamCheck, completion_intact};
use crate::wire::{self, Profile, Surface};

/// Where requests go and how they name models: the upstream and nginx take `c8d0`, the gateway
/// `bench/c8d0`.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub model_prefix: &'static str,
    pub key: Option<&'static str>,
    /// The API spoken to it: chat, but for the gateway's translating surfaces.
    pub surface: Surface,
}

#[derive(Clone, Copy, Debug)]
pub enum Shot {
    Json,
    Stream(Profile),
}

/// One request, ready to send again and again.
struct Prepared {
    host: String,
    auth: Option<String>,
    surface: Surface,
    body: Bytes,
    shot: Shot,
}

impl Prepared {
    fn new(target: &Target, shot: Shot) -> Arc<Self> {
        let (model, stream) = match shot {
            Shot::Json => (wire::JSON_MODEL.to_owned(), false),
            Shot::Stream(profile) => (profile.model(), true),
        };
        let model = format!("{}{model}", target.model_prefix);
        Arc::new(Self {
            host: target.addr.to_string(),
            auth: target.key.map(|k| format!("Bearer {k}")),
            surface: target.surface,
            body: Bytes::from(target.surface.request(&model, stream)),
            shot,
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut builder = Request::post(self.surface.path())
            .header("host", &self.host)
            .header("content-type", "application/json");
        if let Some(auth) = &self.auth {
            builder = builder.header("authorization", auth);
        }
        builder
            .body(Full::new(self.body.clone()))
            .unwrap_or_default()
    }
}

/// What one request came to.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub ok: bool,
    /// Send to the last byte.
    pub latency: Duration,
    /// Send to the first token (streams).
    pub first_token: Option<Duration>,
    pub events: u32,
    /// The gateway's `x-switchyard-overhead-ms`.
    pub overhead_ms: Option<f64>,
    pub error: Option<String>,
    /// With a `Window`: the events that arrived within it.
    pub window_events: u64,
    /// With a `Window` that measures lags: for each stamped event that arrived within it, the
    /// time from the upstream's write to this read, in milliseconds.
    pub lags_ms: Vec<f64>,
    /// The same, for the events after a stream's `OPENING` ones.
    pub later_lags_ms: Vec<f64>,
}

/// A stream's role chunk and first token. A gateway holds the first back until the second
/// comes (its commit point: until real output, a failing upstream can still be replaced),
/// then writes both behind the response head; every later event it relays as it comes.
pub const OPENING: usize = 2;

/// Counting by arrival, for streams that outlast the window or run many at once (counted by
/// the stream, a thousand streams in step would come in lumps): the events read between `from`
/// and `until`, and, with `lags`, each stamped event's time from its write to its read.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub from: Instant,
    pub until: Instant,
    pub lags: bool,
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

async fn tcp(addr: SocketAddr) -> std::io::Result<TokioIo<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(TokioIo::new(tcp))
}

async fn connect_h1(addr: SocketAddr) -> Result<Sender, String> {
    let io = tcp(addr).await.map_err(|e| e.to_string())?;
    let (sender, connection) = http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(Sender::H1(sender))
}

/// The connection, opened (again) when there is none: the last answer broke it, or this is the
/// first.
async fn connection(sender: &mut Option<Sender>, addr: SocketAddr) -> Result<&mut Sender, String> {
    if sender.is_none() {
        *sender = Some(connect_h1(addr).await?);
    }
    sender.as_mut().ok_or_else(|| "no connection".to_owned())
}

async fn connect_h2(addr: SocketAddr) -> Result<http2::SendRequest<Full<Bytes>>, String> {
    let io = tcp(addr).await.map_err(|e| e.to_string())?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads the whole answer, checking it. `opened` is told when the
/// response head arrived.
async fn shoot(
    sender: &mut Sender,
    prepared: &Prepared,
    opened: impl FnOnce(),
    window: Option<Window>,
) -> Outcome {
    let start = Instant::now();
    let mut outcome = Outcome::default();
    let response = match sender {
        Sender::H1(s) => match s.ready().await {
            Ok(()) => s.send_request(prepared.request()).await,
            Err(e) => Err(e),
        },
        Sender::H2(s) => match s.ready().await {
            Ok(()) => s.send_request(prepared.request()).await,
            Err(e) => Err(e),
        },
    };
    opened();
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            outcome.error = Some(format!("request failed: {e}"));
            return outcome;
        }
    };
    outcome.overhead_ms = response
        .headers()
        .get("x-switchyard-overhead-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let status = response.status();
    let mut body = response.into_body();
    let mut whole = Vec::new();
    let mut check = match window {
        Some(window) if window.lags => StreamCheck::stamped(),
        _ => StreamCheck::of(prepared.surface),
    };
    loop {
        match body.frame().await {
            None => break,
            Some(Err(e)) => {
                outcome.error = Some(format!("body failed: {e}"));
                return outcome;
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                match prepared.shot {
                    Shot::Json => whole.extend_from_slice(&data),
                    Shot::Stream(_) => {
                        // When the piece was read, taken before the check parses it: on the
                        // clock the stamps came from, and whether within the window.
                        let read = window.map(|window| {
                            let now = Instant::now();
                            (wire::now_nanos(), now >= window.from && now < window.until)
                        });
                        let before = check.events;
                        if check.feed(&data) {
                            outcome.first_token = Some(start.elapsed());
                        }
                        if let Some((read, inside)) = read {
                            if inside {
                                outcome.window_events += u64::from(check.events - before);
                            }
                            let stamped = check.stamped as usize;
                            if let Some(stamps) = check.stamps.as_mut() {
                                if inside {
                                    let first = stamped - stamps.len();
                                    for (at, &w) in (first..).zip(stamps.iter()) {
                                        let lag = read.saturating_sub(w) as f64 / 1e6;
                                        outcome.lags_ms.push(lag);
                                        if at >= OPENING {
                                            outcome.later_lags_ms.push(lag);
                                        }
                                    }
                                }
                                stamps.clear();
                            }
                        }
                    }
                }
            }
        }
    }
    outcome.latency = start.elapsed();
    outcome.events = check.events;
    let verdict = match prepared.shot {
        _ if !status.is_success() => Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&whole)
        )),
        Shot::Json if completion_intact(&whole) => Ok(()),
        Shot::Json => Err("the answer is not whole".into()),
        Shot::Stream(profile) => check.verdict(profile.chunks),
    };
    match verdict {
        Ok(()) => outcome.ok = true,
        Err(why) => outcome.error = Some(why),
    }
    outcome
}

/// Totals of a closed-loop run, counted over the measured window only.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub requests: u64,
    pub events: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.requests += other.requests;
        self.events += other.events;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// `conns` connections each sending the next request as soon as the last answer ended; what
/// finishes between `from` and `until` is counted.
pub async fn closed(
    target: &Target,
    shot: Shot,
    conns: usize,
    from: Instant,
    until: Instant,
) -> Totals {
    let prepared = Prepared::new(target, shot);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let prepared = prepared.clone();
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let mut totals = Totals::default();
            let mut sender = None;
            while Instant::now() < until {
                let s = match connection(&mut sender, addr).await {
                    Ok(s) => s,
                    Err(e) => {
                        totals.errors += 1;
                        totals.first_error.get_or_insert(e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let outcome = shoot(s, &prepared, || {}, None).await;
                let now = Instant::now();
                if !outcome.ok {
                    sender = None;
                }
                if now < from || now >= until {
                    continue;
                }
                if outcome.ok {
                    totals.requests += 1;
                    totals.events += u64::from(outcome.events);
                } else {
                    totals.errors += 1;
                    totals.first_error = totals.first_error.or(outcome.error);
                }
            }
            totals
        }));
    }
    let mut totals = Totals::default();
    for task in tasks {
        if let Ok(t) = task.await {
            totals.add(t);
        }
    }
    totals
}

/// What a relay run came to: events counted by arrival, every stream checked.
#[derive(Debug, Default, Clone)]
pub struct Relay {
    /// Streams intact, wherever they ended.
    pub streams: u64,
    /// Events read within the window.
    pub events: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Write-to-read times of the stamped events read within the window, in milliseconds.
    pub lags_ms: Vec<f64>,
    /// The same, for the events after each stream's `OPENING` ones.
    pub later_lags_ms: Vec<f64>,
}

impl Relay {
    fn fail(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }
}

/// `conns` connections, each sending the next stream as soon as the last ended until
/// `window.until`, connection j starting `j * stagger` after the first (so that streams paced by
/// the same delay do not all tick at once); the first requests open at most `opening`
/// connections at a time (a thousand connects at once overflow a listen backlog, and a dropped
/// SYN waits a second). Every stream is checked: those of the warm-up and those that end after
/// the window too.
pub async fn relay(
    target: &Target,
    profile: Profile,
    conns: usize,
    stagger: Duration,
    opening: usize,
    window: Window,
) -> Relay {
    let prepared = Prepared::new(target, Shot::Stream(profile));
    let gate = Arc::new(tokio::sync::Semaphore::new(opening));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for j in 0..conns {
        let prepared = prepared.clone();
        let gate = gate.clone();
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + stagger * j as u32).await;
            let mut relay = Relay::default();
            let mut sender = None;
            while Instant::now() < window.until {
                let mut permit = None;
                if sender.is_none() {
                    permit = gate.clone().acquire_owned().await.ok();
                    match connect_h1(addr).await {
                        Ok(s) => sender = Some(s),
                        Err(e) => {
                            relay.fail(e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(s) = sender.as_mut() else {
                    continue;
                };
                let outcome = shoot(s, &prepared, || drop(permit.take()), Some(window)).await;
                relay.events += outcome.window_events;
                relay.lags_ms.extend(outcome.lags_ms);
                relay.later_lags_ms.extend(outcome.later_lags_ms);
                if outcome.ok {
                    relay.streams += 1;
                } else {
                    relay.fail(outcome.error.unwrap_or_default());
                    sender = None;
                }
            }
            relay
        }));
    }
    let mut all = Relay::default();
    for task in tasks {
        match task.await {
            Ok(relay) => {
                all.streams += relay.streams;
                all.events += relay.events;
                all.errors += relay.errors;
                all.lags_ms.extend(relay.lags_ms);
                all.later_lags_ms.extend(relay.later_lags_ms);
                if all.first_error.is_none() {
                    all.first_error = relay.first_error;
                }
            }
            Err(e) => all.fail(e.to_string()),
        }
    }
    all
}

/// Requests at a fixed rate spread over `conns` connections, each sent on its schedule (never
/// more than one at a time per connection); outcomes of those scheduled after `warmup`.
pub async fn paced(
    target: &Target,
    shot: Shot,
    rate: f64,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> Vec<Outcome> {
    let prepared = Prepared::new(target, shot);
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + warmup + duration;
    let mut tasks = Vec::new();
    for j in 0..conns {
        let prepared = prepared.clone();
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut sender = None;
            for k in 0u64.. {
                let offset = (k * conns as u64 + j as u64) as f64 / rate;
                let at = start + Duration::from_secs_f64(offset);
                if at >= end {
                    break;
                }
                tokio::time::sleep_until(at).await;
                let s = match connection(&mut sender, addr).await {
                    Ok(s) => s,
                    Err(e) => {
                        outcomes.push(Outcome {
                            error: Some(e),
                            ..Outcome::default()
                        });
                        continue;
                    }
                };
                let outcome = shoot(s, &prepared, || {}, None).await;
                if !outcome.ok {
                    sender = None;
                }
                if at >= start + warmup {
                    outcomes.push(outcome);
                }
            }
            outcomes
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        if let Ok(outcomes) = task.await {
            all.extend(outcomes);
        }
    }
    all
}

/// How many concurrent streams held up.
#[derive(Debug, Default, Clone)]
pub struct Crowd {
    pub intact: u32,
    pub broken: u32,
    /// The most streams open at one moment.
    pub peak_open: u32,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// `count` streams at once, opened at most `opening` at a time. Over HTTP/1.1 each has its own
/// connection; over HTTP/2 they share connections, `per_connection` streams on each.
pub async fn crowd(
    target: &Target,
    profile: Profile,
    count: u32,
    opening: usize,
    http2_streams_per_connection: Option<u32>,
) -> Crowd {
    let prepared = Prepared::new(target, Shot::Stream(profile));
    let gate = Arc::new(tokio::sync::Semaphore::new(opening));
    let open = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let mut h2_senders = Vec::new();
    if let Some(per) = http2_streams_per_connection {
        for _ in 0..count.div_ceil(per.max(1)) {
            h2_senders.push(connect_h2(target.addr).await);
        }
    }
    let mut tasks = Vec::new();
    for i in 0..count {
        let prepared = prepared.clone();
        let (gate, open, peak) = (gate.clone(), open.clone(), peak.clone());
        let addr = target.addr;
        let h2 =
            http2_streams_per_connection.map(|per| h2_senders[(i / per.max(1)) as usize].clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let mut sender = match h2 {
                Some(Ok(sender)) => Sender::H2(sender),
                Some(Err(e)) => return Err(e),
                None => connect_h1(addr).await?,
            };
            let mut permit = permit;
            let outcome = shoot(
                &mut sender,
                &prepared,
                || {
                    permit.take();
                    let now = open.fetch_add(1, Ordering::Relaxed) + 1;
                    peak.fetch_max(now, Ordering::Relaxed);
                },
                None,
            )
            .await;
            open.fetch_sub(1, Ordering::Relaxed);
            match outcome.ok {
                true => Ok(()),
                false => Err(outcome.error.unwrap_or_default()),
            }
        }));
    }
    let mut crowd = Crowd::default();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => crowd.intact += 1,
            Ok(Err(why)) => {
                crowd.broken += 1;
                crowd.first_error.get_or_insert(why);
            }
            Err(e) => {
                crowd.broken += 1;
                crowd.first_error.get_or_insert(e.to_string());
            }
        }
    }
    crowd.peak_open = peak.load(Ordering::Relaxed);
    crowd.elapsed = start.elapsed();
    crowd
}
