//! A Responses request as a Chat Completions request, for targets that do not serve the
//! Responses API themselves: `instructions` and the input items as chat messages (a run of
//! function calls folded into one assistant message, their outputs as tool messages), function
//! tools re-nested, `text.format` as `response_format`, the limits and sampling renamed, the
//! target's signed reasoning (from the reasoning items the gateway wrote) back on its turn. What
//! needs OpenAI's own servers (stored state, built-in tools, their items) is refused; hints a
//! chat target serves on its own or that ask for nothing back are dropped and named; any other
//! parameter follows the target's `unsupported_params` policy.

use serde_json::{Map, Value, json};

use super::object::{CUSTOM, CUSTOM_INPUT, Echo};
use super::reasoning;
use crate::error::Error;

/// A chat request body, what the translation dropped, and what the response will echo.
pub struct Translated {
    pub body: Vec<u8>,
    /// Parameters no chat target honours: named as dropped, or a 400, by the target's policy.
    pub losses: Vec<String>,
    /// Hints dropped whatever the policy (stored state asked for, caching, encrypted reasoning
    /// to return, earlier reasoning): a chat target does without them, and Codex sends them on
    /// every request.
    pub hints: Vec<String>,
    pub echo: Echo,
}

/// Fields the chat request carries, or that are answered in the response itself.
const CARRIED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "max_output_tokens",
    "temperature",
    "top_p",
    "top_logprobs",
    "metadata",
    "include",
    "stream",
    "stream_options",
    "user",
    "safety_identifier",
    "service_tier",
    "truncation",
];

/// Hints: dropped and named, never refused.
const HINTS: &[&str] = &[
    "store",
    "prompt_cache_key",
    "prompt_cache_retention",
    "max_tool_calls",
];

/// Fields that need OpenAI's own servers: a 400, whatever the policy.
const REFUSED: &[&str] = &[
    "previous_response_id",
    "conversation",
    "prompt",
    "background",
];

// The include values a chat target's answer can give (logprobs; the reasoning it signs, sealed
// as `encrypted_content`); the others name outputs of built-in tools, which it has not.
const LOGPROBS: &str = "message.output_text.logprobs";
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// `body` (a checked Responses request) as a chat request, streamed with usage when it is a
/// stream. With `reasoning_back`, the text of each reasoning item goes back as the next
/// assistant turn's `reasoning_content`, and every turn with tool calls has one (empty when no
/// reasoning came before it), for a target that wants it (DeepSeek's thinking mode refuses a
/// tool-call turn without it).
pub fn translate(body: &[u8], reasoning_back: bool) -> Result<Translated, Error> {
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("The request body is not valid JSON: {e}"), None))?;
    let mut losses = Vec::new();
    let mut hints = Vec::new();
    for (key, value) in &request {
        // What asks for nothing is not dropped: no state kept (`store: false`, as Codex sends
        // it), nothing run in the background.
        let off = matches!(key.as_str(), "background" | "store") && value == &json!(false);
        if value.is_null() || off {
            continue;
        }
        if REFUSED.contains(&key.as_str()) {
            return Err(needs_native(&format!("'{key}'"), key));
        } else if HINTS.contains(&key.as_str()) {
            hints.push(key.clone());
        } else if !CARRIED.contains(&key.as_str()) {
            losses.push(key.clone());
        }
    }
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        request.get("model").cloned().unwrap_or(Value::Null),
    );
    let mut messages = Vec::new();
    if let Some(instructions) = request.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match request.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            let mut reasoning = Reasoning {
                back: reasoning_back,
                ..Reasoning::default()
            };
            for item in items {
                self::item(item, &mut messages, &mut reasoning, &mut hints)?;
            }
            if reasoning_back {
                for turn in &mut messages {
                    if turn.get("tool_calls").is_some() && turn.get("reasoning_content").is_none() {
                        turn["reasoning_content"] = json!("");
                    }
                }
            }
        }
        _ => {}
    }
    chat.insert("messages".into(), Value::Array(messages));
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        let functions = tools.iter().map(function).collect::<Result<Vec<_>, _>>()?;
        if !functions.is_empty() {
            chat.insert("tools".into(), Value::Array(functions));
        }
    }
    if let Some(choice) = request.get("tool_choice").filter(|c| !c.is_null()) {
        chat.insert("tool_choice".into(), tool_choice(choice)?);
    }
    for (from, to) in [
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("max_output_tokens", "max_completion_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_logprobs", "top_logprobs"),
        ("user", "user"),
        ("safety_identifier", "safety_identifier"),
        ("service_tier", "service_tier"),
    ] {
        if let Some(value) = request.get(from).filter(|v| !v.is_null()) {
            chat.insert(to.into(), value.clone());
        }
    }
    if let Some(text) = request.get("text") {
        if let Some(format) = text.get("format").and_then(response_format) {
            chat.insert("response_format".into(), format);
        }
        if let Some(verbosity) = text.get("verbosity").filter(|v| !v.is_null()) {
            chat.insert("verbosity".into(), verbosity.clone());
        }
    }
    if let Some(reasoning) = request.get("reasoning") {
        if let Some(effort) = reasoning.get("effort").filter(|e| !e.is_null()) {
            chat.insert("reasoning_effort".into(), effort.clone());
        }
        // The summary is OpenAI's; a chat target's reasoning comes back as it gives it.
        if reasoning.get("summary").is_some_and(|s| !s.is_null()) {
            hints.push("reasoning.summary".into());
        }
    }
    for include in request
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match include.as_str() {
            Some(LOGPROBS) => {
                chat.insert("logprobs".into(), json!(true));
            }
            // Honoured: what the target signs comes back sealed in a reasoning item.
            Some(ENCRYPTED_REASONING) | None => {}
            Some(other) => hints.push(format!("include.{other}")),
        }
    }
    if request.get("truncation").and_then(Value::as_str) == Some("auto") {
        losses.push("truncation".into());
    }
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), json!(true));
        // `response.completed` reports the usage.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    for list in [&mut losses, &mut hints] {
        list.sort();
        list.dedup();
    }
    let body = serde_json::to_vec(&Value::Object(chat))
        .map_err(|e| Error::Internal(format!("cannot serialize a chat request: {e}")))?;
    Ok(Translated {
        body,
        losses,
        hints,
        echo: Echo::of(&request),
    })
}

