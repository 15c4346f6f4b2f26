//! Fault injection: a fake upstream that resets, stalls, trickles, and sends oversized or
//! invalid events on command, and fake clients that stall, trickle and vanish. Each case is a
//! way a broken provider or a hostile client once bent the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;

use common::*;

fn send(text: impl Into<String>) -> Step {
    Step::Send(Bytes::from(text.into()))
}

/// The error object of the last event of a stream that failed after its first output.
fn last_error(body: &SseBody) -> Value {
    let last: Value = serde_json::from_str(body.data.last().expect("an event")).unwrap();
    assert!(
        last["error"].is_object(),
        "ends with an error: {}",
        body.raw
    );
    assert_eq!(
        body.done_count(),
        0,
        "no [DONE] after an error: {}",
        body.raw
    );
    last["error"].clone()
}

async fn stream(gateway: &Gateway, model: &str) -> reqwest::Response {
    gateway
        .chat_json(&user_stream(model, "hi"))
        .send()
        .await
        .unwrap()
}

/// An openai-kind and an azure-kind provider in front of one fake upstream.
async fn openai_and_azure() -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "{}[providers.az]\nkind = \"azure\"\nbase_url = \"{}\"\napi_key = \"azure-secret-key-1\"\n",
        upstream.provider_toml("up"),
        upstream.base_url
    );
    let gateway = gateway(&toml).await;
    (upstream, gateway)
}

#[tokio::test]
async fn a_provider_key_echoed_in_a_non_json_event_never_reaches_the_client() {
    let (upstream, gateway) = openai_and_azure().await;
    for (model, key) in [
        ("up/m", "sk-upstream-secret-up"),
        ("az/deployment", "azure-secret-key-1"),
    ] {
        // Before any output: the 502's body.
        upstream.push(Reply::sse(format!(
            "data: proxy echo: Authorization: Bearer {key}\n\n"
        )));
        let response = stream(&gateway, model).await;
        assert_eq!(response.status(), 502, "{model}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(key), "{model}: key in the 502: {body}");
        assert!(body.contains("[redacted]"), "{model}: {body}");

        // After output: the error event.
        upstream.push(Reply::sse(format!(
            "{}{}data: <html>{key}</html>\n\n",
            content_chunk(None),
            content_chunk(Some("Hi"))
        )));
        let body = read_sse(stream(&gateway, model).await).await;
        assert!(
            !body.raw.contains(key),
            "{model}: key in the stream: {}",
            body.raw
        );
        let error = last_error(&body);
        assert!(
            error["message"].as_str().unwrap().contains("[redacted]"),
            "{model}: {error}"
        );

        // A key longer than the quoted preview, cut where the preview ends, leaks no part of it.
        let padding = "x".repeat(100);
        upstream.push(Reply::sse(format!("data: {padding}{key}{key}\n\n")));
        let body = stream(&gateway, model).await.text().await.unwrap();
        assert!(
            !body.contains(&key[..8]),
            "{model}: part of the key: {body}"
        );
    }
}

#[tokio::test]
async fn a_key_echoed_in_a_whole_answer_that_cannot_be_read_is_redacted() {
    let (upstream, gateway) = openai_and_azure().await;
    for (model, key) in [
        ("up/m", "sk-upstream-secret-up"),
        ("az/deployment", "azure-secret-key-1"),
    ] {
        upstream.push(Reply::json(format!("<html>bad gateway for {key}</html>")));
        let response = gateway.chat_json(&user(model, "hi")).send().await.unwrap();
        assert_eq!(response.status(), 502, "{model}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(key), "{model}: {body}");
    }
}

#[tokio::test]
async fn an_event_over_the_size_limit_fails_the_stream_cleanly() {
    let (upstream, gateway) = gateway_with_upstream("max_event_size = \"64KiB\"\n").await;
    let endless = "x".repeat(256 << 10);
    // Before any output: a 502, and the upstream connection is dropped.
    upstream.push(Reply::Sse {
        steps: vec![send(format!("data: {endless}"))],
        end: End::Hang,
    });
    let response = stream(&gateway, "up/m").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes"),
        "{body}"
    );
    assert!(upstream.wait_abandoned(Duration::from_secs(5)).await);

    // After output: an error event, no [DONE].
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("Hi"))),
            send(format!("data: {endless}")),
        ],
        end: End::Hang,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(last_error(&body)["code"], "upstream_error");

    // Events under the limit pass, however many.
    let big = "y".repeat(60 << 10);
    upstream.push(Reply::sse(format!(
        "{}{}{}{}",
        content_chunk(None),
        content_chunk(Some(&big)),
        content_chunk(Some(&big)),
        finish_chunk("stop")
    )));
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text().len(), 2 * big.len());
    assert_eq!(body.done_count(), 1);
}

