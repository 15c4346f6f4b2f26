//! What a config would serve, in words, for `switchyard check`.

use std::fmt::Write;

use super::Config;
use super::auth::KeyLimits;
use super::provider_kind::ProviderKind;
use super::routing::Strategy;

pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let source = config.source.as_ref().map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    let _ = writeln!(out, "config ok: {source}");
    let _ = writeln!(out, "listen: {}", config.server.listen);
    let _ = writeln!(out, "providers:");
    for provider in config.providers.values() {
        let _ = if provider.kind == ProviderKind::Echo {
            writeln!(out, "  {}/*  echo (built in, offline)", provider.name)
        } else {
            let key = if provider.api_keys.len() > 1 {
                "several"
            } else if provider.api_key().is_some() {
                "set"
            } else {
                "none"
            };
            writeln!(
                out,
                "  {}/*  {} {}  key: {key}",
                provider.name,
                provider.kind.label(),
                provider.base_url
            )
        };
    }
    if !config.models.is_empty() {
        let _ = writeln!(out, "aliases:");
        for (alias, model) in &config.models {
            let targets: Vec<String> = model
                .targets
                .iter()
                .map(|t| match (model.strategy, t.weight) {
                    (Strategy::Weighted, weight) => format!("{} (weight {weight})", t.key),
                    _ => t.key.clone(),
                })
                .collect();
            let strategy = match model.strategy {
                Strategy::Fallback => "",
                Strategy::Weighted => " [weighted]",
                Strategy::LeastLatency => " [least_latency]",
            };
            let _ = writeln!(out, "  {alias} -> {}{strategy}", targets.join(", "));
        }
    }
    if config.auth.keys.is_empty() {
        let anonymous = if config.auth.allow_anonymous {
            "allowed anywhere"
        } else {
            "loopback only"
        };
        let _ = writeln!(out, "gateway keys: none (anonymous requests: {anonymous})");
    } else {
        let _ = writeln!(out, "gateway keys:");
        for key in &config.auth.keys {
            let models: Vec<&str> = key.models.iter().map(|g| g.as_str()).collect();
            let _ = writeln!(
                out,
                "  {}  models: {}{}",
                key.name,
                models.join(", "),
                limits(&key.limits)
            );
        }
    }
    out
}

fn limits(limits: &KeyLimits) -> String {
    let parts: Vec<String> = [
        ("rpm", limits.rpm),
        ("tpm", limits.tpm),
        ("tokens_per_day", limits.tokens_per_day),
        ("tokens_per_month", limits.tokens_per_month),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name} {v}")))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("  limits: {}", parts.join(", "))
    }
}