/// The reasoning read from reasoning items, waiting for the assistant turn it belongs to: what
/// the target signed, and, when it goes back, the text.
#[derive(Default)]
struct Reasoning {
    signed: Vec<Value>,
    text: String,
    /// The text goes back as `reasoning_content`.
    back: bool,
}

impl Reasoning {
    /// Gives `turn` the reasoning waiting for it.
    fn give(&mut self, turn: &mut Value) {
        if !self.signed.is_empty() {
            let mut details = match turn.get_mut("reasoning_details") {
                Some(Value::Array(details)) => std::mem::take(details),
                _ => Vec::new(),
            };
            details.append(&mut self.signed);
            turn["reasoning_details"] = Value::Array(details);
        }
        if !self.text.is_empty() {
            turn["reasoning_content"] = json!(std::mem::take(&mut self.text));
        }
    }

    /// Reads a reasoning item; false when nothing of it can go back.
    fn read(&mut self, item: &Value) -> bool {
        let sealed = item
            .get("encrypted_content")
            .and_then(Value::as_str)
            .and_then(reasoning::open);
        let signed = sealed.is_some();
        self.signed.extend(sealed.into_iter().flatten());
        if !self.back {
            return signed;
        }
        // The reasoning itself when the item carries it as content (OpenAI's open-weight
        // models'), else its summary, where the gateway writes it: not both, which would say it
        // twice.
        let parts = |key| {
            item.get(key)
                .and_then(Value::as_array)
                .filter(|p| !p.is_empty())
        };
        let texts = parts("content")
            .or_else(|| parts("summary"))
            .into_iter()
            .flatten()
            .filter_map(|part| part.get("text").and_then(Value::as_str));
        let before = self.text.len();
        for text in texts {
            self.text.push_str(text);
        }
        signed || self.text.len() > before
    }
}

