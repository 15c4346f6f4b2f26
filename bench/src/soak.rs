//! `switchyard-bench soak`: the gateway holds a crowd of slow streams for minutes, each one
//! replaced as it ends, with client disconnects and upstream faults mixed in; every finished
//! stream is checked against what its kind promises, and the gateway's memory and file
//! descriptors must come back to their resting level once the crowd is gone (bench/README.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::check::StreamCheck;
use crate::procs::{self, Proc};
use crate::upstream::Stats;
use crate::wire::{self, Fault, Profile};

pub struct Options {
    pub gateway: PathBuf,
    /// Streams held open at once.
    pub streams: u32,
    /// How long new streams keep being started.
    pub duration: Duration,
    /// Between two tokens of a stream.
    pub delay: Duration,
    pub quick: bool,
    /// The kinds of stream in the mix (all of `MIX` unless narrowed, to chase a failure).
    pub kinds: Vec<Kind>,
}

/// The kinds of stream in the mix, and how many in a hundred are of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Every token, the finish chunk and `[DONE]`; the content's checksum matches.
    Normal,
    /// The same, from an upstream that trickles each event's ends a byte per write.
    Trickle,
    /// The client leaves after a random number of tokens.
    Disconnect,
    /// The upstream resets the connection after K tokens: `upstream_error`.
    Reset,
    /// The upstream goes silent after K tokens: the idle timeout ends it, `upstream_timeout`.
    Stall,
    /// The upstream sends an event that is not JSON after K tokens: `upstream_error`.
    Invalid,
}

pub const MIX: [(Kind, u32); 6] = [
    (Kind::Normal, 70),
    (Kind::Trickle, 2),
    (Kind::Disconnect, 10),
    (Kind::Reset, 6),
    (Kind::Stall, 6),
    (Kind::Invalid, 6),
];

impl Kind {
    /// The kind a word names (`--only normal,stall`).
    pub fn parse(word: &str) -> Option<Kind> {
        MIX.iter()
            .map(|(kind, _)| *kind)
            .find(|kind| kind.word() == word)
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Normal => "normal",
            Kind::Trickle => "trickle",
            Kind::Disconnect => "disconnect",
            Kind::Reset => "reset",
            Kind::Stall => "stall",
            Kind::Invalid => "invalid",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Normal => "normal",
            Kind::Trickle => "trickle",
            Kind::Disconnect => "client disconnect",
            Kind::Reset => "upstream reset",
            Kind::Stall => "upstream stall",
            Kind::Invalid => "invalid event",
        }
    }

    /// How a stream of this kind must end.
    pub fn promise(self) -> &'static str {
        match self {
            Kind::Normal | Kind::Trickle => "all tokens, finish, `[DONE]`, checksum matches",
            Kind::Disconnect => "tokens in order until the client leaves",
            Kind::Reset | Kind::Invalid => {
                "the K tokens, one `upstream_error` error event, no `[DONE]`"
            }
            Kind::Stall => {
                "the K tokens, one `upstream_timeout` error event within the idle timeout (+5 s), no `[DONE]`"
            }
        }
    }

    fn code(self) -> Option<&'static str> {
        match self {
            Kind::Reset | Kind::Invalid => Some("upstream_error"),
            Kind::Stall => Some("upstream_timeout"),
            _ => None,
        }
    }
}

/// The gateway's idle timeout for the `stall` provider, and how late past it a stall may end.
pub const STALL_IDLE: Duration = Duration::from_secs(2);
pub const STALL_SLACK: Duration = Duration::from_secs(5);
/// The idle (and first-byte) timeout of the `bench` provider: long enough for any healthy stream.
pub const BENCH_IDLE: Duration = Duration::from_secs(60);
/// A stream with no event for its provider's idle timeout and this much more hangs: the gateway
/// promises an error event by then. (Its `: keep-alive` comments are not events.)
pub const HANG_SLACK: Duration = Duration::from_secs(15);
/// Streams last 5 to 15 s (10 s on average), whatever the spacing of their tokens.
pub const LIFETIME_MS: (u64, u64) = (5_000, 15_000);
/// The most tokens a second the whole crowd may ask for. On two cores the upstream, the gateway
/// and the driver each handle every token: 10,000 streams at 50 ms (200,000 a second) took ten
/// times as long as they should; at 40,000 a second the gateway used all of its core and the
/// upstream 60% of its own, so that when other work on the machine took a share, trickles (13
/// turns of the upstream's loop an event) fell minutes behind. 20,000 leaves room for that.
pub const TOKENS_PER_SECOND: u64 = 20_000;
/// The spacing of tokens unless `--delay-ms` says: 50 ms, or wider when the crowd is too big for
/// that within `TOKENS_PER_SECOND` (500 ms for 10,000 streams).
pub fn default_delay(streams: u32) -> Duration {
    Duration::from_millis(50.max(u64::from(streams) * 1000 / TOKENS_PER_SECOND))
}

