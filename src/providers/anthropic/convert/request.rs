//! An OpenAI Chat Completions request as an Anthropic Messages request. Everything the client
//! asked for is mapped, or refused with a 400 naming the parameter: nothing is lost quietly.

use std::borrow::Cow;

use serde_json::json;
use serde_json::value::RawValue;

use super::REASONING_FORMAT;
use crate::config::UnsupportedParams;
use crate::error::Error;
use crate::openai::message::{
    Content, FileRef, Message, PartRef, REASONING_ENCRYPTED, REASONING_TEXT, Role as OpenAiRole,
    ToolCall,
};
use crate::openai::params::{ChatParams, ResponseFormat, Stop, ToolChoice as OpenAiToolChoice};
use crate::providers::anthropic::types::{
    Block, MessagesRequest, Metadata, Role, Source, Thinking, ToolChoice, ToolDef, Turn,
};

/// The request parameters this kind translates; `params::screen` refuses or drops the rest.
pub const HONOURED: &[&str] = &[
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "user",
    "reasoning_effort",
];

/// The synthetic tool that carries a `json_object` answer (a `json_schema` answer uses the
/// schema's own name, which OpenAI restricts to what Anthropic allows in a tool name).
pub const JSON_OBJECT_TOOL: &str = "json_response";

const ANSWER_INSTRUCTION: &str =
    "Give your final answer to the user by calling this tool: its input is the answer.";

const PAST_TOOL: &str = "A tool used earlier in this conversation; not available now.";

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// What the translation needs to know about the provider.
pub struct Settings<'a> {
    pub provider: &'a str,
    pub default_max_tokens: u64,
    pub policy: UnsupportedParams,
}

pub struct Translation<'a> {
    pub request: MessagesRequest<'a>,
    /// Parts of parameters dropped under `unsupported_params = "drop"`.
    pub dropped: Vec<String>,
    /// The tool whose input is the answer's text (`response_format` json_schema/json_object).
    pub answer_tool: Option<&'a str>,
}

pub fn translate<'a>(
    params: &'a ChatParams,
    model: &'a str,
    stream: bool,
    settings: &Settings<'_>,
) -> Result<Translation<'a>, Error> {
    let (system, messages) = conversation(&params.messages, settings)?;
    let mut tools = tools(params, settings)?;
    let answer = answer_tool(params.response_format.as_ref());
    let answer_tool = answer.as_ref().map(|tool| tool.name);
    if let Some(name) = answer_tool
        && tools.iter().any(|tool| tool.name == name)
    {
        return Err(Error::invalid(
            format!(
                "The response_format name '{name}' is also the name of a tool; Anthropic receives structured output as a tool, so the names must differ."
            ),
            Some("response_format.json_schema.name"),
        ));
    }
    let client_tools = !tools.is_empty();
    let mut tool_choice = tool_choice(params, client_tools, answer_tool);
    if !client_tools {
        let past = history_tools(&messages, answer_tool);
        if !past.is_empty() {
            // Anthropic refuses a history with tool calls unless tools are declared, where
            // OpenAI does not: the tools the history used are declared, and not offered.
            tool_choice.get_or_insert(ToolChoice {
                kind: "none",
                name: None,
                disable_parallel_tool_use: None,
            });
            tools.extend(past);
        }
    }
    tools.extend(answer);

    let budget = thinking_budget(params.reasoning_effort.as_deref())?;
    if budget.is_some() && answer_tool.is_some() {
        return Err(Error::InvalidRequest {
            message: format!(
                "Provider '{}' (anthropic) cannot combine response_format with reasoning_effort: structured output needs a forced tool call, which Anthropic does not allow while thinking.",
                settings.provider
            ),
            param: Some("response_format".to_owned()),
            code: Some("unsupported_parameter"),
        });
    }
    let (max_tokens, thinking) = max_tokens(params, budget, settings.default_max_tokens)?;
    let (stop_sequences, dropped) = stop_sequences(params.stop.as_ref(), settings)?;

    let request = MessagesRequest {
        model,
        max_tokens,
        system,
        messages,
        tools,
        tool_choice,
        thinking: thinking.map(|budget_tokens| Thinking {
            kind: "enabled",
            budget_tokens,
        }),
        stop_sequences,
        // Anthropic's range is 0..1 where OpenAI's is 0..2; its own compatibility layer caps
        // the same way.
        temperature: params.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: params.top_p,
        metadata: params.user.as_deref().map(|user_id| Metadata { user_id }),
        stream,
    };
    Ok(Translation {
        request,
        dropped,
        answer_tool,
    })
}