/// One input item as chat messages, appended to `out`; a reasoning item's reasoning kept in
/// `reasoning` until the assistant turn it belongs to.
fn item(
    item: &Value,
    out: &mut Vec<Value>,
    reasoning: &mut Reasoning,
    hints: &mut Vec<String>,
) -> Result<(), Error> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(if item.get("role").is_some() {
            "message"
        } else {
            ""
        });
    match kind {
        "message" => {
            let mut message = message(item)?;
            if message["role"] == "assistant" {
                reasoning.give(&mut message);
            }
            out.push(message);
        }
        "function_call" | "custom_tool_call" => {
            let arguments = if kind == "function_call" {
                item.get("arguments").cloned().unwrap_or(json!("{}"))
            } else {
                let input = item.get(CUSTOM_INPUT).cloned().unwrap_or(json!(""));
                json!(json!({CUSTOM_INPUT: input}).to_string())
            };
            let call = json!({
                "id": item.get("call_id").cloned().unwrap_or(Value::Null),
                "type": "function",
                "function": {
                    "name": item.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": arguments,
                },
            });
            // A run of calls (and the assistant text before it) is one chat turn.
            match out.last_mut() {
                Some(last) if last["role"] == "assistant" => {
                    reasoning.give(last);
                    match last.get_mut("tool_calls") {
                        Some(Value::Array(calls)) => calls.push(call),
                        _ => last["tool_calls"] = json!([call]),
                    }
                }
                _ => {
                    let mut turn =
                        json!({"role": "assistant", "content": null, "tool_calls": [call]});
                    reasoning.give(&mut turn);
                    out.push(turn);
                }
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            let (text, images) = match item.get("output") {
                Some(Value::String(text)) => (text.clone(), Vec::new()),
                Some(Value::Array(parts)) => {
                    let mut text = Vec::new();
                    let mut images = Vec::new();
                    for part in parts {
                        match part.get("type").and_then(Value::as_str) {
                            Some("input_text" | "output_text") => text
                                .push(part.get("text").and_then(Value::as_str).unwrap_or_default()),
                            _ => images.push(user_part(part)?),
                        }
                    }
                    (text.join("\n"), images)
                }
                _ => (String::new(), Vec::new()),
            };
            out.push(json!({
                "role": "tool",
                "tool_call_id": item.get("call_id").cloned().unwrap_or(Value::Null),
                "content": text,
            }));
            // A chat tool message holds text only: what the tool returned besides follows as
            // the user's.
            if !images.is_empty() {
                out.push(json!({"role": "user", "content": images}));
            }
        }
        // What the target signed goes back with its turn, and the text to a target that wants
        // it; reasoning from elsewhere (OpenAI's encrypted form, a summary alone) is otherwise
        // the model's to redo.
        "reasoning" => {
            if !reasoning.read(item) {
                hints.push("reasoning".into());
            }
        }
        "" => {
            return Err(Error::invalid(
                "Invalid input item: it has neither a 'type' nor a 'role'.",
                Some("input"),
            ));
        }
        other => {
            return Err(needs_native(
                &format!("input items of type '{other}'"),
                "input",
            ));
        }
    }
    Ok(())
}

/// A message item as a chat message. System and developer instructions are a system message
/// (every chat server takes that role; OpenAI's reasoning models read it as the developer's).
fn message(item: &Value) -> Result<Value, Error> {
    let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
    let content = item.get("content").unwrap_or(&Value::Null);
    match role {
        "system" | "developer" => Ok(json!({"role": "system", "content": text_of(content)})),
        "assistant" => Ok(json!({"role": "assistant", "content": text_of(content)})),
        "user" => match content {
            Value::String(text) => Ok(json!({"role": "user", "content": text})),
            Value::Array(parts) => Ok(json!({
                "role": "user",
                "content": parts.iter().map(user_part).collect::<Result<Vec<_>, _>>()?,
            })),
            _ => Ok(json!({"role": "user", "content": ""})),
        },
        other => Err(Error::invalid(
            format!(
                "Invalid role '{other}' in an input message: expected user, assistant, system or developer."
            ),
            Some("input"),
        )),
    }
}

/// A message's text, its parts joined (assistant history's `output_text` and `refusal` parts,
/// instructions' `input_text`).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| {
                part.get("text")
                    .or_else(|| part.get("refusal"))
                    .and_then(Value::as_str)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A user content part as chat's.