/// Stream lengths in tokens at `delay`: `LIFETIME_MS` worth, at least 4.
pub fn chunks(delay: Duration) -> (u32, u32) {
    let per = |ms: u64| (ms / (delay.as_millis() as u64).max(1)).max(4) as u32;
    (per(LIFETIME_MS.0), per(LIFETIME_MS.1))
}
/// After the crowd is gone, the upstream closes its idle connections (`GET /close-idle`): else
/// the gateway's pool keeps one per stream of the peak for its 90 s idle timeout, and they are no
/// leak. (An upstream with a keep-alive timeout of its own would close them too, but racing the
/// pool's reuse: see bench/README.md.) The fds must be back within `SETTLE`.
pub const SETTLE: Duration = Duration::from_secs(30);
/// The pool keeps an entry for each connection the upstream closed (about 10 KB: hyper's request
/// channel) until its reaper runs, every 90 s: memory is judged once that has passed.
pub const POOL_REAPED: Duration = Duration::from_secs(95);
/// Streams opened at once, at the start (connect, request, wait for the head).
pub const OPENING: usize = 512;
/// File descriptors the gateway may hold after, over its resting count.
pub const FD_SLACK: u64 = 5;
/// RSS the gateway may hold after, over its resting level: allocator caches, the connection
/// pool's and the health table's own structures.
pub const RSS_SLACK_KIB: u64 = 20 * 1024;
/// The most streams over HTTP/1.1 (each its own client connection); above, HTTP/2 clients.
pub const H1_LIMIT: u32 = crate::run::H1_CROWD_LIMIT;
pub const H2_STREAMS: u32 = crate::run::H2_STREAMS;

/// One kind's tally.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub started: u64,
    pub passed: u64,
    pub failed: u64,
    /// The error codes the failed-on-purpose streams ended with.
    pub codes: BTreeMap<String, u64>,
    /// Tokens delivered, over the streams of this kind.
    pub tokens: u64,
    /// The longest time from a stall to its error event.
    pub longest_stall: Duration,
    /// How long each whole stream took over what its tokens' spacing makes it last (normal and
    /// trickle streams): how far the machine fell behind.
    pub stretch: Vec<f32>,
    /// The first few failures, as said.
    pub failures: Vec<String>,
}

/// A figure of the gateway process: at rest, at the peak, after.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: u64,
}

#[derive(Debug, Default)]
pub struct Soak {
    pub tallies: BTreeMap<Kind, Tally>,
    pub rest: Usage,
    pub peak: Usage,
    pub after: Usage,
    /// Seconds from the end of the last stream until the fds were back (or `SETTLE`), and until
    /// `after` was taken.
    pub fds_settled_in: f64,
    pub settled_in: f64,
    /// RSS once glibc gave its free pages back (`malloc_trim(0)` through gdb), when it could:
    /// the memory the gateway still uses, without what the allocator keeps for later.
    pub trimmed_rss_kib: Option<u64>,
    /// Why there is no trimmed figure, when there is none.
    pub trim_note: Option<String>,
    pub peak_open: u32,
    /// Streams open at once, the mean over the samples after the ramp-up.
    pub mean_open: f64,
    pub upstream_before: Stats,
    pub upstream_after: Stats,
    pub load_seconds: f64,
    pub drain_seconds: f64,
    /// A line every so often: elapsed s, open streams, RSS KiB, fds.
    pub timeline: Vec<(f64, u32, u64, u64)>,
    pub failures: Vec<String>,
    pub http2: bool,
}

impl Soak {
    pub fn rss_limit_kib(&self) -> u64 {
        self.rest.rss_kib + RSS_SLACK_KIB
    }

    /// The RSS the verdict is on: after glibc's trim when there was one.
    pub fn judged_rss_kib(&self) -> u64 {
        self.trimmed_rss_kib.unwrap_or(self.after.rss_kib)
    }

    pub fn fd_limit(&self) -> u64 {
        self.rest.fds + FD_SLACK
    }
}

/// The gateway's config: a provider with generous timeouts for everything but stalls, and one
/// at the same upstream whose idle timeout ends them.
fn providers(upstream: SocketAddr) -> String {
    format!(
        r#"[providers.bench]
kind = "openai"
base_url = "http://{upstream}/v1"
api_key = "sk-bench-upstream"
first_byte_timeout = "{idle}s"
idle_timeout = "{idle}s"

[providers.stall]
kind = "openai"
base_url = "http://{upstream}/v1"
api_key = "sk-bench-upstream"
first_byte_timeout = "{idle}s"
idle_timeout = "{stall}s"
"#,
        idle = BENCH_IDLE.as_secs(),
        stall = STALL_IDLE.as_secs()
    )
}

pub fn run(options: &Options) -> Result<Soak, String> {
    let dir = procs::scratch()?;
    let upstream = procs::upstream()?;
    let (gateway, _) = procs::gateway_with(&options.gateway, &dir, &providers(upstream.addr))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let soak = runtime.block_on(soak(options, &upstream, &gateway));
    drop(gateway);
    drop(upstream);
    let _ = std::fs::remove_dir_all(&dir);
    soak
}