/// System and developer messages hoisted into `system`; the rest as alternating turns.
fn conversation<'a>(
    messages: &'a [Message],
    settings: &Settings<'_>,
) -> Result<(Vec<Block<'a>>, Vec<Turn<'a>>), Error> {
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        match message.role {
            OpenAiRole::System | OpenAiRole::Developer => {
                system.extend(system_blocks(message, i)?);
            }
            OpenAiRole::User => push(
                &mut turns,
                Role::User,
                content_blocks(message.content.as_ref(), i, settings)?,
            ),
            OpenAiRole::Assistant => push(
                &mut turns,
                Role::Assistant,
                assistant_blocks(message, i, settings)?,
            ),
            OpenAiRole::Tool => push(
                &mut turns,
                Role::User,
                vec![tool_result(message, i, settings)?],
            ),
            OpenAiRole::Function => {
                return Err(cannot(
                    settings,
                    &format!("messages[{i}].role"),
                    "legacy 'function' messages; send tool messages with a tool_call_id",
                ));
            }
        }
    }
    for turn in &mut turns {
        // Anthropic wants a turn's tool results before anything else in it; the sort is
        // stable, so each group keeps its order.
        turn.content
            .sort_by_key(|block| !matches!(block, Block::ToolResult { .. }));
    }
    trim_prefill(&mut turns);
    if turns.is_empty() {
        return Err(Error::invalid(
            "Anthropic needs at least one user or assistant message with content besides the system messages.",
            Some("messages"),
        ));
    }
    Ok((system, turns))
}

/// Appends `blocks` as a turn of `role`, merged into the last turn when it has the same role
/// (Anthropic wants turns to alternate).
fn push<'a>(turns: &mut Vec<Turn<'a>>, role: Role, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn {
            role,
            content: blocks,
        }),
    }
}

/// A final assistant turn is a prefill the answer continues; Anthropic refuses one that ends
/// in whitespace.
fn trim_prefill(turns: &mut Vec<Turn<'_>>) {
    let Some(last) = turns.last_mut().filter(|turn| turn.role == Role::Assistant) else {
        return;
    };
    if let Some(Block::Text { text }) = last.content.last_mut() {
        *text = text.trim_end();
        if text.is_empty() {
            last.content.pop();
        }
    }
    if last.content.is_empty() {
        turns.pop();
    }
}

fn system_blocks(message: &Message, i: usize) -> Result<Vec<Block<'_>>, Error> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for (j, part) in content.parts().into_iter().enumerate() {
        match part {
            PartRef::Text(text) | PartRef::Refusal(text) => blocks.extend(text_block(text)),
            _ => {
                return Err(Error::invalid(
                    "Anthropic takes only text in system and developer messages.",
                    Some(&part_param(content, i, j)),
                ));
            }
        }
    }
    Ok(blocks)
}

fn content_blocks<'a>(
    content: Option<&'a Content>,
    i: usize,
    settings: &Settings<'_>,
) -> Result<Vec<Block<'a>>, Error> {
    let Some(content) = content else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for (j, part) in content.parts().into_iter().enumerate() {
        let param = || part_param(content, i, j);
        match part {
            PartRef::Text(text) | PartRef::Refusal(text) => blocks.extend(text_block(text)),
            PartRef::Image(image) => blocks.push(image_block(image.url(), &param())?),
            PartRef::File(file) => blocks.push(document_block(file, &param(), settings)?),
            PartRef::Audio(_) => {
                return Err(cannot(
                    settings,
                    &param(),
                    "audio input (input_audio); Anthropic accepts text, images and PDF documents",
                ));
            }
            PartRef::Unknown => {
                return Err(Error::invalid(
                    "Unknown content part type: expected text, image_url, input_audio or file.",
                    Some(&param()),
                ));
            }
        }
    }
    Ok(blocks)
}

fn part_param(content: &Content, i: usize, j: usize) -> String {
    match content {
        Content::Text(_) => format!("messages[{i}].content"),
        Content::Parts(_) => format!("messages[{i}].content[{j}]"),
    }
}

