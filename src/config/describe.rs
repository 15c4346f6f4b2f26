//! What a config would serve, in words, for `switchyard check`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Config;
use super::auth::{AuthConfig, KeyLimits};
use super::models::ModelAlias;
use super::provider_kind::ProviderKind;
use super::providers::ProviderConfig;
use super::routing::Strategy;

// Writing to a String cannot fail: the `fmt::Result`s below are dropped.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let source = config.source.as_ref().map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    let _ = writeln!(out, "config ok: {source}");
    let _ = writeln!(out, "listen: {}", config.server.listen);
    providers(&mut out, config.providers.values());
    aliases(&mut out, &config.models);
    gateway_keys(&mut out, &config.auth);
    out
}

fn providers<'a>(out: &mut String, providers: impl Iterator<Item = &'a ProviderConfig>) {
    let _ = writeln!(out, "providers:");
    for provider in providers {
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
            // Whether Codex's API goes to it as it is or translated onto chat.
            let responses = if provider.responses_native {
                "  responses: native"
            } else {
                ""
            };
            let reasoning = if provider.send_reasoning_back {
                "  reasoning sent back"
            } else {
                ""
            };
            writeln!(
                out,
                "  {}/*  {} {}  key: {key}{responses}{reasoning}",
                provider.name,
                provider.kind.label(),
                provider.base_url
            )
        };
    }
}

fn aliases(out: &mut String, models: &BTreeMap<String, ModelAlias>) {
    if models.is_empty() {
        return;
    }
    let _ = writeln!(out, "aliases:");
    for (alias, model) in models {
        let targets: Vec<String> = model
            .targets
            .iter()
            .map(|t| match (model.strategy, t.weight) {
                (Strategy::Weighted, weight) => format!("{} (weight {weight})", t.name),
                _ => t.name.clone(),
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

fn gateway_keys(out: &mut String, auth: &AuthConfig) {
    if auth.keys.is_empty() {
        let anonymous = if auth.allow_anonymous {
            "allowed anywhere"
        } else {
            "loopback only"
        };
        let _ = writeln!(out, "gateway keys: none (anonymous requests: {anonymous})");
        return;
    }
    let _ = writeln!(out, "gateway keys:");
    for key in &auth.keys {
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

fn limits(limits: &KeyLimits) -> String {
    let parts: Vec<String> = [
        ("rpm", limits.rpm),
        ("tpm", limits.tpm),
        ("tokens_per_day", limits.tokens_per_day),
        ("tokens_per_month", limits.tokens_per_month),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name} {v}")))
    .chain(
        [
            ("usd_per_day", limits.micro_usd_per_day),
            ("usd_per_month", limits.micro_usd_per_month),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name} ${}", v as f64 / 1e6))),
    )
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("  limits: {}", parts.join(", "))
    }
}
