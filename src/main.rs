use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use switchyard::cli::{Cli, Command, ServeArgs, UsageArgs};
use switchyard::config::{Config, process_env};
use switchyard::state::AppState;
use switchyard::{server, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "switchyard: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Some(Command::Check(args)) => check(args.config.as_deref()),
            Some(Command::Health(args)) => health(&args.url).await,
            Some(Command::Usage(args)) => usage(&args),
            Some(Command::Serve(args)) => serve(args).await,
            None => serve(cli.serve).await,
        }
    })
}

/// One thread that does everything when the process may use one CPU (a container limited to
/// one, a pinned process): the work-stealing scheduler costs a fifth of the CPU per request
/// there and buys nothing (bench/PROFILE.md). With more CPUs, a worker thread for each.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

async fn serve(args: ServeArgs) -> ExitCode {
    telemetry::init(args.log_format);
    raise_open_file_limit();
    let mut config = match Config::load(args.config.as_deref(), &process_env) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("config error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Err(error) = config.check_exposure() {
        tracing::error!("{error}");
        return ExitCode::FAILURE;
    }
    let listen = config.server.listen;
    let state = match AppState::new(config) {
        Ok(state) => Arc::new(state),
        Err(error) => {
            tracing::error!("cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("cannot listen on {listen}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let providers: Vec<&String> = state.router.provider_names().collect();
    tracing::info!(address = %listener.local_addr().unwrap_or(listen), ?providers, "switchyard listening");
    match server::run(listener, state, server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("server error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: Option<&std::path::Path>) -> ExitCode {
    match Config::load(path, &process_env).and_then(|config| {
        config
            .check_exposure()
            .map_err(|message| switchyard::config::ConfigError {
                file: config.source.as_ref().map_or_else(
                    || "<built-in defaults>".to_owned(),
                    |p| p.display().to_string(),
                ),
                path: "auth".to_owned(),
                message,
            })?;
        Ok(config)
    }) {
        Ok(config) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(switchyard::config::describe(&config).as_bytes());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("config error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(args: &UsageArgs) -> ExitCode {
    match switchyard::ledger::usage::run(&args.ledger, args.since, args.by) {
        Ok(table) => {
            let _ = std::io::stdout().lock().write_all(table.as_bytes());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("usage: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Every open stream holds two sockets (client and provider): the soft limit on open files, often
/// 1,024, would refuse connections long before memory or CPU run out. The hard limit is what the
/// machine allows this process.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit still stops at the kernel's per-process ceiling (nr_open).
    let target = limit.maximum.unwrap_or(1 << 20);
    let Some(current) = limit.current.filter(|&current| current < target) else {
        return;
    };
    let raised = rustix::process::Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    if let Err(error) = setrlimit(Resource::Nofile, raised) {
        tracing::warn!("cannot raise the open-file limit from {current} to {target}: {error}");
    }
}

/// 0 when the gateway at `url` answers 200 within a few seconds, 1 otherwise.
async fn health(url: &str) -> ExitCode {
    let uri = match reqwest::Url::parse(url) {
        Ok(uri) if uri.scheme() == "http" => uri,
        _ => {
            eprintln!("health: {url} is not an http:// URL");
            return ExitCode::FAILURE;
        }
    };
    // A probe of the gateway on its own host: no proxy from the environment applies.
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(client) => client,
        Err(error) => {
            eprintln!("health: {error}");
            return ExitCode::FAILURE;
        }
    };
    let answer =
        tokio::time::timeout(std::time::Duration::from_secs(3), client.get(uri).send()).await;
    match answer {
        Ok(Ok(response)) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(Ok(response)) => {
            eprintln!("health: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("health: {url} did not answer: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("health: {url} did not answer within 3 s");
            ExitCode::FAILURE
        }
    }
}
