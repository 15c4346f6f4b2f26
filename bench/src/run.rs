//! The whole benchmark: every case against the upstream direct, nginx and switchyard, in
//! alternation, repeated; then the memory crowds and the cold starts on fresh processes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::load::{self, Shot, Target};
use crate::procs::{self, Proc, Result};
use crate::wire::{Fault, Profile, Surface};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    Direct,
    Nginx,
    Gateway,
}

impl Via {
    pub const ALL: [Via; 3] = [Via::Direct, Via::Nginx, Via::Gateway];

    pub fn name(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Nginx => "nginx",
            Via::Gateway => "switchyard",
        }
    }
}

#[derive(Clone)]
pub struct Options {
    pub gateway: PathBuf,
    pub nginx: PathBuf,
    pub rounds: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub crowds: Vec<u32>,
    /// The cases to run: all of them, unless `--cases` names some.
    pub cases: Vec<Case>,
}

impl Options {
    pub fn runs(&self, case: Case) -> bool {
        self.cases.contains(&case)
    }

    /// Whether every case runs: only then is the report a whole RESULTS.md.
    pub fn whole(&self) -> bool {
        Case::ALL.iter().all(|case| self.runs(*case))
    }
}

/// The cases, by the names `--cases` takes (README's table, in its order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    Saturation,
    FixedRate,
    FirstToken,
    Relay,
    Framed,
    Translated,
    FramedCrowd,
    FramedPaced,
    Crowds,
    ColdStart,
}

impl Case {
    pub const ALL: [Case; 10] = [
        Case::Saturation,
        Case::FixedRate,
        Case::FirstToken,
        Case::Relay,
        Case::Framed,
        Case::Translated,
        Case::FramedCrowd,
        Case::FramedPaced,
        Case::Crowds,
        Case::ColdStart,
    ];
    /// `--cases framing`: every case whose upstream writes each event as its own frame.
    pub const FRAMING: [Case; 4] = [
        Case::Framed,
        Case::Translated,
        Case::FramedCrowd,
        Case::FramedPaced,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::Saturation => "saturation",
            Case::FixedRate => "fixed-rate",
            Case::FirstToken => "first-token",
            Case::Relay => "relay",
            Case::Framed => "framed",
            Case::Translated => "translated",
            Case::FramedCrowd => "framed-1000",
            Case::FramedPaced => "framed-paced",
            Case::Crowds => "crowds",
            Case::ColdStart => "cold-start",
        }
    }

    /// Names separated by commas; `framing` stands for the four framed cases.
    pub fn parse_list(list: &str) -> Result<Vec<Case>> {
        let mut cases = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let named: &[Case] = match word {
                "framing" => &Case::FRAMING,
                _ => match Case::ALL.iter().find(|c| c.name() == word) {
                    Some(case) => std::slice::from_ref(case),
                    None => {
                        let names: Vec<&str> = Case::ALL.iter().map(|c| c.name()).collect();
                        return Err(format!(
                            "--cases: no case {word} (there are {}, and framing)",
                            names.join(", ")
                        ));
                    }
                },
            };
            for case in named {
                if !cases.contains(case) {
                    cases.push(*case);
                }
            }
        }
        if cases.is_empty() {
            return Err("--cases: name at least one case".into());
        }
        Ok(cases)
    }
}

/// Everything measured: per figure and target, one sample per round.
#[derive(Default)]
pub struct Results {
    pub samples: BTreeMap<(&'static str, Via), Vec<f64>>,
    pub crowds: Vec<CrowdResult>,
    pub cold_starts_ms: Vec<f64>,
    pub binary_bytes: u64,
    pub idle_rss_kib: u64,
    /// The gateway's and nginx's RSS once the non-stream and chunk rounds are over and idle.
    pub after_load_rss_kib: Option<(u64, u64)>,
    pub failures: Vec<String>,
    pub seconds: f64,
}

pub struct CrowdResult {
    pub via: Via,
    pub streams: u32,
    pub http2: bool,
    pub crowd: load::Crowd,
    pub peak_rss_kib: u64,
}

impl Results {
    fn add(&mut self, figure: &'static str, via: Via, value: f64) {
        self.samples.entry((figure, via)).or_default().push(value);
    }

