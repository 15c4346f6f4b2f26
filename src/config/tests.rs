use super::models::WeightedTarget;
use super::*;

fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn load(text: &str, vars: &'static [(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    Config::from_toml(text, Some(Path::new("test.toml")), &env_with(vars))
}

#[test]
fn defaults_serve_echo_and_ollama_only() {
    let config = load("", &[]).unwrap_or_else(|e| unreachable!("{e}"));
    let names: Vec<_> = config.providers.keys().cloned().collect();
    assert_eq!(names, ["echo", "ollama"]);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.body_limit, 32 << 20);
    assert_eq!(config.server.stream_hold_back, Duration::from_secs(10));
}

#[test]
fn catalog_entries_are_enabled_by_their_variable() {
    let config = load("", &[("GROQ_API_KEY", "gsk-1"), ("OPENAI_API_KEY", "")])
        .unwrap_or_else(|e| unreachable!("{e}"));
    let groq = &config.providers["groq"];
    assert_eq!(groq.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(groq.api_key().map(Secret::expose), Some("gsk-1"));
    assert!(
        !config.providers.contains_key("openai"),
        "an empty variable enables nothing"
    );
}

#[test]
fn gemini_is_enabled_by_either_google_variable_preferring_gemini_api_key() {
    let config = load("", &[("GOOGLE_API_KEY", "g-2")]).unwrap_or_else(|e| unreachable!("{e}"));
    let gemini = &config.providers["gemini"];
    assert_eq!(gemini.kind, ProviderKind::Gemini);
    assert_eq!(
        gemini.base_url,
        "https://generativelanguage.googleapis.com/v1beta"
    );
    assert_eq!(gemini.api_key().map(Secret::expose), Some("g-2"));
    let both = load("", &[("GOOGLE_API_KEY", "g-2"), ("GEMINI_API_KEY", "g-1")])
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        both.providers["gemini"].api_key().map(Secret::expose),
        Some("g-1")
    );
    let configured = load("[providers.vertexish]\nkind = \"gemini\"\nbase_url = \"http://127.0.0.1:1/v1beta\"\napi_key = \"k\"", &[])
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(configured.providers["vertexish"].kind.label(), "gemini");
}

#[test]
fn anthropic_is_a_catalog_kind_with_a_max_tokens_default() {
    let config = load(
        "[providers.claude-eu]\nkind = \"anthropic\"\nbase_url = \"https://eu.example.com/\"\napi_key = \"k\"\ndefault_max_tokens = 1024\n",
        &[("ANTHROPIC_API_KEY", "sk-ant-1")],
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let builtin = &config.providers["anthropic"];
    assert_eq!(
        builtin.kind,
        ProviderKind::Anthropic {
            default_max_tokens: 4096
        }
    );
    assert_eq!(builtin.base_url, "https://api.anthropic.com");
    assert_eq!(builtin.kind.label(), "anthropic");
    assert_eq!(builtin.api_key().map(Secret::expose), Some("sk-ant-1"));
    let configured = &config.providers["claude-eu"];
    assert_eq!(configured.base_url, "https://eu.example.com");
    assert_eq!(
        configured.kind,
        ProviderKind::Anthropic {
            default_max_tokens: 1024
        }
    );
    assert!(error_of("[providers.x]\nbase_url = \"http://a\"").contains("\"anthropic\""));
}

#[test]
fn config_overrides_and_adds_providers() {
    let text = r#"
        [server]
        listen = "0.0.0.0:9000"
        body_limit = "1MiB"
        [upstream]
        idle_timeout = "5s"
        [providers.openai]
        base_url = "http://127.0.0.1:1/v1/"
        api_key = "${MY_KEY}"
        [providers.local]
        kind = "openai"
        base_url = "http://127.0.0.1:2"
        headers = { "X-Title" = "switchyard" }
        first_byte_timeout = "2s"
        [models.fast]
        targets = ["local/llama", "openai/gpt-4.1-mini"]
        [auth]
        keys = ["${GATEWAY_KEY:-k1}"]
    "#;
    let config = load(text, &[("MY_KEY", "sk-x")]).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.server.body_limit, 1 << 20);
    assert_eq!(config.providers["openai"].base_url, "http://127.0.0.1:1/v1");
    assert_eq!(
        config.providers["openai"].api_key().map(Secret::expose),
        Some("sk-x")
    );
    let local = &config.providers["local"];
    assert!(local.api_keys.is_empty());
    assert_eq!(local.bounds.first_byte, Duration::from_secs(2));
    assert_eq!(local.bounds.idle, Duration::from_secs(5));
    assert_eq!(local.headers.len(), 1);
    assert_eq!(config.models["fast"].targets.len(), 2);
    assert!(config.auth.keys[0].digest.matches(&KeyDigest::of("k1")));
}

