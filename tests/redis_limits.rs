//! Limits shared through a real redis-server: two gateways enforce one limit together, and
//! Redis going away follows `on_backend_error`. (scripts/test installs redis-server.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A redis-server of this test's own on a free loopback port, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests: scripts/test installs it (apt-get install redis-server)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 2026-11-24T06:00:20Z: 20 s into a minute, so no window rolls over during a test.
const T0: u64 = 1_795_500_000 - 1_795_500_000 % 86_400 + 6 * 3600 + 20;

async fn replica(redis: &Redis, keys: &str, on_error: &str) -> Gateway {
    let toml = format!(
        "[auth]\nkeys = [{keys}]\n[limits]\nbackend = \"redis\"\nredis_url = \"{}\"\non_backend_error = \"{on_error}\"\n",
        redis.url()
    );
    let gateway = gateway(&toml).await;
    gateway.state.limits.pin_clock(T0);
    gateway
}

async fn ask(gateway: &Gateway, key: &str, text: &str) -> reqwest::Response {
    gateway
        .chat_json(&user("echo/x", text))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_replicas_enforce_one_request_limit_together() {
    let redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 4 }";
    let (a, b) = (
        replica(&redis, keys, "deny").await,
        replica(&redis, keys, "deny").await,
    );
    let mut remaining = Vec::new();
    for gateway in [&a, &b, &a, &b] {
        let response = ask(gateway, "ci-key", "hi").await;
        assert_eq!(response.status(), 200);
        remaining.push(
            response.headers()["x-ratelimit-remaining-requests"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        remaining,
        ["3", "2", "1", "0"],
        "one counter across both replicas"
    );
    for gateway in [&a, &b] {
        let response = ask(gateway, "ci-key", "hi").await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "40");
    }
}

#[tokio::test]
async fn two_replicas_share_a_token_budget() {
    let redis = Redis::start();
    let keys = "{ name = \"app\", key = \"app-key\", tokens_per_day = 10 }";
    let (a, b) = (
        replica(&redis, keys, "deny").await,
        replica(&redis, keys, "deny").await,
    );
    // Echo counts words: 5 prompt + 5 completion = 10 tokens, spent on replica a.
    assert_eq!(
        ask(&a, "app-key", "one two three four five").await.status(),
        200
    );
    let response = ask(&b, "app-key", "hi").await;
    assert_eq!(response.status(), 429, "replica b sees what a spent");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("per day")
    );
}

#[tokio::test]
async fn redis_going_away_follows_on_backend_error() {
    let mut redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 100 }";
    let allow = replica(&redis, keys, "allow").await;
    let deny = replica(&redis, keys, "deny").await;
    assert_eq!(ask(&allow, "ci-key", "hi").await.status(), 200);
    assert_eq!(ask(&deny, "ci-key", "hi").await.status(), 200);

    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let started = Instant::now();
    let response = ask(&allow, "ci-key", "hi").await;
    assert_eq!(response.status(), 200, "allow: served without limits");
    let response = ask(&deny, "ci-key", "hi").await;
    assert_eq!(response.status(), 503, "deny: refused");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limits_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "Redis being gone never hangs a request"
    );
    // The server itself is fine.
    let health = allow
        .http
        .get(format!("{}/health", allow.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_unreachable_redis_from_the_start_follows_the_setting_too() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = |mode: &str| {
        format!(
            "[auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\", rpm = 5 }}]\n[limits]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{port}\"\non_backend_error = \"{mode}\"\n"
        )
    };
    let allow = gateway(&toml("allow")).await;
    assert_eq!(ask(&allow, "ci-key", "hi").await.status(), 200);
    let deny = gateway(&toml("deny")).await;
    assert_eq!(ask(&deny, "ci-key", "hi").await.status(), 503);
}

#[tokio::test]
async fn concurrent_requests_on_two_replicas_are_admitted_exactly_up_to_the_limit() {
    let redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 10 }";
    let (a, b) = (
        replica(&redis, keys, "deny").await,
        replica(&redis, keys, "deny").await,
    );
    let requests = (0..24).map(|i| {
        let gateway = if i % 2 == 0 { &a } else { &b };
        ask(gateway, "ci-key", "hi")
    });
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        14,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn counters_expire_on_their_own() {
    let redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 10, tokens_per_month = 1000 }";
    let gateway = replica(&redis, keys, "deny").await;
    assert_eq!(ask(&gateway, "ci-key", "hi there").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await; // the token count is recorded after the answer
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let names: Vec<String> = redis::cmd("KEYS")
        .arg("switchyard:ci:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        names.len() >= 4,
        "requests, and tokens per minute, day and month: {names:?}"
    );
    for name in names {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&name)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= 32 * 86_400, "{name} has ttl {ttl}");
    }
}

#[tokio::test]
async fn limits_come_back_when_redis_does() {
    let mut redis = Redis::start();
    let port = redis.port;
    let gateway = replica(
        &redis,
        "{ name = \"ci\", key = \"ci-key\", rpm = 100 }",
        "deny",
    )
    .await;
    assert_eq!(ask(&gateway, "ci-key", "hi").await.status(), 200);
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    assert_eq!(ask(&gateway, "ci-key", "hi").await.status(), 503);
    let again = Redis::start_on(port);
    let mut status = 0;
    for _ in 0..50 {
        status = ask(&gateway, "ci-key", "hi").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the gateway reconnected");
    drop(again);
}
