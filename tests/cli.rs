//! The binary itself: `check`, config errors, and serving until SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::*;

/// `GET /health` on a connection of its own.
fn health_request() -> String {
    raw_request("GET", "/health", None)
}

/// `switchyard serve` on 127.0.0.1:`port`, run by `sh -c` after `setup` (a `ulimit`).
fn serve_after(setup: &str, port: u16, stderr: Stdio) -> std::process::Child {
    command("sh")
        .args(["-c", &format!("{setup} && exec {BIN} serve")])
        .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(stderr)
        .spawn()
        .unwrap()
}

#[test]
fn check_prints_what_would_be_served() {
    let path = write_config(
        "good.toml",
        "[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"${LOCAL_KEY}\"\nsend_reasoning_back = true\n[providers.azure]\nkind = \"azure\"\nbase_url = \"https://x.openai.azure.com/openai/v1\"\napi_key = \"k\"\nresponses = \"native\"\n[models.fast]\ntargets = [\"local/llama\"]\n",
    );
    let output = with_config("check", &path)
        .env("LOCAL_KEY", "sk-cli-secret")
        .output()
        .unwrap();
    let stdout = stdout_of_success(&output);
    assert!(stdout.contains("config ok"));
    assert!(
        stdout.contains(
            "local/*  openai-compatible http://127.0.0.1:9/v1  key: set  reasoning sent back\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "azure/*  azure https://x.openai.azure.com/openai/v1  key: set  responses: native\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("fast -> local/llama"));
    assert!(stdout.contains("echo/*"));
    assert!(!stdout.contains("sk-cli-secret"));
}

#[test]
fn check_fails_naming_the_file_and_key_path() {
    let path = write_config("bad.toml", "[models.smart]\ntargets = [\"nowhere/m\"]\n");
    let output = with_config("check", &path).output().unwrap();
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("models.smart.targets.0")
            && stderr.contains("unknown provider 'nowhere'"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_to_start_on_a_bad_config() {
    let path = write_config("bad-serve.toml", "[server]\nlisten = \"not an address\"\n");
    let output = with_config("serve", &path).output().unwrap();
    assert!(stderr_of_failure(&output).contains("server.listen"));
}

#[test]
fn serves_until_sigterm() {
    let port = free_port();
    let mut child = switchyard()
        .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let healthy = send_raw_once_up(port, &health_request(), Duration::from_secs(20))
        .is_some_and(|answer| answer.starts_with("HTTP/1.1 200"));
    let probe = |port: u16| {
        switchyard()
            .args([
                "health",
                "--url",
                &format!("http://127.0.0.1:{port}/health"),
            ])
            .output()
            .unwrap()
    };
    let up = probe(port);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let down = probe(free_port());
    assert!(
        !down.status.success(),
        "a gateway that is not there is not healthy"
    );
    terminate(&child);
    let status = child.wait().unwrap();
    let logs = stderr_of(&mut child);
    assert!(healthy, "GET /health did not answer 200; logs:\n{logs}");
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{logs}");
    assert!(
        logs.contains("switchyard listening") && logs.contains("shutting down"),
        "{logs}"
    );
}

#[test]
fn the_reference_config_checks() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/switchyard.toml");
    let output = switchyard()
        .args(["check", "--config", path])
        .env("GROQ_API_KEY", "gsk-test")
        .env("SWITCHYARD_KEY", "sy-test")
        .env("CI_KEY", "ci-test")
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .env("GEMINI_API_KEY", "gm-test")
        .env("AZURE_OPENAI_API_KEY", "az-test")
        .output()
        .unwrap();
    let stdout = stdout_of_success(&output);
    assert!(
        stdout.contains("fast -> groq/llama-3.3-70b-versatile"),
        "{stdout}"
    );
    assert!(
        stdout.contains("limits: usd_per_day $20, usd_per_month $400"),
        "{stdout}"
    );
}

#[test]
fn the_config_can_come_from_switchyard_config() {
    let path = write_config("env.toml", "[models.demo]\ntargets = [\"echo/demo\"]\n");
    let output = switchyard()
        .arg("check")
        .env("SWITCHYARD_CONFIG", &path)
        .output()
        .unwrap();
    let stdout = stdout_of_success(&output);
    assert!(stdout.contains("demo -> echo/demo"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_cuts_what_outlives_the_grace_period() {
    use common::{FakeUpstream, Reply, opening, read_until, user_stream};

    let upstream = FakeUpstream::start().await;
    let port = free_port();
    let path = write_config(
        "grace.toml",
        &format!(
            "[server]\nshutdown_grace = \"300ms\"\n{}",
            upstream.provider_toml("up")
        ),
    );
    let mut child = with_config("serve", &path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    upstream.push(Reply::stuck_after(opening(&["forever"])));
    let http = reqwest::Client::new();
    let mut response = None;
    for _ in 0..200 {
        match http
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .body(user_stream("up/m", "hi").to_string())
            .send()
            .await
        {
            Ok(r) => {
                response = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut body = response.expect("the gateway answered").bytes_stream();
    read_until(&mut body, "forever").await;

    terminate(&child);
    let status =
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(10)))
            .await
            .unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after the grace period: {status:?}"
    );
    assert!(
        upstream.wait_abandoned(Duration::from_secs(5)).await,
        "the stream cut at exit released its upstream request"
    );
}

/// Every file in config/ passes `switchyard check`, given a value for each variable it reads.
#[test]
fn every_shipped_config_checks() {
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut command = with_config("check", &file);
        for reference in text.split("${").skip(1) {
            let name: String = reference
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            command.env(&name, format!("check-{name}"));
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Pinned to one CPU (a container limited to one, `taskset`), the gateway runs on one thread,
/// and serves as it does on many.
#[test]
fn on_one_cpu_it_serves_from_a_single_thread() {
    let port = free_port();
    let mut child = command("taskset")
        .args(["-c", "0", BIN, "serve"])
        .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .expect("taskset (util-linux) runs");
    let body = r#"{"model":"echo/any","messages":[{"role":"user","content":"one thread"}]}"#;
    let request = raw_request("POST", "/v1/chat/completions", Some(body));
    let answer = send_raw_once_up(port, &request, Duration::from_secs(20)).unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map(|n| n.trim().to_owned());
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("one thread"), "{answer}");
    assert_eq!(threads.as_deref(), Some("1"), "{status}");
}

/// Each stream holds two sockets: the gateway lifts its soft open-file limit to the hard one, so
/// a low default (often 1,024) does not refuse connections near 500 streams.
#[test]
fn serve_raises_the_soft_open_file_limit_to_the_hard_one() {
    let port = free_port();
    let mut child = serve_after("ulimit -Sn 256", port, Stdio::null());
    listening_within(port, Duration::from_secs(20));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| l.split_whitespace().skip(3).take(2).collect())
        .unwrap_or_default();
    assert_eq!(open_files.len(), 2, "{limits}");
    assert_ne!(open_files[0], "256", "the soft limit stayed low:\n{limits}");
    assert_eq!(open_files[0], open_files[1], "{limits}");
}

/// Out of file descriptors, the gateway cannot accept more connections for a while; it must
/// keep serving, and accept again once connections close.
#[test]
fn out_of_file_descriptors_it_keeps_serving() {
    let port = free_port();
    // Hard and soft at 64: the gateway cannot raise it.
    let mut child = serve_after("ulimit -n 64", port, Stdio::piped());
    let health =
        || send_raw(port, &health_request()).map(|answer| answer.starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    while health() != Some(true) && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // More idle connections than the gateway has descriptors for: the kernel completes them,
    // the gateway's accepts fail.
    let hogs: Vec<_> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let alive_while_full = matches!(child.try_wait(), Ok(None));
    drop(hogs);
    let started = Instant::now();
    let mut healthy = false;
    while !healthy && started.elapsed() < Duration::from_secs(10) {
        healthy = health() == Some(true);
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let logs = stderr_of(&mut child);
    assert!(alive_while_full, "the gateway exited:\n{logs}");
    assert!(healthy, "no answer once connections closed:\n{logs}");
    assert!(logs.contains("cannot accept a connection"), "{logs}");
}
