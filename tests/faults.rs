//! Fault injection: a fake upstream that resets, stalls, trickles, and sends oversized or
//! invalid events on command, and fake clients that stall, trickle and vanish. Each case is a
//! way a broken provider or a hostile client once bent the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use axum::body::Bytes;

use common::*;

/// `bytes` a write each, `every` apart.
fn trickle(bytes: &[u8], every: Duration) -> Vec<Step> {
    bytes
        .iter()
        .flat_map(|byte| [Step::Sleep(every), Step::Send(Bytes::from(vec![*byte]))])
        .collect()
}

async fn stream(gateway: &Gateway, model: &str) -> reqwest::Response {
    gateway.send(&user_stream(model, "hi")).await
}

/// An openai-kind and an azure-kind provider in front of one fake upstream, and for each a
/// model and the key the upstream takes.
async fn openai_and_azure() -> (FakeUpstream, Gateway) {
    gateway_for_all(&[&OPENAI, &AZURE], "").await
}

const MODELS_AND_KEYS: [(&str, &str); 2] = [
    ("up/m", OPENAI.api_key),
    ("azure-eu/deployment", AZURE.api_key),
];

#[tokio::test]
async fn a_provider_key_echoed_in_a_non_json_event_never_reaches_the_client() {
    let (upstream, gateway) = openai_and_azure().await;
    for (model, key) in MODELS_AND_KEYS {
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
            "{}data: <html>{key}</html>\n\n",
            opening(&["Hi"]).concat()
        )));
        let body = read_sse(stream(&gateway, model).await).await;
        assert!(
            !body.raw.contains(key),
            "{model}: key in the stream: {}",
            body.raw
        );
        let error = body.error();
        assert!(message(&error).contains("[redacted]"), "{model}: {error}");

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
    for (model, key) in MODELS_AND_KEYS {
        upstream.push(Reply::json(format!("<html>bad gateway for {key}</html>")));
        let response = gateway.send(&user(model, "hi")).await;
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
        steps: vec![Step::send(format!("data: {endless}"))],
        end: End::Hang,
    });
    let error = error_of(stream(&gateway, "up/m").await, 502).await;
    assert!(
        message(&error).contains("larger than 65536 bytes"),
        "{error}"
    );
    assert!(upstream.wait_abandoned(Duration::from_secs(5)).await);

    // After output: an error event, no [DONE].
    upstream.push(Reply::opening_then(
        &["Hi"],
        [Step::send(format!("data: {endless}"))],
        End::Hang,
    ));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(body.error()["code"], "upstream_error");

    // Events under the limit pass, however many.
    let big = "y".repeat(60 << 10);
    upstream.push(Reply::sse(text_stream(&[&big, &big])));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.text().len(), 2 * big.len());
    assert_eq!(body.done_count(), 1);
}

#[tokio::test]
async fn a_trickling_upstream_is_alive_however_slow_its_bytes() {
    let (upstream, gateway) = gateway_with_upstream("idle_timeout = \"400ms\"\n").await;
    // The last two events take about 2 s to arrive, a byte every 5 ms: never 400 ms without one.
    let last = format!("{}{}", content_chunk(Some(" there")), finish_chunk("stop"));
    upstream.push(Reply::opening_then(
        &["Hi"],
        trickle(last.as_bytes(), Duration::from_millis(5)),
        End::Close,
    ));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.text(), "Hi there", "{}", body.raw);
    assert_eq!(body.done_count(), 1);

    // A byte every 500 ms is silence longer than the deadline: the stream fails.
    upstream.push(Reply::opening_then(
        &["Hi"],
        trickle(b"data: {", Duration::from_millis(500)),
        End::Hang,
    ));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.error()["code"], "upstream_timeout");
}

#[tokio::test]
async fn an_upstream_reset_mid_stream_is_an_error_event() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    upstream.push(Reply::opening_then(
        &["Hi"],
        // Lets the bytes out before the abort, which would otherwise discard them.
        [Step::Sleep(Duration::from_millis(100))],
        End::Reset,
    ));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.text(), "Hi");
    assert_eq!(body.error()["code"], "upstream_error");
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
    let (upstream, gateway) = gateway_with_upstream(TIMEOUTS).await;

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
    upstream.push(Reply::opening_then(
        &["slow"],
        [
            Step::Sleep(Duration::from_millis(1500)),
            Step::send(content_chunk(Some(" but whole"))),
            Step::send(finish_chunk("stop")),
        ],
        End::Close,
    ));
    let body = gateway.sse(&user_stream("up/m", "hi")).await;
    assert_eq!(body.text(), "slow but whole");
    assert_eq!(body.done_count(), 1);

    // So is a whole answer the provider takes long to give.
    upstream.push(Reply::after(
        Duration::from_millis(1500),
        completion_json("late"),
    ));
    let response = gateway.send(&user("up/m", "hi")).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn without_a_key_every_path_but_health_ready_and_metrics_is_401() {
    let gateway = gateway("[auth]\nkeys = [{ name = \"ci\", key = \"gw-key-123456\" }]\n").await;
    let http = &gateway.http;
    let url = &gateway.url;
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/v1/nope"),
        ("POST", "/metrics"),
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
        let error = error_of(response, 401).await;
        assert_eq!(error["code"], "invalid_api_key", "{method} {path}");
    }
    // The scrape is open unless `[metrics] require_key` says otherwise (tests/metrics.rs).
    for path in ["/health", "/ready", "/metrics"] {
        let response = gateway.get(path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // With the key, the surface answers as before.
    let key = "gw-key-123456";
    let unknown = gateway.get("/nope").bearer_auth(key).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let wrong = gateway.get("/v1/chat/completions").bearer_auth(key);
    assert_eq!(wrong.send().await.unwrap().status(), 405);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_stream_leaves_the_gateway_serving() {
    let (upstream, gateway) = gateway_with_upstream("").await;
    for _ in 0..20 {
        upstream.push(Reply::stuck_after(opening(&["going"])));
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
    upstream
        .wait_abandoned_count(20, Duration::from_secs(5))
        .await;
    assert_eq!(
        upstream.abandoned(),
        20,
        "every upstream request was released"
    );
    gateway.whole(&user("echo/x", "still here")).await;
}

#[test]
fn client_and_upstream_text_cannot_forge_or_colour_a_log_line() {
    let port = process::free_port();
    let mut child = process::switchyard()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let model = "echo/x\nFORGED level=INFO status=200 \u{1b}[31mred\u{1b}[0m\u{2028}sep";
    let body = user(model, "hi").to_string();
    let request = process::raw_request("POST", "/v1/chat/completions", Some(&body));
    let answer = process::send_raw_once_up(port, &request, Duration::from_secs(10));
    let sent = answer.is_some_and(|answer| answer.starts_with("HTTP/1.1"));
    process::terminate(&child);
    let _ = child.wait();
    let logs = process::stderr_of(&mut child);
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
    let (upstream, gateway) = gateway_for_all(&[&GEMINI, &ANTHROPIC, &OPENAI], "").await;
    let message = r#"{"role":"user","content":"hi"}"#;
    let body = |model: &str, count: usize| {
        format!(
            r#"{{"model":"{model}","messages":[{}]}}"#,
            vec![message; count].join(",")
        )
    };
    for model in ["gem/gemini-2.5-flash", "claude/claude-sonnet-4-5"] {
        let response = gateway.chat(body(model, 100_001)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{model}");
        let error = error_of(response, 400).await;
        assert_eq!(error["code"], "too_many_messages", "{model}");
        assert_eq!(error["param"], "messages", "{model}");
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
    gateway.whole(&user("echo/x", "next")).await;
}
