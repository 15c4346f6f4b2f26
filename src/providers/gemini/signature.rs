//! Thought signatures carried statelessly through OpenAI clients.
//!
//! Gemini signs the reasoning behind a function call and refuses the next turn unless that call
//! comes back with its `thoughtSignature`. OpenAI clients echo only the tool-call id, so the
//! signature rides inside the id the gateway issues: `call_<random>__thought__<signature>`. No
//! server-side store, so any replica can serve the next turn.
//!
//! Signatures on other parts go to the client as `reasoning_details` entries of this format.

use crate::openai::message::{REASONING_ENCRYPTED, ReasoningDetail};

const MARK: &str = "__thought__";

/// `reasoning_details[].format` of Gemini signatures.
pub const FORMAT: &str = "google-gemini-v1";

/// A fresh tool-call id, carrying `signature` when there is one.
pub fn issue_id(signature: Option<&str>) -> String {
    let plain = format!("call_{}", uuid::Uuid::new_v4().simple());
    match signature {
        Some(signature) if !signature.is_empty() => {
            format!("{plain}{MARK}{}", to_id_alphabet(signature))
        }
        _ => plain,
    }
}

/// A tool-call id as a client sent it back: the plain id, and the signature it carried.
pub fn split_id(id: &str) -> (&str, Option<String>) {
    match id.split_once(MARK) {
        Some((plain, signature)) if !signature.is_empty() => {
            (plain, Some(from_id_alphabet(signature)))
        }
        _ => (id, None),
    }
}

/// A Gemini signature on a part other than a function call, for the message's
/// `reasoning_details`.
pub fn detail(signature: &str, index: u32) -> ReasoningDetail {
    ReasoningDetail {
        kind: REASONING_ENCRYPTED.to_owned(),
        text: None,
        signature: None,
        data: Some(signature.to_owned()),
        format: Some(FORMAT.to_owned()),
        index: Some(index),
    }
}

/// The signature of a `reasoning_details` entry, if it is one of ours.
pub fn from_detail(detail: &ReasoningDetail) -> Option<&str> {
    (detail.kind == REASONING_ENCRYPTED && detail.format.as_deref() == Some(FORMAT))
        .then_some(detail.data.as_deref())
        .flatten()
        .filter(|data| !data.is_empty())
}

// Signatures are protobuf bytes in proto3 JSON: standard base64. Ids travel better in the URL-safe
// alphabet without padding, which is what tool-call id validators (Anthropic's among them) accept,
// and the mapping back is exact.
fn to_id_alphabet(signature: &str) -> String {
    signature
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect()
}

fn from_id_alphabet(carried: &str) -> String {
    let mut signature: String = carried
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    while !signature.len().is_multiple_of(4) {
        signature.push('=');
    }
    signature
}
