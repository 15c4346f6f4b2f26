//! `[auth]`: the gateway's own keys (plain from env, or SHA-256 digests so the file holds no
//! secret), what each may use, and its limits.

use serde::Deserialize;

use super::gateway_key::KeyDigest;
use super::glob::Glob;
use super::invalid::Invalid;

#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Serve requests without a key even off loopback (only meaningful without keys).
    pub allow_anonymous: bool,
    pub keys: Vec<GatewayKey>,
}

/// One gateway key: known by its name in logs and metrics, never by the key itself.
#[derive(Debug, Clone)]
pub struct GatewayKey {
    pub name: String,
    pub digest: KeyDigest,
    /// Routing keys and aliases it may use.
    pub models: Vec<Glob>,
    pub limits: KeyLimits,
    /// Limits on some models only, counted apart: the most specific glob that matches applies.
    pub model_limits: Vec<(Glob, KeyLimits)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (prompt + completion) per minute.
    pub tpm: Option<u64>,
    pub tokens_per_day: Option<u64>,
    pub tokens_per_month: Option<u64>,
    /// Dollar budgets, in millionths of a dollar (counters stay integers, in Redis too).
    pub micro_usd_per_day: Option<u64>,
    pub micro_usd_per_month: Option<u64>,
}

impl KeyLimits {
    /// Some limit counts tokens or dollars: the key's usage must be measured.
    pub fn counts_tokens(&self) -> bool {
        self.tpm.is_some()
            || self.tokens_per_day.is_some()
            || self.tokens_per_month.is_some()
            || self.micro_usd_per_day.is_some()
            || self.micro_usd_per_month.is_some()
    }
}

impl GatewayKey {
    pub fn may_use(&self, model: &str) -> bool {
        self.models.iter().any(|glob| glob.matches(model))
    }

    /// The per-model limits that apply to a request for `models` (the name asked for, and for
    /// an alias its targets, so an alias cannot step around a model's limits): the most specific
    /// glob that matches any of them.
    pub fn model_limits(&self, models: &[String]) -> Option<(&Glob, &KeyLimits)> {
        self.model_limits
            .iter()
            .filter(|(glob, _)| models.iter().any(|model| glob.matches(model)))
            .max_by_key(|(glob, _)| glob.specificity())
            .map(|(glob, limits)| (glob, limits))
    }

