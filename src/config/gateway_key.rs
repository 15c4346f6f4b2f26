//! A gateway key, held only as its SHA-256 digest.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
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
    }
}
