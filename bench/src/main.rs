//! `switchyard-bench run`: switchyard against nginx and the upstream direct (bench/run calls it);
//! `switchyard-bench soak`: a crowd of streams with faults for minutes (bench/soak calls it);
//! `switchyard-bench upstream`: the fake OpenAI upstream both start.

mod check;
mod load;
mod procs;
mod report;
mod run;
mod soak;
mod upstream;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: switchyard-bench run [--quick] [--cases NAME,..] [--gateway PATH] [--nginx PATH] [--out PATH]
       switchyard-bench soak [--quick] [--streams N] [--minutes M] [--delay-ms D] [--only KIND,..] [--gateway PATH] [--out PATH]
       switchyard-bench upstream [--listen ADDR] [--keep-alive SECS]
       switchyard-bench drive --to ADDR [--gateway] [--case json|relay|framed|crowd] [--seconds N] [--streams N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("upstream") => serve_upstream(&args[1..]),
        Some("drive") => drive(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("switchyard-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The value after `--name`, if given.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn serve_upstream(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = flag(args, "--listen")
        .unwrap_or("127.0.0.1:0")
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let keep_alive = flag(args, "--keep-alive")
        .map(|s| s.parse::<u64>().map_err(|e| format!("--keep-alive: {e}")))
        .transpose()?
        .map(Duration::from_secs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = upstream::bind(addr).await.map_err(|e| e.to_string())?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{local}");
        upstream::serve(listener, keep_alive).await;
        Ok(())
    })
}

fn bench(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let options = run::Options {
        gateway: PathBuf::from(flag(args, "--gateway").unwrap_or("target/release/switchyard")),
        nginx: PathBuf::from(flag(args, "--nginx").unwrap_or("/usr/sbin/nginx")),
        rounds: if quick { 1 } else { 3 },
        warmup: Duration::from_millis(if quick { 500 } else { 1000 }),
        window: Duration::from_millis(if quick { 1500 } else { 4000 }),
        crowds: if quick {
            vec![1_000]
        } else {
            vec![1_000, 10_000]
        },
        cases: match flag(args, "--cases") {
            Some(list) => run::Case::parse_list(list)?,
            None => run::Case::ALL.to_vec(),
        },
    };
    if flag(args, "--out").is_some() && !options.whole() {
        return Err("--out writes a whole run; --cases runs a part of one (it prints only)".into());
    }
    let results = run::run(&options)?;
    let markdown = report::markdown(&results, &options);
    print!("{markdown}");
    if let Some(out) = flag(args, "--out") {
        std::fs::write(out, &markdown).map_err(|e| format!("{out}: {e}"))?;
        eprintln!("wrote {out}");
    }
    if results.failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} failures (listed in the report)",
            results.failures.len()
        ))
    }
}

fn soak(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let number = |name: &str, default: f64| -> Result<f64, String> {
        flag(args, name).map_or(Ok(default), |v| {
            v.parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0)
                .ok_or_else(|| format!("{name} {v}: a positive number"))
        })
    };
    let streams = number("--streams", if quick { 1_000.0 } else { 10_000.0 })? as u32;
    let options = soak::Options {
        gateway: PathBuf::from(flag(args, "--gateway").unwrap_or("target/release/switchyard")),
        streams,
        duration: Duration::from_secs_f64(
            60.0 * number("--minutes", if quick { 1.0 } else { 5.0 })?,
        ),
        delay: match flag(args, "--delay-ms") {
            Some(_) => Duration::from_millis(number("--delay-ms", 50.0)? as u64),
            None => soak::default_delay(streams),
        },
        quick,
        kinds: match flag(args, "--only") {
            None => soak::MIX.iter().map(|(kind, _)| *kind).collect(),
            Some(words) => words
                .split(',')
                .map(|w| soak::Kind::parse(w).ok_or_else(|| format!("--only: no kind {w}")))
                .collect::<Result<_, _>>()?,
        },
    };
    let soak = soak::run(&options)?;
    let markdown = soak::markdown(&soak, &options);
    print!("{markdown}");
    if let Some(out) = flag(args, "--out") {
        std::fs::write(out, &markdown).map_err(|e| format!("{out}: {e}"))?;
        eprintln!("wrote {out}");
    }
    if soak.failures.is_empty() {
        Ok(())
    } else {
        Err(format!("the soak failed: {}", soak.failures.join("; ")))
    }
}

/// Closed-loop load on one address, for profiling a proxy by hand (bench/profile).
fn drive(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = flag(args, "--to")
        .ok_or("--to ADDR is required")?
        .parse()
        .map_err(|e| format!("--to: {e}"))?;
    let seconds: f64 = flag(args, "--seconds")
        .unwrap_or("5")
        .parse()
        .map_err(|e| format!("--seconds: {e}"))?;
    let via = if args.iter().any(|a| a == "--gateway") {
        run::Via::Gateway
    } else {
        run::Via::Direct
    };
    let target = run::target(via, addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let shot = match flag(args, "--case").unwrap_or("json") {
        "json" => load::Shot::Json,
        "relay" => load::Shot::Stream(run::RELAY_PROFILE),
        "framed" => {
            // As the run measures it: counted by arrival, over N streams at once.
            let streams = flag(args, "--streams")
                .unwrap_or("32")
                .parse()
                .map_err(|e| format!("--streams: {e}"))?;
            let relay = runtime.block_on(async {
                let from = tokio::time::Instant::now() + Duration::from_secs(1);
                let until = from + Duration::from_secs_f64(seconds);
                let window = load::Window {
                    from,
                    until,
                    lags: false,
                };
                let profile = run::FRAMED_PROFILE;
                load::relay(
                    &target,
                    profile,
                    streams,
                    Duration::ZERO,
                    run::OPENING,
                    window,
                )
                .await
            });
            println!(
                "{:.0} chunks/s after 1 s of warm-up, {} streams intact, {} broken{}",
                relay.events as f64 / seconds,
                relay.streams,
                relay.errors,
                relay
                    .first_error
                    .map(|e| format!(" (the first: {e})"))
                    .unwrap_or_default()
            );
            return Ok(());
        }
        "crowd" => {
            let streams = flag(args, "--streams")
                .unwrap_or("1000")
                .parse()
                .map_err(|e| format!("--streams: {e}"))?;
            let crowd = runtime.block_on(load::crowd(
                &target,
                run::SLOW_PROFILE,
                streams,
                run::OPENING,
                (streams > run::H1_CROWD_LIMIT).then_some(run::H2_STREAMS),
            ));
            println!("{crowd:?}");
            return Ok(());
        }
        other => return Err(format!("--case {other}: json, relay, framed or crowd")),
    };
    let from = tokio::time::Instant::now();
    let until = from + Duration::from_secs_f64(seconds);
    let totals = runtime.block_on(async {
        let from = tokio::time::Instant::now();
        load::closed(&target, shot, run::CONNS, from, from + (until - from)).await
    });
    println!(
        "{:.0} requests/s, {:.0} chunks/s, {} errors{}",
        totals.requests as f64 / seconds,
        totals.events as f64 / seconds,
        totals.errors,
        totals
            .first_error
            .map(|e| format!(" (the first: {e})"))
            .unwrap_or_default()
    );
    Ok(())
}