    /// Some limit of this key, or of one of its models, counts tokens.
    pub fn counts_tokens(&self) -> bool {
        self.limits.counts_tokens()
            || self
                .model_limits
                .iter()
                .any(|(_, limits)| limits.counts_tokens())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    #[serde(default)]
    allow_anonymous: bool,
    #[serde(default)]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawKey {
    Plain(String),
    Named(NamedKey),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamedKey {
    name: String,
    key: Option<String>,
    sha256: Option<String>,
    models: Option<Vec<String>>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    tokens_per_day: Option<u64>,
    tokens_per_month: Option<u64>,
    usd_per_day: Option<f64>,
    usd_per_month: Option<f64>,
    #[serde(default)]
    model_limits: std::collections::BTreeMap<String, RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    rpm: Option<u64>,
    tpm: Option<u64>,
    tokens_per_day: Option<u64>,
    tokens_per_month: Option<u64>,
    usd_per_day: Option<f64>,
    usd_per_month: Option<f64>,
}

pub(super) fn validate(raw: RawAuth) -> Result<AuthConfig, Invalid> {
    let mut keys: Vec<GatewayKey> = Vec::with_capacity(raw.keys.len());
    for (i, key) in raw.keys.into_iter().enumerate() {
        let path = format!("auth.keys.{i}");
        let key = match key {
            RawKey::Plain(key) => GatewayKey {
                name: format!("key-{i}"),
                digest: plain(&key, &path)?,
                models: vec![Glob::any()],
                limits: KeyLimits::default(),
                model_limits: Vec::new(),
            },
            RawKey::Named(named) => named_key(named, &path)?,
        };
        if keys.iter().any(|k| k.name == key.name) {
            return Err((
                format!("{path}.name"),
                format!("the name {:?} is used twice", key.name),
            ));
        }
        if keys.iter().any(|k| k.digest == key.digest) {
            return Err((path, "the same key is listed twice".into()));
        }
        keys.push(key);
    }
    Ok(AuthConfig {
        allow_anonymous: raw.allow_anonymous,
        keys,
    })
}

fn named_key(named: NamedKey, path: &str) -> Result<GatewayKey, Invalid> {
    let name = named.name.trim().to_owned();
    if name.is_empty() {
        return Err((format!("{path}.name"), "must not be empty".into()));
    }
    let digest = digest(named.key, named.sha256, path)?;
    let models = match named.models {
        None => vec![Glob::any()],
        Some(models) if models.is_empty() => {
            return Err((
                format!("{path}.models"),
                "lists nothing: the key could use no model".into(),
            ));
        }
        Some(models) => models.iter().map(|m| Glob::new(m)).collect(),
    };
    let limits = validate_limits(
        RawLimits {
            rpm: named.rpm,
            tpm: named.tpm,
            tokens_per_day: named.tokens_per_day,
            tokens_per_month: named.tokens_per_month,
            usd_per_day: named.usd_per_day,
            usd_per_month: named.usd_per_month,
        },
        path,
    )?;
    let model_limits = named
        .model_limits
        .into_iter()
        .map(|(pattern, raw)| {
            Ok((
                Glob::new(&pattern),
                validate_limits(raw, &format!("{path}.model_limits.{pattern}"))?,
            ))
        })
        .collect::<Result<Vec<_>, Invalid>>()?;
    Ok(GatewayKey {
        name,
        digest,
        models,
        limits,
        model_limits,
    })
}

fn digest(key: Option<String>, sha256: Option<String>, path: &str) -> Result<KeyDigest, Invalid> {
    match (key, sha256) {
        (Some(key), None) => plain(&key, &format!("{path}.key")),
        (None, Some(hex)) => KeyDigest::from_hex(&hex).ok_or_else(|| {
            (
                format!("{path}.sha256"),
                "must be 64 hex digits: the SHA-256 of the key (e.g. printf %s \"$KEY\" | sha256sum)".into(),
            )
        }),
        (Some(_), Some(_)) => Err((path.to_owned(), "give either key or sha256, not both".into())),
        (None, None) => Err((
            path.to_owned(),
            "needs key (the key itself) or sha256 (its digest)".into(),
        )),
    }
}

fn validate_limits(raw: RawLimits, path: &str) -> Result<KeyLimits, Invalid> {
    let limits = KeyLimits {
        rpm: raw.rpm,
        tpm: raw.tpm,
        tokens_per_day: raw.tokens_per_day,
        tokens_per_month: raw.tokens_per_month,
        micro_usd_per_day: micro_usd(raw.usd_per_day, &format!("{path}.usd_per_day"))?,
        micro_usd_per_month: micro_usd(raw.usd_per_month, &format!("{path}.usd_per_month"))?,
    };
    for (field, value) in [
        ("rpm", limits.rpm),
        ("tpm", limits.tpm),
        ("tokens_per_day", limits.tokens_per_day),
        ("tokens_per_month", limits.tokens_per_month),
    ] {
        if value == Some(0) {
            return Err((
                format!("{path}.{field}"),
                "must be at least 1 (leave it out for no limit)".into(),
            ));
        }
    }
    Ok(limits)
}

/// A dollar budget in millionths of a dollar: at least one of them, at most a trillion dollars.
fn micro_usd(usd: Option<f64>, path: &str) -> Result<Option<u64>, Invalid> {
    let Some(usd) = usd else {
        return Ok(None);
    };
    let micros = (usd * 1e6).round();
    if !(1.0..=1e18).contains(&micros) {
        return Err((
            path.to_owned(),
            "must be a dollar amount of at least 0.000001 (leave it out for no budget)".into(),
        ));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(micros as u64))
}

fn plain(key: &str, path: &str) -> Result<KeyDigest, Invalid> {
    if key.trim().is_empty() {
        return Err((path.to_owned(), "a gateway key must not be empty".into()));
    }
    Ok(KeyDigest::of(key))
}
