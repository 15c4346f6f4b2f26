//! Test harness: the real gateway on 127.0.0.1:0, and fake upstreams in the same process that
//! record what they receive and answer from a script.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use switchyard::config::Config;
use switchyard::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A running gateway.
pub struct Gateway {
    pub url: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
}

/// Starts the gateway from TOML. The process environment is not read: only `env` is.
pub async fn gateway_with_env(toml: &str, env: &[(&str, &str)]) -> Gateway {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config =
        Config::from_toml(toml, None, &lookup).unwrap_or_else(|e| panic!("test config: {e}"));
    let state = Arc::new(AppState::new(config).expect("state"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(switchyard::server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    Gateway {
        url,
        http: reqwest::Client::new(),
        state,
    }
}

pub async fn gateway(toml: &str) -> Gateway {
    gateway_with_env(toml, &[]).await
}

/// A fake upstream configured as provider `up`, and a gateway in front of it; `extra` is TOML
/// appended after the `[providers.up]` table (so bare keys land in that table).
pub async fn gateway_with_upstream(extra: &str) -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let gateway = gateway(&format!("{}{extra}", upstream.provider_toml("up"))).await;
    (upstream, gateway)
}

impl Gateway {
    pub fn chat(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/chat/completions", self.url))
            .header("content-type", "application/json")
            .body(body)
    }

    pub fn chat_json(&self, body: &Value) -> reqwest::RequestBuilder {
        self.chat(body.to_string())
    }
}

/// A request a fake upstream received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("upstream got JSON")
    }
}

/// How the fake upstream ends an SSE body after its scripted pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Close,
    /// Keep the connection open, sending nothing, until the client goes away.
    Hang,
    /// Break the body off: the connection is aborted mid-response.
    Reset,
}

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// `pieces` written one by one; a `Step::Wait` holds the body until `release()` is called.
    Sse { steps: Vec<Step>, end: End },
    /// Accept the request and never answer.
    Silent,
}

#[derive(Clone)]
pub enum Step {
    Send(Bytes),
    Sleep(Duration),
    Wait,
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Self {
        Self::Json {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self::Json {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A whole SSE body sent at once, then closed.
    pub fn sse(body: impl Into<String>) -> Self {
        Self::Sse {
            steps: vec![Step::Send(Bytes::from(body.into()))],
            end: End::Close,
        }
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    release: Notify,
    /// SSE bodies dropped before they finished: the client (the gateway) went away.
    abandoned: AtomicUsize,
    finished: AtomicUsize,
}

/// An upstream on 127.0.0.1:0 that answers from a script and records every request.
#[derive(Clone)]
pub struct FakeUpstream {
    /// The base URL to configure (`…/v1`).
    pub base_url: String,
    shared: Arc<Shared>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        // Takes bodies of any size, as a provider would; the gateway's own limit is what tests see.
        let app = Router::new()
            .fallback(serve)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, shared }
    }

    /// Queues replies, used in order; after them `always` (if set) answers every request.
    pub fn push(&self, reply: Reply) -> &Self {
        self.shared.script.lock().unwrap().push_back(reply);
        self
    }

    pub fn always(&self, reply: Reply) -> &Self {
        *self.shared.fallback.lock().unwrap() = Some(reply);
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("the upstream got a request")
    }

    /// Lets every SSE body waiting at a `Step::Wait` go on.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }

    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until an SSE body was dropped unfinished; true if it was.
    pub async fn wait_abandoned(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.abandoned() > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// A `[providers.NAME]` table pointing at this upstream.
    pub fn provider_toml(&self, name: &str) -> String {
        format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-upstream-secret-{name}\"\n",
            self.base_url
        )
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let reply = shared.script.lock().unwrap().pop_front();
    let reply = reply.or_else(|| shared.fallback.lock().unwrap().clone());
    match reply {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply").into_response(),
        Some(Reply::Json {
            status,
            headers,
            body,
        }) => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
        Some(Reply::Silent) => {
            // Dropped (and counted as abandoned) when the client closes the connection.
            let _guard = FinishGuard {
                shared: shared.clone(),
                finished: false,
            };
            std::future::pending::<()>().await;
            unreachable!()
        }
        Some(Reply::Sse { steps, end }) => {
            let body = async_stream::stream! {
                let guard = FinishGuard { shared: shared.clone(), finished: false };
                let mut guard = guard;
                for step in steps {
                    match step {
                        Step::Send(bytes) => yield Ok::<_, std::io::Error>(bytes),
                        Step::Sleep(duration) => tokio::time::sleep(duration).await,
                        Step::Wait => {
                            let notified = shared.release.notified();
                            // Keep the connection visibly alive while waiting, so a
                            // client that left is noticed on the next write.
                            let mut notified = std::pin::pin!(notified);
                            loop {
                                tokio::select! {
                                    () = &mut notified => break,
                                    () = tokio::time::sleep(Duration::from_millis(50)) => yield Ok(Bytes::from_static(b": waiting\n\n")),
                                }
                            }
                        }
                    }
                }
                if end == End::Reset {
                    yield Err(std::io::Error::other("reset by the test"));
                }
                if end == End::Hang {
                    loop {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        yield Ok(Bytes::new());
                    }
                }
                guard.finished = true;
            };
            let mut response = Body::from_stream(body).into_response();
            response
                .headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            response
        }
    }
}

struct FinishGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        let counter = if self.finished {
            &self.shared.finished
        } else {
            &self.shared.abandoned
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// One SSE data line.
pub fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

/// An OpenAI chunk with a content delta (or the role chunk when `content` is None).
pub fn content_chunk(content: Option<&str>) -> String {
    let delta = match content {
        None => r#"{"role":"assistant","content":""}"#.to_owned(),
        Some(text) => serde_json::json!({ "content": text }).to_string(),
    };
    data(&format!(
        r#"{{"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-model","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
    ))
}

pub fn finish_chunk(reason: &str) -> String {
    data(&format!(
        r#"{{"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-model","choices":[{{"index":0,"delta":{{}},"finish_reason":"{reason}"}}]}}"#
    ))
}

pub fn completion_json(content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "up-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
    .to_string()
}

pub fn user(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

pub fn user_stream(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "stream": true, "messages": [{"role": "user", "content": text}]})
}

/// An SSE response read to its end: the data payloads in order, and the raw text.
pub struct SseBody {
    pub data: Vec<String>,
    pub raw: String,
}

impl SseBody {
    pub fn chunks(&self) -> Vec<Value> {
        self.data
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| {
                serde_json::from_str(d).unwrap_or_else(|e| panic!("chunk is not JSON ({e}): {d}"))
            })
            .collect()
    }

    pub fn done_count(&self) -> usize {
        self.data.iter().filter(|d| *d == "[DONE]").count()
    }

    /// The concatenated `delta.content` of choice 0.
    pub fn text(&self) -> String {
        self.chunks()
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }
}

pub async fn read_sse(response: reqwest::Response) -> SseBody {
    let raw = response.text().await.expect("sse body");
    let data = raw
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect();
    SseBody { data, raw }
}

/// Reads a streaming response until `needle` has appeared (bounded), returning what was read.
pub async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    needle: &str,
) -> String {
    let mut seen = String::new();
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(piece) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&piece.expect("body piece")));
            if seen.contains(needle) {
                return;
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "timed out waiting for {needle:?}; read so far: {seen:?}"
    );
    assert!(
        seen.contains(needle),
        "stream ended before {needle:?}; read: {seen:?}"
    );
    seen
}