fn user_part(part: &Value) -> Result<Value, Error> {
    let field = |key: &str| part.get(key).filter(|v| !v.is_null());
    match part.get("type").and_then(Value::as_str) {
        Some("input_text" | "output_text") => Ok(json!({
            "type": "text",
            "text": field("text").cloned().unwrap_or(json!("")),
        })),
        Some("input_image") => {
            let Some(url) = field("image_url") else {
                return Err(needs_native("an input_image given by file_id", "input"));
            };
            let mut image = json!({"url": url});
            if let Some(detail) = field("detail") {
                image["detail"] = detail.clone();
            }
            Ok(json!({"type": "image_url", "image_url": image}))
        }
        Some("input_file") => {
            let mut file = Map::new();
            if let Some(data) = field("file_data") {
                file.insert("file_data".into(), data.clone());
            } else if let Some(id) = field("file_id") {
                file.insert("file_id".into(), id.clone());
            } else {
                return Err(needs_native("an input_file given by file_url", "input"));
            }
            if let Some(name) = field("filename") {
                file.insert("filename".into(), name.clone());
            }
            Ok(json!({"type": "file", "file": file}))
        }
        other => Err(needs_native(
            &format!("content parts of type '{}'", other.unwrap_or("(none)")),
            "input",
        )),
    }
}

/// A function tool in chat's nesting; `strict` only where the client set it (forcing it makes
/// a chat target refuse schemas written without it in mind). A custom (freeform) tool becomes
/// a function of one string, `input` (Codex's own JSON form of its `apply_patch`), its grammar
/// told in the description but not enforced. Built-in tools are OpenAI's.
fn function(tool: &Value) -> Result<Value, Error> {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind == CUSTOM {
        return Ok(custom_function(tool));
    }
    if kind != "function" {
        return Err(needs_native(
            &format!("the built-in tool '{kind}'"),
            "tools",
        ));
    }
    let mut function = Map::new();
    for key in ["name", "description", "parameters", "strict"] {
        if let Some(value) = tool.get(key).filter(|v| !v.is_null()) {
            function.insert(key.into(), value.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

fn custom_function(tool: &Value) -> Value {
    let mut description = tool
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let format = tool.get("format").unwrap_or(&Value::Null);
    if format.get("type").and_then(Value::as_str) == Some("grammar") {
        let syntax = format
            .get("syntax")
            .and_then(Value::as_str)
            .unwrap_or("lark");
        let definition = format
            .get("definition")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!(
            "The input must follow this {syntax} grammar:\n{definition}"
        ));
    }
    let mut function = Map::new();
    function.insert(
        "name".into(),
        tool.get("name").cloned().unwrap_or(Value::Null),
    );
    if !description.is_empty() {
        function.insert("description".into(), json!(description));
    }
    function.insert(
        "parameters".into(),
        json!({
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's whole input, as free text."}},
            "required": [CUSTOM_INPUT],
            "additionalProperties": false,
        }),
    );
    json!({"type": "function", "function": function})
}

fn tool_choice(choice: &Value) -> Result<Value, Error> {
    if choice.is_string() {
        return Ok(choice.clone());
    }
    match choice.get("type").and_then(Value::as_str) {
        Some("function" | CUSTOM) => Ok(json!({
            "type": "function",
            "function": {"name": choice.get("name").cloned().unwrap_or(Value::Null)},
        })),
        Some("allowed_tools") => {
            let tools = choice
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|tool| match tool.get("type").and_then(Value::as_str) {
                    Some("function" | CUSTOM) => Ok(json!({
                        "type": "function",
                        "function": {"name": tool.get("name").cloned().unwrap_or(Value::Null)},
                    })),
                    other => Err(needs_native(
                        &format!("the built-in tool '{}'", other.unwrap_or_default()),
                        "tool_choice",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": choice.get("mode").cloned().unwrap_or(json!("auto")),
                    "tools": tools,
                },
            }))
        }
        other => Err(needs_native(
            &format!("the built-in tool '{}'", other.unwrap_or_default()),
            "tool_choice",
        )),
    }
}

/// `text.format` as chat's `response_format` (plain text needs none).
fn response_format(format: &Value) -> Option<Value> {
    match format.get("type").and_then(Value::as_str)? {
        "json_object" => Some(json!({"type": "json_object"})),
        "json_schema" => {
            let mut schema = Map::new();
            for key in ["name", "description", "schema", "strict"] {
                if let Some(value) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.into(), value.clone());
                }
            }
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
        _ => None,
    }
}

/// A 400 for what only a provider serving the Responses API itself can do.
fn needs_native(what: &str, param: &str) -> Error {
    Error::invalid(
        format!(
            "This model's provider does not serve the Responses API itself, and {what} can only be served by one that does (responses = \"native\"; the gateway keeps no state and runs no built-in tools)."
        ),
        Some(param),
    )
}
