//! The response object a translated answer is written as, whole or in a stream's events: its
//! id, its time, the request's parameters echoed as the Responses API echoes them, its output
//! items, status and usage.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::completion::Tokens;

/// The request's parameters as a response echoes them, with the API's defaults for those the
/// client left out. `store` is always false: the gateway keeps nothing, so a client must not
/// try to continue from this response by its id.
#[derive(Debug, Clone)]
pub struct Echo(Arc<Map<String, Value>>);

impl Echo {
    pub fn of(request: &Map<String, Value>) -> Self {
        let given = |key: &str, default: Value| {
            request
                .get(key)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or(default)
        };
        let reasoning = request.get("reasoning").unwrap_or(&Value::Null);
        let mut echo = Map::new();
        echo.insert("instructions".into(), given("instructions", Value::Null));
        echo.insert(
            "max_output_tokens".into(),
            given("max_output_tokens", Value::Null),
        );
        echo.insert(
            "parallel_tool_calls".into(),
            given("parallel_tool_calls", json!(true)),
        );
        echo.insert("previous_response_id".into(), Value::Null);
        echo.insert(
            "reasoning".into(),
            json!({
                "effort": reasoning.get("effort").cloned().unwrap_or(Value::Null),
                "summary": reasoning.get("summary").cloned().unwrap_or(Value::Null),
            }),
        );
        echo.insert("store".into(), json!(false));
        echo.insert("temperature".into(), given("temperature", json!(1.0)));
        echo.insert("top_p".into(), given("top_p", json!(1.0)));
        echo.insert(
            "text".into(),
            given("text", json!({"format": {"type": "text"}})),
        );
        echo.insert("tool_choice".into(), given("tool_choice", json!("auto")));
        echo.insert("tools".into(), tools(request.get("tools")));
        echo.insert("truncation".into(), json!("disabled"));
        echo.insert("metadata".into(), given("metadata", json!({})));
        for key in [
            "user",
            "safety_identifier",
            "prompt_cache_key",
            "top_logprobs",
        ] {
            if let Some(value) = request.get(key).filter(|v| !v.is_null()) {
                echo.insert(key.into(), value.clone());
            }
        }
        Self(Arc::new(echo))
    }
}

/// The tools as the response lists them: a function's `parameters` and `strict` always there,
/// `strict` false where the client left it out (the chat target was not asked to enforce the
/// schema, whatever the Responses API's default would have been).
fn tools(tools: Option<&Value>) -> Value {
    let tools = tools.and_then(Value::as_array).into_iter().flatten();
    Value::Array(
        tools
            .map(|tool| {
                let mut tool = tool.clone();
                if let Some(function) = tool.as_object_mut()
                    && function.get("type").and_then(Value::as_str) == Some("function")
                {
                    function.entry("parameters").or_insert(Value::Null);
                    let strict = function.entry("strict").or_insert(json!(false));
                    if strict.is_null() {
                        *strict = json!(false);
                    }
                }
                tool
            })
            .collect(),
    )
}

/// A custom (freeform) tool's type, in tools, items (`custom_tool_call`) and `tool_choice`.
pub const CUSTOM: &str = "custom";

/// The one argument of the function a custom tool is given to a chat target as; its calls'
/// input comes back in it.
pub const CUSTOM_INPUT: &str = "input";

/// One response being written: who it is, when it was asked for, which model the client is
/// told answered, and what it echoes.
#[derive(Debug, Clone)]
pub struct Shell {
    pub id: String,
    created_at: u64,
    served: String,
    echo: Echo,
}

impl Shell {
    pub fn new(served: &str, echo: &Echo) -> Self {
        Self {
            id: new_id("resp"),
            created_at: now(),
            served: served.to_owned(),
            echo: echo.clone(),
        }
    }

    /// Whether the request named `name` as a custom (freeform) tool: its calls are
    /// `custom_tool_call` items.
    pub fn is_custom(&self, name: &str) -> bool {
        self.echo
            .0
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|tool| {
                tool.get("type").and_then(Value::as_str) == Some(CUSTOM)
                    && tool.get("name").and_then(Value::as_str) == Some(name)
            })
    }

    /// The response object with `status`, its `output` items and its usage (none while it is
    /// in progress).
    pub fn response(&self, status: Status, output: Vec<Value>, tokens: Option<&Tokens>) -> Value {
        let mut response = Map::new();
        response.insert("id".into(), json!(self.id));
        response.insert("object".into(), json!("response"));
        response.insert("created_at".into(), json!(self.created_at));
        response.insert("status".into(), json!(status.name()));
        if status != Status::InProgress {
            response.insert("completed_at".into(), json!(now()));
        }
        response.insert("error".into(), Value::Null);
        response.insert(
            "incomplete_details".into(),
            status
                .incomplete_reason()
                .map_or(Value::Null, |reason| json!({"reason": reason})),
        );
        response.insert("model".into(), json!(self.served));
        response.insert("output".into(), Value::Array(output));
        response.insert("usage".into(), tokens.map_or(Value::Null, usage));
        for (key, value) in self.echo.0.iter() {
            response.insert(key.clone(), value.clone());
        }
        Value::Object(response)
    }
}

/// How a translated response ended, from the chat answer's finish reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Completed,
    /// Cut by the output limit.
    TooLong,
    /// Stopped by the provider's content filter.
    Filtered,
}

impl Status {
    pub fn of_finish(finish: Option<&str>) -> Self {
        match finish {
            Some("length") => Self::TooLong,
            Some("content_filter") => Self::Filtered,
            _ => Self::Completed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::TooLong | Self::Filtered => "incomplete",
        }
    }

    fn incomplete_reason(self) -> Option<&'static str> {
        match self {
            Self::TooLong => Some("max_output_tokens"),
            Self::Filtered => Some("content_filter"),
            Self::InProgress | Self::Completed => None,
        }
    }

    /// An output item's own status once the response has ended this way.
    pub fn item_status(self) -> &'static str {
        match self {
            Self::TooLong => "incomplete",
            _ => "completed",
        }
    }

    /// The terminal event that announces it.
    pub fn terminal_event(self) -> &'static str {
        match self {
            Self::TooLong | Self::Filtered => "response.incomplete",
            Self::InProgress | Self::Completed => "response.completed",
        }
    }
}

/// The Responses API's usage: input counts what was read from or written to the cache, output
/// counts reasoning.
fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.prompt,
        "input_tokens_details": {
            "cached_tokens": tokens.cached_read,
            "cache_write_tokens": tokens.cache_write,
        },
        "output_tokens": tokens.completion,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
        "total_tokens": tokens.total,
    })
}

/// A fresh id with OpenAI's prefix for its kind (`resp`, `msg`, `fc`, `rs`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:032x}", fastrand::u128(..))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Chat's token log probabilities (`choices[].logprobs.content`) as an output text's: the
/// same fields, `bytes` kept where the part's schema wants them (`with_bytes`), dropped where an
/// event's does not.
pub fn logprobs(chat: Option<&Value>, with_bytes: bool) -> Vec<Value> {
    let entry = |e: &Value| {
        let mut out = json!({
            "token": e.get("token").cloned().unwrap_or(json!("")),
            "logprob": e.get("logprob").cloned().unwrap_or(json!(0.0)),
        });
        if with_bytes {
            out["bytes"] = e.get("bytes").cloned().unwrap_or(json!([]));
        }
        out
    };
    chat.and_then(|l| l.get("content"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let mut out = entry(e);
            out["top_logprobs"] = Value::Array(
                e.get("top_logprobs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(entry)
                    .collect(),
            );
            out
        })
        .collect()
}