fn usage(pid: u32) -> Usage {
    Usage {
        rss_kib: procs::status_kib(&[pid], "VmRSS"),
        fds: procs::open_fds(pid).unwrap_or(0),
    }
}

fn upstream_stats(upstream: &Proc) -> Result<Stats, String> {
    let text = procs::get(upstream.addr, "/stats")?;
    Stats::parse(&text).ok_or_else(|| format!("the upstream's stats: {text:?}"))
}

/// What every stream task shares.
struct Shared {
    addr: SocketAddr,
    auth: String,
    host: String,
    delay: Duration,
    /// Streams open right now (request sent, answer not over), and the most at once.
    open: AtomicU32,
    peak_open: AtomicU32,
    /// Streams ended so far, and those of them that did not end as promised.
    ended: AtomicU64,
    failed: AtomicU64,
    /// The mix, as (kind, weight).
    mix: Vec<(Kind, u32)>,
    /// Streams that may still be started: the bound on their count.
    budget: AtomicU64,
    end: Instant,
    gate: Arc<tokio::sync::Semaphore>,
}

async fn soak(options: &Options, upstream: &Proc, gateway: &Proc) -> Result<Soak, String> {
    let pid = gateway.pid();
    let mut soak = Soak {
        http2: options.streams > H1_LIMIT,
        ..Soak::default()
    };
    // At rest: started, answered /health, nothing else; the median of three samples.
    let mut samples = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        samples.push(usage(pid));
    }
    samples.sort_by_key(|u| u.rss_kib);
    soak.rest.rss_kib = samples[1].rss_kib;
    samples.sort_by_key(|u| u.fds);
    soak.rest.fds = samples[1].fds;
    soak.peak = soak.rest;
    soak.upstream_before = upstream_stats(upstream)?;
    eprintln!(
        "soak: {} streams{} for {:.0} s; the gateway at rest: {:.1} MiB RSS, {} fds",
        options.streams,
        if soak.http2 { " over HTTP/2" } else { "" },
        options.duration.as_secs_f64(),
        soak.rest.rss_kib as f64 / 1024.0,
        soak.rest.fds
    );

    let start = Instant::now();
    let shared = Arc::new(Shared {
        addr: gateway.addr,
        auth: format!("Bearer {}", procs::GATEWAY_KEY),
        host: gateway.addr.to_string(),
        delay: options.delay,
        open: AtomicU32::new(0),
        peak_open: AtomicU32::new(0),
        ended: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        mix: MIX
            .iter()
            .filter(|(kind, _)| options.kinds.contains(kind))
            .copied()
            .collect(),
        // At most one new stream per slot per second on average: far above what the mix makes.
        budget: AtomicU64::new(u64::from(options.streams) * options.duration.as_secs().max(1)),
        end: start + options.duration,
        gate: Arc::new(tokio::sync::Semaphore::new(OPENING)),
    });
    let pool: Vec<H2Slot> = if soak.http2 {
        (0..options.streams.div_ceil(H2_STREAMS))
            .map(|_| Arc::new(Mutex::new(None)))
            .collect()
    } else {
        Vec::new()
    };
    let mut tasks = Vec::new();
    for slot in 0..options.streams {
        let shared = shared.clone();
        let h2 = pool.get((slot / H2_STREAMS) as usize).cloned();
        let seed = start.elapsed().as_nanos() as u64 ^ (u64::from(slot) << 32) ^ 0x5eed;
        tasks.push(tokio::spawn(slot_loop(shared, h2, seed)));
    }

    // Every second: the gateway's RSS and fds, and how many streams are open.
    let ramp = Duration::from_secs(15).min(options.duration / 4);
    let mut open_sum = 0f64;
    let mut open_samples = 0u32;
    // A line on stderr every 10 s; one in SOAK.md's timeline every 30 s (10 s when quick).
    let mut next_line = Duration::ZERO;
    let mut next_row = Duration::ZERO;
    let every = if options.quick {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(30)
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut all_done = false;
    let mut results = Vec::new();
    let mut pending = tasks;
    while !all_done {
        tick.tick().await;
        let now = usage(pid);
        let open = shared.open.load(Ordering::Relaxed);
        soak.peak.rss_kib = soak.peak.rss_kib.max(now.rss_kib);
        soak.peak.fds = soak.peak.fds.max(now.fds);
        soak.peak_open = shared.peak_open.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        if elapsed >= ramp && elapsed < options.duration {
            open_sum += f64::from(open);
            open_samples += 1;
        }
        if elapsed >= next_row {
            next_row += every;
            soak.timeline
                .push((elapsed.as_secs_f64(), open, now.rss_kib, now.fds));
        }
        if elapsed >= next_line {
            next_line += Duration::from_secs(10);
            eprintln!(
                "  {:>4.0} s  {:>6} open  RSS {:>7.1} MiB  {:>6} fds  {:>8} ended, {} not as promised",
                elapsed.as_secs_f64(),
                open,
                now.rss_kib as f64 / 1024.0,
                now.fds,
                shared.ended.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed)
            );
        }
        let (done, left): (Vec<_>, Vec<_>) = pending.into_iter().partition(|t| t.is_finished());
        pending = left;
        for task in done {
            results.push(task.await.map_err(|e| e.to_string())?);
        }
        all_done = pending.is_empty();
    }
    soak.load_seconds = options.duration.as_secs_f64();
    soak.drain_seconds = (start.elapsed() - options.duration).as_secs_f64();
    soak.mean_open = if open_samples > 0 {
        open_sum / f64::from(open_samples)
    } else {
        f64::NAN
    };
    for tallies in results {
        for (kind, tally) in tallies {
            let total = soak.tallies.entry(kind).or_default();
            total.started += tally.started;
            total.passed += tally.passed;
            total.failed += tally.failed;
            total.tokens += tally.tokens;
            total.longest_stall = total.longest_stall.max(tally.longest_stall);
            total.stretch.extend(tally.stretch);
            for (code, n) in tally.codes {
                *total.codes.entry(code).or_default() += n;
            }
            for failure in tally.failures {
                if total.failures.len() < 5 {
                    total.failures.push(failure);
                }
            }
        }
    }
    // Every client connection closed (HTTP/2 ones are shared by slots, held here).
    for slot in pool {
        if let Some((_, connection)) = slot.lock().await.take() {
            connection.abort();
        }
    }
    eprintln!(
        "soak: the last stream ended {:.1} s after the load; waiting for the gateway to settle",
        soak.drain_seconds
    );
    procs::get(upstream.addr, "/close-idle")?;

    // After: the fds all the way back to rest (the slack is for the verdict) and no stream open
    // upstream, within SETTLE; then RSS within its limit, or the pool reaped and glibc asked to
    // give its free pages back.
    let settling = Instant::now();
    let mut fds_back = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        soak.after = usage(pid);
        soak.upstream_after = upstream_stats(upstream)?;
        let elapsed = settling.elapsed();
        if fds_back.is_none()
            && ((soak.after.fds <= soak.rest.fds && soak.upstream_after.open == 0)
                || elapsed >= SETTLE)
        {
            fds_back = Some((elapsed, soak.after.fds, soak.upstream_after));
        }
        if fds_back.is_some()
            && (soak.after.rss_kib <= soak.rss_limit_kib() || elapsed >= POOL_REAPED)
        {
            break;
        }
    }
    if let Some((elapsed, fds, upstream_after)) = fds_back {
        soak.fds_settled_in = elapsed.as_secs_f64();
        soak.after.fds = fds;
        soak.upstream_after = upstream_after;
    }
    if soak.after.rss_kib > soak.rss_limit_kib() {
        match trim(pid) {
            Ok(()) => soak.trimmed_rss_kib = Some(usage(pid).rss_kib),
            Err(why) => soak.trim_note = Some(why),
        }
    }
    soak.settled_in = settling.elapsed().as_secs_f64();
    eprintln!(
        "soak: {} fds {:.0} s after the load, upstream streams open: {}; RSS {:.1} MiB after {:.0} s{}",
        soak.after.fds,
        soak.fds_settled_in,
        soak.upstream_after.open,
        soak.after.rss_kib as f64 / 1024.0,
        soak.settled_in,
        soak.trimmed_rss_kib
            .map(|kib| format!(
                ", {:.1} MiB once glibc gave its free pages back",
                kib as f64 / 1024.0
            ))
            .unwrap_or_default()
    );
    judge(&mut soak, options);
    Ok(soak)
}

