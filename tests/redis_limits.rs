//! Limits shared through a real redis-server: two gateways enforce one limit together, and
//! Redis going away follows `on_backend_error`. (scripts/test installs redis-server.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::logs::Logs;
use common::process::{free_port, listening_within};
use common::*;

/// A redis-server of this test's own on a free loopback port, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
    password: Option<&'static str>,
}

impl Redis {
    fn start() -> Self {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Self {
        Self::launch(port, None)
    }

    fn start_with_password(password: &'static str) -> Self {
        Self::launch(free_port(), Some(password))
    }

    fn launch(port: u16, password: Option<&'static str>) -> Self {
        let port_arg = port.to_string();
        let mut args = vec![
            "--bind",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        if let Some(password) = password {
            args.extend(["--requirepass", password]);
        }
        let child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests: scripts/test installs it (apt-get install redis-server)");
        assert!(
            listening_within(port, Duration::from_secs(10)),
            "redis-server did not start"
        );
        Self {
            child,
            port,
            password,
        }
    }

    fn url(&self) -> String {
        match self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server, and waits until it is gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Freezes (`STOP`) or thaws (`CONT`) the server: frozen, it keeps its connections and the
    /// kernel still accepts new ones, but nothing is answered.
    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn replica(redis: &Redis, keys: &str, on_error: &str) -> Gateway {
    let toml = format!(
        "[auth]\nkeys = [{keys}]\n[limits]\nbackend = \"redis\"\nredis_url = \"{}\"\non_backend_error = \"{on_error}\"\n",
        redis.url()
    );
    let gateway = gateway(&toml).await;
    gateway.pin_clock(T0);
    gateway
}

/// Two gateways sharing limits through `redis`, refusing requests while it cannot answer.
async fn two_replicas(redis: &Redis, keys: &str) -> (Gateway, Gateway) {
    (
        replica(redis, keys, "deny").await,
        replica(redis, keys, "deny").await,
    )
}

async fn ask(gateway: &Gateway, key: &str, text: &str) -> reqwest::Response {
    gateway.send_as(key, &user("echo/x", text)).await
}

#[tokio::test]
async fn two_replicas_enforce_one_request_limit_together() {
    let redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 4 }";
    let (a, b) = two_replicas(&redis, keys).await;
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
    let (a, b) = two_replicas(&redis, keys).await;
    // Echo counts words: 5 prompt + 5 completion = 10 tokens, spent on replica a.
    assert_eq!(
        ask(&a, "app-key", "one two three four five").await.status(),
        200
    );
    let response = ask(&b, "app-key", "hi").await;
    assert_eq!(response.status(), 429, "replica b sees what a spent");
    let error = error_of(response, 429).await;
    assert!(message(&error).contains("per day"));
}

#[tokio::test]
async fn two_replicas_share_a_dollar_budget() {
    let redis = Redis::start();
    let prices = std::env::temp_dir().join(format!(
        "switchyard-prices-{}-redis-budget.toml",
        std::process::id()
    ));
    // A dollar per million tokens, in and out.
    std::fs::write(&prices, "[prices.\"echo/x\"]\ninput = 1.0\noutput = 1.0\n").unwrap();
    let toml = format!(
        "[pricing]\nfile = \"{}\"\n[auth]\nkeys = [{{ name = \"app\", key = \"app-key\", usd_per_month = 0.00001 }}]\n[limits]\nbackend = \"redis\"\nredis_url = \"{}\"\non_backend_error = \"deny\"\n",
        prices.display(),
        redis.url()
    );
    let (a, b) = (gateway(&toml).await, gateway(&toml).await);
    a.pin_clock(T0);
    b.pin_clock(T0);
    // 10 tokens: $0.00001, spent on replica a.
    let response = ask(&a, "app-key", "one two three four five").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-cost-usd"], "0.00001");
    // Counted on its own task after the answer: wait until replica b sees it.
    let mut response = ask(&b, "app-key", "hi").await;
    for _ in 0..50 {
        if response.status() == 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        response = ask(&b, "app-key", "hi").await;
    }
    assert_eq!(response.headers()["x-ratelimit-remaining-usd"], "0");
    let error = error_of(response, 429).await;
    assert!(
        message(&error).contains("dollar budget of $0.00001 per month"),
        "{error}"
    );
    let _ = std::fs::remove_file(&prices);
}

#[tokio::test]
async fn redis_going_away_follows_on_backend_error() {
    let mut redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 100 }";
    let allow = replica(&redis, keys, "allow").await;
    let deny = replica(&redis, keys, "deny").await;
    assert_eq!(ask(&allow, "ci-key", "hi").await.status(), 200);
    assert_eq!(ask(&deny, "ci-key", "hi").await.status(), 200);

    redis.kill();
    let started = Instant::now();
    let response = ask(&allow, "ci-key", "hi").await;
    assert_eq!(response.status(), 200, "allow: served without limits");
    let response = ask(&deny, "ci-key", "hi").await;
    assert_eq!(response.status(), 503, "deny: refused");
    let error = error_of(response, 503).await;
    assert_eq!(error["code"], "limits_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "Redis being gone never hangs a request"
    );
    // The server itself is fine.
    let health = allow.get("/health").send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_unreachable_redis_from_the_start_follows_the_setting_too() {
    let port = free_port();
    let toml = |mode: &str| {
        format!(
            "[auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\", rpm = 5 }}]\n[limits]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{port}\"\non_backend_error = \"{mode}\"\n"
        )
    };
    let allow = gateway(&toml("allow")).await;
    assert_eq!(ask(&allow, "ci-key", "hi").await.status(), 200);
    let deny = gateway(&toml("deny")).await;
    assert_eq!(ask(&deny, "ci-key", "hi").await.status(), 503);
    // Each failed call to Redis is counted, whatever the setting made of it.
    for gateway in [&allow, &deny] {
        let metrics = gateway
            .get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l == "switchyard_redis_errors_total 1"),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn concurrent_requests_on_two_replicas_are_admitted_exactly_up_to_the_limit() {
    let redis = Redis::start();
    let keys = "{ name = \"ci\", key = \"ci-key\", rpm = 10 }";
    let (a, b) = two_replicas(&redis, keys).await;
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
    redis.kill();
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

/// The lines `logs` has about `redis`: the ones with its address. All the tests of this binary
/// log at once, each with a Redis of its own.
fn about(logs: &Logs, redis: &Redis) -> Vec<String> {
    let address = format!("address=127.0.0.1:{}", redis.port);
    logs.text()
        .lines()
        .filter(|line| line.split(' ').any(|field| field == address))
        .map(str::to_owned)
        .collect()
}

/// What the supervisor says, once per replica, when Redis goes away and when it is back.
const WENT_DOWN: &str = "redis is unreachable";
const CAME_BACK: &str = "redis answers again";

/// A key for steady traffic that never runs out, and one with a limit to show it is enforced.
const TRAFFIC_AND_LIMITED: &str = "{ name = \"traffic\", key = \"traffic-key\", rpm = 1000000 }, { name = \"limited\", key = \"limited-key\", rpm = 4 }";

/// One request, and how long its answer took; a gateway that hangs fails the test instead of
/// hanging it.
async fn timed(gateway: &Gateway, key: &str) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(5), ask(gateway, key, "hi"))
        .await
        .expect("an answer within 5 s");
    (response, started.elapsed())
}

/// Steady traffic on both replicas for `how_long` while Redis cannot answer: the deny replica
/// refuses every request and the allow replica serves every one. Returns how long each
/// replica's answers took.
async fn traffic_while_down(
    deny: &Gateway,
    allow: &Gateway,
    how_long: Duration,
) -> (Vec<Duration>, Vec<Duration>) {
    let started = Instant::now();
    let (mut deny_took, mut allow_took) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        if started.elapsed() >= how_long {
            break;
        }
        let (response, took) = timed(deny, "traffic-key").await;
        assert_eq!(response.status(), 503, "deny refuses while Redis is down");
        deny_took.push(took);
        let (response, took) = timed(allow, "traffic-key").await;
        assert_eq!(response.status(), 200, "allow serves while Redis is down");
        allow_took.push(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (deny_took, allow_took)
}

fn median(mut took: Vec<Duration>) -> Duration {
    assert!(!took.is_empty());
    took.sort();
    took[took.len() / 2]
}

/// Answers that do not wait on a connection known to be down: the first request on a frozen
/// connection may wait the gateway's 500 ms deadline, the rest must not. A behavioural bound,
/// not a benchmark.
fn assert_fast(what: &str, took: Vec<Duration>) {
    let count = took.len();
    let median = median(took);
    assert!(
        median < Duration::from_millis(250),
        "{what}: the median of {count} answers took {median:?}; requests wait on a connection known to be down"
    );
}

/// Waits until both replicas count in Redis again: the deny replica serves, and the allow
/// replica's answers carry the request quota again (while Redis is down it serves without
/// limits, and without those headers). Returns how long that took; at most 10 s.
async fn until_both_count_again(deny: &Gateway, allow: &Gateway) -> Duration {
    let started = Instant::now();
    for _ in 0..200 {
        let mut counted = 0;
        for gateway in [deny, allow] {
            let (response, _) = timed(gateway, "traffic-key").await;
            if response.status() == 200
                && response
                    .headers()
                    .contains_key("x-ratelimit-remaining-requests")
            {
                counted += 1;
            }
        }
        if counted == 2 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "both replicas count in Redis again within 10 s of its return"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("both replicas count in Redis again within 200 tries");
}

/// The limited key's 4 requests a minute, spent across both replicas, then refused on each:
/// one limit enforced in Redis again. `minute` picks a fresh window for each check.
async fn assert_limit_enforced(deny: &Gateway, allow: &Gateway, minute: u64) {
    for gateway in [deny, allow] {
        gateway.pin_clock(T0 + 60 * minute);
    }
    for gateway in [deny, allow, deny, allow] {
        assert_eq!(ask(gateway, "limited-key", "hi").await.status(), 200);
    }
    for gateway in [deny, allow] {
        assert_eq!(
            ask(gateway, "limited-key", "hi").await.status(),
            429,
            "the limit is enforced again"
        );
    }
}

/// Issue 11: after an outage of any length the replicas reconnect on their own, and while Redis
/// is down they answer at once by `on_backend_error` instead of waiting on the dead connection.
#[tokio::test]
async fn replicas_answer_at_once_while_redis_is_down_and_reconnect_after_any_outage() {
    let logs = Logs::capture(tracing::Level::INFO);
    let mut redis = Redis::start();
    let port = redis.port;
    let deny = replica(&redis, TRAFFIC_AND_LIMITED, "deny").await;
    let allow = replica(&redis, TRAFFIC_AND_LIMITED, "allow").await;
    assert_limit_enforced(&deny, &allow, 0).await;
    for (round, outage) in [1, 5, 30].into_iter().enumerate() {
        redis.kill();
        let (deny_took, allow_took) =
            traffic_while_down(&deny, &allow, Duration::from_secs(outage)).await;
        assert_fast(&format!("deny, {outage} s outage"), deny_took);
        assert_fast(&format!("allow, {outage} s outage"), allow_took);
        redis = Redis::start_on(port);
        let back = until_both_count_again(&deny, &allow).await;
        eprintln!("after a {outage} s outage, both replicas counted again in {back:?}");
        assert_limit_enforced(&deny, &allow, round as u64 + 1).await;
    }
    // Said once per outage by each replica, not once per request.
    let said = about(logs, &redis);
    let times = |what| said.iter().filter(|line| line.contains(what)).count();
    assert_eq!(times(WENT_DOWN), 6, "{said:#?}");
    assert_eq!(times(CAME_BACK), 6, "{said:#?}");
}

/// A Redis that stops answering without closing anything (here frozen with SIGSTOP, as a
/// dropped link or a hung server would look) is taken for down after one deadline, and the
/// connection is rebuilt once it answers again. Its password never reaches the log.
#[tokio::test]
async fn a_redis_that_stops_answering_is_taken_for_down_and_reconnected() {
    let logs = Logs::capture(tracing::Level::INFO);
    let password = "pw-secret-11";
    let redis = Redis::start_with_password(password);
    let deny = replica(&redis, TRAFFIC_AND_LIMITED, "deny").await;
    let allow = replica(&redis, TRAFFIC_AND_LIMITED, "allow").await;
    assert_limit_enforced(&deny, &allow, 0).await;

    redis.signal(rustix::process::Signal::STOP);
    let (deny_took, allow_took) = traffic_while_down(&deny, &allow, Duration::from_secs(3)).await;
    assert_fast("deny, redis frozen", deny_took);
    assert_fast("allow, redis frozen", allow_took);
    redis.signal(rustix::process::Signal::CONT);
    let back = until_both_count_again(&deny, &allow).await;
    eprintln!("after a 3 s freeze, both replicas counted again in {back:?}");
    assert_limit_enforced(&deny, &allow, 1).await;

    let said = about(logs, &redis);
    let times = |what| said.iter().filter(|line| line.contains(what)).count();
    assert_eq!(times(WENT_DOWN), 2, "{said:#?}");
    assert_eq!(times(CAME_BACK), 2, "{said:#?}");
    assert!(!logs.text().contains(password), "{said:#?}");
}
