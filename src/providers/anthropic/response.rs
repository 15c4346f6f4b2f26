//! A whole Anthropic answer as an OpenAI `chat.completion`.

use serde_json::value::RawValue;

use super::mapping::{
    embedded_error, finish_reason, malformed, redacted_detail, thinking_detail, usage,
};
use crate::completion::Whole;
use crate::error::Error;
use crate::openai::message::{FunctionCall, ToolCall};
use crate::openai::response::{ChatCompletion, ResponseMessage};
use crate::providers::anthropic::types::MessagesResponse;
use crate::transport::Upstream;

/// The upstream's body as the `chat.completion` JSON the client gets.
pub fn decode(
    body: &[u8],
    served: &str,
    answer_tool: Option<&str>,
    upstream: &Upstream,
) -> Result<Whole, Error> {
    let response: MessagesResponse = serde_json::from_slice(body).map_err(|e| {
        malformed(
            upstream,
            format!("sent a response that is not an Anthropic message: {e}"),
        )
    })?;
    if response.kind == "error" {
        let kind = response.error.map(|error| error.kind).unwrap_or_default();
        return Err(embedded_error(
            upstream,
            &kind,
            &String::from_utf8_lossy(body),
        ));
    }
    completion(response, served, answer_tool).whole()
}

/// Text blocks (and the answer tool's input) make the content; other tool uses the calls;
/// thinking the reasoning, in the order the blocks came.
pub fn completion(
    response: MessagesResponse,
    served: &str,
    answer_tool: Option<&str>,
) -> ChatCompletion {
    let mut content: Option<String> = None;
    let mut tool_calls = Vec::new();
    let mut reasoning: Option<String> = None;
    let mut details = Vec::new();
    for block in response.content {
        match block.kind.as_str() {
            // Empty text and thinking add nothing, as in a stream, where they send no delta.
            "text" => {
                let text = block.text.as_deref().unwrap_or_default();
                if !text.is_empty() {
                    content.get_or_insert_default().push_str(text);
                }
            }
            "tool_use" => {
                let input = block.input.as_deref().map_or("{}", RawValue::get);
                let name = block.name.unwrap_or_default();
                if answer_tool == Some(name.as_str()) {
                    content.get_or_insert_default().push_str(input);
                } else {
                    tool_calls.push(ToolCall {
                        id: block.id.unwrap_or_default(),
                        kind: "function".to_owned(),
                        function: FunctionCall {
                            name,
                            arguments: input.to_owned(),
                        },
                    });
                }
            }
            "thinking" => {
                let text = block.thinking.unwrap_or_default();
                if !text.is_empty() {
                    reasoning.get_or_insert_default().push_str(&text);
                }
                let index = next_index(&details);
                details.push(thinking_detail(
                    text,
                    block.signature.unwrap_or_default(),
                    index,
                ));
            }
            "redacted_thinking" => {
                let index = next_index(&details);
                details.push(redacted_detail(block.data.unwrap_or_default(), index));
            }
            // Server tool blocks and newer kinds carry nothing an OpenAI message can hold.
            _ => {}
        }
    }
    let finish = finish_reason(response.stop_reason.as_deref(), !tool_calls.is_empty());
    let message = ResponseMessage {
        role: "assistant",
        content,
        refusal: None,
        tool_calls,
        reasoning_content: reasoning,
        reasoning_details: details,
    };
    let mut completion = ChatCompletion::single(served, message, finish, usage(&response.usage));
    completion.upstream_model = response.model.as_deref().map(Box::from);
    completion
}

fn next_index<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}