/// Asks the gateway's glibc to give its free pages back (`malloc_trim(0)`), through gdb.
fn trim(pid: u32) -> Result<(), String> {
    let output = std::process::Command::new("gdb")
        .args(["-p", &pid.to_string(), "-batch", "-nx"])
        .args(["-ex", "call (int) malloc_trim(0)"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("no gdb to ask glibc for its free pages ({e})"))?;
    let said = String::from_utf8_lossy(&output.stdout);
    if said.contains("$1 = ") {
        Ok(())
    } else {
        Err(format!(
            "gdb could not call malloc_trim in the gateway: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ))
    }
}

fn judge(soak: &mut Soak, options: &Options) {
    let mut failures = Vec::new();
    for (kind, tally) in &soak.tallies {
        if tally.failed > 0 {
            failures.push(format!(
                "{}: {} of {} streams did not end as promised ({}); the first: {}",
                kind.name(),
                tally.failed,
                tally.started,
                kind.promise(),
                tally.failures.first().cloned().unwrap_or_default()
            ));
        }
    }
    for &kind in &options.kinds {
        if soak.tallies.get(&kind).is_none_or(|t| t.started == 0) {
            failures.push(format!("no {} stream was started", kind.name()));
        }
    }
    if soak.judged_rss_kib() > soak.rss_limit_kib() {
        failures.push(format!(
            "RSS after the load {:.1} MiB{}, over rest + {} MiB ({:.1} MiB)",
            soak.judged_rss_kib() as f64 / 1024.0,
            if soak.trimmed_rss_kib.is_some() {
                " even once glibc gave its free pages back"
            } else {
                ""
            },
            RSS_SLACK_KIB / 1024,
            soak.rss_limit_kib() as f64 / 1024.0
        ));
    }
    if soak.after.fds > soak.fd_limit() {
        failures.push(format!(
            "{} fds after the load, over rest + {FD_SLACK} ({})",
            soak.after.fds,
            soak.fd_limit()
        ));
    }
    if soak.upstream_after.open > 0 {
        failures.push(format!(
            "{} upstream streams still open after the load: the gateway never closed them",
            soak.upstream_after.open
        ));
    }
    // The crowd must have been whole: all N open at once, at least once.
    if soak.peak_open < options.streams {
        failures.push(format!(
            "only {} of {} streams were ever open at once",
            soak.peak_open, options.streams
        ));
    }
    for failure in &failures {
        eprintln!("  FAILED: {failure}");
    }
    soak.failures = failures;
}

type H2Sender = http2::SendRequest<Full<Bytes>>;
/// An HTTP/2 connection shared by `H2_STREAMS` slots, opened (again) by whichever needs it.
type H2Slot = Arc<Mutex<Option<(H2Sender, JoinHandle<()>)>>>;

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>, JoinHandle<()>),
    H2(H2Sender),
}

async fn tcp(addr: SocketAddr) -> Result<TokioIo<TcpStream>, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(TokioIo::new(tcp))
}

