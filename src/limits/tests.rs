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
    limiter.record(&key, M, 60).await;
    assert_eq!(
        limiter
            .admit(&key, M)
            .await
            .ok()
            .and_then(|q| q.tokens)
            .map(|q| q.remaining),
        Some(40)
    );
    limiter.record(&key, M, 45).await;
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
    limiter.record(&daily, M, 1000).await;
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
    limiter.record(&monthly, M, 499).await;
    assert!(limiter.admit(&monthly, M).await.is_ok());
    limiter.record(&monthly, M, 1).await;
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
