//! Durations ("10s", "250ms") and byte sizes ("32MiB") as written in config files.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A duration written the humantime way: "10s", "5m", "1h 30m", "250ms".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(ConfigDuration)
            .map_err(|e| {
                de::Error::custom(format!(
                    "invalid duration {text:?} ({e}); write e.g. \"10s\" or \"500ms\""
                ))
            })
    }
}

/// A byte size: an integer number of bytes, or a string such as "32MiB", "512KiB", "1GB".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bytes(u64),
            Text(String),
        }
        let bytes = match Form::deserialize(deserializer)? {
            Form::Bytes(n) => Some(n),
            Form::Text(text) => parse_size(&text),
        };
        bytes
            .and_then(|n| usize::try_from(n).ok())
            .map(ByteSize)
            .ok_or_else(|| {
                de::Error::custom("invalid size; write a number of bytes or e.g. \"32MiB\"")
            })
    }
}

/// The value if the file sets it, else the default.
pub fn dur(value: Option<ConfigDuration>, default_secs: u64) -> Duration {
    value.map_or(Duration::from_secs(default_secs), |d| d.0)
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32MiB"), Some(32 << 20));
        assert_eq!(parse_size("10 kb"), Some(10_000));
        assert_eq!(parse_size("7"), Some(7));
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("3 parsecs"), None);
    }
}