async fn connect(addr: SocketAddr, h2: Option<&H2Slot>) -> Result<Sender, String> {
    let Some(slot) = h2 else {
        let (sender, connection) = http1::handshake(tcp(addr).await?)
            .await
            .map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(Sender::H1(sender, task));
    };
    let mut slot = slot.lock().await;
    if let Some((sender, _)) = slot.as_ref()
        && !sender.is_closed()
    {
        return Ok(Sender::H2(sender.clone()));
    }
    let (sender, connection) = http2::handshake(TokioExecutor::new(), tcp(addr).await?)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    if let Some((_, old)) = slot.replace((sender.clone(), task)) {
        old.abort();
    }
    Ok(Sender::H2(sender))
}

impl Drop for Sender {
    fn drop(&mut self) {
        // An HTTP/1.1 connection goes with its sender: a client that leaves closes it.
        if let Sender::H1(_, task) = self {
            task.abort();
        }
    }
}

/// A small, fast generator (SplitMix64): each slot its own, no shared state.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Evenly in `low..=high`.
    fn between(&mut self, low: u32, high: u32) -> u32 {
        low + (self.next() % u64::from(high - low + 1)) as u32
    }

    fn kind(&mut self, mix: &[(Kind, u32)]) -> Kind {
        let total: u32 = mix.iter().map(|(_, w)| w).sum();
        let mut pick = self.between(0, total.max(1) - 1);
        for &(kind, weight) in mix {
            if pick < weight {
                return kind;
            }
            pick -= weight;
        }
        Kind::Normal
    }
}

