//! The command line: `switchyard [serve] [--config FILE] [--listen ADDR]`, `switchyard check`,
//! `switchyard health`, `switchyard usage`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ledger::usage::By;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An OpenAI-compatible LLM gateway"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gateway (the default).
    Serve(ServeArgs),
    /// Validate a config file, print what it would serve, and exit non-zero if it is wrong.
    Check(CheckArgs),
    /// Probe a running gateway's /health (for container health checks: no curl needed).
    Health(HealthArgs),
    /// Sum a usage ledger ([ledger] file) by gateway key, target or model: who spent what.
    Usage(UsageArgs),
}

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// The ledger file; its rotated files (FILE.1, FILE.2, ...) are read too.
    #[arg(long)]
    pub ledger: PathBuf,
    /// Only the attempts of this recent past: "24h", "7days", "30m".
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// What to sum by.
    #[arg(long, value_enum, default_value = "key")]
    pub by: By,
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The health endpoint to probe.
    #[arg(long, default_value = "http://127.0.0.1:8080/health")]
    pub url: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Config file (TOML). Without one: the built-in providers enabled by their API-key variables, and echo.
    #[arg(long, short, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; overrides [server] listen.
    #[arg(long, env = "SWITCHYARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Config file (TOML) to check.
    #[arg(long, short, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
}
