//! The operator's prices (`[pricing] file`): they price what the catalog cannot, win over what
//! it can, are picked up when the file changes, and a file that does not read stops the start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::fixtures::{anthropic, openai};
use common::*;

/// A prices file of its own for each test, in the system's temporary directory.
fn prices_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "switchyard-prices-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

async fn cost_of(gateway: &Gateway, request: &serde_json::Value) -> Option<String> {
    let response = gateway.send(request).await;
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get("x-switchyard-cost-usd")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn operator_prices_price_what_the_catalog_cannot_win_over_it_and_reload() {
    // Dollars per million tokens.
    let path = prices_file(
        "reload",
        "[prices.\"up/gpt-4o\"]\ninput = 1.0\noutput = 2.0\n\n[prices.\"claude-sonnet-4-5\"]\ninput = 0\noutput = 0\n",
    );
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "{}{}[pricing]\nfile = \"{}\"\n",
        upstream.table(&OPENAI),
        upstream.table(&ANTHROPIC),
        path.display()
    );
    let gateway = gateway(&toml).await;
    upstream.always(Reply::json(completion_json("priced")));

    // 3 prompt and 2 completion tokens at $1 and $2 per million.
    assert_eq!(
        cost_of(&gateway, &user("up/gpt-4o", "hi")).await.as_deref(),
        Some("0.000007")
    );
    // A model at any provider, by its name: the operator's zero beats the catalog's price.
    upstream.push(Reply::json(anthropic::TEXT));
    assert_eq!(
        cost_of(&gateway, &user("claude/claude-sonnet-4-5", "hi"))
            .await
            .as_deref(),
        Some("0")
    );
    // Still unpriced: a model neither the operator nor the catalog prices.
    assert_eq!(cost_of(&gateway, &user("up/other", "hi")).await, None);

    // The file changes while serving: the new prices are used once it is read again.
    std::fs::write(
        &path,
        "[prices.\"up/gpt-4o\"]\ninput = 10.0\noutput = 2.0\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut cost = None;
    while Instant::now() < deadline {
        cost = cost_of(&gateway, &user("up/gpt-4o", "hi")).await;
        if cost.as_deref() == Some("0.000034") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cost.as_deref(),
        Some("0.000034"),
        "the new file was not read"
    );

    // A file that no longer reads keeps the prices it had.
    std::fs::write(&path, "[prices.\"up/gpt-4o\"]\ninput = \"ten\"\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        cost_of(&gateway, &user("up/gpt-4o", "hi")).await.as_deref(),
        Some("0.000034")
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_prices_file_that_does_not_read_stops_the_start() {
    for (name, text, says) in [
        (
            "negative",
            "[prices.\"up/m\"]\ninput = -1.0\noutput = 1.0\n",
            "0 or more",
        ),
        (
            "unknown-key",
            "[prices.\"up/m\"]\ninput = 1.0\noutput = 1.0\ncost = 3\n",
            "cost",
        ),
    ] {
        let path = prices_file(name, text);
        let toml = format!("[pricing]\nfile = \"{}\"\n", path.display());
        let config = switchyard::config::Config::from_toml(&toml, None, &|_| None).unwrap();
        let refused = switchyard::state::AppState::new(config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains(says), "{name}: {refused}");
        assert!(refused.contains(&path.display().to_string()), "{refused}");
        let _ = std::fs::remove_file(&path);
    }
    let config = switchyard::config::Config::from_toml(
        "[pricing]\nfile = \"/nonexistent/prices.toml\"\n",
        None,
        &|_| None,
    )
    .unwrap();
    let refused = switchyard::state::AppState::new(config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("cannot read the prices"), "{refused}");
}

#[tokio::test]
async fn a_key_over_its_dollar_budget_is_refused_until_the_day_turns() {
    // A dollar per million tokens, in and out.
    let path = prices_file("budget", "[prices.\"up/m\"]\ninput = 1.0\noutput = 1.0\n");
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        "{}[pricing]\nfile = \"{}\"\n[auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\", usd_per_day = 0.00002 }}]\n",
        upstream.table(&OPENAI),
        path.display()
    );
    let gateway = gateway(&toml).await;
    gateway.pin_clock(T0);
    let usd = |response: &reqwest::Response, field: &str| {
        response
            .headers()
            .get(format!("x-ratelimit-{field}-usd"))
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // 5 tokens: $0.000005. The headers say what was left when the request was admitted.
    upstream.push(Reply::json(completion_json("one")));
    let response = gateway.send_as("ci-key", &user("up/m", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(usd(&response, "limit").as_deref(), Some("0.00002"));
    assert_eq!(usd(&response, "remaining").as_deref(), Some("0.00002"));
    assert_eq!(usd(&response, "reset").as_deref(), Some("64780s"));
    assert_eq!(
        response.headers()["x-switchyard-cost-usd"]
            .to_str()
            .unwrap(),
        "0.000005"
    );

    // A stream's usage report (13 tokens: $0.000013) is charged when it ends.
    upstream.push(Reply::sse(openai::TEXT_STREAM));
    let stream = read_sse(gateway.send_as("ci-key", &user_stream("up/m", "hi")).await).await;
    assert_eq!(stream.done_count(), 1);

    // $0.000018 spent, less than the budget: admitted, and charged in full when it ends.
    upstream.push(Reply::json(completion_json("three")));
    let response = gateway.send_as("ci-key", &user("up/m", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(usd(&response, "remaining").as_deref(), Some("0.000002"));

    // $0.000023 spent: refused until the day turns, in OpenAI's 429 with the budget's headers.
    let response = gateway.send_as("ci-key", &user("up/m", "hi")).await;
    assert_eq!(usd(&response, "remaining").as_deref(), Some("0"));
    assert_eq!(response.headers()["retry-after"], "64780");
    let error = error_of(response, 429).await;
    assert_eq!(
        message(&error),
        "The key 'ci' is over its dollar budget of $0.00002 per day."
    );
    assert_eq!(
        upstream.requests().len(),
        3,
        "the refused request went nowhere"
    );

    gateway.pin_clock(T0 - T0 % 86_400 + 86_400);
    upstream.push(Reply::json(completion_json("next day")));
    let response = gateway.send_as("ci-key", &user("up/m", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(usd(&response, "remaining").as_deref(), Some("0.00002"));
    let _ = std::fs::remove_file(&path);
}
