//! `switchyard-bench run`: switchyard against nginx and the upstream direct (bench/run calls it);
//! `switchyard-bench upstream`: the fake OpenAI upstream it starts.

mod check;
mod load;
mod procs;
mod report;
mod run;
mod upstream;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: switchyard-bench run [--quick] [--gateway PATH] [--nginx PATH] [--out PATH]
       switchyard-bench upstream [--listen ADDR]
       switchyard-bench drive --to ADDR [--gateway] [--case json|relay|crowd] [--seconds N] [--streams N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => bench(&args[1..]),
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = upstream::bind(addr).await.map_err(|e| e.to_string())?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{local}");
        upstream::serve(listener).await;
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
    };
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
        other => return Err(format!("--case {other}: json, relay or crowd")),
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