/// Anthropic refuses empty and whitespace-only text blocks; they carry nothing.
fn text_block(text: &str) -> Option<Block<'_>> {
    (!text.trim().is_empty()).then_some(Block::Text { text })
}

fn image_block<'a>(url: &'a str, param: &str) -> Result<Block<'a>, Error> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = base64_data_url(rest, param)?;
        let media_type = if media_type.eq_ignore_ascii_case("image/jpg") {
            "image/jpeg"
        } else {
            IMAGE_TYPES
                .into_iter()
                .find(|known| known.eq_ignore_ascii_case(media_type))
                .ok_or_else(|| {
                    Error::invalid(
                        format!("Anthropic takes images of type image/jpeg, image/png, image/gif or image/webp, not {media_type}."),
                        Some(param),
                    )
                })?
        };
        return Ok(Block::Image {
            source: Source::Base64 { media_type, data },
        });
    }
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http")) {
        return Ok(Block::Image {
            source: Source::Url { url },
        });
    }
    Err(Error::invalid(
        "An image_url must be an http(s) URL or a base64 data URL (data:image/png;base64,...).",
        Some(param),
    ))
}

/// `<media type>;base64,<data>` (what follows `data:`).
fn base64_data_url<'a>(rest: &'a str, param: &str) -> Result<(&'a str, &'a str), Error> {
    rest.split_once(',')
        .and_then(|(meta, data)| Some((meta.strip_suffix(";base64")?, data)))
        .ok_or_else(|| {
            Error::invalid(
                "A data URL must be base64-encoded: data:<media type>;base64,<data>.",
                Some(param),
            )
        })
}

fn document_block<'a>(
    file: &'a FileRef,
    param: &str,
    settings: &Settings<'_>,
) -> Result<Block<'a>, Error> {
    let Some(data) = file.file_data.as_deref() else {
        if file.file_id.is_some() {
            return Err(cannot(
                settings,
                &format!("{param}.file.file_id"),
                "OpenAI file ids (file_id); send the file's content as file_data",
            ));
        }
        return Err(Error::invalid(
            "A file part needs file_data.",
            Some(&format!("{param}.file")),
        ));
    };
    let (media_type, data) = match data.strip_prefix("data:") {
        Some(rest) => base64_data_url(rest, param)?,
        // OpenAI takes bare base64 here, and only PDFs.
        None => ("application/pdf", data),
    };
    if !media_type.eq_ignore_ascii_case("application/pdf") {
        return Err(cannot(
            settings,
            param,
            &format!("files of type {media_type}; it reads PDF documents"),
        ));
    }
    Ok(Block::Document {
        source: Source::Base64 {
            media_type: "application/pdf",
            data,
        },
        title: file.filename.as_deref(),
    })
}

/// Signed reasoning first (Anthropic wants it before text and tool use, unmodified), then the
/// text, then the calls.
fn assistant_blocks<'a>(
    message: &'a Message,
    i: usize,
    settings: &Settings<'_>,
) -> Result<Vec<Block<'a>>, Error> {
    let mut blocks = Vec::new();
    let ours = message
        .reasoning_details
        .iter()
        .filter(|detail| detail.format.as_deref() == Some(REASONING_FORMAT));
    for detail in ours {
        match (
            detail.kind.as_str(),
            &detail.text,
            &detail.signature,
            &detail.data,
        ) {
            (REASONING_TEXT, Some(thinking), Some(signature), _) if !signature.is_empty() => {
                blocks.push(Block::Thinking {
                    thinking,
                    signature,
                });
            }
            (REASONING_ENCRYPTED, _, _, Some(data)) => {
                blocks.push(Block::RedactedThinking { data });
            }
            // Thinking cut off before its signature cannot be verified, so Anthropic would
            // refuse it; it carries no signed state worth restoring.
            _ => {}
        }
    }
    blocks.extend(content_blocks(message.content.as_ref(), i, settings)?);
    if let Some(refusal) = message.refusal.as_deref() {
        blocks.extend(text_block(refusal));
    }
    for (j, call) in message.tool_calls.iter().enumerate() {
        blocks.push(tool_use(call, &format!("messages[{i}].tool_calls[{j}]"))?);
    }
    Ok(blocks)
}

