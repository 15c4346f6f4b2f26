//! The real gateway on 127.0.0.1:0, in the test's process. Tests speak to it over HTTP; the
//! few things they need from inside it (a pinned clock, draining) are methods here, so this is
//! the one file that knows how the library's state is laid out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard::config::Config;
use switchyard::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::answer::error_of;
use super::providers::{OPENAI, Provider};
use super::sse::{SseBody, read_sse};
use super::upstream::{FakeUpstream, Reply};

/// 2026-11-24T06:00:20Z: 20 s into a minute, so no window rolls over during a test.
pub const T0: u64 = 1_795_500_000 - 1_795_500_000 % 86_400 + 6 * 3600 + 20;

/// A running gateway.
pub struct Gateway {
    pub url: String,
    pub http: reqwest::Client,
    state: Arc<AppState>,
}

/// Starts the gateway from TOML, serving until `shutdown` resolves. The process environment is
/// not read: only `env` is.
async fn start(
    toml: &str,
    env: &[(&str, &str)],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (Gateway, JoinHandle<std::io::Result<()>>) {
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
    let server = tokio::spawn(switchyard::server::run(listener, state.clone(), shutdown));
    let gateway = Gateway {
        url,
        http: reqwest::Client::new(),
        state,
    };
    (gateway, server)
}

pub async fn gateway_with_env(toml: &str, env: &[(&str, &str)]) -> Gateway {
    start(toml, env, std::future::pending()).await.0
}

pub async fn gateway(toml: &str) -> Gateway {
    gateway_with_env(toml, &[]).await
}

/// A fake upstream standing in for `provider`, and a gateway in front of it; `extra` is TOML
/// appended after the provider's table (so bare keys land in that table).
pub async fn gateway_for(provider: &Provider, extra: &str) -> (FakeUpstream, Gateway) {
    gateway_for_all(&[provider], extra).await
}

/// One fake upstream standing in for each of `providers`, and a gateway in front of them;
/// `extra` lands in the last provider's table.
pub async fn gateway_for_all(providers: &[&Provider], extra: &str) -> (FakeUpstream, Gateway) {
    let upstream = FakeUpstream::start().await;
    let tables: String = providers.iter().map(|p| upstream.table(p)).collect();
    let gateway = gateway(&format!("{tables}{extra}")).await;
    (upstream, gateway)
}

/// A fake OpenAI-compatible upstream configured as provider `up`, and a gateway in front of it.
pub async fn gateway_with_upstream(extra: &str) -> (FakeUpstream, Gateway) {
    gateway_for(&OPENAI, extra).await
}

/// `request` carries params `provider`'s kind cannot take. By default that is a 400 and nothing
/// is sent; with `unsupported_params = "drop"` the request goes without them (answered with
/// `answer`) and the response names them. Returns the 400's error object, the names the
/// response gave, and the request the upstream got.
pub async fn refused_then_dropped(
    provider: &Provider,
    answer: &str,
    request: &Value,
) -> (Value, String, Value) {
    let (upstream, gateway) = gateway_for(provider, "").await;
    upstream.always(Reply::json(answer));
    let error = error_of(gateway.send(request).await, 400).await;
    assert!(
        upstream.requests().is_empty(),
        "a refused request never leaves"
    );

    let (upstream, gateway) = gateway_for(provider, "unsupported_params = \"drop\"\n").await;
    upstream.always(Reply::json(answer));
    let response = gateway.send(request).await;
    assert_eq!(response.status(), 200);
    let dropped = response.headers()["x-switchyard-dropped-params"]
        .to_str()
        .unwrap()
        .to_owned();
    (error, dropped, upstream.last_request().json())
}

/// A gateway that shuts down when told, as the binary does on SIGTERM.
pub async fn stoppable_gateway(toml: &str) -> (Gateway, Shutdown) {
    let (signal, signalled) = oneshot::channel::<()>();
    let (gateway, server) = start(toml, &[], async move {
        let _ = signalled.await;
    })
    .await;
    let shutdown = Shutdown {
        signal: Some(signal),
        server,
    };
    (gateway, shutdown)
}

/// The shutdown signal of a gateway, and its server, which returns once shut down.
pub struct Shutdown {
    signal: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Shutdown {
    pub fn begin(&mut self) {
        let signal = self.signal.take().expect("shutdown begins once");
        signal.send(()).unwrap();
    }

    /// Whether the server returned within `within`.
    pub async fn returned_within(self, within: Duration) -> bool {
        tokio::time::timeout(within, self.server).await.is_ok()
    }
}

impl Gateway {
    /// The value of the unlabelled counter `name` on `/metrics`, once it reaches `want` (counted
    /// off the request path, it may lag the answers), or as it stands after a few seconds.
    pub async fn counter_reaching(&self, name: &str, want: f64) -> f64 {
        let mut value = 0.0;
        for _ in 0..100 {
            let text = self
                .get("/metrics")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            value = text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .map_or(0.0, |v| v.parse().unwrap());
            if value >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        value
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    /// POSTs `body` as JSON to `path` (any surface's), with the gateway key `key` as a bearer
    /// token when one is given.
    pub async fn post_json(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut builder = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(key) = key {
            builder = builder.bearer_auth(key);
        }
        builder.send().await.unwrap()
    }

    pub fn chat(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/chat/completions", self.url))
            .header("content-type", "application/json")
            .body(body)
    }

    pub fn chat_json(&self, body: &Value) -> reqwest::RequestBuilder {
        self.chat(body.to_string())
    }

    pub async fn send(&self, request: &Value) -> reqwest::Response {
        self.chat_json(request).send().await.unwrap()
    }

    /// Sends `request` with more headers.
    pub async fn send_with(&self, request: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut builder = self.chat_json(request);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.send().await.unwrap()
    }

    /// Sends `request` with the gateway key `key` as a bearer token.
    pub async fn send_as(&self, key: &str, request: &Value) -> reqwest::Response {
        self.chat_json(request)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Sends `request` and reads the stream that answers it to its end.
    pub async fn sse(&self, request: &Value) -> SseBody {
        read_sse(self.send(request).await).await
    }

    /// Sends `request` and returns the JSON of its 200 answer.
    pub async fn whole(&self, request: &Value) -> Value {
        let response = self.send(request).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Pins the clock the limits count windows by, in seconds since the Unix epoch.
    pub fn pin_clock(&self, unix_secs: u64) {
        self.state.limits.pin_clock(unix_secs);
    }

    /// Begins draining, as shutdown does, without stopping the server.
    pub fn start_draining(&self) {
        self.state.lifecycle.start_draining();
    }

    pub fn is_draining(&self) -> bool {
        self.state.lifecycle.is_draining()
    }
}
