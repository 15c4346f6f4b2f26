//! A gateway key, held only as its SHA-256 digest.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// A digest written as 64 hex digits (`sha256:` prefix allowed).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        let hex = hex.strip_prefix("sha256:").unwrap_or(hex).as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// Constant time, and over digests of equal length, so timing tells nothing about the key.
    pub fn matches(&self, presented: &KeyDigest) -> bool {
        self.0.ct_eq(&presented.0).into()
    }
}

impl std::fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDigest([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_key() {
        let key = KeyDigest::of("gw-key");
        assert!(key.matches(&KeyDigest::of("gw-key")));
        assert!(!key.matches(&KeyDigest::of("gw-key ")));
        assert!(!key.matches(&KeyDigest::of("")));
        // printf %s gw-key | sha256sum
        let hex = "7f90faf7347c6538b8ade99c16aa25b3eba67a84506a94ef8e580d7d0d7550e8";
        assert!(KeyDigest::from_hex(hex).is_some_and(|d| d.matches(&key)));
        assert!(
            KeyDigest::from_hex(&format!("sha256:{}", hex.to_uppercase()))
                .is_some_and(|d| d.matches(&key))
        );
        assert!(KeyDigest::from_hex("abc").is_none());
        assert!(KeyDigest::from_hex(&"zz".repeat(32)).is_none());
    }
}
