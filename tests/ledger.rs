//! The usage ledger after scripted traffic: one row per upstream attempt (retried and fell-back
//! ones too), the served one with its tokens, cost and prices, a stream the client left with
//! the estimate its key was charged, nothing for a request refused before any attempt, every
//! row written by a graceful shutdown, and `switchyard usage` summing them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::process::{stdout_of_success, switchyard};
use common::*;
use serde_json::Value;

/// A directory of its own for each test's ledger and prices.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-ledger-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rows(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn every_attempt_gets_a_row_and_shutdown_writes_them_all() {
    let dir = scratch("traffic");
    let prices = dir.join("prices.toml");
    // A dollar per million tokens, in and out, on both targets.
    std::fs::write(
        &prices,
        "[prices.\"a/m\"]\ninput = 1.0\noutput = 1.0\n[prices.\"b/m\"]\ninput = 1.0\noutput = 1.0\n",
    )
    .unwrap();
    let ledger = dir.join("ledger.jsonl");
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let toml = format!(
        "{}{}[routing]\nbackoff_base = \"1ms\"\nbackoff_max = \"5ms\"\n\
         [models.smart]\ntargets = [\"a/m\", \"b/m\"]\nretries = 1\n\
         [pricing]\nfile = \"{}\"\n[ledger]\nfile = \"{}\"\n\
         [auth]\nkeys = [{{ name = \"ci\", key = \"ci-key\", tpm = 100000 }}, \
         {{ name = \"broke\", key = \"broke-key\", usd_per_day = 0.000001 }}]\n",
        a.provider_toml("a"),
        b.provider_toml("b"),
        prices.display(),
        ledger.display(),
    );
    let (gateway, mut shutdown) = stoppable_gateway(&toml).await;

    // Retried on a, fell back to b, which answers: three attempts, three rows.
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#));
    a.push(Reply::status(503, r#"{"error":{"message":"busy"}}"#));
    b.push(Reply::json(completion_json("from b")));
    let response = gateway
        .send_with(
            &user("smart", "hi"),
            &[
                ("authorization", "Bearer ci-key"),
                ("x-request-id", "req-fallback"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);

    // A stream the client leaves after its first chunk: it never reports usage.
    b.push(Reply::held(&["first"], &["second"]));
    let response = gateway
        .chat_json(&user_stream("b/m", "four words of prompt"))
        .header("authorization", "Bearer ci-key")
        .header("x-request-id", "req-left")
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    read_until(&mut body, "first").await;
    drop(body);
    assert!(b.wait_abandoned(Duration::from_secs(5)).await);

    // A key over its dollar budget: its first answer spends it, the second is refused before any
    // attempt and has no row.
    b.push(Reply::json(completion_json("spent")));
    let spent = gateway.send_as("broke-key", &user("b/m", "hi")).await;
    assert_eq!(spent.status(), 200);
    let refused = gateway.send_as("broke-key", &user("b/m", "hi")).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-remaining-usd"], "0");

    // The same traffic in the metrics: the refusal by key, and what each key spent.
    let text = gateway
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(sample("switchyard_rate_limited_total{key=\"broke\"}"), 1.0);
    assert_eq!(
        sample("switchyard_cost_usd_total{provider=\"b\",target=\"b/m\",key=\"broke\"}"),
        0.000005
    );
    // The answer after the fallback is priced; the stream the client left reported no usage.
    assert_eq!(
        sample("switchyard_cost_usd_total{provider=\"b\",target=\"b/m\",key=\"ci\"}"),
        0.000005
    );
    assert_eq!(
        sample(
            "switchyard_upstream_attempts_total{provider=\"a\",target=\"a/m\",result=\"retried\"}"
        ),
        1.0
    );

    // The rows are on disk by the time a graceful shutdown returns.
    shutdown.begin();
    assert!(shutdown.returned_within(Duration::from_secs(10)).await);
    let rows = rows(&ledger);
    assert_eq!(rows.len(), 5, "{rows:#?}");

    let fallback: Vec<&Value> = rows
        .iter()
        .filter(|r| r["request_id"] == "req-fallback")
        .collect();
    assert_eq!(fallback.len(), 3);
    for (row, (attempt, target, outcome, status)) in fallback.iter().zip([
        (1, "a/m", "retried", 502),
        (2, "a/m", "fell_back", 502),
        (3, "b/m", "success", 200),
    ]) {
        assert_eq!(row["attempt"], attempt, "{row}");
        assert_eq!(row["target"], target, "{row}");
        assert_eq!(row["outcome"], outcome, "{row}");
        assert_eq!(row["status"], status, "{row}");
        assert_eq!(row["model"], "smart");
        assert_eq!(row["key"], "ci");
        assert_eq!(row["surface"], "chat");
        assert_eq!(row["stream"], false);
    }
    let (failed, served) = (fallback[0], fallback[2]);
    assert_eq!(failed["error"], "upstream_failed", "{failed}");
    assert_eq!(failed["reached_client"], false);
    assert!(failed["tokens"].is_null() && failed["cost_usd"].is_null());
    assert_eq!(served["reached_client"], true);
    assert_eq!(
        served["tokens"],
        serde_json::json!({"prompt": 3, "completion": 2, "cached_read": 0, "cache_write": 0, "reasoning": 0})
    );
    assert_eq!(served["estimated"], false);
    assert_eq!(served["cost_usd"], 0.000005);
    assert_eq!(served["prices"], "operator");
    assert!(
        served["ttft_ms"].is_null(),
        "a whole answer has no first token"
    );
    assert!(
        humantime::parse_rfc3339(served["time"].as_str().unwrap()).is_ok(),
        "{served}"
    );

    // The stream the client left: charged the estimate its key's limits used.
    let left = rows.iter().find(|r| r["request_id"] == "req-left").unwrap();
    assert_eq!(left["outcome"], "client_closed", "{left}");
    assert_eq!(left["stream"], true);
    assert_eq!(left["reached_client"], true);
    assert_eq!(left["estimated"], true);
    assert_eq!(
        left["tokens"]["completion"], 1,
        "one chunk of output: {left}"
    );
    assert!(left["tokens"]["prompt"].as_u64().unwrap() > 0, "{left}");
    assert!(left["ttft_ms"].as_f64().unwrap() > 0.0, "{left}");
    assert!(left["cost_usd"].as_f64().unwrap() > 0.0, "{left}");

    let broke: Vec<&Value> = rows.iter().filter(|r| r["key"] == "broke").collect();
    assert_eq!(
        broke.len(),
        1,
        "the refused request made no attempt: {broke:#?}"
    );

    // `switchyard usage` sums the same rows by target.
    let output = switchyard()
        .args(["usage", "--ledger"])
        .arg(&ledger)
        .args(["--since", "1h", "--by", "target"])
        .output()
        .unwrap();
    let table = stdout_of_success(&output);
    let line = |name: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    // TARGET REQUESTS ATTEMPTS FAILED PROMPT COMPLETION CACHED REASONING COST_USD
    assert_eq!(line("a/m")[1..4], ["1", "2", "2"], "{table}");
    let b_m = line("b/m");
    assert_eq!(b_m[1..4], ["3", "3", "0"], "{table}");
    assert_eq!(line("TOTAL")[1..3], ["3", "5"], "{table}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_ledger_that_cannot_be_written_drops_and_counts_rows_and_never_fails_a_request() {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let (upstream, gateway) =
        gateway_with_upstream(&format!("[ledger]\nfile = \"{}\"\n", full.display())).await;
    upstream.always(Reply::json(completion_json("fine")));
    for _ in 0..3 {
        assert_eq!(gateway.send(&user("up/m", "hi")).await.status(), 200);
    }
    let dropped = gateway
        .counter_reaching("switchyard_ledger_dropped_rows_total", 3.0)
        .await;
    assert_eq!(dropped, 3.0);
}

#[test]
fn a_ledger_file_that_cannot_be_opened_stops_the_start() {
    let config = switchyard::config::Config::from_toml(
        "[ledger]\nfile = \"/nonexistent/dir/ledger.jsonl\"\n",
        None,
        &|_| None,
    )
    .unwrap();
    let refused = switchyard::state::AppState::new(config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("cannot open the ledger file /nonexistent/dir/ledger.jsonl"),
        "{refused}"
    );
}
