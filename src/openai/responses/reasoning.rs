//! A target's signed reasoning carried through a Responses client. Chat targets hand their
//! reasoning back as `reasoning_details` (Anthropic's thinking with its signature, or its
//! redacted thinking), which they need again on the next turn: Anthropic refuses a tool loop
//! whose earlier assistant turn lost its signed thinking. A Responses client keeps such state in
//! a reasoning item's `encrypted_content` and sends the item back as it got it, so the details
//! go there, marked as the gateway's; an item from elsewhere (OpenAI's own encrypted reasoning)
//! is not the gateway's to read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// What starts the gateway's own `encrypted_content`; a version, should its form change.
const MARK: &str = "switchyard.reasoning.v1:";

/// `details` as an `encrypted_content`; none when there are none.
pub fn seal(details: &[Value]) -> Option<String> {
    if details.is_empty() {
        return None;
    }
    let json = serde_json::to_vec(details).ok()?;
    Some(format!("{MARK}{}", STANDARD.encode(json)))
}

/// The details an `encrypted_content` the gateway sealed carries; none for any other.
pub fn open(sealed: &str) -> Option<Vec<Value>> {
    let encoded = sealed.strip_prefix(MARK)?;
    let json = STANDARD.decode(encoded).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sealed_details_open_as_they_were_and_nothing_else_opens() {
        let details = vec![json!({"type": "reasoning.text", "text": "Think.",
            "signature": "EqQBCgIYAh", "format": "anthropic-claude-v1", "index": 0})];
        let sealed = seal(&details).unwrap_or_default();
        assert!(sealed.starts_with(MARK));
        assert_eq!(open(&sealed), Some(details));
        assert_eq!(seal(&[]), None);
        assert_eq!(open("gAAAAABoOpenAIsOwn"), None);
        assert_eq!(open(&format!("{MARK}not base64!")), None);
    }
}