    fn fail(&mut self, what: String) {
        eprintln!("  FAILED: {what}");
        self.failures.push(what);
    }
}

/// The figures' names.
pub mod figure {
    pub const RPS: &str = "requests/s";
    pub const CPU_PER_REQUEST: &str = "CPU us/request";
    /// The same saturation against a second gateway with `[metrics] enabled = false`.
    pub const RPS_METRICS_OFF: &str = "requests/s, metrics off";
    pub const CPU_PER_REQUEST_METRICS_OFF: &str = "CPU us/request, metrics off";
    /// And against a third writing the usage ledger (`[ledger] file`), metrics on.
    pub const RPS_LEDGER_ON: &str = "requests/s, ledger on";
    pub const CPU_PER_REQUEST_LEDGER_ON: &str = "CPU us/request, ledger on";
    /// Each variant's requests/s over the mean of the main gateway's saturated just before and
    /// just after it in the same round: the machine's speed drifts by a third within minutes,
    /// so measurements farther apart compare the machine as much as the gateways.
    pub const RPS_METRICS_OFF_PAIRED: &str = "requests/s, metrics off, over the gateway beside it";
    pub const RPS_LEDGER_ON_PAIRED: &str = "requests/s, ledger on, over the gateway beside it";
    pub const P50: &str = "latency p50 ms";
    pub const P99: &str = "latency p99 ms";
    pub const TTFT_P50: &str = "first token p50 ms";
    pub const TTFT_P99: &str = "first token p99 ms";
    pub const CHUNKS: &str = "chunks/s";
    pub const CPU_PER_CHUNK: &str = "CPU us/chunk";
    pub const OVERHEAD_P50: &str = "overhead header p50 ms";
    pub const OVERHEAD_P99: &str = "overhead header p99 ms";
    pub const FRAMED_CHUNKS: &str = "framed chunks/s, 32 streams";
    pub const FRAMED_CPU_PER_CHUNK: &str = "framed CPU us/chunk, 32 streams";
    pub const FRAMED_CROWD_CHUNKS: &str = "framed chunks/s, 1000 streams";
    pub const FRAMED_CROWD_CPU_PER_CHUNK: &str = "framed CPU us/chunk, 1000 streams";
    /// The framed case's streams through the gateway's translating surfaces (the gateway only):
    /// events read per second, and the gateway's CPU per event.
    pub const MESSAGES_EVENTS: &str = "translated events/s, Messages API";
    pub const MESSAGES_CPU_PER_EVENT: &str = "translated CPU us/event, Messages API";
    pub const RESPONSES_EVENTS: &str = "translated events/s, Responses API";
    pub const RESPONSES_CPU_PER_EVENT: &str = "translated CPU us/event, Responses API";
    pub const LAG_P50: &str = "framed write-to-read p50 ms";
    pub const LAG_P99: &str = "framed write-to-read p99 ms";
    /// The same, for the events after each stream's opening ones (`load::OPENING`).
    pub const LATER_LAG_P50: &str = "framed write-to-read after the first token p50 ms";
    pub const LATER_LAG_P99: &str = "framed write-to-read after the first token p99 ms";
}

/// The fixed rate of the latency case, and of the first-token case.
pub const RATE: f64 = 1000.0;
pub const STREAM_RATE: f64 = 200.0;
pub const CONNS: usize = 32;
/// First token at once, then three more 10 ms apart.
pub const TTFT_PROFILE: Profile = Profile::new(4, 10);
/// A long answer, as fast as it can go.
pub const RELAY_PROFILE: Profile = Profile::new(200, 0);
/// The relay's answer with every event its own frame and write, as providers send them.
pub const FRAMED_PROFILE: Profile = RELAY_PROFILE.with(Fault::Framed);
/// Streams at once in the second framed case: the events of many wait in buffers together.
pub const FRAMED_CROWD: usize = 1_000;
/// Framed at a token's pace: 50 tokens 20 ms apart (a fast model's 50 a second), a second long.
pub const PACED_PROFILE: Profile = Profile::new(50, 20).with(Fault::Framed);
/// Streams at once at that pace: about 3,400 events a second, a moderate load for either proxy
/// (the relay cases push a few hundred thousand).
pub const PACED_STREAMS: usize = 64;
/// A slow answer: 50 ms between chunks, 10 s in all, long enough for 10,000 to be open at once.
pub const SLOW_PROFILE: Profile = Profile::new(200, 50);
/// Streams of a crowd being opened at once (connect, request, wait for the head).
pub const OPENING: usize = 512;
/// Streams per HTTP/2 connection in a crowd too big for one connection per stream.
pub const H2_STREAMS: u32 = 100;
/// The most file descriptors a proxy may hold here (the hard limit) bounds HTTP/1.1 crowds: each
/// stream costs a proxy two.
pub const H1_CROWD_LIMIT: u32 = 5_000;

pub fn run(options: &Options) -> Result<Results> {
    let started = std::time::Instant::now();
    let dir = procs::scratch()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Results {
        binary_bytes: std::fs::metadata(&options.gateway)
            .map_err(|e| format!("{}: {e}", options.gateway.display()))?
            .len(),
        ..Results::default()
    };

    // The per-event framing cases run after the others, on fresh processes: 1,000 framed
    // streams leave a thousand pooled connections in each proxy and in the upstream, which made
    // every later round's other cases slower (all three targets, the gateway most).
    let (framing, classic): (Vec<Case>, Vec<Case>) = options
        .cases
        .iter()
        .partition(|case| Case::FRAMING.contains(case));
    for (phase, cases) in [(0, classic), (1, framing)] {
        if cases.is_empty() {
            continue;
        }
        let phase_options = Options {
            cases,
            ..options.clone()
        };
        let upstream = procs::upstream()?;
        let (gateway, _) = procs::gateway(&options.gateway, &dir, upstream.addr)?;
        if phase == 0 {
            results.idle_rss_kib = procs::status_kib(&gateway.pids(), "VmRSS");
        }
        let (nginx, _) = procs::nginx(&options.nginx, &dir, upstream.addr)?;
        // What counting metrics and writing the ledger cost: the saturation case also runs
        // against a gateway that counts nothing and one that writes a ledger, idle the rest of
        // the time.
        let mut variants = Vec::new();
        if phase == 0 {
            let ledger = dir.join("ledger.jsonl");
            for (settings, label, rps, cpu, paired) in [
                (
                    "[metrics]\nenabled = false".to_owned(),
                    "metrics off",
                    figure::RPS_METRICS_OFF,
                    figure::CPU_PER_REQUEST_METRICS_OFF,
                    figure::RPS_METRICS_OFF_PAIRED,
                ),
                (
                    format!(
                        "[ledger]\nfile = \"{}\"\nmax_bytes = \"1GiB\"",
                        ledger.display()
                    ),
                    "ledger on",
                    figure::RPS_LEDGER_ON,
                    figure::CPU_PER_REQUEST_LEDGER_ON,
                    figure::RPS_LEDGER_ON_PAIRED,
                ),
            ] {
                let (proc, _) =
                    procs::gateway_variant(&options.gateway, &dir, upstream.addr, &settings)?;
                variants.push(Variant {
                    proc,
                    label,
                    rps,
                    cpu,
                    paired,
                });
            }
        }
        rounds(
            &runtime,
            &phase_options,
            upstream.addr,
            (&gateway, &variants),
            &nginx,
            &mut results,
        );
        if phase == 0 {
            // Long enough for every connection the rounds opened to have been dropped or gone
            // idle, as after a burst of traffic.
            std::thread::sleep(std::time::Duration::from_secs(2));
            results.after_load_rss_kib = Some((
                procs::status_kib(&gateway.pids(), "VmRSS"),
                procs::status_kib(&nginx.pids(), "VmRSS"),
            ));
        }
    }
    let upstream = procs::upstream()?;

    let crowds = if options.runs(Case::Crowds) {
        &options.crowds[..]
    } else {
        &[]
    };
    for &streams in crowds {
        for via in [Via::Nginx, Via::Gateway] {
            let http2 = streams > H1_CROWD_LIMIT;
            let (proc, addr) = match via {
                Via::Nginx => {
                    let (proc, h2) = procs::nginx(&options.nginx, &dir, upstream.addr)?;
                    let addr = if http2 { h2 } else { proc.addr };
                    (proc, addr)
                }
                _ => {
                    let (proc, _) = procs::gateway(&options.gateway, &dir, upstream.addr)?;
                    let addr = proc.addr;
                    (proc, addr)
                }
            };
            let crowd = runtime.block_on(load::crowd(
                &target(via, addr),
                SLOW_PROFILE,
                streams,
                OPENING,
                http2.then_some(H2_STREAMS),
            ));
            let peak_rss_kib = procs::status_kib(&proc.pids(), "VmHWM");
            eprintln!(
                "  {:<10} {streams} slow streams{}: {} intact, {} broken, {} open at once, peak RSS {:.1} MiB, {:.1} s",
                via.name(),
                if http2 { " over HTTP/2" } else { "" },
                crowd.intact,
                crowd.broken,
                crowd.peak_open,
                peak_rss_kib as f64 / 1024.0,
                crowd.elapsed.as_secs_f64()
            );
            if let Some(error) = &crowd.first_error {
                results.fail(format!("{} with {streams} streams: {error}", via.name()));
            }
            if crowd.peak_open < streams {
                results.fail(format!(
                    "{} with {streams} streams: only {} were open at once",
                    via.name(),
                    crowd.peak_open
                ));
            }
            results.crowds.push(CrowdResult {
                via,
                streams,
                http2,
                crowd,
                peak_rss_kib,
            });
        }
    }

    let cold_starts = if options.runs(Case::ColdStart) { 5 } else { 0 };
    for _ in 0..cold_starts {
        let (_gateway, ready) = procs::gateway(&options.gateway, &dir, upstream.addr)?;
        results.cold_starts_ms.push(ready.as_secs_f64() * 1e3);
    }
    drop(upstream);
    let _ = std::fs::remove_dir_all(&dir);
    results.seconds = started.elapsed().as_secs_f64();
    Ok(results)
}

/// A second gateway configured otherwise, saturated beside the first: what a feature costs.
struct Variant {
    proc: Proc,
    /// What is different, as printed.
    label: &'static str,
    rps: &'static str,
    cpu: &'static str,
    /// Its requests/s over the main gateway's measured just before and after it.
    paired: &'static str,
}

/// The repeated cases, each against every target in turn, the order rotating by round.
fn rounds(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    upstream: SocketAddr,
    (gateway, variants): (&Proc, &[Variant]),
    nginx: &Proc,
    results: &mut Results,
) {
    let procs_of = |via: Via| -> Option<&Proc> {
        match via {
            Via::Direct => None,
            Via::Nginx => Some(nginx),
            Via::Gateway => Some(gateway),
        }
    };
    let variant_targets: Vec<Target> = variants
        .iter()
        .map(|variant| target(Via::Gateway, variant.proc.addr))
        .collect();
    let target = |via: Via| target(via, procs_of(via).map_or(upstream, |p| p.addr));

    for round in 0..options.rounds {
        let mut order = Via::ALL;
        order.rotate_left(round % Via::ALL.len());
        // The targets in this round's order; none for a case not run.
        let in_order = |case: Case| {
            let runs = options.runs(case);
            order.into_iter().filter(move |_| runs)
        };
        eprintln!("round {} of {}", round + 1, options.rounds);
        for via in in_order(Case::Saturation) {
            let pids = procs_of(via).map(Proc::pids).unwrap_or_default();
            let (totals, ticks) =
                runtime.block_on(saturate(&target(via), Shot::Json, options, &pids));
            eprintln!("  {:<10} json     {:>9.0} req/s", via.name(), totals.rps);
            if let Some(error) = totals.error {
                results.fail(format!("{} saturation: {error}", via.name()));
            }
            results.add(figure::RPS, via, totals.rps);
            if via != Via::Direct && totals.count > 0 {
                results.add(figure::CPU_PER_REQUEST, via, ticks / totals.count as f64);
            }
        }
        // The main gateway saturated again before the first variant and after each one, so
        // every variant sits between two of its measurements: their mean cancels the machine's
        // drift, and whatever favours a measurement's place in a row.
        let main = |label: &str| {
            let (main, _) =
                runtime.block_on(saturate(&target(Via::Gateway), Shot::Json, options, &[]));
            eprintln!(
                "  {:<10} json     {:>9.0} req/s ({label})",
                "switchyard", main.rps
            );
            main.rps
        };
        let variants = variants.iter().zip(&variant_targets);
        let mut before = None;
        for (variant, variant_target) in variants.filter(|_| options.runs(Case::Saturation)) {
            let before_rps = *before.get_or_insert_with(|| main("beside the variants"));
            let (totals, ticks) = runtime.block_on(saturate(
                variant_target,
                Shot::Json,
                options,
                &variant.proc.pids(),
            ));
            eprintln!(
                "  {:<10} json     {:>9.0} req/s ({})",
                "switchyard", totals.rps, variant.label
            );
            let after_rps = main("beside the variants");
            before = Some(after_rps);
            if let Some(error) = totals.error {
                results.fail(format!(
                    "switchyard ({}) saturation: {error}",
                    variant.label
                ));
            }
            results.add(variant.rps, Via::Gateway, totals.rps);
            let beside = (before_rps + after_rps) / 2.0;
            if beside > 0.0 {
                results.add(variant.paired, Via::Gateway, totals.rps / beside);
            }
            if totals.count > 0 {
                results.add(variant.cpu, Via::Gateway, ticks / totals.count as f64);
            }
        }
        for via in in_order(Case::FixedRate) {
            let outcomes = runtime.block_on(load::paced(
                &target(via),
                Shot::Json,
                RATE,
                CONNS,
                options.warmup,
                options.window,
            ));
            let summary = summarize(&outcomes, |o| Some(o.latency));
            eprintln!(
                "  {:<10} paced    p50 {:.3} ms  p99 {:.3} ms",
                via.name(),
                summary.p50,
                summary.p99
            );
            if let Some(error) = summary.error {
                results.fail(format!("{} at {RATE}/s: {error}", via.name()));
            }
            results.add(figure::P50, via, summary.p50);
            results.add(figure::P99, via, summary.p99);
            if via == Via::Gateway {
                let mut overhead: Vec<f64> =
                    outcomes.iter().filter_map(|o| o.overhead_ms).collect();
                if overhead.len() < outcomes.len() {
                    results.fail("responses without x-switchyard-overhead-ms".into());
                }
                overhead.sort_by(f64::total_cmp);
                results.add(figure::OVERHEAD_P50, via, percentile(&overhead, 0.50));
                results.add(figure::OVERHEAD_P99, via, percentile(&overhead, 0.99));
            }
        }
        for via in in_order(Case::FirstToken) {
            let outcomes = runtime.block_on(load::paced(
                &target(via),
                Shot::Stream(TTFT_PROFILE),
                STREAM_RATE,
                CONNS,
                options.warmup,
                options.window,
            ));
            let summary = summarize(&outcomes, |o| o.first_token);
            eprintln!(
                "  {:<10} ttft     p50 {:.3} ms  p99 {:.3} ms",
                via.name(),
                summary.p50,
                summary.p99
            );
            if let Some(error) = summary.error {
                results.fail(format!(
                    "{} streams at {STREAM_RATE}/s: {error}",
                    via.name()
                ));
            }
            results.add(figure::TTFT_P50, via, summary.p50);
            results.add(figure::TTFT_P99, via, summary.p99);
        }
        for via in in_order(Case::Relay) {
            let pids = procs_of(via).map(Proc::pids).unwrap_or_default();
            let (totals, ticks) = runtime.block_on(saturate(
                &target(via),
                Shot::Stream(RELAY_PROFILE),
                options,
                &pids,
            ));
            let chunks_per_s = totals.events_per_s;
            eprintln!(
                "  {:<10} relay    {:>9.0} chunks/s",
                via.name(),
                chunks_per_s
            );
            if let Some(error) = totals.error {
                results.fail(format!("{} relay: {error}", via.name()));
            }
            results.add(figure::CHUNKS, via, chunks_per_s);
            if via != Via::Direct && totals.events > 0 {
                results.add(figure::CPU_PER_CHUNK, via, ticks / totals.events as f64);
            }
        }
        let framed = [
            (
                Case::Framed,
                CONNS,
                figure::FRAMED_CHUNKS,
                figure::FRAMED_CPU_PER_CHUNK,
            ),
            (
                Case::FramedCrowd,
                FRAMED_CROWD,
                figure::FRAMED_CROWD_CHUNKS,
                figure::FRAMED_CROWD_CPU_PER_CHUNK,
            ),
        ];
        for (case, streams, chunks_figure, cpu_figure) in framed {
            for via in in_order(case) {
                let pids = procs_of(via).map(Proc::pids).unwrap_or_default();
                let (relay, cpu_us) = runtime.block_on(relay(
                    &target(via),
                    FRAMED_PROFILE,
                    streams,
                    false,
                    options,
                    &pids,
                ));
                let chunks_per_s = relay.events as f64 / options.window.as_secs_f64();
                let cpu_per_chunk = cpu_us / relay.events as f64;
                eprintln!(
                    "  {:<10} {:<12} {:>9.0} chunks/s{}",
                    via.name(),
                    case.name(),
                    chunks_per_s,
                    if via == Via::Direct {
                        String::new()
                    } else {
                        format!("  {cpu_per_chunk:.3} us/chunk")
                    }
                );
                if relay.errors > 0 {
                    results.fail(format!(
                        "{} {}: {} of {} streams broken, the first: {}",
                        via.name(),
                        case.name(),
                        relay.errors,
                        relay.errors + relay.streams,
                        relay.first_error.unwrap_or_default()
                    ));
                }
                results.add(chunks_figure, via, chunks_per_s);
                if via != Via::Direct && relay.events > 0 {
                    results.add(cpu_figure, via, cpu_per_chunk);
                }
            }
            // The same streams through the translating surfaces, before a thousand streams
            // leave their pooled connections behind.
            if case == Case::Framed && options.runs(Case::Translated) {
                translated(runtime, &target(Via::Gateway), gateway, options, results);
            }
        }
        for via in in_order(Case::FramedPaced) {
            let (relay, _) = runtime.block_on(relay(
                &target(via),
                PACED_PROFILE,
                PACED_STREAMS,
                true,
                options,
                &[],
            ));
            let mut lags = relay.lags_ms;
            lags.sort_by(f64::total_cmp);
            let (p50, p99) = (percentile(&lags, 0.50), percentile(&lags, 0.99));
            let mut later = relay.later_lags_ms;
            later.sort_by(f64::total_cmp);
            let (later_p50, later_p99) = (percentile(&later, 0.50), percentile(&later, 0.99));
            eprintln!(
                "  {:<10} {:<12} p50 {p50:.3} ms  p99 {p99:.3} ms; after the first token p50 {later_p50:.3} ms  p99 {later_p99:.3} ms  ({:.0} chunks/s, {} timed)",
                via.name(),
                Case::FramedPaced.name(),
                relay.events as f64 / options.window.as_secs_f64(),
                lags.len()
            );
            if relay.errors > 0 || lags.is_empty() {
                results.fail(format!(
                    "{} {}: {} of {} streams broken, the first: {}; {} chunks timed",
                    via.name(),
                    Case::FramedPaced.name(),
                    relay.errors,
                    relay.errors + relay.streams,
                    relay.first_error.unwrap_or_default(),
                    lags.len()
                ));
            }
            results.add(figure::LAG_P50, via, p50);
            results.add(figure::LAG_P99, via, p99);
            results.add(figure::LATER_LAG_P50, via, later_p50);
            results.add(figure::LATER_LAG_P99, via, later_p99);
        }
    }
}

/// The framed case's streams through each translating surface of the gateway: the Messages
/// API and the Responses API, answered by its OpenAI-kind provider's chat stream. Neither the
/// upstream nor nginx speaks them; the report sets these beside the chat stream's figures.
fn translated(
    runtime: &tokio::runtime::Runtime,
    gateway_target: &Target,
    gateway: &Proc,
    options: &Options,
    results: &mut Results,
) {
    for (surface, events_figure, cpu_figure) in [
        (
            Surface::Messages,
            figure::MESSAGES_EVENTS,
            figure::MESSAGES_CPU_PER_EVENT,
        ),
        (
            Surface::Responses,
            figure::RESPONSES_EVENTS,
            figure::RESPONSES_CPU_PER_EVENT,
        ),
    ] {
        let target = Target {
            surface,
            ..gateway_target.clone()
        };
        let (relay, cpu_us) = runtime.block_on(relay(
            &target,
            FRAMED_PROFILE,
            CONNS,
            false,
            options,
            &gateway.pids(),
        ));
        let events_per_s = relay.events as f64 / options.window.as_secs_f64();
        let cpu_per_event = cpu_us / relay.events as f64;
        eprintln!(
            "  {:<10} {:<12} {:>9.0} events/s  {cpu_per_event:.3} us/event",
            Via::Gateway.name(),
            surface.name(),
            events_per_s,
        );
        if relay.errors > 0 {
            results.fail(format!(
                "{} {} ({}): {} of {} streams broken, the first: {}",
                Via::Gateway.name(),
                Case::Translated.name(),
                surface.name(),
                relay.errors,
                relay.errors + relay.streams,
                relay.first_error.unwrap_or_default()
            ));
        }
        results.add(events_figure, Via::Gateway, events_per_s);
        if relay.events > 0 {
            results.add(cpu_figure, Via::Gateway, cpu_per_event);
        }
    }
}

/// `streams` framed streams at once, each connection starting the next as the last ends, counted
/// by arrival in the window (with `lags`, each stamped chunk timed from its write); also the CPU
/// the proxy (`pids`) spent in the window, in microseconds. Connections start a tick's share
/// apart, so that paced streams do not all tick together.
async fn relay(
    target: &Target,
    profile: Profile,
    streams: usize,
    lags: bool,
    options: &Options,
    pids: &[u32],
) -> (load::Relay, f64) {
    let from = Instant::now() + options.warmup;
    let until = from + options.window;
    let window = load::Window { from, until, lags };
    let cpu = cpu_between(pids, from, until);
    let stagger = profile.delay / streams as u32;
    tokio::join!(
        load::relay(target, profile, streams, stagger, OPENING, window),
        cpu
    )
}

/// The CPU time `pids` spend between two instants, in microseconds.
async fn cpu_between(pids: &[u32], from: Instant, until: Instant) -> f64 {
    tokio::time::sleep_until(from).await;
    let before = procs::cpu_ticks(pids);
    tokio::time::sleep_until(until).await;
    let after = procs::cpu_ticks(pids);
    (after - before) as f64 / procs::ticks_per_second() * 1e6
}

pub fn target(via: Via, addr: SocketAddr) -> Target {
    match via {
        Via::Gateway => Target {
            addr,
            model_prefix: "bench/",
            key: Some(procs::GATEWAY_KEY),
            surface: Surface::Chat,
        },
        _ => Target {
            addr,
            model_prefix: "",
            key: None,
            surface: Surface::Chat,
        },
    }
}

struct Saturation {
    rps: f64,
    events_per_s: f64,
    count: u64,
    events: u64,
    error: Option<String>,
}

/// A closed-loop run; also the CPU the proxy (`pids`) spent in the window, in microseconds.
async fn saturate(
    target: &Target,
    shot: Shot,
    options: &Options,
    pids: &[u32],
) -> (Saturation, f64) {
    let from = Instant::now() + options.warmup;
    let until = from + options.window;
    let cpu = cpu_between(pids, from, until);
    let (totals, cpu_us) = tokio::join!(load::closed(target, shot, CONNS, from, until), cpu);
    let seconds = options.window.as_secs_f64();
    let error = (totals.errors > 0).then(|| {
        format!(
            "{} errors, the first: {}",
            totals.errors,
            totals.first_error.unwrap_or_default()
        )
    });
    (
        Saturation {
            rps: totals.requests as f64 / seconds,
            events_per_s: totals.events as f64 / seconds,
            count: totals.requests,
            events: totals.events,
            error,
        },
        cpu_us,
    )
}

struct Summary {
    p50: f64,
    p99: f64,
    error: Option<String>,
}

/// p50 and p99 in milliseconds of `measure` over the outcomes that succeeded.
fn summarize(
    outcomes: &[load::Outcome],
    measure: impl Fn(&load::Outcome) -> Option<Duration>,
) -> Summary {
    let mut values: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.ok)
        .filter_map(&measure)
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    values.sort_by(f64::total_cmp);
    let failed: Vec<&load::Outcome> = outcomes.iter().filter(|o| !o.ok).collect();
    let error = match (outcomes.len(), failed.first()) {
        (0, _) => Some("no requests were sent".to_owned()),
        (_, Some(first)) => Some(format!(
            "{} of {} failed, the first: {}",
            failed.len(),
            outcomes.len(),
            first.error.clone().unwrap_or_default()
        )),
        _ => None,
    };
    Summary {
        p50: percentile(&values, 0.50),
        p99: percentile(&values, 0.99),
        error,
    }
}

/// The nearest-rank percentile of sorted values (NaN when there are none).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