#[tokio::test]
async fn a_trickling_upstream_is_alive_however_slow_its_bytes() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"400ms\"\n").await;
    // The last two events take about 2 s to arrive, a byte every 5 ms: never 400 ms without one.
    let mut steps = vec![send(content_chunk(None)), send(content_chunk(Some("Hi")))];
    let last = format!("{}{}", content_chunk(Some(" there")), finish_chunk("stop"));
    for byte in last.into_bytes() {
        steps.push(Step::Sleep(Duration::from_millis(5)));
        steps.push(Step::Send(Bytes::from(vec![byte])));
    }
    upstream.push(Reply::Sse {
        steps,
        end: End::Close,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "Hi there", "{}", body.raw);
    assert_eq!(body.done_count(), 1);

    // A byte every 500 ms is silence longer than the deadline: the stream fails.
    let mut steps = vec![send(content_chunk(None)), send(content_chunk(Some("Hi")))];
    for byte in b"data: {" {
        steps.push(Step::Sleep(Duration::from_millis(500)));
        steps.push(Step::Send(Bytes::from(vec![*byte])));
    }
    upstream.push(Reply::Sse {
        steps,
        end: End::Hang,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(last_error(&body)["code"], "upstream_timeout");
}

#[tokio::test]
async fn an_upstream_reset_mid_stream_is_an_error_event() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("Hi"))),
            // Lets the bytes out before the abort, which would otherwise discard them.
            Step::Sleep(Duration::from_millis(100)),
        ],
        end: End::Reset,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(last_error(&body)["code"], "upstream_error");
}

/// A raw connection to the gateway, for clients no HTTP library would be.
async fn connect(gateway: &Gateway) -> tokio::net::TcpStream {
    let address = gateway.url.trim_start_matches("http://");
    tokio::net::TcpStream::connect(address).await.unwrap()
}

/// Reads until the gateway closes the connection (true) or `within` passes (false); what was
/// read is returned too.
async fn closed_within(tcp: &mut tokio::net::TcpStream, within: Duration) -> (bool, String) {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match tcp.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    (read.is_ok(), String::from_utf8_lossy(&seen).into_owned())
}