fn error_of(text: &str) -> String {
    match load(text, &[]) {
        Ok(_) => unreachable!("config should have been rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_the_file_and_the_key_path() {
    let cases = [
        (
            "[server]\nlisten = \"nowhere\"",
            "test.toml: server.listen:",
        ),
        ("[server]\nlisten = 8080", "test.toml: server.listen:"),
        ("[server]\nlistne = \"x\"", "unknown field `listne`"),
        (
            "[providers.x]\nbase_url = \"http://a\"",
            "test.toml: providers.x.kind: missing",
        ),
        (
            "[providers.x]\nkind = \"bogus\"",
            "test.toml: providers.x.kind:",
        ),
        (
            "[providers.x]\nkind = \"openai\"",
            "test.toml: providers.x.base_url: missing",
        ),
        (
            "[providers.x]\nkind = \"openai\"\nbase_url = \"ftp://a\"",
            "providers.x.base_url: must start with http",
        ),
        (
            "[providers.x]\nkind = \"openai\"\nbase_url = \"http://a\"\napi_key = \"${UNSET}\"",
            "providers.x.api_key: environment variable UNSET is not set",
        ),
        (
            "[providers.groq]\nbase_url = \"http://a\"",
            "providers.groq.api_key: not set here, and GROQ_API_KEY",
        ),
        (
            "[models.smart]\ntargets = []",
            "test.toml: models.smart.targets: must list",
        ),
        (
            "[models.smart]\ntargets = [\"nope/m\"]",
            "models.smart.targets.0: unknown provider 'nope'",
        ),
        (
            "[models.smart]\ntargets = [\"openai/gpt\"]",
            "enabled by setting OPENAI_API_KEY",
        ),
        (
            "[models.smart]\ntargets = [\"echo\"]",
            "models.smart.targets.0: \"echo\" is not a provider/model key",
        ),
        (
            "[server]\nstream_hold_back = \"soon\"",
            "server.stream_hold_back: invalid duration",
        ),
        (
            "[auth]\nkeys = [\"\"]",
            "auth.keys.0: a gateway key must not be empty",
        ),
        (
            "[providers.\"a/b\"]\nkind = \"echo\"",
            "providers.a/b: a provider name",
        ),
        ("not toml at all =", "test.toml:"),
        (
            "[models.s]\nstrategy = \"weighted\"\ntargets = [{ key = \"echo/a\", weight = 0 }]",
            "test.toml: models.s.targets.0.weight: must be at least 1",
        ),
        (
            "[models.s]\ntargets = [{ key = \"nope/a\", weight = 2 }]",
            "models.s.targets.0: unknown provider 'nope'",
        ),
        (
            "[models.s]\nstrategy = \"random\"\ntargets = [\"echo/a\"]",
            "test.toml: models.s.strategy: unknown variant `random`",
        ),
        (
            "[models.s]\ntargets = [\"echo/a\"]\nfirst_token_timeout = \"soon\"",
            "models.s.first_token_timeout: invalid duration",
        ),
        ("[routing]\nbackoff = \"1s\"", "unknown field `backoff`"),
        (
            "[auth]\nkeys = [{ name = \"a\" }]",
            "auth.keys.0: needs key (the key itself) or sha256",
        ),
        (
            "[auth]\nkeys = [{ name = \"a\", key = \"k\", sha256 = \"00\" }]",
            "auth.keys.0: give either key or sha256",
        ),
        (
            "[auth]\nkeys = [{ name = \"a\", sha256 = \"xyz\" }]",
            "auth.keys.0.sha256: must be 64 hex digits",
        ),
        (
            "[auth]\nkeys = [{ name = \"a\", key = \"k1\" }, { name = \"a\", key = \"k2\" }]",
            "auth.keys.1.name: the name \"a\" is used twice",
        ),
        (
            "[auth]\nkeys = [\"k1\", \"k1\"]",
            "auth.keys.1: the same key is listed twice",
        ),
        (
            "[auth]\nkeys = [{ name = \"a\", key = \"k\", models = [] }]",
            "auth.keys.0.models: lists nothing",
        ),
        (
            "[auth]\nkeys = [{ name = \"a\", key = \"k\", rpm = 0 }]",
            "auth.keys.0.rpm: must be at least 1",
        ),
        (
            "[providers.x]\nkind = \"openai\"\nbase_url = \"http://a\"\napi_key = []",
            "providers.x.api_key: lists no key",
        ),
        (
            "[providers.x]\nkind = \"openai\"\nbase_url = \"http://a\"\napi_key = [\"k1\", \"\"]",
            "providers.x.api_key.1: is empty",
        ),
        (
            "[providers.x]\nkind = \"openai\"\nbase_url = \"http://a\"\napi_key = \"sk-1\\n\"",
            "providers.x.api_key: contains characters",
        ),
    ];
    for (text, expected) in cases {
        let error = error_of(text);
        assert!(
            error.contains(expected),
            "for {text:?}\n  got: {error}\n want: {expected}"
        );
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let error = Config::load(
        Some(Path::new("/nonexistent/switchyard.toml")),
        &env_with(&[]),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("/nonexistent/switchyard.toml: cannot read"),
        "{error}"
    );
}

#[test]
fn aliases_are_routing_policies() {
    let text = r#"
        [models.smart]
        strategy = "least_latency"
        targets = ["echo/a", { key = "echo/b", weight = 3 }]
        retries = 2
        first_token_timeout = "10s"
        [models.plain]
        targets = ["echo/c"]
        [routing]
        deadline = "45s"
        retries = 1
        cooldown_failures = 5
    "#;
    let config = load(text, &[]).unwrap_or_else(|e| unreachable!("{e}"));
    let smart = &config.models["smart"];
    assert_eq!(smart.strategy, Strategy::LeastLatency);
    assert_eq!(
        smart.targets[1],
        AliasTarget {
            name: "echo/b".into(),
            provider: "echo".into(),
            model: "b".into(),
            weight: 3
        }
    );
    assert_eq!(smart.targets[0].weight, 1);
    assert_eq!(smart.retries, Some(2));
    assert_eq!(smart.first_token_timeout, Some(Duration::from_secs(10)));
    let plain = &config.models["plain"];
    assert_eq!(
        (plain.strategy, plain.retries, plain.first_token_timeout),
        (Strategy::Fallback, None, None)
    );
    assert_eq!(config.routing.deadline, Duration::from_secs(45));
    assert_eq!(config.routing.retries, 1);
    assert_eq!(config.routing.cooldown_failures, 5);
}

#[test]
fn a_provider_can_hold_several_keys() {
    let text = "[providers.x]\nkind = \"openai\"\nbase_url = \"http://a\"\napi_key = [\"${K1}\", \"k2\"]\nretries = 3";
    let config = load(text, &[("K1", "k1")]).unwrap_or_else(|e| unreachable!("{e}"));
    let keys: Vec<&str> = config.providers["x"]
        .api_keys
        .iter()
        .map(Secret::expose)
        .collect();
    assert_eq!(keys, ["k1", "k2"]);
    assert_eq!(config.providers["x"].retries, Some(3));
    assert!(describe(&config).contains("x/*  openai-compatible http://a  key: several"));
}

#[test]
fn named_keys_with_models_and_limits() {
    let text = r#"
        [auth]
        keys = ["${SIMPLE}", { name = "ci", key = "${CI}", models = ["echo/*", "openai/gpt-4.1-mini"], rpm = 60 }]
        [[auth.keys]]
        name = "app"
        sha256 = "7f90faf7347c6538b8ade99c16aa25b3eba67a84506a94ef8e580d7d0d7550e8"
        rpm = 5
    "#;
    // The `keys = [...]` array and [[auth.keys]] tables cannot both be written in one file;
    // each form is checked on its own.
    assert!(load(text, &[("SIMPLE", "s"), ("CI", "c")]).is_err());
    let inline = text.split("[[auth.keys]]").next().unwrap_or_default();
    let config =
        load(inline, &[("SIMPLE", "s"), ("CI", "c")]).unwrap_or_else(|e| unreachable!("{e}"));
    let ci = &config.auth.keys[1];
    assert_eq!(ci.name, "ci");
    assert!(
        ci.may_use("echo/x") && ci.may_use("openai/gpt-4.1-mini") && !ci.may_use("openai/gpt-4.1")
    );
    assert_eq!(
        ci.limits,
        KeyLimits {
            rpm: Some(60),
            tpm: None,
            tokens_per_day: None,
            tokens_per_month: None,
            micro_usd_per_day: None,
            micro_usd_per_month: None,
        }
    );
    assert_eq!(config.auth.keys[0].name, "key-0");
    let tables = format!(
        "[auth]\n{}",
        text.split("[[auth.keys]]")
            .nth(1)
            .map(|t| format!("[[auth.keys]]{t}"))
            .unwrap_or_default()
    );
    let config = load(&tables, &[]).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(config.auth.keys[0].name, "app");
    assert!(config.auth.keys[0].digest.matches(&KeyDigest::of("gw-key")));
    assert_eq!(config.auth.keys[0].limits.rpm, Some(5));
}

#[test]
fn a_redis_url_error_does_not_repeat_the_password() {
    let error =
        error_of("[limits]\nbackend = \"redis\"\nredis_url = \"bogus://user:pw-secret-123@host\"");
    assert!(error.contains("limits.redis_url"), "{error}");
    assert!(!error.contains("pw-secret-123"), "{error}");
}

#[test]
fn per_kind_settings_live_on_their_kind() {
    let text = r#"
        [providers.az]
        kind = "azure"
        base_url = "https://r.openai.azure.com/openai"
        api_key = "k"
        api_version = "2024-10-21"
        [providers.az-v1]
        kind = "azure"
        base_url = "https://r.openai.azure.com/openai/v1"
        api_key = "k"
        [providers.local]
        kind = "openai"
        base_url = "http://a"
        default_max_tokens = 9
    "#;
    let config = load(text, &[]).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        config.providers["az"].kind,
        ProviderKind::Azure {
            api_version: Some("2024-10-21".into())
        }
    );
    assert_eq!(
        config.providers["az-v1"].kind,
        ProviderKind::Azure { api_version: None }
    );
    // Accepted and unused, as it was before kinds carried their settings.
    assert_eq!(config.providers["local"].kind, ProviderKind::Openai);
    for kind in ["openai", "anthropic", "gemini", "echo"] {
        let error = error_of(&format!(
            "[providers.x]\nkind = \"{kind}\"\nbase_url = \"http://a\"\napi_version = \"v\""
        ));
        assert!(
            error.contains(
                "test.toml: providers.x.api_version: only azure providers take an api_version"
            ),
            "{error}"
        );
    }
}

#[test]
fn alias_targets_are_split_at_load() {
    let config = load("[models.m]\ntargets = [\"echo/meta-llama/Llama-3\"]", &[])
        .unwrap_or_else(|e| unreachable!("{e}"));
    let target = &config.models["m"].targets[0];
    assert_eq!(
        (
            target.name.as_str(),
            target.provider.as_str(),
            target.model.as_str()
        ),
        ("echo/meta-llama/Llama-3", "echo", "meta-llama/Llama-3")
    );
}

#[test]
fn limits_choices() {
    let config = load("", &[]).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(config.limits.backend, LimitsBackend::Memory);
    assert!(config.limits.allow_on_backend_error);
    let config = load(
        "[limits]\nbackend = \"redis\"\non_backend_error = \"deny\"",
        &[],
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        config.limits.backend,
        LimitsBackend::Redis {
            url: "redis://127.0.0.1:6379".into()
        }
    );
    assert!(!config.limits.allow_on_backend_error);
    for (text, expected) in [
        (
            "[limits]\nbackend = \"disk\"",
            "test.toml: limits.backend: unknown variant `disk`, expected `memory` or `redis`",
        ),
        (
            "[limits]\non_backend_error = \"maybe\"",
            "test.toml: limits.on_backend_error: unknown variant `maybe`, expected `allow` or `deny`",
        ),
    ] {
        let error = error_of(text);
        assert!(error.contains(expected), "got: {error}\nwant: {expected}");
    }
}

/// The keys a table accepts, read from serde's own refusal of an unknown one, so this list can
/// never fall behind the config types.
fn accepted_keys(toml: &str) -> Vec<String> {
    fields_in(&error_of(toml))
}

/// The same for a type that is one variant of an untagged enum (whose own error says less).
fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<String> {
    match toml::from_str::<T>("zz_unknown = 1") {
        Ok(_) => unreachable!("an unknown field was accepted"),
        Err(error) => fields_in(&error.to_string()),
    }
}

fn fields_in(error: &str) -> Vec<String> {
    let expected = error
        .split("expected one of ")
        .nth(1)
        .or_else(|| error.split("expected ").nth(1))
        .unwrap_or_else(|| unreachable!("no list of fields in: {error}"));
    expected
        .split(", ")
        .filter_map(|field| {
            field
                .trim()
                .strip_prefix('`')?
                .split('`')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn the_reference_config_shows_every_key() {
    let reference = include_str!("../../config/switchyard.toml");
    let tables = [
        "zz_unknown = 1",
        "[server]\nzz_unknown = 1",
        "[upstream]\nzz_unknown = 1",
        "[routing]\nzz_unknown = 1",
        "[limits]\nzz_unknown = 1",
        "[auth]\nzz_unknown = 1",
        "[metrics]\nzz_unknown = 1",
        "[pricing]\nzz_unknown = 1",
        "[ledger]\nzz_unknown = 1",
        "[telemetry]\nzz_unknown = 1",
        "[providers.p]\nzz_unknown = 1",
        "[models.m]\nzz_unknown = 1",
    ];
    let mut all: Vec<(String, Vec<String>)> = tables
        .iter()
        .map(|t| ((*t).to_owned(), accepted_keys(t)))
        .collect();
    all.push(("alias target".into(), fields_of::<WeightedTarget>()));
    all.push(("named key".into(), fields_of::<auth::NamedKey>()));
    all.push(("model limits".into(), fields_of::<auth::RawLimits>()));
    let mut missing = Vec::new();
    for (table, keys) in all {
        assert!(!keys.is_empty(), "no keys read for {table}");
        let table = table.as_str();
        for key in keys {
            let shown = reference.lines().any(|line| {
                if line.starts_with(&format!("[{key}]")) || line.starts_with(&format!("[{key}.")) {
                    return true;
                }
                let line = line.trim_start_matches(['#', ' ', '[', '{']);
                line.starts_with(&format!("{key} "))
                    || line.starts_with(&format!("{key}="))
                    || line.starts_with(&format!("{key}."))
                    || line.contains(&format!(" {key} = "))
                    || line.contains(&format!("{{ {key} = "))
            });
            if !shown {
                missing.push(format!(
                    "{key} (from `{}`)",
                    table.lines().next().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config/switchyard.toml does not show: {missing:?}"
    );
}

#[test]
fn deepseeks_api_gets_the_reasoning_back_by_default_and_any_openai_server_can() {
    let config = load(
        "[providers.mine]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nsend_reasoning_back = true\n\
         [providers.proxied]\nkind = \"openai\"\nbase_url = \"https://api.deepseek.com/v1\"\nsend_reasoning_back = false\n",
        &[("DEEPSEEK_API_KEY", "sk-ds"), ("GROQ_API_KEY", "gsk-1")],
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let back = |name: &str| config.providers[name].send_reasoning_back;
    assert!(back("deepseek"), "the built-in entry");
    assert!(!back("groq"));
    assert!(back("mine"));
    assert!(!back("proxied"), "what the table says wins");
    let error = error_of(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\napi_key = \"k\"\nsend_reasoning_back = true\n",
    );
    assert!(error.contains("send_reasoning_back"), "{error}");
}
