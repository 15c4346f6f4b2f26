use super::*;
use crate::config::{Glob, KeyDigest, KeyLimits, LimitsConfig};

fn key(limits: KeyLimits) -> GatewayKey {
    GatewayKey {
        name: "ci".into(),
        digest: KeyDigest::of("k"),
        models: vec![Glob::any()],
        limits,
        model_limits: Vec::new(),
    }
}

const M: &[String] = &[];

fn tokens(tokens: u64) -> Usage {
    Usage {
        tokens,
        micro_usd: 0,
    }
}

fn dollars(usd: f64) -> Usage {
    Usage::of(0, Some(usd))
}

/// 2026-11-24T06:00:20Z: 20 s into a minute.
const T0: u64 = 1_795_500_000 - 1_795_500_000 % DAY + 6 * 3600 + 20;

fn refused(result: Result<Quotas, Error>) -> (Quota, &'static str) {
    match result {
        Err(Error::RateLimited { quota, unit, .. }) => (quota, unit),
        other => unreachable!("expected a 429, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_per_minute_in_fixed_windows() {
    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let key = key(KeyLimits {
        rpm: Some(2),
        ..KeyLimits::default()
    });
    let first = limiter.admit(&key, M).await.ok().and_then(|q| q.requests);
    assert_eq!(
        first.map(|q| (q.remaining, q.reset.as_secs())),
        Some((1, 40))
    );
    assert_eq!(
        limiter
            .admit(&key, M)
            .await
            .ok()
            .and_then(|q| q.requests)
            .map(|q| q.remaining),
        Some(0)
    );
    let (quota, unit) = refused(limiter.admit(&key, M).await);
    assert_eq!(
        (quota.remaining, quota.reset.as_secs(), unit),
        (0, 40, "requests")
    );
    limiter.pin_clock(T0 + 40);
    assert_eq!(
        limiter
            .admit(&key, M)
            .await
            .ok()
            .and_then(|q| q.requests)
            .map(|q| q.remaining),
        Some(1)
    );
}

#[tokio::test]
async fn tokens_per_minute_count_what_was_used() {
    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let key = key(KeyLimits {
        tpm: Some(100),
        ..KeyLimits::default()
    });
    assert_eq!(
        limiter
            .admit(&key, M)
            .await
            .ok()
            .and_then(|q| q.tokens)
            .map(|q| q.remaining),
        Some(100)
    );
    limiter.record(&key, M, tokens(60)).await;
    assert_eq!(
        limiter
            .admit(&key, M)
            .await
            .ok()
            .and_then(|q| q.tokens)
            .map(|q| q.remaining),
        Some(40)
    );
    limiter.record(&key, M, tokens(45)).await;
    let (quota, unit) = refused(limiter.admit(&key, M).await);
    assert_eq!((quota.limit, unit), (100, "tokens"));
    limiter.pin_clock(T0 + 40);
    assert!(limiter.admit(&key, M).await.is_ok(), "a new minute");
}

#[tokio::test]
async fn budgets_run_out_and_reset_with_the_day_and_the_month() {
    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let daily = key(KeyLimits {
        tokens_per_day: Some(1000),
        ..KeyLimits::default()
    });
    limiter.record(&daily, M, tokens(1000)).await;
    let (quota, _) = refused(limiter.admit(&daily, M).await);
    assert_eq!(
        quota.reset,
        Duration::from_secs(DAY - 6 * 3600 - 20),
        "until UTC midnight"
    );
    limiter.pin_clock(T0 - T0 % DAY + DAY);
    assert!(limiter.admit(&daily, M).await.is_ok(), "a new day");

    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let monthly = key(KeyLimits {
        tokens_per_month: Some(500),
        ..KeyLimits::default()
    });
    limiter.record(&monthly, M, tokens(499)).await;
    assert!(limiter.admit(&monthly, M).await.is_ok());
    limiter.record(&monthly, M, tokens(1)).await;
    let (quota, _) = refused(limiter.admit(&monthly, M).await);
    assert_eq!(
        quota.reset,
        Duration::from_secs(6 * DAY + 18 * 3600 - 20),
        "until December 1st"
    );
    limiter.pin_clock(T0 + 6 * DAY + 18 * 3600);
    assert!(limiter.admit(&monthly, M).await.is_ok(), "a new month");
}

#[tokio::test]
async fn dollar_budgets_run_out_and_report_the_tighter_one_in_dollars() {
    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let key = key(KeyLimits {
        micro_usd_per_day: Some(2_000_000),
        micro_usd_per_month: Some(50_000_000),
        ..KeyLimits::default()
    });
    let usd = |quotas: Result<Quotas, Error>| quotas.ok().and_then(|q| q.usd);
    // The day has less left than the month: its budget is the one reported.
    let quota = usd(limiter.admit(&key, M).await);
    assert_eq!(
        quota.map(|q| (q.limit, q.remaining, q.reset.as_secs())),
        Some((2_000_000, 2_000_000, DAY - 6 * 3600 - 20))
    );
    limiter.record(&key, M, dollars(1.25)).await;
    let mut headers = HeaderMap::new();
    if let Ok(quotas) = limiter.admit(&key, M).await {
        quotas.write(&mut headers);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("x-ratelimit-limit-usd"), Some("2"));
    assert_eq!(header("x-ratelimit-remaining-usd"), Some("0.75"));
    assert_eq!(header("x-ratelimit-reset-usd"), Some("64780s"));

    // Spent: refused for the rest of the day, in dollars.
    limiter.record(&key, M, dollars(0.75)).await;
    let refusal = limiter.admit(&key, M).await;
    let message = refusal.as_ref().err().map(ToString::to_string);
    assert_eq!(
        message.as_deref(),
        Some("The key 'ci' is over its dollar budget of $2 per day.")
    );
    let (quota, unit) = refused(refusal);
    assert_eq!((quota.limit, quota.remaining, unit), (2_000_000, 0, "usd"));

    // A new day: the day's budget is whole again, the month's keeps what was spent.
    limiter.pin_clock(T0 - T0 % DAY + DAY);
    let quota = usd(limiter.admit(&key, M).await);
    assert_eq!(quota.map(|q| q.remaining), Some(2_000_000));
    limiter.record(&key, M, dollars(47.5)).await;
    // 49.50 spent this month: 0.50 left, less than the day's 2 (less the 47.5 spent today).
    let (quota, _) = refused(limiter.admit(&key, M).await);
    assert_eq!(quota.limit, 2_000_000, "the day's budget refuses first");
    limiter.pin_clock(T0 - T0 % DAY + 2 * DAY);
    let quota = usd(limiter.admit(&key, M).await);
    assert_eq!(
        quota.map(|q| (q.limit, q.remaining)),
        Some((50_000_000, 500_000)),
        "the month's is now the tighter"
    );
    limiter.record(&key, M, dollars(0.5)).await;
    let refusal = limiter.admit(&key, M).await;
    assert_eq!(
        refusal.as_ref().err().map(ToString::to_string).as_deref(),
        Some("The key 'ci' is over its dollar budget of $50 per month.")
    );
}

#[test]
fn dollars_are_written_without_trailing_zeros_or_exponents() {
    assert_eq!(super::dollars(50_000_000), "50");
    assert_eq!(super::dollars(250_000), "0.25");
    assert_eq!(super::dollars(1), "0.000001");
    assert_eq!(super::dollars(0), "0");
    assert_eq!(Usage::of(10, Some(0.0000004)).micro_usd, 0);
    assert_eq!(Usage::of(10, Some(0.0000015)).micro_usd, 2);
    assert_eq!(Usage::of(10, None).micro_usd, 0);
}

#[tokio::test]
async fn no_limits_no_counting() {
    let limiter = Limiter::new(&LimitsConfig::default());
    assert_eq!(
        limiter.admit(&key(KeyLimits::default()), M).await.ok(),
        Some(Quotas::default())
    );
}

#[tokio::test]
async fn model_limits_inside_a_key_count_apart() {
    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let mut key = key(KeyLimits {
        rpm: Some(10),
        ..KeyLimits::default()
    });
    key.model_limits = vec![(
        Glob::new("openai/*"),
        KeyLimits {
            rpm: Some(1),
            ..KeyLimits::default()
        },
    )];
    assert!(
        limiter
            .admit(&key, &["openai/gpt-4.1".to_owned()])
            .await
            .is_ok()
    );
    match limiter
        .admit(&key, &["openai/gpt-4.1-mini".to_owned()])
        .await
    {
        Err(Error::RateLimited { message, .. }) => {
            assert!(message.contains("for models 'openai/*'"), "{message}")
        }
        other => unreachable!("{other:?}"),
    }
    assert!(
        limiter.admit(&key, &["echo/x".to_owned()]).await.is_ok(),
        "other models only count against the key"
    );
}

#[tokio::test]
async fn the_most_specific_model_limit_applies_and_aliases_cannot_step_around_it() {
    let limiter = Limiter::new(&LimitsConfig::default());
    limiter.pin_clock(T0);
    let mut key = key(KeyLimits::default());
    key.model_limits = vec![
        (
            Glob::new("openai/*"),
            KeyLimits {
                rpm: Some(100),
                ..KeyLimits::default()
            },
        ),
        (
            Glob::new("openai/gpt-4.1"),
            KeyLimits {
                rpm: Some(1),
                ..KeyLimits::default()
            },
        ),
    ];
    // Asked for through an alias whose target is the limited model.
    let through_alias = ["smart".to_owned(), "openai/gpt-4.1".to_owned()];
    assert!(limiter.admit(&key, &through_alias).await.is_ok());
    match limiter.admit(&key, &["openai/gpt-4.1".to_owned()]).await {
        Err(Error::RateLimited { message, .. }) => {
            assert!(message.contains("'openai/gpt-4.1'"), "{message}")
        }
        other => unreachable!("{other:?}"),
    }
    assert!(
        limiter
            .admit(&key, &["openai/gpt-4o".to_owned()])
            .await
            .is_ok(),
        "the wider limit"
    );
}
