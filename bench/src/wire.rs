//! The bytes the bench sends and the fake upstream answers: shaped like OpenAI's own, so the
//! gateway does the work it does on real traffic.

use std::time::Duration;

/// A stream's shape, named by the model the client asks for: `c{chunks}d{delay ms}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    pub chunks: u32,
    pub delay: Duration,
}

impl Profile {
    pub fn parse(model: &str) -> Option<Self> {
        let rest = model.strip_prefix('c')?;
        let (chunks, delay) = rest.split_once('d')?;
        Some(Self {
            chunks: chunks.parse().ok()?,
            delay: Duration::from_millis(delay.parse().ok()?),
        })
    }

    pub fn model(&self) -> String {
        format!("c{}d{}", self.chunks, self.delay.as_millis())
    }
}

/// The model a non-stream request names.
pub const JSON_MODEL: &str = "json";

/// Where `needle` first stands in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of the first `"model":"..."` in a request body.
pub fn model_of(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"model\":\"";
    let start = find(body, KEY)? + KEY.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

/// A small, typical chat request.
pub fn request(model: &str, stream: bool) -> String {
    format!(
        concat!(
            r#"{{"model":"{model}","messages":[{{"role":"system","content":"You are a terse assistant."}},"#,
            r#"{{"role":"user","content":"Say one short sentence about rail yards."}}],"#,
            r#""temperature":0.2,"max_tokens":64,"stream":{stream}}}"#
        ),
        model = model,
        stream = stream
    )
}

/// The text of the one answer; a client checks it arrived whole.
pub const ANSWER: &str = "Switchyards sort freight cars onto the tracks that take them home.";

pub const COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-bench0000000000000000000001","object":"chat.completion","created":1764000000,"#,
    r#""model":"gpt-bench-2026-01-01","choices":[{"index":0,"message":{"role":"assistant","#,
    r#""content":"Switchyards sort freight cars onto the tracks that take them home.","#,
    r#""refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":28,"completion_tokens":13,"total_tokens":41,"#,
    r#""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"#,
    r#""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"#,
    r#""accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"#,
    r#""service_tier":"default","system_fingerprint":"fp_bench0001"}"#
);

const CHUNK_HEAD: &str = concat!(
    r#"data: {"id":"chatcmpl-bench0000000000000000000002","object":"chat.completion.chunk","#,
    r#""created":1764000000,"model":"gpt-bench-2026-01-01","service_tier":"default","#,
    r#""system_fingerprint":"fp_bench0001","choices":[{"index":0,"delta":"#
);

pub fn role_event() -> String {
    format!(
        r#"{CHUNK_HEAD}{{"role":"assistant","content":"","refusal":null}},"logprobs":null,"finish_reason":null}}]}}{}"#,
        "\n\n"
    )
}

/// Token `i` of a stream: its content is `t{i} `, which a client checks for order and loss.
pub fn token_event(i: u32) -> String {
    format!(
        r#"{CHUNK_HEAD}{{"content":"t{i} "}},"logprobs":null,"finish_reason":null}}]}}{}"#,
        "\n\n"
    )
}

/// The finish chunk and `[DONE]`.
pub fn finish_events() -> &'static str {
    concat!(
        r#"data: {"id":"chatcmpl-bench0000000000000000000002","object":"chat.completion.chunk","#,
        r#""created":1764000000,"model":"gpt-bench-2026-01-01","service_tier":"default","#,
        r#""system_fingerprint":"fp_bench0001","choices":[{"index":0,"delta":{},"logprobs":null,"#,
        r#""finish_reason":"stop"}]}"#,
        "\n\ndata: [DONE]\n\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_through_model_names() {
        let p = Profile {
            chunks: 60,
            delay: Duration::from_millis(50),
        };
        assert_eq!(Profile::parse(&p.model()), Some(p));
        assert_eq!(Profile::parse("json"), None);
        assert_eq!(Profile::parse("c5"), None);
    }

    #[test]
    fn the_model_is_read_from_a_request() {
        let body = request("bench/c8d0", true);
        assert_eq!(model_of(body.as_bytes()), Some("bench/c8d0"));
        assert!(body.contains("\"stream\":true"));
    }
}