fn tool_use<'a>(call: &'a ToolCall, param: &str) -> Result<Block<'a>, Error> {
    if call.id.is_empty() {
        return Err(Error::invalid(
            "A tool call needs its id.",
            Some(&format!("{param}.id")),
        ));
    }
    let arguments = call.function.arguments.trim();
    let arguments = if arguments.is_empty() {
        "{}"
    } else {
        arguments
    };
    let invalid = |why: String| {
        Error::invalid(
            format!("The tool call's arguments must be a JSON object: {why}."),
            Some(&format!("{param}.function.arguments")),
        )
    };
    let input = RawValue::from_string(arguments.to_owned()).map_err(|e| invalid(e.to_string()))?;
    if !input.get().starts_with('{') {
        return Err(invalid(format!("got {}", input.get())));
    }
    Ok(Block::ToolUse {
        id: &call.id,
        name: &call.function.name,
        input,
    })
}

fn tool_result<'a>(
    message: &'a Message,
    i: usize,
    settings: &Settings<'_>,
) -> Result<Block<'a>, Error> {
    let tool_use_id = message
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "A tool message needs the tool_call_id of the call it answers.",
                Some(&format!("messages[{i}].tool_call_id")),
            )
        })?;
    Ok(Block::ToolResult {
        tool_use_id,
        content: content_blocks(message.content.as_ref(), i, settings)?,
    })
}

fn tools<'a>(params: &'a ChatParams, settings: &Settings<'_>) -> Result<Vec<ToolDef<'a>>, Error> {
    let mut defs = Vec::with_capacity(params.tools.len() + 1);
    for (j, tool) in params.tools.iter().enumerate() {
        if let Some(kind) = tool.kind.as_deref().filter(|kind| *kind != "function") {
            return Err(cannot(
                settings,
                &format!("tools[{j}].type"),
                &format!("tools of type '{kind}'; only function tools"),
            ));
        }
        let function = &tool.function;
        defs.push(ToolDef {
            name: &function.name,
            description: function.description.as_deref().map(Cow::Borrowed),
            input_schema: function.parameters.as_ref().map_or_else(
                || Cow::Owned(json!({"type": "object", "properties": {}})),
                Cow::Borrowed,
            ),
            strict: function.strict.filter(|strict| *strict),
        });
    }
    Ok(defs)
}

/// The synthetic tool whose input is a structured answer.
fn answer_tool(format: Option<&ResponseFormat>) -> Option<ToolDef<'_>> {
    match format? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(ToolDef {
            name: JSON_OBJECT_TOOL,
            description: Some(Cow::Borrowed(ANSWER_INSTRUCTION)),
            input_schema: Cow::Owned(json!({"type": "object"})),
            strict: None,
        }),
        ResponseFormat::JsonSchema { json_schema } => Some(ToolDef {
            name: &json_schema.name,
            description: Some(match &json_schema.description {
                Some(description) => Cow::Owned(format!("{ANSWER_INSTRUCTION} {description}")),
                None => Cow::Borrowed(ANSWER_INSTRUCTION),
            }),
            input_schema: json_schema
                .schema
                .as_ref()
                .map_or_else(|| Cow::Owned(json!({"type": "object"})), Cow::Borrowed),
            strict: json_schema.strict.filter(|strict| *strict),
        }),
    }
}

/// The tools called in `turns` (but `except`), declared without a schema of their own.
fn history_tools<'a>(turns: &[Turn<'a>], except: Option<&str>) -> Vec<ToolDef<'a>> {
    let mut names: Vec<&'a str> = Vec::new();
    for block in turns.iter().flat_map(|turn| &turn.content) {
        if let Block::ToolUse { name, .. } = block
            && except != Some(*name)
            && !names.contains(name)
        {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| ToolDef {
            name,
            description: Some(Cow::Borrowed(PAST_TOOL)),
            input_schema: Cow::Owned(json!({"type": "object"})),
            strict: None,
        })
        .collect()
}

