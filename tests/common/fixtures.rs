//! Recorded provider traffic (tests/fixtures/), named once for every test binary. Whole answers
//! and the same answers streamed come in pairs, so the two can be compared.

pub mod openai {
    pub const TEXT_STREAM: &str = include_str!("../fixtures/openai/text_stream.sse");
    pub const TOOL_STREAM: &str = include_str!("../fixtures/openai/tool_calls_stream.sse");
    pub const ARK_STREAM: &str = include_str!("../fixtures/openai/ark_seed_stream.sse");
    pub const OPENROUTER_STREAM: &str = include_str!("../fixtures/openai/openrouter_stream.sse");
    pub const COMPLETION: &str = include_str!("../fixtures/openai/completion.json");
}

pub mod azure {
    pub const STREAM: &str = include_str!("../fixtures/azure/stream.sse");
    pub const WHOLE: &str = include_str!("../fixtures/azure/whole.json");
}

pub mod anthropic {
    pub const TEXT_STREAM: &str = include_str!("../fixtures/anthropic/text_stream.sse");
    pub const TEXT: &str = include_str!("../fixtures/anthropic/text.json");
    pub const TOOL_STREAM: &str = include_str!("../fixtures/anthropic/tool_use_stream.sse");
    pub const TOOL: &str = include_str!("../fixtures/anthropic/tool_use.json");
    pub const THINKING_STREAM: &str = include_str!("../fixtures/anthropic/thinking_stream.sse");
    pub const THINKING: &str = include_str!("../fixtures/anthropic/thinking.json");
    pub const REDACTED: &str = include_str!("../fixtures/anthropic/redacted_thinking.json");
    pub const JSON_STREAM: &str = include_str!("../fixtures/anthropic/json_schema_stream.sse");
    pub const JSON_ANSWER: &str = include_str!("../fixtures/anthropic/json_schema.json");
    pub const MIDSTREAM_ERROR: &str = include_str!("../fixtures/anthropic/midstream_error.sse");
    pub const OVERLOADED: &str = include_str!("../fixtures/anthropic/overloaded_error.json");
    pub const RATE_LIMITED: &str = include_str!("../fixtures/anthropic/rate_limit_error.json");
}

pub mod gemini {
    pub const TEXT_STREAM: &str = include_str!("../fixtures/gemini/text_stream.sse");
    pub const TEXT: &str = include_str!("../fixtures/gemini/text.json");
    pub const TOOL_STREAM: &str = include_str!("../fixtures/gemini/tool_stream.sse");
    pub const TOOL: &str = include_str!("../fixtures/gemini/tool.json");
    pub const THINKING_STREAM: &str = include_str!("../fixtures/gemini/thinking_stream.sse");
    pub const THINKING: &str = include_str!("../fixtures/gemini/thinking.json");
    pub const BLOCKED: &str = include_str!("../fixtures/gemini/blocked.json");
    pub const MIDSTREAM_ERROR: &str = include_str!("../fixtures/gemini/midstream_error.sse");
    pub const API_KEY_ERROR: &str = include_str!("../fixtures/gemini/error_api_key.json");
    pub const QUOTA_ERROR: &str = include_str!("../fixtures/gemini/error_quota_array.json");
    pub const OVERLOADED: &str = include_str!("../fixtures/gemini/error_overloaded.json");
}
