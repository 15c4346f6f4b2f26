//! The processes under test: started pinned to a core, waited on until they answer, read from
//! /proc while they work, and killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, String>;

/// The core the proxy under test runs on; the driver and the upstream share the other.
pub const PROXY_CORE: u32 = 0;
pub const LOAD_CORE: u32 = 1;

/// A started process, killed when dropped.
pub struct Proc {
    child: Child,
    pub addr: SocketAddr,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process and its children (nginx's workers).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid()))
            .unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
        pids
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first, so nginx's master takes its workers with it.
        let _ = Command::new("kill")
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pinned(core: u32, program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(core.to_string()).arg(program);
    command
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// The fake upstream, a copy of this program, on the load core; it prints where it listens.
pub fn upstream() -> Result<Proc> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = pinned(LOAD_CORE, &me)
        .args(["upstream", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the upstream: {e}"))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
    }
    let addr = line
        .trim()
        .parse()
        .map_err(|_| format!("the upstream said {line:?}, not its address"))?;
    let proc = Proc { child, addr };
    wait_ready(addr, "/", Duration::from_secs(10))?;
    Ok(proc)
}

/// switchyard with one client key and one OpenAI-kind provider, `bench`, at the upstream.
pub fn gateway(binary: &Path, dir: &Path, upstream: SocketAddr) -> Result<(Proc, Duration)> {
    let provider = format!(
        r#"[providers.bench]
kind = "openai"
base_url = "http://{upstream}/v1"
api_key = "sk-bench-upstream"
"#
    );
    gateway_with(binary, dir, &provider)
}

/// As `gateway`, with `settings` (TOML tables) before its provider: metrics off, a ledger on.
pub fn gateway_variant(
    binary: &Path,
    dir: &Path,
    upstream: SocketAddr,
    settings: &str,
) -> Result<(Proc, Duration)> {
    let provider = format!(
        r#"{settings}

[providers.bench]
kind = "openai"
base_url = "http://{upstream}/v1"
api_key = "sk-bench-upstream"
"#
    );
    gateway_with(binary, dir, &provider)
}

/// switchyard with one client key and the `providers` given (TOML tables).
pub fn gateway_with(binary: &Path, dir: &Path, providers: &str) -> Result<(Proc, Duration)> {
    let port = free_port()?;
    let config = dir.join(format!("switchyard-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"

[auth]
keys = ["{key}"]

{providers}"#,
            key = GATEWAY_KEY
        ),
    )
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let proc = on_proxy_core(
        binary,
        &["serve".as_ref(), "--config".as_ref(), config.as_ref()],
        port,
    )?;
    wait_ready(proc.addr, "/health", Duration::from_secs(20))?;
    Ok((proc, started.elapsed()))
}

pub const GATEWAY_KEY: &str = "sk-bench-client";

/// nginx as a plain reverse proxy: one worker, keep-alive to the upstream, no buffering (so
/// events go on as they come), its access log on, as by default. It also listens for cleartext
/// HTTP/2 on the second address returned.
pub fn nginx(binary: &Path, dir: &Path, upstream: SocketAddr) -> Result<(Proc, SocketAddr)> {
    let port = free_port()?;
    let h2_port = free_port()?;
    let prefix = dir.join(format!("nginx-{port}"));
    std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
    let p = prefix.display();
    let user = if is_root() { "user root;" } else { "" };
    let conf = format!(
        r#"{user}
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 19000; }}
http {{
  # One line per request, as switchyard logs one; both go nowhere, so disks stay out of it.
  access_log /dev/null;
  client_body_temp_path {p}/body;
  proxy_temp_path {p}/proxy;
  fastcgi_temp_path {p}/fastcgi;
  uwsgi_temp_path {p}/uwsgi;
  scgi_temp_path {p}/scgi;
  keepalive_requests 1000000;
  upstream bench {{ server {upstream}; keepalive 1024; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{h2_port} http2;
    location / {{
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"#
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let proc = on_proxy_core(
        binary,
        &[
            "-p".as_ref(),
            prefix.as_ref(),
            "-c".as_ref(),
            conf_path.as_ref(),
        ],
        port,
    )?;
    wait_ready(proc.addr, "/", Duration::from_secs(10))
        .map_err(|e| format!("{e} (see {p}/error.log)"))?;
    Ok((proc, SocketAddr::from(([127, 0, 0, 1], h2_port))))
}

/// `binary args` alone on the proxy core, to serve on `port`. Its output is discarded: both
/// proxies log a line per request, as in production, to where it costs no disk.
fn on_proxy_core(binary: &Path, args: &[&OsStr], port: u16) -> Result<Proc> {
    let child = pinned(PROXY_CORE, binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    Ok(Proc {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        == Some("0")
}

/// Polls `GET path` until it answers 200.
pub fn wait_ready(addr: SocketAddr, path: &str, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if get_ok(addr, path) {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(format!("{addr} did not answer GET {path} within {limit:?}"))
}

fn get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut tcp) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if tcp.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// CPU time (user + system) of `pids`, in clock ticks.
pub fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name (which may hold spaces): state is field 3, utime
            // and stime are 14 and 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// Clock ticks per second for `cpu_ticks`.
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A /proc/PID/status figure (`VmHWM`, `VmRSS`) summed over `pids`, in KiB.
pub fn status_kib(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

/// How many file descriptors `pid` holds open.
pub fn open_fds(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.count() as u64)
}

/// The answer to `GET path`, read to its end (for small answers on `Connection: close`).
pub fn get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer)
        .map_err(|e| format!("{addr}: {e}"))?;
    let (_, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: no HTTP answer"))?;
    Ok(body.to_owned())
}

/// A fresh directory for configs and nginx's files.
pub fn scratch() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}
