//! The switchyard binary as a process: started with nothing from the machine's environment,
//! spoken to over raw TCP, and stopped with signals.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// `program` with an empty environment but for PATH, so nothing set on the machine that runs
/// the tests configures the gateway.
pub fn command(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

pub fn switchyard() -> Command {
    command(BIN)
}

/// `switchyard SUBCOMMAND --config CONFIG`.
pub fn with_config(subcommand: &str, config: &Path) -> Command {
    let mut command = switchyard();
    command.args([subcommand, "--config"]).arg(config);
    command
}

/// The stdout of a run that must have succeeded.
pub fn stdout_of_success(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    stdout
}

/// The stderr of a run that must have failed.
pub fn stderr_of_failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "succeeded: {stderr}");
    stderr
}

/// A loopback port nothing listens on (as long as nobody takes it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a config file in a folder of this test binary's own.
pub fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// An HTTP/1.1 request that asks the server to close the connection after answering.
pub fn raw_request(method: &str, path: &str, body: Option<&str>) -> String {
    let head = format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
    match body {
        None => format!("{head}\r\n"),
        Some(body) => format!(
            "{head}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ),
    }
}

/// Sends `request` on a fresh connection to `port` and reads the answer until the server
/// closes (or 5 s pass with nothing to read). None if nothing listens.
pub fn send_raw(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    Some(answer)
}

/// `send_raw` on the first connection a server starting up on `port` accepts within `within`.
pub fn send_raw_once_up(port: u16, request: &str, within: Duration) -> Option<String> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Some(answer) = send_raw(port, request) {
            return Some(answer);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Whether a server on `port` takes connections, waiting for it up to `within`.
pub fn listening_within(port: u16, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends SIGTERM, as a service manager stops the gateway.
pub fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

/// Waits (bounded) for `child` to exit.
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What `child` wrote to its piped stderr.
pub fn stderr_of(child: &mut Child) -> String {
    let mut logs = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr was piped")
        .read_to_string(&mut logs);
    logs
}