const TIMEOUTS: &str = "[server]\nheader_read_timeout = \"400ms\"\nidle_timeout = \"800ms\"\n";

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_header_read_timeout() {
    let gateway = gateway(TIMEOUTS).await;
    let mut silent = connect(&gateway).await;
    let started = std::time::Instant::now();
    let (closed, _) = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a connection that never sent a byte stayed open");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed before its time: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_head_trickled_a_byte_at_a_time_is_cut_at_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let gateway = gateway(TIMEOUTS).await;
    let mut slow = connect(&gateway).await;
    let head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = std::time::Instant::now();
    let mut cut = false;
    for byte in head {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let (closed, answer) = closed_within(&mut slow, Duration::from_secs(2)).await;
    assert!(
        cut || closed,
        "a head trickled over 3 s was still being read"
    );
    assert!(!answer.contains("200 OK"), "it was served: {answer}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_and_a_busy_one_never() {
    use tokio::io::AsyncWriteExt;
    let upstream = FakeUpstream::start().await;
    let gateway = gateway(&format!("{TIMEOUTS}{}", upstream.provider_toml("up"))).await;

    // Kept alive after one request, then idle: closed after the idle timeout, not before the
    // header read timeout would have closed it.
    let mut idle = connect(&gateway).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = std::time::Instant::now();
    let (closed, answer) = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle connection stayed open");
    assert!(
        answered.elapsed() >= Duration::from_millis(600),
        "closed at {:?}, before its idle timeout",
        answered.elapsed()
    );

    // A stream that runs far longer than both timeouts, silent for long stretches, is whole.
    upstream.push(Reply::Sse {
        steps: vec![
            send(content_chunk(None)),
            send(content_chunk(Some("slow"))),
            Step::Sleep(Duration::from_millis(1500)),
            send(content_chunk(Some(" but whole"))),
            send(finish_chunk("stop")),
        ],
        end: End::Close,
    });
    let body = read_sse(stream(&gateway, "up/m").await).await;
    assert_eq!(body.text(), "slow but whole");
    assert_eq!(body.done_count(), 1);

    // So is a whole answer the provider takes long to give.
    upstream.push(Reply::Sse {
        steps: vec![
            Step::Sleep(Duration::from_millis(1500)),
            send(completion_json("late")),
        ],
        end: End::Close,
    });
    let response = gateway.chat_json(&user("up/m", "hi")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn without_a_key_every_path_but_health_and_ready_is_401() {
    let gateway = gateway("[auth]\nkeys = [{ name = \"ci\", key = \"gw-key-123456\" }]\n").await;
    let http = &gateway.http;
    let url = &gateway.url;
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/v1/nope"),
        ("GET", "/metrics"),
        ("GET", "/v1/chat/completions"),
        ("DELETE", "/v1/models"),
        ("POST", "/v1/models"),
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = http
            .request(method.clone(), format!("{url}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_api_key", "{method} {path}");
    }
    for path in ["/health", "/ready"] {
        let response = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // With the key, the surface answers as before.
    let unknown = http
        .get(format!("{url}/nope"))
        .bearer_auth("gw-key-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let wrong = http
        .get(format!("{url}/v1/chat/completions"))
        .bearer_auth("gw-key-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_stream_leaves_the_gateway_serving() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    for _ in 0..20 {
        upstream.push(Reply::Sse {
            steps: vec![
                send(content_chunk(None)),
                send(content_chunk(Some("going"))),
                Step::Wait,
            ],
            end: End::Hang,
        });
    }
    let mut gone = 0;
    for _ in 0..20 {
        let response = stream(&gateway, "up/m").await;
        let mut body = response.bytes_stream();
        read_until(&mut body, "going").await;
        drop(body);
        gone += 1;
    }
    assert_eq!(gone, 20);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while upstream.abandoned() < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        upstream.abandoned(),
        20,
        "every upstream request was released"
    );
    let response = gateway
        .chat_json(&user("echo/x", "still here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn client_and_upstream_text_cannot_forge_or_colour_a_log_line() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .env_clear()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let model = "echo/x\nFORGED level=INFO status=200 \u{1b}[31mred\u{1b}[0m\u{2028}sep";
    let body = serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let mut sent = false;
    for _ in 0..200 {
        if let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            write!(
                tcp,
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut answer = String::new();
            let _ = tcp.read_to_string(&mut answer);
            sent = answer.starts_with("HTTP/1.1");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(sent, "the request was answered; logs:\n{logs}");
    assert!(logs.contains("FORGED"), "the request was logged:\n{logs}");
    for line in logs.lines() {
        assert!(!line.starts_with("FORGED"), "a forged line:\n{logs}");
    }
    assert!(!logs.contains('\u{1b}'), "a raw escape sequence:\n{logs:?}");
    assert!(
        !logs.contains('\u{2028}'),
        "a raw line separator:\n{logs:?}"
    );
    assert!(
        logs.contains("\\n"),
        "the newline is shown escaped:\n{logs}"
    );
}

#[tokio::test]
async fn a_conversation_longer_than_a_translating_provider_takes_is_a_400_before_translation() {
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "[providers.gem]\nkind = \"gemini\"\nbase_url = \"{0}\"\napi_key = \"gem-key-123\"\n[providers.ant]\nkind = \"anthropic\"\nbase_url = \"{0}\"\napi_key = \"ant-key-123\"\n{1}",
        upstream.base_url,
        upstream.provider_toml("up")
    );
    let gateway = gateway(&toml).await;
    let message = r#"{"role":"user","content":"hi"}"#;
    let body = |model: &str, count: usize| {
        format!(
            r#"{{"model":"{model}","messages":[{}]}}"#,
            vec![message; count].join(",")
        )
    };
    for model in ["gem/gemini-2.5-flash", "ant/claude-sonnet-4-5"] {
        let response = gateway.chat(body(model, 100_001)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{model}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "too_many_messages", "{model}");
        assert_eq!(error["error"]["param"], "messages", "{model}");
    }
    assert!(upstream.requests().is_empty(), "nothing was sent upstream");
    // An OpenAI-compatible upstream gets the bytes as they are, with no translation to bound.
    upstream.push(Reply::json(completion_json("ok")));
    let response = gateway.chat(body("up/m", 100_001)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_client_that_stalls_its_body_gets_a_408_and_the_gateway_moves_on() {
    use tokio::io::AsyncWriteExt;
    let gateway = gateway("[server]\nbody_timeout = \"300ms\"\n").await;
    let mut stalled = connect(&gateway).await;
    stalled
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":")
        .await
        .unwrap();
    let (closed, answer) = closed_within(&mut stalled, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(closed, "the stalled connection was closed");
    let response = gateway
        .chat_json(&user("echo/x", "next"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