fn tool_choice<'a>(
    params: &'a ChatParams,
    client_tools: bool,
    answer_tool: Option<&'a str>,
) -> Option<ToolChoice<'a>> {
    let choice = |kind, name| ToolChoice {
        kind,
        name,
        disable_parallel_tool_use: (params.parallel_tool_calls == Some(false) && kind != "none")
            .then_some(true),
    };
    let asked = params.tool_choice.as_ref();
    match (answer_tool, asked) {
        (Some(_), Some(OpenAiToolChoice::Function(name))) => Some(choice("tool", Some(name))),
        // With the client's tools too, the model must either call one of them or answer
        // through the answer tool: never plain text.
        (Some(_), None | Some(OpenAiToolChoice::Auto | OpenAiToolChoice::Required))
            if client_tools =>
        {
            Some(choice("any", None))
        }
        (Some(answer), _) => Some(choice("tool", Some(answer))),
        (None, _) if !client_tools => None,
        (None, None) => (params.parallel_tool_calls == Some(false)).then(|| choice("auto", None)),
        (None, Some(OpenAiToolChoice::Auto)) => Some(choice("auto", None)),
        (None, Some(OpenAiToolChoice::Required)) => Some(choice("any", None)),
        (None, Some(OpenAiToolChoice::None)) => Some(choice("none", None)),
        (None, Some(OpenAiToolChoice::Function(name))) => Some(choice("tool", Some(name))),
    }
}

/// `reasoning_effort` as an extended-thinking budget in tokens.
fn thinking_budget(effort: Option<&str>) -> Result<Option<u64>, Error> {
    Ok(match effort {
        None | Some("none") => None,
        Some("minimal") => Some(MIN_THINKING_BUDGET),
        Some("low") => Some(2048),
        Some("medium") => Some(8192),
        Some("high") => Some(16384),
        Some("xhigh") => Some(32768),
        Some(other) => {
            return Err(Error::invalid(
                format!(
                    "Invalid reasoning_effort {other:?}: expected none, minimal, low, medium, high or xhigh."
                ),
                Some("reasoning_effort"),
            ));
        }
    })
}

/// Anthropic's `max_tokens` covers thinking and answer, as OpenAI's `max_completion_tokens`
/// covers reasoning and answer. Without a client limit the default is kept for the answer and
/// the thinking budget comes on top.
fn max_tokens(
    params: &ChatParams,
    budget: Option<u64>,
    default: u64,
) -> Result<(u64, Option<u64>), Error> {
    match (params.max_output_tokens(), budget) {
        (limit, None) => Ok((limit.unwrap_or(default), None)),
        (None, Some(budget)) => Ok((default + budget, Some(budget))),
        (Some(limit), Some(_)) if limit <= MIN_THINKING_BUDGET => Err(Error::invalid(
            format!(
                "With reasoning_effort, Anthropic needs a token limit above its smallest thinking budget ({MIN_THINKING_BUDGET}); got {limit}."
            ),
            Some(if params.max_completion_tokens.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            }),
        )),
        (Some(limit), Some(budget)) => Ok((limit, Some(budget.min(limit - 1)))),
    }
}

/// Anthropic refuses whitespace-only stop sequences (`"\n"` among them): such an entry is an
/// unsupported parameter, refused or dropped by the provider's policy.
fn stop_sequences<'a>(
    stop: Option<&'a Stop>,
    settings: &Settings<'_>,
) -> Result<(Vec<&'a str>, Vec<String>), Error> {
    let entries: Vec<(String, &str)> = match stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![("stop".to_owned(), one.as_str())],
        Some(Stop::Many(many)) => many
            .iter()
            .enumerate()
            .map(|(k, one)| (format!("stop[{k}]"), one.as_str()))
            .collect(),
    };
    let mut kept = Vec::with_capacity(entries.len());
    let mut dropped = Vec::new();
    for (param, sequence) in entries {
        if !sequence.trim().is_empty() {
            kept.push(sequence);
        } else if settings.policy == UnsupportedParams::Drop {
            dropped.push(param);
        } else {
            return Err(Error::InvalidRequest {
                message: format!(
                    "Provider '{}' (anthropic) cannot honour the whitespace-only stop sequence {sequence:?} ('{param}'). Remove it, or set unsupported_params = \"drop\" on this provider to have the gateway drop it.",
                    settings.provider
                ),
                param: Some(param),
                code: Some("unsupported_parameter"),
            });
        }
    }
    Ok((kept, dropped))
}

/// A 400 for something the client sent that Anthropic cannot take at all.
fn cannot(settings: &Settings<'_>, param: &str, what: &str) -> Error {
    Error::InvalidRequest {
        message: format!(
            "Provider '{}' (anthropic) cannot take {what} ('{param}').",
            settings.provider
        ),
        param: Some(param.to_owned()),
        code: Some("unsupported_value"),
    }
}