/// One slot of the crowd: a stream, then the next, until the load's end or the budget.
async fn slot_loop(shared: Arc<Shared>, h2: Option<H2Slot>, seed: u64) -> BTreeMap<Kind, Tally> {
    let mut rng = Rng(seed);
    let mut tallies: BTreeMap<Kind, Tally> = BTreeMap::new();
    let mut sender: Option<Sender> = None;
    let mut first = true;
    while Instant::now() < shared.end
        && shared
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_ok()
    {
        let kind = rng.kind(&shared.mix);
        let (fewest, most) = chunks(shared.delay);
        let chunks = rng.between(fewest, most);
        // Faults and departures come after 1..N-1 tokens: mid-stream, after the 200 is
        // committed (before it the gateway answers with a status instead).
        let k = rng.between(1, chunks - 1);
        let delay_ms = shared.delay.as_millis() as u64;
        let profile = Profile::new(chunks, delay_ms);
        let (provider, profile) = match kind {
            Kind::Normal | Kind::Disconnect => ("bench", profile),
            Kind::Trickle => ("bench", profile.with(Fault::Trickle)),
            Kind::Reset => ("bench", profile.with(Fault::Reset(k))),
            Kind::Invalid => ("bench", profile.with(Fault::Invalid(k))),
            Kind::Stall => ("stall", profile.with(Fault::Stall(k))),
        };
        let leave_after = (kind == Kind::Disconnect).then_some(k);
        // A stream hangs when no event came for its provider's idle timeout and HANG_SLACK; and
        // however it goes, four times what it should take and two minutes more is the end.
        let idle = if kind == Kind::Stall {
            STALL_IDLE
        } else {
            BENCH_IDLE
        };
        let expected = profile.delay * profile.cut_after().unwrap_or(profile.chunks)
            + if kind == Kind::Stall {
                STALL_IDLE
            } else {
                Duration::ZERO
            };
        let limit = expected * 4 + Duration::from_secs(120);
        // The first wave opens OPENING at a time; later streams replace one that ended.
        let permit = if first {
            shared.gate.clone().acquire_owned().await.ok()
        } else {
            None
        };
        first = false;
        let tally = tallies.entry(kind).or_default();
        tally.started += 1;
        let mut result = Ended::default();
        let began = Instant::now();
        match connect_if_needed(&mut sender, shared.addr, h2.as_ref()).await {
            Ok(s) => {
                let model = format!("{provider}/{}", profile.model());
                let stream = one(s, &shared, &model, leave_after, idle, permit, &mut result);
                if tokio::time::timeout(limit, stream).await.is_err() {
                    result.whole = false;
                    result.error = Some(format!(
                        "still going after {limit:?} with {} tokens: too slow",
                        result.check.tokens()
                    ));
                }
            }
            Err(e) => result.error = Some(format!("cannot connect: {e}")),
        }
        if !result.whole {
            // A connection with an answer half read cannot carry the next one.
            if matches!(sender, Some(Sender::H1(..))) {
                sender = None;
            }
        }
        let verdict = judge_stream(kind, &profile, leave_after, &result);
        if verdict.is_ok() && matches!(kind, Kind::Normal | Kind::Trickle) {
            let nominal = profile.delay * profile.chunks.saturating_sub(1);
            tally
                .stretch
                .push(began.elapsed().as_secs_f32() / nominal.as_secs_f32().max(0.001));
        }
        shared.ended.fetch_add(1, Ordering::Relaxed);
        if verdict.is_err() {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        tally.tokens += u64::from(result.check.tokens());
        match verdict {
            Ok(code) => {
                tally.passed += 1;
                if let Some(code) = code {
                    *tally.codes.entry(code).or_default() += 1;
                }
                if kind == Kind::Stall {
                    tally.longest_stall = tally.longest_stall.max(result.quiet);
                }
            }
            Err(why) => {
                tally.failed += 1;
                if tally.failures.len() < 5 {
                    tally
                        .failures
                        .push(format!("{model}: {why}", model = profile.model()));
                }
            }
        }
    }
    tallies
}

async fn connect_if_needed<'a>(
    sender: &'a mut Option<Sender>,
    addr: SocketAddr,
    h2: Option<&H2Slot>,
) -> Result<&'a mut Sender, String> {
    let stale = match sender {
        Some(Sender::H1(s, _)) => s.is_closed(),
        Some(Sender::H2(s)) => s.is_closed(),
        None => true,
    };
    if stale {
        *sender = Some(connect(addr, h2).await?);
    }
    sender.as_mut().ok_or_else(|| "no connection".to_owned())
}

/// How one stream ended, as the client saw it.
#[derive(Default)]
struct Ended {
    check: StreamCheck,
    /// The body was read to its end (the connection can carry another request).
    whole: bool,
    /// From the last piece before the end to the end: how long a stall lasted.
    quiet: Duration,
    /// A failure of the request or the body, or a status other than 200.
    error: Option<String>,
}

async fn one(
    sender: &mut Sender,
    shared: &Shared,
    model: &str,
    leave_after: Option<u32>,
    idle: Duration,
    mut permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ended: &mut Ended,
) {
    let request = Request::post("/v1/chat/completions")
        .header("host", &shared.host)
        .header("content-type", "application/json")
        .header("authorization", &shared.auth)
        .body(Full::new(Bytes::from(wire::request(model, true))))
        .unwrap_or_default();
    // Open from the request on: the gateway holds it from then until the end.
    let _open = Open::new(shared);
    let response = match sender {
        Sender::H1(s, _) => match s.ready().await {
            Ok(()) => s.send_request(request).await,
            Err(e) => Err(e),
        },
        Sender::H2(s) => match s.ready().await {
            Ok(()) => s.send_request(request).await,
            Err(e) => Err(e),
        },
    };
    permit.take();
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            ended.error = Some(format!("request failed: {e}"));
            return;
        }
    };
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let text = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        ended.error = Some(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&text)
        ));
        return;
    }
    let mut last = Instant::now();
    let (mut last_event, mut events) = (last, 0);
    loop {
        let Ok(frame) = tokio::time::timeout_at(last_event + idle + HANG_SLACK, body.frame()).await
        else {
            ended.error = Some(format!(
                "no event for {:?} after {} tokens, where the gateway's idle timeout is {idle:?}: it hangs",
                idle + HANG_SLACK,
                ended.check.tokens()
            ));
            break;
        };
        match frame {
            None => {
                ended.whole = true;
                break;
            }
            Some(Err(e)) => {
                ended.error = Some(format!("body failed: {e}"));
                break;
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if data.is_empty() {
                    continue; // an HTTP/2 stream's end may come as an empty frame of its own
                }
                ended.quiet = last.elapsed();
                last = Instant::now();
                ended.check.feed(&data);
                if ended.check.events > events {
                    (last_event, events) = (last, ended.check.events);
                }
                if leave_after.is_some_and(|k| ended.check.tokens() >= k) {
                    // The client leaves: the body (and over HTTP/1.1 the connection) dropped.
                    break;
                }
            }
        }
    }
}

