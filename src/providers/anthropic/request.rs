//! An OpenAI Chat Completions request as an Anthropic Messages request. Everything the client
//! asked for is mapped, or refused with a 400 naming the parameter: nothing is lost quietly.

use std::borrow::Cow;

use serde_json::json;

use super::messages::conversation;
use crate::config::UnsupportedParams;
use crate::error::Error;
use crate::openai::params::{ChatParams, ResponseFormat, Stop, ToolChoice as OpenAiToolChoice};
use crate::providers::anthropic::types::{
    Block, MessagesRequest, Metadata, Thinking, ToolChoice, ToolDef, Turn,
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
const JSON_OBJECT_TOOL: &str = "json_response";

const ANSWER_INSTRUCTION: &str =
    "Give your final answer to the user by calling this tool: its input is the answer.";

const PAST_TOOL: &str = "A tool used earlier in this conversation; not available now.";

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

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
    let Offered {
        tools,
        tool_choice,
        answer_tool,
    } = offered(params, &messages, settings)?;
    let budget = thinking_budget(params.reasoning_effort.as_deref())?;
    allowed_while_thinking(budget, answer_tool, tool_choice.as_ref(), settings)?;
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

/// The tools the model is offered, how it may use them, and the synthetic tool (if any) that
/// carries a structured answer.
struct Offered<'a> {
    tools: Vec<ToolDef<'a>>,
    tool_choice: Option<ToolChoice<'a>>,
    answer_tool: Option<&'a str>,
}

/// The client's tools, the answer tool of a `response_format`, and the tools a history used
/// when the client declares none.
fn offered<'a>(
    params: &'a ChatParams,
    messages: &[Turn<'a>],
    settings: &Settings<'_>,
) -> Result<Offered<'a>, Error> {
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
        let past = history_tools(messages, answer_tool);
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
    Ok(Offered {
        tools,
        tool_choice,
        answer_tool,
    })
}

/// While thinking, Anthropic allows only `auto` or `none` tool use: no forced tool, so no
/// structured answer either.
fn allowed_while_thinking(
    budget: Option<u64>,
    answer_tool: Option<&str>,
    tool_choice: Option<&ToolChoice<'_>>,
    settings: &Settings<'_>,
) -> Result<(), Error> {
    if budget.is_none() {
        return Ok(());
    }
    if answer_tool.is_some() {
        return Err(Error::InvalidRequest {
            message: format!(
                "Provider '{}' (anthropic) cannot combine response_format with reasoning_effort: structured output needs a forced tool call, which Anthropic does not allow while thinking.",
                settings.provider
            ),
            param: Some("response_format".to_owned()),
            code: Some("unsupported_parameter"),
        });
    }
    if tool_choice.is_some_and(|choice| matches!(choice.kind, "any" | "tool")) {
        return Err(Error::InvalidRequest {
            message: format!(
                "Provider '{}' (anthropic) cannot combine a forced tool_choice (required or a named function) with reasoning_effort: Anthropic allows only auto or none while thinking.",
                settings.provider
            ),
            param: Some("tool_choice".to_owned()),
            code: Some("unsupported_parameter"),
        });
    }
    Ok(())
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
        // The answer must be one call: two would concatenate into invalid JSON content.
        (Some(answer), _) => Some(ToolChoice {
            disable_parallel_tool_use: Some(true),
            ..choice("tool", Some(answer))
        }),
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
pub fn cannot(settings: &Settings<'_>, param: &str, what: &str) -> Error {
    Error::InvalidRequest {
        message: format!(
            "Provider '{}' (anthropic) cannot take {what} ('{param}').",
            settings.provider
        ),
        param: Some(param.to_owned()),
        code: Some("unsupported_value"),
    }
}
