//! `${VAR}` and `${VAR:-default}` interpolation in every string of a parsed config.

use toml::Value;

/// The environment as the loader sees it; tests pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Replaces `${VAR}` references in every string value, in place. `lookup` reads the environment
/// (tests pass their own). An unset variable without a default is an error naming the key path.
pub fn interpolate(
    value: &mut Value,
    path: &mut Vec<String>,
    lookup: EnvLookup<'_>,
) -> Result<(), String> {
    match value {
        Value::String(text) if text.contains("${") => {
            *text = expand(text, lookup).map_err(|e| format!("{}: {e}", path.join(".")))?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate(item, path, lookup)?;
                path.pop();
            }
        }
        Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                path.push(key.clone());
                interpolate(item, path, lookup)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand(text: &str, lookup: EnvLookup<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid environment variable name {name:?}"));
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "sk-1".to_owned())
    }

    #[test]
    fn expands_set_defaulted_and_missing_variables() {
        assert_eq!(expand("Bearer ${KEY}", &env).as_deref(), Ok("Bearer sk-1"));
        assert_eq!(expand("${NOPE:-x}/${KEY}", &env).as_deref(), Ok("x/sk-1"));
        assert_eq!(expand("plain", &env).as_deref(), Ok("plain"));
        assert!(
            expand("${NOPE}", &env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(expand("${KEY", &env).is_err());
    }

    #[test]
    fn errors_name_the_key_path() {
        let mut value: Value = toml::from_str("[providers.groq]\napi_key = \"${NOPE}\"")
            .unwrap_or(Value::Boolean(false));
        let err = interpolate(&mut value, &mut Vec::new(), &env).unwrap_err();
        assert!(err.starts_with("providers.groq.api_key:"), "{err}");
    }
}