/// Counts a stream open from its response head until it ends, however it ends.
struct Open<'a>(&'a Shared);

impl<'a> Open<'a> {
    fn new(shared: &'a Shared) -> Self {
        let now = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
        shared.peak_open.fetch_max(now, Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `Ok(the error code)` when the stream ended as its kind promises.
fn judge_stream(
    kind: Kind,
    profile: &Profile,
    leave_after: Option<u32>,
    ended: &Ended,
) -> Result<Option<String>, String> {
    if let Some(error) = &ended.error {
        return Err(error.clone());
    }
    match kind {
        Kind::Normal | Kind::Trickle => ended
            .check
            .verdict_with_checksum(profile.chunks)
            .map(|()| None),
        Kind::Disconnect => {
            let k = leave_after.unwrap_or(0);
            ended.check.so_far()?;
            if ended.check.tokens() < k {
                return Err(format!(
                    "the stream ended after {} tokens, before the client left at {k}",
                    ended.check.tokens()
                ));
            }
            Ok(None)
        }
        Kind::Reset | Kind::Stall | Kind::Invalid => {
            let k = profile.cut_after().unwrap_or(0);
            let code = ended.check.broken_verdict(k)?;
            if Some(code.as_str()) != kind.code() {
                return Err(format!(
                    "error code {code}, where {} was promised",
                    kind.code().unwrap_or_default()
                ));
            }
            if kind == Kind::Stall && ended.quiet > STALL_IDLE + STALL_SLACK {
                return Err(format!(
                    "the stall ended {:.1} s after the last token; the idle timeout is {:?}",
                    ended.quiet.as_secs_f64(),
                    STALL_IDLE
                ));
            }
            Ok(Some(code))
        }
    }
}

/// SOAK.md, and what is printed.
pub fn markdown(soak: &Soak, options: &Options) -> String {
    let mut out = String::new();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let _ = writeln!(out, "# switchyard soak\n");
    let _ = writeln!(
        out,
        "Written by `bench/soak` (see bench/README.md, *Soak*). {} streams held open for {:.0} s, \
         each replaced as it ended; the last ended {:.1} s after that, and the gateway was \
         measured again {:.0} s later.\n",
        options.streams, soak.load_seconds, soak.drain_seconds, soak.settled_in
    );
    let _ = writeln!(out, "## Run\n");
    for line in crate::report::machine_lines() {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "- Pinned with taskset: the gateway on core 0; the driver and the fake upstream on core 1"
    );
    let _ = writeln!(
        out,
        "- Clients: {}",
        if soak.http2 {
            format!(
                "HTTP/2, {H2_STREAMS} streams per connection (10,000 streams over HTTP/1.1 would need more sockets than the open-file limit allows)"
            )
        } else {
            "HTTP/1.1, a connection per stream, kept for the next stream after a whole answer"
                .to_owned()
        }
    );
    let _ = writeln!(
        out,
        "- Streams: {}..{} tokens, {} ms apart; faults and departures after 1..N-1 tokens",
        chunks(options.delay).0,
        chunks(options.delay).1,
        options.delay.as_millis()
    );
    let _ = writeln!(
        out,
        "- Gateway: provider `bench` (idle and first-byte timeouts 60 s) and provider `stall` (idle timeout {} s), both at the fake upstream, which closes its idle connections once the crowd is gone",
        STALL_IDLE.as_secs()
    );
    let _ = writeln!(
        out,
        "- Streams open at once: {} at the peak, {:.0} on average after the ramp-up",
        soak.peak_open, soak.mean_open
    );

    let _ = writeln!(out, "\n## Streams\n");
    let _ = writeln!(
        out,
        "| Kind | Share | Started | As promised | Not | Ended with | Promise |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mix: Vec<(Kind, u32)> = MIX
        .iter()
        .filter(|(kind, _)| options.kinds.contains(kind))
        .copied()
        .collect();
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut sum = Tally::default();
    for (kind, weight) in mix {
        let tally = soak.tallies.get(&kind).cloned().unwrap_or_default();
        let mut ended: Vec<String> = tally
            .codes
            .iter()
            .map(|(code, n)| format!("`{code}` x{n}"))
            .collect();
        if kind == Kind::Stall && tally.passed > 0 {
            ended.push(format!(
                "the longest {:.1} s after the last token",
                tally.longest_stall.as_secs_f64()
            ));
        }
        let _ = writeln!(
            out,
            "| {} | {}% | {} | {} | {} | {} | {} |",
            kind.name(),
            weight * 100 / total,
            tally.started,
            tally.passed,
            if tally.failed > 0 {
                format!("**{}**", tally.failed)
            } else {
                "0".to_owned()
            },
            if ended.is_empty() {
                "-".to_owned()
            } else {
                ended.join(", ")
            },
            kind.promise()
        );
        sum.started += tally.started;
        sum.passed += tally.passed;
        sum.failed += tally.failed;
        sum.tokens += tally.tokens;
    }
    let _ = writeln!(
        out,
        "| all | 100% | {} | {} | {} | {} tokens delivered | |",
        sum.started, sum.passed, sum.failed, sum.tokens
    );
    let mut stretch: Vec<f32> = [Kind::Normal, Kind::Trickle]
        .iter()
        .filter_map(|kind| soak.tallies.get(kind))
        .flat_map(|t| t.stretch.iter().copied())
        .collect();
    stretch.sort_by(f32::total_cmp);
    if !stretch.is_empty() {
        let at = |q: f64| stretch[((q * stretch.len() as f64) as usize).min(stretch.len() - 1)];
        let _ = writeln!(
            out,
            "\nA whole stream took {:.2}x its nominal length at the median, {:.2}x at p99, {:.2}x at \
             the most (request to last byte, over its tokens' spacing): how far the machine fell \
             behind.",
            at(0.5),
            at(0.99),
            stretch[stretch.len() - 1]
        );
    }
    let _ = writeln!(
        out,
        "\nThe upstream started {} streams and saw {} dropped before their end by the gateway \
         (client departures and stalls); streams still open there after: {}.",
        soak.upstream_after.started - soak.upstream_before.started,
        soak.upstream_after.dropped - soak.upstream_before.dropped,
        soak.upstream_after.open
    );

    let _ = writeln!(out, "\n## The gateway process\n");
    let _ = writeln!(out, "| | RSS | Open fds |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| at rest, before | {:.1} MiB | {} |",
        mib(soak.rest.rss_kib),
        soak.rest.fds
    );
    let _ = writeln!(
        out,
        "| peak, sampled every second | {:.1} MiB | {} |",
        mib(soak.peak.rss_kib),
        soak.peak.fds
    );
    let _ = writeln!(
        out,
        "| after: fds {:.0} s, RSS {:.0} s after the last stream | {:.1} MiB | {} |",
        soak.fds_settled_in,
        soak.settled_in,
        mib(soak.after.rss_kib),
        soak.after.fds
    );
    if let Some(trimmed) = soak.trimmed_rss_kib {
        let _ = writeln!(
            out,
            "| after, once glibc gave its free pages back (`malloc_trim(0)`) | {:.1} MiB | |",
            mib(trimmed)
        );
    }
    let _ = writeln!(
        out,
        "| limit after | {:.1} MiB (rest + {} MiB) | {} (rest + {FD_SLACK}) |",
        mib(soak.rss_limit_kib()),
        RSS_SLACK_KIB / 1024,
        soak.fd_limit()
    );
    if let Some(trimmed) = soak.trimmed_rss_kib {
        let _ = writeln!(
            out,
            "\nglibc's malloc kept {:.1} MiB of freed heap resident: RSS does not come back to rest \
             by itself after a crowd this size (bench/README.md, *Soak*). The verdict is on the RSS \
             once it gave those pages back.",
            mib(soak.after.rss_kib.saturating_sub(trimmed))
        );
    } else if let Some(note) = &soak.trim_note {
        let _ = writeln!(
            out,
            "\nThe verdict is on RSS as it is: {note}, so what glibc keeps for later counts too."
        );
    }

    let _ = writeln!(out, "\nOver time:\n");
    let _ = writeln!(out, "| s | Streams open | RSS | fds |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (s, open, rss, fds) in &soak.timeline {
        let _ = writeln!(out, "| {s:.0} | {open} | {:.1} MiB | {fds} |", mib(*rss));
    }

    let _ = writeln!(out, "\n## Verdict\n");
    if soak.failures.is_empty() {
        let _ = writeln!(
            out,
            "Passed: every stream ended as its kind promises, and the gateway came back to rest."
        );
    } else {
        let _ = writeln!(out, "**Failed:**\n");
        for failure in &soak.failures {
            let _ = writeln!(out, "- {failure}");
        }
        for (kind, tally) in &soak.tallies {
            for failure in tally.failures.iter().skip(1) {
                let _ = writeln!(out, "- also {}: {failure}", kind.name());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_drawn_in_its_shares() {
        let mut rng = Rng(7);
        let mut counts: BTreeMap<Kind, u32> = BTreeMap::new();
        for _ in 0..100_000 {
            *counts.entry(rng.kind(&MIX)).or_default() += 1;
        }
        for (kind, weight) in MIX {
            let share = f64::from(counts[&kind]) / 1000.0;
            assert!((share - f64::from(weight)).abs() < 1.0, "{kind:?}: {share}");
        }
        for _ in 0..1000 {
            let n = rng.between(2, 5);
            assert!((2..=5).contains(&n));
        }
    }
}
